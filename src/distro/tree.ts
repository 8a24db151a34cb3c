import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { failed } from '../base/errors.js';
import { readInside, resolveInside } from '../sys/fs.js';

/**
 * A container's root filesystem as the personalities see it: paths are relative to the
 * container's `/` (a leading `/` is allowed and means the same). Two kinds exist: a
 * `HostTree` writes into a stopped container's mounted tree from the host, and a tree over
 * a running container does the same by running commands inside it. Either way, the rules
 * are the ones a hostile tenant's tree needs (SECURITY.md R2):
 *
 * - no method follows a symlink in any component of the path; one that would is refused
 *   with an error, except where a method says what it does with a link in the final place;
 * - `read` reads only a regular file (a FIFO would hang us, a device feed us forever);
 * - `write` never opens what is in the final place: it makes a new file and renames it
 *   there, so a symlink, FIFO or device node in that place is replaced, never written
 *   through. An existing regular file keeps its owner, and its mode unless `mode` is given
 *   (/etc/shadow stays root:shadow 0640 on Debian, 0000 on EL). A directory is refused.
 *   The parent directory must exist (`mkdir` it first).
 */
export interface Tree {
  /** The text of a regular file; undefined when nothing is there. */
  read(rel: string): Promise<string | undefined>;
  /** Replaces or creates a regular file (see above); a new file gets `mode` or 0644 and root's ids. */
  write(rel: string, data: string, mode?: number): Promise<void>;
  /** Removes a file, symlink or other non-directory (the link itself, not its target); nothing there is fine. */
  remove(rel: string): Promise<void>;
  /** Whether something (a symlink too) is in that place; false when only a symlink in the path leads there. */
  exists(rel: string): Promise<boolean>;
  /** Makes a directory and missing parents (parents 0755, the last one `mode`, default 0755); an existing directory is kept as it is. */
  mkdir(rel: string, mode?: number): Promise<void>;
  /** The names in a directory; empty when it does not exist. */
  list(rel: string): Promise<string[]>;
  /** Makes `rel` a symlink to `target` (a path as the container sees it), replacing a file or link there; a directory is refused. */
  symlink(rel: string, target: string): Promise<void>;
  /** Where a symlink points; undefined when `rel` is not a symlink or is missing. */
  readlink(rel: string): Promise<string | undefined>;
  /** Sets the numeric owner of `rel` (never of a symlink's target), ids as they are in the image. */
  chown(rel: string, uid: number, gid: number): Promise<void>;
}

/** `/etc/hosts` -> `etc/hosts`, refusing what no tree method should see. */
export function relPath(rel: string): string {
  if (rel.includes('\0')) throw new Error('a path in the container tree may not contain NUL');
  const parts = rel.split('/').filter((p) => p && p !== '.');
  if (parts.some((p) => p === '..')) throw failed(`path ${rel} leaves the container tree`);
  return parts.join('/');
}

/** The errors of a walk that met a symlink, as the CLI reports them (exit 1, with a hint). */
function refused(e: unknown, rel: string): unknown {
  if (e instanceof Error && /symlink|leaves the container/.test(e.message)) {
    return failed(e.message, { hint: `the container's /${rel} path goes through a symlink; fix or remove it inside the container and retry`, cause: e });
  }
  return e;
}

const isErrno = (e: unknown, ...codes: string[]): boolean => codes.includes((e as NodeJS.ErrnoException)?.code ?? '');

export interface HostTreeOptions {
  /**
   * Whether `chown` changes owners. Only root can give a file to another user; vpsctl runs
   * as root, and a non-root caller (a unit test) gets its files as its own. Default: root.
   */
  chown?: boolean;
}

/**
 * A stopped container's tree, mounted on the host at `root` (a trusted path): every method
 * walks the path component by component with lstat and refuses a symlink (the helpers of
 * src/sys/fs.ts), and creates with O_EXCL|O_NOFOLLOW. The container is stopped, so nothing
 * inside it races the walk.
 */
