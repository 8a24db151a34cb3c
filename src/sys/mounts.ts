import { promises as fsp } from 'node:fs';
import * as path from 'node:path';

/**
 * Why the host directory at `p` (a plain absolute path) cannot be bound as it is now, or
 * undefined: every component must exist and none be a symbolic link (each is lstat'ed, so
 * the path names the directory itself, not where a link leads), and the last must be a
 * directory. vps-spawn walks it again with O_NOFOLLOW at every boot.
 */
export async function hostDirProblem(p: string): Promise<string | undefined> {
  let cur = '/';
  const parts = p.split('/').filter(Boolean);
  for (const [i, c] of parts.entries()) {
    cur = path.join(cur, c);
    let st;
    try {
      st = await fsp.lstat(cur);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      return err.code === 'ENOENT' ? `${cur} does not exist` : `${cur}: ${err.message}`;
    }
    if (st.isSymbolicLink()) return `${cur} is a symbolic link (name the real directory: no link anywhere on the host path)`;
    if (!st.isDirectory()) return `${cur} is not a directory`;
    if (i === parts.length - 1) return undefined;
  }
  return undefined;
}

/**
 * Whether every host user may reach the directory at `p`: each directory from / down to it
 * lets others search it (o+x). A tenant's root owns the host's uid 0 files there, setuid
 * ones included, so such a directory hands them to every host user.
 */
export async function reachableByAll(p: string): Promise<boolean> {
  let cur = '/';
  for (const c of ['', ...p.split('/').filter(Boolean)]) {
    cur = path.join(cur, c);
    const st = await fsp.stat(cur).catch(() => undefined);
    if (!st || (st.mode & 0o001) === 0) return false;
  }
  return true;
}
