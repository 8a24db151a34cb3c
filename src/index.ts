/**
 * The programmatic API: `import { Host } from 'vpsctl'` (docs/API.md). Every type a public
 * method of the Host, or of a service it hands out, takes or returns is exported here
 * (test/unit/library.test.ts walks them).
 */
export { Host } from './core/host.js';
export type * from './core/host-types.js';
export type { HostInfo } from './core/hostinfo.js';

// the services a Host hands out (host.snapshots, host.disks, ...) and what they take and return
export type { Access } from './core/access.js';
export type { HostAdmin } from './core/admin.js';
export type { Boot, BatchRow } from './core/boot.js';
export type { Disks, ResizeResult, CompactResult, ExportResult, ImportOptions, ImportResult } from './core/disk.js';
export type { Identities } from './core/identity.js';
export type { Networks, NetworkStatus, NetFinding } from './core/network.js';
export type { Resources, ContainerStats, SetLimitsResult, CgroupUsage } from './core/resources.js';
export type { Snapshots, SnapshotCreated, SnapshotCreateOptions, SnapshotListing, AllResult, ScheduleResult, PruneOptions, Pruned } from './core/snapshots.js';
export type { TemplateOps } from './core/template-ops.js';
export type { SetupStep } from './core/setup.js';
export type { HostCheckResult, Check } from './core/hostcheck.js';
export type { Pool, PoolInfo, PoolInitOptions, PoolRecord } from './storage/pool.js';
export type { Space, SpaceFigures, Promised, Reservation } from './storage/space.js';
export type { CloneMethod } from './storage/vpssnap.js';
export type { ApplyResult } from './limits/vpslimit.js';
export type { BuildOptions, BuildResult, TemplateInfo, TemplateImportRecord } from './templates/store.js';
export type { DownloadOptions, TemplateDetails, ImportOptions as TemplateImportOptions } from './templates/import.js';
export type { ConsoleEnd } from './runtime/console.js';
export type { PersonalityResult } from './distro/personality.js';
export type { OsInfo, PersonalityName } from './distro/detect.js';
export type { NetworkInput } from './distro/input.js';
export type { NetChange, NetSettings } from './net/plan.js';

// the plain vocabulary (src/base)
export type { HostSettings, Amount } from './base/settings.js';
export type { Limits } from './base/limits.js';
export type { ContainerConfig, IdMap, SnapshotPolicy } from './base/config.js';
export type { Cidr } from './base/ip.js';
export type { NetMode, NetRate, NetworkConfig, PortForward } from './base/netconfig.js';
export type { Feature, DevicePass, KeyringMode } from './base/devices.js';
export type { BindMount } from './base/mounts.js';
export type { EventFilter, EventKind, EventSource, VpsEvent } from './base/events.js';
export type { HookEvent, HookMap } from './base/hooks.js';
export type { Progress, ContainerState, RuntimeState } from './base/types.js';
export { VpsError, ExitCode } from './base/errors.js';
export { EVENT_KINDS } from './base/events.js';
export { HOOK_EVENTS } from './base/hooks.js';
export { parseSize, formatSize, parseDuration } from './base/units.js';
export { validateId } from './base/ids.js';
