/** The programmatic API: `import { Host } from 'vpsctl'`. */
export { Host } from './core/host.js';
export type { ContainerStatus, ContainerSummary, CreateOptions, StartResult, StopResult } from './core/host.js';
export { VpsError, ExitCode } from './base/errors.js';
export { parseSize, formatSize, parseDuration } from './base/units.js';
export { validateId } from './base/ids.js';
