import { promises as fsp, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import type { RuntimeState } from '../base/types.js';
import type { Layout } from '../base/settings.js';
import type { Runner } from '../sys/exec.js';
import { processRunning, readTextSync, sleep } from '../sys/fs.js';
import { readLiveState } from './enter.js';
import { runSpawn, type SpawnResult, type SpawnScope, type SpawnSpec } from '../sys/vps-spawn.js';

/** SIGRTMIN+3 as glibc numbers it (kernel SIGRTMIN 32 + 2 reserved + 3): systemd's "halt". */
export const SIG_SYSTEMD_HALT = 37;
/** SIGPWR: what sysvinit and most other inits take as "power off". */
export const SIG_PWR = 30;

export type { SpawnResult, SpawnScope } from '../sys/vps-spawn.js';

/** The unit `host setup` installs: scopes are ordered before it, so at shutdown its `stop --all` runs while they still stand. */
const BOOT_UNIT = 'vpsctl.service';

/** Starts and stops monitors (helpers/vps-spawn) and reads their state. */
export class Runtime {
  constructor(
    private readonly layout: Layout,
    private readonly run: Runner,
  ) {}

  /** The monitor's state, if it is really alive (pid and start time both match). */
  async state(id: string): Promise<{ state?: RuntimeState; stale: boolean }> {
    return readLiveState(this.layout.stateFile(id));
  }

  /**
   * Runs vps-spawn, which becomes the container's monitor. With a scope (systemd hosts), it
   * runs in a new transient scope with Delegate=yes (systemd-run --scope), ordered before
   * vpsctl.service (at shutdown that unit's stop --all runs while the scopes still stand),
   * and moves itself into the scope's monitor cgroup before it makes the container's cgroup.
   */
  async spawn(spec: SpawnSpec, scope?: SpawnScope): Promise<SpawnResult> {
    await fsp.mkdir(spec.rootfs, { recursive: true, mode: 0o700 });
    await fsp.chmod(spec.runDir, 0o700);
    return runSpawn(this.run, spec, scope && { ...scope, before: BOOT_UNIT });
  }

  /** The signal that asks this container's init for a clean shutdown. */
  haltSignal(initPid: number): number {
    try {
      const exe = readlinkSync(`/proc/${initPid}/exe`);
      return path.basename(exe).startsWith('systemd') ? SIG_SYSTEMD_HALT : SIG_PWR;
    } catch {
      return SIG_SYSTEMD_HALT;
    }
  }

  /**
   * Signals the container's init, but only while it is still the monitor's child: after init
   * exits, its pid could be reused by an unrelated process before the monitor is gone.
   */
  signalInit(st: RuntimeState, sig: number | NodeJS.Signals): boolean {
    if (!this.initAlive(st)) return false;
    return this.signal(st.init_pid, sig);
  }

  /** Whether the container's init still runs (as the monitor's child). */
  initAlive(st: RuntimeState): boolean {
    const status = readTextSync(`/proc/${st.init_pid}/status`) ?? '';
    return Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]) === st.monitor_pid && !/^State:\s+Z/m.test(status);
  }

  signal(pid: number, sig: number | NodeJS.Signals): boolean {
    try {
      process.kill(pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /** Waits until the monitor is gone (it tears down before it exits); false on timeout. */
  async waitGone(st: RuntimeState, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!processRunning(st.monitor_pid, st.monitor_starttime)) return true;
      if (Date.now() >= deadline) return false;
      await sleep(50);
    }
  }
}
