/**
 * helpers/vps-snap on real parts, without the container template: an XFS pool (reflink=1) on
 * a loop device, an ext4 image in it attached to another loop device and mounted, both in a
 * private mount namespace held by a `sleep` (as a container's monitor holds its rootfs) and
 * reached through /proc/PID/root, like vpsctl does. The ext4 is frozen and cloned for real,
 * the helper is killed at the worst moment, and `vps-snap thaw` recovers what only SIGKILL
 * of both the helper and its guardian can leave behind.
 */
import { execa, type Result, type ResultPromise } from 'execa';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { REPO, TEST_BASE, loopsUnder, until } from './harness.js';

const SNAP = path.join(REPO, 'helpers', 'vps-snap');
const BASE = path.join(TEST_BASE, `snap-${process.pid}`);
const POOL_FILE = path.join(BASE, 'pool.xfs');
const POOL = path.join(BASE, 'pool'); // mount points, inside the holder's namespace
const MNT = path.join(BASE, 'mnt');
const LOOP_FILE = path.join(BASE, 'loop');
const MARKER = path.join(BASE, 'snap.marker'); // on the host's /var/tmp: never on the frozen fs
const MiB = 1024 ** 2;

/** Runs in `unshare -m`: the pool, the image, its loop device, its mount; then holds them. */
const SETUP = `set -eu
mount -o loop "$1" "$2"
truncate -s 256M "$2/ct.img"
mkfs.ext4 -q -F "$2/ct.img"
loop=$(losetup --find --show "$2/ct.img")
mount -t ext4 "$loop" "$3"
losetup -d "$loop" # autoclear: the loop device goes when the namespace does
echo "$loop" > "$4"
exec sleep 3600`;

let holder: ResultPromise | undefined;
let holderDone: Result | undefined;
let loop = '';
/** Writes that a freeze blocked; they finish once it is thawed. */
const pending: ResultPromise[] = [];
let probes = 0;

/** A path inside the holder's mount namespace. */
const ns = (p: string): string => `/proc/${holder?.pid}/root${p}`;
const IMG = (): string => ns(`${POOL}/ct.img`);

interface Marker {
  pid: number;
  guardian: number;
  mount: string;
  loop: string;
  since: number;
}

async function snap(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return execa(SNAP, args, { env, reject: false, timeout: 120_000 });
}

function out<T = Record<string, unknown>>(r: Result): T {
  if (r.exitCode !== 0) throw new Error(`vps-snap exited ${r.exitCode ?? r.signal}: ${String(r.stderr)}`);
  return JSON.parse(String(r.stdout)) as T;
}

function snapshotArgs(dst: string, extra: string[] = []): string[] {
  return ['snapshot', '--mount', ns(MNT), '--loop', loop, '--src', IMG(), '--dst', dst, '--marker', MARKER, ...extra];
}

/** Does a write + `sync -f` on the ext4 finish within ms? On a frozen fs it blocks (in D state). */
async function writesWithin(ms: number): Promise<boolean> {
  const p = execa('sh', ['-c', 'echo x > "$1" && sync -f "$1"', 'sh', ns(`${MNT}/probe-${++probes}`)], { reject: false });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), ms);
  });
  const r = await Promise.race([p, late]);
  clearTimeout(timer);
  if (r === null) {
    pending.push(p);
    return false;
  }
  return r.exitCode === 0;
}

async function waitFrozen(): Promise<void> {
  const frozen = await until(async () => !(await writesWithin(300)), (v) => v, 10_000, 20);
  if (!frozen) throw new Error('the filesystem never froze');
}

async function waitMarker(): Promise<Marker> {
  const read = (): Marker | null => {
    try {
      return JSON.parse(readFileSync(MARKER, 'utf8')) as Marker;
    } catch {
      return null; // not there yet, or half written
    }
  };
  const m = await until(read, (v) => v !== null, 10_000, 20);
  if (!m) throw new Error('vps-snap never wrote its marker');
  return m;
}

/** Gone, or a zombie waiting for its new parent to reap it. */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
  } catch {
    return true;
  }
}

async function usage(...files: string[]): Promise<Array<{ path: string; size: number; allocated: number; shared: number; exclusive: number }>> {
  return out(await snap(['usage', ...files]));
}

