/**
 * Resource limits on real containers and real cgroup v1 controllers (this host): an OOM kill
 * inside, a contained fork bomb, a CPU quota, live and saved changes, lxcfs views, stats.
 * The cgroup v2 writes are tested against a fake tree in vps-limit.test.ts.
 */
import { execa } from 'execa';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { CGROUP_PARENT, inside, json, listingOf, makeEnv, newId, ok, sleep, until, vpsctl, type Env } from './harness.js';

interface Status {
  state: string;
  init_pid: number;
  limits: Record<string, string | number | null>;
}
interface Stats {
  id: string;
  cpu_percent: number;
  memory_used: number;
  memory_limit: number | null;
  pids: number;
  pids_limit: number | null;
  disk_size: number;
  uptime_s: number;
}

const MiB = 1024 ** 2;
const e: Env = makeEnv();
const cg = (ctrl: string, id: string, file: string): string => path.join('/sys/fs/cgroup', ctrl, CGROUP_PARENT, id, file);
const read = (ctrl: string, id: string, file: string): string => readFileSync(cg(ctrl, id, file), 'utf8').trim();

afterAll(async () => {
  const dir = path.join(e.root, 'containers');
  for (const c of existsSync(dir) ? readdirSync(dir) : []) await vpsctl(e, ['destroy', c, '--force']);
});

describe('IO throttles given at create', () => {
  const id = newId('io');
  afterAll(async () => {
    await vpsctl(e, ['destroy', id, '--force']);
  });

  it('are on its own loop device from the first start (the monitor finds the device after mounting it)', async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--io-write-bps', '50M', '--io-read-iops', '300']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    const loop = (await json<{ loop: string }>(e, ['status', id])).loop;
    const dev = readFileSync(`/sys/block/${path.basename(loop)}/dev`, 'utf8').trim();
    expect(read('blkio', id, 'blkio.throttle.write_bps_device')).toBe(`${dev} ${50 * MiB}`);
    expect(read('blkio', id, 'blkio.throttle.read_iops_device')).toBe(`${dev} 300`);
    await ok(e, ['stop', id]);
  }, 300_000);
});

