/**
 * helpers/vps-limit, without the container template: cgroup v2 against a fake unified tree
 * (this host cannot enable v2 controllers), a fake v1 tree for the layout rules, and cgroup v1
 * for real under /sys/fs/cgroup with a parent of our own, a real process inside, and the
 * kernel's memory/memory+swap ordering rule. Only our own parent's cgroups are touched, by
 * explicit path, and they are removed even when a test fails.
 */
import { execa, type Result, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, readFileSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO, TEST_BASE, listingOf, until } from './harness.js';
import type { CgroupUsage } from '../../src/core/resources.js';

const LIMIT = path.join(REPO, 'helpers', 'vps-limit');
const BASE = path.join(TEST_BASE, `limit-${process.pid}`);
const V2 = path.join(BASE, 'v2'); // a fake unified root
const V1 = path.join(BASE, 'v1'); // a fake v1 root
const CG = '/sys/fs/cgroup';
const PARENT = `vpsctl-limit-test-${process.pid}`;
const V1_CTLS = ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio'];
/** Every leaf id the real v1 tests may make under PARENT (the cleanup removes exactly these). */
const REAL_IDS = ['ct1', 'nope'];
const MiB = 1024 ** 2;

interface Apply {
  mode: 'v1' | 'v2';
  written: Record<string, string>;
  skipped: Array<{ limit: string; why: string }>;
}

/** What `usage` prints: the shape src/core/resources.ts reads. */
type Usage = CgroupUsage;

async function limit(args: string[]): Promise<Result> {
  return execa(LIMIT, args, { reject: false, timeout: 30_000 });
}

function out<T>(r: Result): T {
  if (r.exitCode !== 0) throw new Error(`vps-limit exited ${r.exitCode ?? r.signal}: ${String(r.stderr)}`);
  return JSON.parse(String(r.stdout)) as T;
}

const read = (p: string): string => readFileSync(p, 'utf8').trim();

/** A fake cgroup v2 root: the controllers file and an empty subtree_control, nothing else. */
function fakeV2(root: string, controllers = 'cpuset cpu io memory pids'): void {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  writeFileSync(path.join(root, 'cgroup.controllers'), `${controllers}\n`);
  writeFileSync(path.join(root, 'cgroup.subtree_control'), '');
}

/** A fake v1 root: plain directories, with cpu and cpuacct as symlinks to cpu,cpuacct. */
function fakeV1(root: string): void {
  rmSync(root, { recursive: true, force: true });
  for (const d of ['memory', 'cpu,cpuacct', 'cpuset', 'pids', 'blkio']) mkdirSync(path.join(root, d), { recursive: true });
  symlinkSync('cpu,cpuacct', path.join(root, 'cpu'));
  symlinkSync('cpu,cpuacct', path.join(root, 'cpuacct'));
}

/** Removes our own real v1 cgroups, leaves first, by explicit path. */
function removeRealCgroups(): void {
  for (const h of V1_CTLS) {
    for (const id of REAL_IDS) {
      try {
        rmdirSync(path.join(CG, h, PARENT, id));
      } catch {
        /* not there */
      }
    }
    try {
      rmdirSync(path.join(CG, h, PARENT));
    } catch {
      /* not there */
    }
  }
}

beforeAll(() => {
  mkdirSync(BASE, { recursive: true, mode: 0o700 });
});

afterAll(() => {
  removeRealCgroups();
  rmSync(BASE, { recursive: true, force: true });
});

