import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { exists, writeFileAtomic } from '../sys/fs.js';
import { PACKAGE_ROOT } from '../sys/helpers.js';
import { mountsOfDevice, which } from '../sys/proc.js';
import { NO_REFLINK_HINT } from '../storage/pool.js';
import { SnapshotFiles, defaultSnapshotName, pruneSelection, type SnapshotMeta } from '../storage/snapstore.js';
import { poolFull } from '../storage/vpssnap.js';
import { renderConfig } from '../base/config.js';
import { cronFile, validateCron } from '../base/cron.js';
import { ExitCode, VpsError, invalid, notFound, wrongState } from '../base/errors.js';
import type { Copies, Power, Store } from './context.js';
import { validateId, validateSnapshotName } from '../base/ids.js';
import { formatSize, parseDuration } from '../base/units.js';

export interface SnapshotCreateOptions {
  name?: string;
  description?: string;
  /** Keep only the N newest unpinned snapshots afterwards. */
  keep?: number;
  /** Expire this long after creation. */
  expiryMs?: number;
  /** A manual snapshot that must stay: never pruned. */
  noExpiry?: boolean;
  /** Run by the schedule's cron entry: the container's `snapshots.expiry` applies. */
  scheduled?: boolean;
  /** Refuse (exit 7) rather than warn when the snapshot's space would pass the pool's size. */
  strict?: boolean;
}

export interface SnapshotCreated extends SnapshotMeta {
  /** Expired or beyond --keep: removed by this run. */
  pruned: string[];
  /** Set when the pool could not share extents (the snapshot is a full copy). */
  hint?: string;
}

export interface SnapshotListing extends SnapshotMeta {
  /** Space only this snapshot holds: what deleting it gives back. */
  exclusive: number | null;
  /** Mount points where `snapshot mount` put it. */
  mounted: string[];
}

export interface PruneOptions {
  keep?: number;
  olderThanMs?: number;
  dryRun?: boolean;
}

export interface Pruned {
  id: string;
  name: string;
  reason: 'expired' | 'rule';
}

export interface AllResult {
  id: string;
  ok: boolean;
  name?: string;
  method?: string;
  error?: { code: string; exitCode: number; message: string };
}

export interface ScheduleResult {
  id: string;
  schedule: string | null;
  expiry: string | null;
  file: string;
  /** No cron daemon is installed: nothing will run the entry until one is. */
  warning?: string;
}

const MAX_DESCRIPTION = 500;

/** What snapshots need: the state, image copies, and start and stop around a restore. */
export type SnapshotsDeps = Store & Copies & Power;

/** Snapshots of containers: create, list, restore, delete, prune, mount, schedule. */
export class Snapshots {
  constructor(private readonly host: SnapshotsDeps) {}

  private files(id: string): SnapshotFiles {
    return new SnapshotFiles(this.host.layout, id);
  }

  private async existing(id: string, name: string): Promise<SnapshotMeta> {
    validateSnapshotName(name);
    const m = await this.files(id).get(name);
    if (!m) throw notFound(`snapshot ${name} of container ${id} does not exist`, `see: vpsctl snapshot list ${id}`);
    return m;
  }

