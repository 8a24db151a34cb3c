/**
 * `vpsctl metrics`: the Prometheus text format (version 0.0.4) of every container's state and
 * use and the pool's figures, for node_exporter's textfile collector or a scrape. Names and
 * units follow Prometheus conventions: `vpsctl_` prefix, `_bytes`, `_seconds_total`, one `id`
 * label per container. A value vpsctl cannot read (no network, no limit) is left out rather
 * than written as a guess.
 */
import type { ContainerSummary } from './host-types.js';
import type { ContainerStats } from './resources.js';

export interface MetricsInput {
  containers: ContainerSummary[];
  /** Of the running ones. */
  stats: ContainerStats[];
  pool: { size: number; free: number; promised: number | null };
}

interface Family {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  value: (s: ContainerStats) => number | null;
}

const FAMILIES: Family[] = [
  { name: 'vpsctl_container_uptime_seconds', type: 'gauge', help: 'Seconds since the container started.', value: (s) => s.uptime_s },
  { name: 'vpsctl_container_cpu_seconds_total', type: 'counter', help: 'CPU time the container used since it started.', value: (s) => s.cpu_seconds },
  { name: 'vpsctl_container_memory_bytes', type: 'gauge', help: 'Memory the container uses (its cgroup).', value: (s) => s.memory_used },
  { name: 'vpsctl_container_memory_limit_bytes', type: 'gauge', help: 'The container memory limit (absent: none).', value: (s) => s.memory_limit },
  { name: 'vpsctl_container_swap_bytes', type: 'gauge', help: 'Swap the container uses.', value: (s) => s.swap_used },
  { name: 'vpsctl_container_swap_limit_bytes', type: 'gauge', help: 'The container swap limit (absent: none).', value: (s) => s.swap_limit },
  { name: 'vpsctl_container_tasks', type: 'gauge', help: 'Processes and threads in the container.', value: (s) => s.pids },
  { name: 'vpsctl_container_tasks_limit', type: 'gauge', help: 'The container task limit (absent: none).', value: (s) => s.pids_limit },
  { name: 'vpsctl_container_io_read_bytes_total', type: 'counter', help: 'Bytes the container read from block devices.', value: (s) => s.io_read },
  { name: 'vpsctl_container_io_write_bytes_total', type: 'counter', help: 'Bytes the container wrote to block devices.', value: (s) => s.io_write },
  { name: 'vpsctl_container_io_read_ops_total', type: 'counter', help: 'Read operations the container did on block devices.', value: (s) => s.io_read_ops },
  { name: 'vpsctl_container_io_write_ops_total', type: 'counter', help: 'Write operations the container did on block devices.', value: (s) => s.io_write_ops },
  { name: 'vpsctl_container_network_receive_bytes_total', type: 'counter', help: 'Bytes the container received on its network since it started.', value: (s) => s.net_rx_bytes },
  { name: 'vpsctl_container_network_transmit_bytes_total', type: 'counter', help: 'Bytes the container sent on its network since it started.', value: (s) => s.net_tx_bytes },
  { name: 'vpsctl_container_network_receive_packets_total', type: 'counter', help: 'Packets the container received since it started.', value: (s) => s.net_rx_packets },
  { name: 'vpsctl_container_network_transmit_packets_total', type: 'counter', help: 'Packets the container sent since it started.', value: (s) => s.net_tx_packets },
  { name: 'vpsctl_container_oom_kills_total', type: 'counter', help: 'Processes the OOM killer killed in the container.', value: (s) => s.oom_kills },
  { name: 'vpsctl_container_disk_used_bytes', type: 'gauge', help: 'Bytes used on the container filesystem.', value: (s) => s.disk_used },
];

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const num = (v: number): string => (Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

export function renderMetrics(input: MetricsInput): string {
  const out: string[] = [];
  const family = (name: string, type: string, help: string, samples: [string, number][]): void => {
    if (!samples.length) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of samples) out.push(`${name}${labels} ${num(v)}`);
  };
  const id = (i: string): string => `{id="${labelValue(i)}"}`;
  const states = ['running', 'stopped', 'broken'] as const;
  family('vpsctl_containers', 'gauge', 'Containers on the host, by state.', states.map((st) => [`{state="${st}"}`, input.containers.filter((c) => c.state === st).length]));
  family('vpsctl_container_running', 'gauge', 'Whether the container runs (1) or not (0).', input.containers.map((c) => [id(c.id), c.state === 'running' ? 1 : 0]));
  family('vpsctl_container_info', 'gauge', 'The container and what it is made of (always 1).', input.containers.map((c) => [`{id="${labelValue(c.id)}",hostname="${labelValue(c.hostname)}",template="${labelValue(c.template)}",mode="${labelValue(c.mode ?? 'unknown')}"}`, 1]));
  family('vpsctl_container_disk_size_bytes', 'gauge', 'The container disk size.', input.containers.filter((c) => c.state !== 'broken').map((c) => [id(c.id), c.disk]));
  for (const f of FAMILIES) {
    family(f.name, f.type, f.help, input.stats.flatMap((s): [string, number][] => {
      const v = f.value(s);
      return v === null || v === undefined ? [] : [[id(s.id), v]];
    }));
  }
  family('vpsctl_pool_size_bytes', 'gauge', 'Size of the filesystem holding the pool.', [['', input.pool.size]]);
  family('vpsctl_pool_free_bytes', 'gauge', 'Free space of the filesystem holding the pool.', [['', input.pool.free]]);
  if (input.pool.promised !== null) family('vpsctl_pool_promised_bytes', 'gauge', 'What the pool has promised: disks, snapshots, templates, other use and the reserve.', [['', input.pool.promised]]);
  return `${out.join('\n')}\n`;
}