describe('vps-limit on a fake cgroup v2 tree', () => {
  const leaf = path.join(V2, 'vpsctl', '101');
  const ALL = [
    '--memory', String(128 * MiB),
    '--swap', String(64 * MiB),
    '--memory-low', String(32 * MiB),
    '--cpus', '0.5',
    '--cpu-weight', '200',
    '--cpuset', '0-1,3',
    '--pids', '50',
    '--io-weight', '200',
    '--io-device', '7:3', '--io-rbps', '1048576', '--io-wiops', '100',
  ];

  beforeAll(() => fakeV2(V2));

  it('detects v2 and its controllers', async () => {
    expect(out(await limit(['detect', '--cgroup-root', V2]))).toEqual({ mode: 'v2', controllers: ['cpuset', 'cpu', 'io', 'memory', 'pids'] });
  });

  it('apply: enables the controllers at both levels and writes every limit', async () => {
    const r = out<Apply>(await limit(['apply', '--id', '101', '--parent', 'vpsctl', '--cgroup-root', V2, ...ALL]));
    const controllers = '+cpuset +cpu +io +memory +pids';
    expect(r).toEqual({
      mode: 'v2',
      written: {
        'cgroup.subtree_control': controllers,
        'vpsctl/cgroup.subtree_control': controllers,
        'vpsctl/101/memory.max': '134217728',
        'vpsctl/101/memory.swap.max': '67108864',
        'vpsctl/101/memory.low': '33554432',
        'vpsctl/101/cpu.max': '50000 100000',
        'vpsctl/101/cpu.weight': '200',
        'vpsctl/101/cpuset.cpus': '0-1,3',
        'vpsctl/101/pids.max': '50',
        'vpsctl/101/io.weight': 'default 200',
        'vpsctl/101/io.max': '7:3 rbps=1048576 wiops=100',
      },
      skipped: [],
    });
    expect(read(path.join(V2, 'cgroup.subtree_control'))).toBe(controllers);
    expect(read(path.join(V2, 'vpsctl', 'cgroup.subtree_control'))).toBe(controllers);
    const files: Record<string, string> = {
      'memory.max': '134217728',
      'memory.swap.max': '67108864',
      'memory.low': '33554432',
      'cpu.max': '50000 100000',
      'cpu.weight': '200',
      'cpuset.cpus': '0-1,3',
      'pids.max': '50',
      'io.max': '7:3 rbps=1048576 wiops=100',
      'io.weight': 'default 200',
    };
    for (const [f, v] of Object.entries(files)) expect([f, readFileSync(path.join(leaf, f), 'utf8')]).toEqual([f, v]);
  });

  it('apply again: "max" values, and controllers already enabled are not written again', async () => {
    const r = out<Apply>(
      await limit(['apply', '--id', '101', '--parent', 'vpsctl', '--cgroup-root', V2, '--memory', 'max', '--swap', 'max', '--cpus', 'max', '--pids', 'max']),
    );
    expect(r.written).toEqual({
      'vpsctl/101/memory.max': 'max',
      'vpsctl/101/memory.swap.max': 'max',
      'vpsctl/101/cpu.max': 'max 100000',
      'vpsctl/101/pids.max': 'max',
    });
    const r2 = out<Apply>(
      await limit(['apply', '--id', '101', '--parent', 'vpsctl', '--cgroup-root', V2, '--cpus', '1.25', '--io-device', '7:3', '--io-rbps', 'max', '--io-wbps', '5000']),
    );
    expect(r2.written).toEqual({ 'vpsctl/101/cpu.max': '125000 100000', 'vpsctl/101/io.max': '7:3 rbps=max wbps=5000' });
    // back to the values the usage test expects
    out(await limit(['apply', '--id', '101', '--parent', 'vpsctl', '--cgroup-root', V2, ...ALL]));
  });

  it('usage: reads the values back, summing io.stat over devices', async () => {
    writeFileSync(path.join(leaf, 'memory.current'), '5242880\n');
    writeFileSync(path.join(leaf, 'memory.swap.current'), '4096\n');
    writeFileSync(path.join(leaf, 'cpu.stat'), 'usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n');
    writeFileSync(path.join(leaf, 'pids.current'), '3\n');
    writeFileSync(path.join(leaf, 'memory.events'), 'low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\noom_group_kill 0\n');
    writeFileSync(
      path.join(leaf, 'io.stat'),
      '7:3 rbytes=1000 wbytes=2000 rios=10 wios=20 dbytes=0 dios=0\n8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n',
    );
    expect(out<Usage>(await limit(['usage', '--id', '101', '--parent', 'vpsctl', '--cgroup-root', V2]))).toEqual({
      mode: 'v2',
      memory: { current: 5242880, max: 134217728, swap_current: 4096, swap_max: 67108864, low: 33554432, oom_kills: 2 },
      cpu: { usage_usec: 123456, quota_usec: 50000, period_usec: 100000, weight: 200 },
      cpuset: '0-1,3',
      pids: { current: 3, max: 50 },
      io: { rbytes: 1001, wbytes: 2002, rios: 13, wios: 24 },
    });
  });

  it('skips the limits of a controller the root does not offer', async () => {
    const root = path.join(BASE, 'v2-partial');
    fakeV2(root, 'cpu memory');
    const r = out<Apply>(await limit(['apply', '--id', '7', '--parent', 'p', '--cgroup-root', root, '--memory', 'max', '--pids', '10', '--cpuset', '0']));
    expect(r.written).toEqual({ 'cgroup.subtree_control': '+memory', 'p/cgroup.subtree_control': '+memory', 'p/7/memory.max': 'max' });
    expect(r.skipped.map((s) => s.limit)).toEqual(['cpuset', 'pids']);
    expect(r.skipped[1].why).toContain('pids');
    expect(existsSync(path.join(root, 'p', '7', 'pids.max'))).toBe(false);
  });

  it('remove: removes the leaf only', async () => {
    expect(out(await limit(['remove', '--id', '101', '--parent', 'vpsctl', '--cgroup-root', V2]))).toEqual({ removed: [leaf] });
    expect(existsSync(leaf)).toBe(false);
    expect(existsSync(path.join(V2, 'vpsctl', 'cgroup.subtree_control'))).toBe(true);
  });
});

