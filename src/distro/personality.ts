import { randomBytes, randomUUID } from 'node:crypto';
import { notFound } from '../base/errors.js';
import { hashPassword } from './crypt.js';
import { classifyOs, type OsInfo, type PersonalityName } from './detect.js';
import { sshKeyId, type PersonalityInput } from './input.js';
import { MARK, planNetwork, renderIfcfg, renderIfupdown, renderNetplan, renderNetworkd, renderNmKeyfile, type NetPlan } from './network.js';
import type { Tree } from './tree.js';

/**
 * The steps a personality is made of. Each takes a `Run` (the tree, the input, and the
 * lists the result reports) and is idempotent: applying the same input twice leaves the
 * same files (but for a fresh machine-id and a fresh salt). What we fully own (hostname,
 * machine-id, resolv.conf, our network files) is replaced whatever was in its place, a
 * symlink too; what we edit (shadow, authorized_keys, /etc/network/interfaces) must be a
 * regular file, and a symlink there is an error, since its content could only be read
 * through it (a symlinked fstab is only a tweak: skipped, with a note). A symlink on the
 * way to any file (a directory such as /etc/netplan or ~/.ssh) is always an error.
 */

/** What a personality changed, for the create and set reports. */
export interface PersonalityResult {
  os: OsInfo;
  personality: PersonalityName;
  machineId: string;
  /** Every file and symlink written, as paths inside the container (`/etc/hostname`). */
  wrote: string[];
  /** Every file removed (stale SSH host keys, dbus's own machine-id copy, our stale route files). */
  removed: string[];
  /** What the caller should know: a symlink replaced, a step skipped and why. */
  notes: string[];
}

export interface Run {
  tree: Tree;
  input: PersonalityInput;
  os: OsInfo;
  res: PersonalityResult;
}

async function put(run: Run, rel: string, data: string, mode?: number): Promise<void> {
  await run.tree.write(rel, data, mode);
  run.res.wrote.push(`/${rel}`);
}

async function drop(run: Run, rel: string): Promise<void> {
  if (!(await run.tree.exists(rel))) return;
  await run.tree.remove(rel);
  run.res.removed.push(`/${rel}`);
}

/** A file we replace whole: what is there is read if it can be, else taken as empty. */
async function readOwned(tree: Tree, rel: string): Promise<string> {
  return (await tree.read(rel).catch(() => undefined)) ?? '';
}

const lines = (text: string): string[] => {
  const l = text.split('\n');
  if (l[l.length - 1] === '') l.pop();
  return l;
};

/* ---------------------------------------------------------------- users */

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function parsePasswd(text: string): Map<string, PasswdEntry> {
  const out = new Map<string, PasswdEntry>();
  for (const line of lines(text)) {
    const f = line.split(':');
    if (f.length < 7 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    out.set(f[0], { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] });
  }
  return out;
}

/**
 * Checks, before anything is written, that every user the input names exists: in
 * /etc/shadow for a password, in /etc/passwd for keys (a missing one is exit 3).
 */
async function checkUsers(run: Run): Promise<Map<string, PasswdEntry>> {
  const { input, tree } = run;
  let passwd = new Map<string, PasswdEntry>();
  if (input.sshKeys?.length) {
    passwd = parsePasswd((await tree.read('etc/passwd')) ?? '');
    for (const k of input.sshKeys) {
      if (!passwd.has(k.user)) throw notFound(`no user ${k.user} in the container's /etc/passwd`, 'create the user inside the container first');
    }
  }
  if (input.users?.length) {
    const shadow = (await tree.read('etc/shadow')) ?? '';
    const names = new Set(lines(shadow).map((l) => l.split(':')[0]));
    for (const u of input.users) {
      if (!names.has(u.name)) throw notFound(`no user ${u.name} in the container's /etc/shadow`, 'create the user inside the container first');
    }
  }
  return passwd;
}

/** Days since the epoch: /etc/shadow's "last password change". */
export const shadowDay = (now = Date.now()): number => Math.floor(now / 86_400_000);

