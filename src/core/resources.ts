import { promises as fsp, statSync } from 'node:fs';
import { changedKeys, ioRateArgs, limitArgs, type LimitKey, type Limits } from '../base/limits.js';
import { devNumber } from '../sys/proc.js';
import { interfaceCounters } from '../sys/netdev.js';
import { hostIfName } from '../net/names.js';
import { VpsLimit, applyCommand, type ApplyResult, type CgroupUsage, type LimitTarget } from '../limits/vpslimit.js';
import type { SpawnSpec } from '../sys/vps-spawn.js';
import { cgroupParentOf } from '../limits/cgroups.js';
import { writeFileAtomic, sleep } from '../sys/fs.js';
import { renderConfig, type ContainerConfig } from '../base/config.js';
import { ExitCode, VpsError } from '../base/errors.js';
import type { Store } from './context.js';
import type { RuntimeState } from '../base/types.js';
import { formatSize } from '../base/units.js';

export type { CgroupUsage } from '../limits/vpslimit.js';

export interface SetLimitsResult {
  id: string;
  /** The keys whose values changed. */
  changed: LimitKey[];
  /** Applied to the running container. */
  live: boolean;
  /** Written to config.yaml (with --save, or always for a stopped container). */
  saved: boolean;
  limits: Limits;
  /** Set when the sum of memory limits passes the host's memory times the ratio. */
  overcommit?: string;
}

export interface ContainerStats {
  id: string;
  cpu_percent: number | null;
  /** CPU time used since the start, in seconds. */
  cpu_seconds: number | null;
  memory_used: number | null;
  memory_limit: number | null;
  swap_used: number | null;
  swap_limit: number | null;
  pids: number | null;
  pids_limit: number | null;
  /** Bytes read from and written to block devices since the start. */
  io_read: number | null;
  io_write: number | null;
  /** Read and write operations on block devices since the start. */
  io_read_ops: number | null;
  io_write_ops: number | null;
  /** What the container received and sent on its network (its veth's host end, seen the other way round); null without one. */
  net_rx_bytes: number | null;
  net_tx_bytes: number | null;
  net_rx_packets: number | null;
  net_tx_packets: number | null;
  /** Processes the kernel's OOM killer killed in the container since its start. */
  oom_kills: number | null;
  disk_used: number | null;
  disk_size: number;
  uptime_s: number;
}

/** What limits and usage need: the state on the host. */
export type ResourcesDeps = Store;

/** Resource limits and usage of containers, through helpers/vps-limit. */
export class Resources {
  constructor(private readonly host: ResourcesDeps) {}

  private target(id: string): LimitTarget {
    return { id, parent: cgroupParentOf(this.host.cgroups, this.host.settings.cgroupParent, id) };
  }

  private get helper(): VpsLimit {
    return new VpsLimit(this.host.sys);
  }

  /**
   * What the monitor runs before init is born (SpawnSpec.limits): `vps-limit apply` with these
   * limits (R12), IO throttles on its loop device included: the one place a start writes
   * limits. The scope a systemd host gives the container exists only from the spawn on.
   */
  spawnLimits(id: string, limits: Limits): NonNullable<SpawnSpec['limits']> {
    const rates = ioRateArgs(limits);
    return { ...applyCommand(this.target(id), [...limitArgs(limits), ...rates]), ioDevice: rates.length > 0 };
  }

  /** Warns of the limits the monitor's vps-limit had to skip at the start (a controller or file missing). */
  reportSkipped(id: string, result: ApplyResult | null | undefined): void {
    for (const s of result?.skipped ?? []) this.host.progress.warn(`limit ${s.limit} of ${id} not applied: ${s.why}`);
  }

  /** Writes limits into a running container's cgroups. */
  async apply(id: string, limits: Limits, ioDevice?: string): Promise<void> {
    const args = limitArgs(limits, ioDevice);
    if (args.length === 0) return;
    this.reportSkipped(id, await this.helper.apply(this.target(id), args));
  }

