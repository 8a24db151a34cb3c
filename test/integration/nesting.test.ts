/**
 * --features nesting (issue 21): containers inside the container. With it an unprivileged
 * LXC container, with a user namespace of its own (lxc.idmap) and LXC's stock
 * `proc:mixed sys:mixed` mounts, boots inside a vpsctl container and runs (its ids nested in
 * the container's, its cgroups below the container's); without it the same fails, with the
 * kernel's EPERM on the proc mount. LXC comes from Debian's packages as the host's apt
 * resolves them against the container's own dpkg status, downloaded on the host and copied
 * in as .debs (the container needs no network); its busybox template makes a local rootfs.
 * The nested runtime is started by the container's own systemd (systemd-run): `vpsctl exec`
 * runs in a cgroup of the host's, from which LXC cannot move itself into the container's
 * delegated tree (SECURITY.md). A privileged container is refused the feature.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { json, makeEnv, newId, ok, shIn, vpsctl, type Env } from './harness.js';

const e: Env = makeEnv();
const DEBS = path.join(e.root, 'debs');
const made: string[] = [];

async function container(args: string[] = []): Promise<string> {
  const id = newId('nest');
  made.push(id);
  await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', ...args]);
  return id;
}

/** `sh -c SCRIPT` inside: exit code and both outputs. */
const sh = (id: string, script: string) => shIn(e, id, script, { timeoutMs: 240_000 });

/**
 * The .debs of LXC and busybox-static (its busybox template copies /bin/busybox) that the
 * container lacks: resolved by the host's apt against the container's own dpkg status, so the
 * list follows the host's apt sources, then downloaded into DEBS.
 */
async function downloadDebs(id: string): Promise<string[]> {
  mkdirSync(DEBS, { recursive: true });
  const status = path.join(e.root, 'dpkg-status');
  writeFileSync(status, await ok(e, ['exec', id, '--', 'cat', '/var/lib/dpkg/status']));
  const sim = await execa('apt-get', ['-s', '-o', `Dir::State::status=${status}`, 'install', '--no-install-recommends', 'lxc', 'busybox-static']);
  const names = sim.stdout.split('\n').filter((l) => l.startsWith('Inst ')).map((l) => l.split(' ')[1]);
  expect(names).toEqual(expect.arrayContaining(['lxc', 'busybox-static']));
  // root downloads into a root-only directory: no sandbox user that could not write there
  await execa('apt-get', ['-q', '-o', 'APT::Sandbox::User=root', 'download', ...names], { cwd: DEBS });
  return readdirSync(DEBS).filter((f) => f.endsWith('.deb'));
}

/** The .debs copied in through exec's stdin (a tar), and installed. */
async function installDebs(id: string): Promise<void> {
  const tar = await execa('tar', ['-C', DEBS, '-c', '.'], { encoding: 'buffer' });
  await ok(e, ['exec', id, '--', 'sh', '-c', 'mkdir -p /root/debs && tar -C /root/debs -x'], { input: tar.stdout as unknown as string });
  const r = await sh(id, 'cd /root/debs && DEBIAN_FRONTEND=noninteractive dpkg -i *.deb > /tmp/dpkg.log 2>&1; rc=$?; tail -5 /tmp/dpkg.log; lxc-create --version; exit $rc');
  expect(r).toEqual({ exitCode: 0, out: expect.stringMatching(/(^|\n)\d+\.\d+\.\d+\n$/) }); // lxc-create --version
}

/** An LXC container `inner` from the busybox template, unprivileged inside (its ids 10000..19999 of the container's 65536), with LXC's stock proc:mixed sys:mixed. */
const CREATE_INNER = [
  "printf 'lxc.net.0.type = empty\\n' > /etc/lxc/default.conf",
  'lxc-create -n inner -t busybox > /tmp/inner-create.log 2>&1 || { cat /tmp/inner-create.log; exit 1; }',
  'C=/var/lib/lxc/inner/config',
  "sed -i 's/^lxc.mount.auto.*/lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed/' $C",
  "printf 'lxc.idmap = u 0 10000 10000\\nlxc.idmap = g 0 10000 10000\\n' >> $C",
  'chown -R -h 10000:10000 /var/lib/lxc/inner/rootfs',
  // LXC makes the directory 0770 root's, which the nested root could not enter
  'chmod 755 /var/lib/lxc/inner',
].join(' && ');

