/**
 * The spine, end to end on real parts: a Debian template, containers that boot systemd as
 * PID 1 on their own loop-mounted ext4 image, exec, stop, poweroff, destroy.
 */
import { execa } from 'execa';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { cgroupsLeft, inside, json, listingOf, loopsUnder, makeEnv, mountsMentioning, newId, ok, until, vpsctl, type Env } from './harness.js';


interface Status {
  state: string;
  init_pid: number | null;
  monitor_pid: number | null;
  disk: number;
  disk_used: number | null;
  memory_used: number | null;
  hostname: string;
  image: string;
}

const e: Env = makeEnv();
const GiB = 1024 ** 3;

/** The image's loop devices, mounts and cgroups: all must be gone once a container stops. */
async function assertReleased(id: string): Promise<void> {
  const img = path.join(e.root, 'pool', 'images', `${id}.img`);
  expect(await loopsUnder(img)).toEqual([]);
  expect(mountsMentioning(path.join(e.run, id))).toEqual([]);
  expect(cgroupsLeft(id)).toEqual([]);
}

describe('a booted container', () => {
  const id = newId('boot');
  const hostname = 'spine-one.test.example';

  beforeAll(async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '3G', '--hostname', hostname]);
    const r = await json<{ state: string; system_state: string }>(e, ['start', id, '--wait', '--timeout', '180s']);
    expect(r.state).toBe('running');
  });
  afterAll(async () => {
    await vpsctl(e, ['destroy', id, '--force']);
  });

  it('runs systemd as PID 1', async () => {
    expect(await inside(e, id, ['cat', '/proc/1/comm'])).toBe('systemd');
  });

  it('reaches running: no failed units', async () => {
    const state = await inside(e, id, ['systemctl', 'is-system-running']).catch((err: Error) => err.message);
    const failedUnits = (await vpsctl(e, ['exec', id, '--', 'systemctl', '--failed', '--no-legend', '--plain'])).stdout;
    // degraded would be allowed only with the failing unit named and explained here; there is none
    expect({ state, failedUnits: failedUnits.trim() }).toEqual({ state: 'running', failedUnits: '' });
  });

  it('has the configured hostname', async () => {
    expect(await inside(e, id, ['hostname'])).toBe(hostname);
    expect(await inside(e, id, ['cat', '/etc/hostname'])).toBe(hostname);
  });

  it('has / on its own ext4 image of the --disk size', async () => {
    expect(await inside(e, id, ['findmnt', '-n', '-o', 'FSTYPE,SOURCE', '/'])).toMatch(/^ext4\s+\/dev\/loop\d+$/);
    const size = Number(await inside(e, id, ['df', '-B1', '--output=size', '/']).then((s) => s.split('\n').pop()));
    // ext4 reserves its own metadata; what df shows is within a few percent of the image
    expect(size).toBeGreaterThan(3 * GiB * 0.93);
    expect(size).toBeLessThanOrEqual(3 * GiB);
    const st = await json<Status>(e, ['status', id]);
    expect(st.disk).toBe(3 * GiB);
  });

  it('sees none of the host: processes, mounts, network interfaces', async () => {
    const procs = await inside(e, id, ['ps', '-e', '-o', 'pid=,comm=']);
    expect(procs).not.toMatch(/\b(node|jest|vps-spawn)\b/);
    expect(procs.split('\n').length).toBeLessThan(40);
    expect(await inside(e, id, ['sh', '-c', 'ls /proc | grep -c "^[0-9]"']).then(Number)).toBeLessThan(40);
    const mounts = await inside(e, id, ['cat', '/proc/self/mountinfo']);
    expect(mounts).not.toContain(e.root);
    expect(mounts).not.toContain('/work');
    expect(mounts).not.toContain('vpsctl-test');
    const links = await inside(e, id, ['ip', '-o', 'link', 'show']);
    expect(links.split('\n').map((l) => l.split(':')[1].trim())).toEqual(['lo']);
    // and the host's own interfaces are there on the host, so the check is not empty
    const hostLinks = (await execa('ip', ['-o', 'link', 'show'])).stdout;
    expect(hostLinks.split('\n').length).toBeGreaterThan(1);
  });

  it('passes stdin, stdout, stderr and the exit code through exec', async () => {
    const data = randomBytes(32).toString('hex');
    expect((await vpsctl(e, ['exec', id, '--', 'cat'], { input: data })).stdout).toBe(data);
    const r = await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r).toEqual({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });
    const missing = await vpsctl(e, ['exec', id, '--', 'no-such-command']);
    expect(missing.exitCode).toBe(127);
    const j = JSON.parse((await vpsctl(e, ['exec', id, '--json', '--', 'sh', '-c', 'echo hi; exit 3'])).stdout);
    expect(j).toMatchObject({ exitCode: 3, stdout: 'hi\n' });
  });

  it('reports status and list for people and for programs', async () => {
    const st = await json<Status>(e, ['status', id]);
    expect(st).toMatchObject({ state: 'running', hostname });
    expect(st.init_pid).toBeGreaterThan(1);
    expect(st.memory_used).toBeGreaterThan(1024 * 1024);
    expect(st.disk_used).toBeGreaterThan(100 * 1024 * 1024);
    const table = await ok(e, ['status', id]);
    expect(table).toMatch(/^state:\s+running$/m);
    const list = await json<{ id: string; state: string }[]>(e, ['list']);
    expect(list.find((c) => c.id === id)?.state).toBe('running');
  });
});

