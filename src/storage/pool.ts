import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { failed, hostNotReady, invalid, wrongState } from '../base/errors.js';
import type { Layout } from '../base/settings.js';
import { copyReporter, type Progress } from '../base/types.js';
import { formatSize } from '../base/units.js';
import { unmountUnder, type Runner } from '../sys/exec.js';
import { exists, readText, writeFileAtomic } from '../sys/fs.js';
import { devNumber, mountsUnder } from '../sys/proc.js';
import { SnapHelper } from './vpssnap.js';

/** What `pool init` made: `<root>/pool.yaml`. */
export interface PoolRecord {
  fs: 'xfs';
  /** A sparse file under the state root, or a block device. */
  source: 'file' | 'device';
  path: string;
  uuid: string;
  created: string;
  /** Bytes the empty filesystem used (log, metadata): what `saved` leaves out. */
  overhead: number;
}

export interface PoolInfo {
  path: string;
  /** Filesystem type of the pool directory. */
  fs: string;
  reflink: boolean;
  /** `vpsctl pool init` made it (else: a plain directory on the state root's filesystem). */
  managed: boolean;
  source: string | null;
  size: number;
  used: number;
  free: number;
  /** Bytes of the pool's files that sit in extents shared with another file. */
  shared: number;
  /** What sharing saves: the files' allocated bytes minus what the pool really uses for them. */
  saved: number;
  images: number;
  snapshots: number;
  templates: number;
}

export interface PoolInitOptions {
  /** Size of the sparse pool file (default 100G). */
  size?: number;
  /** Use this block device instead of a file. Its contents are lost. */
  device?: string;
  fs?: 'xfs';
  /** Make the filesystem even if the device carries one. */
  force?: boolean;
}

const MIN_POOL = 512 * 1024 ** 2;
const SUBDIRS = ['images', 'snapshots', 'templates'];

/** The storage pool: a directory, or an XFS filesystem with reflink mounted there. */
export class Pool {
  private readonly snap: SnapHelper;
  private ensured = false;

  constructor(
    private readonly layout: Layout,
    private readonly run: Runner,
  ) {
    this.snap = new SnapHelper(run);
  }

  get dir(): string {
    return this.layout.s.pool;
  }

  async record(): Promise<PoolRecord | undefined> {
    const text = await readText(this.layout.poolRecord());
    if (text === undefined) return undefined;
    const d = parseYaml(text) as Partial<PoolRecord> | null;
    if (!d || d.fs !== 'xfs' || (d.source !== 'file' && d.source !== 'device') || typeof d.path !== 'string' || !path.isAbsolute(d.path)) {
      throw failed(`${this.layout.poolRecord()} is damaged`, { hint: 'repair it by hand (fs, source, path, uuid) or remove it to use the pool directory as it is' });
    }
    return { fs: 'xfs', source: d.source, path: d.path, uuid: String(d.uuid ?? ''), created: String(d.created ?? ''), overhead: Number(d.overhead) || 0 };
  }

  isMounted(): boolean {
    return mountsUnder(this.dir).includes(this.dir);
  }

  /**
   * Mounts a pool `pool init` made when it is not mounted (after a host reboot). Every command
   * that reads or writes the pool calls this first; it costs one file read when all is well.
   */
  async ensure(): Promise<void> {
    if (this.ensured) return;
    const rec = await this.record();
    if (rec && !this.isMounted()) await this.mount(rec);
    this.ensured = true;
  }

  private async mount(rec: PoolRecord): Promise<void> {
    let src = rec.path;
    if (rec.source === 'device' && rec.uuid && (await exists(`/dev/disk/by-uuid/${rec.uuid}`))) src = `/dev/disk/by-uuid/${rec.uuid}`;
    if (!(await exists(src))) {
      throw hostNotReady(`the storage pool's ${rec.source} ${src} is missing, so the pool ${this.dir} cannot be mounted`, `reattach it, or remove ${this.layout.poolRecord()} to go back to a plain directory`);
    }
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const opts = `${rec.source === 'file' ? 'loop,' : ''}nodev,nosuid,noexec`;
    if (this.isMounted()) return; // another vpsctl got here first
    const r = await this.run.run('mount', ['-t', rec.fs, '-o', opts, '--', src, this.dir], { reject: false });
    if (r.exitCode !== 0 && this.isMounted()) return; // ... or while we tried (the same filesystem refuses a second mount)
    if (r.exitCode !== 0) {
      throw hostNotReady(`cannot mount the storage pool ${src} on ${this.dir}: ${r.stderr.trim().split('\n').pop()}`, `check it with: xfs_repair -n ${src}`);
    }
  }

  /** Makes the pool directories (on whatever filesystem the pool is). */
  async prepare(): Promise<void> {
    for (const d of SUBDIRS) await fsp.mkdir(path.join(this.dir, d), { recursive: true, mode: 0o700 });
  }

