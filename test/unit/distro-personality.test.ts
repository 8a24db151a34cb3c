import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { cryptSha512, verifyPassword } from '../../src/distro/crypt.js';
import { applyPersonality, applyPersonalityTo, detectOs, type PersonalityInput, type PersonalityResult } from '../../src/distro/index.js';
import { HostTree } from '../../src/distro/tree.js';

/* ------------------------------------------------------------------ fixtures */

/** A file of a fixture: its text, or its text and mode. */
type FileSpec = string | { data: string; mode: number };

interface FixtureSpec {
  files: Record<string, FileSpec>;
  links?: Record<string, string>;
  dirs?: string[];
}

/** A rootfs in `<tmp>/x/root`, so that `root/../outside-file` is a file of the test's own. */
function build(spec: FixtureSpec): { root: string; parent: string } {
  const parent = mkdtempSync(path.join(tmpdir(), 'distro-'));
  const root = path.join(parent, 'root');
  mkdirSync(root);
  for (const d of spec.dirs ?? []) mkdirSync(path.join(root, d), { recursive: true });
  for (const [rel, f] of Object.entries(spec.files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    const { data, mode } = typeof f === 'string' ? { data: f, mode: 0o644 } : f;
    writeFileSync(path.join(root, rel), data);
    chmodSync(path.join(root, rel), mode);
  }
  for (const [rel, target] of Object.entries(spec.links ?? {})) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    symlinkSync(target, path.join(root, rel));
  }
  return { root, parent };
}

const SHADOW_ROOT = 'root:*:19000:0:99999:7:::';
const SHADOW_DAEMON = 'daemon:*:19000:0:99999:7:::';
const SHADOW_ALICE = 'alice:!:19000:0:99999:7:::';
const SHADOW_BOB = 'bob:$6$oldsalt$oldhash:18000:0:99999:7:::';

/** What every fixture has: users (alice uid 1000, bob 1001 without a home), host keys, /root. */
function baseFiles(shadowMode: number): Record<string, FileSpec> {
  return {
    'etc/passwd': [
      'root:x:0:0:root:/root:/bin/bash',
      'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
      'alice:x:1000:1000:Alice:/home/alice:/bin/bash',
      'bob:x:1001:1001::/home/bob:/bin/sh',
      '',
    ].join('\n'),
    'etc/shadow': { data: [SHADOW_ROOT, SHADOW_DAEMON, SHADOW_ALICE, SHADOW_BOB, ''].join('\n'), mode: shadowMode },
    'etc/ssh/sshd_config': 'PermitRootLogin prohibit-password\n',
    'etc/ssh/ssh_host_ed25519_key': { data: 'PRIVATE\n', mode: 0o600 },
    'etc/ssh/ssh_host_ed25519_key.pub': 'ssh-ed25519 AAAA template\n',
    'etc/ssh/ssh_host_rsa_key': { data: 'PRIVATE\n', mode: 0o600 },
    'etc/ssh/ssh_host_rsa_key.pub': 'ssh-rsa AAAA template\n',
    'etc/machine-id': 'b08dfa6083e7567a1921a715000001fb\n',
    'root/.bashrc': '# root\n',
    'home/alice/.profile': '# alice\n',
  };
}

/** Debian's and Ubuntu's merged /usr: /bin, /sbin, /lib are links into /usr. */
const MERGED_USR = { bin: 'usr/bin', sbin: 'usr/sbin', lib: 'usr/lib' };

const units = (dir: string, names: string[]): Record<string, string> =>
  Object.fromEntries(names.map((n) => [`${dir}/${n}`, `[Unit]\nDescription=${n}\n`]));

const SYSTEMD_UNITS = ['console-getty.service', 'systemd-udevd.service', 'systemd-udev-settle.service', 'systemd-udev-trigger.service', 'systemd-udevd-control.socket', 'systemd-udevd-kernel.socket', 'systemd-networkd.service', 'systemd-networkd.socket'];

const DEBIAN_HOSTS = '127.0.0.1\tlocalhost\n127.0.1.1\tdebian-template\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n';
const EL_HOSTS = '127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n';

function debian12(opts: { ifupdown: boolean }): { root: string; parent: string } {
  return build({
    files: {
      ...baseFiles(0o640),
      'usr/lib/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n',
      'etc/debian_version': '12.5\n',
      'etc/hosts': DEBIAN_HOSTS,
      'etc/hostname': 'debian-template\n',
      'etc/fstab': '# UNCONFIGURED FSTAB FOR BASE SYSTEM\n',
      'etc/resolv.conf': 'nameserver 10.0.0.2\noptions edns0\n',
      ...units('usr/lib/systemd/system', SYSTEMD_UNITS),
      'usr/lib/systemd/systemd-networkd': '',
      ...(opts.ifupdown
        ? {
            'etc/network/interfaces':
              '# interfaces(5) file used by ifup(8) and ifdown(8)\nsource /etc/network/interfaces.d/*\n\nauto lo eth0\niface lo inet loopback\n\niface eth0 inet dhcp\n\tpre-up echo template\n\nallow-hotplug eth1\niface eth1 inet dhcp\n',
            'usr/sbin/ifup': '#!/bin/sh\n',
          }
        : {}),
    },
    links: { 'etc/os-release': '../usr/lib/os-release', ...MERGED_USR, 'var/lib/dbus/machine-id': '/etc/machine-id' },
    dirs: ['usr/bin', 'etc/network/interfaces.d'],
  });
}

function ubuntu(version: '22.04' | '24.04'): { root: string; parent: string } {
  const codename = version === '22.04' ? 'jammy' : 'noble';
  return build({
    files: {
      ...baseFiles(0o640),
      'usr/lib/os-release': `PRETTY_NAME="Ubuntu ${version} LTS"\nNAME="Ubuntu"\nVERSION_ID="${version}"\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=${codename}\n`,
      'etc/lsb-release': `DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=${version}\n`,
      'etc/debian_version': 'bookworm/sid\n',
      'etc/hosts': DEBIAN_HOSTS,
      'etc/fstab': 'LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,errors=remount-ro\t0 1\nLABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1\n',
      'etc/netplan/01-netcfg.yaml': { data: 'network:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n', mode: 0o600 },
      ...units('usr/lib/systemd/system', SYSTEMD_UNITS),
    },
    links: { 'etc/os-release': '../usr/lib/os-release', ...MERGED_USR, 'etc/resolv.conf': '../run/systemd/resolve/stub-resolv.conf' },
    dirs: ['usr/bin', 'usr/sbin', 'run/systemd/resolve'],
  });
}