beforeAll(async () => {
  mkdirSync(POOL, { recursive: true, mode: 0o700 });
  mkdirSync(MNT, { recursive: true });
  await execa('truncate', ['-s', '1G', POOL_FILE]);
  await execa('mkfs.xfs', ['-q', '-m', 'reflink=1', POOL_FILE]);
  holder = execa('unshare', ['-m', '--propagation', 'private', 'sh', '-c', SETUP, 'setup', POOL_FILE, POOL, MNT, LOOP_FILE], {
    reject: false,
    stdin: 'ignore',
  });
  void holder.then((r) => (holderDone = r));
  await until(() => existsSync(LOOP_FILE) || holderDone !== undefined, (v) => v, 60_000, 50);
  if (holderDone || !existsSync(LOOP_FILE)) throw new Error(`test setup failed: ${String(holderDone?.stderr)}`);
  loop = readFileSync(LOOP_FILE, 'utf8').trim();
});

afterAll(async () => {
  if (holder?.pid && !holderDone) {
    // never leave it frozen: a frozen sb outlives its mounts and pins the loop devices
    await execa(SNAP, ['thaw', '--mount', ns(MNT)], { reject: false });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled(pending), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    holder.kill('SIGKILL');
  }
  await holder?.catch(() => undefined);
  // the namespace dies with the holder: both mounts go, the autoclear loop devices detach
  await until(() => loopsUnder(BASE), (l) => l.length === 0, 20_000, 200);
  rmSync(BASE, { recursive: true, force: true });
});

