import { promises as fsp } from 'node:fs';
import si from 'systeminformation';
import type { HostSettings } from '../base/settings.js';
import type { CgroupLayout } from '../limits/cgroups.js';
import type { Space } from '../storage/space.js';
import type { ContainerConfig } from '../base/config.js';
import type { ContainerSummary } from './host-types.js';

export interface HostInfo {
  os: string;
  kernel: string;
  cpus: number;
  cpu_model: string;
  memory_total: number;
  memory_available: number;
  pool: string;
  pool_size: number;
  pool_free: number;
  cgroup_mode: string;
  containers: number;
  running: number;
  committed_disk: number;
  /** What the pool has promised (disks, snapshots, templates, other files, the reserve) and its ratio to the pool's size. */
  promised_disk: number | null;
  disk_ratio: number | null;
  /** Sum of the containers' memory limits; null when none has one. */
  committed_memory: number | null;
}

/** What `host info` reads. */
export interface HostInfoDeps {
  readonly settings: HostSettings;
  readonly cgroups: CgroupLayout;
  readonly space: Space;
  list(): Promise<ContainerSummary[]>;
  config(id: string): Promise<ContainerConfig>;
}

export async function hostInfo(host: HostInfoDeps): Promise<HostInfo> {
  const [cpu, mem, os] = await Promise.all([si.cpu(), si.mem(), si.osInfo()]);
  let dir = host.settings.pool;
  for (;;) {
    try {
      await fsp.access(dir);
      break;
    } catch {
      dir = dir.slice(0, dir.lastIndexOf('/')) || '/';
    }
  }
  const st = await fsp.statfs(dir);
  const list = await host.list();
  // the pool's promise is a figure here, never a reason for host info to fail
  const space = await host.space.figures().catch(() => undefined);
  const memories: number[] = [];
  for (const c of list) {
    const m = await host.config(c.id).then((cfg) => cfg.limits?.memory, () => undefined);
    if (typeof m === 'number' && m > 0) memories.push(m);
  }
  return {
    os: `${os.distro} ${os.release}`.trim(),
    kernel: os.kernel,
    cpus: cpu.cores,
    cpu_model: `${cpu.manufacturer} ${cpu.brand}`.trim(),
    memory_total: mem.total,
    memory_available: mem.available,
    pool: host.settings.pool,
    pool_size: st.blocks * st.bsize,
    pool_free: st.bavail * st.bsize,
    cgroup_mode: host.cgroups.mode,
    containers: list.length,
    running: list.filter((c) => c.state === 'running').length,
    committed_disk: list.reduce((a, c) => a + c.disk, 0),
    promised_disk: space?.promised.total ?? null,
    disk_ratio: space?.ratio ?? null,
    committed_memory: memories.length ? memories.reduce((a, b) => a + b, 0) : null,
  };
}
