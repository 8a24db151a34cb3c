/** The programmatic API: `import { Host } from 'vpsctl'`. */
export { Host } from './core/host.js';
export type { ContainerStatus, ContainerSummary, CreateOptions, StartResult, StopResult } from './core/host.js';
export { VpsError, ExitCode } from './core/errors.js';
export { parseSize, formatSize, parseDuration } from './core/units.js';
export { validateId } from './core/ids.js';
