import type { ContainerConfig } from '../base/config.js';
import { ExitCode, VpsError } from '../base/errors.js';
import type { Progress } from '../base/types.js';

/** One container's line in `start --all` / `stop --all`. */
export interface BatchRow {
  id: string;
  ok: boolean;
  /** What was done: started, stopped, or skipped (already so, or not onboot). */
  action: 'started' | 'stopped' | 'skipped';
  bootorder: number;
  detail: string;
  error?: { code: string; exitCode: number; message: string };
}

/** What Boot needs of the Host, and nothing more. */
export interface BootDeps {
  ids(): Promise<string[]>;
  config(id: string): Promise<ContainerConfig>;
  isRunning(id: string): Promise<boolean>;
  start(id: string, waitMs?: number): Promise<{ system_state?: string }>;
  stop(id: string, timeoutMs?: number): Promise<{ how: string }>;
  progress(): Progress;
}

/** Parallel starts or stops at most; about what a host's disks and CPUs take at once. */
export const DEFAULT_PARALLEL = 4;

/**
 * The order of a batch: groups of equal bootorder, higher first (as vzctl), each group in id
 * order; `reverse` (stop) runs the groups the other way round. A group goes in parallel, the
 * next one only once it is done.
 */
export function bootGroups(items: { id: string; bootorder: number }[], reverse = false): string[][] {
  const orders = [...new Set(items.map((i) => i.bootorder))].sort((a, b) => (reverse ? a - b : b - a));
  return orders.map((o) => items.filter((i) => i.bootorder === o).map((i) => i.id).sort((a, b) => a.localeCompare(b, 'en', { numeric: true })));
}

/** Runs `fn` over `ids` with at most `parallel` at a time, in their order. */
async function bounded<T>(ids: string[], parallel: number, fn: (id: string) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(ids.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const i = next++;
      out[i] = await fn(ids[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, ids.length) }, worker));
  return out;
}

const errorOf = (e: unknown): NonNullable<BatchRow['error']> => {
  const err = e instanceof VpsError ? e : new VpsError(ExitCode.FAILED, (e as Error).message);
  return { code: err.code, exitCode: err.exitCode, message: err.message };
};

/** Every container at once: `start --all [--onboot]` at the host's boot, `stop --all` at its shutdown. */
export class Boot {
  constructor(private readonly d: BootDeps) {}

  private async members(onbootOnly: boolean): Promise<{ id: string; bootorder: number; skip?: string }[]> {
    const out: { id: string; bootorder: number; skip?: string }[] = [];
    for (const id of await this.d.ids()) {
      let cfg: ContainerConfig;
      try {
        cfg = await this.d.config(id);
      } catch (e) {
        // a half-made or damaged container is reported, not started
        out.push({ id, bootorder: 0, skip: (e as Error).message });
        continue;
      }
      if (onbootOnly && !cfg.onboot) continue;
      out.push({ id, bootorder: cfg.bootorder ?? 0 });
    }
    return out;
  }

  /** Starts every stopped container (with `onboot`, those marked onboot), in boot order, going on past failures. */
  async startAll(opts: { onboot?: boolean; parallel?: number; waitMs?: number } = {}): Promise<BatchRow[]> {
    const members = await this.members(!!opts.onboot);
    const rows: BatchRow[] = [];
    for (const m of members.filter((x) => x.skip)) rows.push({ id: m.id, ok: false, action: 'skipped', bootorder: 0, detail: 'cannot be read', error: errorOf(new VpsError(ExitCode.FAILED, m.skip!)) });
    const order = new Map(members.map((m) => [m.id, m.bootorder]));
    for (const group of bootGroups(members.filter((x) => !x.skip))) {
      rows.push(
        ...(await bounded(group, opts.parallel ?? DEFAULT_PARALLEL, async (id): Promise<BatchRow> => {
          const bootorder = order.get(id) ?? 0;
          try {
            if (await this.d.isRunning(id)) return { id, ok: true, action: 'skipped', bootorder, detail: 'running already' };
            const r = await this.d.start(id, opts.waitMs);
            return { id, ok: true, action: 'started', bootorder, detail: r.system_state ? `system ${r.system_state}` : 'init running' };
          } catch (e) {
            this.d.progress().warn(`start of ${id} failed: ${(e as Error).message}`);
            return { id, ok: false, action: 'started', bootorder, detail: 'failed', error: errorOf(e) };
          }
        })),
      );
    }
    return rows;
  }

  /**
   * Stops every running container, the boot order reversed, each with its clean shutdown
   * first; one whose config cannot be read is stopped too (stop needs only its runtime state),
   * as boot order 0: among the first to stop, as it would be among the last to start.
   */
  async stopAll(opts: { parallel?: number; timeoutMs?: number } = {}): Promise<BatchRow[]> {
    const members = await this.members(false);
    const running: { id: string; bootorder: number }[] = [];
    for (const m of members) if (await this.d.isRunning(m.id)) running.push(m);
    const order = new Map(running.map((m) => [m.id, m.bootorder]));
    const rows: BatchRow[] = [];
    for (const group of bootGroups(running, true)) {
      rows.push(
        ...(await bounded(group, opts.parallel ?? DEFAULT_PARALLEL, async (id): Promise<BatchRow> => {
          const bootorder = order.get(id) ?? 0;
          try {
            const r = await this.d.stop(id, opts.timeoutMs);
            return { id, ok: true, action: 'stopped', bootorder, detail: r.how };
          } catch (e) {
            if (!(await this.d.isRunning(id).catch(() => true))) return { id, ok: true, action: 'skipped', bootorder, detail: 'stopped already' };
            this.d.progress().warn(`stop of ${id} failed: ${(e as Error).message}`);
            return { id, ok: false, action: 'stopped', bootorder, detail: 'failed', error: errorOf(e) };
          }
        })),
      );
    }
    return rows;
  }
}
