/**
 * Storage, on real parts: an XFS reflink pool in a loop file, snapshots of running containers
 * taken while they write, restore, prune, clone, resize, compact, export/import, and a small
 * plain pool that fills up. Everything a user would check: e2fsck, byte-for-byte files, df,
 * the pool's own usage.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { TEST_BASE, inside, json, listingOf, loopsUnder, makeEnv, newId, ok, sleep, until, vpsctl, type Env } from './harness.js';

interface Snap {
  name: string;
  state: string;
  method: string;
  frozen_ms: number | null;
  expiry: string | null;
  pinned: boolean;
  exclusive: number | null;
  hint?: string;
}
interface PoolInfo {
  fs: string;
  reflink: boolean;
  used: number;
  images: number;
  snapshots: number;
  templates: number;
}
interface Status {
  state: string;
  init_pid: number | null;
  disk: number;
  hostname: string;
}

const GiB = 1024 ** 3;
const e: Env = makeEnv();
const img = (env: Env, id: string): string => path.join(env.root, 'pool', 'images', `${id}.img`);
const snapDir = (env: Env, id: string): string => path.join(env.root, 'pool', 'snapshots', id);
const allocated = (file: string): number => statSync(file).blocks * 512;
const names = async (env: Env, id: string): Promise<string[]> => (await json<Snap[]>(env, ['snapshot', 'list', id])).map((s) => s.name);

/** A write inside the container finishes (its filesystem is not frozen), within the timeout. */
async function writable(env: Env, id: string, timeoutMs = 20_000): Promise<boolean> {
  // KILL: vpsctl exec forwards a TERM to the command inside and waits for it, which a frozen
  // filesystem holds in D state
  const r = await execa('timeout', ['-s', 'KILL', `${timeoutMs / 1000}`, path.join(process.cwd(), 'bin', 'vpsctl'), 'exec', id, '--', 'sh', '-c', 'echo probe > /root/probe && sync /root/probe'], { env: env.env, reject: false, stdio: 'ignore' }); // a stuck vps-enter keeps pipes open
  return r.exitCode === 0;
}

async function sha(env: Env, id: string, file: string): Promise<string> {
  return (await inside(env, id, ['sha256sum', file])).split(' ')[0];
}

afterAll(async () => {
  // the pool is this file's own XFS loop mount: nothing of it may outlive the run
  for (const c of readdirSync(path.join(e.root, 'containers')).filter((n) => !n.startsWith('.'))) await vpsctl(e, ['destroy', c, '--force']);
  await execa('umount', [path.join(e.root, 'pool')], { reject: false });
});

describe('a reflink pool', () => {
  it('pool init makes an XFS pool with reflink and moves the template into it', async () => {
    const p = await json<PoolInfo>(e, ['pool', 'init', '--size', '12G']);
    expect(p).toMatchObject({ fs: 'xfs', reflink: true, templates: 1, images: 0 });
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(` ${path.join(e.root, 'pool')} `);
    expect(existsSync(path.join(e.root, 'pool.yaml'))).toBe(true);
  });

  it('is mounted again on first use after a reboot (simulated by unmounting it)', async () => {
    await execa('umount', [path.join(e.root, 'pool')]);
    expect(existsSync(path.join(e.root, 'pool', 'templates', 'debian-12.img'))).toBe(false);
    const p = await json<PoolInfo>(e, ['pool', 'info']);
    expect(p).toMatchObject({ fs: 'xfs', reflink: true, templates: 1 });
    expect(existsSync(path.join(e.root, 'pool', 'templates', 'debian-12.img'))).toBe(true);
  });

  it('refuses a second init, and a bad size', async () => {
    expect((await vpsctl(e, ['pool', 'init'])).exitCode).toBe(5);
    expect((await vpsctl(e, ['pool', 'init', '--size', '-3G'])).exitCode).toBe(2);
  });
});