  async create(id: string, opts: SnapshotCreateOptions = {}): Promise<SnapshotCreated> {
    const cfg = await this.host.config(id);
    if (opts.name !== undefined) validateSnapshotName(opts.name);
    if (opts.description !== undefined && (opts.description.length > MAX_DESCRIPTION || /[\x00-\x1f\x7f]/.test(opts.description))) {
      throw invalid(`a description is at most ${MAX_DESCRIPTION} characters on one line`);
    }
    if (opts.noExpiry && opts.expiryMs !== undefined) throw invalid('--expiry and --no-expiry contradict each other');
    await this.host.pool.ensure();
    return this.host.lock(id, 'snapshot create', async () => {
      const files = this.files(id);
      await files.sweep();
      // expired ones go first, so that a full pool does not stop the next snapshot
      const source = opts.scheduled ? 'cron' : this.host.source;
      const pruned = (await this.pruneLocked(id, {}, source)).map((p) => p.name);
      const taken = new Set((await files.list()).map((s) => s.name));
      const now = new Date();
      const name = opts.name ?? defaultSnapshotName(now, taken);
      if (taken.has(name)) throw wrongState(`container ${id} already has a snapshot named ${name}`, `pick another name, or remove it: vpsctl snapshot delete ${id} ${name}`);
      const expiryMs = opts.expiryMs ?? (opts.scheduled && cfg.snapshots?.expiry ? parseDuration(cfg.snapshots.expiry) : undefined);
      const { state } = await this.host.runtime.state(id);
      // the snapshot may come to hold what the image holds now and no snapshot or template
      // shares: once the container rewrites it (reflink), or at once (a copy)
      const need = await this.host.space.snapshotNeed(this.host.layout.image(id));
      const reservation = await this.host.space.admit(need, `snapshot ${name} of ${id} (${formatSize(need)} of its image no other snapshot holds)`, { strict: opts.strict, growsPromise: true }).catch((e: unknown) => {
        // what was pruned to make room is gone either way: the refusal says so
        if (e instanceof VpsError && pruned.length) throw new VpsError(e.exitCode, `${e.message} (expired snapshots removed first: ${pruned.join(', ')})`, { hint: e.hint });
        throw e;
      });
      let r;
      try {
        await fsp.mkdir(files.dir, { recursive: true, mode: 0o700 });
        this.host.progress.info(state ? `freezing ${id}'s filesystem and cloning its image` : `cloning ${id}'s image (stopped)`);
        r = await this.host.copyImage(id, files.partial(name), state, this.host.copyProgress(`snapshot ${name}`));
      } catch (e) {
        await fsp.rm(files.partial(name), { force: true });
        await reservation.release();
        if (e instanceof VpsError && e.exitCode === ExitCode.NO_RESOURCES) throw poolFull(`snapshot ${name} of ${id} was not made (${e.message})`, e);
        throw e;
      }
      const meta: SnapshotMeta = {
        name,
        id,
        created: now.toISOString(),
        description: opts.description ?? null,
        state: state ? 'running' : 'stopped',
        expiry: expiryMs !== undefined ? new Date(now.getTime() + expiryMs).toISOString() : null,
        pinned: !!opts.noExpiry,
        scheduled: !!opts.scheduled,
        method: r.method,
        freeze_ms: r.freeze_ms ?? null,
        frozen_ms: r.frozen_ms ?? null,
        disk: cfg.disk,
      };
      try {
        await files.commit(meta);
      } finally {
        await reservation.release();
      }
      this.host.emit(id, 'snapshot-created', { name, method: r.method, scheduled: !!opts.scheduled }, source);
      await this.host.hooks.post('post-snapshot', id, { VPSCTL_SNAPSHOT: name });
      if (opts.keep !== undefined) pruned.push(...(await this.pruneLocked(id, { keep: opts.keep }, source)).map((p) => p.name));
      return { ...meta, pruned, ...(r.method === 'copy' ? { hint: NO_REFLINK_HINT } : {}) };
    });
  }

  async list(id: string): Promise<SnapshotListing[]> {
    await this.host.config(id);
    await this.host.pool.ensure();
    const files = this.files(id);
    const snaps = await files.list();
    const usage = await this.host.snap.usage(snaps.map((s) => files.image(s.name)));
    const out: SnapshotListing[] = [];
    for (const [i, s] of snaps.entries()) {
      out.push({ ...s, exclusive: usage[i]?.exclusive ?? null, mounted: await this.mountsOf(files.image(s.name)) });
    }
    return out;
  }

  private async mountsOf(img: string): Promise<string[]> {
    const out: string[] = [];
    for (const loop of await this.host.images.loopDevices(img)) out.push(...mountsOfDevice(loop));
    return out;
  }

