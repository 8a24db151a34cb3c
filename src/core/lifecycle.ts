import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { unmountUnder } from '../sys/exec.js';
import { exists, sleep, writeFileAtomic } from '../sys/fs.js';
import { mountsOfDevice } from '../sys/proc.js';
import type { SpawnSpec } from '../sys/vps-spawn.js';
import { withLock } from '../sys/lock.js';
import { PACKAGE_ROOT } from '../sys/helpers.js';
import { cronFile } from '../base/cron.js';
import { DEFAULT_LIMITS, type Limits } from '../base/limits.js';
import type { NetworkConfig } from '../base/netconfig.js';
import { renderConfig, type ContainerConfig, type IdMap } from '../base/config.js';
import { ExitCode, VpsError, failed, invalid, notFound, wrongState } from '../base/errors.js';
import { validateHostname, validateId } from '../base/ids.js';
import type { RuntimeState } from '../base/types.js';
import { formatSize } from '../base/units.js';
import { GUEST_IF } from '../net/names.js';
import { SnapshotFiles } from '../storage/snapstore.js';
import { shiftIds } from '../storage/shift.js';
import { existingCgroups, killCgroupTree, removeCgroupTree, spawnCgroupSpecs, systemdUnits } from '../limits/cgroups.js';
import { checkDeviceNodes } from './devices.js';
import { checkMounts, warnOpenMounts } from './mounts.js';
import type { TemplateInfo, TemplateStore } from '../templates/store.js';
import { applyPersonality } from '../distro/index.js';
import type { Copies, Execs, Store } from './context.js';
import type { ContainerStatus, CreateOptions, ProvisionSpec, SpaceFrozen, StartOptions, StartResult, StopOptions, StopResult } from './host-types.js';
import type { IdAllocator } from './idmap.js';
import type { Networks } from './network.js';
import type { Resources } from './resources.js';

/** Where lxcfs serves the per-container /proc files (absent: containers see the host's). */
const LXCFS_DIR = '/var/lib/lxcfs';
const LXCFS_MEMINFO = `${LXCFS_DIR}/proc/meminfo`;

/** What the life of a container needs, and nothing more. */
export type LifecycleDeps = Store &
  Copies &
  Execs & {
    readonly networks: Networks;
    readonly resources: Resources;
    readonly idmaps: IdAllocator;
    readonly templates: TemplateStore;
    readonly inventory: { statusOf(cfg: ContainerConfig): Promise<ContainerStatus>; spaceFrozen(id: string): Promise<SpaceFrozen | null> };
  };

/**
 * The life of a container: create (provision, the one path of create, clone and import),
 * start, stop, restart, destroy, and reconcile, which puts the host back in order for a
 * container that is not running. Each step undoes what it made when it fails.
 */
export class Lifecycle {
  constructor(private readonly h: LifecycleDeps) {}

  async create(id: string, opts: CreateOptions): Promise<ContainerStatus> {
    validateId(id);
    const hostname = validateHostname(opts.hostname ?? id);
    await this.h.pool.ensure();
    const tpl = await this.h.templates.get(opts.template);
    const disk = opts.disk ?? 10 * 1024 ** 3;
    if (!Number.isSafeInteger(disk) || disk <= 0) throw invalid(`disk size must be positive`);
    if (disk < tpl.size) {
      throw invalid(`disk ${formatSize(disk)} is smaller than template ${tpl.name} (${formatSize(tpl.size)})`, `use --disk ${formatSize(Math.ceil(tpl.size / 1024 ** 3) * 1024 ** 3)} or more`);
    }
    const limits: Limits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
    await checkDeviceNodes(opts.features, opts.devices, !opts.privileged); // a device the host lacks or must keep: before anything is made
    await checkMounts(opts.mounts, this.h.settings); // a host directory missing, linked or vpsctl's own: the same
    await warnOpenMounts(opts.mounts ?? [], (m) => this.h.progress.warn(m));
    await this.h.resources.overcommit(id, limits.memory, !!opts.strict);
    // a taken id says so (exit 5) before any space is weighed or address reserved
    if (await exists(this.h.layout.containerDir(id))) throw wrongState(`container ${id} already exists`, `pick another id, or remove it with: vpsctl destroy ${id}`);
    // checked and reserved before anything is made: a bad or taken address changes nothing,
    // and parallel creates (--ipadd auto) each get their own
    const network = opts.network ? await this.h.networks.reserve(id, opts.network) : undefined;
    let made: ContainerStatus;
    try {
      made = await this.createReserved(id, opts, tpl, disk, hostname, limits, network);
    } finally {
      if (network) await this.h.networks.release(id);
    }
    await this.h.hooks.post('post-create', id); // once the lock is free: it may start it
    return made;
  }