describe('vps-limit on a fake cgroup v1 tree', () => {
  beforeAll(() => fakeV1(V1));

  it('detects v1 and resolves cpu and cpuacct to cpu,cpuacct', async () => {
    expect(out(await limit(['detect', '--cgroup-root', V1]))).toEqual({ mode: 'v1', controllers: V1_CTLS });
    const r = out<Apply>(
      await limit(['apply', '--id', '5', '--parent', 'p', '--cgroup-root', V1, '--memory', String(64 * MiB), '--swap', '0', '--cpus', '0.25', '--cpu-weight', '1', '--io-weight', '10000']),
    );
    expect(r.written).toEqual({
      'memory/p/5/memory.limit_in_bytes': '67108864',
      'memory/p/5/memory.memsw.limit_in_bytes': '67108864',
      'cpu,cpuacct/p/5/cpu.cfs_period_us': '100000',
      'cpu,cpuacct/p/5/cpu.cfs_quota_us': '25000',
      'cpu,cpuacct/p/5/cpu.shares': '10',
      'blkio/p/5/blkio.weight': '1000',
    });
    expect(read(path.join(V1, 'cpu,cpuacct', 'p', '5', 'cpu.cfs_quota_us'))).toBe('25000');
    const rm = out<{ removed: string[] }>(await limit(['remove', '--id', '5', '--parent', 'p', '--cgroup-root', V1]));
    expect(rm.removed.map((p) => path.relative(V1, p)).sort()).toEqual(['blkio/p/5', 'cpu,cpuacct/p/5', 'memory/p/5']);
  });
});

