import { promises as fsp } from 'node:fs';
import { ExecaRunner, type Runner } from '../sys/exec.js';
import { readText, sleep, writeFileAtomic } from '../sys/fs.js';
import { processLive } from '../sys/proc.js';
import { PACKAGE_ROOT } from '../sys/helpers.js';
import { withLock } from '../sys/lock.js';
import type { ContainerConfig } from '../base/config.js';
import type { EventFilter, EventKind, EventSource, VpsEvent } from '../base/events.js';
import type { HookEvent, HookMap } from '../base/hooks.js';
import { EventLog } from '../sys/eventlog.js';
import { ExitCode, VpsError, failed, invalid } from '../base/errors.js';
import { Layout, loadSettings, type HostSettings } from '../base/settings.js';
import { copyReporter, silentProgress, type Progress, type RuntimeState } from '../base/types.js';
import type { NetChange } from '../net/plan.js';
import { ImageStore } from '../storage/image.js';
import { Pool, type PoolInfo, type PoolInitOptions } from '../storage/pool.js';
import { SnapHelper, type CloneResult, type FrozenCloneResult } from '../storage/vpssnap.js';
import { Space } from '../storage/space.js';
import { Runtime } from '../runtime/runtime.js';
import type { ConsoleEnd } from '../runtime/console.js';
import { detectCgroups, type CgroupLayout } from '../limits/cgroups.js';
import { TemplateStore, type BuildOptions, type BuildResult, type TemplateInfo } from '../templates/store.js';
import type { DownloadOptions, ImportOptions, TemplateDetails } from '../templates/import.js';
import { recipesDir } from '../templates/recipe.js';
import type { PersonalityResult } from '../distro/index.js';
import { Access } from './access.js';
import { HostAdmin } from './admin.js';
import { Boot } from './boot.js';
import { Disks } from './disk.js';
import { Identities } from './identity.js';
import { IdAllocator } from './idmap.js';
import { Inventory } from './inventory.js';
import { Hooks } from './hooks.js';
import { Lifecycle } from './lifecycle.js';
import { renderMetrics } from './metrics.js';
import { Networks, type NetworkStatus } from './network.js';
import { Resources } from './resources.js';
import type { SetupStep } from './setup.js';
import { Snapshots } from './snapshots.js';
import { TemplateOps } from './template-ops.js';
import type { HostInfo } from './hostinfo.js';
import type { ContainerStatus, ContainerSummary, CreateOptions, ExecOptions, ExecResult, HostCheckReport, HostOptions, Identity, PoolReport, ProvisionSpec, StartOptions, StartResult, StopOptions, StopResult } from './host-types.js';

export type { SetupStep } from './setup.js';
export type { BatchRow } from './boot.js';
export type { BuildResult, TemplateInfo } from '../templates/store.js';
export type { NetChange } from '../net/plan.js';
export * from './host-types.js';

/**
 * The programmatic API and the one thing commands talk to: a thin facade. It owns the state
 * on the host (settings, layout, the OS boundary, images, pool, runtime) and the
 * per-container lock, and wires the services that do the work, each given a narrow view of
 * it (src/core/context.ts): Lifecycle, Inventory, Snapshots, Disks, Resources, Networks,
 * Identities, TemplateOps, HostAdmin, Access, Boot.
 */
export class Host {
  readonly settings: HostSettings;
  readonly layout: Layout;
  readonly sys: Runner;
  readonly images: ImageStore;
  readonly runtime: Runtime;
  readonly templates: TemplateStore;
  readonly idmaps: IdAllocator;
  readonly pool: Pool;
  readonly snap: SnapHelper;
  readonly events: EventLog;
  readonly hooks: Hooks;
  source: EventSource;
  private cgroupLayout?: CgroupLayout;
  private net?: Networks;
  private spaceGuard?: Space;
  private readonly services: { lifecycle?: Lifecycle; inventory?: Inventory; admin?: HostAdmin; templateOps?: TemplateOps; identities?: Identities } = {};
  progress: Progress;

  constructor(opts: HostOptions = {}) {
    this.settings = opts.settings ?? loadSettings(opts.env);
    this.layout = new Layout(this.settings);
    this.sys = opts.sys ?? new ExecaRunner();
    this.progress = opts.progress ?? silentProgress;
    this.images = new ImageStore(this.sys);
    this.runtime = new Runtime(this.layout, this.sys);
    this.idmaps = new IdAllocator(this.layout.idmapDir(), this.settings);
    this.pool = new Pool(this.layout, this.sys);
    this.snap = new SnapHelper(this.sys);
    this.events = new EventLog(this.layout.eventsLog());
    this.source = opts.source ?? 'cli';
    this.hooks = new Hooks(this);
    this.templates = new TemplateStore(this.layout, this.sys, this.images, recipesDir(PACKAGE_ROOT), this.settings.mirror, this.settings.cacheDir, this.settings.mirrors);
  }

