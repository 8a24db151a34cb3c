/**
 * Host directories bound into a container (`--mount HOSTDIR:CTDIR[:ro|rw]`): the spec, the
 * set's changes, and the policy of which host directories and container paths may be used.
 * Pure: whether HOSTDIR exists, is a directory and has no symlink on its way is asked of the
 * host by src/sys/mounts.ts, and vps-spawn checks it all again at every boot.
 */
import { invalid } from './errors.js';

/** A host directory bound on CTDIR inside. */
export interface BindMount {
  host: string;
  target: string;
  access: 'rw' | 'ro';
}

/** At most this many per container (vps-spawn takes no more). */
export const MAX_MOUNTS = 8;

/**
 * Host trees never bound, nor anything below them: the kernel's trees, the host's boot,
 * configuration, programs and root's home, and the places root on the host reads from or
 * runs as it goes (package caches and state, logs, spools). Through an idmapped bind the
 * tenant's root owns the host's root-owned files there, so any of these would be the host.
 */
export const HOST_DENY_TREES = [
  '/proc', '/sys', '/dev', '/run', '/boot', '/etc', '/root', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32',
  '/var/lib', '/var/log', '/var/cache', '/var/spool', '/var/run', '/var/lock', '/var/backups', '/var/mail', '/lost+found',
] as const;

/** Shared roots refused themselves (a directory below one is the usual choice: /srv/data). */
export const HOST_DENY_EXACT = ['/', '/home', '/var', '/tmp', '/var/tmp', '/srv', '/mnt', '/media', '/opt'] as const;

/** The container's own mounts (vps-spawn's /proc, /sys, /dev; systemd's /run): never a target. */
export const TARGET_DENY_TREES = ['/proc', '/sys', '/dev', '/run'] as const;

/** `a` is `b`, or a path below it. */
export const sameOrUnder = (a: string, b: string): boolean => a === b || b === '/' || a.startsWith(`${b}/`);

/**
 * A plain absolute path: `/` then components of `[A-Za-z0-9._+@,=-]`, none `.` or `..`, no
 * empty one, no trailing `/`, at most 255 bytes. (No `:`, which separates the spec's parts.)
 */
export function plainAbsPath(p: string): boolean {
  if (p === '/') return true;
  if (p.length > 255 || !/^(\/[A-Za-z0-9._+@,=-]+)+$/.test(p)) return false;
  return !p.split('/').slice(1).some((c) => c === '.' || c === '..');
}

/** Why HOSTDIR may not be bound (the system deny list), or undefined. Pure: the path as written. */
export function hostDirRefusal(host: string): string | undefined {
  if (!plainAbsPath(host)) return `${JSON.stringify(host)} is not a plain absolute path (components of A-Z a-z 0-9 . _ + @ , = -, no "..", no trailing /)`;
  if ((HOST_DENY_EXACT as readonly string[]).includes(host)) return `${host} itself is a root of the host's tree (bind a directory below it, e.g. /srv/data)`;
  const tree = HOST_DENY_TREES.find((t) => sameOrUnder(host, t));
  if (tree) return `${host} is ${host === tree ? '' : 'below '}${tree}, one of the host's system trees (its root would own them inside)`;
  return undefined;
}

/** Why CTDIR may not be a target, or undefined. */
export function targetRefusal(target: string): string | undefined {
  if (!plainAbsPath(target)) return `${JSON.stringify(target)} is not a plain absolute path (components of A-Z a-z 0-9 . _ + @ , = -, no "." or "..", no trailing /)`;
  if (target === '/') return "/ is the container's own root";
  const tree = TARGET_DENY_TREES.find((t) => sameOrUnder(target, t));
  if (tree) return `${target} is ${target === tree ? '' : 'below '}${tree}, one of the container's own mounts`;
  return undefined;
}

/**
 * Why HOSTDIR may not be bound because of what vpsctl keeps on the host (`owned`: the state
 * root, pool, run dir, caches, hooks, cron dir, its own programs), or undefined: neither one
 * of them, below one, nor above one.
 */
export function ownedRefusal(host: string, owned: readonly string[]): string | undefined {
  for (const o of owned) {
    if (sameOrUnder(host, o)) return `${host} is ${host === o ? '' : 'below '}${o}, which vpsctl keeps for itself`;
    if (sameOrUnder(o, host)) return `${host} holds ${o}, which vpsctl keeps for itself`;
  }
  return undefined;
}

const USAGE_HINT = 'e.g. --mount /srv/data:/data or --mount /srv/www:/var/www:ro';

/** `HOSTDIR:CTDIR[:ro|rw]`, read-write by default; each path checked by the pure policy. */
export function parseMount(spec: string, flag = '--mount'): BindMount {
  const m = /^([^:]*):([^:]*)(?::(rw|ro))?$/.exec(spec);
  if (!m) throw invalid(`${flag} ${spec}: want HOSTDIR:CTDIR[:ro|rw]`, USAGE_HINT);
  const [, host, target, access] = m;
  if (!host.startsWith('/')) throw invalid(`${flag} ${spec}: HOSTDIR must be an absolute path`, USAGE_HINT);
  const hw = hostDirRefusal(host);
  if (hw) throw invalid(`${flag} ${spec}: refusing HOSTDIR: ${hw}`, USAGE_HINT);
  if (!target.startsWith('/')) throw invalid(`${flag} ${spec}: CTDIR must be an absolute path inside the container`, USAGE_HINT);
  const tw = targetRefusal(target);
  if (tw) throw invalid(`${flag} ${spec}: refusing CTDIR: ${tw}`, USAGE_HINT);
  return { host, target, access: (access as 'rw' | 'ro' | undefined) ?? 'rw' };
}

export const formatMount = (b: BindMount): string => `${b.host}:${b.target}:${b.access}`;

/** A list of mounts: at most MAX_MOUNTS, no target the same as or below another's. */
export function checkMountList(list: readonly BindMount[]): void {
  if (list.length > MAX_MOUNTS) throw invalid(`at most ${MAX_MOUNTS} --mount per container`);
  for (const a of list) {
    for (const b of list) {
      if (a !== b && sameOrUnder(a.target, b.target)) throw invalid(`--mount: ${a.target} is ${a.target === b.target ? 'given twice' : `below ${b.target}, another mount's target`}`, 'one mount per target, none nested in another');
    }
  }
}

/**
 * `create`/`set --mount`: each `HOSTDIR:CTDIR[:ro|rw]` adds one or changes the one on CTDIR,
 * `CTDIR:off` takes it away, `none` all of them. Returns the new list (checked).
 */
export function applyMountFlags(flags: string[], current: readonly BindMount[] = []): BindMount[] {
  const list = new Map(current.map((b) => [b.target, b]));
  for (const f of flags) {
    if (f === 'none') list.clear();
    else if (f.endsWith(':off') && f.split(':').length === 2) {
      const target = f.slice(0, -4);
      const tw = targetRefusal(target);
      if (tw) throw invalid(`--mount ${f}: ${tw}`, USAGE_HINT);
      if (!list.delete(target)) throw invalid(`--mount ${f}: nothing is mounted on ${target}`, 'see vpsctl status ID');
    } else {
      const b = parseMount(f);
      list.set(b.target, b);
    }
  }
  const out = [...list.values()];
  checkMountList(out);
  return out;
}
