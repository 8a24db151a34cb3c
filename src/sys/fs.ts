import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Writes a file atomically: a temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch {
    return false;
  }
}

export async function readText(p: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(p, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export { readTextSync } from './proc.js';

/**
 * Resolves `rel` (a path inside a container tree) under `root` without ever leaving it:
 * every existing component is lstat'ed and a symlink is refused, so a link planted in an
 * image can not redirect a host-side write (SECURITY.md R2). Used on trees we just built
 * from a template; later work moves tenant-tree writes into a helper with openat2.
 */
export async function resolveInside(root: string, rel: string, opts: { finalMayBeLink?: boolean } = {}): Promise<string> {
  const parts = rel.split('/').filter((p) => p && p !== '.');
  if (parts.some((p) => p === '..')) throw new Error(`path ${rel} leaves the container tree`);
  let cur = root;
  for (const [i, part] of parts.entries()) {
    cur = path.join(cur, part);
    if (opts.finalMayBeLink && i === parts.length - 1) break;
    try {
      const st = await fsp.lstat(cur);
      if (st.isSymbolicLink()) throw new Error(`refusing to follow symlink ${rel} in the container tree`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
  }
  return cur;
}

/**
 * Writes a file inside a container tree, never through a symlink: a link in the last place
 * is replaced by the file (the link goes, not its target), O_EXCL|O_NOFOLLOW on creation.
 */
export async function writeInside(root: string, rel: string, data: string, mode = 0o644): Promise<void> {
  const target = await resolveInside(root, rel, { finalMayBeLink: true });
  await fsp.rm(target, { force: true });
  const fh = await fsp.open(target, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

/**
 * Reads a small text file inside a container tree: never through a symlink, only a regular
 * file (a FIFO would hang us, a device feed us forever), at most `max` bytes. A tenant owns
 * these trees; undefined when the file is missing.
 */
export async function readInside(root: string, rel: string, max = 256 * 1024): Promise<string | undefined> {
  const target = await resolveInside(root, rel);
  let fh;
  try {
    fh = await fsp.open(target, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`${rel} in the container tree is not a regular file`);
    if (st.size > max) throw new Error(`${rel} in the container tree is larger than ${max} bytes`);
    const buf = Buffer.alloc(st.size);
    const { bytesRead } = await fh.read(buf, 0, st.size, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

export async function removeInside(root: string, rel: string): Promise<void> {
  const target = await resolveInside(root, rel, { finalMayBeLink: true });
  await fsp.rm(target, { force: true });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export { pidAlive, procStartTime, processRunning } from './proc.js';