  /** The container's loop device as MAJ:MIN, for IO limits on it. */
  static loopDevice(state: RuntimeState): string {
    return devNumber(statSync(state.loop).rdev);
  }

  usage(id: string): Promise<CgroupUsage> {
    return this.helper.usage(this.target(id));
  }

  /**
   * `set`: applies changed limits to a running container now; with `save` (or on a stopped
   * container) writes them to config.yaml, so the next start applies them too.
   */
  async set(id: string, changes: Limits, opts: { save?: boolean; strict?: boolean } = {}): Promise<SetLimitsResult> {
    await this.host.config(id);
    return this.host.lock(id, 'set', async () => {
      const cfg = await this.host.config(id);
      const { state } = await this.host.runtime.state(id);
      // live: compare with what runs now (the saved limits, or an unsaved set since the start)
      const current = { ...(cfg.limits ?? {}), ...(state ? await this.liveLimits(id) : {}) };
      const changed = changedKeys(state ? current : (cfg.limits ?? {}), changes);
      const merged: Limits = { ...(cfg.limits ?? {}), ...changes };
      const overcommit = changes.memory !== undefined ? await this.overcommit(id, changes.memory, !!opts.strict) : undefined;
      const saveNow = !!opts.save || !state;
      const savedChanged = changedKeys(cfg.limits ?? {}, changes).length > 0;
      if (state && changed.length) {
        const only = Object.fromEntries(changed.map((k) => [k, changes[k]])) as Limits;
        await this.apply(id, only, Resources.loopDevice(state));
        // init's open-files limit is set when it starts: say so rather than pretend
        if (only.nofile !== undefined && !saveNow) this.host.progress.warn(`--nofile takes effect at the next start; add --save to keep it`);
      }
      if (saveNow && savedChanged) await writeFileAtomic(this.host.layout.configFile(id), renderConfig({ ...cfg, limits: merged }), 0o600);
      if (changed.length || (saveNow && savedChanged)) {
        const keys = changed.length ? changed : changedKeys(cfg.limits ?? {}, changes);
        this.host.emit(id, 'limits-changed', { limits: Object.fromEntries(keys.map((k) => [k, changes[k] ?? null])), live: !!state && changed.length > 0, saved: saveNow && savedChanged });
      }
      return { id, changed, live: !!state && changed.length > 0, saved: saveNow && savedChanged, limits: merged, ...(overcommit ? { overcommit } : {}) };
    });
  }

  /** What the kernel enforces now, in the terms of Limits (for "nothing changed"). */
  private async liveLimits(id: string): Promise<Limits> {
    const u = await this.usage(id).catch(() => undefined);
    if (!u) return {};
    // every key the kernel reports back; IO limits are not read back, so they always apply
    const out: Limits = {};
    if (u.memory.max !== undefined) out.memory = u.memory.max;
    if (u.memory.swap_max !== undefined && u.memory.swap_max !== null) out.swap = u.memory.swap_max;
    if (u.memory.low !== undefined && u.memory.low !== null && u.memory.low > 0) out.memory_low = u.memory.low;
    if (u.pids.max !== undefined) out.pids = u.pids.max;
    if (u.cpu.period_usec) out.cpus = u.cpu.quota_usec === null ? null : u.cpu.quota_usec / u.cpu.period_usec;
    if (u.cpu.weight !== null && u.cpu.weight !== undefined) out.cpu_weight = u.cpu.weight;
    if (u.cpuset) out.cpuset = u.cpuset;
    return out;
  }