/** Started by the container's systemd (UNIT), then its state once RUNNING or after 30 s. */
const START_INNER = (unit: string): string =>
  `systemd-run -q --unit=${unit} lxc-start -n inner -F -l DEBUG -o /tmp/${unit}.log; ` +
  'for i in $(seq 60); do s=$(lxc-info -n inner -s -H 2>/dev/null); [ "$s" = RUNNING ] && break; sleep 0.5; done; echo "state=$s"';

/** What runs in `inner`, through lxc-attach run by the container's systemd. */
const IN_INNER = "systemd-run --pipe --wait -q lxc-attach -n inner -- sh -c 'hostname; cat /proc/self/uid_map'";

/** The fields of each mount of these paths inside: `PATH MOUNT-OPTIONS FSTYPE SUPER-OPTIONS`. */
async function mountsAt(id: string, paths: string[]): Promise<Record<string, string>> {
  const info = (await sh(id, 'cat /proc/self/mountinfo')).out.split('\n').map((l) => l.split(' '));
  const out: Record<string, string> = {};
  for (const f of info) {
    const sep = f.indexOf('-');
    if (paths.includes(f[4])) out[f[4]] = `${f[5].split(',')[0]} ${f[sep + 1]} ${f[sep + 3]?.split(',')[0]}`;
  }
  return out;
}

/** Host pids whose real uid is `uid` and whose command is `comm`. */
function hostPids(uid: number, comm: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const s = readFileSync(`/proc/${p}/status`, 'utf8');
      if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(s) && readFileSync(`/proc/${p}/comm`, 'utf8').trim() === comm) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

afterAll(async () => {
  for (const id of made) await vpsctl(e, ['destroy', id, '--force']);
});