/**
 * Sets field 2 (the hash) and field 3 (the day of the change) of `name`'s line, every other
 * byte of the file as it was. Undefined when the user has no line.
 */
export function setShadowPassword(shadow: string, name: string, hash: string, day = shadowDay()): string | undefined {
  const ls = shadow.split('\n');
  const i = ls.findIndex((l) => l.split(':')[0] === name && l.includes(':'));
  if (i < 0) return undefined;
  const f = ls[i].split(':');
  f[1] = hash;
  if (f.length > 2) f[2] = String(day);
  else f.push(String(day));
  ls[i] = f.join(':');
  return ls.join('\n');
}

/** Passwords into /etc/shadow, one write for all of them; its owner and mode stay. */
async function setPasswords(run: Run): Promise<void> {
  const users = run.input.users ?? [];
  if (!users.length) return;
  let shadow = (await run.tree.read('etc/shadow')) ?? '';
  for (const u of users) {
    const next = setShadowPassword(shadow, u.name, hashPassword(u.password));
    if (next === undefined) throw notFound(`no user ${u.name} in the container's /etc/shadow`);
    shadow = next;
  }
  await put(run, 'etc/shadow', shadow);
}

/**
 * SSH keys into ~USER/.ssh/authorized_keys: appended when the key (type and blob) is not
 * there yet, the file's other lines kept. A missing home and ~/.ssh are made 0700, the
 * file is 0600, all owned by the user's numeric ids from the image's /etc/passwd. A
 * symlinked home, ~/.ssh or authorized_keys is refused (an error): its content lives
 * where we may not look from the host.
 */
async function addSshKeys(run: Run, passwd: Map<string, PasswdEntry>): Promise<void> {
  const { tree } = run;
  for (const k of run.input.sshKeys ?? []) {
    const u = passwd.get(k.user);
    if (!u) throw notFound(`no user ${k.user} in the container's /etc/passwd`);
    const home = u.home.replace(/^\/+|\/+$/g, '');
    const sshDir = home ? `${home}/.ssh` : '.ssh';
    for (const [dir, isNew] of [[home, home !== '' && !(await tree.exists(home))], [sshDir, !(await tree.exists(sshDir))]] as const) {
      if (!isNew) continue;
      await tree.mkdir(dir, 0o700);
      await tree.chown(dir, u.uid, u.gid);
      run.res.wrote.push(`/${dir}/`);
    }
    const file = `${sshDir}/authorized_keys`;
    const old = (await tree.read(file)) ?? '';
    const have = new Set(lines(old).map(sshKeyId).filter(Boolean));
    let text = old && !old.endsWith('\n') ? `${old}\n` : old;
    for (const key of k.keys) {
      const id = sshKeyId(key);
      if (!id || have.has(id)) continue;
      have.add(id);
      text += `${key.trim()}\n`;
    }
    await put(run, file, text, 0o600);
    await tree.chown(file, u.uid, u.gid);
  }
}

/* ---------------------------------------------------------------- identity */

/** Which /etc/hosts convention: Debian's 127.0.1.1 line, or EL's name on the loopback lines. */
export type HostsStyle = 'debian' | 'el';

const HOSTS_MARK = '# vpsctl';

/**
 * /etc/hosts with the container's name, the other lines kept. Debian family: one
 * `127.0.1.1 FQDN SHORT` line (the Debian installer's convention; any other 127.0.1.1 line
 * goes). EL: `127.0.0.1 FQDN SHORT` and `::1 FQDN SHORT` lines marked `# vpsctl`, after
 * the localhost lines (so that 127.0.0.1 still reads back as localhost), as EL names the
 * host on the loopback addresses. Lines a previous run marked are replaced, not repeated.
 */