  /** The pool's promises: `pool info`'s figures and the guard of what adds to them. */
  get space(): Space {
    this.spaceGuard ??= new Space({
      layout: this.layout,
      pool: this.pool,
      snap: this.snap,
      policy: { ratio: this.settings.diskOvercommitRatio, reserve: this.settings.diskReserve, watermark: this.settings.diskLowWatermark, freeze: this.settings.diskFreezeFree },
      progress: () => this.progress,
      disks: () => this.inventory.promisedDisks(),
    });
    return this.spaceGuard;
  }

  /** Every container at once: `start --all [--onboot]`, `stop --all`, in boot order. */
  get boot(): Boot {
    return new Boot({
      ids: () => this.ids(),
      config: (id) => this.config(id),
      isRunning: async (id) => !!(await this.runtime.state(id)).state,
      start: (id, waitMs) => this.start(id, { waitMs }),
      stop: (id, timeoutMs) => this.stop(id, { timeoutMs }),
      progress: () => this.progress,
    });
  }

  /** Snapshots: create, list, restore, delete, prune, mount, schedule. */
  get snapshots(): Snapshots {
    return new Snapshots(this);
  }

  /** Resource limits and usage. */
  get resources(): Resources {
    return new Resources(this);
  }

  /** Whole-disk work: clone, resize, compact, export, import. */
  get disks(): Disks {
    return new Disks(this);
  }

  /** create, start, stop, restart, destroy, reconcile. */
  get lifecycle(): Lifecycle {
    return (this.services.lifecycle ??= new Lifecycle(this));
  }

  /** Configs, ids, list, status. */
  get inventory(): Inventory {
    return (this.services.inventory ??= new Inventory(this));
  }

  /** pool info/init, host setup/info/check. */
  get admin(): HostAdmin {
    return (this.services.admin ??= new HostAdmin(this));
  }

  /** template build, list, import, download, remove, info. */
  get templateOps(): TemplateOps {
    return (this.services.templateOps ??= new TemplateOps(this));
  }

  /** set of the hostname, users, keys, addresses, onboot. */
  get identities(): Identities {
    return (this.services.identities ??= new Identities(this));
  }

  /** Bridge, veths, addresses, nftables rules. */
  get networks(): Networks {
    this.net ??= new Networks(this.layout, this.settings, this.sys, this.progress, {
      ids: () => this.ids(),
      config: (id) => this.config(id),
      isRunning: async (id) => !!(await this.runtime.state(id)).state,
      lock: (id, what, fn) => this.lock(id, what, fn),
    });
    return this.net;
  }

  get cgroups(): CgroupLayout {
    this.cgroupLayout ??= detectCgroups();
    return this.cgroupLayout;
  }

  /**
   * Runs `fn` holding the container's lock. First puts right what a killed snapshot can leave:
   * a filesystem still frozen (both vps-snap and its guardian SIGKILLed).
   */
  lock<T>(id: string, what: string, fn: () => Promise<T>): Promise<T> {
    return withLock(this.layout.lockFile(id), what, `container ${id}`, async () => {
      await this.recoverFreeze(id);
      return fn();
    });
  }