  /**
   * Puts a snapshot's image back as the container's disk. A running container is refused
   * unless `stop`: then it is stopped, restored and started again.
   */
  async restore(id: string, name: string, opts: { stop?: boolean } = {}): Promise<{ id: string; name: string; restarted: boolean; disk: number }> {
    await this.host.config(id);
    await this.existing(id, name);
    await this.host.pool.ensure();
    const { state } = await this.host.runtime.state(id);
    if (state && !opts.stop) throw wrongState(`container ${id} is running`, `stop it first, or use: vpsctl snapshot restore ${id} ${name} --stop`);
    // one lock over stop, restore and start: nothing else gets in between
    return this.host.lock(id, 'snapshot restore', async () => {
      const running = (await this.host.runtime.state(id)).state;
      if (running && !opts.stop) throw wrongState(`container ${id} was started meanwhile`, 'stop it and retry');
      // weighed before anything stops: a refused restore costs no downtime
      const reservation = await this.restoreReservation(id, name);
      try {
        if (running) await this.host.stopLocked(id);
        let disk: number;
        try {
          disk = await this.restoreImage(id, name);
        } catch (e) {
          // a failed restore leaves the old disk as it was: bring the container back on it
          if (running) await this.host.startLocked(id).catch((s: Error) => this.host.progress.warn(`container ${id} stays stopped: ${s.message}`));
          throw e;
        }
        this.host.emit(id, 'snapshot-restored', { name });
        if (running) await this.host.startLocked(id);
        return { id, name, restarted: !!running, disk };
      } finally {
        await reservation.release();
      }
    });
  }

  /**
   * What a restore adds: a plain pool copies the snapshot beside the old disk (it holds the
   * data twice until the old disk goes); a snapshot from before a shrink brings its bigger disk.
   */
  private async restoreReservation(id: string, name: string) {
    const cfg = await this.host.config(id);
    const meta = await this.existing(id, name);
    const [held] = await this.host.snap.usage([this.files(id).image(name)]);
    const copy = (await this.host.pool.canReflink()) ? 0 : held.allocated;
    const grow = Math.max(0, meta.disk - cfg.disk);
    return this.host.space.admit(copy + grow, `restoring snapshot ${name} of ${id} (${copy ? `a ${formatSize(copy)} copy` : 'a reflink'}${grow ? `, its disk ${formatSize(grow)} bigger` : ''})`, {});
  }

  /** Puts the snapshot's image in place of the container's (stopped, under its lock). */
  private async restoreImage(id: string, name: string): Promise<number> {
    const cfg = await this.host.config(id);
    await this.existing(id, name);
    await this.host.reconcile(id);
    const img = this.host.layout.image(id);
    const tmp = `${img}.partial`;
    await fsp.rm(tmp, { force: true });
    try {
      this.host.progress.info(`restoring ${id} from snapshot ${name}`);
      await this.host.snap.clone(this.files(id).image(name), tmp, this.host.copyProgress(`snapshot ${name}`));
      // the disk keeps its configured size: a snapshot from before a grow is grown again
      const fsSize = (await this.host.images.info(tmp)).size;
      if (fsSize < cfg.disk) await this.host.images.grow(tmp, cfg.disk);
      await fsp.rename(tmp, img);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      if (e instanceof VpsError && e.exitCode === ExitCode.NO_RESOURCES) throw poolFull(`snapshot ${name} was not restored (${e.message})`, e);
      throw e;
    }
    const size = (await fsp.stat(img)).size;
    if (size !== cfg.disk) await writeFileAtomic(this.host.layout.configFile(id), renderConfig({ ...cfg, disk: size }), 0o600);
    return size;
  }

  async delete(id: string, name: string): Promise<{ id: string; name: string; freed: number }> {
    await this.host.config(id);
    validateSnapshotName(name);
    await this.host.pool.ensure();
    return this.host.lock(id, 'snapshot delete', async () => {
      await this.existing(id, name);
      const files = this.files(id);
      const mounted = await this.mountsOf(files.image(name));
      if (mounted.length) throw wrongState(`snapshot ${name} of ${id} is mounted on ${mounted.join(', ')}`, `unmount it first: vpsctl snapshot umount ${id} ${name}`);
      const [u] = await this.host.snap.usage([files.image(name)]);
      await files.remove(name);
      this.host.emit(id, 'snapshot-deleted', { name });
      return { id, name, freed: u?.exclusive ?? 0 };
    });
  }

