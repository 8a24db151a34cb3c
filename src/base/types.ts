import { formatSize } from './units.js';

/** Progress for long work (template builds, copies): goes to stderr, never to stdout. */
export interface Progress {
  step(n: number, total: number, message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

export const silentProgress: Progress = {
  step: () => undefined,
  info: () => undefined,
  warn: () => undefined,
};

export type ContainerState = 'stopped' | 'running' | 'broken';

/** The runtime state file the monitor writes: `/run/vpsctl/<id>/state.json`. */
export interface RuntimeState {
  id: string;
  monitor_pid: number;
  monitor_starttime: number;
  init_pid: number;
  loop: string;
  started: number;
  /**
   * Whether init runs with the keyring calls allowed (its keyctl feature at start): every
   * exec gets the same filter. Missing from a monitor older than the feature, whose
   * unprivileged init had them allowed.
   */
  keyctl?: boolean;
}

/** A copy's progress as a line every two seconds: `  WHAT: 1.2G of 4.0G`. */
export function copyReporter(progress: Progress, what: string): (done: number, total: number) => void {
  let last = Date.now();
  return (done, total) => {
    if (Date.now() - last < 2000) return;
    last = Date.now();
    progress.info(`  ${what}: ${formatSize(done)} of ${formatSize(total)}`);
  };
}
