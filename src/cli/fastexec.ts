import { readFileSync } from 'node:fs';
import { loadSettings, Layout } from '../core/settings.js';
import { containerCgroupDirs, detectCgroups } from '../limits/cgroups.js';
import { processRunning } from '../sys/proc.js';
import { helperPath } from '../sys/helpers.js';
import { runPassthrough } from '../sys/passthrough.js';
import type { RuntimeState } from '../core/types.js';

/**
 * `vpsctl exec ID -- CMD...` without loading oclif. Returns undefined whenever anything is
 * not plainly right (no such container, not running, odd state): the full command then
 * runs and reports the error properly.
 */
export async function fastExec(id: string, cmd: string[]): Promise<number | undefined> {
  try {
    const layout = new Layout(loadSettings());
    const st = JSON.parse(readFileSync(layout.stateFile(id), 'utf8')) as RuntimeState;
    if (st.id !== id || !processRunning(st.monitor_pid, st.monitor_starttime)) return undefined;
    const dirs = containerCgroupDirs(detectCgroups(), layout.s.cgroupParent, id).map((c) => c.dir);
    const file = helperPath('vps-enter');
    return await runPassthrough(file, ['--pid', String(st.init_pid), ...dirs.flatMap((d) => ['--cgroup', d]), '--', ...cmd]);
  } catch {
    return undefined;
  }
}
