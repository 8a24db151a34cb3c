import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { SnapshotFiles, parseSnapshotMeta, renderSnapshotMeta, type SnapshotMeta } from '../storage/snapstore.js';
import { poolFull } from '../storage/vpssnap.js';
import type { Reservation } from '../storage/space.js';
import { NO_REFLINK_HINT } from '../storage/pool.js';
import { exists, readText, writeFileAtomic } from '../sys/fs.js';
import { validateHostname, validateId, validateSnapshotName } from '../base/ids.js';
import { formatForward, type NetworkConfig } from '../base/netconfig.js';
import { importPolicy, type ImportPolicyOptions } from './import-policy.js';
import { parseConfig, renderConfig, type ContainerConfig } from '../base/config.js';
import { ExitCode, VpsError, failed, hostNotReady, invalid, notFound, wrongState } from '../base/errors.js';
import { CAP_SYS_RESOURCE, hasCapability, processLive, which } from '../sys/proc.js';
import type { ContainerStatus } from './host-types.js';
import type { Copies, Power, Provisioner, Store } from './context.js';
import type { Networks } from './network.js';
import type { Resources } from './resources.js';
import type { RuntimeState } from '../base/types.js';
import { formatSize } from '../base/units.js';

export interface ResizeResult {
  id: string;
  disk: number;
  previous: number;
  /** Grown while running (online resize). */
  online: boolean;
  changed: boolean;
}

export interface CompactResult {
  id: string;
  /** Bytes the image file held on the pool before and after. */
  before: number;
  after: number;
  freed: number;
}

export interface ExportResult {
  id: string;
  file: string;
  /** Bytes of the archive. */
  size: number;
  snapshots: string[];
  snapshot_images: boolean;
}

/** The manifest at the top of an export archive. */
export interface ImportOptions extends ImportPolicyOptions {
  hostname?: string;
  /** Refuse, rather than warn, when the memory limit overcommits the host. */
  strict?: boolean;
}

export type ImportResult = ContainerStatus & {
  snapshots: string[];
  /** What of the archive's config was not taken, and why. */
  notices: string[];
};

interface ExportManifest {
  format: 'vpsctl-export/1';
  id: string;
  exported: string;
  /** The container was running: disk.img is a frozen, consistent copy. */
  state: 'running' | 'stopped';
  snapshots: SnapshotMeta[];
  snapshot_images: boolean;
}

const FORMAT = 'vpsctl-export/1';
/** An archive member vpsctl wrote: nothing else is extracted. */
const MEMBER_RE = /^(vpsctl-export\.yaml|config\.yaml|disk\.img|snapshots\/?|snapshots\/([A-Za-z0-9][A-Za-z0-9._-]{0,63})\.(img|yaml))$/;

/** What whole-disk work needs: the state, image copies, provision (clone, import), networks and limits. */
export type DisksDeps = Store &
  Copies &
  Provisioner &
  Pick<Power, 'reconcile'> & {
    readonly networks: Networks;
    readonly resources: Resources;
  };

/** Whole-disk work on containers: clone, resize, compact, export, import. */
export class Disks {
  constructor(private readonly host: DisksDeps) {}