describe('vps-limit: bad input writes nothing', () => {
  const bad: Array<[string, string[]]> = [
    ['--memory 1K', ['--memory', '1K']],
    ['--memory below 16 MiB', ['--memory', '1024']],
    ['--memory -5', ['--memory', '-5']],
    ['--cpus 0', ['--cpus', '0']],
    ['--cpus abc', ['--cpus', 'abc']],
    ['--cpus 2000', ['--cpus', '2000']],
    ['--cpuset 3-1', ['--cpuset', '3-1']],
    ['--cpuset 0,,1', ['--cpuset', '0,,1']],
    ['--pids 0', ['--pids', '0']],
    ['--cpu-weight 10001', ['--cpu-weight', '10001']],
    ['--io-rbps without --io-device', ['--io-rbps', '1000']],
    ['--io-device without a rate', ['--io-device', '8:0']],
    ['--io-device 8', ['--io-device', '8', '--io-rbps', '1']],
    ['a good limit, then a bad one', ['--memory', String(128 * MiB), '--pids', '0']],
    ['an unknown option', ['--memroy', String(128 * MiB)]],
  ];

  beforeAll(() => {
    fakeV2(V2);
    fakeV1(V1);
  });

  for (const [name, args] of bad) {
    it(`${name}: exit 2, both fake trees unchanged`, async () => {
      const before = listingOf(BASE);
      for (const root of [V2, V1]) {
        const r = await limit(['apply', '--id', '101', '--parent', 'vpsctl', '--cgroup-root', root, ...args]);
        expect([r.exitCode, String(r.stdout)]).toEqual([2, '']);
        expect(String(r.stderr)).toMatch(/^vps-limit: .+$/);
      }
      expect(listingOf(BASE)).toEqual(before);
    });
  }

  it('bad id "../x", bad parent, relative root: exit 2, nothing written', async () => {
    const before = listingOf(BASE);
    for (const args of [
      ['--id', '../x', '--parent', 'vpsctl', '--cgroup-root', V2],
      ['--id', '101', '--parent', '../vpsctl', '--cgroup-root', V2],
      ['--id', '101', '--parent', 'Vpsctl', '--cgroup-root', V2],
      ['--id', '101', '--parent', 'vpsctl', '--cgroup-root', 'var/tmp'],
      ['--parent', 'vpsctl', '--cgroup-root', V2],
    ]) {
      const r = await limit(['apply', ...args, '--memory', String(128 * MiB)]);
      expect([args, r.exitCode]).toEqual([args, 2]);
    }
    expect(listingOf(BASE)).toEqual(before);
  });
});

describe('vps-limit: a container without cgroups', () => {
  it('usage exits 3, remove succeeds with nothing removed (fake v2, fake v1, real v1)', async () => {
    fakeV2(V2);
    fakeV1(V1);
    for (const root of [['--cgroup-root', V2], ['--cgroup-root', V1], []]) {
      const u = await limit(['usage', '--id', 'nope', '--parent', PARENT, ...root]);
      expect([root, u.exitCode]).toEqual([root, 3]);
      expect(out(await limit(['remove', '--id', 'nope', '--parent', PARENT, ...root]))).toEqual({ removed: [] });
    }
  });
});

