/**
 * What the container services of src/core are given: narrow views, never the whole Host.
 * The Host (src/core/host.ts) wires them; each service names the view it needs, so that what
 * a service can reach is read in its constructor, and no service file imports host.ts.
 *
 *   Store         the state on the host: settings, layout, the OS boundary, images, the
 *                 pool, runtime state, configs and the per-container lock
 *   Copies        a container's image copied (frozen while it runs)
 *   Power         start and stop for a caller that holds the lock; reconcile
 */
import type { ContainerConfig } from '../base/config.js';
import type { EventKind, EventSource } from '../base/events.js';
import type { HostSettings, Layout } from '../base/settings.js';
import type { Progress, RuntimeState } from '../base/types.js';
import type { CgroupLayout } from '../limits/cgroups.js';
import type { Runtime } from '../runtime/runtime.js';
import type { ImageStore } from '../storage/image.js';
import type { Pool } from '../storage/pool.js';
import type { Space } from '../storage/space.js';
import type { CloneResult, FrozenCloneResult, SnapHelper } from '../storage/vpssnap.js';
import type { Runner } from '../sys/exec.js';
import type { Hooks } from './hooks.js';
import type { ContainerStatus, ExecOptions, ExecResult, ProvisionSpec, StartOptions, StartResult, StopOptions, StopResult } from './host-types.js';

/** The state on the host, and the lock every change to one container takes. */
export interface Store {
  readonly settings: HostSettings;
  readonly layout: Layout;
  readonly sys: Runner;
  readonly images: ImageStore;
  readonly pool: Pool;
  readonly snap: SnapHelper;
  readonly runtime: Runtime;
  readonly progress: Progress;
  readonly cgroups: CgroupLayout;
  /** The pool's promises and their guard. */
  readonly space: Space;
  config(id: string): Promise<ContainerConfig>;
  ids(): Promise<string[]>;
  lock<T>(id: string, what: string, fn: () => Promise<T>): Promise<T>;
  /** Who this Host works for, as events name it: cli (default), api, cron. */
  readonly source: EventSource;
  /** The admin's hooks: pre-* ones stop an operation, post-* ones warn. */
  readonly hooks: Hooks;
  /** One event in the host's log (never throws). */
  emit(id: string, kind: EventKind, details?: Record<string, unknown>, source?: EventSource): void;
}

/** A container's image copied to a new file: frozen while it runs, a reflink where the pool shares extents. */
export interface Copies {
  copyImage(id: string, dst: string, state: RuntimeState | undefined, onProgress?: (done: number, total: number) => void): Promise<CloneResult & Partial<FrozenCloneResult>>;
  copyProgress(what: string): (done: number, total: number) => void;
}

/** Start and stop for a caller that holds the container's lock, and the clean-up of a stopped one. */
export interface Power {
  startLocked(id: string, opts?: StartOptions): Promise<StartResult>;
  stopLocked(id: string, opts?: StopOptions): Promise<StopResult>;
  reconcile(id: string): Promise<string[]>;
}

/** The one path that makes a container around an image (create, clone, import). */
export interface Provisioner {
  provision(id: string, spec: ProvisionSpec): Promise<ContainerStatus>;
}

/** A command inside a running container. */
export interface Execs {
  exec(id: string, cmd: string[], opts?: ExecOptions): Promise<ExecResult>;
}