describe('vps-snap', () => {
  it('probe: tells the reflink pool from a plain ext4 and leaves nothing behind', async () => {
    const before = [readdirSync(ns(POOL)), readdirSync(ns(MNT))];
    expect(out(await snap(['probe', ns(POOL)]))).toEqual({ reflink: true, fs: 'xfs' });
    expect(out(await snap(['probe', ns(MNT)]))).toEqual({ reflink: false, fs: 'ext4' });
    expect([readdirSync(ns(POOL)), readdirSync(ns(MNT))]).toEqual(before);
  });

  it('snapshot: freezes, reflinks and thaws; the snapshot is a clean ext4 with the file', async () => {
    writeFileSync(ns(`${MNT}/hello.txt`), 'hello from the container\n');
    const dst = ns(`${POOL}/snap1.img`);
    const r = out<{ method: string; size: number; copied: number; freeze_ms: number; frozen_ms: number; ms: number }>(
      await snap(snapshotArgs(dst)),
    );
    expect(r).toMatchObject({ method: 'reflink', size: 256 * MiB, copied: 0 });
    expect(r.ms).toBeGreaterThanOrEqual(r.freeze_ms + r.frozen_ms);
    expect(existsSync(MARKER)).toBe(false);
    const fsck = await execa('e2fsck', ['-fn', dst], { reject: false });
    expect({ exit: fsck.exitCode, out: fsck.stdout }).toMatchObject({ exit: 0 });
    expect((await execa('debugfs', ['-R', 'cat /hello.txt', dst])).stdout).toBe('hello from the container');
    expect(await writesWithin(5000)).toBe(true);
  });

  it('usage: the image and its snapshot share extents', async () => {
    const [img, s] = await usage(IMG(), ns(`${POOL}/snap1.img`));
    for (const u of [img, s]) {
      expect(u.size).toBe(256 * MiB);
      expect(u.shared).toBeGreaterThan(0);
      expect(u.exclusive).toBe(u.allocated - u.shared);
    }
    expect(s.path).toBe(ns(`${POOL}/snap1.img`));
  });

  it('snapshot --method copy: a sparse copy made while frozen is consistent too', async () => {
    const dst = ns(`${POOL}/snap2.img`);
    const r = out<{ method: string; copied: number }>(await snap(snapshotArgs(dst, ['--method', 'copy'])));
    expect(r.method).toBe('copy');
    expect(r.copied).toBeGreaterThan(0);
    expect(r.copied).toBeLessThan(256 * MiB);
    expect((await execa('e2fsck', ['-fn', dst], { reject: false })).exitCode).toBe(0);
    expect((await execa('debugfs', ['-R', 'cat /hello.txt', dst])).stdout).toBe('hello from the container');
  });

  it('clone on a filesystem without reflink: a byte-identical, sparse copy', async () => {
    const src = ns(`${MNT}/sparse.src`);
    const fd = openSync(src, 'w', 0o600);
    writeSync(fd, randomBytes(MiB), 0, MiB, 8 * MiB);
    writeSync(fd, Buffer.from('tail\n'), 0, 5, 64 * MiB - 5);
    closeSync(fd);
    try {
      const copy = out<{ method: string; size: number; copied: number }>(
        await snap(['clone', '--src', src, '--dst', ns(`${MNT}/sparse.copy`), '--method', 'copy', '--progress']).then((r) => {
          const lines = String(r.stderr).trim().split('\n');
          expect(lines.every((l) => /^progress \d+ \d+$/.test(l))).toBe(true);
          const [done, total] = lines[lines.length - 1].split(' ').slice(1).map(Number);
          expect(done).toBe(total);
          return r;
        }),
      );
      expect(copy).toMatchObject({ method: 'copy', size: 64 * MiB });
      expect(copy.copied).toBeGreaterThanOrEqual(MiB);
      expect(copy.copied).toBeLessThan(2 * MiB);
      expect((await execa('cmp', [src, ns(`${MNT}/sparse.copy`)], { reject: false })).exitCode).toBe(0);
      const [u] = await usage(ns(`${MNT}/sparse.copy`));
      expect(u.allocated).toBeLessThan(4 * MiB);
      // auto falls back to the copy here
      expect(out(await snap(['clone', '--src', src, '--dst', ns(`${MNT}/sparse.auto`)]))).toMatchObject({ method: 'copy' });
    } finally {
      for (const f of ['sparse.src', 'sparse.copy', 'sparse.auto']) rmSync(ns(`${MNT}/${f}`), { force: true });
    }
  });

  it('kill -9 while frozen: the guardian thaws at once and removes the marker', async () => {
    const dst = ns(`${POOL}/snap3.img`);
    const child = execa(SNAP, snapshotArgs(dst), { env: { VPS_SNAP_TEST_HOLD_FROZEN_MS: '5000' }, reject: false });
    const m = await waitMarker();
    expect(m).toMatchObject({ pid: child.pid, mount: ns(MNT), loop });
    await waitFrozen();
    process.kill(m.pid, 'SIGKILL');
    expect((await child).signal).toBe('SIGKILL');
    expect(await writesWithin(5000)).toBe(true);
    expect(await until(() => existsSync(MARKER), (v) => !v, 5000, 50)).toBe(false);
    expect(await until(() => gone(m.guardian), (v) => v, 5000, 50)).toBe(true);
    rmSync(dst, { force: true }); // the helper's parent could not remove it: vpsctl cleans partial files
  });

  it('kill -9 of the helper and its guardian leaves it frozen; vps-snap thaw recovers', async () => {
    const dst = ns(`${POOL}/snap4.img`);
    const child = execa(SNAP, snapshotArgs(dst), { env: { VPS_SNAP_TEST_HOLD_FROZEN_MS: '5000' }, reject: false });
    const m = await waitMarker();
    await waitFrozen();
    process.kill(m.guardian, 'SIGKILL');
    process.kill(m.pid, 'SIGKILL');
    await child;
    expect(await writesWithin(1500)).toBe(false); // nobody left to thaw it
    // another snapshot meanwhile: exit 4, and the freeze it did not make is not its to thaw
    const busyDst = ns(`${POOL}/busy.img`);
    const busy = await snap(['snapshot', '--mount', ns(MNT), '--loop', loop, '--src', IMG(), '--dst', busyDst]);
    expect({ exit: busy.exitCode, err: String(busy.stderr).trim() }).toEqual({ exit: 4, err: `vps-snap: ${ns(MNT)} is already frozen` });
    expect(existsSync(busyDst)).toBe(false);
    expect(await writesWithin(1500)).toBe(false);
    expect(out(await snap(['thaw', '--mount', ns(MNT), '--loop', loop, '--marker', MARKER]))).toEqual({ thawed: true });
    expect(await writesWithin(5000)).toBe(true);
    expect(existsSync(MARKER)).toBe(false);
    expect(out(await snap(['thaw', '--mount', ns(MNT)]))).toEqual({ thawed: false });
    rmSync(dst, { force: true });
  });

  it('SIGTERM while frozen: thaws, removes the partial snapshot and the marker, exits 143', async () => {
    const dst = ns(`${POOL}/snap5.img`);
    const child = execa(SNAP, snapshotArgs(dst), { env: { VPS_SNAP_TEST_HOLD_FROZEN_MS: '5000' }, reject: false });
    const m = await waitMarker();
    await waitFrozen();
    process.kill(m.pid, 'SIGTERM');
    const r = await child;
    expect(r.exitCode).toBe(143);
    expect(String(r.stderr)).toMatch(/killed by signal 15; thawed/);
    expect(await writesWithin(5000)).toBe(true);
    expect([existsSync(dst), existsSync(MARKER)]).toEqual([false, false]);
  });

  it('--max-frozen-ms: the guardian thaws in time and the late snapshot is refused', async () => {
    const dst = ns(`${POOL}/snap6.img`);
    const child = execa(SNAP, snapshotArgs(dst, ['--max-frozen-ms', '300']), {
      env: { VPS_SNAP_TEST_HOLD_FROZEN_MS: '4000' },
      reject: false,
    });
    await waitMarker();
    await waitFrozen();
    // thawed by the guardian after 300 + 1000 ms, while the helper still holds on
    expect(await writesWithin(2500)).toBe(true);
    const r = await child;
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toMatch(/thawed before the copy finished \(took longer than --max-frozen-ms\)/);
    expect([existsSync(dst), existsSync(MARKER)]).toEqual([false, false]);
  });

  it('refuses bad usage (2), an existing DST (5), a loop or mount that does not match (1)', async () => {
    const dst = ns(`${POOL}/never.img`);
    const code = async (args: string[]): Promise<number | undefined> => (await snap(args)).exitCode;
    for (const args of [
      [],
      ['frobnicate'],
      ['snapshot'],
      ['clone', '--src', 'relative.img', '--dst', dst],
      ['clone', '--src', IMG(), '--dst'],
      ['clone', '--src', IMG(), '--dst', dst, '--bogus'],
      ['clone', '--src', IMG(), '--dst', dst, '--method', 'fast'],
      ['clone', '--src', IMG(), '--dst', `${BASE}/../x.img`],
      ['clone', '--src', IMG(), '--dst', `/${'a'.repeat(1100)}`],
      snapshotArgs(dst, ['--max-frozen-ms', 'soon']),
      ['thaw'],
      ['usage'],
      ['probe', 'pool'],
    ]) {
      expect({ args, exit: await code(args) }).toEqual({ args, exit: 2 });
    }
    const one = async (args: string[]): Promise<{ exit: number | undefined; err: string }> => {
      const r = await snap(args);
      return { exit: r.exitCode, err: String(r.stderr).trim() };
    };
    const snap1 = ns(`${POOL}/snap1.img`);
    expect(await one(['clone', '--src', IMG(), '--dst', snap1])).toEqual({ exit: 5, err: `vps-snap: ${snap1} already exists` });
    expect((await one(snapshotArgs(snap1))).exit).toBe(5);
    // snap1.img is not the file behind the loop device
    expect(await one(['snapshot', '--mount', ns(MNT), '--loop', loop, '--src', snap1, '--dst', dst])).toEqual({
      exit: 1,
      err: `vps-snap: ${loop} is not backed by ${snap1}`,
    });
    expect(await one(['snapshot', '--mount', BASE, '--loop', loop, '--src', IMG(), '--dst', dst])).toEqual({
      exit: 1,
      err: `vps-snap: ${BASE} is not the filesystem on ${loop}`,
    });
    // the snapshot must not land on the filesystem it freezes
    expect((await one(['snapshot', '--mount', ns(MNT), '--loop', loop, '--src', IMG(), '--dst', ns(`${MNT}/x.img`)])).exit).toBe(2);
    expect([existsSync(dst), existsSync(ns(`${MNT}/x.img`)), existsSync(MARKER)]).toEqual([false, false, false]);
    expect(await writesWithin(5000)).toBe(true);
  });
});
