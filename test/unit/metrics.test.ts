/** `vpsctl metrics` (src/core/metrics.ts): the Prometheus text format, version 0.0.4. */
import { labelValue, renderMetrics } from '../../src/core/metrics.js';
import type { ContainerSummary } from '../../src/core/host-types.js';
import { Resources, type ContainerStats, type ResourcesDeps } from '../../src/core/resources.js';
import type { RunResult, Runner } from '../../src/sys/exec.js';

const summary = (id: string, state: ContainerSummary['state']): ContainerSummary => ({
  id,
  state,
  mode: state === 'broken' ? null : 'unprivileged',
  template: 'debian-12',
  hostname: `${id}.example.net`,
  disk: 2 * 1024 ** 3,
  init_pid: state === 'running' ? 4242 : null,
  addresses: [],
  onboot: false,
  bootorder: 0,
});

const stats: ContainerStats = {
  id: '101',
  cpu_percent: null,
  cpu_seconds: 12.5,
  memory_used: 50 * 1024 ** 2,
  memory_limit: 256 * 1024 ** 2,
  swap_used: 0,
  swap_limit: 0,
  pids: 17,
  pids_limit: 300,
  io_read: 1000,
  io_write: 2000,
  io_read_ops: 11,
  io_write_ops: 22,
  net_rx_bytes: 3000,
  net_tx_bytes: 4000,
  net_rx_packets: 30,
  net_tx_packets: 40,
  oom_kills: 2,
  disk_used: 300 * 1024 ** 2,
  disk_size: 2 * 1024 ** 3,
  uptime_s: 99,
};

const text = renderMetrics({ containers: [summary('101', 'running'), summary('102', 'stopped'), summary('bad', 'broken')], stats: [{ ...stats }, { ...stats, id: '103', memory_limit: null, net_rx_bytes: null, net_tx_bytes: null, net_rx_packets: null, net_tx_packets: null }], pool: { size: 100, free: 40, promised: 70 } });
const lines = text.split('\n');
const sample = (series: string): number | undefined => {
  const l = lines.find((x) => x.startsWith(`${series} `));
  return l === undefined ? undefined : Number(l.slice(series.length + 1));
};