export function renderHosts(old: string, hostname: string, style: HostsStyle): string {
  const short = hostname.split('.')[0];
  const names = short !== hostname ? `${hostname} ${short}` : hostname;
  const keep = lines(old).filter((l) => !l.trimEnd().endsWith(HOSTS_MARK) && !(style === 'debian' && /^127\.0\.1\.1\s/.test(l)));
  while (keep.length && keep[keep.length - 1].trim() === '') keep.pop();
  const v4 = keep.findIndex((l) => /^127\.0\.0\.1\s/.test(l));
  if (v4 < 0) keep.unshift('127.0.0.1\tlocalhost');
  if (!keep.some((l) => /^::1\s/.test(l))) keep.push(style === 'el' ? '::1\t\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6' : '::1\t\tlocalhost ip6-localhost ip6-loopback');
  const at = keep.findIndex((l) => /^127\.0\.0\.1\s/.test(l)) + 1;
  if (style === 'debian') {
    keep.splice(at, 0, `127.0.1.1\t${names}`);
  } else {
    keep.splice(at, 0, `127.0.0.1\t${names}\t${HOSTS_MARK}`);
    const v6 = keep.findIndex((l) => /^::1\s/.test(l)) + 1;
    keep.splice(v6, 0, `::1\t\t${names}\t${HOSTS_MARK}`);
  }
  return `${keep.join('\n')}\n`;
}

async function setHostname(run: Run, style: HostsStyle): Promise<void> {
  await run.tree.mkdir('etc');
  await put(run, 'etc/hostname', `${run.input.hostname}\n`);
  await put(run, 'etc/hosts', renderHosts(await readOwned(run.tree, 'etc/hosts'), run.input.hostname, style));
}

/** Sets (or adds) KEY=value lines of a shell-style file, the others kept. */
export function setShellVars(old: string, vars: Record<string, string>): string {
  const ls = lines(old);
  for (const [k, v] of Object.entries(vars)) {
    const i = ls.findIndex((l) => new RegExp(`^\\s*${k}=`).test(l));
    if (i >= 0) ls[i] = `${k}=${v}`;
    else ls.push(`${k}=${v}`);
  }
  return `${ls.join('\n')}\n`;
}

/** CentOS 7's /etc/sysconfig/network: HOSTNAME (which its initscripts still read), NETWORKING. */
async function setSysconfigNetwork(run: Run): Promise<void> {
  if (!(await run.tree.exists('etc/sysconfig'))) return;
  const vars: Record<string, string> = { NETWORKING: 'yes', HOSTNAME: run.input.hostname };
  if (run.input.network?.addresses.some((a) => a.includes(':'))) vars.NETWORKING_IPV6 = 'yes';
  await put(run, 'etc/sysconfig/network', setShellVars(await readOwned(run.tree, 'etc/sysconfig/network'), vars));
}

/** A fresh /etc/machine-id; dbus's own copy goes (a link to /etc/machine-id stays). */
async function freshMachineId(run: Run): Promise<void> {
  await put(run, 'etc/machine-id', `${run.res.machineId}\n`, 0o444);
  const dbus = 'var/lib/dbus/machine-id';
  if ((await run.tree.exists(dbus)) && (await run.tree.readlink(dbus)) === undefined) await drop(run, dbus);
}

/**
 * SSH host keys removed (clone and import), so that the first boot makes the container's
 * own: Debian's template runs `ssh-keygen -A` before sshd, EL has sshd-keygen@.service
 * (CentOS 7 sshd-keygen.service). A symlinked /etc/ssh is left alone, with a note.
 */
async function removeSshHostKeys(run: Run): Promise<void> {
  let names: string[];
  try {
    names = await run.tree.list('etc/ssh');
  } catch (e) {
    run.res.notes.push(`SSH host keys not removed: ${(e as Error).message}`);
    return;
  }
  for (const f of names) if (/^ssh_host_[a-z0-9]+_key(\.pub)?$/.test(f)) await drop(run, `etc/ssh/${f}`);
}

/* ---------------------------------------------------------------- DNS */

const RESOLVED_STUB = /(^|\/)run\/systemd\/resolve\/(stub-)?resolv\.conf$/;

/**
 * /etc/resolv.conf. With nameservers it becomes a file naming them (and the search
 * domains), `options` lines of the old file kept; a symlink there (systemd-resolved's stub
 * on Ubuntu, resolvconf's) is replaced and a note says so, since a nameserver given must
 * work whether or not a resolver daemon runs. With only search domains, a regular file gets
 * its search line and a symlink is left to the network config (netplan, NM, networkd).
 */