  /** Removes expired snapshots, and by --keep / --older-than the unpinned ones; caller holds the lock. */
  private async pruneLocked(id: string, opts: PruneOptions, source = this.host.source): Promise<Pruned[]> {
    const files = this.files(id);
    const snaps = await files.list();
    const now = Date.now();
    const out: Pruned[] = [];
    for (const s of pruneSelection(snaps, now, opts)) {
      if ((await this.mountsOf(files.image(s.name))).length) {
        this.host.progress.warn(`snapshot ${s.name} of ${id} is mounted; not pruning it`);
        continue;
      }
      const reason = s.expiry && Date.parse(s.expiry) <= now ? 'expired' : 'rule';
      if (!opts.dryRun) {
        await files.remove(s.name);
        this.host.emit(id, 'snapshot-deleted', { name: s.name, reason }, source);
      }
      out.push({ id, name: s.name, reason });
    }
    return out;
  }

  async prune(ids: string[] | 'all', opts: PruneOptions): Promise<Pruned[]> {
    await this.host.pool.ensure();
    const list = ids === 'all' ? await this.host.ids() : ids.map(validateId);
    const out: Pruned[] = [];
    const failedIds: string[] = [];
    for (const id of list) {
      try {
        await this.host.config(id);
        out.push(...(await this.host.lock(id, 'snapshot prune', async () => {
          await this.files(id).sweep();
          return this.pruneLocked(id, opts);
        })));
      } catch (e) {
        if (ids !== 'all') throw e;
        // --all goes on past one container it cannot prune now (locked, half-made)
        this.host.progress.warn(`prune of ${id} skipped: ${(e as Error).message}`);
        failedIds.push(id);
      }
    }
    if (failedIds.length) throw new VpsError(ExitCode.FAILED, `pruned the others, but not: ${failedIds.join(', ')}`, { hint: 'retry those when their operations have finished' });
    return out;
  }

  /** `snapshot create --all`: every container, on past failures; the caller reports them. */
  async createAll(opts: Omit<SnapshotCreateOptions, 'name'>): Promise<AllResult[]> {
    const out: AllResult[] = [];
    for (const id of await this.host.ids()) {
      try {
        const s = await this.create(id, opts);
        out.push({ id, ok: true, name: s.name, method: s.method });
      } catch (e) {
        const err = e instanceof VpsError ? e : new VpsError(ExitCode.FAILED, (e as Error).message);
        this.host.progress.warn(`snapshot of ${id} failed: ${err.message}`);
        out.push({ id, ok: false, error: { code: err.code, exitCode: err.exitCode, message: err.message } });
      }
    }
    return out;
  }

  /** Mounts a snapshot read-only on `dir` (for fetching files out of it). */
  async mount(id: string, name: string, dir: string): Promise<{ id: string; name: string; mountpoint: string }> {
    await this.host.config(id);
    const target = await this.checkMountDir(dir);
    return this.host.lock(id, 'snapshot mount', async () => {
      await this.existing(id, name);
      const img = this.files(id).image(name);
      const already = await this.mountsOf(img);
      if (already.length) throw wrongState(`snapshot ${name} of ${id} is already mounted on ${already.join(', ')}`);
      // ro + noload: nothing, not even a journal replay, writes to the snapshot
      const r = await this.host.sys.run('mount', ['-t', 'ext4', '-o', 'loop,ro,noload,nodev,nosuid,noexec', '--', img, target], { reject: false });
      if (r.exitCode !== 0) throw new VpsError(ExitCode.FAILED, `cannot mount snapshot ${name}: ${r.stderr.trim().split('\n').pop()}`);
      return { id, name, mountpoint: target };
    });
  }

