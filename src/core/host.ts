import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ExecaRunner, unmountUnder, type Runner } from '../sys/exec.js';
import { exists, readText, sleep, writeFileAtomic } from '../sys/fs.js';
import { isSystemdInit, mountsOfDevice, processLive } from '../sys/proc.js';
import { cronFile } from '../base/cron.js';
import { Snapshots } from './snapshots.js';
import { Disks } from './disk.js';
import { Resources } from './resources.js';
import { Networks, type NetFinding, type NetworkStatus } from './network.js';
import type { NetChange } from '../net/plan.js';
import { GUEST_IF } from '../net/names.js';
import type { NetworkConfig } from '../base/netconfig.js';
import { DEFAULT_LIMITS, type Limits } from '../base/limits.js';

/** Where lxcfs serves its /proc files (Debian's lxcfs package mounts it here). */
const LXCFS_DIR = '/var/lib/lxcfs';
const LXCFS_MEMINFO = `${LXCFS_DIR}/proc/meminfo`;
import { PACKAGE_ROOT } from '../sys/helpers.js';
import type { SpawnSpec } from '../sys/vps-spawn.js';
import { withLock } from '../sys/lock.js';
import { ImageStore } from '../storage/image.js';
import { NO_REFLINK_HINT, Pool, type PoolInfo, type PoolInitOptions } from '../storage/pool.js';
import { SnapHelper, type CloneResult, type FrozenCloneResult } from '../storage/vpssnap.js';
import { SnapshotFiles } from '../storage/snapstore.js';
import { Space, spaceCheck } from '../storage/space.js';
import { hostChecks } from './hostcheck.js';
import { hostInfo, type HostInfo } from './hostinfo.js';
import { Runtime } from '../runtime/runtime.js';
import type { ConsoleEnd } from '../runtime/console.js';
import { Access } from './access.js';
import { detectCgroups, existingCgroups, killCgroupTree, memoryUsage, removeCgroupTree, spawnCgroupSpecs, systemdUnits, type CgroupLayout } from '../limits/cgroups.js';
import { TemplateStore, type BuildOptions, type BuildResult, type TemplateInfo } from '../templates/store.js';
import { recipesDir } from '../templates/recipe.js';
import { applyPersonality, applyPersonalityTo, prepareTemplate, type PersonalityResult } from '../distro/index.js';
import type { PersonalityInput } from '../distro/input.js';
import { HostTree } from '../distro/tree.js';
import { ContainerTree } from './container-tree.js';
import { MAX_BOOTORDER, parseConfig, renderConfig, validBootorder, type ContainerConfig, type IdMap } from '../base/config.js';
import { Boot } from './boot.js';
import { HostSetup, type SetupStep } from './setup.js';
export type { SetupStep } from './setup.js';
export type { BatchRow } from './boot.js';
import { IdAllocator } from './idmap.js';
import { shiftIds } from '../storage/shift.js';
import { ExitCode, VpsError, failed, invalid, notFound, wrongState } from '../base/errors.js';
import { validateHostname, validateId, validateTemplateName } from '../base/ids.js';
import { Layout, loadSettings, type HostSettings } from '../base/settings.js';
import { copyReporter, silentProgress, type Progress, type RuntimeState } from '../base/types.js';
import { formatSize } from '../base/units.js';

export type { BuildResult, TemplateInfo } from '../templates/store.js';
export type { NetChange } from '../net/plan.js';

export * from './host-types.js';
import type { ContainerStatus, ContainerSummary, CreateOptions, ExecOptions, ExecResult, HostCheckReport, HostOptions, Identity, PoolReport, ProvisionSpec, SpaceFrozen, StartOptions, StartResult, StopOptions, StopResult } from './host-types.js';

