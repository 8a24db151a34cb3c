/**
 * Disk promises, on real pools with vpsctl's default settings (no overcommit, a 5% host
 * reserve): a small XFS pool where two tenants share the space, one filling its disk while
 * the other writes; every operation that would promise more than the pool holds refused with
 * exit 7 and nothing changed; thin provisioning chosen with disk_overcommit_ratio, and its low
 * watermark; a plain pool on a small "host" filesystem that keeps the host's reserve.
 */
import { execa } from 'execa';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { TEST_BASE, inside, json, listingOf, makeEnv, newId, ok, sleep, until, vpsctl, type Env } from './harness.js';

const MiB = 1024 ** 2;

interface Promised {
  disks: number;
  snapshots: number;
  templates: number;
  other: number;
  reserve: number;
  pending: number;
  total: number;
}
interface PoolInfo {
  size: number;
  free: number;
  reflink: boolean;
  promised: Promised;
  ratio: number;
  limit: number;
  thin: boolean;
  below_watermark: boolean;
}

/** The test harness lets test containers overcommit; these tests run with vpsctl's defaults. */
function defaults(e: Env, extra: Record<string, string> = {}): Env {
  const env = { ...e.env, ...extra };
  if (!('VPSCTL_DISK_OVERCOMMIT_RATIO' in extra)) delete (env as Record<string, string | undefined>).VPSCTL_DISK_OVERCOMMIT_RATIO;
  return { ...e, env };
}

const e: Env = defaults(makeEnv());
const thin = (extra: Record<string, string> = {}): Env => defaults(e, { VPSCTL_DISK_OVERCOMMIT_RATIO: '2', ...extra });
const poolDir = (env: Env): string => path.join(env.root, 'pool');
const img = (env: Env, id: string): string => path.join(poolDir(env), 'images', `${id}.img`);
const state = (env: Env): string[] => [...listingOf(path.join(env.root, 'containers')), ...listingOf(path.join(poolDir(env), 'images')), ...listingOf(path.join(poolDir(env), 'snapshots'))];
const roundDown = (n: number, to: number): number => Math.floor(n / to) * to;
const size = (n: number): string => `${Math.floor(n / MiB)}M`;

/** Refused with exit 7, the figures in the message, and nothing on disk changed. */
async function refused(env: Env, args: string[], why: RegExp): Promise<string> {
  const before = state(env);
  const r = await vpsctl(env, args);
  expect([r.exitCode, r.stderr]).toEqual([7, expect.stringMatching(why)]);
  expect(state(env)).toEqual(before);
  return r.stderr;
}

/** e2fsck -fn of a stopped container's image: its filesystem is clean. */
async function clean(env: Env, id: string): Promise<void> {
  const r = await execa('e2fsck', ['-fn', img(env, id)], { reject: false });
  expect([r.exitCode, r.stdout.split('\n').slice(-3).join('\n')]).toEqual([0, expect.stringMatching(/files/)]);
}

afterAll(async () => {
  for (const c of readdirSync(path.join(e.root, 'containers')).filter((n) => !n.startsWith('.'))) await vpsctl(e, ['destroy', c, '--force']);
  await execa('umount', [poolDir(e)], { reject: false });
});