  /**
   * The overcommit guard: the sum of memory limits (this container's new one included) against
   * the host's memory times `overcommit_ratio`. Returns a warning, or throws (exit 7) when strict.
   */
  async overcommit(id: string, memory: number | null | undefined, strict: boolean): Promise<string | undefined> {
    if (memory === undefined) return undefined;
    const { default: si } = await import('systeminformation');
    const total = (await si.mem()).total;
    // a container without a memory limit may take all of the host's
    let sum = memory ?? total;
    for (const other of await this.host.ids()) {
      if (other === id) continue;
      const m = await this.host.config(other).then((c) => c.limits?.memory, () => 0);
      sum += m === undefined || m === null ? total : m;
    }
    const ratio = this.host.settings.overcommitRatio;
    if (sum <= total * ratio) return undefined;
    const msg = `memory limits would add up to ${formatSize(sum)}, more than the host's ${formatSize(total)} x ${ratio} (overcommit_ratio)`;
    if (strict) throw new VpsError(ExitCode.NO_RESOURCES, msg, { hint: 'lower --memory, or raise overcommit_ratio in /etc/vpsctl/vpsctl.yaml' });
    this.host.progress.warn(msg);
    return msg;
  }

  /** Usage of running containers: CPU from two samples `intervalMs` apart. */
  async stats(ids: string[], intervalMs = 500): Promise<ContainerStats[]> {
    const running: { cfg: ContainerConfig; state: RuntimeState }[] = [];
    for (const id of ids) {
      const cfg = await this.host.config(id);
      const { state } = await this.host.runtime.state(id);
      if (state) running.push({ cfg, state });
    }
    const first = await Promise.all(running.map(({ cfg }) => this.usage(cfg.id).catch(() => undefined)));
    const t0 = process.hrtime.bigint();
    // an interval of 0 takes one sample: no CPU percentage (metrics want counters only)
    if (intervalMs > 0) await sleep(intervalMs);
    const second = intervalMs > 0 ? await Promise.all(running.map(({ cfg }) => this.usage(cfg.id).catch(() => undefined))) : first;
    const elapsedUs = Number(process.hrtime.bigint() - t0) / 1000;
    const out: ContainerStats[] = [];
    for (const [i, { cfg, state }] of running.entries()) {
      const a = first[i];
      const b = second[i];
      let disk: number | null = null;
      try {
        const s = await fsp.statfs(`/proc/${state.init_pid}/root/`);
        disk = (s.blocks - s.bfree) * s.bsize;
      } catch {
        disk = null;
      }
      const du = a?.cpu.usage_usec != null && b?.cpu.usage_usec != null ? b.cpu.usage_usec - a.cpu.usage_usec : null;
      out.push({
        id: cfg.id,
        cpu_percent: du === null || intervalMs === 0 ? null : Math.round((du / elapsedUs) * 1000) / 10,
        cpu_seconds: b?.cpu.usage_usec != null ? b.cpu.usage_usec / 1e6 : null,
        memory_used: b?.memory.current ?? null,
        memory_limit: b?.memory.max ?? null,
        swap_used: b?.memory.swap_current ?? null,
        swap_limit: b?.memory.swap_max ?? null,
        pids: b?.pids.current ?? null,
        pids_limit: b?.pids.max ?? null,
        io_read: b?.io.rbytes ?? null,
        io_write: b?.io.wbytes ?? null,
        io_read_ops: b?.io.rios ?? null,
        io_write_ops: b?.io.wios ?? null,
        ...netOf(cfg),
        oom_kills: b?.memory.oom_kills ?? null,
        disk_used: disk,
        disk_size: cfg.disk,
        uptime_s: Math.max(0, Math.round(Date.now() / 1000 - state.started)),
      });
    }
    return out;
  }
}

/** The container's network counters, from the host end of its veth: what the host sends is what the container receives. */
function netOf(cfg: ContainerConfig): Pick<ContainerStats, 'net_rx_bytes' | 'net_tx_bytes' | 'net_rx_packets' | 'net_tx_packets'> {
  const c = cfg.network ? interfaceCounters(hostIfName(cfg.id)) : null;
  return { net_rx_bytes: c?.tx_bytes ?? null, net_tx_bytes: c?.rx_bytes ?? null, net_rx_packets: c?.tx_packets ?? null, net_tx_packets: c?.rx_packets ?? null };
}