describe('vps-limit on this host, cgroup v1 for real', () => {
  const ID = 'ct1';
  const dir = (h: string): string => path.join(CG, h, PARENT, ID);
  const memsw = (): string => path.join(dir('memory'), 'memory.memsw.limit_in_bytes');
  let sleeper: ResultPromise | undefined;
  let hog: ResultPromise | undefined;

  beforeAll(async () => {
    const d = out<{ mode: string; controllers: string[] }>(await limit(['detect']));
    if (d.mode !== 'v1') throw new Error(`this test wants the cgroup v1 host it was written on, found ${JSON.stringify(d)}`);
  });

  afterAll(async () => {
    for (const p of [sleeper, hog]) {
      p?.kill('SIGKILL'); // a no-op when it is gone
      await p?.catch(() => undefined);
    }
  });

  it('apply: every limit lands in the real files (or is reported skipped)', async () => {
    const r = out<Apply>(
      await limit([
        'apply', '--id', ID, '--parent', PARENT,
        '--memory', String(128 * MiB), '--swap', String(64 * MiB), '--cpus', '0.5', '--cpu-weight', '200',
        '--cpuset', '0', '--pids', '50', '--io-weight', '500',
      ]),
    );
    expect(r.mode).toBe('v1');
    expect(read(path.join(dir('memory'), 'memory.limit_in_bytes'))).toBe('134217728');
    if (existsSync(memsw())) expect(read(memsw())).toBe(String(192 * MiB));
    else expect(r.skipped.map((s) => s.limit)).toContain('swap');
    expect(read(path.join(dir('cpu'), 'cpu.cfs_period_us'))).toBe('100000');
    expect(read(path.join(dir('cpu'), 'cpu.cfs_quota_us'))).toBe('50000');
    expect(read(path.join(dir('cpu'), 'cpu.shares'))).toBe('2048');
    expect(read(path.join(dir('cpuset'), 'cpuset.cpus'))).toBe('0');
    // a v1 cpuset cgroup with empty mems takes no task: filled from the parent, itself from the root
    expect(read(path.join(dir('cpuset'), 'cpuset.mems'))).toBe(read(path.join(CG, 'cpuset', 'cpuset.mems')));
    expect(read(path.join(CG, 'cpuset', PARENT, 'cpuset.cpus'))).toBe(read(path.join(CG, 'cpuset', 'cpuset.cpus')));
    expect(read(path.join(dir('pids'), 'pids.max'))).toBe('50');
    const weight = ['blkio.weight', 'blkio.bfq.weight'].find((f) => existsSync(path.join(dir('blkio'), f)));
    if (weight) {
      // --io-weight 500 (5x normal): blkio.weight 500*5 clamped to 1000, blkio.bfq.weight 500
      const want = weight === 'blkio.weight' ? '1000' : '500';
      expect(r.written[`blkio/${PARENT}/${ID}/${weight}`]).toBe(want);
      expect(read(path.join(dir('blkio'), weight))).toMatch(new RegExp(`^(default )?${want}$`));
    } else {
      expect(r.skipped.map((s) => s.limit)).toContain('io-weight');
    }
  });

  it('memory and memory+swap go in the order the kernel accepts, lowering and raising', async () => {
    const mem = path.join(dir('memory'), 'memory.limit_in_bytes');
    const key = (f: string): string => `memory/${PARENT}/${ID}/${f}`;
    const swap = existsSync(memsw());
    // lower both: memory first (memsw may never go below memory)
    const lower = out<Apply>(await limit(['apply', '--id', ID, '--parent', PARENT, '--memory', String(64 * MiB), '--swap', String(32 * MiB)]));
    expect(read(mem)).toBe(String(64 * MiB));
    if (swap) {
      expect(Object.keys(lower.written)).toEqual([key('memory.limit_in_bytes'), key('memory.memsw.limit_in_bytes')]);
      expect(read(memsw())).toBe(String(96 * MiB));
    }
    // raise both above the old memsw: memsw first
    const raise = out<Apply>(await limit(['apply', '--id', ID, '--parent', PARENT, '--memory', String(256 * MiB), '--swap', String(128 * MiB)]));
    expect(read(mem)).toBe(String(256 * MiB));
    if (swap) {
      expect(Object.keys(raise.written)).toEqual([key('memory.memsw.limit_in_bytes'), key('memory.limit_in_bytes')]);
      expect(read(memsw())).toBe(String(384 * MiB));
      // --memory alone keeps the swap allowance: memsw moves with it
      out(await limit(['apply', '--id', ID, '--parent', PARENT, '--memory', String(512 * MiB)]));
      expect([read(mem), read(memsw())]).toEqual([String(512 * MiB), String(640 * MiB)]);
      out(await limit(['apply', '--id', ID, '--parent', PARENT, '--memory', String(128 * MiB)]));
      expect([read(mem), read(memsw())]).toEqual([String(128 * MiB), String(256 * MiB)]);
      // and a memsw below memory is refused by the kernel, not by us: the ordering is what made the rest work
      const direct = (() => {
        try {
          writeFileSync(memsw(), String(64 * MiB));
          return 'accepted';
        } catch (e) {
          return (e as NodeJS.ErrnoException).code;
        }
      })();
      expect(direct).toBe('EINVAL');
    }
  });

  it('lowering memory below what is in use: exit 1 with the reason, limits unchanged', async () => {
    const mem = path.join(dir('memory'), 'memory.limit_in_bytes');
    const before = [read(mem), existsSync(memsw()) ? read(memsw()) : ''];
    expect(before[0]).toBe(String(128 * MiB));
    // joins the memory leaf first, then allocates ~48 MiB of anonymous memory there (no swap to push it to)
    const js = 'globalThis.b = Buffer.alloc(48 << 20, 1); setTimeout(() => {}, 30000)';
    hog = execa('sh', ['-c', 'read go; exec "$0" -e "$1"', process.execPath, js], { reject: false });
    writeFileSync(path.join(dir('memory'), 'cgroup.procs'), String(hog.pid));
    hog.stdin?.write('go\n');
    const used = await until(() => Number(read(path.join(dir('memory'), 'memory.usage_in_bytes'))), (v) => v > 48 * MiB, 20_000, 50);
    expect(used).toBeGreaterThan(48 * MiB);
    const r = await limit(['apply', '--id', ID, '--parent', PARENT, '--memory', String(16 * MiB)]);
    expect([r.exitCode, String(r.stdout)]).toEqual([1, '']);
    expect(String(r.stderr)).toMatch(/^vps-limit: write memory\/.*memory\.limit_in_bytes = "16777216": .*memory in use exceeds the new limit$/);
    expect([read(mem), existsSync(memsw()) ? read(memsw()) : '']).toEqual(before);
    hog.kill('SIGKILL');
    await hog;
  });

  it('usage: a real process inside counts; limits change live; remove after it is gone', async () => {
    // the shell waits until the test has moved it into every leaf, then execs sleep there,
    // so the new process image is charged to the container's memory cgroup
    sleeper = execa('sh', ['-c', 'read go; exec sleep 30'], { reject: false, stdin: 'pipe' });
    const pid = sleeper.pid;
    if (!pid) throw new Error('could not start sleep');
    for (const h of ['memory', 'cpu', 'cpuset', 'pids', 'blkio']) writeFileSync(path.join(dir(h), 'cgroup.procs'), String(pid));
    sleeper.stdin?.write('go\n');
    await until(() => readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), (c) => c === 'sleep', 10_000, 20);

    const u = await until(
      async () => out<Usage>(await limit(['usage', '--id', ID, '--parent', PARENT])),
      (v) => (v.memory.current ?? 0) > 0,
      10_000,
      100,
    );
    expect(u.mode).toBe('v1');
    expect(u.pids).toEqual({ current: 1, max: 50 });
    expect(u.memory.current).toBeGreaterThan(0);
    expect(u.memory.max).toBe(128 * MiB);
    expect(u.memory.low).toBeNull(); // never set: v1 reads back "unlimited"
    expect(u.memory.oom_kills).toBe(0); // memory.oom_control's oom_kill (Linux 4.13 on)
    if (existsSync(memsw())) expect(u.memory.swap_max).toBe(128 * MiB);
    expect(u.cpu).toMatchObject({ quota_usec: 50000, period_usec: 100000, weight: 200 });
    expect(u.cpuset).toBe('0');
    expect(u.io).toEqual({ rbytes: expect.any(Number), wbytes: expect.any(Number), rios: expect.any(Number), wios: expect.any(Number) });

    // live: while the process runs
    out(await limit(['apply', '--id', ID, '--parent', PARENT, '--pids', '60', '--cpus', '1.5']));
    expect(read(path.join(dir('pids'), 'pids.max'))).toBe('60');
    expect(read(path.join(dir('cpu'), 'cpu.cfs_quota_us'))).toBe('150000');

    // busy: remove refuses with exit 5
    const busy = await limit(['remove', '--id', ID, '--parent', PARENT]);
    expect(busy.exitCode).toBe(5);
    expect(String(busy.stderr)).toContain('still has tasks');

    sleeper.kill('SIGKILL');
    await sleeper;
    const rm = await until(() => limit(['remove', '--id', ID, '--parent', PARENT]), (r) => r.exitCode === 0, 10_000, 100);
    const removed = out<{ removed: string[] }>(rm).removed;
    // the memory, cpu, cpuset, pids and blkio leaves; busy's attempt may have removed some already
    for (const p of removed) expect(p.startsWith(`${CG}/`) && p.endsWith(`/${PARENT}/${ID}`)).toBe(true);
    for (const h of V1_CTLS) expect([h, existsSync(dir(h))]).toEqual([h, false]);
    // the parent stays: remove takes the leaf and nothing else
    expect(existsSync(path.join(CG, 'memory', PARENT))).toBe(true);
  });
});