describe('snapshots of a running container', () => {
  const id = newId('snap');
  beforeAll(async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '3G']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
  }, 240_000);

  it('a snapshot taken while a writer appends and fsyncs is clean and holds every line up to it, none after', async () => {
    // numbered lines, each fsynced (coreutils sync FILE), in the background inside
    const loop = 'i=0; while :; do i=$((i+1)); echo $i >> /root/lines; sync /root/lines; done';
    await ok(e, ['exec', id, '--', 'sh', '-c', `nohup sh -c '${loop}' >/dev/null 2>&1 & echo $! > /root/writer.pid`]);
    const count = async (): Promise<number> => Number(await inside(e, id, ['sh', '-c', 'wc -l < /root/lines']));
    await until(count, (n) => n > 200, 30_000);
    const initBefore = (await json<Status>(e, ['status', id])).init_pid;
    const before = await count();
    const s = await json<Snap>(e, ['snapshot', 'create', id, 'writing']);
    const after = await count();
    expect(s).toMatchObject({ name: 'writing', state: 'running', method: 'reflink' });
    expect(s.frozen_ms).toBeGreaterThan(0); // really frozen, for a measured while
    // the container kept running throughout, and so did the writer
    const st = await json<Status>(e, ['status', id]);
    expect(st).toMatchObject({ state: 'running', init_pid: initBefore });
    expect(await until(count, (n) => n > after + 50, 20_000)).toBeGreaterThan(after + 50);
    await ok(e, ['exec', id, '--', 'sh', '-c', 'kill $(cat /root/writer.pid)']);

    const file = path.join(snapDir(e, id), 'writing.img');
    const fsck = await execa('e2fsck', ['-fn', file], { reject: false });
    expect({ exit: fsck.exitCode, out: fsck.stdout.split('\n').slice(-2).join(' ') }).toMatchObject({ exit: 0 });
    const text = (await execa('debugfs', ['-R', 'cat /root/lines', file])).stdout;
    const lines = text.split('\n').filter((l) => l !== '');
    // every line 1..k, in order, none torn; k at least what was there before, at most what came after
    expect(lines.every((l, i) => l === String(i + 1))).toBe(true);
    expect(lines.length).toBeGreaterThanOrEqual(before);
    expect(lines.length).toBeLessThanOrEqual(after);
  });

  it('restore brings back a deleted file byte for byte (--stop stops, restores, starts)', async () => {
    await ok(e, ['exec', id, '--', 'sh', '-c', 'head -c 8M /dev/urandom > /root/precious; sync']);
    const sum = await sha(e, id, '/root/precious');
    await ok(e, ['snapshot', 'create', id, 'precious', '--description', 'before the mistake']);
    await ok(e, ['exec', id, '--', 'rm', '/root/precious']);
    const refused = await vpsctl(e, ['snapshot', 'restore', id, 'precious']);
    expect(refused.exitCode).toBe(5);
    expect(refused.stderr).toMatch(/--stop/);
    const r = await json<{ restarted: boolean }>(e, ['snapshot', 'restore', id, 'precious', '--stop']);
    expect(r.restarted).toBe(true);
    expect((await json<Status>(e, ['status', id])).state).toBe('running');
    expect(await sha(e, id, '/root/precious')).toBe(sum);
  });

  it('lists name, state, description and the space each holds alone; delete frees it', async () => {
    // once the guest deletes the file and compact gives its blocks back, the snapshot holds them alone
    await ok(e, ['exec', id, '--', 'sh', '-c', 'rm /root/precious; sync']);
    await ok(e, ['compact', id]);
    const list = await json<Snap[]>(e, ['snapshot', 'list', id]);
    const p = list.find((s) => s.name === 'precious');
    expect(p).toMatchObject({ state: 'running', method: 'reflink' });
    expect((p as unknown as { description: string }).description).toBe('before the mistake');
    expect(p?.exclusive).toBeGreaterThan(4 * 1024 ** 2);
    const poolBefore = await json<PoolInfo>(e, ['pool', 'info']);
    const d = await json<{ freed: number }>(e, ['snapshot', 'delete', id, 'precious']);
    // the running container's own writes move a few blocks between the two calls
    expect(Math.abs(d.freed - (p?.exclusive ?? 0))).toBeLessThan(1024 ** 2);
    expect(await names(e, id)).not.toContain('precious');
    expect(existsSync(path.join(snapDir(e, id), 'precious.img'))).toBe(false);
    expect(existsSync(path.join(snapDir(e, id), 'precious.yaml'))).toBe(false);
    const poolAfter = await json<PoolInfo>(e, ['pool', 'info']);
    expect(poolAfter.snapshots).toBe(poolBefore.snapshots - 1);
    expect(poolBefore.used - poolAfter.used).toBeGreaterThan(4 * 1024 ** 2);
  });

  it('prune keeps exactly what it says: expired ones go, pinned ones stay, --keep the newest', async () => {
    for (const n of ['p1', 'p2', 'p3', 'p4', 'p5']) await ok(e, ['snapshot', 'create', id, n]);
    await ok(e, ['snapshot', 'create', id, 'pinned', '--no-expiry']);
    await ok(e, ['snapshot', 'create', id, 'shortlived', '--expiry', '1s']);
    await sleep(1500);
    const dry = await json<{ name: string }[]>(e, ['snapshot', 'prune', id, '--keep', '2', '--dry-run']);
    expect(dry.map((p) => p.name).sort()).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'shortlived', 'writing'].filter((n) => !['p4', 'p5'].includes(n)).sort());
    expect(await names(e, id)).toContain('shortlived');
    await ok(e, ['snapshot', 'prune', id, '--keep', '2']);
    expect((await names(e, id)).sort()).toEqual(['p4', 'p5', 'pinned']);
    // --keep on create, and the expired are pruned by the next create
    await ok(e, ['snapshot', 'create', id, 'gone-soon', '--expiry', '1s']);
    await sleep(1500);
    const c = await json<{ pruned: string[] }>(e, ['snapshot', 'create', id, 'p6', '--keep', '2']);
    expect(c.pruned.sort()).toEqual(['gone-soon', 'p4']);
    expect((await names(e, id)).sort()).toEqual(['p5', 'p6', 'pinned']);
    await ok(e, ['snapshot', 'prune', id, '--older-than', '0s']);
    expect(await names(e, id)).toEqual(['pinned']);
  });

  it('mount shows a snapshot read-only; delete refuses it while mounted', async () => {
    const dir = path.join('/mnt', `vpsctl-test-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      await ok(e, ['snapshot', 'mount', id, 'pinned', dir]);
      expect(readFileSync(path.join(dir, 'etc', 'hostname'), 'utf8').trim()).toBe(id);
      const w = await execa('touch', [path.join(dir, 'new')], { reject: false });
      expect(w.stderr).toMatch(/Read-only/);
      expect((await vpsctl(e, ['snapshot', 'delete', id, 'pinned'])).exitCode).toBe(5);
      expect((await json<Snap[]>(e, ['snapshot', 'list', id]))[0]).toMatchObject({ name: 'pinned', mounted: [dir] });
      // a monitor started meanwhile copies the host's mounts: it must not keep this one alive
      await ok(e, ['restart', id, '--wait', '--timeout', '180s']);
      await ok(e, ['snapshot', 'umount', id, 'pinned']);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${dir} `);
      expect(await until(() => loopsUnder(path.join(snapDir(e, id), 'pinned.img')), (l) => l.length === 0, 5_000)).toEqual([]);
      expect((await vpsctl(e, ['snapshot', 'umount', id, 'pinned'])).exitCode).toBe(5);
      expect((await vpsctl(e, ['snapshot', 'mount', id, 'pinned', e.root])).exitCode).toBe(2);
    } finally {
      await execa('umount', [dir], { reject: false });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('kill -9 at the worst moment (while frozen)', () => {
    const marker = (): string => path.join(e.run, '.locks', `${id}.frozen`);
    const start = (name: string) =>
      execa(path.join(process.cwd(), 'bin', 'vpsctl'), ['snapshot', 'create', id, name], { env: { ...e.env, VPS_SNAP_TEST_HOLD_FROZEN_MS: '4000' }, reject: false });
    const frozenPids = async (): Promise<{ pid: number; guardian: number }> => {
      await until(() => existsSync(marker()), (v) => v, 20_000, 20);
      // the marker is written just before FIFREEZE: wait until a write inside really blocks
      expect(await until(() => writable(e, id, 1000), (w) => !w, 5_000, 0)).toBe(false);
      return JSON.parse(readFileSync(marker(), 'utf8')) as { pid: number; guardian: number };
    };

    it('another operation on the container meanwhile gets exit 4 and changes nothing', async () => {
      const child = start('held');
      await frozenPids();
      const stop = await vpsctl(e, ['stop', id]);
      expect(stop.exitCode).toBe(4);
      expect(stop.stderr).toMatch(/locked/);
      expect((await child).exitCode).toBe(0);
      expect((await json<Status>(e, ['status', id])).state).toBe('running');
      expect(await names(e, id)).toContain('held');
      await ok(e, ['snapshot', 'delete', id, 'held']);
    });

    it('of vpsctl: the helper still thaws, and no half snapshot is listed', async () => {
      const child = start('k-vpsctl');
      await frozenPids();
      process.kill(child.pid as number, 'SIGKILL');
      await child;
      expect(await writable(e, id)).toBe(true);
      await until(() => existsSync(marker()), (v) => !v, 10_000);
      expect(await names(e, id)).not.toContain('k-vpsctl');
    });

    it('of vps-snap: its guardian thaws, the command fails, nothing is listed', async () => {
      const child = start('k-helper');
      const m = await frozenPids();
      process.kill(m.pid, 'SIGKILL');
      const r = await child;
      expect(r.exitCode).not.toBe(0);
      expect(await writable(e, id)).toBe(true);
      expect(await names(e, id)).not.toContain('k-helper');
    });

    it('of vps-snap and its guardian: the next command on the container thaws it', async () => {
      const child = start('k-both');
      const m = await frozenPids();
      process.kill(m.guardian, 'SIGKILL');
      process.kill(m.pid, 'SIGKILL');
      await child;
      expect(existsSync(marker())).toBe(true);
      const r = await vpsctl(e, ['snapshot', 'create', id, 'after-kill']);
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toMatch(/left frozen.*thawed/);
      expect(await writable(e, id)).toBe(true);
      const left = readdirSync(snapDir(e, id));
      expect(left.filter((f) => f.startsWith('k-'))).toEqual([]);
      expect((await names(e, id)).sort()).toEqual(['after-kill', 'pinned']);
    });
  });

  it('clone shares extents on the pool, and gets its own identity', async () => {
    await ok(e, ['exec', id, '--', 'sh', '-c', 'head -c 200M /dev/urandom > /root/bulk; sync']);
    const bulk = await sha(e, id, '/root/bulk');
    const dst = newId('clone');
    const before = (await json<PoolInfo>(e, ['pool', 'info'])).used;
    await ok(e, ['clone', id, dst]);
    const grew = (await json<PoolInfo>(e, ['pool', 'info'])).used - before;
    expect(grew).toBeLessThan(allocated(img(e, dst)) / 10);
    await ok(e, ['start', dst, '--wait', '--timeout', '180s']);
    expect(await inside(e, dst, ['hostname'])).toBe(dst);
    expect(await sha(e, dst, '/root/bulk')).toBe(bulk);
    expect(await inside(e, dst, ['cat', '/etc/machine-id'])).not.toBe(await inside(e, id, ['cat', '/etc/machine-id']));
    const key = 'cat /etc/ssh/ssh_host_ed25519_key.pub';
    await ok(e, ['exec', id, '--', 'systemctl', 'start', 'ssh']);
    await ok(e, ['exec', dst, '--', 'systemctl', 'start', 'ssh']);
    expect(await inside(e, dst, ['sh', '-c', key])).not.toBe(await inside(e, id, ['sh', '-c', key]));
    // onto an existing id: refused, nothing changed
    const was = listingOf(e.root);
    const r = await vpsctl(e, ['clone', id, dst]);
    expect(r.exitCode).toBe(5);
    expect(r.stderr).toMatch(/already exists/);
    expect(listingOf(e.root)).toEqual(was);
    await ok(e, ['destroy', dst, '--force']);
  }, 240_000);

  it('compact after deleting a 1 GiB file inside shrinks the image file', async () => {
    await ok(e, ['exec', id, '--', 'sh', '-c', 'head -c 1G /dev/zero > /root/big; sync']);
    const full = allocated(img(e, id));
    await ok(e, ['exec', id, '--', 'sh', '-c', 'rm /root/big; sync']);
    const r = await json<{ before: number; after: number; freed: number }>(e, ['compact', id]);
    expect(r.freed).toBeGreaterThan(0.9 * GiB);
    expect(allocated(img(e, id))).toBeLessThan(full - 0.9 * GiB);
    expect(r.after).toBe(allocated(img(e, id)));
  });

  it('set --disk grows a running container online where the host allows it, else says why and changes nothing', async () => {
    const capEff = BigInt(`0x${/^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]}`);
    const canResizeOnline = ((capEff >> 24n) & 1n) === 1n; // CAP_SYS_RESOURCE
    const size = statSync(img(e, id)).size;
    const r = await vpsctl(e, ['set', id, '--disk', '4G']);
    if (canResizeOnline) {
      expect(r.exitCode).toBe(0);
      const kb = Number(await inside(e, id, ['sh', '-c', "df -k / | awk 'NR==2 {print $2}'"]));
      expect(kb * 1024).toBeGreaterThan(3.8 * GiB);
    } else {
      expect(r.exitCode).toBe(6);
      expect(r.stderr).toMatch(/CAP_SYS_RESOURCE/);
      expect(statSync(img(e, id)).size).toBe(size);
      expect((await json<Status>(e, ['status', id])).disk).toBe(3 * GiB);
    }
    expect((await vpsctl(e, ['set', id, '--disk', '2G'])).exitCode).toBe(5); // shrink while running
  });

  it('bad snapshot names and a missing snapshot: clear errors, nothing changed', async () => {
    const was = listingOf(snapDir(e, id));
    for (const bad of ['a/b', '..', '', 'x'.repeat(200), '../../etc', '.hidden']) {
      const r = await vpsctl(e, ['snapshot', 'create', id, bad]);
      expect({ bad, code: r.exitCode }).toEqual({ bad, code: 2 });
      expect(r.stderr).toMatch(/snapshot name/);
    }
    const missing = await vpsctl(e, ['snapshot', 'restore', id, 'no-such', '--stop']);
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toMatch(/does not exist/);
    expect((await vpsctl(e, ['snapshot', 'delete', id, 'no-such'])).exitCode).toBe(3);
    expect(listingOf(snapDir(e, id))).toEqual(was);
    expect((await json<Status>(e, ['status', id])).state).toBe('running');
  });
});