  private async checkMountDir(dir: string): Promise<string> {
    if (!dir || !path.isAbsolute(dir) || dir.split('/').includes('..')) throw invalid(`mount point must be an absolute path without "..", got ${JSON.stringify(dir)}`);
    const target = path.normalize(dir);
    const st = await fsp.lstat(target).catch(() => undefined);
    if (!st?.isDirectory()) throw invalid(`${target} is not a directory`, `make it first: mkdir -p ${target}`);
    const s = this.host.settings;
    for (const own of [s.root, s.pool, s.runDir]) {
      if (target === own || target.startsWith(`${own}/`) || own.startsWith(`${target}/`) || target === '/') {
        throw invalid(`${target} is inside (or holds) vpsctl's own state (${own})`, 'mount the snapshot somewhere else, e.g. /mnt/snap');
      }
    }
    return target;
  }

  async umount(id: string, name: string): Promise<{ id: string; name: string; unmounted: string[] }> {
    await this.host.config(id);
    validateSnapshotName(name);
    const img = this.files(id).image(name);
    const mounts = await this.mountsOf(img);
    if (mounts.length === 0) throw wrongState(`snapshot ${name} of ${id} is not mounted`);
    for (const m of mounts) await this.host.sys.run('umount', ['--', m]);
    return { id, name, unmounted: mounts };
  }

  /**
   * Writes (or with `off` removes) a cron entry that runs `snapshot create --scheduled`, and
   * records schedule and expiry in the container's config.
   */
  async schedule(id: string, when: string | 'off', expiry?: string): Promise<ScheduleResult> {
    const schedule = when === 'off' ? null : validateCron(when);
    if (expiry !== undefined) parseDuration(expiry, 'expiry');
    return this.host.lock(id, 'snapshot schedule', async () => {
      const cfg = await this.host.config(id);
      const file = cronFile(this.host.settings, id);
      if (schedule === null) {
        await fsp.rm(file, { force: true });
        const { snapshots: _gone, ...rest } = cfg;
        await writeFileAtomic(this.host.layout.configFile(id), renderConfig(rest), 0o600);
        return { id, schedule: null, expiry: null, file };
      }
      const policy = { schedule, ...(expiry ?? cfg.snapshots?.expiry ? { expiry: expiry ?? cfg.snapshots?.expiry } : {}) };
      await fsp.mkdir(path.dirname(file), { recursive: true });
      await writeFileAtomic(file, cronEntry(id, schedule), 0o644);
      await writeFileAtomic(this.host.layout.configFile(id), renderConfig({ ...cfg, snapshots: policy }), 0o600);
      const daemon = ['cron', 'crond', 'cronie', 'busybox'].some((c) => which(c)) || (await exists('/usr/sbin/cron'));
      return {
        id,
        schedule,
        expiry: policy.expiry ?? null,
        file,
        ...(daemon ? {} : { warning: 'no cron daemon is installed, so nothing runs this entry yet: apt-get install cron' }),
      };
    });
  }
}

/** The env vars that point vpsctl at its state: a scheduled run must see the same host. */
const CARRIED_ENV = ['VPSCTL_CONFIG', 'VPSCTL_ROOT', 'VPSCTL_RUN_DIR', 'VPSCTL_CGROUP_PARENT', 'VPSCTL_HELPERS_DIR', 'VPSCTL_IDMAP_BASE', 'VPSCTL_CRON_DIR'];

export function cronEntry(id: string, schedule: string, env: NodeJS.ProcessEnv = process.env): string {
  const lines = [
    `# vpsctl: scheduled snapshots of container ${id}. Made by \`vpsctl snapshot schedule\`;`,
    `# \`vpsctl snapshot schedule ${id} --off\` removes it. Output goes to syslog (tag vpsctl).`,
    'SHELL=/bin/sh',
    'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  ];
  for (const k of CARRIED_ENV) {
    const v = env[k];
    if (v && /^[A-Za-z0-9_./:-]+$/.test(v)) lines.push(`${k}=${v}`);
  }
  lines.push(`${schedule} root ${path.join(PACKAGE_ROOT, 'bin', 'vpsctl')} snapshot create ${validateId(id)} --scheduled 2>&1 | logger -t vpsctl`);
  return `${lines.join('\n')}\n`;
}
