/**
 * Bind mounts of host directories (`--mount HOSTDIR:CTDIR[:ro|rw]`), on real containers. An
 * unprivileged container sees the host's files with their owners (through an idmapped mount:
 * host uid 0 and 1000 are 0 and 1000 inside, an id past 65535 is nobody), a file its root
 * writes is the host's uid 0, `:ro` refuses writes, and the bind is nosuid,nodev and locked
 * (no remount, no umount from inside). `set` on a running container is saved for the next
 * start, whose missing target directories are made as the container's root. The hostile cases
 * are refused with nothing changed: a symlinked host path, a host path in or holding the state
 * root, a system tree, a CTDIR with `..` or in /proc; a symlink the tenant made is followed only
 * inside its own tree (the bind lands there, never on the host), one to `/` fails the start;
 * a host directory swapped for a symlink after vpsctl's check is refused by vps-spawn itself.
 * A privileged container gets a plain bind.
 */
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { json, loopsUnder, makeEnv, newId, ok, REPO, shIn, until, vpsctl, type Env } from './harness.js';

const e: Env = makeEnv();
const made: string[] = [];
// the host's side: beside the state root (never in it), under a parent only root may enter
const base = mkdtempSync('/var/tmp/vpsctl-mounts-');
chmodSync(base, 0o700);
const DATA = path.join(base, 'data');
const RO = path.join(base, 'ro');
const MORE = path.join(base, 'more');

async function container(args: string[] = []): Promise<string> {
  const id = newId('mt');
  made.push(id);
  await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', ...args]);
  return id;
}

/** `sh -c SCRIPT` inside: exit code and both outputs. */
const sh = (id: string, script: string) => shIn(e, id, script, { timeoutMs: 60_000 });

/** The host's own mount points (this process's namespace, the admin's) under `dir`: a container's binds are never among them. */
const hostMountsUnder = (dir: string): string[] =>
  readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((mp) => mp === dir || mp.startsWith(`${dir}/`));