describe('a stopped container', () => {
  const id = newId('off');
  beforeAll(async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '3G']);
  });

  it('grows offline (df inside shows it) and shrinks only to what fits', async () => {
    await ok(e, ['set', id, '--disk', '4G']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    const kb = Number(await inside(e, id, ['sh', '-c', "df -k / | awk 'NR==2 {print $2}'"]));
    expect(kb * 1024).toBeGreaterThan(3.8 * GiB);
    await ok(e, ['exec', id, '--', 'sh', '-c', 'head -c 900M /dev/zero > /root/fill; sync']);
    await ok(e, ['stop', id]);
    const cfg = readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8');
    const size = statSync(img(e, id)).size;
    const r = await vpsctl(e, ['set', id, '--disk', '1G']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/cannot shrink below/);
    expect(statSync(img(e, id)).size).toBe(size);
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).toBe(cfg);
    expect((await json<{ changed: boolean }>(e, ['set', id, '--disk', '4G'])).changed).toBe(false);
    await ok(e, ['set', id, '--disk', '3G']);
    expect((await json<Status>(e, ['status', id])).disk).toBe(3 * GiB);
    expect((await execa('e2fsck', ['-fn', img(e, id)], { reject: false })).exitCode).toBe(0);
  }, 240_000);

  it('snapshot create --all goes on past a failing container and exits non-zero', async () => {
    const broken = 'a-broken';
    await ok(e, ['create', broken, '--template', 'debian-12', '--disk', '3G']);
    rmSync(img(e, broken)); // its disk is gone: a snapshot of it must fail
    const r = await vpsctl(e, ['snapshot', 'create', '--all', '--json']);
    expect(r.exitCode).toBe(1);
    const rows = JSON.parse(r.stdout) as { id: string; ok: boolean; name?: string }[];
    expect(rows.find((x) => x.id === broken)?.ok).toBe(false);
    const others = rows.filter((x) => x.id !== broken);
    expect(others.length).toBeGreaterThanOrEqual(2);
    for (const row of others) {
      expect(row.ok).toBe(true);
      expect(await names(e, row.id)).toContain(row.name);
    }
    await ok(e, ['destroy', broken]);
  });

  it('snapshot schedule writes a cron entry; scheduled snapshots get the expiry, manual ones never', async () => {
    const cronDir = path.join(e.root, 'cron.d');
    const env: Env = { ...e, env: { ...e.env, VPSCTL_CRON_DIR: cronDir } };
    await ok(env, ['snapshot', 'schedule', id, '30 2 * * *', '--expiry', '7d']);
    const entry = readFileSync(path.join(cronDir, `vpsctl-snapshot-${id}`), 'utf8');
    expect(entry).toMatch(new RegExp(`^30 2 \\* \\* \\* root \\S+/bin/vpsctl snapshot create ${id} --scheduled`, 'm'));
    expect(entry).toContain(`VPSCTL_ROOT=${e.root}`);
    const sched = await json<Snap>(env, ['snapshot', 'create', id, '--scheduled']);
    const days = (Date.parse(sched.expiry as string) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(6.9);
    expect(days).toBeLessThan(7.1);
    expect((await json<Snap>(env, ['snapshot', 'create', id, 'manual'])).expiry).toBeNull();
    for (const bad of ['@sometimes', '61 * * * *', '* * * *', '* * * * * rm -rf /', '*/0 * * * *']) {
      expect({ bad, code: (await vpsctl(env, ['snapshot', 'schedule', id, bad])).exitCode }).toEqual({ bad, code: 2 });
    }
    await ok(env, ['snapshot', 'schedule', id, '--off']);
    expect(existsSync(path.join(cronDir, `vpsctl-snapshot-${id}`))).toBe(false);
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).not.toMatch(/schedule/);
  });

  it('export then import on a fresh state root boots with the same data', async () => {
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    await ok(e, ['exec', id, '--', 'sh', '-c', 'head -c 16M /dev/urandom > /root/moving; sync']);
    const sum = await sha(e, id, '/root/moving');
    const file = path.join(TEST_BASE, `export-${process.pid}.tar.zst`);
    try {
      const x = await json<{ size: number; snapshots: string[] }>(e, ['export', id, file, '--snapshots']);
      expect(x.size).toBeGreaterThan(16 * 1024 ** 2);
      expect((await vpsctl(e, ['export', id, file])).exitCode).toBe(5); // exists
      await ok(e, ['stop', id]); // one container of this id runs at a time (they share the cgroup parent)
      const fresh = makeEnv();
      rmSync(path.join(fresh.root, 'pool', 'templates'), { recursive: true, force: true });
      try {
        const st = await json<Status & { snapshots: string[] }>(fresh, ['import', file]);
        expect(st).toMatchObject({ state: 'stopped', hostname: id });
        expect(st.snapshots.sort()).toEqual(x.snapshots.sort());
        await ok(fresh, ['start', id, '--wait', '--timeout', '180s']);
        expect(await sha(fresh, id, '/root/moving')).toBe(sum);
        expect(await inside(fresh, id, ['systemctl', 'is-system-running'])).toBe('running');
        expect((await names(fresh, id)).sort()).toEqual(x.snapshots.sort());
      } finally {
        await vpsctl(fresh, ['destroy', id, '--force']);
        rmSync(fresh.root, { recursive: true, force: true });
        rmSync(fresh.run, { recursive: true, force: true });
      }
    } finally {
      rmSync(file, { force: true });
    }
  }, 300_000);

  it('clone --snapshot makes a container from a snapshot; a missing one is exit 3', async () => {
    await ok(e, ['snapshot', 'create', id, 'for-clone']);
    const dst = newId('fromsnap');
    expect((await vpsctl(e, ['clone', id, dst, '--snapshot', 'no-such'])).exitCode).toBe(3);
    expect(existsSync(path.join(e.root, 'containers', dst))).toBe(false);
    const st = await json<Status>(e, ['clone', id, dst, '--snapshot', 'for-clone', '--hostname', 'from-snap.example']);
    expect(st).toMatchObject({ state: 'stopped', hostname: 'from-snap.example' });
    expect(readFileSync(path.join(e.root, 'containers', dst, 'config.yaml'), 'utf8')).toMatch(/hostname: from-snap.example/);
    expect((await execa('debugfs', ['-R', 'cat /etc/hostname', img(e, dst)])).stdout.trim()).toBe('from-snap.example');
    await ok(e, ['destroy', dst]);
  });

  it('import of a privileged container needs --privileged', async () => {
    const p = newId('priv');
    const file = path.join(TEST_BASE, `priv-${process.pid}.tar.zst`);
    try {
      await ok(e, ['create', p, '--template', 'debian-12', '--disk', '3G', '--privileged']);
      await ok(e, ['export', p, file]);
      await ok(e, ['destroy', p]);
      const was = listingOf(e.root);
      const r = await vpsctl(e, ['import', file]);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/privileged/);
      expect(listingOf(e.root)).toEqual(was);
      expect((await json<{ mode: string }>(e, ['import', file, '--privileged'])).mode).toBe('privileged');
      await ok(e, ['destroy', p]);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it("import takes an archive's config as its maker's word: no host ports or addresses without --keep-network, default limits for missing ones", async () => {
    const t = newId('tenant');
    const dir = path.join(TEST_BASE, `tenant-${process.pid}`);
    const file = path.join(TEST_BASE, `tenant-${process.pid}.tar.zst`);
    try {
      await ok(e, ['create', t, '--template', 'debian-12', '--disk', '3G']);
      await ok(e, ['export', t, file]);
      await ok(e, ['destroy', t]);
      // the tenant edits the archive: a port forward of the host's, an address, no limits at all
      mkdirSync(dir, { recursive: true });
      await execa('tar', ['-C', dir, '--zstd', '-xf', file]);
      const cfg = readFileSync(path.join(dir, 'config.yaml'), 'utf8').replace(/^limits:\n(?: .*\n)*/m, '');
      expect(cfg).not.toMatch(/limits/);
      await execa('sh', ['-c', `cat > ${path.join(dir, 'config.yaml')}`], {
        input: `${cfg}network:\n  mode: bridged\n  addresses: [10.88.0.77/24]\n  forwards: ["tcp:22:22"]\n  rate:\n    out: 2mbit\n`,
      });
      rmSync(file);
      await execa('tar', ['-C', dir, '--zstd', '-cf', file, 'vpsctl-export.yaml', 'config.yaml', 'disk.img']);
      const r = await vpsctl(e, ['import', file, '--json']);
      expect(r.exitCode).toBe(0);
      const st = JSON.parse(r.stdout) as Status & { network: unknown; limits: Record<string, unknown>; notices: string[] };
      expect(st.network).toBeNull();
      expect(st.limits).toMatchObject({ memory: 1024 ** 3, swap: 0, pids: 4096 });
      expect(st.notices.join('\n')).toMatch(/tcp:22:22/);
      expect(r.stderr).toMatch(/--keep-network/);
      const saved = readFileSync(path.join(e.root, 'containers', t, 'config.yaml'), 'utf8');
      expect(saved).not.toMatch(/forwards|10\.88\.0\.77/);
      expect(saved).toMatch(/pids: 4096/);
      // and the kernel holds it to them once it runs
      await ok(e, ['start', t]);
      const [run] = await json<{ memory_limit: number | null; pids_limit: number | null }[]>(e, ['stats', t, '--interval', '100']);
      expect([run.memory_limit, run.pids_limit]).toEqual([1024 ** 3, 4096]);
      await ok(e, ['destroy', t, '--force']);
      // the admin's word takes them: the network with --keep-network, limits from the flags
      const kept = await json<Status & { network: { forwards: string[]; rate: unknown } | null; limits: Record<string, unknown> }>(e, ['import', file, '--keep-network', '--memory', '512M']);
      expect(kept.network?.forwards).toEqual(['tcp:22:22']);
      expect(kept.network?.rate).toEqual({ in: 0, out: 2_000_000 });
      expect(kept.limits).toMatchObject({ memory: 512 * 1024 ** 2, pids: 4096 });
      await ok(e, ['destroy', t]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(file, { force: true });
    }
  });

  it('import refuses an archive with a member export never writes, leaving nothing', async () => {
    const dir = path.join(TEST_BASE, `evil-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const file = `${dir}.tar.zst`;
    try {
      for (const f of ['vpsctl-export.yaml', 'config.yaml', 'disk.img']) await execa('sh', ['-c', `echo x > ${dir}/${f}`]);
      await execa('ln', ['-s', '/etc/shadow', path.join(dir, 'snapshots')]);
      await execa('tar', ['-C', dir, '--zstd', '-cf', file, '.']);
      const was = listingOf(e.root);
      const r = await vpsctl(e, ['import', file, 'evil']);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toMatch(/member vpsctl does not write/);
      expect(listingOf(e.root)).toEqual(was);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(file, { force: true });
    }
  });
});

describe('a small plain pool (no reflink) that fills up', () => {
  // the space guard off (it would hold the container's writes once the pool fills: see
  // space.test.ts): what is shown here is a copy running out of space
  const base = makeEnv();
  const small: Env = { ...base, env: { ...base.env, VPSCTL_DISK_FREEZE_FREE: '0' } };
  const backing = path.join(TEST_BASE, `small-pool-${process.pid}.ext4`);
  const id = newId('full');
  beforeAll(async () => {
    // the pool directory is a 1.2 GiB ext4 of its own: no reflink, and little room
    const pool = path.join(small.root, 'pool');
    const tdir = path.join(pool, 'templates');
    const keep = path.join(small.root, 'tpl');
    await execa('mv', [tdir, keep]);
    await execa('truncate', ['-s', '1200M', backing]);
    await execa('mkfs.ext4', ['-q', '-F', backing]);
    await execa('mount', ['-o', 'loop', backing, pool]);
    await execa('cp', ['-a', '--sparse=always', keep, tdir]);
    rmSync(keep, { recursive: true, force: true });
    await ok(small, ['create', id, '--template', 'debian-12', '--disk', '3G']);
    await ok(small, ['start', id, '--wait', '--timeout', '180s']);
  }, 240_000);
  afterAll(async () => {
    await vpsctl(small, ['destroy', id, '--force']);
    await execa('umount', [path.join(small.root, 'pool')], { reject: false });
    rmSync(backing, { force: true });
    rmSync(small.root, { recursive: true, force: true });
  });

  it('snapshots are sparse copies there, with a hint about pool init', async () => {
    const s = await json<Snap>(small, ['snapshot', 'create', id, 'first']);
    expect(s.method).toBe('copy');
    expect(s.hint).toMatch(/pool init/);
    expect(allocated(path.join(snapDir(small, id), 'first.img'))).toBeLessThan(GiB);
  });

  it('a snapshot that runs out of space fails clearly, the container runs on, nothing partial remains', async () => {
    const pool = path.join(small.root, 'pool');
    const { stdout } = await execa('df', ['-B1', '--output=avail', pool]);
    const avail = Number(stdout.split('\n')[1]);
    const need = allocated(img(small, id));
    // leave less room than the image needs
    await execa('fallocate', ['-l', String(Math.max(0, avail - Math.floor(need / 2))), path.join(pool, 'ballast')]);
    try {
      const r = await vpsctl(small, ['snapshot', 'create', id, 'second']);
      expect(r.exitCode).toBe(7);
      expect(r.stderr).toMatch(/out of (disk )?space/);
      expect((await json<Status>(small, ['status', id])).state).toBe('running');
      expect(await writable(small, id)).toBe(true);
      expect(readdirSync(snapDir(small, id)).sort()).toEqual(['first.img', 'first.yaml']);
      expect(await names(small, id)).toEqual(['first']);
    } finally {
      rmSync(path.join(pool, 'ballast'), { force: true });
    }
    expect(await loopsUnder(path.join(snapDir(small, id)))).toEqual([]);
  });
});