async function setResolvConf(run: Run): Promise<void> {
  const ns = run.input.nameservers ?? [];
  const search = run.input.searchDomains ?? [];
  if (!ns.length && !search.length) return;
  const rel = 'etc/resolv.conf';
  const link = await run.tree.readlink(rel);
  let old = '';
  if (link !== undefined) {
    if (!ns.length) {
      run.res.notes.push(`/etc/resolv.conf is a symlink to ${link}: left as it is; the search domains go into the network configuration`);
      return;
    }
    const what = RESOLVED_STUB.test(link) ? "systemd-resolved's stub" : 'a resolver daemon';
    run.res.notes.push(`/etc/resolv.conf was a symlink to ${link} (${what}): replaced with a file naming the nameservers`);
  } else {
    old = await readOwned(run.tree, rel);
  }
  const oldLines = lines(old);
  const out = [`# ${MARK}`];
  out.push(...(ns.length ? ns.map((n) => `nameserver ${n}`) : oldLines.filter((l) => /^\s*nameserver\s/.test(l))));
  if (search.length) out.push(`search ${search.join(' ')}`);
  else out.push(...oldLines.filter((l) => /^\s*(search|domain)\s/.test(l)));
  out.push(...oldLines.filter((l) => /^\s*(options|sortlist)\s/.test(l)));
  if (ns.length > 3) run.res.notes.push('the C library reads only the first three nameservers of /etc/resolv.conf');
  await put(run, rel, `${out.join('\n')}\n`);
}

/* ---------------------------------------------------------------- container tweaks */

/** Where an OS keeps its vendor systemd units, in the order we look; undefined when the unit is absent. */
async function unitDir(tree: Tree, unit: string): Promise<string | undefined> {
  for (const dir of ['usr/lib/systemd/system', 'lib/systemd/system']) {
    if (await tree.exists(`${dir}/${unit}`)) return dir;
  }
  return undefined;
}

/** udev has no devices to manage in a container: its units are masked where the image has them. */
const UDEV_UNITS = ['systemd-udev-settle.service', 'systemd-udev-trigger.service', 'systemd-udevd.service', 'systemd-udevd-control.socket', 'systemd-udevd-kernel.socket'];

/** A symlink made only when it is not already there; recorded as written when made. */
async function link(run: Run, rel: string, target: string): Promise<void> {
  if ((await run.tree.readlink(rel)) === target) return;
  await run.tree.symlink(rel, target);
  run.res.wrote.push(`/${rel}`);
}

/**
 * What a container needs that a machine does not, each only where the image has the files:
 * - no fsck or remount of /: an fstab line for / is commented out (vpsctl mounts the root);
 * - udev's units masked (a link to /dev/null in /etc/systemd/system), so nothing waits
 *   for udev-settle; a unit file an admin put there instead is left alone, with a note;
 * - a getty on the console: console-getty.service enabled where the image has the unit.
 *   Its link points where the family's units live: `/lib/systemd/system` on the Debian
 *   family (merged /usr or not), `/usr/lib/systemd/system` on EL, where found elsewhere.
 */