const configSum = (id: string): string => createHash('sha256').update(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'))).digest('hex');
const mountsOf = async (id: string): Promise<string[]> => (await json<{ mounts: string[] }>(e, ['status', id])).mounts;

beforeAll(() => {
  for (const d of [DATA, RO, MORE]) mkdirSync(d);
  writeFileSync(path.join(DATA, 'byroot'), 'root\n');
  writeFileSync(path.join(DATA, 'by1000'), 'u\n');
  chownSync(path.join(DATA, 'by1000'), 1000, 1000);
  writeFileSync(path.join(DATA, 'byfar'), 'far\n');
  chownSync(path.join(DATA, 'byfar'), 200000, 200000);
  writeFileSync(path.join(RO, 'file'), 'ro\n');
  writeFileSync(path.join(MORE, 'marker'), 'more\n');
});

afterAll(async () => {
  for (const id of made) await vpsctl(e, ['destroy', id, '--force']);
  rmSync(base, { recursive: true, force: true });
});

describe('an unprivileged container', () => {
  it('sees the host files with their owners, writes as the host uid 0, :ro refuses writes; the bind is nosuid, nodev, idmapped and locked', async () => {
    const id = await container(['--mount', `${DATA}:/data`, '--mount', `${RO}:/srv/ro:ro`]);
    expect(await mountsOf(id)).toEqual([`${DATA}:/data:rw`, `${RO}:/srv/ro:ro`]);
    await ok(e, ['start', id, '--wait']);

    const owners = await sh(id, 'stat -c "%u:%g %n" /data/byroot /data/by1000 /data/byfar /srv/ro/file');
    expect(owners.out.trim().split('\n')).toEqual(['0:0 /data/byroot', '1000:1000 /data/by1000', '65534:65534 /data/byfar', '0:0 /srv/ro/file']);
    // written inside as its root: the host's root on the host, not the container's range
    expect((await sh(id, 'echo made > /data/made && stat -c %u /data/made')).out.trim()).toBe('0');
    expect(statSync(path.join(DATA, 'made')).uid).toBe(0);
    expect(readFileSync(path.join(DATA, 'made'), 'utf8')).toBe('made\n');
    // a setuid file made there is inert inside: the bind is nosuid
    expect((await sh(id, 'cp /bin/true /data/suid && chmod 4755 /data/suid')).exitCode).toBe(0);
    expect(statSync(path.join(DATA, 'suid')).uid).toBe(0); // on the host it is root's (SECURITY.md, bind mounts)

    const ro = await sh(id, 'touch /srv/ro/x');
    expect(ro.exitCode).not.toBe(0);
    expect(ro.out).toMatch(/Read-only file system/);
    expect(existsSync(path.join(RO, 'x'))).toBe(false);

    const info = await sh(id, 'grep -E " /(data|srv/ro) " /proc/self/mountinfo');
    const lines = info.out.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/nosuid,nodev,.*idmapped/);
    expect(lines.find((l) => l.includes(' /srv/ro '))).toMatch(/ ro,nosuid/);
    // the kernel locked it with the rest: no remount rw or suid, no umount to show what is below
    for (const cmd of ['mount -o remount,rw /srv/ro', 'mount -o remount,suid /data', 'umount /srv/ro', 'umount -l /data']) {
      expect({ cmd, refused: (await sh(id, cmd)).exitCode !== 0 }).toEqual({ cmd, refused: true });
    }
    expect((await sh(id, 'touch /srv/ro/y')).exitCode).not.toBe(0);
    expect(existsSync(path.join(RO, 'y'))).toBe(false);

    // set on a running container: saved, given at the next start; missing targets are made as its root
    const set = await json<{ mounts: { mounts: string[]; next_start: boolean } }>(e, ['set', id, '--mount', `${MORE}:/new/deep/more:ro`, '--mount', '/srv/ro:off']);
    expect(set.mounts).toEqual({ mounts: [`${DATA}:/data:rw`, `${MORE}:/new/deep/more:ro`], next_start: true });
    expect((await sh(id, 'cat /new/deep/more/marker')).exitCode).not.toBe(0);
    await ok(e, ['restart', id, '--wait']);
    expect((await sh(id, 'cat /new/deep/more/marker')).out).toBe('more\n');
    expect((await sh(id, 'stat -c "%u:%g %a" /new /new/deep /new/deep/more')).out.trim().split('\n')).toEqual(['0:0 755', '0:0 755', '0:0 755']);
    expect((await sh(id, 'ls /srv/ro')).out.trim()).toBe(''); // unbound: the image's own empty directory
  }, 300_000);

  it('hostile mounts are refused, with nothing changed', async () => {
    const id = await container(['--mount', `${DATA}:/data`]);
    const before = configSum(id);
    const link = path.join(base, 'link');
    symlinkSync(DATA, link);
    writeFileSync(path.join(base, 'file'), '');
    const cases: [string, RegExp][] = [
      [`${link}:/x`, /link is a symbolic link/],
      [`${path.join(link, 'sub')}:/x`, /link is a symbolic link/],
      [`${path.join(e.root, 'pool')}:/x`, /which vpsctl keeps for itself/],
      [`${path.join(e.root, 'containers', id)}:/x`, /which vpsctl keeps for itself/],
      [`${path.dirname(e.root)}:/x`, /holds .*which vpsctl keeps for itself/],
      [`${e.run}:/x`, /below \/run, one of the host's system trees/],
      ['/etc/ssl:/x:ro', /below \/etc, one of the host's system trees/],
      ['/:/x', /root of the host's tree/],
      ['/var/lib:/x', /\/var\/lib/],
      [`${path.join(base, 'none')}:/x`, /does not exist/],
      [`${path.join(base, 'file')}:/x`, /not a directory/],
      ['relative/dir:/x', /HOSTDIR must be an absolute path/],
      [`${MORE}:/data/../../x`, /refusing CTDIR: .* not a plain absolute path/],
      [`${MORE}:x`, /CTDIR must be an absolute path/],
      [`${MORE}:/proc/x`, /below \/proc, one of the container's own mounts/],
      [`${MORE}:/dev`, /\/dev/],
      [`${MORE}:/`, /container's own root/],
      [`${MORE}:/data/sub`, /below \/data, another mount's target/],
      [`${MORE}:/x:rx`, /want HOSTDIR:CTDIR/],
    ];
    for (const [spec, re] of cases) {
      for (const cmd of [['set', id, '--mount', spec], ['create', `${id}-x`, '--template', 'debian-12', '--disk', '2G', '--mount', `${DATA}:/data`, '--mount', spec]]) {
        const r = await vpsctl(e, cmd);
        expect({ cmd: cmd.join(' '), code: r.exitCode, err: r.stderr }).toEqual({ cmd: cmd.join(' '), code: 2, err: expect.stringMatching(re) });
      }
    }
    expect(configSum(id)).toBe(before);
    expect(existsSync(path.join(e.root, 'containers', `${id}-x`))).toBe(false);
    expect(await mountsOf(id)).toEqual([`${DATA}:/data:rw`]);
    expect(hostMountsUnder(base)).toEqual([]);
  }, 300_000);

  it("a symlink the tenant made is followed only inside its own tree: the bind lands there, never on the host; one to / fails the start", async () => {
    const id = await container();
    const hostTwin = path.join(base, 'twin'); // a host directory the tenant's link names
    mkdirSync(hostTwin);
    await ok(e, ['start', id, '--wait']);
    // the container's /data leads up and out of its rootfs if followed on the host
    const up = '/..'.repeat(16);
    expect((await sh(id, `mkdir -p ${hostTwin} && ln -s ${up}${hostTwin} /data && ln -s / /rootlink && ls -ld /data`)).exitCode).toBe(0);
    await ok(e, ['set', id, '--mount', `${MORE}:/data:ro`]);
    await ok(e, ['restart', id, '--wait']);
    // inside: the bind is on the container's own twin directory, reached through its link
    expect((await sh(id, 'cat /data/marker')).out).toBe('more\n');
    expect((await sh(id, `cat ${hostTwin}/marker`)).out).toBe('more\n');
    expect((await sh(id, 'readlink /data')).out.trim()).toBe(`${up}${hostTwin}`);
    // the host: its twin is as it was, nothing mounted on it or anywhere under base
    expect(readdirSync(hostTwin)).toEqual([]);
    expect(hostMountsUnder(base)).toEqual([]);
    expect(hostMountsUnder(hostTwin)).toEqual([]);

    // a link to the container's own / would cover its whole tree: the start fails, saying so
    await ok(e, ['set', id, '--mount', `${RO}:/rootlink:ro`]);
    const r = await vpsctl(e, ['restart', id, '--wait'], { timeoutMs: 180_000 });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/the container's \/rootlink leads to its own \/; refusing to cover it/);
    expect((await json<{ state: string }>(e, ['status', id])).state).toBe('stopped');
    expect(await until(async () => (await loopsUnder(e.root)).filter((l) => l.includes(`/${id}.img`)), (l) => l.length === 0, 15_000)).toEqual([]);
    expect(hostMountsUnder(base)).toEqual([]);
    await ok(e, ['set', id, '--mount', '/rootlink:off']);
    await ok(e, ['start', id, '--wait']);
    expect((await sh(id, 'cat /data/marker')).out).toBe('more\n');
  }, 300_000);

  it('a host directory swapped for a symlink after vpsctl checked it is refused by vps-spawn', async () => {
    const swap = path.join(base, 'swap');
    mkdirSync(swap);
    const id = await container(['--mount', `${swap}:/swap`]);
    // vps-spawn as vpsctl runs it, but the host path turns into a symlink to /etc just before
    const helpers = path.join(base, 'helpers');
    mkdirSync(helpers);
    for (const h of ['vps-enter', 'vps-snap', 'vps-limit', 'vps-net']) symlinkSync(path.join(REPO, 'helpers', h), path.join(helpers, h));
    writeFileSync(path.join(helpers, 'vps-spawn'), `#!/bin/sh\nmv ${swap} ${swap}.real && ln -s /etc ${swap} || exit 99\nexec ${path.join(REPO, 'helpers', 'vps-spawn')} "$@"\n`, { mode: 0o755 });
    const r = await vpsctl({ ...e, env: { ...e.env, VPSCTL_HELPERS_DIR: helpers } }, ['start', id, '--wait'], { timeoutMs: 180_000 });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`--bind ${swap}: ${swap} is a symbolic link on the host; refusing`));
    expect((await json<{ state: string }>(e, ['status', id])).state).toBe('stopped');
    expect(hostMountsUnder(base)).toEqual([]);
    expect(await until(async () => (await loopsUnder(e.root)).filter((l) => l.includes(`/${id}.img`)), (l) => l.length === 0, 15_000)).toEqual([]);
    // and vpsctl itself refuses it from then on
    const again = await vpsctl(e, ['start', id]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toMatch(/swap is a symbolic link/);
    rmSync(swap);
    renameSync(`${swap}.real`, swap);
  }, 300_000);

  it('a read-write directory every host user can reach: create warns', async () => {
    const open = mkdtempSync('/var/tmp/vpsctl-mounts-open-');
    try {
      chmodSync(open, 0o755);
      const id = newId('mt');
      made.push(id);
      const r = await vpsctl(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--mount', `${open}:/data`]);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toMatch(/is reachable by every host user: the container's root can leave root-owned and setuid-root files there/);
      // one of base's (0700) is not named
      const quiet = await vpsctl(e, ['set', id, '--mount', `${DATA}:/data2`]);
      expect(quiet.stderr).not.toMatch(/reachable by every host user/);
    } finally {
      rmSync(open, { recursive: true, force: true });
    }
  }, 300_000);
});

describe('a privileged container', () => {
  it('gets a plain bind: the host ids as they are, read-only when asked', async () => {
    const id = await container(['--privileged', '--mount', `${DATA}:/data`, '--mount', `${RO}:/srv/ro:ro`]);
    await ok(e, ['start', id, '--wait']);
    expect((await sh(id, 'stat -c "%u %n" /data/byroot /data/by1000 /data/byfar')).out.trim().split('\n')).toEqual(['0 /data/byroot', '1000 /data/by1000', '200000 /data/byfar']);
    expect((await sh(id, 'echo p > /data/priv && stat -c %u /data/priv')).out.trim()).toBe('0');
    expect(statSync(path.join(DATA, 'priv')).uid).toBe(0);
    expect((await sh(id, 'touch /srv/ro/x')).exitCode).not.toBe(0);
    const info = (await sh(id, 'grep " /data " /proc/self/mountinfo')).out;
    expect(info).toMatch(/nosuid,nodev/);
    expect(info).not.toMatch(/idmapped/);
    // nothing of it on the host
    expect(hostMountsUnder(base)).toEqual([]);
  }, 300_000);
});