  /**
   * A new container from another (running: a frozen, consistent copy) or from one of its
   * snapshots, with its own hostname, machine-id, SSH host keys and id range.
   */
  async clone(src: string, dst: string, opts: { snapshot?: string; hostname?: string; strict?: boolean } = {}): Promise<ContainerStatus> {
    const cfg = await this.host.config(src);
    validateId(dst);
    const hostname = validateHostname(opts.hostname ?? dst);
    if (opts.snapshot !== undefined) validateSnapshotName(opts.snapshot);
    if (await exists(this.host.layout.containerDir(dst))) {
      throw wrongState(`container ${dst} already exists`, `pick another id, or remove it with: vpsctl destroy ${dst}`);
    }
    await this.host.pool.ensure();
    const snaps = new SnapshotFiles(this.host.layout, src);
    const made = await this.host.lock(src, `clone to ${dst}`, async () => {
      let disk = cfg.disk;
      if (opts.snapshot !== undefined) {
        const meta = await snaps.get(opts.snapshot);
        if (!meta) throw notFound(`snapshot ${opts.snapshot} of container ${src} does not exist`, `see: vpsctl snapshot list ${src}`);
        disk = meta.disk;
      }
      return this.host.lock(dst, 'create (clone)', () =>
        this.host.space.within(disk, `the clone ${dst}'s ${formatSize(disk)} disk`, { strict: opts.strict, growsPromise: true }, () => this.host.provision(dst, {
          what: `clone of ${src}`,
          origin: { from: src },
          hostname,
          privileged: cfg.privileged,
          shiftedFrom: cfg.shifted ? cfg.idmap : undefined,
          freshHostKeys: true,
          // the source's addresses stay the source's: the clone starts without a network
          network: null,
          steps: 1,
          fill: async (tmpImg) => {
            const { state } = await this.host.runtime.state(src);
            const from = opts.snapshot !== undefined ? `snapshot ${opts.snapshot} of ${src}` : state ? `${src} (running: frozen for the copy)` : src;
            this.host.progress.step(1, 3, `cloning the image of ${from}`);
            try {
              if (opts.snapshot !== undefined) await this.host.snap.clone(snaps.image(opts.snapshot), tmpImg, this.host.copyProgress('image'));
              else {
                const r = await this.host.copyImage(src, tmpImg, state, this.host.copyProgress('image'));
                if (r.method === 'copy') this.host.progress.info(`hint: ${NO_REFLINK_HINT}`);
              }
            } catch (e) {
              if (e instanceof VpsError && e.exitCode === ExitCode.NO_RESOURCES) throw poolFull(`the clone ${dst} was not made (${e.message})`, e);
              throw e;
            }
            disk = (await fsp.stat(tmpImg)).size;
          },
          // the admin's own copy: what it may do and the devices it has come along
          base: { template: cfg.template, disk, os: cfg.os, init: cfg.init, limits: cfg.limits, features: cfg.features, devices: cfg.devices },
          after: async (c) => {
            c.disk = disk;
          },
        })),
      );
    });
    await this.host.hooks.post('post-create', dst); // once the locks are free: it may start it
    return made;
  }