async function containerTweaks(run: Run, family: 'debian' | 'el' | 'generic'): Promise<void> {
  const { tree } = run;
  if (await tree.exists('etc/fstab')) {
    try {
      const fstab = (await tree.read('etc/fstab')) ?? '';
      const next = lines(fstab).map((l) => {
        const f = l.trim().split(/\s+/);
        return !l.trim().startsWith('#') && f[1] === '/' ? `# ${l}  # vpsctl: the container's / is mounted by vpsctl; no fsck, no remount` : l;
      });
      if (next.join('\n') !== lines(fstab).join('\n')) await put(run, 'etc/fstab', `${next.join('\n')}\n`);
    } catch (e) {
      run.res.notes.push(`/etc/fstab left as it is: ${(e as Error).message}`);
    }
  }
  for (const unit of UDEV_UNITS) {
    if (!(await unitDir(tree, unit))) continue;
    const rel = `etc/systemd/system/${unit}`;
    const target = await tree.readlink(rel);
    if (target === undefined && (await tree.exists(rel))) {
      run.res.notes.push(`/${rel} is a unit file of its own: not masked`);
      continue;
    }
    await tree.mkdir('etc/systemd/system');
    await link(run, rel, '/dev/null');
  }
  const dir = await unitDir(tree, 'console-getty.service');
  if (dir) {
    const base = family === 'debian' ? 'lib/systemd/system' : family === 'el' ? 'usr/lib/systemd/system' : dir;
    await tree.mkdir('etc/systemd/system/getty.target.wants');
    await link(run, 'etc/systemd/system/getty.target.wants/console-getty.service', `/${base}/console-getty.service`);
  }
}

/* ---------------------------------------------------------------- network */

const netPlan = (run: Run): NetPlan | undefined =>
  run.input.network ? planNetwork(run.input.network, run.input.nameservers, run.input.searchDomains) : undefined;

/** Whether the image uses ifupdown: /etc/network/interfaces and an ifup. */
export async function hasIfupdown(tree: Tree): Promise<boolean> {
  if (!(await tree.exists('etc/network/interfaces'))) return false;
  return (await tree.exists('sbin/ifup')) || (await tree.exists('usr/sbin/ifup'));
}

/** Whether the image has systemd-networkd. */
async function hasNetworkd(tree: Tree): Promise<boolean> {
  return (await tree.exists('usr/lib/systemd/systemd-networkd')) || (await tree.exists('lib/systemd/systemd-networkd'));
}

/**
 * /etc/network/interfaces as ifupdown should read it with our interfaces.d file: a stanza
 * of its own for the interface (a template's `iface eth0 inet dhcp`) commented out with a
 * `#vpsctl# ` prefix, and a `source` line for interfaces.d added when it has none.
 */
export function adjustInterfaces(old: string, iface: string): string {
  const stanza = /^\s*(iface|mapping|auto|allow-[a-z-]+|source|source-directory|no-auto-down|no-scripts)\b/;
  const ours = (l: string): boolean => {
    const m = /^\s*(iface|auto|allow-[a-z-]+)\s+(.*)$/.exec(l);
    if (!m) return false;
    return m[1] === 'iface' ? m[2].split(/\s+/)[0] === iface : m[2].split(/\s+/).includes(iface);
  };
  const out: string[] = [];
  let inOurs = false;
  for (const l of lines(old)) {
    if (stanza.test(l)) inOurs = ours(l);
    if (inOurs && l.trim() !== '' && !l.startsWith('#')) {
      // an `auto lo eth0` line keeps its other interfaces
      const m = /^(\s*)(auto|allow-[a-z-]+)\s+(.*)$/.exec(l);
      const others = m ? m[3].split(/\s+/).filter((w) => w && w !== iface) : [];
      out.push(`#vpsctl# ${l}`);
      if (m && others.length) out.push(`${m[1]}${m[2]} ${others.join(' ')}`);
    } else {
      out.push(l);
    }
  }
  if (!out.some((l) => /^\s*source(-directory)?\s+(\/etc\/network\/)?interfaces\.d/.test(l))) out.push('', 'source /etc/network/interfaces.d/*');
  return `${out.join('\n')}\n`;
}

async function networkIfupdown(run: Run, p: NetPlan): Promise<void> {
  await run.tree.mkdir('etc/network/interfaces.d');
  await put(run, `etc/network/interfaces.d/${p.iface}`, renderIfupdown(p));
  const old = (await run.tree.read('etc/network/interfaces')) ?? '';
  const next = adjustInterfaces(old, p.iface);
  if (next !== old) await put(run, 'etc/network/interfaces', next);
}

