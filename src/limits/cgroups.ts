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
  /**
   * The host's systemd owns the (pure v2) tree: each container's cgroups then live in a
   * delegated scope of its own, `<parent>-<id>.scope` in `<parent>.slice`, which systemd
   * never migrates, kills or trims while the container runs (see placement below).
   */
  systemd: boolean;
}

const V1_SUPER_SKIP = new Set(['rw', 'ro', 'relatime', 'noatime', 'nosuid', 'nodev', 'noexec', 'clone_children', 'xattr', 'nsdelegate', 'memory_recursiveprot', 'favordynmods', 'memory_localevents', 'noprefix']);

/** Reads the host's cgroup mounts from mountinfo (the kernel's own word, not a guess). */
export function detectCgroups(mountinfo = readTextSync('/proc/self/mountinfo') ?? '', pid1 = readTextSync('/proc/1/comm')?.trim() ?? ''): CgroupLayout {
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
  return { mode, hierarchies, systemd: mode === 'v2' && pid1 === 'systemd' };
}

/**
 * Where a container's cgroups go below each hierarchy's root. Without a systemd owning the
 * tree: `<parent>/<id>`. On a systemd host (pure v2), systemd's rules for a tree it owns
 * (systemd.io/CGROUP_DELEGATION) allow others only inside units delegated to them: vpsctl
 * starts each monitor in a transient scope `<parent>-<id>.scope` with Delegate=yes in
 * `<parent>.slice` (systemd-run --scope), and below it the monitor keeps itself in
 * `.monitor` and the container in `<id>`: `vpsctl.slice/vpsctl-101.scope/101`.
 */
export function cgroupParentOf(layout: CgroupLayout, parent: string, id: string): string {
  if (!layout.systemd) return parent;
  const s = systemdUnits(parent, id);
  return `${s.slicePath}/${s.scope}`;
}

/** A container's systemd units on a systemd host: its slice (and the slice's cgroup path), its scope, and the monitor's cgroup in it. */
export function systemdUnits(parent: string, id: string): { slice: string; slicePath: string; scope: string; monitorCgroup: string } {
  // a '-' in a slice's name nests it: vpsctl-test.slice lives in vpsctl.slice
  const parts = parent.split('-');
  const slicePath = parts.map((_, i) => `${parts.slice(0, i + 1).join('-')}.slice`).join('/');
  const scope = `${parent}-${id}.scope`;
  // beside the container's cgroup, never in it; a container id never starts with a dot
  return { slice: `${parent}.slice`, slicePath, scope, monitorCgroup: path.join(V2_ROOT, slicePath, scope, '.monitor') };
}

const V2_ROOT = '/sys/fs/cgroup';

/** The container's cgroup directory in each hierarchy. */
export function containerCgroupDirs(layout: CgroupLayout, parent: string, id: string): { h: Hierarchy; dir: string }[] {
  const rel = cgroupParentOf(layout, parent, id);
  return layout.hierarchies.map((h) => ({ h, dir: path.join(h.mountPoint, rel, id) }));
}

/**
 * Below a container's cgroup on a cgroup2 hierarchy (helpers/spawn.h CG_V2_*): the container
 * cgroup keeps the limits and stays root's; `ct` is init's, delegated to the container's root
 * and the root of its cgroup namespace; `enter` is the leaf exec and enter join, since v2
 * refuses a process in a cgroup whose children have controllers (the container's systemd
 * enables them in its own tree).
 */
export const V2_PAYLOAD = 'ct';
export const V2_ENTER = 'enter';

/** The cgroups a process run by exec or enter joins: the container's on v1, its enter leaf on v2. */
export function enterCgroupDirs(layout: CgroupLayout, parent: string, id: string): string[] {
  return containerCgroupDirs(layout, parent, id).map(({ h, dir }) => (h.version === 2 ? path.join(dir, V2_ENTER) : dir));
}

/** `--cgroup NAME:OPTIONS:DIR` arguments for vps-spawn. */
/** Each hierarchy's `MOUNTNAME:OPTIONS:HOSTDIR` for the container (SpawnSpec.cgroups). */
export function spawnCgroupSpecs(layout: CgroupLayout, parent: string, id: string): string[] {
  return containerCgroupDirs(layout, parent, id).map(({ h, dir }) => `${h.name}:${h.options}:${dir}`);
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

/**
 * Kills every process left in a cgroup tree (cgroup.kill where the kernel has it, else
 * SIGKILL to each pid in cgroup.procs) and waits up to `waitMs` for the tree to empty:
 * what a container whose monitor died (an older vpsctl's, or one killed before its init
 * could follow it) leaves running. Returns whether it emptied.
 */
export async function killCgroupTree(dir: string, waitMs = 10_000): Promise<boolean> {
  const pids = async (d: string): Promise<number[]> => {
    const own = (await fsp.readFile(path.join(d, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    const subs = await fsp.readdir(d, { withFileTypes: true }).catch(() => []);
    for (const s of subs) if (s.isDirectory()) own.push(...(await pids(path.join(d, s.name))));
    return own;
  };
  const deadline = Date.now() + waitMs;
  for (;;) {
    const left = await pids(dir);
    if (left.length === 0) return true;
    if (Date.now() > deadline) return false;
    const killed = await fsp.writeFile(path.join(dir, 'cgroup.kill'), '1').then(() => true, () => false);
    if (!killed) {
      for (const pid of left) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone already */
        }
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