  private async recoverFreeze(id: string): Promise<void> {
    const marker = this.layout.frozenMarker(id);
    const text = await readText(marker);
    if (text === undefined) return;
    let m: { pid?: number; guardian?: number } = {};
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      /* a marker cut short: thaw through the running state below */
    }
    // a snapshot whose vpsctl was killed may still be finishing: give it its time, and never
    // thaw under a copy that is still running (it would make that copy inconsistent)
    const live = (): number[] => [m.pid, m.guardian].filter((p): p is number => !!p && processLive(p));
    for (let i = 0; i < 600 && live().length; i++) await sleep(100);
    if (live().length) {
      throw new VpsError(ExitCode.LOCKED, `a snapshot of container ${id} is still copying (vps-snap pid ${live().join(', ')})`, { hint: 'wait for it to finish and retry' });
    }
    // stopped: its filesystem is unmounted, nothing is left to thaw
    const { state } = await this.runtime.state(id);
    if (state) {
      const mount = this.monitorView(id, state);
      const thawed = await this.snap.thaw(mount, state.loop, marker).catch((e: unknown) => {
        throw failed(`container ${id}'s filesystem may be left frozen by a killed snapshot, and thawing it failed: ${(e as Error).message}`, {
          hint: `thaw it by hand: ${PACKAGE_ROOT}/helpers/vps-snap thaw --mount ${mount} --loop ${state.loop} --marker ${marker}`,
        });
      });
      if (thawed) this.progress.warn(`container ${id}'s filesystem was left frozen by a killed snapshot; thawed it`);
    }
    await fsp.rm(marker, { force: true });
  }

  /** One event in the host's log, from this Host's source unless told (never throws). */
  emit(id: string, kind: EventKind, details: Record<string, unknown> = {}, source: EventSource = this.source): void {
    this.events.append({ time: new Date().toISOString(), id, kind, source, details }, (m) => this.progress.warn(m));
  }

  /**
   * `vpsctl hook-run post-stop ID`, which a container's monitor runs once the container is
   * down (however it stopped): the container's and the host's post-stop hooks.
   */
  async runStopHooks(id: string, reason: string): Promise<void> {
    await this.hooks.post('post-stop', id, { VPSCTL_STOP_REASON: reason });
  }

  /** `vpsctl events`: what the log holds; with `follow`, each new event as it comes until `signal`. */
  async readEvents(filter: EventFilter, follow?: { onEvent: (e: VpsEvent) => void; signal: AbortSignal }): Promise<VpsEvent[]> {
    if (!follow) return this.events.read(filter);
    await this.events.follow(filter, follow.onEvent, follow.signal, { past: true });
    return [];
  }

  /** The container's root filesystem as its monitor mounted it (the host-side view). */
  monitorView(id: string, state: RuntimeState): string {
    return `/proc/${state.monitor_pid}/root${this.layout.rootfs(id)}`;
  }

  /**
   * Copies a container's image to `dst` (which must not exist): a running container's
   * filesystem is frozen for the copy (consistent), a stopped one is copied as it is.
   * A reflink where the pool can share extents, else a sparse copy.
   */
  async copyImage(id: string, dst: string, state: RuntimeState | undefined, onProgress?: (done: number, total: number) => void): Promise<CloneResult & Partial<FrozenCloneResult>> {
    const img = this.layout.image(id);
    if (!state) {
      // a killed compact or create may have left it mounted on the host: never copy it so
      await this.reconcile(id);
      return this.snap.clone(img, dst, onProgress);
    }
    const allocated = ((await fsp.stat(img)).blocks ?? 0) * 512;
    // a copy at a slow 20 MB/s must finish inside the freeze; a reflink takes milliseconds
    // (capped at the helper's limit of an hour: a plain pool freezes a big container for long)
    const maxFrozenMs = (await this.pool.canReflink()) ? 30_000 : Math.min(3_600_000, 60_000 + allocated / 20_000);
    return this.snap.frozenClone({ mount: this.monitorView(id, state), loop: state.loop, src: img, dst, marker: this.layout.frozenMarker(id), maxFrozenMs }, onProgress);
  }

  /** A progress reporter for a copy: a line every two seconds. */
  copyProgress(what: string): (done: number, total: number) => void {
    return copyReporter(this.progress, what);
  }

  // ---- the facade: one line each ---------------------------------------------------------------

  config(id: string): Promise<ContainerConfig> {
    return this.inventory.config(id);
  }

  ids(): Promise<string[]> {
    return this.inventory.ids();
  }

  list(): Promise<ContainerSummary[]> {
    return this.inventory.list();
  }

  status(id: string): Promise<ContainerStatus> {
    return this.inventory.status(id);
  }

  create(id: string, opts: CreateOptions): Promise<ContainerStatus> {
    return this.lifecycle.create(id, opts);
  }

  /** See Lifecycle.provision: the one path of create, clone and import. The caller holds the lock. */
  provision(id: string, spec: ProvisionSpec): Promise<ContainerStatus> {
    return this.lifecycle.provision(id, spec);
  }

  start(id: string, opts: StartOptions = {}): Promise<StartResult> {
    return this.lifecycle.start(id, opts);
  }

  /** start's work, for a caller that holds the container's lock. */
  startLocked(id: string, opts: StartOptions = {}): Promise<StartResult> {
    return this.lifecycle.startLocked(id, opts);
  }

  waitSystemRunning(id: string, timeoutMs: number): Promise<string> {
    return this.lifecycle.waitSystemRunning(id, timeoutMs);
  }

  stop(id: string, opts: StopOptions = {}): Promise<StopResult> {
    return this.lifecycle.stop(id, opts);
  }

  /** stop's work, for a caller that holds the container's lock. */
  stopLocked(id: string, opts: StopOptions = {}): Promise<StopResult> {
    return this.lifecycle.stopLocked(id, opts);
  }

  restart(id: string, opts: StopOptions & StartOptions = {}): Promise<StartResult> {
    return this.lifecycle.restart(id, opts);
  }

  destroy(id: string, opts: { force?: boolean } = {}): Promise<{ id: string; destroyed: true }> {
    return this.lifecycle.destroy(id, opts);
  }

  /** See Lifecycle.reconcile. */
  reconcile(id: string): Promise<string[]> {
    return this.lifecycle.reconcile(id);
  }

  setBoot(id: string, change: { onboot?: boolean; bootorder?: number }): Promise<{ id: string; onboot: boolean; bootorder: number; changed: boolean }> {
    return this.identities.setBoot(id, change);
  }

  setDevices(id: string, change: { features?: string; devices?: string[] }): ReturnType<Identities['setDevices']> {
    return this.identities.setDevices(id, change);
  }

  setMounts(id: string, flags: string[]): ReturnType<Identities['setMounts']> {
    return this.identities.setMounts(id, flags);
  }

  setHooks(id: string, change: Partial<Record<HookEvent, string | null>>): Promise<{ id: string; hooks: HookMap; changed: boolean }> {
    return this.identities.setHooks(id, change);
  }

  setIdentity(id: string, change: Identity & { hostname?: string }, netChange?: NetChange): Promise<{ id: string; live: boolean; result?: PersonalityResult; network?: NetworkStatus | null }> {
    return this.identities.setIdentity(id, change, netChange);
  }

  buildTemplate(name: string, opts: BuildOptions = {}): Promise<BuildResult> {
    return this.templateOps.buildTemplate(name, opts);
  }

  listTemplates(): Promise<TemplateInfo[]> {
    return this.templateOps.listTemplates();
  }

  importTemplate(source: string, opts: ImportOptions = {}): Promise<BuildResult> {
    return this.templateOps.importTemplate(source, opts);
  }

  downloadTemplate(dist: string, release: string, opts: DownloadOptions = {}): Promise<BuildResult> {
    return this.templateOps.downloadTemplate(dist, release, opts);
  }

  removeTemplate(name: string): Promise<{ name: string; removed: string[] }> {
    return this.templateOps.removeTemplate(name);
  }

  templateInfo(name: string): Promise<TemplateDetails> {
    return this.templateOps.templateInfo(name);
  }

  poolInfo(): Promise<PoolReport> {
    return this.admin.poolInfo();
  }

  initPool(opts: PoolInitOptions): Promise<PoolInfo> {
    return this.admin.initPool(opts);
  }

  setup(opts: { pool?: boolean } = {}): Promise<SetupStep[]> {
    return this.admin.setup(opts);
  }

  info(): Promise<HostInfo> {
    return this.admin.info();
  }

  check(fix = false): Promise<HostCheckReport> {
    return this.admin.check(fix);
  }

  /**
   * `vpsctl metrics`: every container's state and use, and the pool's figures, as Prometheus
   * text; with `output`, also written to that file atomically (node_exporter's textfile collector).
   */
  async metrics(opts: { output?: string } = {}): Promise<string> {
    const containers = await this.list();
    const stats = await this.resources.stats(containers.filter((c) => c.state === 'running').map((c) => c.id), 0);
    const space = await this.space.figures();
    const text = renderMetrics({ containers, stats, pool: { size: space.size, free: space.free, promised: space.promised.total } });
    if (opts.output) {
      await writeFileAtomic(opts.output, text, 0o644).catch((e: Error) => {
        throw invalid(`cannot write the metrics to ${opts.output}: ${e.message}`, 'give a file in a directory that exists, e.g. /var/lib/prometheus/node-exporter/vpsctl.prom');
      });
    }
    return text;
  }

  /** exec, enter, console: getting into a running container. */
  get access(): Access {
    return new Access({ config: (id) => this.config(id), state: async (id) => (await this.runtime.state(id)).state, sys: this.sys, layout: this.layout, cgroups: () => this.cgroups, cgroupParent: this.settings.cgroupParent });
  }

  /** A running container's runtime state, or exit 5 (not running) / 3 (no such container). */
  running(id: string): Promise<RuntimeState> {
    return this.access.running(id);
  }

  /** See Access.exec. */
  exec(id: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.access.exec(id, cmd, opts);
  }

  enter(id: string, opts: { user?: string; terminal?: boolean } = {}): Promise<number> {
    return this.access.enter(id, opts);
  }

  console(id: string, opts: { escape?: string; readOnly?: boolean; notice: (line: string) => void }): Promise<ConsoleEnd> {
    return this.access.console(id, opts);
  }

  consoleLog(id: string): Promise<{ id: string; log: Buffer }> {
    return this.access.consoleLog(id);
  }
}