/** A networkd .network file, and networkd enabled (service and socket) when it is not yet. */
async function networkNetworkd(run: Run, p: NetPlan, family: 'debian' | 'generic'): Promise<void> {
  await run.tree.mkdir('etc/systemd/network');
  await put(run, `etc/systemd/network/10-${p.iface}.network`, renderNetworkd(p));
  for (const [unit, wants] of [['systemd-networkd.service', 'multi-user.target.wants'], ['systemd-networkd.socket', 'sockets.target.wants']]) {
    const dir = await unitDir(run.tree, unit);
    if (!dir) continue;
    await run.tree.mkdir(`etc/systemd/system/${wants}`);
    await link(run, `etc/systemd/system/${wants}/${unit}`, `/${family === 'debian' ? 'lib/systemd/system' : dir}/${unit}`);
  }
}

async function networkNetplan(run: Run, p: NetPlan): Promise<void> {
  const [y] = run.os.version.split('.').map((s) => Number.parseInt(s, 10));
  await run.tree.mkdir('etc/netplan');
  await put(run, 'etc/netplan/50-vpsctl.yaml', renderNetplan(p, { defaultKeyword: !(y < 22) }), 0o600);
}

/** Our own stale file (say a route file from an earlier routed setup) goes; another's stays. */
async function dropIfOurs(run: Run, rel: string): Promise<void> {
  const text = await run.tree.read(rel).catch(() => undefined);
  if (text?.startsWith(`# ${MARK}`)) await drop(run, rel);
}

async function networkIfcfg(run: Run, p: NetPlan): Promise<void> {
  const dir = 'etc/sysconfig/network-scripts';
  await run.tree.mkdir(dir);
  const files = renderIfcfg(p);
  await put(run, `${dir}/ifcfg-${p.iface}`, files.ifcfg);
  for (const [name, text] of [[`route-${p.iface}`, files.route], [`route6-${p.iface}`, files.route6]] as const) {
    if (text) await put(run, `${dir}/${name}`, text);
    else await dropIfOurs(run, `${dir}/${name}`);
  }
}

/** The keyfile (0600: NetworkManager ignores one others may read), its uuid kept across rewrites. */
async function networkNm(run: Run, p: NetPlan): Promise<void> {
  const dir = 'etc/NetworkManager/system-connections';
  const rel = `${dir}/${p.iface}.nmconnection`;
  const old = await run.tree.read(rel).catch(() => undefined);
  const uuid = /^uuid=([0-9a-f-]{36})$/m.exec(old ?? '')?.[1] ?? randomUUID();
  await run.tree.mkdir(dir);
  await put(run, rel, renderNmKeyfile(p, uuid), 0o600);
  if (await run.tree.exists(`etc/sysconfig/network-scripts/ifcfg-${p.iface}`)) {
    run.res.notes.push(`/etc/sysconfig/network-scripts/ifcfg-${p.iface} also configures ${p.iface}; NetworkManager may prefer it`);
  }
}

/** Every file a network writer above makes for the interface, in any format, where it carries our mark. */
async function dropNetworkFiles(run: Run, iface: string): Promise<void> {
  for (const rel of [
    `etc/network/interfaces.d/${iface}`,
    `etc/systemd/network/10-${iface}.network`,
    'etc/netplan/50-vpsctl.yaml',
    `etc/sysconfig/network-scripts/ifcfg-${iface}`,
    `etc/sysconfig/network-scripts/route-${iface}`,
    `etc/sysconfig/network-scripts/route6-${iface}`,
    `etc/NetworkManager/system-connections/${iface}.nmconnection`,
  ]) {
    await dropIfOurs(run, rel);
  }
}

/* ---------------------------------------------------------------- the personalities */

/**
 * A distro personality: how this OS wants its identity written. classifyOs picks it by
 * name; `apply` runs the steps above in a safe order: everything checked first (the input
 * by the caller, the users here), then the files.
 */
export interface Personality {
  name: PersonalityName;
  apply(run: Run): Promise<void>;
}

/** How the personalities differ: the /etc/hosts style, where units live, the network, an extra step. */
interface Flavour {
  hosts: HostsStyle;
  family: 'debian' | 'el' | 'generic';
  network: (run: Run, p: NetPlan) => Promise<void>;
  extra?: (run: Run) => Promise<void>;
}