  private createReserved(id: string, opts: CreateOptions, tpl: TemplateInfo, disk: number, hostname: string, limits: Limits, network: NetworkConfig | undefined): Promise<ContainerStatus> {
    return this.h.lock(id, 'create', () =>
      this.h.space.within(disk, `container ${id}'s ${formatSize(disk)} disk`, { strict: opts.strict, growsPromise: true }, () => this.provision(id, {
        what: `create from ${tpl.name}`,
        origin: { template: tpl.name },
        hostname,
        privileged: !!opts.privileged,
        shiftIds: opts.shiftIds,
        steps: 2,
        fill: async (tmpImg) => {
          this.h.progress.step(1, 4, `cloning template ${tpl.name}`);
          await this.h.snap.clone(this.h.layout.templateImage(tpl.name), tmpImg, this.h.copyProgress(`template ${tpl.name}`));
          this.h.progress.step(2, 4, `growing the disk to ${formatSize(disk)}`);
          await this.h.images.grow(tmpImg, disk);
        },
        base: {
          template: tpl.name,
          disk,
          os: { family: tpl.os, version: tpl.version, arch: tpl.arch },
          init: '/sbin/init',
          limits,
          ...(opts.onboot ? { onboot: true } : {}),
          ...(opts.bootorder ? { bootorder: opts.bootorder } : {}),
          ...(opts.features?.length ? { features: opts.features } : {}),
          ...(opts.devices?.length ? { devices: opts.devices } : {}),
          ...(opts.mounts?.length ? { mounts: opts.mounts } : {}),
        },
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
    await this.h.pool.ensure();
    if (await exists(`${this.h.settings.pool}.new`)) {
      // a pool init holds the pool lock while it moves the pool; a .new without it is what a
      // killed init left (the next init clears it), and must not block creates forever
      await withLock(this.h.layout.poolLockFile(), 'create', 'the pool', async () => undefined).catch((e: unknown) => {
        if (e instanceof VpsError && e.exitCode === ExitCode.LOCKED) throw new VpsError(ExitCode.LOCKED, 'a pool init is moving the pool', { hint: 'wait for it to finish and retry' });
        throw e;
      });
    }
    const dir = this.h.layout.containerDir(id);
    if (await exists(dir)) {
      throw new VpsError(ExitCode.WRONG_STATE, `container ${id} already exists`, { hint: `pick another id, or remove it with: vpsctl destroy ${id}` });
    }
    await this.h.hooks.pre('pre-create', id, hookEnv(spec.origin));
    await this.h.pool.prepare();
    await fsp.mkdir(this.h.layout.containersDir(), { recursive: true, mode: 0o700 });
    await fsp.mkdir(dir, { mode: 0o700 });
    // a half-made container is marked, so that a crash mid-create is recognisable and destroyable
    await fsp.writeFile(path.join(dir, '.partial'), `${spec.what} by pid ${process.pid}\n`, { mode: 0o600 });
    const img = this.h.layout.image(id);
    const tmpImg = `${img}.partial`;
    const mnt = path.join(this.h.layout.runDir(id), 'create-mnt');
    const total = spec.steps + 2;
    let mounted = false;
    try {
      let idmap: IdMap | undefined;
      if (spec.privileged) {
        this.h.progress.warn(`container ${id} is privileged: its root is the host's root, so it is not a security boundary; never give it to an untrusted tenant`);
      } else {
        idmap = await this.h.idmaps.allocate(id);
      }
      await spec.fill(tmpImg);
      this.h.progress.step(spec.steps + 1, total, `writing hostname and machine-id${spec.freshHostKeys ? ', clearing SSH host keys' : ''}`);
      await fsp.mkdir(this.h.layout.runDir(id), { recursive: true, mode: 0o700 });
      await this.h.images.mount(tmpImg, mnt);
      mounted = true;
      await applyPersonality(mnt, {
        ...(spec.identity ?? {}),
        hostname: spec.hostname,
        freshHostKeys: !!spec.freshHostKeys,
        ...(spec.network ? { network: this.h.networks.guestInput(spec.network) } : spec.network === null ? { dropNetwork: GUEST_IF } : {}),
      });
      const shifted = !!idmap && (spec.shiftIds || !!spec.shiftedFrom);
      if (shifted && idmap) {
        this.h.progress.info(`shifting the image's ids into ${idmap.uid}-${idmap.uid + idmap.count - 1}`);
        await shiftIds(mnt, idmap, spec.shiftedFrom);
      }
      await this.h.images.umount(mnt);
      mounted = false;
      this.h.progress.step(total, total, 'recording the configuration');
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
      await this.h.networks.commit(id, spec.network ?? undefined, () => writeFileAtomic(this.h.layout.configFile(id), renderConfig(cfg), 0o600));
      await fsp.rm(path.join(dir, '.partial'));
      await fsp.rm(this.h.layout.runDir(id), { recursive: true, force: true });
      this.h.emit(id, 'created', spec.origin);
      return this.h.inventory.statusOf(cfg);
    } catch (e) {
      if (mounted) await this.h.sys.run('umount', ['-l', '--', mnt], { reject: false });
      await fsp.rm(tmpImg, { force: true });
      await fsp.rm(img, { force: true });
      await fsp.rm(this.h.layout.snapshotsDir(id), { recursive: true, force: true });
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rm(this.h.layout.runDir(id), { recursive: true, force: true });
      await this.h.idmaps.release(id);
      throw e;
    }
  }

  async start(id: string, opts: StartOptions = {}): Promise<StartResult> {
    await this.h.config(id); // a missing container is reported before any lock file is made
    const res = await this.h.lock(id, 'start', () => this.startLocked(id, opts));
    if (opts.waitMs !== undefined) {
      (res as StartResult).system_state = await this.waitSystemRunning(id, opts.waitMs);
    }
    return res;
  }

  /** start's work, for a caller that holds the container's lock. */
  async startLocked(id: string, opts: StartOptions = {}): Promise<StartResult> {
    {
      const cfg = await this.h.config(id); // read again under the lock: a destroy+create may have run
      for (const f of opts.allowMissing ?? []) {
        this.h.progress.warn(`starting ${id} without requiring ${f}: if the host lacks it, the container runs without that protection`);
      }
      const { state } = await this.h.runtime.state(id);
      if (state) throw wrongState(`container ${id} is already running (init pid ${state.init_pid})`, `stop it first: vpsctl stop ${id}`);
      await this.h.hooks.pre('pre-start', id);
      await this.reconcile(id);
      await this.h.pool.ensure();
      const img = this.h.layout.image(id);
      if (!(await exists(img))) throw notFound(`the disk image of container ${id} is missing (${img})`, `restore it, or remove the container with: vpsctl destroy ${id}`);
      await this.h.images.assertPlainImage(img);
      // replays the journal after an unclean stop; quick on a clean filesystem
      await this.h.images.check(img);
      const limits = cfg.limits ?? {};
      const lxcfs = await exists(LXCFS_MEMINFO).catch(() => false);
      const spaceLow = await this.h.space.freezeBelow();
      const spec: SpawnSpec = {
        id,
        image: img,
        rootfs: this.h.layout.rootfs(id),
        runDir: this.h.layout.runDir(id),
        hostname: cfg.hostname,
        init: cfg.init,
        cgroups: spawnCgroupSpecs(this.h.cgroups, this.h.settings.cgroupParent, id),
        ...(spaceLow ? { spaceLow } : {}),
        ...(limits.nofile ? { nofile: limits.nofile } : {}),
        ...(lxcfs ? { lxcfs: LXCFS_DIR } : {}),
        devices: await checkDeviceNodes(cfg.features, cfg.devices, !cfg.privileged),
        binds: await checkMounts(cfg.mounts, this.h.settings),
        ...(cfg.privileged || !cfg.idmap ? {} : { userns: { ...cfg.idmap, shifted: !!cfg.shifted } }),
        // the keyring calls as Proxmox's keyctl feature: ENOSYS without it (checkDeviceNodes
        // above refused it for a privileged container)
        ...(cfg.features?.includes('keyctl') && !cfg.privileged ? { keyctl: true } : {}),
        // containers inside: a clean proc and sysfs at /dev/.lxc (refused above for a privileged one)
        ...(cfg.features?.includes('nesting') && !cfg.privileged ? { nesting: true } : {}),
        ...(opts.allowMissing?.length ? { allowMissing: opts.allowMissing } : {}),
        // the monitor writes the limits (IO throttles on its loop device too) before init is born
        limits: this.h.resources.spawnLimits(id, limits),
        // and logs "started", "stopped" and what else only it sees
        events: { file: this.h.layout.eventsLog(), source: this.h.source },
        // the admin's post-stop hooks, run by the monitor however the container stops
        ...((await this.h.hooks.programs('post-stop', id)).length ? { stopHook: path.join(PACKAGE_ROOT, 'bin', 'vpsctl') } : {}),
      };
      await fsp.mkdir(path.dirname(this.h.layout.eventsLog()), { recursive: true, mode: 0o750 });
      await fsp.rm(this.h.layout.stopRequest(id), { force: true }); // a stop's that came too late
      let r;
      try {
        // the rules before the veth: it never exists without them
        spec.net = await this.h.networks.beforeSpawn(cfg);
        r = await this.h.runtime.spawn(spec, this.h.cgroups.systemd ? systemdUnits(this.h.settings.cgroupParent, id) : undefined);
      } catch (e) {
        await this.reconcile(id).catch(() => undefined);
        throw e;
      }
      this.h.resources.reportSkipped(id, r.limits);
      await this.h.hooks.post('post-start', id, { VPSCTL_INIT_PID: String(r.init_pid) });
      return { id, state: 'running' as const, init_pid: r.init_pid, monitor_pid: r.monitor_pid, loop: r.loop };
    }
  }

  /** Polls `systemctl is-system-running` inside until it is running or degraded. */
  async waitSystemRunning(id: string, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = 'unknown';
    let failure = ''; // why the last look inside failed, when it did
    for (;;) {
      const r = await this.h.exec(id, ['systemctl', 'is-system-running'], { capture: true }).catch((e: unknown) => {
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
      await this.h.config(id);
    } catch (e) {
      // a damaged config.yaml does not keep a running container up: it stops from its
      // runtime state (state.json), and the config waits to be fixed before its next start
      if (!(e instanceof VpsError) || e.exitCode === ExitCode.NOT_FOUND || !(await this.h.runtime.state(id)).state) throw e;
      this.h.progress.warn(`container ${id}'s config is damaged (${e.message}); stopping it from its runtime state: fix ${this.h.layout.configFile(id)} before its next start`);
    }
    return this.h.lock(id, 'stop', () => this.stopLocked(id, opts));
  }

  /** stop's work, for a caller that holds the container's lock. */
  async stopLocked(id: string, opts: StopOptions = {}): Promise<StopResult> {
    const { state } = await this.h.runtime.state(id);
    if (!state) {
      await this.reconcile(id);
      throw wrongState(`container ${id} is not running`);
    }
    const held = opts.force ? null : await this.h.inventory.spaceFrozen(id);
    if (held) {
      // its systemd could not write its way down: it would only wait out the timeout
      throw wrongState(`container ${id}'s writes are held since ${held.since}: the pool is out of space (${formatSize(held.free)} free, under disk_freeze_free ${formatSize(held.low)})`, `free space in the pool and it goes on by itself (vpsctl pool info); or stop it now as a power cut would: vpsctl stop ${id} --force`);
    }
    // a forced stop (a power cut, the host going down) runs them but does not let them stop it
    if (opts.force) await this.h.hooks.post('pre-stop', id, { VPSCTL_FORCE: '1' });
    else await this.h.hooks.pre('pre-stop', id);
    const how = await this.halt(state, opts);
    await this.reconcile(id);
    return { id, state: 'stopped' as const, how };
  }

  private async halt(state: RuntimeState, opts: StopOptions): Promise<StopResult['how']> {
    // the monitor's "stopped" event names who asked (and so is not a poweroff inside)
    await fsp.writeFile(this.h.layout.stopRequest(state.id), `${this.h.source}\n`, { mode: 0o600 }).catch(() => undefined);
    if (!opts.force) {
      this.h.runtime.signalInit(state, this.h.runtime.haltSignal(state.init_pid));
      if (await this.waitMonitor(state, opts.timeoutMs ?? 30_000)) return 'clean';
      this.h.progress.warn(`container ${state.id} did not stop in time; killing it`);
    }
    // SIGKILL to init kills every process of its pid namespace; the monitor then tears down
    this.h.runtime.signalInit(state, 'SIGKILL');
    if (await this.waitMonitor(state, 15_000)) return 'killed';
    this.h.runtime.signal(state.monitor_pid, 'SIGTERM');
    if (await this.h.runtime.waitGone(state, 5_000)) return 'killed';
    throw failed(`the monitor of container ${state.id} (pid ${state.monitor_pid}) does not exit`, { hint: `kill it by hand: kill -9 ${state.monitor_pid}` });
  }

  /**
   * Waits for the monitor to be gone. Once init is down the monitor may still be running the
   * post-stop hooks (it waits for them): they get their hook_timeout each, not the stop's.
   */
  private async waitMonitor(state: RuntimeState, timeoutMs: number): Promise<boolean> {
    if (await this.h.runtime.waitGone(state, timeoutMs)) return true;
    if (this.h.runtime.initAlive(state)) return false;
    const hooks = (await this.h.hooks.programs('post-stop', state.id)).length;
    return this.h.runtime.waitGone(state, hooks * (this.h.settings.hookTimeoutMs + 3000) + 5000);
  }

  async restart(id: string, opts: StopOptions & StartOptions = {}): Promise<StartResult> {
    const { state } = await this.h.runtime.state(validateId(id));
    if (state) await this.stop(id, opts);
    return this.start(id, opts);
  }

  async destroy(id: string, opts: { force?: boolean } = {}): Promise<{ id: string; destroyed: true }> {
    validateId(id);
    const dir = this.h.layout.containerDir(id);
    if (!(await exists(dir))) throw notFound(`container ${id} does not exist`, 'see `vpsctl list`');
    return this.h.lock(id, 'destroy', async () => {
      await this.h.hooks.pre('pre-destroy', id);
      const { state } = await this.h.runtime.state(id);
      if (state) {
        if (!opts.force) throw wrongState(`container ${id} is running`, `stop it first (vpsctl stop ${id}) or use --force`);
        await this.halt(state, { force: true });
      }
      await this.reconcile(id);
      await this.h.pool.ensure();
      // the range goes first: a crash below leaves a destroyable dir, never a leaked range
      await this.h.idmaps.release(id);
      await this.snapshotsGone(id);
      await fsp.rm(this.h.layout.image(id), { force: true });
      await fsp.rm(`${this.h.layout.image(id)}.partial`, { force: true });
      // what a killed export left (export clears its own only on its next run)
      await fsp.rm(this.h.layout.exportStage(id), { recursive: true, force: true });
      await fsp.rm(this.h.layout.exportFrozenImage(id), { force: true });
      await fsp.rm(dir, { recursive: true, force: true });
      await fsp.rm(this.h.layout.runDir(id), { recursive: true, force: true });
      // its lock file goes too, while held (a lock taken meanwhile is on a new file: Lock.acquire)
      await fsp.rm(this.h.layout.lockFile(id), { force: true });
      this.h.emit(id, 'destroyed');
      return { id, destroyed: true as const };
    });
  }

  /** Destroy's part for snapshots: unmounts any mounted one, removes them and their schedule. */
  private async snapshotsGone(id: string): Promise<void> {
    const files = new SnapshotFiles(this.h.layout, id);
    for (const f of await fsp.readdir(files.dir).catch(() => [] as string[])) {
      if (!f.endsWith('.img')) continue;
      for (const loop of await this.h.images.loopDevices(path.join(files.dir, f))) {
        for (const m of mountsOfDevice(loop)) await this.h.sys.run('umount', ['--', m], { reject: false });
      }
    }
    await fsp.rm(files.dir, { recursive: true, force: true });
    await fsp.rm(cronFile(this.h.settings, id), { force: true });
  }

  /**
   * Puts the host back in order for a container that is not running, from kernel facts:
   * leftover mounts of its run dir, loop devices on its image, cgroups, a stale state file.
   */
  async reconcile(id: string): Promise<string[]> {
    const fixed: string[] = [];
    for (const m of await unmountUnder(this.h.sys, this.h.layout.runDir(id))) fixed.push(`unmounted ${m}`);
    const img = this.h.layout.image(id);
    for (let i = 0; i < 20; i++) {
      const loops = await this.h.images.loopDevices(img);
      if (loops.length === 0) break;
      if (i < 19) {
        await sleep(100); // the kernel releases an autoclear loop shortly after its last mount goes
        continue;
      }
      for (const l of loops) {
        await this.h.images.detach(l);
        fixed.push(`detached ${l}`);
      }
    }
    for (const dir of await existingCgroups(this.h.cgroups, this.h.settings.cgroupParent, id)) {
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
    if (await exists(this.h.layout.stateFile(id))) {
      await fsp.rm(this.h.layout.stateFile(id), { force: true });
      fixed.push('removed stale state');
    }
    fixed.push(...(await this.h.networks.teardown(id)));
    return fixed;
  }
}

/** A "created" event's origin as hook environment: VPSCTL_TEMPLATE, VPSCTL_FROM, VPSCTL_IMPORTED. */
function hookEnv(origin: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(Object.entries(origin).map(([k, v]) => [`VPSCTL_${k.toUpperCase()}`, String(v)]));
}