describe('a container with --memory 128M --pids 200 --cpus 0.5', () => {
  const id = newId('lim');
  beforeAll(async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--memory', '128M', '--pids', '200', '--cpus', '0.5']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
  }, 240_000);

  it('has the limits in its cgroups and in status', async () => {
    expect(read('memory', id, 'memory.limit_in_bytes')).toBe(String(128 * MiB));
    expect(read('pids', id, 'pids.max')).toBe('200');
    expect(read('cpu', id, 'cpu.cfs_quota_us')).toBe('50000');
    expect(read('cpu', id, 'cpu.cfs_period_us')).toBe('100000');
    expect((await json<Status>(e, ['status', id])).limits).toMatchObject({ memory: 128 * MiB, pids: 200, cpus: 0.5 });
  });

  it('a memory hog is OOM-killed inside; init and the container keep running', async () => {
    const init = (await json<Status>(e, ['status', id])).init_pid;
    const before = Number(/oom_kill (\d+)/.exec(read('memory', id, 'memory.oom_control'))?.[1] ?? 0);
    // a string that doubles until it is far past the limit
    const r = await vpsctl(e, ['exec', id, '--', 'awk', 'BEGIN { s = "x"; while (length(s) < 1073741824) s = s s }']);
    expect(r.exitCode).toBe(137); // killed by SIGKILL: the OOM killer
    expect(Number(/oom_kill (\d+)/.exec(read('memory', id, 'memory.oom_control'))?.[1])).toBeGreaterThan(before);
    const st = await json<Status>(e, ['status', id]);
    expect(st).toMatchObject({ state: 'running', init_pid: init });
    expect(await inside(e, id, ['systemctl', 'is-system-running'])).toMatch(/running|degraded/);
  });

  it('a fork bomb is contained: exec still reaches the container, and stop still works', async () => {
    await ok(e, ['exec', id, '--', 'sh', '-c', 'nohup sh -c "while :; do sleep 1000 & done" >/dev/null 2>&1 &']);
    try {
      // the first refused fork, however long a busy host takes the bomb to reach the limit
      const refused = (): number => Number(/max (\d+)/.exec(read('pids', id, 'pids.events'))?.[1]);
      expect(await until(refused, (n) => n > 0, 90_000)).toBeGreaterThan(0);
      expect(Number(read('pids', id, 'pids.current'))).toBeLessThanOrEqual(200);
      expect(await inside(e, id, ['cat', '/proc/1/comm'])).toBe('systemd');
    } finally {
      // the host's own process table is untouched: the bomb stopped at the container's limit,
      // and stop ends it (also when a check above failed: the tests after need the container)
      const r = await vpsctl(e, ['stop', id, '--timeout', '20s']);
      expect(r.exitCode).toBe(0);
    }
    expect(existsSync(cg('pids', id, 'pids.current'))).toBe(false);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
  }, 240_000);

  it('--cpus 0.5 holds two busy loops to about half a core', async () => {
    await ok(e, ['exec', id, '--', 'sh', '-c', 'for i in 1 2; do nohup sh -c "while :; do :; done" >/dev/null 2>&1 & echo $! >> /run/busy.pids; done']);
    await sleep(500);
    const usage = (): number => Number(read('cpuacct', id, 'cpuacct.usage')); // ns
    const throttled = (): number => Number(/^nr_throttled (\d+)$/m.exec(read('cpu', id, 'cpu.stat'))?.[1]);
    const u0 = usage();
    const th0 = throttled();
    const t0 = process.hrtime.bigint();
    await sleep(3000);
    const cores = (usage() - u0) / Number(process.hrtime.bigint() - t0);
    const periods = throttled() - th0;
    await ok(e, ['exec', id, '--', 'sh', '-c', 'kill $(cat /run/busy.pids); rm /run/busy.pids']);
    // the quota is the ceiling whatever else the machine runs; that the loops met it (the
    // kernel throttled them) shows the quota, not a busy host, held them. A host too busy to
    // give them half a core cannot show it, and the test says so
    expect(cores).toBeLessThan(0.6);
    if (periods === 0) throw new Error(`the two loops got only ${cores.toFixed(2)} cores in 3 s, never reaching the quota: the host is too busy to test --cpus`);
  });

  it('set --memory changes the live limit; a restart restores the saved one; --save keeps it', async () => {
    const r = await json<{ limits: { live: boolean; saved: boolean } }>(e, ['set', id, '--memory', '256M']);
    expect(r.limits).toMatchObject({ live: true, saved: false });
    expect(read('memory', id, 'memory.limit_in_bytes')).toBe(String(256 * MiB));
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).toMatch(/memory: 128M/);
    const same = await vpsctl(e, ['set', id, '--memory', '256M']);
    expect(same.stdout).toMatch(/nothing changed/);
    await ok(e, ['restart', id, '--wait', '--timeout', '180s']);
    expect(read('memory', id, 'memory.limit_in_bytes')).toBe(String(128 * MiB));
    await ok(e, ['set', id, '--memory', '192M', '--save']);
    expect(read('memory', id, 'memory.limit_in_bytes')).toBe(String(192 * MiB));
    await ok(e, ['restart', id, '--wait', '--timeout', '180s']);
    expect(read('memory', id, 'memory.limit_in_bytes')).toBe(String(192 * MiB));
    expect((await json<Status>(e, ['status', id])).limits.memory).toBe(192 * MiB);
  }, 240_000);

  it('stats --json agrees with the cgroup files', async () => {
    const [s] = await json<Stats[]>(e, ['stats', id, '--interval', '300']);
    expect(s).toMatchObject({ id, memory_limit: 192 * MiB, pids_limit: 200, disk_size: 2 * 1024 ** 3 });
    const mem = Number(read('memory', id, 'memory.usage_in_bytes'));
    expect(Math.abs(s.memory_used - mem)).toBeLessThan(Math.max(8 * MiB, mem * 0.2));
    expect(Math.abs(s.pids - Number(read('pids', id, 'pids.current')))).toBeLessThanOrEqual(3);
    expect(s.cpu_percent).toBeGreaterThanOrEqual(0);
    expect(s.uptime_s).toBeGreaterThanOrEqual(0);
    const all = await json<Stats[]>(e, ['stats']);
    expect(all.map((x) => x.id)).toContain(id);
  });

  it('bad limits: clear errors, nothing applied', async () => {
    const cfg = readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8');
    const live = read('memory', id, 'memory.limit_in_bytes');
    const cases: string[][] = [
      ['--memory', '-5M'],
      ['--memory', '512'],
      ['--memory', '8M'],
      ['--cpus', '0'],
      ['--cpus', '64'],
      ['--cpus', 'lots'],
      ['--cpuset', '63'],
      ['--cpuset', '1-0'],
      ['--pids', '0'],
      ['--cpu-weight', '0'],
      ['--swap', 'abc'],
    ];
    for (const c of cases) {
      const r = await vpsctl(e, ['set', id, ...c]);
      expect({ c, code: r.exitCode }).toEqual({ c, code: 2 });
      expect(r.stderr.length).toBeGreaterThan(10);
    }
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).toBe(cfg);
    expect(read('memory', id, 'memory.limit_in_bytes')).toBe(live);
  });
});