function centos7(): { root: string; parent: string } {
  return build({
    files: {
      ...baseFiles(0o000),
      'etc/os-release': 'NAME="CentOS Linux"\nVERSION="7 (Core)"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="7"\nPRETTY_NAME="CentOS Linux 7 (Core)"\n',
      'etc/centos-release': 'CentOS Linux release 7.9.2009 (Core)\n',
      'etc/hosts': EL_HOSTS,
      'etc/hostname': 'localhost.localdomain\n',
      'etc/fstab': '/dev/mapper/centos-root /                       xfs     defaults        0 0\nUUID=2a4b /boot xfs defaults 0 0\n',
      'etc/sysconfig/network': '# Created by anaconda\nHOSTNAME=localhost.localdomain\n',
      'etc/sysconfig/network-scripts/ifcfg-lo': 'DEVICE=lo\nIPADDR=127.0.0.1\n',
      'etc/sysconfig/network-scripts/route-eth0': '# an admin\'s own route file\n10.9.0.0/16 via 192.0.2.254\n',
      ...units('usr/lib/systemd/system', ['console-getty.service', 'systemd-udevd.service', 'systemd-udev-settle.service', 'systemd-udev-trigger.service', 'systemd-udevd-control.socket', 'systemd-udevd-kernel.socket']),
    },
    links: { 'etc/redhat-release': 'centos-release', 'etc/system-release': 'centos-release', bin: 'usr/bin', sbin: 'usr/sbin', lib: 'usr/lib', lib64: 'usr/lib64' },
    dirs: ['usr/bin', 'usr/sbin', 'usr/lib64'],
  });
}

function el9(id: 'almalinux' | 'rocky' | 'centos'): { root: string; parent: string } {
  const osRelease = {
    almalinux: 'NAME="AlmaLinux"\nVERSION="9.3 (Shamrock Pearl)"\nID="almalinux"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="AlmaLinux 9.3 (Shamrock Pearl)"\n',
    rocky: 'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n',
    centos: 'NAME="CentOS Stream"\nVERSION="9"\nID="centos"\nID_LIKE="rhel fedora"\nVERSION_ID="9"\nPRETTY_NAME="CentOS Stream 9"\n',
  }[id];
  return build({
    files: {
      ...baseFiles(0o000),
      'etc/os-release': osRelease,
      'etc/redhat-release': `${id} release 9\n`,
      'etc/hosts': EL_HOSTS,
      'etc/resolv.conf': '# Generated by NetworkManager\nnameserver 10.0.0.2\n',
      'etc/NetworkManager/NetworkManager.conf': '[main]\n',
      ...units('usr/lib/systemd/system', ['console-getty.service', 'systemd-udevd.service', 'systemd-udev-settle.service', 'systemd-udev-trigger.service', 'systemd-udevd-control.socket', 'systemd-udevd-kernel.socket', 'NetworkManager.service']),
    },
    links: { bin: 'usr/bin', sbin: 'usr/sbin', lib: 'usr/lib', lib64: 'usr/lib64' },
    dirs: ['usr/bin', 'usr/sbin', 'usr/lib64', 'etc/NetworkManager/system-connections'],
  });
}

/* ------------------------------------------------------------------ input */

