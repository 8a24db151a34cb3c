import { formatDevice, keyringMode } from '../base/devices.js';
import { formatMount } from '../base/mounts.js';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { exists, readText } from '../sys/fs.js';
import { processLive } from '../sys/proc.js';
import { parseConfig, type ContainerConfig } from '../base/config.js';
import { notFound, wrongState } from '../base/errors.js';
import { validateId } from '../base/ids.js';
import type { HostSettings, Layout } from '../base/settings.js';
import { memoryUsage, type CgroupLayout } from '../limits/cgroups.js';
import type { Runtime } from '../runtime/runtime.js';
import type { ImageStore } from '../storage/image.js';
import type { ContainerStatus, ContainerSummary, SpaceFrozen } from './host-types.js';
import type { Networks } from './network.js';

/** What reading the containers needs. */
export interface InventoryDeps {
  readonly settings: HostSettings;
  readonly layout: Layout;
  readonly runtime: Runtime;
  readonly images: ImageStore;
  readonly cgroups: CgroupLayout;
  readonly networks: Pick<Networks, 'status'>;
}

/** The containers on the host as their files and the kernel tell: configs, ids, list, status. */
export class Inventory {
  constructor(private readonly h: InventoryDeps) {}

  async config(id: string): Promise<ContainerConfig> {
    validateId(id);
    const file = this.h.layout.configFile(id);
    const text = await readText(file);
    if (text === undefined) {
      if (await exists(path.join(this.h.layout.containerDir(id), '.partial'))) {
        throw wrongState(`container ${id} is half-made (an interrupted create)`, `remove it with: vpsctl destroy ${id}`);
      }
      throw notFound(`container ${id} does not exist`, 'see `vpsctl list`');
    }
    return parseConfig(text, file, id);
  }

  async ids(): Promise<string[]> {
    const names = await fsp.readdir(this.h.layout.containersDir()).catch(() => [] as string[]);
    return names.filter((n) => /^[a-z0-9-]+$/.test(n)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  }

  async list(): Promise<ContainerSummary[]> {
    const out: ContainerSummary[] = [];
    for (const id of await this.ids()) {
      try {
        const cfg = await this.config(id);
        const { state } = await this.h.runtime.state(id);
        out.push({ id, state: state ? 'running' : 'stopped', mode: cfg.privileged ? 'privileged' : 'unprivileged', template: cfg.template, hostname: cfg.hostname, disk: cfg.disk, init_pid: state?.init_pid ?? null, addresses: cfg.network?.addresses ?? [], onboot: !!cfg.onboot, bootorder: cfg.bootorder ?? 0 });
      } catch {
        out.push({ id, state: 'broken', mode: null, template: '-', hostname: '-', disk: 0, init_pid: null, addresses: [], onboot: false, bootorder: 0 });
      }
    }
    return out;
  }

  async status(id: string): Promise<ContainerStatus> {
    return this.statusOf(await this.config(id));
  }

  async statusOf(cfg: ContainerConfig): Promise<ContainerStatus> {
    const { state } = await this.h.runtime.state(cfg.id);
    let diskUsed: number | null = null;
    if (state) {
      try {
        const s = await fsp.statfs(`/proc/${state.init_pid}/root/`);
        diskUsed = (s.blocks - s.bfree) * s.bsize;
      } catch {
        diskUsed = null;
      }
    } else {
      diskUsed = await this.h.images.info(this.h.layout.image(cfg.id)).then((i) => i.used).catch(() => null);
    }
    return {
      id: cfg.id,
      state: state ? 'running' : 'stopped',
      mode: cfg.privileged ? 'privileged' : 'unprivileged',
      idmap: cfg.idmap ?? null,
      template: cfg.template,
      hostname: cfg.hostname,
      os: cfg.os ?? null,
      created: cfg.created,
      disk: cfg.disk,
      disk_used: diskUsed,
      memory_used: state ? (memoryUsage(this.h.cgroups, this.h.settings.cgroupParent, cfg.id) ?? null) : null,
      init_pid: state?.init_pid ?? null,
      monitor_pid: state?.monitor_pid ?? null,
      started: state ? new Date(state.started * 1000).toISOString() : null,
      uptime_s: state ? Math.max(0, Math.round(Date.now() / 1000 - state.started)) : null,
      space_frozen: state ? await this.spaceFrozen(cfg.id) : null,
      loop: state?.loop ?? null,
      image: this.h.layout.image(cfg.id),
      limits: cfg.limits ?? {},
      addresses: cfg.network?.addresses ?? [],
      onboot: !!cfg.onboot,
      bootorder: cfg.bootorder ?? 0,
      features: cfg.features ?? [],
      devices: (cfg.devices ?? []).map(formatDevice),
      keyring: keyringMode(!!cfg.privileged, cfg.features, state ?? undefined),
      mounts: (cfg.mounts ?? []).map(formatMount),
      network: this.h.networks.status(cfg),
    };
  }

  /** The monitor froze the container's filesystem because the pool is nearly full (vps-spawn --space-low). */
  async spaceFrozen(id: string): Promise<SpaceFrozen | null> {
    const text = await readText(path.join(this.h.layout.runDir(id), 'space-frozen'));
    if (text === undefined) return null;
    try {
      const j = JSON.parse(text) as { since: number; free: number; low: number };
      return { since: new Date(j.since * 1000).toISOString(), free: j.free, low: j.low };
    } catch {
      return null;
    }
  }

  /**
   * Every container's disk as promised: its config's size (a damaged config: its image's).
   * A half-made container counts its image unless the create making it still runs (its
   * reservation counts it then).
   */
  async promisedDisks(): Promise<number[]> {
    const out: number[] = [];
    for (const id of await this.ids()) {
      const text = await readText(this.h.layout.configFile(id));
      if (text !== undefined) {
        try {
          out.push(parseConfig(text, this.h.layout.configFile(id), id).disk);
          continue;
        } catch {
          /* damaged: its image's size below */
        }
      } else if ((await this.partialMarker(id))?.live) continue;
      const img = this.h.layout.image(id);
      const st = (await fsp.stat(img).catch(() => undefined)) ?? (await fsp.stat(`${img}.partial`).catch(() => undefined));
      out.push(st?.size ?? 0);
    }
    return out;
  }

  /** A half-made container's `.partial` marker (what made it, by which pid), and whether that maker still runs. */
  async partialMarker(id: string): Promise<{ text: string; live: boolean } | undefined> {
    const text = await readText(path.join(this.h.layout.containerDir(id), '.partial'));
    if (text === undefined) return undefined;
    const pid = Number(/by pid (\d+)/.exec(text)?.[1]);
    return { text: text.trim(), live: Number.isInteger(pid) && processLive(pid) };
  }
}
