import { accessSync, constants as C, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import { parseCpuset, type HostShape } from '../base/limits.js';

// Kept free of heavy imports: `vpsctl exec`'s fast path loads this on every call.

export function readTextSync(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** Is `pid` a live process? (signal 0; EPERM still means it exists) */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process that exists and is not a zombie (pid reuse aside: for short-lived helpers). */
export function processLive(pid: number): boolean {
  if (!pidAlive(pid)) return false;
  const stat = readTextSync(`/proc/${pid}/stat`);
  return stat !== undefined && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/**
 * Is this the very process we started (same pid and start time), and still running? A zombie
 * counts as gone: it has exited and torn down, and only waits for a slow reaper (on hosts
 * whose PID 1 reaps late, a monitor stays a zombie for a second or more).
 */
export function processRunning(pid: number, startTime: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = readTextSync(`/proc/${pid}/stat`);
  if (!stat) return false;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return rest[0] !== 'Z' && rest[0] !== 'X' && Number(rest[19]) === startTime;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks): detects pid reuse. */
export function procStartTime(pid: number): number | undefined {
  const stat = readTextSync(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19]
  const v = Number(rest[19]);
  return Number.isFinite(v) ? v : undefined;
}


const SEARCH = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin']);

/** Where an executable is on PATH (plus the sbin dirs sudo and cron may leave out), if anywhere. */
export function which(tool: string): string | undefined {
  for (const dir of SEARCH) {
    const p = path.join(dir, tool);
    try {
      accessSync(p, C.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Mount points at `dir` or below it in our mount namespace, deepest first (the order to unmount). */
export function mountsUnder(dir: string): string[] {
  return (readTextSync('/proc/self/mountinfo') ?? '')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

/** Mount points in our namespace whose source is `dev` (e.g. /dev/loop3). */
export function mountsOfDevice(dev: string): string[] {
  return (readTextSync('/proc/self/mountinfo') ?? '')
    .split('\n')
    .filter((l) => l.split(' - ')[1]?.split(' ')[1] === dev)
    .map((l) => l.split(' ')[4]);
}

export const CAP_SYS_RESOURCE = 24;

/** Whether this process holds a capability in its effective set (/proc/self/status CapEff). */
export function hasCapability(cap: number): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(readTextSync('/proc/self/status') ?? '')?.[1];
  return hex !== undefined && ((BigInt(`0x${hex}`) >> BigInt(cap)) & 1n) === 1n;
}

/** `MAJ:MIN` of a device number (st_rdev), as mountinfo and the cgroup IO files write it. */
export function devNumber(rdev: number): string {
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | (Math.floor(rdev / 4096) & 0xfff00);
  return `${major}:${minor}`;
}

/** The host's CPUs as limits are checked against: the kernel's online list, not this process's affinity (cores may be offline or numbered with gaps). */
export function hostShape(): HostShape {
  const text = readTextSync('/sys/devices/system/cpu/online')?.trim();
  let online: number[] = [];
  try {
    online = text ? parseCpuset(text) : [];
  } catch {
    online = [];
  }
  if (online.length === 0) online = Array.from({ length: availableParallelism() }, (_, i) => i);
  return { cpus: online.length, online };
}

/** systemd is the host's init (PID 1): its units can be installed and enabled. */
export function isSystemdInit(): boolean {
  return readTextSync('/proc/1/comm')?.trim() === 'systemd';
}