/** A real ed25519 public key in OpenSSH's format. */
function sshKey(comment: string): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  const str = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]).toString('base64')} ${comment}`;
}

const ROOT_KEY = sshKey('admin@laptop');
const ALICE_KEY = sshKey('alice@desk');

const BRIDGED = { iface: 'eth0', addresses: ['192.0.2.10/24', '2001:db8:1::10/64'], gateway4: '192.0.2.1', gateway6: '2001:db8:1::1' };
const ROUTED = { iface: 'eth0', addresses: ['203.0.113.5/32', '2001:db8:2::5/128'], gateway4: '10.255.255.1', gateway6: '2001:db8:ffff::1', mode: 'routed' as const };

function fullInput(network: PersonalityInput['network'] = BRIDGED): PersonalityInput {
  return {
    hostname: 'web-1.example.net',
    nameservers: ['192.0.2.53', '2001:db8::53'],
    searchDomains: ['example.net'],
    users: [
      { name: 'root', password: 'r00t-Pa55:word' },
      { name: 'alice', password: 'alice the admin' },
    ],
    sshKeys: [
      { user: 'root', keys: [ROOT_KEY] },
      { user: 'alice', keys: [ALICE_KEY, ROOT_KEY] },
    ],
    network,
  };
}

/* ------------------------------------------------------------------ parsers */

const read = (root: string, rel: string): string => readFileSync(path.join(root, rel), 'utf8');
const mode = (root: string, rel: string): number => lstatSync(path.join(root, rel)).mode & 0o7777;

/** An INI file (NM keyfile, networkd) as its sections in order, keys repeatable. */
function parseIni(text: string): { name: string; entries: [string, string][] }[] {
  const out: { name: string; entries: [string, string][] }[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      out.push({ name: sec[1], entries: [] });
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !out.length) throw new Error(`not an INI line: ${line}`);
    out[out.length - 1].entries.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}
const section = (ini: ReturnType<typeof parseIni>, name: string): Record<string, string> => {
  const s = ini.filter((x) => x.name === name);
  if (s.length !== 1) throw new Error(`${s.length} [${name}] sections`);
  return Object.fromEntries(s[0].entries);
};
const values = (ini: ReturnType<typeof parseIni>, name: string, key: string): string[] =>
  ini.filter((x) => x.name === name).flatMap((x) => x.entries.filter(([k]) => k === key).map(([, v]) => v));

/** A shell KEY=value file (ifcfg, /etc/sysconfig/network), quotes removed. */
function parseKv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    out[m[1]] = /^".*"$/.test(m[2]) ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2];
  }
  return out;
}

/** /etc/shadow as lines of fields. */
const shadowOf = (root: string): string[][] => read(root, 'etc/shadow').trimEnd().split('\n').map((l) => l.split(':'));

/** ifupdown stanzas: `iface` lines with their option lines. */
function parseInterfaces(text: string): { head: string; opts: string[] }[] {
  const out: { head: string; opts: string[] }[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    if (/^\s/.test(line)) out[out.length - 1].opts.push(line.trim());
    else out.push({ head: line.trim(), opts: [] });
  }
  return out;
}

/** What an authorized_keys file holds: its key lines. */
const keysIn = (root: string, rel: string): string[] => read(root, rel).split('\n').filter(Boolean);

/* ------------------------------------------------------------------ shared checks */

const today = Math.floor(Date.now() / 86_400_000);

/** What every personality must have done with `fullInput()`. */
function checkCommon(root: string, r: PersonalityResult, shadowMode: number): void {
  expect(read(root, 'etc/hostname')).toBe('web-1.example.net\n');
  expect(read(root, 'etc/machine-id')).toBe(`${r.machineId}\n`);
  expect(r.machineId).not.toBe('b08dfa6083e7567a1921a715000001fb');
  // passwords: the hashes verify, with our crypt and with openssl on the same salt
  const shadow = shadowOf(root);
  const byName = new Map(shadow.map((f) => [f[0], f]));
  for (const [name, pw] of [['root', 'r00t-Pa55:word'], ['alice', 'alice the admin']]) {
    const f = byName.get(name)!;
    expect(f).toHaveLength(9);
    expect(f[1]).toMatch(/^\$6\$[a-zA-Z0-9./]{16}\$[a-zA-Z0-9./]{86}$/);
    expect(verifyPassword(pw, f[1])).toBe(true);
    expect(cryptSha512(pw, f[1])).toBe(f[1]);
    const salt = f[1].split('$')[2];
    expect(execFileSync('openssl', ['passwd', '-6', '-salt', salt, '-stdin'], { input: `${pw}\n`, encoding: 'utf8' }).trim()).toBe(f[1]);
    expect(Number(f[2])).toBeGreaterThanOrEqual(today - 1);
    expect(Number(f[2])).toBeLessThanOrEqual(today + 1);
    expect(f.slice(3)).toEqual(['0', '99999', '7', '', '', '']);
  }
  // the other lines, byte for byte, in place; the file's mode kept
  const lines = read(root, 'etc/shadow').split('\n');
  expect(lines[1]).toBe(SHADOW_DAEMON);
  expect(lines[3]).toBe(SHADOW_BOB);
  expect(lines[4]).toBe('');
  expect(lines).toHaveLength(5);
  expect(mode(root, 'etc/shadow')).toBe(shadowMode);
  // SSH keys: root's and alice's, deduplicated, 0700/0600, owned by the user
  expect(keysIn(root, 'root/.ssh/authorized_keys')).toEqual([ROOT_KEY]);
  expect(keysIn(root, 'home/alice/.ssh/authorized_keys')).toEqual([ALICE_KEY, ROOT_KEY]);
  expect(mode(root, 'root/.ssh')).toBe(0o700);
  expect(mode(root, 'home/alice/.ssh')).toBe(0o700);
  expect(mode(root, 'home/alice/.ssh/authorized_keys')).toBe(0o600);
  if (process.geteuid?.() === 0) {
    expect(statSync(path.join(root, 'home/alice/.ssh')).uid).toBe(1000);
    expect(statSync(path.join(root, 'home/alice/.ssh/authorized_keys')).gid).toBe(1000);
    expect(statSync(path.join(root, 'root/.ssh/authorized_keys')).uid).toBe(0);
  }
  // resolv.conf names the nameservers and the search domain
  const resolv = read(root, 'etc/resolv.conf');
  expect(resolv.match(/^nameserver .*$/gm)).toEqual(['nameserver 192.0.2.53', 'nameserver 2001:db8::53']);
  expect(resolv).toMatch(/^search example\.net$/m);
  expect(lstatSync(path.join(root, 'etc/resolv.conf')).isFile()).toBe(true);
  // udev masked, a getty on the console
  for (const u of ['systemd-udev-settle.service', 'systemd-udevd.service', 'systemd-udevd-kernel.socket']) {
    expect(readlinkSync(path.join(root, 'etc/systemd/system', u))).toBe('/dev/null');
  }
  expect(lstatSync(path.join(root, 'etc/systemd/system/getty.target.wants/console-getty.service')).isSymbolicLink()).toBe(true);
  // every path reported exists in the tree
  for (const w of r.wrote) expect(existsSync(path.join(root, w)) || lstatSync(path.join(root, w)).isSymbolicLink()).toBe(true);
}

/** The same input again: the same files (but machine-id and the password salts). */
async function checkIdempotent(root: string, input: PersonalityInput, files: string[]): Promise<void> {
  const before = Object.fromEntries(files.map((f) => [f, read(root, f)]));
  await applyPersonality(root, input);
  for (const f of files) expect([f, read(root, f)]).toEqual([f, before[f]]);
}

/* ------------------------------------------------------------------ the tests */

describe('OS detection', () => {
  it.each([
    ['Debian 12 (ifupdown)', () => debian12({ ifupdown: true }), 'debian', '12', 'debian'],
    ['Ubuntu 22.04', () => ubuntu('22.04'), 'ubuntu', '22.04', 'ubuntu'],
    ['Ubuntu 24.04', () => ubuntu('24.04'), 'ubuntu', '24.04', 'ubuntu'],
    ['CentOS 7', () => centos7(), 'centos', '7', 'centos7'],
    ['AlmaLinux 9', () => el9('almalinux'), 'almalinux', '9.3', 'el9'],
    ['Rocky Linux 9', () => el9('rocky'), 'rocky', '9.3', 'el9'],
    ['CentOS Stream 9', () => el9('centos'), 'centos', '9', 'el9'],
  ])('%s', async (_name, make, id, version, personality) => {
    const { root } = make();
    expect(await detectOs(root)).toMatchObject({ id, version });
    const r = await applyPersonality(root, { hostname: 'h' });
    expect(r.personality).toBe(personality);
    expect(r.os.id).toBe(id);
  });

  const only = (rel: string, text: string): string => build({ files: { [rel]: text } }).root;
  it('falls back to the older files', async () => {
    expect(await detectOs(only('etc/redhat-release', 'CentOS Linux release 7.9.2009 (Core)\n'))).toMatchObject({ id: 'centos', version: '7', source: '/etc/redhat-release' });
    expect(await detectOs(only('etc/centos-release', 'CentOS release 6.10 (Final)\n'))).toMatchObject({ id: 'centos', version: '6' });
    expect(await detectOs(only('etc/redhat-release', 'Red Hat Enterprise Linux Server release 7.9 (Maipo)\n'))).toMatchObject({ id: 'rhel', version: '7' });
    expect(await detectOs(only('etc/lsb-release', 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=16.04\nDISTRIB_DESCRIPTION="Ubuntu 16.04.7 LTS"\n'))).toMatchObject({ id: 'ubuntu', version: '16.04' });
    expect(await detectOs(only('usr/lib/os-release', 'ID=fedora\nVERSION_ID=40\n'))).toMatchObject({ id: 'fedora', version: '40', source: '/usr/lib/os-release' });
  });

  it.each([
    ['EL 7 via redhat-release', 'centos7', 'etc/redhat-release', 'CentOS Linux release 7.9.2009 (Core)\n'],
    ['RHEL 8 (NetworkManager, like EL 9)', 'el9', 'etc/os-release', 'ID="rhel"\nVERSION_ID="8.9"\n'],
    ['Oracle Linux 9', 'el9', 'etc/os-release', 'ID="ol"\nID_LIKE="fedora"\nVERSION_ID="9.3"\n'],
    ['CentOS 6 (no systemd)', 'generic', 'etc/centos-release', 'CentOS release 6.10 (Final)\n'],
    ['Ubuntu 16.04 (ifupdown)', 'debian', 'etc/lsb-release', 'DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=16.04\n'],
    ['Linux Mint (no netplan)', 'debian', 'etc/os-release', 'ID=linuxmint\nID_LIKE="ubuntu debian"\nVERSION_ID="21.3"\n'],
    ['Arch', 'generic', 'etc/os-release', 'ID=arch\n'],
  ])('%s gets the %s personality', async (_n, personality, rel, text) => {
    const { root } = build({ files: { [rel]: text, 'etc/passwd': '', 'etc/shadow': '' } });
    expect((await applyPersonality(root, { hostname: 'h' })).personality).toBe(personality);
  });
});

describe('Debian 12', () => {
  it('with ifupdown: interfaces.d, the template stanza for eth0 commented out, hosts 127.0.1.1', async () => {
    const { root } = debian12({ ifupdown: true });
    const input = fullInput();
    const r = await applyPersonality(root, input);
    expect(r.personality).toBe('debian');
    checkCommon(root, r, 0o640);
    const hosts = read(root, 'etc/hosts');
    expect(hosts).toMatch(/^127\.0\.1\.1\tweb-1\.example\.net web-1$/m);
    expect(hosts).not.toContain('debian-template');
    expect(hosts).toContain('ff02::1 ip6-allnodes'); // other lines kept
    expect(hosts.match(/^127\.0\.1\.1/gm)).toHaveLength(1);
    // the interface file, parsed back
    const st = parseInterfaces(read(root, 'etc/network/interfaces.d/eth0'));
    expect(st[0].head).toBe('auto eth0');
    expect(st[1]).toEqual({ head: 'iface eth0 inet static', opts: ['address 192.0.2.10/24', 'gateway 192.0.2.1', 'dns-nameservers 192.0.2.53 2001:db8::53', 'dns-search example.net'] });
    expect(st[2]).toEqual({ head: 'iface eth0 inet6 static', opts: ['address 2001:db8:1::10/64', 'gateway 2001:db8:1::1', 'accept_ra 0'] });
    expect(st).toHaveLength(3);
    // the template's own eth0 stanza is out of the way; lo and eth1 are as they were
    const main = parseInterfaces(read(root, 'etc/network/interfaces'));
    expect(main.map((s) => s.head)).toEqual(['source /etc/network/interfaces.d/*', 'auto lo', 'iface lo inet loopback', 'allow-hotplug eth1', 'iface eth1 inet dhcp']);
    expect(read(root, 'etc/network/interfaces')).toContain('#vpsctl# iface eth0 inet dhcp\n#vpsctl# \tpre-up echo template\n');
    // options kept from the old resolv.conf
    expect(read(root, 'etc/resolv.conf')).toMatch(/^options edns0$/m);
    expect(read(root, 'etc/resolv.conf')).not.toContain('10.0.0.2');
    // the Debian path for console-getty; fstab had no / line and is untouched
    expect(readlinkSync(path.join(root, 'etc/systemd/system/getty.target.wants/console-getty.service'))).toBe('/lib/systemd/system/console-getty.service');
    expect(read(root, 'etc/fstab')).toBe('# UNCONFIGURED FSTAB FOR BASE SYSTEM\n');
    expect(r.wrote).not.toContain('/etc/fstab');
    expect(existsSync(path.join(root, 'etc/systemd/network/10-eth0.network'))).toBe(false);
    // dbus's link to /etc/machine-id stays; host keys stay at create
    expect(lstatSync(path.join(root, 'var/lib/dbus/machine-id')).isSymbolicLink()).toBe(true);
    expect(existsSync(path.join(root, 'etc/ssh/ssh_host_rsa_key'))).toBe(true);
    await checkIdempotent(root, input, ['etc/hosts', 'etc/network/interfaces', 'etc/network/interfaces.d/eth0', 'etc/resolv.conf', 'root/.ssh/authorized_keys', 'home/alice/.ssh/authorized_keys', 'etc/hostname']);
  });

  it('with ifupdown, routed: a /32 and post-up device routes to the on-link gateway', async () => {
    const { root } = debian12({ ifupdown: true });
    await applyPersonality(root, fullInput(ROUTED));
    const st = parseInterfaces(read(root, 'etc/network/interfaces.d/eth0'));
    expect(st[1].opts.slice(0, 3)).toEqual(['address 203.0.113.5/32', 'post-up ip route replace 10.255.255.1 dev eth0', 'post-up ip route replace default via 10.255.255.1 dev eth0']);
    expect(st[2].opts.slice(0, 3)).toEqual(['address 2001:db8:2::5/128', 'post-up ip -6 route replace 2001:db8:ffff::1 dev eth0', 'post-up ip -6 route replace default via 2001:db8:ffff::1 dev eth0']);
    expect(st.flatMap((s) => s.opts).some((o) => o.startsWith('gateway'))).toBe(false);
  });

  it('without ifupdown: systemd-networkd, enabled', async () => {
    const { root } = debian12({ ifupdown: false });
    const input = fullInput();
    const r = await applyPersonality(root, input);
    checkCommon(root, r, 0o640);
    const ini = parseIni(read(root, 'etc/systemd/network/10-eth0.network'));
    expect(section(ini, 'Match')).toEqual({ Name: 'eth0' });
    expect(values(ini, 'Network', 'Address')).toEqual(['192.0.2.10/24', '2001:db8:1::10/64']);
    expect(values(ini, 'Network', 'DNS')).toEqual(['192.0.2.53', '2001:db8::53']);
    expect(values(ini, 'Network', 'Domains')).toEqual(['example.net']);
    expect(ini.filter((s) => s.name === 'Route').map((s) => Object.fromEntries(s.entries))).toEqual([{ Gateway: '192.0.2.1' }, { Gateway: '2001:db8:1::1' }]);
    expect(readlinkSync(path.join(root, 'etc/systemd/system/multi-user.target.wants/systemd-networkd.service'))).toBe('/lib/systemd/system/systemd-networkd.service');
    expect(readlinkSync(path.join(root, 'etc/systemd/system/sockets.target.wants/systemd-networkd.socket'))).toBe('/lib/systemd/system/systemd-networkd.socket');
    expect(existsSync(path.join(root, 'etc/network/interfaces.d/eth0'))).toBe(false);
    await checkIdempotent(root, input, ['etc/systemd/network/10-eth0.network', 'etc/hosts']);
  });

  it('without ifupdown, routed: GatewayOnLink', async () => {
    const { root } = debian12({ ifupdown: false });
    await applyPersonality(root, fullInput(ROUTED));
    const ini = parseIni(read(root, 'etc/systemd/network/10-eth0.network'));
    expect(ini.filter((s) => s.name === 'Route').map((s) => Object.fromEntries(s.entries))).toEqual([
      { Gateway: '10.255.255.1', GatewayOnLink: 'yes' },
      { Gateway: '2001:db8:ffff::1', GatewayOnLink: 'yes' },
    ]);
  });

  it('clears the SSH host keys when asked (clone), and keeps the rest of /etc/ssh', async () => {
    const { root } = debian12({ ifupdown: true });
    const r = await applyPersonality(root, { hostname: 'clone-1', freshHostKeys: true });
    expect(readdirSync(path.join(root, 'etc/ssh'))).toEqual(['sshd_config']);
    expect(r.removed).toEqual(expect.arrayContaining(['/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_rsa_key.pub']));
  });
});

describe.each(['22.04', '24.04'] as const)('Ubuntu %s', (version) => {
  it('netplan, the resolved stub link replaced (and said so), / out of fstab', async () => {
    const { root } = ubuntu(version);
    const input = fullInput();
    const r = await applyPersonality(root, input);
    expect(r.personality).toBe('ubuntu');
    checkCommon(root, r, 0o640);
    expect(read(root, 'etc/hosts')).toMatch(/^127\.0\.1\.1\tweb-1\.example\.net web-1$/m);
    const file = 'etc/netplan/50-vpsctl.yaml';
    expect(mode(root, file)).toBe(0o600);
    const np = parseYaml(read(root, file));
    expect(np).toEqual({
      network: {
        version: 2,
        ethernets: {
          eth0: {
            addresses: ['192.0.2.10/24', '2001:db8:1::10/64'],
            dhcp4: false,
            dhcp6: false,
            'accept-ra': false,
            routes: [
              { to: 'default', via: '192.0.2.1' },
              { to: 'default', via: '2001:db8:1::1' },
            ],
            nameservers: { addresses: ['192.0.2.53', '2001:db8::53'], search: ['example.net'] },
          },
        },
      },
    });
    expect(read(root, 'etc/netplan/01-netcfg.yaml')).toContain('dhcp4: true'); // the template's file stays; ours sorts after it
    expect(r.notes.join('\n')).toMatch(/resolv\.conf was a symlink to \.\.\/run\/systemd\/resolve\/stub-resolv\.conf \(systemd-resolved's stub\)/);
    expect(read(root, 'etc/fstab').split('\n')[0]).toMatch(/^# LABEL=cloudimg-rootfs\t\/.*# vpsctl:/);
    expect(read(root, 'etc/fstab')).toMatch(/^LABEL=UEFI\t\/boot\/efi/m);
    expect(readlinkSync(path.join(root, 'etc/systemd/system/getty.target.wants/console-getty.service'))).toBe('/lib/systemd/system/console-getty.service');
    await checkIdempotent(root, input, [file, 'etc/fstab', 'etc/hosts', 'etc/resolv.conf']);
  });

  it('routed: on-link default routes', async () => {
    const { root } = ubuntu(version);
    await applyPersonality(root, fullInput(ROUTED));
    const eth0 = parseYaml(read(root, 'etc/netplan/50-vpsctl.yaml')).network.ethernets.eth0;
    expect(eth0.addresses).toEqual(['203.0.113.5/32', '2001:db8:2::5/128']);
    expect(eth0.routes).toEqual([
      { to: 'default', via: '10.255.255.1', 'on-link': true },
      { to: 'default', via: '2001:db8:ffff::1', 'on-link': true },
    ]);
  });

  it('leaves the stub link alone when no nameserver is given', async () => {
    const { root } = ubuntu(version);
    const r = await applyPersonality(root, { hostname: 'h', searchDomains: ['example.org'] });
    expect(readlinkSync(path.join(root, 'etc/resolv.conf'))).toBe('../run/systemd/resolve/stub-resolv.conf');
    expect(r.notes.join('\n')).toMatch(/left as it is/);
  });
});

it('Ubuntu 20.04 netplan gets 0.0.0.0/0 and ::/0 (no `default` before netplan 0.104)', async () => {
  const { root } = ubuntu('22.04');
  writeFileSync(path.join(root, 'usr/lib/os-release'), 'ID=ubuntu\nID_LIKE=debian\nVERSION_ID="20.04"\n');
  await applyPersonality(root, { hostname: 'h', network: BRIDGED });
  const eth0 = parseYaml(read(root, 'etc/netplan/50-vpsctl.yaml')).network.ethernets.eth0;
  expect(eth0.routes.map((x: { to: string }) => x.to)).toEqual(['0.0.0.0/0', '::/0']);
});

describe('CentOS 7', () => {
  it('ifcfg-eth0, /etc/sysconfig/network HOSTNAME, hosts on the loopback lines', async () => {
    const { root } = centos7();
    const input = fullInput({ ...BRIDGED, addresses: [...BRIDGED.addresses, '192.0.2.11/24', '2001:db8:1::11/64'] });
    const r = await applyPersonality(root, input);
    expect(r.personality).toBe('centos7');
    checkCommon(root, r, 0o000);
    const ifcfg = parseKv(read(root, 'etc/sysconfig/network-scripts/ifcfg-eth0'));
    expect(ifcfg).toEqual({
      DEVICE: 'eth0',
      NAME: 'eth0',
      TYPE: 'Ethernet',
      ONBOOT: 'yes',
      BOOTPROTO: 'none',
      IPADDR: '192.0.2.10',
      PREFIX: '24',
      IPADDR1: '192.0.2.11',
      PREFIX1: '24',
      GATEWAY: '192.0.2.1',
      DEFROUTE: 'yes',
      IPV6INIT: 'yes',
      IPV6_AUTOCONF: 'no',
      IPV6ADDR: '2001:db8:1::10/64',
      IPV6ADDR_SECONDARIES: '2001:db8:1::11/64',
      IPV6_DEFAULTGW: '2001:db8:1::1',
      DNS1: '192.0.2.53',
      DNS2: '2001:db8::53',
      DOMAIN: 'example.net',
    });
    // an admin's own route file is not ours to remove
    expect(read(root, 'etc/sysconfig/network-scripts/route-eth0')).toContain("an admin's own");
    const net = parseKv(read(root, 'etc/sysconfig/network'));
    expect(net).toEqual({ HOSTNAME: 'web-1.example.net', NETWORKING: 'yes', NETWORKING_IPV6: 'yes' });
    expect(read(root, 'etc/sysconfig/network')).toMatch(/^# Created by anaconda\n/);
    const hosts = read(root, 'etc/hosts').split('\n');
    expect(hosts).toEqual([
      '127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4',
      '127.0.0.1\tweb-1.example.net web-1\t# vpsctl',
      '::1         localhost localhost.localdomain localhost6 localhost6.localdomain6',
      '::1\t\tweb-1.example.net web-1\t# vpsctl',
      '',
    ]);
    expect(read(root, 'etc/fstab').split('\n')[0]).toMatch(/^# \/dev\/mapper\/centos-root .*# vpsctl:/);
    expect(read(root, 'etc/fstab')).toMatch(/^UUID=2a4b \/boot/m);
    expect(readlinkSync(path.join(root, 'etc/systemd/system/getty.target.wants/console-getty.service'))).toBe('/usr/lib/systemd/system/console-getty.service');
    await checkIdempotent(root, input, ['etc/hosts', 'etc/sysconfig/network', 'etc/sysconfig/network-scripts/ifcfg-eth0', 'etc/fstab']);
  });

  it('routed: route-eth0 and route6-eth0 with device routes, no GATEWAY', async () => {
    const { root } = centos7();
    // the admin's route-eth0 is ours to replace once routed mode needs it
    await applyPersonality(root, fullInput(ROUTED));
    const ifcfg = parseKv(read(root, 'etc/sysconfig/network-scripts/ifcfg-eth0'));
    expect(ifcfg).toMatchObject({ IPADDR: '203.0.113.5', PREFIX: '32', IPV6ADDR: '2001:db8:2::5/128', DEFROUTE: 'yes' });
    expect(ifcfg.GATEWAY).toBeUndefined();
    expect(ifcfg.IPV6_DEFAULTGW).toBeUndefined();
    const routes = (rel: string): string[] => read(root, rel).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(routes('etc/sysconfig/network-scripts/route-eth0')).toEqual(['10.255.255.1 dev eth0', 'default via 10.255.255.1 dev eth0']);
    expect(routes('etc/sysconfig/network-scripts/route6-eth0')).toEqual(['2001:db8:ffff::1 dev eth0', 'default via 2001:db8:ffff::1 dev eth0']);
    // back to bridged: our route files go
    const r = await applyPersonality(root, fullInput());
    expect(existsSync(path.join(root, 'etc/sysconfig/network-scripts/route-eth0'))).toBe(false);
    expect(r.removed).toEqual(['/etc/sysconfig/network-scripts/route-eth0', '/etc/sysconfig/network-scripts/route6-eth0']);
  });

  it('a link-local IPv6 gateway names the interface', async () => {
    const { root } = centos7();
    await applyPersonality(root, { hostname: 'h', network: { iface: 'eth0', addresses: ['2001:db8::5/128'], gateway6: 'fe80::1', mode: 'routed' } });
    const ifcfg = parseKv(read(root, 'etc/sysconfig/network-scripts/ifcfg-eth0'));
    expect(ifcfg).toMatchObject({ IPV6ADDR: '2001:db8::5/128', IPV6_DEFAULTGW: 'fe80::1%eth0' });
    expect(ifcfg.IPADDR).toBeUndefined();
  });
});

describe.each(['almalinux', 'rocky', 'centos'] as const)('EL 9 (%s)', (id) => {
  it('a NetworkManager keyfile, 0600, its uuid kept across runs', async () => {
    const { root } = el9(id);
    const input = fullInput();
    const r = await applyPersonality(root, input);
    expect(r.personality).toBe('el9');
    checkCommon(root, r, 0o000);
    const file = 'etc/NetworkManager/system-connections/eth0.nmconnection';
    expect(mode(root, file)).toBe(0o600);
    const ini = parseIni(read(root, file));
    const conn = section(ini, 'connection');
    expect(conn).toEqual({ id: 'eth0', uuid: expect.stringMatching(/^[0-9a-f-]{36}$/), type: 'ethernet', 'interface-name': 'eth0', autoconnect: 'true' });
    expect(section(ini, 'ipv4')).toEqual({
      method: 'manual',
      address1: '192.0.2.10/24',
      gateway: '192.0.2.1',
      dns: '192.0.2.53;',
      'dns-search': 'example.net;',
      'may-fail': 'false',
    });
    expect(section(ini, 'ipv6')).toEqual({
      method: 'manual',
      address1: '2001:db8:1::10/64',
      gateway: '2001:db8:1::1',
      dns: '2001:db8::53;',
      'addr-gen-mode': 'eui64',
      'may-fail': 'false',
    });
    expect(read(root, 'etc/hosts')).toMatch(/^127\.0\.0\.1\tweb-1\.example\.net web-1\t# vpsctl$/m);
    expect(read(root, 'etc/resolv.conf')).not.toContain('Generated by NetworkManager');
    expect(readlinkSync(path.join(root, 'etc/systemd/system/getty.target.wants/console-getty.service'))).toBe('/usr/lib/systemd/system/console-getty.service');
    expect(existsSync(path.join(root, 'etc/sysconfig/network'))).toBe(false); // CentOS 7 only
    await checkIdempotent(root, input, [file, 'etc/hosts', 'etc/resolv.conf', 'root/.ssh/authorized_keys']);
  });

  it('routed: onlink default routes, no gateway=; IPv4 only: [ipv6] ignored', async () => {
    const { root } = el9(id);
    await applyPersonality(root, fullInput(ROUTED));
    const ini = parseIni(read(root, 'etc/NetworkManager/system-connections/eth0.nmconnection'));
    expect(section(ini, 'ipv4')).toMatchObject({ address1: '203.0.113.5/32', route1: '0.0.0.0/0,10.255.255.1', route1_options: 'onlink=true' });
    expect(section(ini, 'ipv6')).toMatchObject({ address1: '2001:db8:2::5/128', route1: '::/0,2001:db8:ffff::1', route1_options: 'onlink=true' });
    expect(section(ini, 'ipv4').gateway).toBeUndefined();
    await applyPersonality(root, { hostname: 'h', network: { iface: 'eth0', addresses: ['192.0.2.10/24'], gateway4: '192.0.2.1' } });
    const v4only = parseIni(read(root, 'etc/NetworkManager/system-connections/eth0.nmconnection'));
    expect(section(v4only, 'ipv6')).toEqual({ method: 'ignore' });
  });
});

describe('users and keys', () => {
  it('a missing user is exit 3, and nothing is written', async () => {
    const { root } = debian12({ ifupdown: true });
    for (const input of [
      { hostname: 'h', users: [{ name: 'mallory', password: 'x' }] },
      { hostname: 'h', sshKeys: [{ user: 'mallory', keys: [ROOT_KEY] }] },
    ]) {
      await expect(applyPersonality(root, input)).rejects.toMatchObject({ exitCode: 3 });
    }
    expect(read(root, 'etc/hostname')).toBe('debian-template\n');
  });

  it('bad values are exit 2 before anything is read', async () => {
    const { root } = debian12({ ifupdown: true });
    const bad: Partial<PersonalityInput>[] = [
      { users: [{ name: 'Root', password: 'x' }] },
      { users: [{ name: 'root', password: '' }] },
      { users: [{ name: 'a'.repeat(33), password: 'x' }] },
      { sshKeys: [{ user: 'root', keys: ['not a key'] }] },
      { sshKeys: [{ user: 'root', keys: [`${ROOT_KEY}\nssh-ed25519 AAAA injected`] }] },
      { nameservers: ['8.8.8.256'] },
      { nameservers: ['fe80::1%eth0'] },
      { searchDomains: ['bad domain'] },
      { network: { iface: '../x', addresses: ['192.0.2.1/24'] } },
      { network: { iface: 'eth0', addresses: ['192.0.2.1/33'] } },
      { network: { iface: 'eth0', addresses: ['192.0.2.1'] } },
      { network: { iface: 'eth0', addresses: ['192.0.2.1/24'], gateway4: '2001:db8::1' } },
      { network: { iface: 'eth0', addresses: ['192.0.2.1/24'], gateway6: '2001:db8::1' } },
      { hostname: 'bad_host!' },
    ];
    for (const b of bad) await expect(applyPersonality(root, { hostname: 'h', ...b })).rejects.toMatchObject({ exitCode: 2 });
  });

  it('keys are appended to what is there, deduplicated by key (not comment); a missing home is made', async () => {
    const { root } = debian12({ ifupdown: true });
    mkdirSync(path.join(root, 'root/.ssh'), { mode: 0o755 });
    writeFileSync(path.join(root, 'root/.ssh/authorized_keys'), `# mine\nfrom="10.0.0.0/8" ${ROOT_KEY.replace('admin@laptop', 'old comment')}`); // no final newline
    await applyPersonality(root, { hostname: 'h', sshKeys: [{ user: 'root', keys: [ROOT_KEY, ALICE_KEY, ALICE_KEY] }, { user: 'bob', keys: [ROOT_KEY] }] });
    expect(keysIn(root, 'root/.ssh/authorized_keys')).toEqual(['# mine', `from="10.0.0.0/8" ${ROOT_KEY.replace('admin@laptop', 'old comment')}`, ALICE_KEY]);
    expect(mode(root, 'root/.ssh')).toBe(0o755); // an existing ~/.ssh is the tenant's
    expect(mode(root, 'home/bob')).toBe(0o700);
    expect(keysIn(root, 'home/bob/.ssh/authorized_keys')).toEqual([ROOT_KEY]);
    if (process.geteuid?.() === 0) expect(statSync(path.join(root, 'home/bob')).uid).toBe(1001);
  });

  it('works on any Tree: ownership by the numeric ids of the image (a recording tree)', async () => {
    const { root } = debian12({ ifupdown: true });
    const host = new HostTree(root, { chown: false });
    const chowns: string[] = [];
    const tree = Object.assign(Object.create(host) as HostTree, {
      chown: async (rel: string, uid: number, gid: number) => {
        chowns.push(`${rel} ${uid}:${gid}`);
      },
    });
    await applyPersonalityTo(tree, { hostname: 'h', sshKeys: [{ user: 'alice', keys: [ALICE_KEY] }, { user: 'root', keys: [ROOT_KEY] }] });
    expect(chowns).toEqual(['home/alice/.ssh 1000:1000', 'home/alice/.ssh/authorized_keys 1000:1000', 'root/.ssh 0:0', 'root/.ssh/authorized_keys 0:0']);
  });

  it('a dry run reports what it would write and writes nothing', async () => {
    const { root } = el9('rocky');
    const r = await applyPersonality(root, fullInput(), { dryRun: true });
    expect(r.wrote).toEqual(expect.arrayContaining(['/etc/hostname', '/etc/shadow', '/etc/NetworkManager/system-connections/eth0.nmconnection']));
    expect(existsSync(path.join(root, 'etc/hostname'))).toBe(false);
    expect(read(root, 'etc/shadow')).toContain(SHADOW_ROOT);
  });
});

