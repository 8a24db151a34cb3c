/** The programmatic API: `import { Host } from 'vpsctl'` (docs/API.md). */
export { Host } from './core/host.js';
export type * from './core/host-types.js';
export type { HostInfo } from './core/hostinfo.js';
export type { ContainerStats, SetLimitsResult } from './core/resources.js';
export type { SnapshotCreated, SnapshotCreateOptions, SnapshotListing } from './core/snapshots.js';
export type { Limits } from './base/limits.js';
export type { ContainerConfig } from './base/config.js';
export type { EventFilter, EventKind, EventSource, VpsEvent } from './base/events.js';
export type { HookEvent } from './base/hooks.js';
export type { Progress } from './base/types.js';
export { VpsError, ExitCode } from './base/errors.js';
export { EVENT_KINDS } from './base/events.js';
export { HOOK_EVENTS } from './base/hooks.js';
export { parseSize, formatSize, parseDuration } from './base/units.js';
export { validateId } from './base/ids.js';
