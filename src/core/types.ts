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
}
