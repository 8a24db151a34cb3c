import * as path from 'node:path';
import { VpsError, ExitCode } from '../base/errors.js';
import type { HookEvent } from '../base/hooks.js';
import { hookDirPrograms, hookRefusal, runHook } from '../sys/hooks.js';
import type { Store } from './context.js';

/** What a hook gets in its environment beyond the three every hook gets. */
export type HookEnv = Record<string, string>;

/**
 * The admin's hooks (docs/ARCHITECTURE.md, "Hooks"): for an event, the host-wide programs in
 * `<hooks_dir>/<event>/` in name order, then the container's own (`hooks:` in its config),
 * each run as root on the host with VPSCTL_ID, VPSCTL_HOOK and VPSCTL_CONFIG_FILE set, stdin
 * from /dev/null, and killed after `hook_timeout`. A program that root does not alone control
 * is refused, never run.
 */
export class Hooks {
  constructor(private readonly h: Store) {}

  /**
   * The programs of an event for a container, host-wide first, then its own from its config
   * (none while it has no config, or a damaged one: the host-wide ones still run).
   */
  async programs(event: HookEvent, id: string): Promise<string[]> {
    const own = await this.own(event, id);
    return [...(await hookDirPrograms(path.join(this.h.settings.hooksDir, event))), ...(own ? [own] : [])];
  }

  private own(event: HookEvent, id: string): Promise<string | undefined> {
    return this.h.config(id).then(
      (c) => c.hooks?.[event],
      () => undefined,
    );
  }

  /**
   * A pre-* event: the first hook that fails (or is refused) stops the operation with its
   * message (exit 1), before the operation has changed anything.
   */
  async pre(event: HookEvent, id: string, env: HookEnv = {}): Promise<void> {
    for (const file of await this.programs(event, id)) {
      const why = await this.run(event, id, file, env);
      if (!why) continue;
      const where = path.dirname(file) === path.join(this.h.settings.hooksDir, event) ? path.dirname(file) : `hooks.${event} in ${this.h.layout.configFile(id)}`;
      throw new VpsError(ExitCode.FAILED, `${event} hook ${file} stopped the ${event.slice(4)} of ${id}: ${why}`, { hint: `fix the hook, or remove it (${where})` });
    }
  }

  /** A post-* event: every hook runs; one that fails is a warning and a "hook-failed" event. */
  async post(event: HookEvent, id: string, env: HookEnv = {}): Promise<void> {
    for (const file of await this.programs(event, id)) {
      const why = await this.run(event, id, file, env);
      if (!why) continue;
      this.h.progress.warn(`${event} hook ${file} of ${id} failed: ${why}`);
      this.h.emit(id, 'hook-failed', { hook: event, program: file, error: why });
    }
  }

  /** Runs one hook; why it failed or was refused, or '' when it succeeded. */
  private async run(event: HookEvent, id: string, file: string, env: HookEnv): Promise<string> {
    const refused = await hookRefusal(file);
    if (refused) return `refused: ${refused}`;
    const r = await runHook(file, { ...env, VPSCTL_ID: id, VPSCTL_HOOK: event, VPSCTL_CONFIG_FILE: this.h.layout.configFile(id) }, this.h.settings.hookTimeoutMs);
    return r.ok ? '' : r.why;
  }
}
