import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { IdMap } from '../base/config.js';

/**
 * Shifts every uid/gid in a mounted tree into a container's range, once, for kernels without
 * idmapped mounts (`create --shift-ids`): plain ids, or ids of another range (`from`: a clone
 * or import of a shifted container). Never follows a symlink (lchown), shifts each inode
 * once however many hard links it has, and puts back the set-id bits chown clears.
 * File capabilities and ACLs keep their plain ids (a known limit of shifting by chown).
 */
export async function shiftIds(root: string, map: IdMap, from: IdMap = { uid: 0, gid: 0, count: map.count }): Promise<number> {
  const rootDev = (await fsp.lstat(root)).dev;
  const seen = new Set<string>();
  let n = 0;
  const visit = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p);
    if (st.dev !== rootDev) return; // another filesystem mounted inside: not ours
    const key = `${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      const u = st.uid - from.uid;
      const g = st.gid - from.gid;
      if (u >= 0 && u < map.count && g >= 0 && g < map.count) {
        await fsp.lchown(p, map.uid + u, map.gid + g);
        if (!st.isSymbolicLink() && st.mode & 0o6000) await fsp.chmod(p, st.mode & 0o7777);
        n++;
      }
    }
    if (st.isDirectory()) for (const name of await fsp.readdir(p)) await visit(path.join(p, name));
  };
  await visit(root);
  return n;
}