describe('a small XFS pool shared by two tenants, no overcommit', () => {
  const a = newId('fill');
  const b = newId('quiet');
  let disk = 0;

  it('pool init: pool info shows what is promised, and the ratio', async () => {
    await ok(e, ['pool', 'init', '--size', '2560M']);
    const p = await json<PoolInfo>(e, ['pool', 'info']);
    expect(p.reflink).toBe(true);
    const q = p.promised;
    // the template, the XFS log and metadata, 5% for the host
    expect(q.templates).toBeGreaterThan(100 * MiB);
    expect(q.other).toBeGreaterThan(0);
    expect(q.reserve).toBe(Math.floor(p.size * 0.05));
    expect([q.disks, q.snapshots, q.pending]).toEqual([0, 0, 0]);
    expect(q.total).toBe(q.templates + q.other + q.reserve);
    expect(p).toMatchObject({ limit: p.size, thin: false, below_watermark: false });
    expect(p.ratio).toBeCloseTo(q.total / p.size, 2);
    // two disks and a small snapshot fit, a third disk (or a snapshot of much new data) does not
    disk = roundDown((p.limit - q.total - 128 * MiB) / 2, 4 * MiB);
    expect(disk).toBeGreaterThan(statSync(path.join(poolDir(e), 'templates', 'debian-12.img')).size);
  });

  it('two containers whose disks fit are made; a snapshot of one fits too', async () => {
    await ok(e, ['create', a, '--template', 'debian-12', '--disk', size(disk)]);
    await ok(e, ['snapshot', 'create', a, 'early', '--expiry', '3s']);
    await ok(e, ['create', b, '--template', 'debian-12', '--disk', size(disk)]);
    const p = await json<PoolInfo>(e, ['pool', 'info']);
    expect(p.promised.disks).toBe(2 * roundDown(disk, MiB));
    // the snapshot shares the template's blocks with A's image: it is promised only what it holds alone
    expect(p.promised.snapshots).toBeGreaterThan(0);
    expect(p.promised.snapshots).toBeLessThan(64 * MiB);
    // snapshots of an idle container share their blocks: three of B are promised once, not thrice
    for (const n of ['b1', 'b2', 'b3']) await ok(e, ['snapshot', 'create', b, n]);
    const three = await json<PoolInfo>(e, ['pool', 'info']);
    expect(three.promised.snapshots - p.promised.snapshots).toBeLessThan(64 * MiB);
    for (const n of ['b1', 'b2', 'b3']) await ok(e, ['snapshot', 'delete', b, n]);
    expect(p.promised.total).toBeLessThanOrEqual(p.limit);
  });

  it('create, clone, grow, import past the promise: exit 7 with the figures, nothing changed', async () => {
    const c = newId('over');
    const msg = await refused(e, ['create', c, '--template', 'debian-12', '--disk', size(disk)], new RegExp(`container ${c}'s .* disk needs .*: the pool .* would have promised .* \\(disks .*, snapshots .*, templates .*, other files .*, reserve .*\\), more than its .* x 1 \\(disk_overcommit_ratio\\)`));
    expect(msg).toMatch(/hint: .*disk_overcommit_ratio/);
    await refused(e, ['clone', a, c], new RegExp(`the clone ${c}'s .* disk needs`));
    await refused(e, ['set', a, '--disk', size(disk * 2)], new RegExp(`growing ${a}'s disk to .* needs`));
    const archive = path.join(TEST_BASE, `space-${process.pid}.tar.zst`);
    try {
      await ok(e, ['export', a, archive]);
      await refused(e, ['import', archive, c], new RegExp(`importing ${c} \\(a .* disk\\) needs`));
    } finally {
      rmSync(archive, { force: true });
    }
    expect((await vpsctl(e, ['status', c])).exitCode).toBe(3);
  });

  it('A fills its whole disk while B writes within its own: B\'s write succeeds, both filesystems stay clean and start again', async () => {
    await ok(e, ['start', a, '--wait', '--timeout', '180s']);
    await ok(e, ['start', b, '--wait', '--timeout', '180s']);
    // A writes until its own filesystem is full (dd ends with ENOSPC inside A, not in the pool)
    const filled = await inside(e, a, ['sh', '-c', 'dd if=/dev/zero of=/fill bs=1M conv=fsync 2>&1 | tail -1; df -B1 --output=avail / | tail -1']);
    expect(filled).toMatch(/No space left on device|copied/);
    // B, within its quota, writes and syncs 300M of data it can read back
    const wrote = await vpsctl(e, ['exec', b, '--', 'sh', '-c', 'dd if=/dev/urandom of=/data bs=1M count=300 conv=fsync status=none && sha256sum /data']);
    expect(wrote.exitCode).toBe(0);
    const sum = wrote.stdout.split(' ')[0];
    const pool = await json<PoolInfo>(e, ['pool', 'info']);
    expect(pool.free).toBeGreaterThanOrEqual(pool.promised.reserve);
    await ok(e, ['stop', a]);
    await ok(e, ['stop', b]);
    await clean(e, a);
    await clean(e, b);
    await ok(e, ['start', a, '--wait', '--timeout', '180s']);
    await ok(e, ['start', b, '--wait', '--timeout', '180s']);
    expect((await inside(e, b, ['sha256sum', '/data'])).split(' ')[0]).toBe(sum);
    expect(await inside(e, a, ['systemctl', 'is-system-running', '--wait'])).toMatch(/running|degraded/);
    await ok(e, ['stop', a]);
    await ok(e, ['stop', b]);
  }, 900_000);

  it('a snapshot of the full disk no longer fits: exit 7, and the container is as it was', async () => {
    await refused(e, ['snapshot', 'create', b, 'late'], new RegExp(`snapshot late of ${b} \\(.* of its image no other snapshot holds\\) needs`));
  });

  it('with disk_overcommit_ratio 2 the same create succeeds and warns; --strict still refuses', async () => {
    const c = newId('thin');
    await refused(thin(), ['create', c, '--template', 'debian-12', '--disk', size(disk), '--strict'], /thin provisioning, disk_overcommit_ratio 2/);
    const r = await vpsctl(thin(), ['create', c, '--template', 'debian-12', '--disk', size(disk)]);
    expect([r.exitCode, r.stderr]).toEqual([0, expect.stringMatching(/warning: .*more than its .*: a container that fills its disk can make another one's writes fail \(thin provisioning, disk_overcommit_ratio 2\)/)]);
    const p = await json<PoolInfo>(thin(), ['pool', 'info']);
    expect(p).toMatchObject({ thin: true, limit: p.size * 2 });
    expect(p.ratio).toBeGreaterThan(1);
    await ok(e, ['destroy', c]);
  });

  it('a thin pool under its low watermark refuses the next snapshot; a scheduled one prunes expired snapshots first and says so', async () => {
    const c = newId('thin');
    await ok(thin(), ['create', c, '--template', 'debian-12', '--disk', size(disk)]);
    try {
      const low = thin({ VPSCTL_DISK_LOW_WATERMARK: '90%' });
      const p = await json<PoolInfo>(low, ['pool', 'info']);
      expect(p).toMatchObject({ thin: true, below_watermark: true });
      await sleep(3000); // A's snapshot "early" has expired
      const msg = await vpsctl(low, ['snapshot', 'create', a, '--scheduled']);
      expect([msg.exitCode, msg.stderr]).toEqual([7, expect.stringMatching(/is refused: the pool .* is thin \(.* promised on .*\) and has only .* free, under its low watermark of .* \(expired snapshots removed first: early\)/)]);
      // and names where the space is: A filled its disk, so it holds the most
      expect(msg.stderr).toMatch(new RegExp(`holding the most: ${a} \\(`));
      expect(await json<unknown[]>(e, ['snapshot', 'list', a])).toEqual([]);
      await refused(low, ['create', newId('low'), '--template', 'debian-12', '--disk', size(disk)], /under its low watermark/);
      const check = await json<{ checks: { name: string; status: string; detail: string }[] }>(low, ['host', 'check']);
      expect(check.checks.find((x) => x.name === 'pool space')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/thin and under its low watermark/) });
    } finally {
      await ok(e, ['destroy', c]);
    }
  });
});

describe('a pool that runs out anyway (thin, or filled by the host): writes wait, nothing fails', () => {
  const id = newId('guard');
  const ballast = (): string => path.join(poolDir(e), 'ballast');
  afterAll(async () => {
    rmSync(ballast(), { force: true });
    await vpsctl(e, ['destroy', id, '--force']);
  });

  it('the monitor freezes the filesystem under disk_freeze_free and thaws it when space is back; the write completes and the filesystem is clean', async () => {
    await ok(thin(), ['create', id, '--template', 'debian-12', '--disk', '1G']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    // writes are held under disk_freeze_free (256M), or half the host's reserve where that is less (here)
    const low = Math.min(256 * MiB, Math.floor((await json<PoolInfo>(e, ['pool', 'info'])).promised.reserve / 2));
    const { stdout } = await execa('df', ['-B1', '--output=avail', poolDir(e)]);
    // the host takes the pool down to half of that
    await execa('fallocate', ['-l', String(Number(stdout.split('\n')[1]) - Math.floor(low / 2)), ballast()]);
    const frozen = await until(async () => (await json<{ space_frozen: { free: number; low: number } | null }>(e, ['status', id])).space_frozen, (f) => f !== null, 30_000);
    expect(frozen).toMatchObject({ low, free: expect.any(Number) });
    expect(frozen!.free).toBeLessThan(low);
    expect((await vpsctl(e, ['status', id])).stdout).toMatch(/WRITES HELD since .*under disk_freeze_free /);
    // host check names it, and the event log has said so
    const check = JSON.parse((await vpsctl(e, ['host', 'check', '--json'])).stdout) as { checks: { name: string; status: string; detail: string }[] };
    expect(check.checks.find((c) => c.name === 'writes held')).toMatchObject({ status: 'warn', detail: expect.stringContaining(id) });
    expect((await json<{ kind: string }[]>(e, ['events', id])).map((v) => v.kind)).toContain('writes-held');
    // a tenant's write of 200M, more than the pool has: it waits rather than fails
    const write = execa(path.join(process.cwd(), 'bin', 'vpsctl'), ['exec', id, '--', 'sh', '-c', 'dd if=/dev/urandom of=/late bs=1M count=200 conv=fsync status=none && sha256sum /late'], { env: e.env, reject: false });
    let finished = false;
    void write.then(() => (finished = true));
    await sleep(5000);
    expect(finished).toBe(false);
    // its systemd could not write its way down: a clean stop says why and what to do
    const stop = await vpsctl(e, ['stop', id]);
    expect([stop.exitCode, stop.stderr]).toEqual([5, expect.stringMatching(new RegExp(`container ${id}'s writes are held since .*: the pool is out of space[^]*free space in the pool and it goes on by itself`))]);
    rmSync(ballast());
    const r = await write;
    expect([r.exitCode, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}  \/late$/);
    expect((await json<{ space_frozen: unknown }>(e, ['status', id])).space_frozen).toBeNull();
    const log = readFileSync(path.join(e.run, id, 'monitor.log'), 'utf8');
    expect(log).toMatch(/"event":"space-frozen".*\n(.*\n)*.*"event":"space-thawed"/);
    const kinds = (await json<{ kind: string }[]>(e, ['events', id])).map((v) => v.kind);
    expect(kinds.filter((k) => k.startsWith('writes-'))).toEqual(['writes-held', 'writes-resumed']);
    expect((await inside(e, id, ['sha256sum', '/late'])).split(' ')[0]).toBe(r.stdout.split(' ')[0]);
    await ok(e, ['stop', id]);
    await clean(e, id);
  }, 600_000);
});

describe('a plain pool on the host\'s own filesystem keeps the host\'s reserve', () => {
  const small: Env = defaults(makeEnv());
  const backing = path.join(TEST_BASE, `host-fs-${process.pid}.ext4`);
  const id = newId('plain');
  beforeAll(async () => {
    // the state root's pool on a 2.5 GiB ext4 standing in for the host's /var, with 400M of the host's own files
    const pool = poolDir(small);
    const keep = path.join(small.root, 'tpl');
    await execa('mv', [path.join(pool, 'templates'), keep]);
    await execa('truncate', ['-s', '2560M', backing]);
    await execa('mkfs.ext4', ['-q', '-F', backing]);
    await execa('mount', ['-o', 'loop', backing, pool]);
    await execa('cp', ['-a', '--sparse=always', keep, path.join(pool, 'templates')]);
    rmSync(keep, { recursive: true, force: true });
    await execa('fallocate', ['-l', '400M', path.join(pool, 'host-logs')]);
  }, 120_000);
  afterAll(async () => {
    await vpsctl(small, ['destroy', id, '--force']);
    await execa('umount', [poolDir(small)], { reject: false });
    rmSync(backing, { force: true });
    rmSync(small.root, { recursive: true, force: true });
  });

  it('counts the host\'s files as promised; a tenant that fills its disk leaves the host its reserve; a restore that would copy past the promise is refused', async () => {
    const p = await json<PoolInfo>(small, ['pool', 'info']);
    expect(p.reflink).toBe(false);
    expect(p.promised.other).toBeGreaterThanOrEqual(400 * MiB);
    const room = p.limit - p.promised.total;
    // a disk one step past the room is refused
    await refused(small, ['create', id, '--template', 'debian-12', '--disk', size(room + 64 * MiB)], /more than its .* x 1/);
    // one that leaves room for a snapshot of the fresh container (a sparse copy here: the template's data) is made
    await ok(small, ['create', id, '--template', 'debian-12', '--disk', size(roundDown(room - 400 * MiB, 4 * MiB))]);
    await ok(small, ['snapshot', 'create', id, 'fresh']);
    await ok(small, ['start', id, '--wait', '--timeout', '180s']);
    await inside(small, id, ['sh', '-c', 'dd if=/dev/zero of=/fill bs=1M conv=fsync status=none; sync; true']);
    const after = await json<PoolInfo>(small, ['pool', 'info']);
    // the host's filesystem still has its reserve free: the tenant got its whole disk and no more
    expect(after.free).toBeGreaterThanOrEqual(after.promised.reserve);
    await ok(small, ['stop', id]);
    await clean(small, id);
    // a restore copies the snapshot beside the old disk first: the room left is less than that copy
    await refused(small, ['snapshot', 'restore', id, 'fresh'], new RegExp(`restoring snapshot fresh of ${id} \\(a .* copy\\) needs`));
  }, 600_000);
});