describe('life cycle', () => {
  it('keeps data across three stop/start cycles', async () => {
    const id = newId('persist');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    const data = randomBytes(16).toString('hex');
    await ok(e, ['start', id, '--wait']);
    await ok(e, ['exec', id, '--', 'sh', '-c', `echo ${data} > /root/marker && sync`]);
    for (let i = 0; i < 3; i++) {
      const stop = await json<{ how: string }>(e, ['stop', id]);
      expect(stop.how).toBe('clean');
      await assertReleased(id);
      await ok(e, ['start', id, '--wait']);
      expect(await inside(e, id, ['cat', '/root/marker'])).toBe(data);
    }
    await ok(e, ['destroy', id, '--force']);
  });

  it('treats poweroff inside as a stop: mount and loop device released', async () => {
    const id = newId('poweroff');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['start', id, '--wait']);
    await vpsctl(e, ['exec', id, '--', 'systemctl', 'poweroff']);
    const st = await until(() => json<Status>(e, ['status', id]), (s) => s.state === 'stopped', 60_000);
    expect(st.state).toBe('stopped');
    await until(() => loopsUnder(path.join(e.root, 'pool', 'images', `${id}.img`)), (l) => l.length === 0, 10_000);
    await assertReleased(id);
    await ok(e, ['destroy', id]);
  });

  it('tears down when init is killed from outside', async () => {
    const id = newId('killed');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    const r = await json<{ init_pid: number }>(e, ['start', id, '--wait']);
    process.kill(r.init_pid, 'SIGKILL');
    const st = await until(() => json<Status>(e, ['status', id]), (s) => s.state === 'stopped', 30_000);
    expect(st.state).toBe('stopped');
    await until(() => loopsUnder(path.join(e.root, 'pool', 'images', `${id}.img`)), (l) => l.length === 0, 10_000);
    await assertReleased(id);
    // and it starts again cleanly after the unclean stop (e2fsck replays the journal)
    await ok(e, ['start', id, '--wait']);
    await ok(e, ['stop', id, '--force']);
    await ok(e, ['destroy', id]);
  });

  it('restart gives a new init', async () => {
    const id = newId('restart');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    const a = await json<{ init_pid: number }>(e, ['start', id, '--wait']);
    const b = await json<{ init_pid: number; system_state: string }>(e, ['restart', id, '--wait']);
    expect(b.init_pid).not.toBe(a.init_pid);
    expect(['running', 'degraded']).toContain(b.system_state);
    await ok(e, ['destroy', id, '--force']);
  });

  it('destroy leaves nothing behind', async () => {
    const id = newId('destroy');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['start', id]);
    const img = path.join(e.root, 'pool', 'images', `${id}.img`);
    await ok(e, ['destroy', id, '--force']);
    expect(existsSync(img)).toBe(false);
    expect(existsSync(path.join(e.root, 'containers', id))).toBe(false);
    expect(existsSync(path.join(e.run, id))).toBe(false);
    await until(() => loopsUnder(img), (l) => l.length === 0, 10_000);
    await assertReleased(id);
    expect((await vpsctl(e, ['status', id])).exitCode).toBe(3);
  });
});