  /**
   * Makes an XFS filesystem with reflink (in a sparse file under the state root, or on a
   * device), moves whatever the pool directory holds into it, and mounts it as the pool.
   * The caller holds the pool lock and has checked that no container is running.
   */
  async init(opts: PoolInitOptions, progress: Progress): Promise<PoolInfo> {
    const fs = opts.fs ?? 'xfs';
    if (fs !== 'xfs') throw invalid(`pool filesystem ${JSON.stringify(fs)} is not supported`, 'use --fs xfs');
    if (await this.record()) throw wrongState(`the storage pool is already initialised (${this.layout.poolRecord()})`, 'see `vpsctl pool info`');
    if (this.isMounted()) throw wrongState(`${this.dir} is already a mount point: vpsctl uses it as the pool as it is`, 'see `vpsctl pool info`');
    const size = opts.size ?? 100 * 1024 ** 3;
    let rec: PoolRecord;
    if (opts.device) {
      rec = { fs, source: 'device', path: await this.checkDevice(opts.device, !!opts.force), uuid: '', created: new Date().toISOString(), overhead: 0 };
    } else {
      if (size < MIN_POOL) throw invalid(`a pool of ${formatSize(size)} is too small`, `use --size ${formatSize(MIN_POOL)} or more`);
      rec = { fs, source: 'file', path: this.layout.poolFile(), uuid: '', created: new Date().toISOString(), overhead: 0 };
      await fsp.mkdir(this.layout.s.root, { recursive: true, mode: 0o700 });
      const under = await fsp.statfs(this.layout.s.root);
      if (size > under.bavail * under.bsize) {
        progress.warn(`the pool file is sparse: ${formatSize(size)} is more than the ${formatSize(under.bavail * under.bsize)} free under ${this.layout.s.root}, so the pool can run out of space before it looks full`);
      }
    }
    const newDir = `${this.dir}.new`;
    const oldDir = `${this.dir}.old`;
    await this.clearLeftovers(newDir, oldDir);
    // a pool file without a record is what a killed init left
    if (rec.source === 'file') await fsp.rm(rec.path, { force: true });
    try {
      progress.step(1, 4, `making an XFS filesystem with reflink on ${rec.path}`);
      if (rec.source === 'file') {
        const fh = await fsp.open(rec.path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        await fh.truncate(size);
        await fh.close();
      }
      await this.run.run('mkfs.xfs', ['-q', ...(opts.force || rec.source === 'file' ? ['-f'] : []), '-m', 'reflink=1,crc=1', '-L', 'vpsctl-pool', rec.path]);
      rec.uuid = (await this.run.run('blkid', ['-o', 'value', '-s', 'UUID', rec.path], { reject: false })).stdout.trim();
      await fsp.mkdir(newDir, { mode: 0o700 });
      await this.run.run('mount', ['-t', 'xfs', '-o', `${rec.source === 'file' ? 'loop,' : ''}nodev,nosuid,noexec`, '--', rec.path, newDir]);
      const empty = await fsp.statfs(newDir);
      rec.overhead = (empty.blocks - empty.bfree) * empty.bsize;
      progress.step(2, 4, 'moving images, snapshots and templates into the pool');
      if (await exists(this.dir)) await this.copyTree(this.dir, newDir, progress);
      for (const d of SUBDIRS) await fsp.mkdir(path.join(newDir, d), { recursive: true, mode: 0o700 });
      await fsp.chmod(newDir, 0o700);
      await this.run.run('umount', ['--', newDir]);
      progress.step(3, 4, `mounting the pool on ${this.dir}`);
      // the record first: from here a crash leaves a pool that the next command mounts
      await writeFileAtomic(this.layout.poolRecord(), `# vpsctl storage pool (vpsctl pool init): mounted on ${this.dir} on first use after a reboot\n${stringify(rec)}`, 0o600);
      if (await exists(this.dir)) await fsp.rename(this.dir, oldDir);
      await fsp.mkdir(this.dir, { mode: 0o700 });
      await this.mount(rec);
    } catch (e) {
      await unmountUnder(this.run, newDir);
      await fsp.rm(newDir, { recursive: true, force: true });
      if (this.isMounted()) await this.run.run('umount', ['--', this.dir], { reject: false });
      await fsp.rm(this.layout.poolRecord(), { force: true });
      if (await exists(oldDir)) {
        await fsp.rm(this.dir, { recursive: true, force: true });
        await fsp.rename(oldDir, this.dir);
      }
      if (rec.source === 'file') await fsp.rm(rec.path, { force: true });
      throw e;
    }
    progress.step(4, 4, 'removing the old pool directory');
    await fsp.rm(oldDir, { recursive: true, force: true });
    await fsp.rm(newDir, { recursive: true, force: true });
    this.ensured = true;
    return this.info();
  }

  private async clearLeftovers(...dirs: string[]): Promise<void> {
    for (const d of dirs) {
      if (!(await exists(d))) continue;
      if (d.endsWith('.old')) {
        throw failed(`${d} is left from an interrupted pool init`, { hint: `check what it holds, move it back to ${this.dir} if the pool lacks it, then remove it` });
      }
      await unmountUnder(this.run, d);
      await fsp.rm(d, { recursive: true, force: true });
    }
  }

  private async checkDevice(dev: string, force: boolean): Promise<string> {
    if (!path.isAbsolute(dev)) throw invalid(`--device must be an absolute path, got ${JSON.stringify(dev)}`);
    const st = await fsp.stat(dev).catch(() => undefined);
    if (!st) throw invalid(`device ${dev} does not exist`);
    if (!st.isBlockDevice()) throw invalid(`${dev} is not a block device`);
    const mounted = (await fsp.readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[2] === devNumber(st.rdev));
    if (mounted) throw wrongState(`${dev} is mounted`, 'unmount it first, or pick an unused device');
    const sig = await this.run.run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', dev], { reject: false });
    if (sig.exitCode === 0 && sig.stdout.trim() && !force) {
      throw wrongState(`${dev} holds a filesystem (${sig.stdout.trim()})`, 'use --force to wipe it and make the pool there');
    }
    return dev;
  }

  /** Copies a directory tree into the new pool: images sparse (vps-snap), the rest as files. */
  private async copyTree(from: string, to: string, progress: Progress): Promise<void> {
    for (const e of await fsp.readdir(from, { withFileTypes: true })) {
      const src = path.join(from, e.name);
      const dst = path.join(to, e.name);
      if (e.isDirectory()) {
        await fsp.mkdir(dst, { recursive: true, mode: 0o700 });
        await this.copyTree(src, dst, progress);
      } else if (e.isFile() && e.name.endsWith('.img')) {
        const r = await this.snap.clone(src, dst, copyReporter(progress, e.name));
        progress.info(`  ${path.relative(this.dir, src)}: ${formatSize(r.copied)} copied`);
      } else if (e.isFile()) {
        await fsp.copyFile(src, dst, C.COPYFILE_EXCL);
        await fsp.chmod(dst, (await fsp.stat(src)).mode & 0o777);
      }
    }
  }

  async info(): Promise<PoolInfo> {
    await this.ensure();
    await this.prepare();
    const rec = await this.record();
    const probe = await this.snap.probe(this.dir);
    const st = await fsp.statfs(this.dir);
    const imgs = await listFiles(path.join(this.dir, 'images'), '.img');
    const tpls = await listFiles(path.join(this.dir, 'templates'), '.img');
    const snaps: string[] = [];
    for (const d of await fsp.readdir(path.join(this.dir, 'snapshots')).catch(() => [] as string[])) {
      const files = await listFiles(path.join(this.dir, 'snapshots', d), '.img');
      for (const f of files) if (await exists(f.replace(/\.img$/, '.yaml'))) snaps.push(f);
    }
    const usage = await this.snap.usage([...imgs, ...tpls, ...snaps]);
    const allocated = usage.reduce((a, u) => a + u.allocated, 0);
    const used = (st.blocks - st.bfree) * st.bsize;
    return {
      path: this.dir,
      fs: probe.fs,
      reflink: probe.reflink,
      managed: !!rec,
      source: rec ? rec.path : null,
      size: st.blocks * st.bsize,
      used,
      free: st.bavail * st.bsize,
      shared: usage.reduce((a, u) => a + u.shared, 0),
      saved: probe.reflink ? Math.max(0, allocated - (used - (rec?.overhead ?? 0))) : 0,
      images: imgs.length,
      snapshots: snaps.length,
      templates: tpls.length,
    };
  }

  /** Whether the pool shares extents (cached for the process). */
  private reflinkCache?: boolean;
  async canReflink(): Promise<boolean> {
    // a fresh host has no pool directory yet: it is made where the pool will be (as the first
    // create would), so that what is probed is the filesystem that will hold it
    if (this.reflinkCache === undefined) await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.reflinkCache ??= (await this.snap.probe(this.dir)).reflink;
    return this.reflinkCache;
  }
}

async function listFiles(dir: string, suffix: string): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith(suffix) && !n.startsWith('.')).map((n) => path.join(dir, n));
}

/** The one-line hint shown where a copy was made because the pool cannot share extents. */
export const NO_REFLINK_HINT = 'the pool cannot share extents, so this was a full copy; `vpsctl pool init` makes an XFS pool with reflink where snapshots and clones are instant';

