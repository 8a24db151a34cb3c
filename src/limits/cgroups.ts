import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { readTextSync } from '../sys/proc.js';

/** One mounted cgroup hierarchy on the host. */
export interface Hierarchy {
  /** Directory name under /sys/fs/cgroup inside the container ('' = the cgroup2 root itself). */
  name: string;
  /** v1 mount data (`memory`, `cpu,cpuacct`, `name=systemd`) or `cgroup2`. */
  options: string;
  /** Where it is mounted on the host. */
  mountPoint: string;
  /** Controllers it carries (v1), or the v2 controllers available. */
  controllers: string[];
  version: 1 | 2;
}

export type CgroupMode = 'v1' | 'hybrid' | 'v2' | 'none';

export interface CgroupLayout {
  mode: CgroupMode;
  hierarchies: Hierarchy[];
}

const V1_SUPER_SKIP = new Set(['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'xattr', 'nsdelegate', 'memory_recursiveprot', 'favordynmods', 'memory_localevents', 'noprefix']);

/** Reads the host's cgroup mounts from mountinfo (the kernel's own word, not a guess). */
export function detectCgroups(mountinfo = readTextSync('/proc/self/mountinfo') ?? ''): CgroupLayout {
  const hierarchies: Hierarchy[] = [];
  const seen = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const [fstype, , superOpts = ''] = line.slice(sep + 3).split(' ');
    const mountPoint = left[4];
    if (fstype === 'cgroup') {
      const opts = superOpts.split(',').filter((o) => !V1_SUPER_SKIP.has(o) && !o.startsWith('release_agent='));
      const key = opts.join(',');
      if (!key || seen.has(key)) continue;
      seen.add(key);
      hierarchies.push({
        name: path.basename(mountPoint),
        options: key,
        mountPoint,
        controllers: opts.filter((o) => !o.startsWith('name=')),
        version: 1,
      });
    } else if (fstype === 'cgroup2') {
      if (seen.has('cgroup2')) continue;
      seen.add('cgroup2');
      const controllers = (readTextSync(path.join(mountPoint, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean);
      hierarchies.push({ name: mountPoint === '/sys/fs/cgroup' ? '' : path.basename(mountPoint), options: 'cgroup2', mountPoint, controllers, version: 2 });
    }
  }
  const v1 = hierarchies.some((h) => h.version === 1);
  const v2 = hierarchies.some((h) => h.version === 2);
  const mode: CgroupMode = v1 && v2 ? 'hybrid' : v1 ? 'v1' : v2 ? 'v2' : 'none';
  return { mode, hierarchies };
}

/** The container's cgroup directory in each hierarchy. */
export function containerCgroupDirs(layout: CgroupLayout, parent: string, id: string): { h: Hierarchy; dir: string }[] {
  return layout.hierarchies.map((h) => ({ h, dir: path.join(h.mountPoint, parent, id) }));
}

/** `--cgroup NAME:OPTIONS:DIR` arguments for vps-spawn. */
export function spawnCgroupArgs(layout: CgroupLayout, parent: string, id: string): string[] {
  return containerCgroupDirs(layout, parent, id).flatMap(({ h, dir }) => ['--cgroup', `${h.name}:${h.options}:${dir}`]);
}

/** Memory in use by the container, from the memory controller (v1 or v2). */
export function memoryUsage(layout: CgroupLayout, parent: string, id: string): number | undefined {
  for (const { h, dir } of containerCgroupDirs(layout, parent, id)) {
    if (h.version === 1 && h.controllers.includes('memory')) {
      const v = readTextSync(path.join(dir, 'memory.usage_in_bytes'));
      if (v) return Number(v.trim());
    }
    if (h.version === 2 && h.controllers.includes('memory')) {
      const v = readTextSync(path.join(dir, 'memory.current'));
      if (v) return Number(v.trim());
    }
  }
  return undefined;
}

/** Container cgroups that still exist (leftovers after a crash, or a running container). */
export async function existingCgroups(layout: CgroupLayout, parent: string, id: string): Promise<string[]> {
  const out: string[] = [];
  for (const { dir } of containerCgroupDirs(layout, parent, id)) {
    try {
      await fsp.access(dir);
      out.push(dir);
    } catch {
      /* absent */
    }
  }
  return out;
}

/** Removes a leftover, empty cgroup tree depth-first (cgroupfs dirs go with rmdir only). */
export async function removeCgroupTree(dir: string): Promise<void> {
  let entries: import('node:fs').Dirent[] = [];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const e of entries) if (e.isDirectory()) await removeCgroupTree(path.join(dir, e.name));
  try {
    await fsp.rmdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