describe('--features nesting', () => {
  it('an unprivileged LXC container (its own user namespace, proc:mixed sys:mixed) runs inside the container; without the feature it fails, and set gives it at the next start', async () => {
    const id = await container(['--features', 'nesting']);
    const plain = await container();
    expect(await json(e, ['status', id])).toMatchObject({ mode: 'unprivileged', features: ['nesting'] });
    await ok(e, ['start', id, '--wait']);
    await ok(e, ['start', plain, '--wait']);

    // what the feature mounts: a clean proc and a rw sysfs in a 0700 /dev/.lxc, /sys still
    // read-only (per mount; its superblock read-write), /proc/sys read-only, systemd running
    const paths = ['/sys', '/proc/sys', '/dev/.lxc/proc', '/dev/.lxc/sys'];
    expect(await mountsAt(id, paths)).toEqual({ '/sys': 'ro sysfs rw', '/proc/sys': 'ro proc rw', '/dev/.lxc/proc': 'rw proc rw', '/dev/.lxc/sys': 'rw sysfs rw' });
    expect((await sh(id, 'stat -c "%a %U" /dev/.lxc')).out).toBe('700 root\n');
    expect((await sh(id, 'setpriv --reuid 65534 --regid 65534 --clear-groups ls /dev/.lxc/proc')).exitCode).not.toBe(0);
    // and without it nothing of that: the sysfs superblock read-only, no /dev/.lxc
    expect(await mountsAt(plain, paths)).toEqual({ '/sys': 'ro sysfs ro', '/proc/sys': 'ro proc rw' });
    expect((await sh(plain, 'test -e /dev/.lxc')).exitCode).toBe(1);
    for (const c of [id, plain]) expect((await sh(c, 'systemctl is-system-running --wait')).out.trim()).toBe('running');

    // the kernel's rule, without packages: proc in a nested user namespace, a rw sysfs in a new
    // network namespace (util-linux's mount: 32 is the kernel's EPERM)
    const NESTED_PROC = 'unshare -Urmpf --propagation private mount -t proc proc /mnt';
    const RW_SYSFS = 'unshare -mn --propagation private mount -t sysfs sysfs /mnt';
    expect([(await sh(id, NESTED_PROC)).exitCode, (await sh(id, RW_SYSFS)).exitCode]).toEqual([0, 0]);
    expect([(await sh(plain, NESTED_PROC)).exitCode, (await sh(plain, RW_SYSFS)).exitCode]).toEqual([32, 32]);

    expect(await downloadDebs(id)).toEqual(expect.arrayContaining([expect.stringMatching(/^lxc_.*\.deb$/)]));
    await installDebs(id);
    await installDebs(plain);

    // with the feature: it runs, as the container's ids 10000.. (nested user namespace)
    expect(await sh(id, CREATE_INNER)).toMatchObject({ exitCode: 0 });
    expect(await sh(id, START_INNER('inner'))).toEqual({ exitCode: 0, out: 'state=RUNNING\n' });
    const r = await sh(id, IN_INNER);
    expect({ exitCode: r.exitCode, out: r.out.trim().split(/\s+/) }).toEqual({ exitCode: 0, out: ['inner', '0', '10000', '10000'] });
    // seen from the host: its init is the container's uid 10000, i.e. host uid base+10000,
    // mapped from there, and in a cgroup below the container's
    const base = (await json<{ idmap: { uid: number } }>(e, ['status', id])).idmap.uid;
    const pids = hostPids(base + 10000, 'init');
    expect(pids.length).toBeGreaterThan(0);
    expect(readFileSync(`/proc/${pids[0]}/uid_map`, 'utf8').trim().split(/\s+/).map(Number)).toEqual([0, base + 10000, 10000]);
    const cgroups = readFileSync(`/proc/${pids[0]}/cgroup`, 'utf8').trim().split('\n');
    for (const line of cgroups) expect(line).toMatch(new RegExp(`/${id}/(ct/)?lxc\\.payload\\.inner$`));
    // stopped by LXC (busybox's init ignores SIGTERM), the container's own stop stays clean
    expect(await sh(id, 'lxc-stop -n inner -k && lxc-info -n inner -s -H && lxc-destroy -n inner')).toEqual({ exitCode: 0, out: 'STOPPED\n' });
    const stop = await vpsctl(e, ['stop', id]);
    expect({ exitCode: stop.exitCode, stdout: stop.stdout, stderr: stop.stderr }).toEqual({ exitCode: 0, stdout: expect.stringMatching(/\(clean\)/), stderr: expect.not.stringMatching(/killing/) });

    // without it: the same fails, the kernel refusing LXC's proc mount in the nested user namespace
    expect(await sh(plain, CREATE_INNER)).toMatchObject({ exitCode: 0 });
    expect(await sh(plain, START_INNER('inner'))).toEqual({ exitCode: 0, out: 'state=STOPPED\n' });
    expect((await sh(plain, 'cat /tmp/inner.log')).out).toMatch(/Operation not permitted - Failed to mount "proc"/);
    expect((await sh(plain, IN_INNER)).exitCode).not.toBe(0);

    // set on a running container: saved, given at the next start; then the same runs there
    const set = await json<{ devices: { features: string[]; next_start: boolean } }>(e, ['set', plain, '--features', 'nesting']);
    expect(set.devices).toEqual({ features: ['nesting'], devices: [], next_start: true });
    expect((await sh(plain, 'test -e /dev/.lxc')).exitCode).toBe(1);
    await ok(e, ['restart', plain, '--wait']);
    expect(await sh(plain, START_INNER('inner2'))).toEqual({ exitCode: 0, out: 'state=RUNNING\n' });
    expect((await sh(plain, IN_INNER)).out.trim().split(/\s+/)).toEqual(['inner', '0', '10000', '10000']);
    expect(await sh(plain, 'lxc-stop -n inner -k && lxc-info -n inner -s -H')).toEqual({ exitCode: 0, out: 'STOPPED\n' });
  }, 900_000);

  it('is refused for a privileged container: at create with nothing made, and at set with nothing changed', async () => {
    const nope = newId('nest');
    const r = await vpsctl(e, ['create', nope, '--template', 'debian-12', '--disk', '2G', '--privileged', '--features', 'nesting']);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/nesting is for unprivileged containers only/) });
    expect((await vpsctl(e, ['status', nope])).exitCode).toBe(3);
    expect(existsSync(path.join(e.root, 'containers', nope))).toBe(false);

    const id = await container(['--privileged']);
    const before = readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8');
    const s = await vpsctl(e, ['set', id, '--features', 'tun,nesting']);
    expect({ exitCode: s.exitCode, stderr: s.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/nesting is for unprivileged containers only/) });
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).toBe(before);
    await ok(e, ['start', id, '--wait']);
    expect((await sh(id, 'test -e /dev/.lxc')).exitCode).toBe(1);
  }, 300_000);
});