/** The steps every personality runs, in order, with its flavour's parts. */
async function common(run: Run, f: Flavour): Promise<void> {
  const passwd = await checkUsers(run);
  await setHostname(run, f.hosts);
  await f.extra?.(run);
  if (!run.input.keepMachineId) await freshMachineId(run);
  if (run.input.freshHostKeys) await removeSshHostKeys(run);
  await setResolvConf(run);
  await setPasswords(run);
  await addSshKeys(run, passwd);
  const p = netPlan(run);
  if (p) await f.network(run, p);
  if (run.input.dropNetwork) await dropNetworkFiles(run, run.input.dropNetwork);
  await containerTweaks(run, f.family);
}

/** Debian and derivatives: ifupdown when the image has it, else systemd-networkd. */
export const debian: Personality = {
  name: 'debian',
  apply: (run) =>
    common(run, {
      hosts: 'debian',
      family: 'debian',
      network: async (r, p) => ((await hasIfupdown(r.tree)) ? networkIfupdown(r, p) : networkNetworkd(r, p, 'debian')),
    }),
};

/** Ubuntu 17.10 and later: netplan. */
export const ubuntu: Personality = {
  name: 'ubuntu',
  apply: (run) => common(run, { hosts: 'debian', family: 'debian', network: networkNetplan }),
};

/** EL 7: network-scripts, and the hostname in /etc/sysconfig/network as well. */
export const centos7: Personality = {
  name: 'centos7',
  apply: (run) => common(run, { hosts: 'el', family: 'el', network: networkIfcfg, extra: setSysconfigNetwork }),
};

/** EL 8 and later, Fedora: NetworkManager keyfiles. */
export const el9: Personality = {
  name: 'el9',
  apply: (run) => common(run, { hosts: 'el', family: 'el', network: networkNm }),
};

/** Anything else: the common identity, and systemd-networkd when the image has it. */
export const generic: Personality = {
  name: 'generic',
  apply: (run) =>
    common(run, {
      hosts: 'debian',
      family: 'generic',
      network: async (r, p) => {
        if (await hasNetworkd(r.tree)) await networkNetworkd(r, p, 'generic');
        else r.res.notes.push('the network was not configured: no network stack vpsctl knows (systemd-networkd) in this image');
      },
    }),
};

export const PERSONALITIES: Record<PersonalityName, Personality> = { debian, ubuntu, centos7, el9, generic };

/** A fresh result for a run: a new machine-id, nothing written yet. */
export function newResult(os: OsInfo, personality: PersonalityName): PersonalityResult {
  return { os, personality, machineId: randomBytes(16).toString('hex'), wrote: [], removed: [], notes: [] };
}

/** The drop-in Debian-family templates give ssh.service: host keys made at first boot. */
const SSH_HOSTKEYS_DROPIN = '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n';

/**
 * Makes an unpacked tree a template the way the recipe builder does (template import): an
 * empty /etc/machine-id (each container gets its own at create), no SSH host keys, and on
 * a Debian-style ssh.service the drop-in that makes them at first boot. Through the Tree:
 * the tree is untrusted.
 */
export async function prepareTemplateTree(tree: Tree, os: OsInfo): Promise<PersonalityResult> {
  const run: Run = { tree, input: { hostname: 'localhost' }, os, res: newResult(os, classifyOs(os)) };
  await put(run, 'etc/machine-id', '', 0o444);
  await removeSshHostKeys(run);
  const debianSsh = (await tree.exists('lib/systemd/system/ssh.service')) || (await tree.exists('usr/lib/systemd/system/ssh.service'));
  const dropin = 'etc/systemd/system/ssh.service.d/vpsctl-hostkeys.conf';
  if (debianSsh && !(await tree.exists(dropin))) {
    try {
      await tree.mkdir('etc/systemd/system/ssh.service.d');
      await put(run, dropin, SSH_HOSTKEYS_DROPIN);
    } catch (e) {
      run.res.notes.push(`the SSH host key drop-in was not added: ${(e as Error).message}`);
    }
  }
  return run.res;
}
