import { readFileSync } from 'node:fs';
import type { RuntimeState } from '../base/types.js';
import { helperPath } from '../sys/helpers.js';
import { processRunning } from '../sys/proc.js';

// Kept light (no execa, yaml or crypto): `vpsctl exec`'s fast path loads this on every call.

/** The monitor's state, if that very monitor is alive (pid and start time both match). */
export function readLiveState(stateFile: string): { state?: RuntimeState; stale: boolean } {
  let text: string;
  try {
    text = readFileSync(stateFile, 'utf8');
  } catch {
    return { stale: false };
  }
  let st: RuntimeState;
  try {
    st = JSON.parse(text) as RuntimeState;
  } catch {
    return { stale: true };
  }
  return processRunning(st.monitor_pid, st.monitor_starttime) ? { state: st, stale: false } : { stale: true };
}

export interface EnterOptions {
  cwd?: string;
  env?: string[];
  /** A user of the container's /etc/passwd (name or uid); root when absent. */
  user?: string;
  /** A new terminal inside the container for the command (vps-enter --pty). */
  pty?: boolean;
}

/**
 * argv for helpers/vps-enter: join a running container and run a command, or, with no
 * command, the user's login shell. The command gets init's seccomp filter, keyring calls
 * included: `--keyctl` when the monitor says init has them allowed, or when its state
 * predates the feature (its unprivileged init had them allowed; vps-enter refuses them to a
 * privileged container whatever it is told).
 */
export function enterArgv(st: RuntimeState, cgroupDirs: string[], cmd: string[], opts: EnterOptions = {}): { file: string; args: string[] } {
  return {
    file: helperPath('vps-enter'),
    args: [
      '--pid', String(st.init_pid),
      ...cgroupDirs.flatMap((d) => ['--cgroup', d]),
      ...(opts.cwd ? ['--cwd', opts.cwd] : []),
      ...(opts.user ? ['--user', opts.user] : []),
      ...(opts.pty ? ['--pty'] : []),
      ...(st.keyctl !== false ? ['--keyctl'] : []),
      ...(opts.env ?? []).flatMap((e) => ['--env', e]),
      ...(cmd.length ? ['--', ...cmd] : ['--login']),
    ],
  };
}