describe('parallel operations', () => {
  it('creates and starts two containers from two processes at once', async () => {
    const ids = [newId('par'), newId('par')];
    const results = await Promise.all(
      ids.map((id) =>
        execa('sh', ['-c', `"$0" create "$1" --template debian-12 --disk 2G && "$0" start "$1" --wait`, path.resolve('bin/vpsctl'), id], {
          env: e.env,
          reject: false,
        }),
      ),
    );
    for (const r of results) expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 0, stderr: expect.any(String) });
    for (const id of ids) {
      expect((await json<Status>(e, ['status', id])).state).toBe('running');
      expect(await inside(e, id, ['hostname'])).toBe(id);
    }
    await Promise.all(ids.map((id) => ok(e, ['destroy', id, '--force'])));
  });

  it('lets only one of two concurrent starts of one container win', async () => {
    const id = newId('race');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    const [a, b] = await Promise.all([vpsctl(e, ['start', id]), vpsctl(e, ['start', id])]);
    const codes = [a.exitCode, b.exitCode].sort();
    expect(codes[0]).toBe(0);
    // the loser is told the container is locked (4) or already running (5), in plain words
    expect([4, 5]).toContain(codes[1]);
    const loser = a.exitCode === 0 ? b : a;
    expect(loser.stderr).toMatch(/locked by another operation|already running/);
    expect((await json<Status>(e, ['status', id])).state).toBe('running');
    await ok(e, ['destroy', id, '--force']);
  });
});

describe('bad input', () => {
  it.each([
    [['create', '../x', '--template', 'debian-12'], 2, /invalid container id/],
    [['create', 'a/b', '--template', 'debian-12'], 2, /invalid container id/],
    [['create', 'UPPER', '--template', 'debian-12'], 2, /invalid container id/],
    [['create', '', '--template', 'debian-12'], 2, /invalid container id|missing/i],
    [['create', 'a'.repeat(64), '--template', 'debian-12'], 2, /invalid container id/],
    [['create', 'badtpl', '--template', 'no-such-template'], 3, /template no-such-template is not in the cache/],
    [['create', 'baddisk', '--template', 'debian-12', '--disk', 'abc'], 2, /invalid size "abc"/],
    [['create', 'baddisk', '--template', 'debian-12', '--disk', '0'], 2, /greater than zero/],
    [['create', 'baddisk', '--template', 'debian-12', '--disk', '100M'], 2, /smaller than template debian-12/],
    [['start', 'nosuch'], 3, /container nosuch does not exist/],
    [['exec', 'nosuch', '--', 'true'], 3, /container nosuch does not exist/],
    [['stop', 'nosuch'], 3, /does not exist/],
    [['destroy', 'nosuch'], 3, /does not exist/],
    [['status', '../../etc'], 2, /invalid container id/],
  ])('vpsctl %j -> exit %d, clear error, nothing changed on disk', async (args, code, re) => {
    const before = listingOf(e.root);
    const r = await vpsctl(e, args as string[]);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: code, stderr: expect.stringMatching(re) });
    expect(listingOf(e.root)).toEqual(before);
  });

  it('refuses to destroy a running container without --force, and keeps it', async () => {
    const id = newId('keep');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['start', id]);
    const before = listingOf(e.root);
    const r = await vpsctl(e, ['destroy', id]);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/is running.*--force/s);
    expect(listingOf(e.root)).toEqual(before);
    expect((await json<Status>(e, ['status', id])).state).toBe('running');
    const j = JSON.parse((await vpsctl(e, ['destroy', id, '--json'])).stdout);
    expect(j).toEqual({ error: { code: 'WRONG_STATE', exitCode: 5, message: expect.stringMatching(/is running/), hint: expect.any(String) } });
    await ok(e, ['destroy', id, '--force']);
  });

  it('a create that fails partway (a damaged template image) leaves nothing behind', async () => {
    const tdir = path.join(e.root, 'pool', 'templates');
    writeFileSync(path.join(tdir, 'broken-1.img'), Buffer.alloc(64 * 1024 * 1024, 7), { mode: 0o600 });
    writeFileSync(path.join(tdir, 'broken-1.yaml'), readFileSync(path.join(tdir, 'debian-12.yaml'), 'utf8').replace(/^name: debian-12$/m, 'name: broken-1').replace(/^size: \d+$/m, 'size: 1048576'));
    const before = listingOf(e.root);
    const r = await vpsctl(e, ['create', 'halfmade', '--template', 'broken-1', '--disk', '1G']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/e2fsck|filesystem/);
    expect(listingOf(e.root)).toEqual(before); // no container dir, image, .partial or id range
    expect(mountsMentioning(path.join(e.run, 'halfmade'))).toEqual([]);
    expect(await loopsUnder(path.join(e.root, 'pool'))).toEqual([]);
    rmSync(path.join(tdir, 'broken-1.img'));
    rmSync(path.join(tdir, 'broken-1.yaml'));
  });

  it('refuses exec in a stopped container with exit 5', async () => {
    const id = newId('stopped');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    const r = await vpsctl(e, ['exec', id, '--', 'true']);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/is not running/);
    await ok(e, ['destroy', id]);
  });
});
