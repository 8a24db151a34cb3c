/**
 * The typed client of helpers/vps-limit: the one place its argv is written. A container's
 * cgroups are named by its id and the parent they live under (cgroups.ts `cgroupParentOf`).
 */
import type { Runner } from '../sys/exec.js';
import { helperPath, runHelperJson } from '../sys/helpers.js';

/** Whose cgroups: the container's id and the cgroup parent (below each hierarchy's root). */
export interface LimitTarget {
  id: string;
  parent: string;
}

/** What `vps-limit apply` could not write (a controller or file the host lacks). */
export interface ApplyResult {
  skipped?: { limit: string; why: string }[];
}

/** What `vps-limit usage` reads back from the container's cgroups. */
export interface CgroupUsage {
  mode: 'v1' | 'v2';
  /** oom_kills: processes the kernel's OOM killer killed in the container since its cgroup was made. */
  memory: { current: number | null; max: number | null; swap_current: number | null; swap_max: number | null; low: number | null; oom_kills: number | null };
  cpu: { usage_usec: number | null; quota_usec: number | null; period_usec: number | null; weight: number | null };
  cpuset: string | null;
  pids: { current: number | null; max: number | null };
  io: { rbytes: number | null; wbytes: number | null; rios: number | null; wios: number | null };
}

const targetArgs = (t: LimitTarget): string[] => ['--id', t.id, '--parent', t.parent];

/** `apply` with limit arguments (base/limits.ts `limitArgs`, `ioRateArgs`): the program and argv, for the monitor to run (SpawnSpec.limits). */
export function applyCommand(t: LimitTarget, limitArgs: string[]): { helper: string; args: string[] } {
  return { helper: helperPath('vps-limit'), args: ['apply', ...targetArgs(t), ...limitArgs] };
}

export class VpsLimit {
  constructor(private readonly run: Runner) {}

  /** Writes limits into a running container's cgroups. */
  apply(t: LimitTarget, limitArgs: string[]): Promise<ApplyResult> {
    return runHelperJson<ApplyResult>(this.run, 'vps-limit', ['apply', ...targetArgs(t), ...limitArgs]);
  }

  /** What the container's cgroups hold and allow now. */
  usage(t: LimitTarget): Promise<CgroupUsage> {
    return runHelperJson<CgroupUsage>(this.run, 'vps-limit', ['usage', ...targetArgs(t)]);
  }
}
