import { Host } from '../core/host.js';
import type { Progress } from '../base/types.js';

/** Wires the real Host for a command (the only place commands get one from). */
export function realHost(progress: Progress): Host {
  return new Host({ progress });
}