describe('symlinks planted in the tree never lead a write out of it', () => {
  const outsideFile = (parent: string): string => {
    writeFileSync(path.join(parent, 'outside-file'), 'host data\n');
    return path.join(parent, 'outside-file');
  };

  // decision: /etc/hostname is ours whole: the link is replaced by a file in its place
  it.each([['relative', '../../outside-file'], ['absolute', '/etc/../../outside-file'], ['absolute host path', '']])(
    '/etc/hostname -> %s: the link is replaced, the target untouched',
    async (_kind, target) => {
      const { root, parent } = debian12({ ifupdown: true });
      const victim = outsideFile(parent);
      symlinkSync(target || victim, path.join(root, 'etc/hostname.tmp'));
      execFileSync('mv', ['-fT', path.join(root, 'etc/hostname.tmp'), path.join(root, 'etc/hostname')]);
      await applyPersonality(root, fullInput());
      expect(readFileSync(victim, 'utf8')).toBe('host data\n');
      expect(lstatSync(path.join(root, 'etc/hostname')).isFile()).toBe(true);
      expect(read(root, 'etc/hostname')).toBe('web-1.example.net\n');
    },
  );

  // decision: ~/.ssh holds the tenant's keys, only readable through the link: refused, nothing written
  it('/root/.ssh -> a host directory: refused with an error, nothing written anywhere', async () => {
    const { root, parent } = debian12({ ifupdown: true });
    const x = mkdtempSync(path.join(tmpdir(), 'x-'));
    writeFileSync(path.join(x, 'authorized_keys'), 'host keys\n');
    symlinkSync(x, path.join(root, 'root/.ssh'));
    outsideFile(parent);
    await expect(applyPersonality(root, fullInput())).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(/symlink \/root\/\.ssh/) });
    expect(readdirSync(x)).toEqual(['authorized_keys']);
    expect(readFileSync(path.join(x, 'authorized_keys'), 'utf8')).toBe('host keys\n');
    expect(read(root, 'etc/hostname')).toBe('debian-template\n'); // staged: nothing was written
    expect(read(root, 'etc/shadow')).toContain(SHADOW_ROOT);
  });

  it('authorized_keys -> /etc/shadow of the host: refused (never read through)', async () => {
    const { root, parent } = debian12({ ifupdown: true });
    const victim = outsideFile(parent);
    mkdirSync(path.join(root, 'root/.ssh'));
    symlinkSync(victim, path.join(root, 'root/.ssh/authorized_keys'));
    await expect(applyPersonality(root, { hostname: 'h', sshKeys: [{ user: 'root', keys: [ROOT_KEY] }] })).rejects.toThrow(/symlink/);
    expect(readFileSync(victim, 'utf8')).toBe('host data\n');
  });

  // decision: /etc/netplan is a directory on the way: refused, as any symlink on the way is
  it('/etc/netplan -> outside: refused, the outside directory untouched', async () => {
    const { root, parent } = ubuntu('24.04');
    const out = path.join(parent, 'netplan-out');
    mkdirSync(out);
    execFileSync('rm', ['-rf', path.join(root, 'etc/netplan')]);
    symlinkSync(out, path.join(root, 'etc/netplan'));
    await expect(applyPersonality(root, fullInput())).rejects.toThrow(/symlink \/etc\/netplan/);
    expect(readdirSync(out)).toEqual([]);
    expect(existsSync(path.join(root, 'etc/hostname'))).toBe(false);
  });

  it('/etc/shadow -> outside: refused, the target untouched', async () => {
    const { root, parent } = el9('almalinux');
    const victim = outsideFile(parent);
    execFileSync('rm', ['-f', path.join(root, 'etc/shadow')]);
    symlinkSync(victim, path.join(root, 'etc/shadow'));
    await expect(applyPersonality(root, { hostname: 'h', users: [{ name: 'root', password: 'x' }] })).rejects.toThrow(/symlink/);
    expect(readFileSync(victim, 'utf8')).toBe('host data\n');
  });

  it('/etc/sysconfig/network-scripts -> outside, /etc/systemd/system -> outside: refused', async () => {
    for (const [make, rel] of [
      [centos7, 'etc/sysconfig/network-scripts'],
      [() => debian12({ ifupdown: true }), 'etc/systemd/system'],
    ] as const) {
      const { root, parent } = make();
      const out = mkdtempSync(path.join(parent, 'out-'));
      execFileSync('rm', ['-rf', path.join(root, rel)]);
      mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      symlinkSync(out, path.join(root, rel));
      await expect(applyPersonality(root, fullInput())).rejects.toThrow(/symlink/);
      expect(readdirSync(out)).toEqual([]);
    }
  });

  it('a FIFO where the network file goes is replaced, never opened', async () => {
    const { root } = el9('rocky');
    execFileSync('mkfifo', [path.join(root, 'etc/NetworkManager/system-connections/eth0.nmconnection')]);
    await applyPersonality(root, fullInput());
    expect(lstatSync(path.join(root, 'etc/NetworkManager/system-connections/eth0.nmconnection')).isFile()).toBe(true);
  });

  it('a masked unit link that exists is kept; an admin unit file is left alone, with a note', async () => {
    const { root } = debian12({ ifupdown: true });
    mkdirSync(path.join(root, 'etc/systemd/system'), { recursive: true });
    writeFileSync(path.join(root, 'etc/systemd/system/systemd-udevd.service'), '[Service]\n');
    const r = await applyPersonality(root, { hostname: 'h' });
    expect(read(root, 'etc/systemd/system/systemd-udevd.service')).toBe('[Service]\n');
    expect(r.notes.join('\n')).toMatch(/systemd-udevd\.service is a unit file of its own/);
    const again = await applyPersonality(root, { hostname: 'h' });
    expect(again.wrote.filter((w) => w.startsWith('/etc/systemd'))).toEqual([]);
  });
});