export class HostTree implements Tree {
  readonly root: string;
  private readonly doChown: boolean;

  constructor(root: string, opts: HostTreeOptions = {}) {
    this.root = root;
    this.doChown = opts.chown ?? process.geteuid?.() === 0;
  }

  /** The host path of `rel`, every component but (optionally) the last checked to be no symlink. */
  private async resolve(rel: string, finalMayBeLink = false): Promise<string> {
    const r = relPath(rel);
    try {
      return await resolveInside(this.root, r, { finalMayBeLink });
    } catch (e) {
      throw refused(e, r);
    }
  }

  async read(rel: string): Promise<string | undefined> {
    const r = relPath(rel);
    try {
      // a device is refused before it is opened: opening some (a tape) already acts
      const st = await fsp.lstat(await resolveInside(this.root, r)).catch(() => undefined);
      if (st && !st.isFile() && !st.isSymbolicLink()) throw failed(`/${r} in the container tree is not a regular file`);
      return await readInside(this.root, r);
    } catch (e) {
      throw refused(e, r);
    }
  }

  async write(rel: string, data: string, mode?: number): Promise<void> {
    const r = relPath(rel);
    if (!r) throw failed('cannot write the container tree root as a file');
    const dir = await this.resolve(path.posix.dirname(r));
    const target = path.join(dir, path.posix.basename(r));
    const old = await fsp.lstat(target).catch((e) => {
      if (isErrno(e, 'ENOENT')) return undefined;
      throw e;
    });
    if (old?.isDirectory()) throw failed(`/${r} in the container tree is a directory, not a file`);
    const keep = old?.isFile() ? old : undefined;
    const finalMode = mode ?? (keep ? keep.mode & 0o7777 : 0o644);
    const tmp = path.join(dir, `.${path.posix.basename(r)}.vpsctl-${randomBytes(4).toString('hex')}`);
    const fh = await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      try {
        await fh.writeFile(data);
        if (keep && this.doChown) await fh.chown(keep.uid, keep.gid);
        await fh.chmod(finalMode); // after chown, which may clear set-id bits
        await fh.sync();
      } finally {
        await fh.close();
      }
      // rename replaces the directory entry: a link, FIFO or device there goes, unopened
      await fsp.rename(tmp, target);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  async remove(rel: string): Promise<void> {
    const target = await this.resolve(rel, true);
    const st = await fsp.lstat(target).catch(() => undefined);
    if (!st) return;
    if (st.isDirectory()) throw failed(`/${relPath(rel)} in the container tree is a directory; not removing it`);
    await fsp.unlink(target);
  }

  async exists(rel: string): Promise<boolean> {
    let cur = this.root;
    const parts = relPath(rel).split('/').filter(Boolean);
    for (const [i, part] of parts.entries()) {
      cur = path.join(cur, part);
      let st;
      try {
        st = await fsp.lstat(cur);
      } catch (e) {
        if (isErrno(e, 'ENOENT', 'ENOTDIR')) return false;
        throw e;
      }
      if (i < parts.length - 1 && !st.isDirectory()) return false; // a link (or a file) on the way
    }
    return true;
  }

  async mkdir(rel: string, mode = 0o755): Promise<void> {
    const parts = relPath(rel).split('/').filter(Boolean);
    let cur = this.root;
    for (const [i, part] of parts.entries()) {
      cur = path.join(cur, part);
      const last = i === parts.length - 1;
      const st = await fsp.lstat(cur).catch((e) => {
        if (isErrno(e, 'ENOENT')) return undefined;
        throw e;
      });
      const here = parts.slice(0, i + 1).join('/');
      if (st?.isSymbolicLink()) throw refused(new Error(`refusing to follow symlink /${here} in the container tree`), here);
      if (st && !st.isDirectory()) throw failed(`/${here} in the container tree is not a directory`);
      if (st) continue;
      const m = last ? mode : 0o755;
      await fsp.mkdir(cur, { mode: m });
      await fsp.chmod(cur, m); // the umask may have taken bits away
    }
  }

  async list(rel: string): Promise<string[]> {
    const dir = await this.resolve(rel);
    try {
      const st = await fsp.lstat(dir);
      if (!st.isDirectory()) return [];
      return (await fsp.readdir(dir)).sort();
    } catch (e) {
      if (isErrno(e, 'ENOENT')) return [];
      throw e;
    }
  }

  async symlink(rel: string, target: string): Promise<void> {
    const r = relPath(rel);
    if (!r) throw failed('cannot make the container tree root a symlink');
    const dir = await this.resolve(path.posix.dirname(r));
    const place = path.join(dir, path.posix.basename(r));
    const st = await fsp.lstat(place).catch(() => undefined);
    if (st?.isDirectory()) throw failed(`/${r} in the container tree is a directory; not replacing it with a symlink`);
    if (st?.isSymbolicLink() && (await fsp.readlink(place)) === target) return;
    const tmp = path.join(dir, `.${path.posix.basename(r)}.vpsctl-${randomBytes(4).toString('hex')}`);
    await fsp.symlink(target, tmp);
    try {
      await fsp.rename(tmp, place);
    } catch (e) {
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  async readlink(rel: string): Promise<string | undefined> {
    const place = await this.resolve(rel, true);
    const st = await fsp.lstat(place).catch(() => undefined);
    return st?.isSymbolicLink() ? fsp.readlink(place) : undefined;
  }

  async chown(rel: string, uid: number, gid: number): Promise<void> {
    if (!this.doChown) return;
    await fsp.lchown(await this.resolve(rel, true), uid, gid);
  }
}

/** One change a StagedTree holds until commit. */
type StagedOp =
  | { op: 'write'; rel: string; data: string; mode?: number }
  | { op: 'remove'; rel: string }
  | { op: 'mkdir'; rel: string; mode?: number }
  | { op: 'symlink'; rel: string; target: string }
  | { op: 'chown'; rel: string; uid: number; gid: number };

/**
 * A tree that holds every change until `commit`, reading through to the tree under it and
 * seeing its own staged changes. A personality runs against one, so that what can be known
 * before writing is known before anything is written: a missing user, a file that is not a
 * regular one where we must edit it, and a symlink on the way to any path it writes (each
 * staged change checks the path's directories against the tree below). A `set` refused for
 * a planted symlink leaves the container as it was. `ops` is also what a dry run reports.
 */
export class StagedTree implements Tree {
  readonly ops: StagedOp[] = [];
  /** Staged content by path; null once removed. */
  private readonly files = new Map<string, string | null>();
  private readonly links = new Map<string, string | null>();
  private readonly dirs = new Set<string>();

  constructor(private readonly base: Tree) {}

  /**
   * Every directory on the way to `r` (and `r` itself with `finalToo`) must be a directory,
   * existing or staged, never a symlink; with `mustExist` (a change is to be made there) the
   * directories must exist, since nothing makes parents implicitly.
   */
  private async checkPath(r: string, opts: { finalToo?: boolean; mustExist?: boolean } = {}): Promise<void> {
    const parts = r.split('/').filter(Boolean);
    const upto = opts.finalToo ? parts.length : parts.length - 1;
    for (let i = 0; i < upto; i++) {
      const p = parts.slice(0, i + 1).join('/');
      if (this.dirs.has(p)) continue;
      const staged = this.links.get(p);
      const target = staged !== undefined ? (staged ?? undefined) : await this.base.readlink(p);
      if (target !== undefined) throw refused(new Error(`refusing to follow symlink /${p} in the container tree`), p);
      if (!(await this.exists(p))) {
        if (opts.mustExist) throw failed(`/${p} does not exist in the container tree`);
        return; // nothing below a missing directory can be a link
      }
    }
  }

  async read(rel: string): Promise<string | undefined> {
    const r = relPath(rel);
    const f = this.files.get(r);
    if (f !== undefined) return f ?? undefined;
    if (this.links.get(r)) throw refused(new Error(`refusing to follow symlink /${r} in the container tree`), r);
    await this.checkPath(r);
    return this.base.read(r);
  }

  async write(rel: string, data: string, mode?: number): Promise<void> {
    const r = relPath(rel);
    await this.checkPath(r, { mustExist: true });
    if (this.dirs.has(r)) throw failed(`/${r} in the container tree is a directory, not a file`);
    this.files.set(r, data);
    this.links.delete(r);
    this.ops.push({ op: 'write', rel: r, data, mode });
  }

  async remove(rel: string): Promise<void> {
    const r = relPath(rel);
    await this.checkPath(r, { mustExist: true });
    this.files.set(r, null);
    this.links.set(r, null);
    this.ops.push({ op: 'remove', rel: r });
  }

  async exists(rel: string): Promise<boolean> {
    const r = relPath(rel);
    if (this.dirs.has(r)) return true;
    const f = this.files.get(r);
    if (f !== undefined) return f !== null;
    const l = this.links.get(r);
    if (l !== undefined) return l !== null;
    return this.base.exists(r);
  }

  async mkdir(rel: string, mode?: number): Promise<void> {
    const r = relPath(rel);
    const parts = r.split('/').filter(Boolean);
    for (let i = 0; i < parts.length; i++) {
      const p = parts.slice(0, i + 1).join('/');
      if (this.dirs.has(p)) continue;
      const staged = this.links.get(p);
      if ((staged !== undefined ? (staged ?? undefined) : await this.base.readlink(p)) !== undefined) {
        throw refused(new Error(`refusing to follow symlink /${p} in the container tree`), p);
      }
      if (this.files.get(p) != null) throw failed(`/${p} in the container tree is not a directory`);
      this.dirs.add(p);
    }
    this.ops.push({ op: 'mkdir', rel: r, mode });
  }

  async list(rel: string): Promise<string[]> {
    const r = relPath(rel);
    await this.checkPath(r, { finalToo: true });
    const names = new Set(await this.base.list(r));
    const prefix = r ? `${r}/` : '';
    for (const m of [this.files, this.links]) {
      for (const [p, v] of m) {
        if (!p.startsWith(prefix) || p.slice(prefix.length).includes('/')) continue;
        if (v === null) names.delete(p.slice(prefix.length));
        else names.add(p.slice(prefix.length));
      }
    }
    for (const d of this.dirs) if (d.startsWith(prefix) && !d.slice(prefix.length).includes('/')) names.add(d.slice(prefix.length));
    return [...names].sort();
  }

  async symlink(rel: string, target: string): Promise<void> {
    const r = relPath(rel);
    await this.checkPath(r, { mustExist: true });
    if (this.dirs.has(r)) throw failed(`/${r} in the container tree is a directory; not replacing it with a symlink`);
    this.links.set(r, target);
    this.files.delete(r);
    this.ops.push({ op: 'symlink', rel: r, target });
  }

  async readlink(rel: string): Promise<string | undefined> {
    const r = relPath(rel);
    const l = this.links.get(r);
    if (l !== undefined) return l ?? undefined;
    if (this.files.has(r) || this.dirs.has(r)) return undefined;
    return this.base.readlink(r);
  }

  async chown(rel: string, uid: number, gid: number): Promise<void> {
    const r = relPath(rel);
    await this.checkPath(r, { mustExist: true });
    this.ops.push({ op: 'chown', rel: r, uid, gid });
  }

  /** Applies the staged changes to the tree below, in the order they were made. */
  async commit(): Promise<void> {
    for (const o of this.ops) {
      switch (o.op) {
        case 'write':
          await this.base.write(o.rel, o.data, o.mode);
          break;
        case 'remove':
          await this.base.remove(o.rel);
          break;
        case 'mkdir':
          await this.base.mkdir(o.rel, o.mode);
          break;
        case 'symlink':
          await this.base.symlink(o.rel, o.target);
          break;
        case 'chown':
          await this.base.chown(o.rel, o.uid, o.gid);
          break;
      }
    }
  }
}