  /**
   * `set --disk`: grows the image and its filesystem, online when running; shrinks only a
   * stopped container, and only after resize2fs says the data fits.
   */
  async resize(id: string, bytes: number, strict = false): Promise<ResizeResult> {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) throw invalid('disk size must be positive');
    if (bytes % 4096 !== 0) bytes = Math.ceil(bytes / 4096) * 4096;
    await this.host.config(id);
    await this.host.pool.ensure();
    return this.host.lock(id, 'set --disk', async () => {
      const cfg = await this.host.config(id);
      const img = this.host.layout.image(id);
      const previous = (await fsp.stat(img)).size;
      if (bytes === previous && bytes === cfg.disk) return { id, disk: bytes, previous, online: false, changed: false };
      const { state } = await this.host.runtime.state(id);
      if (bytes > cfg.disk) return this.host.space.within(bytes - cfg.disk, `growing ${id}'s disk to ${formatSize(bytes)}`, { strict }, () => this.resizeLocked(id, img, cfg, bytes, previous, state));
      return this.resizeLocked(id, img, cfg, bytes, previous, state);
    });
  }

  private async resizeLocked(id: string, img: string, cfg: ContainerConfig, bytes: number, previous: number, state: RuntimeState | undefined): Promise<ResizeResult> {
    if (state) {
      if (bytes < previous) throw wrongState(`container ${id} is running: a disk shrinks only when stopped`, `stop it first: vpsctl stop ${id}`);
      if (!hasCapability(CAP_SYS_RESOURCE)) {
        throw hostNotReady(`growing a mounted ext4 filesystem needs CAP_SYS_RESOURCE, which vpsctl's root lacks on this host (a restricted sandbox?)`, `stop the container and run it again (an offline resize works): vpsctl stop ${id} && vpsctl set ${id} --disk ${formatSize(bytes)}`);
      }
      await fsp.truncate(img, bytes);
      // the loop device learns the new size; resize2fs runs where the filesystem is mounted
      await this.host.sys.run('losetup', ['--set-capacity', state.loop]);
      const r = await this.host.sys.run('nsenter', [`--target=${state.monitor_pid}`, '--mount', '--', 'resize2fs', state.loop], { reject: false });
      if (r.exitCode !== 0) throw failed(`online resize of ${id}'s filesystem failed: ${r.stderr.trim().split('\n').pop()}`, { hint: `the image file is ${formatSize(bytes)} now; stop the container and retry: vpsctl set ${id} --disk ${formatSize(bytes)}` });
    } else if (bytes >= previous) {
      await this.host.images.grow(img, bytes);
    } else {
      await this.shrink(id, img, bytes);
    }
    await writeFileAtomic(this.host.layout.configFile(id), renderConfig({ ...cfg, disk: bytes }), 0o600);
    this.host.emit(id, 'limits-changed', { disk: bytes, previous, online: !!state });
    return { id, disk: bytes, previous, online: !!state, changed: true };
  }

  private async shrink(id: string, img: string, bytes: number): Promise<void> {
    await this.host.images.check(img, true);
    const info = await this.host.images.info(img);
    const r = await this.host.sys.run('resize2fs', ['-P', img], { reject: false });
    const minBlocks = Number(/minimum size of the filesystem:\s*(\d+)/i.exec(r.stdout + r.stderr)?.[1]);
    if (!Number.isFinite(minBlocks)) throw failed(`resize2fs could not tell how small ${id}'s filesystem can get: ${(r.stdout + r.stderr).trim().split('\n').pop()}`);
    const min = minBlocks * info.blockSize;
    if (bytes < min) {
      throw invalid(`container ${id} holds ${formatSize(info.used)}; its filesystem cannot shrink below ${formatSize(min)}, so ${formatSize(bytes)} would not fit`, `free space inside it first, or use --disk ${formatSize(Math.ceil(min / 1024 ** 3) * 1024 ** 3)} or more`);
    }
    const s = await this.host.sys.run('resize2fs', [img, `${Math.floor(bytes / 1024)}K`], { reject: false });
    if (s.exitCode !== 0) throw failed(`resize2fs could not shrink ${id}'s filesystem: ${s.stderr.trim().split('\n').pop()}`, { hint: `check it: e2fsck -f ${img}` });
    await fsp.truncate(img, bytes);
  }

  /** Gives back to the pool the blocks the guest freed: fstrim through the loop device. */
  async compact(id: string): Promise<CompactResult> {
    await this.host.config(id);
    await this.host.pool.ensure();
    return this.host.lock(id, 'compact', async () => {
      const img = this.host.layout.image(id);
      const before = await allocated(img);
      const { state } = await this.host.runtime.state(id);
      if (state) {
        await this.host.sys.run('nsenter', [`--target=${state.monitor_pid}`, '--mount', '--', 'fstrim', this.host.layout.rootfs(id)]);
      } else {
        const mnt = path.join(this.host.layout.runDir(id), 'compact-mnt');
        await this.host.reconcile(id); // a killed compact's mount goes first
        await this.host.images.check(img);
        await this.host.images.mount(img, mnt);
        try {
          await this.host.sys.run('fstrim', [mnt]);
        } finally {
          await this.host.images.umount(mnt).catch(() => this.host.sys.run('umount', ['-l', '--', mnt], { reject: false }));
          await fsp.rm(this.host.layout.runDir(id), { recursive: true, force: true });
        }
      }
      const after = await allocated(img);
      return { id, before, after, freed: Math.max(0, before - after) };
    });
  }

  /**
   * One zstd-compressed tar (sparse-aware) with the image (a frozen copy if running), the
   * config and the snapshots' metadata; with `snapshots` their images too.
   */
  async export(id: string, file: string, opts: { snapshots?: boolean; force?: boolean } = {}): Promise<ExportResult> {
    await this.host.config(id);
    needZstd();
    const out = path.resolve(file);
    const parent = await fsp.stat(path.dirname(out)).catch(() => undefined);
    if (!parent?.isDirectory()) throw invalid(`${path.dirname(out)} is not a directory`);
    const st = await fsp.lstat(out).catch(() => undefined);
    if (st && !opts.force) throw wrongState(`${out} already exists`, 'pick another file name or use --force');
    if (st && !st.isFile()) throw invalid(`${out} is not a regular file`);
    await this.host.pool.ensure();
    return this.host.lock(id, 'export', async () => {
      const cfg = await this.host.config(id);
      const files = new SnapshotFiles(this.host.layout, id);
      const snaps = await files.list();
      const stage = this.host.layout.exportStage(id);
      const frozen = this.host.layout.exportFrozenImage(id);
      const tmpOut = `${out}.partial`;
      await fsp.rm(stage, { recursive: true, force: true });
      await fsp.rm(frozen, { force: true });
      // ours, made here (O_EXCL, no symlink followed): only ours is ever removed
      const fh = await fsp.open(tmpOut, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'EEXIST' ? wrongState(`${tmpOut} exists (another export to the same file, or a killed one)`, `remove it if no export is running: rm ${tmpOut}`) : e;
      });
      await fh.close();
      let copyReservation: Reservation | undefined;
      try {
        await fsp.mkdir(path.join(stage, 'snapshots'), { recursive: true, mode: 0o700 });
        const { state } = await this.host.runtime.state(id);
        let disk = this.host.layout.image(id);
        if (state) {
          // a frozen copy in the pool for as long as tar reads it: a full copy on a plain pool,
          // and on a reflink pool what the container rewrites meanwhile
          const [held] = await this.host.snap.usage([disk]);
          copyReservation = await this.host.space.admit(held.allocated, `the frozen copy of ${id} to export (${formatSize(held.allocated)})`, {});
          this.host.progress.info(`freezing ${id}'s filesystem for a consistent copy`);
          await this.host.copyImage(id, frozen, state);
          disk = frozen;
        }
        // symlinks in the stage, archived as the files they name (tar -h): nothing is copied
        await fsp.symlink(disk, path.join(stage, 'disk.img'));
        await fsp.writeFile(path.join(stage, 'config.yaml'), renderConfig(cfg), { mode: 0o600 });
        const manifest: ExportManifest = { format: FORMAT, id, exported: new Date().toISOString(), state: state ? 'running' : 'stopped', snapshots: snaps, snapshot_images: !!opts.snapshots };
        await fsp.writeFile(path.join(stage, 'vpsctl-export.yaml'), stringify(manifest), { mode: 0o600 });
        if (opts.snapshots) {
          for (const s of snaps) {
            await fsp.symlink(files.image(s.name), path.join(stage, 'snapshots', `${s.name}.img`));
            await fsp.symlink(files.meta(s.name), path.join(stage, 'snapshots', `${s.name}.yaml`));
          }
        }
        this.host.progress.info(`writing ${out} (zstd)`);
        const members = ['vpsctl-export.yaml', 'config.yaml', 'disk.img', 'snapshots'];
        const r = await this.host.sys.run('tar', ['--create', '--sparse', '--dereference', '--use-compress-program=zstd -T0 -3 -q', '--owner=0', '--group=0', '--numeric-owner', '-f', tmpOut, '-C', stage, ...members], { reject: false });
        if (r.exitCode !== 0) {
          if (/No space left/.test(r.stderr)) throw new VpsError(ExitCode.NO_RESOURCES, `out of disk space writing ${out}`, { hint: 'write the export where there is room' });
          throw failed(`tar could not write ${out}: ${r.stderr.trim().split('\n').pop()}`);
        }
        await fsp.rename(tmpOut, out);
      } catch (e) {
        await fsp.rm(tmpOut, { force: true });
        throw e;
      } finally {
        await fsp.rm(stage, { recursive: true, force: true });
        await fsp.rm(frozen, { force: true });
        await copyReservation?.release();
      }
      return { id, file: out, size: (await fsp.stat(out)).size, snapshots: snaps.map((s) => s.name), snapshot_images: !!opts.snapshots };
    });
  }

  /**
   * Makes a container from an export archive: every member is checked before anything is
   * extracted (only the names and types vpsctl writes), the config is validated, and the
   * container gets an id range of this host.
   */
  async import(file: string, newId?: string, opts: ImportOptions = {}): Promise<ImportResult> {
    const src = path.resolve(file);
    const st = await fsp.stat(src).catch(() => undefined);
    if (!st?.isFile()) throw notFound(`${src} is not a file`);
    if (newId !== undefined) validateId(newId);
    needZstd();
    await this.host.pool.ensure();
    await this.host.pool.prepare();
    // opened once: tar reads it through our descriptor, so a file swapped meanwhile is not read
    const fh = await fsp.open(src, C.O_RDONLY | C.O_NOFOLLOW);
    try {
      const made = await this.importFrom(`/proc/${process.pid}/fd/${fh.fd}`, src, newId, opts);
      await this.host.hooks.post('post-create', made.id);
      return made;
    } finally {
      await fh.close();
    }
  }

  private async importFrom(archive: string, src: string, newId: string | undefined, opts: ImportOptions): Promise<ImportResult> {
    const members = await this.listMembers(archive, src);
    for (const need of ['vpsctl-export.yaml', 'config.yaml', 'disk.img']) {
      if (!members.has(need)) throw invalid(`${src} is not a vpsctl export: it has no ${need}`);
    }
    await sweepDead(this.host.layout.imagesDir(), '.import-');
    const stage = await fsp.mkdtemp(path.join(this.host.layout.imagesDir(), `.import-${process.pid}-`));
    try {
      await this.extract(archive, src, stage, ['vpsctl-export.yaml', 'config.yaml']);
      const manifest = parseYaml(await fsp.readFile(path.join(stage, 'vpsctl-export.yaml'), 'utf8')) as ExportManifest;
      if (manifest?.format !== FORMAT) throw invalid(`${src} is an export of format ${JSON.stringify(manifest?.format)}, this vpsctl reads ${FORMAT}`);
      const oldId = validateId(String(manifest.id));
      const cfg = parseConfig(await fsp.readFile(path.join(stage, 'config.yaml'), 'utf8'), `${src}:config.yaml`, oldId);
      const id = newId ?? oldId;
      const hostname = opts.hostname ?? (id === oldId ? cfg.hostname : id);
      const snapNames = [...members.keys()].map((m) => /^snapshots\/(.+)\.img$/.exec(m)?.[1]).filter((n): n is string => !!n);
      snapNames.forEach((n) => validateSnapshotName(n));
      if (cfg.privileged && !opts.privileged) {
        throw invalid(`${src} holds a privileged container (its root would be the host's root)`, 'import it with --privileged if you mean it; it is not a security boundary');
      }
      // the archive's config is its maker's word: what reaches beyond the container needs the
      // admin's flag, limits get the defaults (SECURITY.md R14)
      const policy = importPolicy(cfg, opts);
      for (const n of policy.notices) this.host.progress.warn(n);
      await this.host.resources.overcommit(id, policy.limits.memory, !!opts.strict);
      // with --keep-network, the container keeps its network where its addresses and ports are free here
      const network = policy.network
        ? await this.host.networks.reserve(id, { mode: policy.network.mode, add: policy.network.addresses, forwards: policy.network.forwards.map(formatForward), rate: policy.network.rate ?? null })
        : undefined;
      try {
        return await this.importReserved(archive, src, stage, id, oldId, cfg, hostname, members, snapNames, policy, network, opts);
      } finally {
        if (network) await this.host.networks.release(id);
      }
    } finally {
      await fsp.rm(stage, { recursive: true, force: true });
    }
  }

  private async importReserved(archive: string, src: string, stage: string, id: string, oldId: string, cfg: ContainerConfig, hostname: string, members: Map<string, number>, snapNames: string[], policy: ReturnType<typeof importPolicy>, network: NetworkConfig | undefined, opts: ImportOptions): Promise<ImportResult> {
    // its disk and, at most, each snapshot's image: their sizes as the archive lists them
    // (the archive's config is its maker's word; the image it carries is what is unpacked)
    const promise = Math.max(cfg.disk, members.get('disk.img') ?? 0) + snapNames.reduce((a, n) => a + (members.get(`snapshots/${n}.img`) ?? 0), 0);
    return await this.host.lock(id, 'import', () => this.host.space.within(promise, `importing ${id} (a ${formatSize(members.get('disk.img') ?? cfg.disk)} disk${snapNames.length ? ` and ${snapNames.length} snapshot(s)` : ''})`, { strict: opts.strict, growsPromise: true }, async () => {
      const status = await this.host.provision(id, {
        what: `import of ${path.basename(src)}`,
        origin: { imported: path.basename(src) },
        hostname,
        privileged: cfg.privileged,
        shiftedFrom: cfg.shifted ? cfg.idmap : undefined,
        freshHostKeys: id !== oldId,
        network,
        steps: 1,
        fill: async (tmpImg) => {
          this.host.progress.step(1, 3, `unpacking ${path.basename(src)}`);
          await this.extract(archive, src, stage, [...members.keys()].filter((m) => m === 'disk.img' || m.startsWith('snapshots/')));
          // an archive is input: every image is a plain file and a clean ext4 before the host mounts any
          for (const f of ['disk.img', ...snapNames.map((n) => `snapshots/${n}.img`)]) {
            const p = path.join(stage, f);
            const fst = await fsp.lstat(p);
            if (!fst.isFile()) throw invalid(`${src}: ${f} is not a regular file`);
            await fsp.chmod(p, 0o600);
            await this.host.images.info(p);
            await this.host.images.check(p, true);
          }
          const disk = path.join(stage, 'disk.img');
          await fsp.rename(disk, tmpImg);
        },
        base: { template: cfg.template, disk: cfg.disk, os: cfg.os, init: cfg.init, limits: policy.limits },
        after: async (c) => {
          c.disk = (await fsp.stat(this.host.layout.image(id))).size;
          if (cfg.shifted && cfg.idmap && snapNames.length) {
            this.host.progress.warn(`the snapshots keep the ids of ${oldId}'s range; restore them only after re-shifting (they are imported as they are)`);
          }
          const files = new SnapshotFiles(this.host.layout, id);
          await fsp.mkdir(files.dir, { recursive: true, mode: 0o700 });
          for (const name of snapNames) {
            const metaPath = path.join(stage, 'snapshots', `${name}.yaml`);
            const text = await readText(metaPath);
            if (text === undefined) continue;
            const meta = parseSnapshotMeta(text, `${src}:snapshots/${name}.yaml`, oldId, name);
            await fsp.rename(path.join(stage, 'snapshots', `${name}.img`), files.image(name));
            await writeFileAtomic(files.meta(name), renderSnapshotMeta({ ...meta, id }), 0o600);
          }
        },
      });
      return { ...status, snapshots: snapNames, notices: policy.notices };
    }));
  }

  /** Lists the archive (each member with its size) and refuses it whole unless every member is a file or directory vpsctl writes. */
  private async listMembers(archive: string, src: string): Promise<Map<string, number>> {
    const r = await this.host.sys.run('tar', ['--list', '--verbose', '--use-compress-program=zstd -d -q', '-f', archive], { reject: false });
    if (r.exitCode !== 0) throw invalid(`${src} is not a readable zstd tar archive: ${r.stderr.trim().split('\n').pop()}`);
    const names = new Map<string, number>();
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const type = line[0];
      const name = line.split(/\s+/).slice(5).join(' ').replace(/^\.\//, '');
      if (type === 'd' && (name === '' || name === '.' || name === './')) continue;
      if ((type !== '-' && type !== 'd') || !MEMBER_RE.test(name)) {
        throw invalid(`${src} holds a member vpsctl does not write: ${JSON.stringify(line.slice(0, 200))}`, 'only archives made by `vpsctl export` import');
      }
      names.set(name.replace(/\/$/, ''), Number(line.split(/\s+/)[2]) || 0);
    }
    return names;
  }

  private async extract(archive: string, src: string, dir: string, members: string[]): Promise<void> {
    const r = await this.host.sys.run('tar', ['--extract', '--use-compress-program=zstd -d -q', '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir', '-f', archive, '-C', dir, ...members], { reject: false });
    if (r.exitCode !== 0) {
      if (/No space left/.test(r.stderr)) throw poolFull(`unpacking ${path.basename(src)}`);
      throw invalid(`${src} could not be unpacked: ${r.stderr.trim().split('\n').pop()}`);
    }
  }
}

/** export and import need zstd (tar runs it): exit 6 with what to install, not a tar error. */
function needZstd(): void {
  if (!which('zstd')) throw hostNotReady('zstd is not installed (export archives are zstd-compressed)', 'apt-get install zstd');
}

/** Removes `<prefix><pid>-*` leftovers of import runs whose process is gone. */
async function sweepDead(dir: string, prefix: string): Promise<void> {
  for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
    const pid = Number(f.startsWith(prefix) ? f.slice(prefix.length).split('-')[0] : NaN);
    if (Number.isInteger(pid) && !processLive(pid)) await fsp.rm(path.join(dir, f), { recursive: true, force: true });
  }
}

async function allocated(file: string): Promise<number> {
  return ((await fsp.stat(file)).blocks ?? 0) * 512;
}

