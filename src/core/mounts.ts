import { formatMount, ownedRefusal, type BindMount } from '../base/mounts.js';
import { invalid } from '../base/errors.js';
import type { HostSettings } from '../base/settings.js';
import { PACKAGE_ROOT } from '../sys/helpers.js';
import { hostDirProblem, reachableByAll } from '../sys/mounts.js';

/** What vpsctl keeps on the host for itself: never bound into a container, nor a directory holding one of them. */
export function ownedPaths(s: HostSettings, env: NodeJS.ProcessEnv = process.env): string[] {
  return [s.root, s.pool, s.runDir, s.cacheDir, s.hooksDir, s.cronDir, PACKAGE_ROOT, ...(env.VPSCTL_HELPERS_DIR ? [env.VPSCTL_HELPERS_DIR] : [])];
}

/**
 * Checks each mount's host directory against what vpsctl keeps (ownedRefusal) and against the
 * host (it exists, is a directory, no symlink on its way: hostDirProblem); the spec's own
 * policy was checked when it was parsed. Returns vps-spawn's `--bind HOST:CT:rw|ro` values.
 */
export async function checkMounts(mounts: readonly BindMount[] = [], s: HostSettings): Promise<string[]> {
  const owned = ownedPaths(s);
  for (const m of mounts) {
    const why = ownedRefusal(m.host, owned) ?? (await hostDirProblem(m.host));
    if (why) throw invalid(`--mount ${formatMount(m)}: refusing HOSTDIR: ${why}`, 'bind a directory of its own, e.g. mkdir /srv/data; --mount /srv/data:/data');
  }
  return mounts.map(formatMount);
}

/**
 * Names each read-write mount whose host directory every host user can reach (SECURITY.md,
 * bind mounts: the tenant's root can leave setuid-root files there).
 */
export async function warnOpenMounts(mounts: readonly BindMount[], warn: (message: string) => void): Promise<void> {
  for (const m of mounts) {
    if (m.access === 'rw' && (await reachableByAll(m.host))) {
      warn(`${m.host} is reachable by every host user: the container's root can leave root-owned and setuid-root files there, which are inert inside (nosuid) but not on the host; make a directory above it mode 0700, or mount its filesystem nosuid`);
    }
  }
}
