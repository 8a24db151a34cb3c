import { ID_RE } from '../base/ids.js';
import { loadSettings, Layout } from '../base/settings.js';
import { detectCgroups, enterCgroupDirs } from '../limits/cgroups.js';
import { enterArgv, readLiveState } from '../runtime/enter.js';
import { runPassthrough } from '../sys/passthrough.js';

/**
 * `vpsctl exec ID -- CMD...` without loading oclif or building the Host: the same state and
 * the same vps-enter argv as Host.exec, with lighter imports. Returns undefined whenever
 * anything is not plainly right (bad id, no such container, not running): the full command
 * then runs and reports the error properly.
 */
export async function quickExec(id: string, cmd: string[]): Promise<number | undefined> {
  if (!ID_RE.test(id)) return undefined;
  try {
    const layout = new Layout(loadSettings());
    const { state } = readLiveState(layout.stateFile(id));
    if (!state || state.id !== id) return undefined;
    const { file, args } = enterArgv(state, enterCgroupDirs(detectCgroups(), layout.s.cgroupParent, id), cmd);
    // a terminal on stdin is read only with -i (the full command): the fast path gives none
    return await runPassthrough(file, args, { stdin: !process.stdin.isTTY });
  } catch {
    return undefined;
  }
}