describe('the Prometheus text', () => {
  it('has one HELP and one TYPE per family, before its samples, and ends with a newline', () => {
    expect(text.endsWith('\n')).toBe(true);
    const families = lines.filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2]);
    expect(new Set(families).size).toBe(families.length);
    for (const l of lines.filter((x) => x && !x.startsWith('#'))) {
      const name = l.split(/[{ ]/)[0];
      const typeAt = lines.indexOf(lines.find((x) => x.startsWith(`# TYPE ${name} `))!);
      expect([name, typeAt >= 0 && typeAt < lines.indexOf(l)]).toEqual([name, true]);
      expect(l).toMatch(/^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eEInfNa]+$/);
    }
    expect(lines.filter((l) => l.startsWith('# TYPE ') && l.endsWith('_total counter')).length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.startsWith('# TYPE ') && / counter$/.test(l)).every((l) => l.split(' ')[2].endsWith('_total'))).toBe(true);
  });

  it('counts containers by state and says which run', () => {
    expect(sample('vpsctl_containers{state="running"}')).toBe(1);
    expect(sample('vpsctl_containers{state="stopped"}')).toBe(1);
    expect(sample('vpsctl_containers{state="broken"}')).toBe(1);
    expect(sample('vpsctl_container_running{id="101"}')).toBe(1);
    expect(sample('vpsctl_container_running{id="102"}')).toBe(0);
    expect(sample('vpsctl_container_disk_size_bytes{id="102"}')).toBe(2 * 1024 ** 3);
  });

  it("gives a running container's use with units in the names", () => {
    expect(sample('vpsctl_container_cpu_seconds_total{id="101"}')).toBe(12.5);
    expect(sample('vpsctl_container_memory_limit_bytes{id="101"}')).toBe(256 * 1024 ** 2);
    expect(sample('vpsctl_container_network_receive_bytes_total{id="101"}')).toBe(3000);
    expect(sample('vpsctl_container_network_transmit_packets_total{id="101"}')).toBe(40);
    expect(sample('vpsctl_container_oom_kills_total{id="101"}')).toBe(2);
    expect(sample('vpsctl_pool_promised_bytes')).toBe(70);
  });

  it('counts IO in bytes and in operations, each way (vps-limit usage: rbytes, wbytes, rios, wios)', () => {
    expect(sample('vpsctl_container_io_read_bytes_total{id="101"}')).toBe(1000);
    expect(sample('vpsctl_container_io_write_bytes_total{id="101"}')).toBe(2000);
    expect(sample('vpsctl_container_io_read_ops_total{id="101"}')).toBe(11);
    expect(sample('vpsctl_container_io_write_ops_total{id="101"}')).toBe(22);
    expect(lines).toContain('# TYPE vpsctl_container_io_read_ops_total counter');
    expect(lines).toContain('# TYPE vpsctl_container_io_write_ops_total counter');
    // a cgroup that does not count operations (v1 without blkio.throttle.io_serviced): left out
    const none = renderMetrics({ containers: [summary('101', 'running')], stats: [{ ...stats, io_read_ops: null, io_write_ops: null }], pool: { size: 1, free: 1, promised: null } });
    expect(none).not.toMatch(/_ops_total\{/);
  });

  it('leaves out what is not known rather than writing a guess (no limit, no network)', () => {
    expect(sample('vpsctl_container_memory_limit_bytes{id="103"}')).toBeUndefined();
    expect(sample('vpsctl_container_network_receive_bytes_total{id="103"}')).toBeUndefined();
    expect(sample('vpsctl_container_memory_bytes{id="102"}')).toBeUndefined();
  });

  it('escapes label values', () => {
    expect(labelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });
});

describe('stats', () => {
  it("carries vps-limit usage's IO operations (rios, wios) through, beside its bytes", async () => {
    const usage = { memory: { current: 1, max: null, swap_current: 0, swap_max: 0, oom_kills: 0 }, cpu: { usage_usec: 2_000_000, quota_usec: null, period_usec: 100000, weight: 100 }, pids: { current: 3, max: 4096 }, io: { rbytes: 4096, wbytes: 8192, rios: 7, wios: 9 } };
    const ran: string[][] = [];
    const sys: Runner = {
      run: async (file: string, args: readonly string[]): Promise<RunResult> => {
        ran.push([file, ...args]);
        return { exitCode: 0, stdout: JSON.stringify(usage), stderr: '' };
      },
    } as Runner;
    const store = {
      sys,
      settings: { cgroupParent: 'vpsctl' },
      cgroups: { mode: 'v2', hierarchies: [], systemd: false },
      config: async (id: string) => ({ id, disk: 1024 }),
      runtime: { state: async () => ({ state: { init_pid: 2 ** 30, monitor_pid: 2 ** 30, loop: '/dev/loop99', started: Date.now() / 1000 } }) },
    } as unknown as ResourcesDeps;
    const [s] = await new Resources(store).stats(['101'], 0);
    expect(ran[0]).toEqual(expect.arrayContaining(['usage']));
    expect(s).toMatchObject({ id: '101', io_read: 4096, io_write: 8192, io_read_ops: 7, io_write_ops: 9 });
    const none = await new Resources({ ...store, sys: { run: async () => ({ exitCode: 0, stdout: JSON.stringify({ ...usage, io: { rbytes: null, wbytes: null, rios: null, wios: null } }), stderr: '' }) } } as unknown as ResourcesDeps).stats(['101'], 0);
    expect(none[0]).toMatchObject({ io_read: null, io_read_ops: null, io_write_ops: null });
  });
});