/** The programmatic API and the one thing commands talk to. */
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
  private cgroupLayout?: CgroupLayout;
  private net?: Networks;
  private spaceGuard?: Space;
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
      disks: () => this.promisedDisks(),
    });
    return this.spaceGuard;
  }

  /**
   * Every container's disk as promised: its config's size (a damaged config: its image's).
   * A half-made container counts its image unless the create making it still runs (its
   * reservation counts it then).
   */
  private async promisedDisks(): Promise<number[]> {
    const out: number[] = [];
    for (const id of await this.ids()) {
      const text = await readText(this.layout.configFile(id));
      if (text !== undefined) {
        try {
          out.push(parseConfig(text, this.layout.configFile(id), id).disk);
          continue;
        } catch {
          /* damaged: its image's size below */
        }
      } else if ((await this.partialMarker(id))?.live) continue;
      const img = this.layout.image(id);
      const st = (await fsp.stat(img).catch(() => undefined)) ?? (await fsp.stat(`${img}.partial`).catch(() => undefined));
      out.push(st?.size ?? 0);
    }
    return out;
  }

  /** A half-made container's `.partial` marker (what made it, by which pid), and whether that maker still runs. */
  private async partialMarker(id: string): Promise<{ text: string; live: boolean } | undefined> {
    const text = await readText(path.join(this.layout.containerDir(id), '.partial'));
    if (text === undefined) return undefined;
    const pid = Number(/by pid (\d+)/.exec(text)?.[1]);
    return { text: text.trim(), live: Number.isInteger(pid) && processLive(pid) };
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

  /** `create`/`set --onboot --bootorder`: saved in the config; the next host boot uses them. */
  async setBoot(id: string, change: { onboot?: boolean; bootorder?: number }): Promise<{ id: string; onboot: boolean; bootorder: number; changed: boolean }> {
    if (change.bootorder !== undefined && !validBootorder(change.bootorder)) throw invalid(`--bootorder must be an integer from 0 to ${MAX_BOOTORDER}`);
    await this.config(id);
    return this.lock(id, 'set --onboot', async () => {
      const cfg = await this.config(id);
      const next: ContainerConfig = { ...cfg };
      if (change.onboot !== undefined) next.onboot = change.onboot || undefined;
      if (change.bootorder !== undefined) next.bootorder = change.bootorder || undefined;
      const changed = !!next.onboot !== !!cfg.onboot || (next.bootorder ?? 0) !== (cfg.bootorder ?? 0);
      if (changed) await writeFileAtomic(this.layout.configFile(id), renderConfig(next), 0o600);
      return { id, onboot: !!next.onboot, bootorder: next.bootorder ?? 0, changed };
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

  // ---- templates ---------------------------------------------------------------------------

  async buildTemplate(name: string, opts: BuildOptions = {}): Promise<BuildResult> {
    await this.pool.ensure();
    return withLock(this.layout.templateLockFile(validateTemplateName(name)), 'template build', `template ${name}`, () => this.templates.build(name, opts, this.progress));
  }

  async listTemplates(): Promise<TemplateInfo[]> {
    await this.pool.ensure();
    return this.templates.list();
  }

  // ---- template import (issue 6) ----
  // `template import/download/remove/info`; the importer loads only when one of them runs.

  async importTemplate(source: string, opts: import('../templates/import.js').ImportOptions = {}): Promise<BuildResult> {
    await this.pool.ensure();
    return (await this.templateImporter()).import(source, opts);
  }

  async downloadTemplate(dist: string, release: string, opts: import('../templates/import.js').DownloadOptions = {}): Promise<BuildResult> {
    await this.pool.ensure();
    return (await this.templateImporter()).download(dist, release, opts);
  }

  /** Containers are clones, so none depends on a template; a build or import of it (its lock) blocks removal. */
  async removeTemplate(name: string): Promise<{ name: string; removed: string[] }> {
    await this.pool.ensure();
    return withLock(this.layout.templateLockFile(validateTemplateName(name)), 'template remove', `template ${name}`, () => this.templates.remove(name));
  }

  async templateInfo(name: string): Promise<import('../templates/import.js').TemplateDetails> {
    await this.pool.ensure();
    const { templateDetails } = await import('../templates/import.js');
    return templateDetails(await this.templates.get(name), this.layout.templateImage(name));
  }

  private async templateImporter(): Promise<import('../templates/import.js').TemplateImporter> {
    const { TemplateImporter } = await import('../templates/import.js');
    return new TemplateImporter(this.templates, this.layout, this.sys, this.progress, (name, fn) =>
      withLock(this.layout.templateLockFile(validateTemplateName(name)), 'template import', `template ${name}`, fn),
      prepareTemplate,
    );
  }
  // ---- end template import (issue 6) ----

  // ---- the pool ------------------------------------------------------------------------------

  /**
   * `pool init`: with every container stopped and locked (their images move), and nothing in
   * the pool attached to a loop device (a mounted snapshot).
   */
  /** `pool info`: the pool, what it has promised, and a hint where it cannot share extents. */
  async poolInfo(): Promise<PoolReport> {
    const p = await this.pool.info();
    const s = await this.space.figures();
    return {
      ...p,
      promised: s.promised,
      ratio: s.ratio,
      overcommit_ratio: s.overcommit_ratio,
      limit: s.limit,
      watermark: s.watermark,
      thin: s.thin,
      below_watermark: s.below_watermark,
      ...(p.reflink ? {} : { hint: NO_REFLINK_HINT.replace('this was a full copy', 'snapshots and clones are full copies') }),
    };
  }

  /** `host setup`: the sysctls density needs, the boot unit (systemd hosts), the reflink pool. */
  setup(opts: { pool?: boolean } = {}): Promise<SetupStep[]> {
    const env = Object.fromEntries(Object.entries(process.env).filter((kv): kv is [string, string] => kv[0].startsWith('VPSCTL_') && kv[1] !== undefined));
    return new HostSetup({
      run: this.sys,
      progress: () => this.progress,
      systemd: isSystemdInit(),
      bin: path.join(PACKAGE_ROOT, 'bin', 'vpsctl'),
      env,
      pool: { canReflink: () => this.pool.canReflink(), managed: async () => !!(await this.pool.record()), init: async () => void (await this.initPool({})) },
    }).run(opts);
  }

  /** `host info`. */
  info(): Promise<HostInfo> {
    return hostInfo(this);
  }

  /**
   * `host check`: the kernel features and tools vpsctl needs, the pool's space, and what
   * stopped containers left behind (removed, and flushed rules rebuilt, with `fix`).
   */
  async check(fix = false): Promise<HostCheckReport> {
    const r = { ...hostChecks(this.cgroups), leftovers: [...(await this.networks.check(fix)), ...(await this.halfMade(fix))] };
    r.checks.push(
      await this.space.figures().then(spaceCheck, (e: Error) => ({ name: 'pool space', status: 'warn' as const, required: false, detail: `cannot read the pool's figures: ${e.message}`, hint: 'see vpsctl pool info' })),
    );
    return r;
  }

  /**
   * What killed creates, clones, imports and snapshots left: a container dir still marked
   * `.partial` whose maker is gone, `.partial` images. With `fix`, each goes under its
   * container's lock (one an operation holds now is left alone and named).
   */
  private async halfMade(fix: boolean): Promise<NetFinding[]> {
    const out: NetFinding[] = [];
    const ids = new Set(await this.ids());
    const partialImages = (await fsp.readdir(this.layout.imagesDir()).catch(() => [] as string[])).filter((f) => f.endsWith('.img.partial'));
    for (const f of partialImages) ids.add(f.slice(0, -'.img.partial'.length));
    for (const d of await fsp.readdir(path.join(this.settings.pool, 'snapshots')).catch(() => [] as string[])) ids.add(d);
    for (const id of [...ids].sort()) {
      if (!/^[a-z0-9-]+$/.test(id)) continue;
      const marker = await this.partialMarker(id);
      if (marker?.live) continue; // its maker is still at work
      const halfMade = marker !== undefined;
      const img = `${this.layout.image(id)}.partial`;
      const snaps = new SnapshotFiles(this.layout, id);
      const snapPartials = (await fsp.readdir(snaps.dir).catch(() => [] as string[])).filter((f) => f.endsWith('.partial'));
      const problems = [
        ...(halfMade ? [`container ${id} is half-made (${marker.text}, gone)`] : []),
        ...(!halfMade && (await exists(img)) ? [`${img} is left from a killed create, clone or import`] : []),
        ...snapPartials.map((f) => `${path.join(snaps.dir, f)} is left from a killed snapshot`),
      ];
      if (!problems.length) continue;
      if (!fix) {
        out.push(...problems.map((problem) => ({ problem })));
        continue;
      }
      try {
        if (halfMade) await this.destroy(id, { force: true });
        else
          await this.lock(id, 'host check --fix', async () => {
            await fsp.rm(img, { force: true });
            await snaps.sweep();
          });
        out.push(...problems.map((problem) => ({ problem, fixed: 'removed' })));
      } catch (e) {
        out.push(...problems.map((problem) => ({ problem: `${problem}; not removed: ${(e as Error).message}` })));
      }
    }
    return out;
  }

  initPool(opts: PoolInitOptions): Promise<PoolInfo> {
    return withLock(this.layout.poolLockFile(), 'pool init', 'the pool', async () => {
      const ids = await this.ids();
      const running: string[] = [];
      for (const id of ids) if ((await this.runtime.state(id)).state) running.push(id);
      if (running.length) throw wrongState(`containers are running: ${running.join(', ')}`, 'stop them first: pool init moves their images');
      const loops = await this.sys.run('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { reject: false });
      const inPool = loops.stdout.split('\n').map((l) => l.trim()).filter((f) => f.startsWith(`${this.settings.pool}/`));
      if (inPool.length) throw wrongState(`files in the pool are attached to loop devices: ${inPool.join(', ')}`, 'unmount mounted snapshots first (vpsctl snapshot umount ID NAME)');
      const hold = async (i: number): Promise<PoolInfo> => {
        if (i < ids.length) return this.lock(ids[i], 'pool init', () => hold(i + 1));
        // every container locked now: one started between the check above and its lock?
        for (const id of ids) if ((await this.runtime.state(id)).state) throw wrongState(`container ${id} was started meanwhile`, 'stop it and retry');
        return this.pool.init(opts, this.progress);
      };
      return hold(0);
    });
  }

  // ---- containers --------------------------------------------------------------------------

  async config(id: string): Promise<ContainerConfig> {
    validateId(id);
    const file = this.layout.configFile(id);
    const text = await readText(file);
    if (text === undefined) {
      if (await exists(path.join(this.layout.containerDir(id), '.partial'))) {
        throw wrongState(`container ${id} is half-made (an interrupted create)`, `remove it with: vpsctl destroy ${id}`);
      }
      throw notFound(`container ${id} does not exist`, 'see `vpsctl list`');
    }
    return parseConfig(text, file, id);
  }

  async ids(): Promise<string[]> {
    const names = await fsp.readdir(this.layout.containersDir()).catch(() => [] as string[]);
    return names.filter((n) => /^[a-z0-9-]+$/.test(n)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  }

  async create(id: string, opts: CreateOptions): Promise<ContainerStatus> {
    validateId(id);
    const hostname = validateHostname(opts.hostname ?? id);
    await this.pool.ensure();
    const tpl = await this.templates.get(opts.template);
    const disk = opts.disk ?? 10 * 1024 ** 3;
    if (!Number.isSafeInteger(disk) || disk <= 0) throw invalid(`disk size must be positive`);
    if (disk < tpl.size) {
      throw invalid(`disk ${formatSize(disk)} is smaller than template ${tpl.name} (${formatSize(tpl.size)})`, `use --disk ${formatSize(Math.ceil(tpl.size / 1024 ** 3) * 1024 ** 3)} or more`);
    }
    const limits: Limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    await this.resources.overcommit(id, limits.memory, !!opts.strict);
    // a taken id says so (exit 5) before any space is weighed or address reserved
    if (await exists(this.layout.containerDir(id))) throw wrongState(`container ${id} already exists`, `pick another id, or remove it with: vpsctl destroy ${id}`);
    // checked and reserved before anything is made: a bad or taken address changes nothing,
    // and parallel creates (--ipadd auto) each get their own
    const network = opts.network ? await this.networks.reserve(id, opts.network) : undefined;
    try {
      return await this.createReserved(id, opts, tpl, disk, hostname, limits, network);
    } finally {
      if (network) await this.networks.release(id);
    }
  }

  private createReserved(id: string, opts: CreateOptions, tpl: TemplateInfo, disk: number, hostname: string, limits: Limits, network: NetworkConfig | undefined): Promise<ContainerStatus> {
    return this.lock(id, 'create', () =>
      this.space.within(disk, `container ${id}'s ${formatSize(disk)} disk`, { strict: opts.strict, growsPromise: true }, () => this.provision(id, {
        what: `create from ${tpl.name}`,
        hostname,
        privileged: !!opts.privileged,
        shiftIds: opts.shiftIds,
        steps: 2,
        fill: async (tmpImg) => {
          this.progress.step(1, 4, `cloning template ${tpl.name}`);
          await this.snap.clone(this.layout.templateImage(tpl.name), tmpImg, this.copyProgress(`template ${tpl.name}`));
          this.progress.step(2, 4, `growing the disk to ${formatSize(disk)}`);
          await this.images.grow(tmpImg, disk);
        },
        base: { template: tpl.name, disk, os: { family: tpl.os, version: tpl.version, arch: tpl.arch }, init: '/sbin/init', limits, ...(opts.onboot ? { onboot: true } : {}), ...(opts.bootorder ? { bootorder: opts.bootorder } : {}) },
        identity: opts.identity,
        network,
      })),
    );
  }

  /**
   * Makes a container around an image that `fill` writes to a temporary path: the one path of
   * create, clone and import. It gets its own id range (unless privileged), its hostname and a
   * fresh machine-id (and fresh SSH host keys at first boot when `freshHostKeys`), and its
   * config. Nothing is half-made: a failure removes all of it, a crash leaves a `.partial`
   * marker that `destroy` understands. The caller holds the container's lock.
   */
  async provision(id: string, spec: ProvisionSpec): Promise<ContainerStatus> {
    await this.pool.ensure();
    if (await exists(`${this.settings.pool}.new`)) {
      // a pool init holds the pool lock while it moves the pool; a .new without it is what a
      // killed init left (the next init clears it), and must not block creates forever
      await withLock(this.layout.poolLockFile(), 'create', 'the pool', async () => undefined).catch((e: unknown) => {
        if (e instanceof VpsError && e.exitCode === ExitCode.LOCKED) throw new VpsError(ExitCode.LOCKED, 'a pool init is moving the pool', { hint: 'wait for it to finish and retry' });
        throw e;
      });
    }
    const dir = this.layout.containerDir(id);
    if (await exists(dir)) {
      throw new VpsError(ExitCode.WRONG_STATE, `container ${id} already exists`, { hint: `pick another id, or remove it with: vpsctl destroy ${id}` });
    }
    await this.pool.prepare();
    await fsp.mkdir(this.layout.containersDir(), { recursive: true, mode: 0o700 });
    await fsp.mkdir(dir, { mode: 0o700 });
    // a half-made container is marked, so that a crash mid-create is recognisable and destroyable
    await fsp.writeFile(path.join(dir, '.partial'), `${spec.what} by pid ${process.pid}\n`, { mode: 0o600 });
    const img = this.layout.image(id);
    const tmpImg = `${img}.partial`;
    const mnt = path.join(this.layout.runDir(id), 'create-mnt');
    const total = spec.steps + 2;
    let mounted = false;
    try {
      let idmap: IdMap | undefined;
      if (spec.privileged) {
        this.progress.warn(`container ${id} is privileged: its root is the host's root, so it is not a security boundary; never give it to an untrusted tenant`);
      } else {
        idmap = await this.idmaps.allocate(id);
      }
      await spec.fill(tmpImg);
      this.progress.step(spec.steps + 1, total, `writing hostname and machine-id${spec.freshHostKeys ? ', clearing SSH host keys' : ''}`);
      await fsp.mkdir(this.layout.runDir(id), { recursive: true, mode: 0o700 });
      await this.images.mount(tmpImg, mnt);
      mounted = true;
      await applyPersonality(mnt, {
        ...(spec.identity ?? {}),
        hostname: spec.hostname,
        freshHostKeys: !!spec.freshHostKeys,
        ...(spec.network ? { network: this.networks.guestInput(spec.network) } : spec.network === null ? { dropNetwork: GUEST_IF } : {}),
      });
      const shifted = !!idmap && (spec.shiftIds || !!spec.shiftedFrom);
      if (shifted && idmap) {
        this.progress.info(`shifting the image's ids into ${idmap.uid}-${idmap.uid + idmap.count - 1}`);
        await shiftIds(mnt, idmap, spec.shiftedFrom);
      }
      await this.images.umount(mnt);
      mounted = false;
      this.progress.step(total, total, 'recording the configuration');
      const cfg: ContainerConfig = {
        ...spec.base,
        id,
        hostname: spec.hostname,
        created: new Date().toISOString(),
        privileged: spec.privileged,
        ...(idmap ? { idmap } : {}),
        ...(shifted ? { shifted: true } : {}),
        ...(spec.network ? { network: spec.network } : {}),
      };
      await fsp.rename(tmpImg, img);
      await spec.after?.(cfg);
      // the address check again, under the network lock, with the config written inside it
      await this.networks.commit(id, spec.network ?? undefined, () => writeFileAtomic(this.layout.configFile(id), renderConfig(cfg), 0o600));
      await fsp.rm(path.join(dir, '.partial'));
      await fsp.rm(this.layout.runDir(id), { recursive: true, force: true });
      return this.statusOf(cfg);
    } catch (e) {
      if (mounted) await this.sys.run('umount', ['-l', '--', mnt], { reject: false });
      await fsp.rm(tmpImg, { force: true });
      await fsp.rm(img, { force: true });
      await fsp.rm(this.layout.snapshotsDir(id), { recursive: true, force: true });
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rm(this.layout.runDir(id), { recursive: true, force: true });
      await this.idmaps.release(id);
      throw e;
    }
  }

  async start(id: string, opts: StartOptions = {}): Promise<StartResult> {
    await this.config(id); // a missing container is reported before any lock file is made
    const res = await this.lock(id, 'start', () => this.startLocked(id, opts));
    if (opts.waitMs !== undefined) {
      (res as StartResult).system_state = await this.waitSystemRunning(id, opts.waitMs);
    }
    return res;
  }

  /** start's work, for a caller that holds the container's lock. */
  async startLocked(id: string, opts: StartOptions = {}): Promise<StartResult> {
    {
      const cfg = await this.config(id); // read again under the lock: a destroy+create may have run
      for (const f of opts.allowMissing ?? []) {
        this.progress.warn(`starting ${id} without requiring ${f}: if the host lacks it, the container runs without that protection`);
      }
      const { state } = await this.runtime.state(id);
      if (state) throw wrongState(`container ${id} is already running (init pid ${state.init_pid})`, `stop it first: vpsctl stop ${id}`);
      await this.reconcile(id);
      await this.pool.ensure();
      const img = this.layout.image(id);
      if (!(await exists(img))) throw notFound(`the disk image of container ${id} is missing (${img})`, `restore it, or remove the container with: vpsctl destroy ${id}`);
      await this.images.assertPlainImage(img);
      // replays the journal after an unclean stop; quick on a clean filesystem
      await this.images.check(img);
      const limits = cfg.limits ?? {};
      const lxcfs = await exists(LXCFS_MEMINFO).catch(() => false);
      const spaceLow = await this.space.freezeBelow();
      const spec: SpawnSpec = {
        id,
        image: img,
        rootfs: this.layout.rootfs(id),
        runDir: this.layout.runDir(id),
        hostname: cfg.hostname,
        init: cfg.init,
        cgroups: spawnCgroupSpecs(this.cgroups, this.settings.cgroupParent, id),
        ...(spaceLow ? { spaceLow } : {}),
        ...(limits.nofile ? { nofile: limits.nofile } : {}),
        ...(lxcfs ? { lxcfs: LXCFS_DIR } : {}),
        ...(cfg.privileged || !cfg.idmap ? {} : { userns: { ...cfg.idmap, shifted: !!cfg.shifted } }),
        ...(opts.allowMissing?.length ? { allowMissing: opts.allowMissing } : {}),
        // the monitor writes the limits (IO throttles on its loop device too) before init is born
        limits: this.resources.spawnLimits(id, limits),
      };
      let r;
      try {
        // the rules before the veth: it never exists without them
        spec.net = await this.networks.beforeSpawn(cfg);
        r = await this.runtime.spawn(spec, this.cgroups.systemd ? systemdUnits(this.settings.cgroupParent, id) : undefined);
      } catch (e) {
        await this.reconcile(id).catch(() => undefined);
        throw e;
      }
      this.resources.reportSkipped(id, r.limits);
      return { id, state: 'running' as const, init_pid: r.init_pid, monitor_pid: r.monitor_pid, loop: r.loop };
    }
  }

  /** Polls `systemctl is-system-running` inside until it is running or degraded. */
  async waitSystemRunning(id: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = 'unknown';
    let failure = ''; // why the last look inside failed, when it did
    for (;;) {
      const r = await this.exec(id, ['systemctl', 'is-system-running'], { capture: true }).catch((e: unknown) => {
        if (e instanceof VpsError && e.exitCode === ExitCode.WRONG_STATE) throw e; // it stopped
        failure = e instanceof Error ? e.message : String(e);
        return { id, exitCode: 1, stdout: '' };
      });
      if (r.stdout?.trim()) failure = '';
      last = r.stdout?.trim() || last;
      if (last === 'running' || last === 'degraded') return last;
      if (Date.now() >= deadline) {
        const why = failure ? `; looking inside failed: ${failure}` : '';
        throw new VpsError(ExitCode.FAILED, `container ${id} did not finish booting in ${Math.round(timeoutMs / 1000)}s (systemd says ${last}${why})`, {
          hint: `read its console log: vpsctl console ${id} --log, or run: vpsctl exec ${id} -- systemctl --failed`,
        });
      }
      await sleep(100);
    }
  }

  async stop(id: string, opts: StopOptions = {}): Promise<StopResult> {
    try {
      await this.config(id);
    } catch (e) {
      // a damaged config.yaml does not keep a running container up: it stops from its
      // runtime state (state.json), and the config waits to be fixed before its next start
      if (!(e instanceof VpsError) || e.exitCode === ExitCode.NOT_FOUND || !(await this.runtime.state(id)).state) throw e;
      this.progress.warn(`container ${id}'s config is damaged (${e.message}); stopping it from its runtime state: fix ${this.layout.configFile(id)} before its next start`);
    }
    return this.lock(id, 'stop', () => this.stopLocked(id, opts));
  }

  /** stop's work, for a caller that holds the container's lock. */
  async stopLocked(id: string, opts: StopOptions = {}): Promise<StopResult> {
    const { state } = await this.runtime.state(id);
    if (!state) {
      await this.reconcile(id);
      throw wrongState(`container ${id} is not running`);
    }
    const held = opts.force ? null : await this.spaceFrozen(id);
    if (held) {
      // its systemd could not write its way down: it would only wait out the timeout
      throw wrongState(`container ${id}'s writes are held since ${held.since}: the pool is out of space (${formatSize(held.free)} free, under disk_freeze_free ${formatSize(held.low)})`, `free space in the pool and it goes on by itself (vpsctl pool info); or stop it now as a power cut would: vpsctl stop ${id} --force`);
    }
    const how = await this.halt(state, opts);
    await this.reconcile(id);
    return { id, state: 'stopped' as const, how };
  }

  private async halt(state: RuntimeState, opts: StopOptions): Promise<StopResult['how']> {
    if (!opts.force) {
      this.runtime.signalInit(state, this.runtime.haltSignal(state.init_pid));
      if (await this.runtime.waitGone(state, opts.timeoutMs ?? 30_000)) return 'clean';
      this.progress.warn(`container ${state.id} did not stop in time; killing it`);
    }
    // SIGKILL to init kills every process of its pid namespace; the monitor then tears down
    this.runtime.signalInit(state, 'SIGKILL');
    if (await this.runtime.waitGone(state, 15_000)) return 'killed';
    this.runtime.signal(state.monitor_pid, 'SIGTERM');
    if (await this.runtime.waitGone(state, 5_000)) return 'killed';
    throw failed(`the monitor of container ${state.id} (pid ${state.monitor_pid}) does not exit`, { hint: `kill it by hand: kill -9 ${state.monitor_pid}` });
  }

  async restart(id: string, opts: StopOptions & StartOptions = {}): Promise<StartResult> {
    const { state } = await this.runtime.state(validateId(id));
    if (state) await this.stop(id, opts);
    return this.start(id, opts);
  }

  async destroy(id: string, opts: { force?: boolean } = {}): Promise<{ id: string; destroyed: true }> {
    validateId(id);
    const dir = this.layout.containerDir(id);
    if (!(await exists(dir))) throw notFound(`container ${id} does not exist`, 'see `vpsctl list`');
    return this.lock(id, 'destroy', async () => {
      const { state } = await this.runtime.state(id);
      if (state) {
        if (!opts.force) throw wrongState(`container ${id} is running`, `stop it first (vpsctl stop ${id}) or use --force`);
        await this.halt(state, { force: true });
      }
      await this.reconcile(id);
      await this.pool.ensure();
      // the range goes first: a crash below leaves a destroyable dir, never a leaked range
      await this.idmaps.release(id);
      await this.snapshotsGone(id);
      await fsp.rm(this.layout.image(id), { force: true });
      await fsp.rm(`${this.layout.image(id)}.partial`, { force: true });
      // what a killed export left (export clears its own only on its next run)
      await fsp.rm(this.layout.exportStage(id), { recursive: true, force: true });
      await fsp.rm(this.layout.exportFrozenImage(id), { force: true });
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rm(this.layout.runDir(id), { recursive: true, force: true });
      return { id, destroyed: true as const };
    });
  }

  /** Destroy's part for snapshots: unmounts any mounted one, removes them and their schedule. */
  private async snapshotsGone(id: string): Promise<void> {
    const files = new SnapshotFiles(this.layout, id);
    for (const f of await fsp.readdir(files.dir).catch(() => [] as string[])) {
      if (!f.endsWith('.img')) continue;
      for (const loop of await this.images.loopDevices(path.join(files.dir, f))) {
        for (const m of mountsOfDevice(loop)) await this.sys.run('umount', ['--', m], { reject: false });
      }
    }
    await fsp.rm(files.dir, { recursive: true, force: true });
    await fsp.rm(cronFile(this.settings, id), { force: true });
  }

  /**
   * Puts the host back in order for a container that is not running, from kernel facts:
   * leftover mounts of its run dir, loop devices on its image, cgroups, a stale state file.
   */
  async reconcile(id: string): Promise<string[]> {
    const fixed: string[] = [];
    for (const m of await unmountUnder(this.sys, this.layout.runDir(id))) fixed.push(`unmounted ${m}`);
    const img = this.layout.image(id);
    for (let i = 0; i < 20; i++) {
      const loops = await this.images.loopDevices(img);
      if (loops.length === 0) break;
      if (i < 19) {
        await sleep(100); // the kernel releases an autoclear loop shortly after its last mount goes
        continue;
      }
      for (const l of loops) {
        await this.images.detach(l);
        fixed.push(`detached ${l}`);
      }
    }
    for (const dir of await existingCgroups(this.cgroups, this.settings.cgroupParent, id)) {
      try {
        await removeCgroupTree(dir);
        fixed.push(`removed cgroup ${dir}`);
      } catch (e) {
        // processes nobody holds: a container whose monitor died without taking init along
        // (one an older vpsctl started); they go down as on a power cut
        if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || !(await killCgroupTree(dir))) {
          throw failed(`cgroup ${dir} of container ${id} still has processes`, { hint: `see ${dir}/cgroup.procs`, cause: e });
        }
        await removeCgroupTree(dir);
        fixed.push(`killed what was left in cgroup ${dir}, and removed it`);
      }
    }
    if (await exists(this.layout.stateFile(id))) {
      await fsp.rm(this.layout.stateFile(id), { force: true });
      fixed.push('removed stale state');
    }
    fixed.push(...(await this.networks.teardown(id)));
    return fixed;
  }

  async list(): Promise<ContainerSummary[]> {
    const out: ContainerSummary[] = [];
    for (const id of await this.ids()) {
      try {
        const cfg = await this.config(id);
        const { state } = await this.runtime.state(id);
        out.push({ id, state: state ? 'running' : 'stopped', mode: cfg.privileged ? 'privileged' : 'unprivileged', template: cfg.template, hostname: cfg.hostname, disk: cfg.disk, init_pid: state?.init_pid ?? null, addresses: cfg.network?.addresses ?? [], onboot: !!cfg.onboot, bootorder: cfg.bootorder ?? 0 });
      } catch {
        out.push({ id, state: 'broken', mode: null, template: '-', hostname: '-', disk: 0, init_pid: null, addresses: [], onboot: false, bootorder: 0 });
      }
    }
    return out;
  }

  async status(id: string): Promise<ContainerStatus> {
    return this.statusOf(await this.config(id));
  }

  /** The monitor froze the container's filesystem because the pool is nearly full (vps-spawn --space-low). */
  private async spaceFrozen(id: string): Promise<SpaceFrozen | null> {
    const text = await readText(path.join(this.layout.runDir(id), 'space-frozen'));
    if (text === undefined) return null;
    try {
      const j = JSON.parse(text) as { since: number; free: number; low: number };
      return { since: new Date(j.since * 1000).toISOString(), free: j.free, low: j.low };
    } catch {
      return null;
    }
  }

  private async statusOf(cfg: ContainerConfig): Promise<ContainerStatus> {
    const { state } = await this.runtime.state(cfg.id);
    let diskUsed: number | null = null;
    if (state) {
      try {
        const s = await fsp.statfs(`/proc/${state.init_pid}/root/`);
        diskUsed = (s.blocks - s.bfree) * s.bsize;
      } catch {
        diskUsed = null;
      }
    } else {
      diskUsed = await this.images.info(this.layout.image(cfg.id)).then((i) => i.used).catch(() => null);
    }
    return {
      id: cfg.id,
      state: state ? 'running' : 'stopped',
      mode: cfg.privileged ? 'privileged' : 'unprivileged',
      idmap: cfg.idmap ?? null,
      template: cfg.template,
      hostname: cfg.hostname,
      os: cfg.os ?? null,
      created: cfg.created,
      disk: cfg.disk,
      disk_used: diskUsed,
      memory_used: state ? (memoryUsage(this.cgroups, this.settings.cgroupParent, cfg.id) ?? null) : null,
      init_pid: state?.init_pid ?? null,
      monitor_pid: state?.monitor_pid ?? null,
      started: state ? new Date(state.started * 1000).toISOString() : null,
      uptime_s: state ? Math.max(0, Math.round(Date.now() / 1000 - state.started)) : null,
      space_frozen: state ? await this.spaceFrozen(cfg.id) : null,
      loop: state?.loop ?? null,
      image: this.layout.image(cfg.id),
      limits: cfg.limits ?? {},
      addresses: cfg.network?.addresses ?? [],
      onboot: !!cfg.onboot,
      bootorder: cfg.bootorder ?? 0,
      network: this.networks.status(cfg),
    };
  }

  /**
   * `set --hostname/--nameserver/--userpasswd/--ssh-key`: writes them the way the container's
   * OS reads them. A stopped container's image is mounted on the host for it (nothing runs in
   * it, so nothing races the writes, and no write follows a link); a running one is changed
   * by commands run inside it (its own kernel view confines them), and its hostname is set live.
   */
  async setIdentity(
    id: string,
    change: Identity & { hostname?: string },
    netChange?: NetChange,
  ): Promise<{ id: string; live: boolean; result: PersonalityResult; network?: NetworkStatus | null }> {
    await this.config(id);
    return this.lock(id, 'set', async () => {
      const cfg = await this.config(id);
      const hostname = change.hostname ?? cfg.hostname;
      // the whole change is checked before anything is written
      const net = netChange ? await this.networks.plan(id, cfg.network, netChange) : cfg.network;
      const netInput: Partial<PersonalityInput> = !netChange
        ? {}
        : net?.addresses.length
          ? { network: this.networks.guestInput(net) }
          : { dropNetwork: GUEST_IF };
      const input: PersonalityInput = { ...change, ...netInput, hostname, keepMachineId: true };
      const next: ContainerConfig = { ...cfg, hostname };
      if (net) next.network = net;
      else delete next.network;
      const { state } = await this.runtime.state(id);
      const write = async (): Promise<PersonalityResult> => {
        let result: PersonalityResult;
        if (state) {
          result = await applyPersonalityTo(new ContainerTree(this, id), input);
          if (change.hostname) await this.exec(id, ['hostname', hostname], { capture: true });
        } else {
          const img = this.layout.image(id);
          await this.images.assertPlainImage(img);
          await this.images.check(img);
          const mnt = path.join(this.layout.runDir(id), 'set-mnt');
          await this.images.mount(img, mnt);
          try {
            result = await applyPersonalityTo(new HostTree(mnt), input);
          } finally {
            await this.images.umount(mnt).catch(() => this.sys.run('umount', ['-l', '--', mnt], { reject: false }));
            await fsp.rm(this.layout.runDir(id), { recursive: true, force: true });
          }
        }
        return result;
      };
      const writeConfig = async (): Promise<void> => {
        if (renderConfig(next) !== renderConfig(cfg)) await writeFileAtomic(this.layout.configFile(id), renderConfig(next), 0o600);
      };
      // addresses are checked again and recorded under the network lock; a running
      // container's live change follows (it takes that lock itself)
      if (!state) {
        // before the network lock is taken: reconcile may need it for a leftover veth
        await this.pool.ensure();
        await this.reconcile(id);
      }
      // the guest's files first, outside the network lock (a running container's are written by
      // its own programs, which must never hold up the other containers' network changes)
      const result = await write();
      if (netChange) {
        // addresses checked again, the config recorded and a running container changed, all
        // in one section under the network lock: the rules never disagree with the veth
        await this.networks.commit(id, net, async () => {
          await writeConfig();
          if (state) await this.networks.applyLive(next, cfg.network, state.init_pid);
        });
      } else {
        await writeConfig();
      }
      return { id, live: !!state, result, ...(netChange ? { network: this.networks.status(next) } : {}) };
    });
  }

  /** The running state, or a wrong-state error that says so. */
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

  enter(id: string, opts: { user?: string } = {}): Promise<number> {
    return this.access.enter(id, opts);
  }

  console(id: string, opts: { escape?: string; readOnly?: boolean; notice: (line: string) => void }): Promise<ConsoleEnd> {
    return this.access.console(id, opts);
  }

  consoleLog(id: string): Promise<{ id: string; log: Buffer }> {
    return this.access.consoleLog(id);
  }
}