describe('lxcfs', () => {
  const id = newId('lxcfs');
  it('free -m inside a --memory 512M container shows about 512 MB', async () => {
    // bin/setup starts lxcfs; without it the host check says so and this cannot pass
    expect(existsSync('/var/lib/lxcfs/proc/meminfo')).toBe(true);
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--memory', '512M']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    const total = Number(/^Mem:\s+(\d+)/m.exec(await inside(e, id, ['free', '-m']))?.[1]);
    expect(total).toBeGreaterThan(480);
    expect(total).toBeLessThanOrEqual(512);
    expect(await inside(e, id, ['cat', '/proc/uptime'])).toMatch(/^\d+(\.\d+)? /);
    const up = Number((await inside(e, id, ['cat', '/proc/uptime'])).split(' ')[0]);
    expect(up).toBeLessThan(600); // the container's uptime, not the host's
    await ok(e, ['destroy', id, '--force']);
  }, 240_000);
});

describe('the overcommit guard', () => {
  it('warns past the host memory x overcommit_ratio, and --strict refuses with the figures', async () => {
    const id = newId('big');
    const was = listingOf(e.root);
    const strict = await vpsctl(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--memory', '200G', '--strict']);
    expect(strict.exitCode).toBe(7);
    expect(strict.stderr).toMatch(/memory limits would add up to .*more than the host's/);
    expect(listingOf(e.root)).toEqual(was);
    const warned = await vpsctl(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--memory', '200G']);
    expect(warned.exitCode).toBe(0);
    expect(warned.stderr).toMatch(/warning: memory limits would add up/);
    await ok(e, ['destroy', id]);
  });
});

describe('cgroups after stop', () => {
  it('leaves no container cgroup behind after a start with limits fails', async () => {
    const id = newId('nofile');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--nofile', '1048576']);
    const { stdout: hard } = await execa('sh', ['-c', 'ulimit -Hn']);
    const r = await vpsctl(e, ['start', id]);
    if (Number(hard) >= 1048576) {
      expect(r.exitCode).toBe(0);
      await ok(e, ['stop', id]);
    } else {
      expect(r.exitCode).toBe(6);
      expect(r.stderr).toMatch(/open-files limit/);
    }
    expect(existsSync(cg('memory', id, ''))).toBe(false);
    await ok(e, ['destroy', id]);
  });
});
