import { invalid } from './errors.js';
import { formatSize, parseSize } from './units.js';

/**
 * A container's resource limits: `limits:` in config.yaml, flags of `create` and `set`.
 * Sizes in bytes. `null` means "no limit" (written as `max`); a missing key means "not set".
 */
export interface Limits {
  /** Hard memory limit. */
  memory?: number | null;
  /** Swap the container may use on top of memory. */
  swap?: number | null;
  /** Soft limit / reservation: memory the container keeps under pressure. */
  memory_low?: number | null;
  /** CPU time as fractional cores (a CFS quota): 0.5 = half a core. */
  cpus?: number | null;
  /** Relative CPU share, 1..10000 (100 = normal). */
  cpu_weight?: number;
  /** Host cores the container may run on, e.g. `0-1,3`. */
  cpuset?: string | null;
  /** Tasks (processes and threads) at most. */
  pids?: number | null;
  /** Relative block IO share, 1..10000 (100 = normal). */
  io_weight?: number;
  /** Bytes and operations per second on the container's own loop device. */
  io_read_bps?: number | null;
  io_write_bps?: number | null;
  io_read_iops?: number | null;
  io_write_iops?: number | null;
  /** RLIMIT_NOFILE of the container's init. */
  nofile?: number;
}

export const LIMIT_KEYS = ['memory', 'swap', 'memory_low', 'cpus', 'cpu_weight', 'cpuset', 'pids', 'io_weight', 'io_read_bps', 'io_write_bps', 'io_read_iops', 'io_write_iops', 'nofile'] as const;
export type LimitKey = (typeof LIMIT_KEYS)[number];

/** Memory below this cannot boot systemd; a limit under it is a typo, not a plan. */
export const MEMORY_FLOOR = 32 * 1024 ** 2;
export const PIDS_FLOOR = 16;

/** Defaults a new container gets (SECURITY.md R12): a plan always has RAM, no swap unless sold, and a task cap. */
export const DEFAULT_LIMITS: Limits = { memory: 1024 ** 3, swap: 0, pids: 4096 };

const SIZE_KEYS = new Set<LimitKey>(['memory', 'swap', 'memory_low', 'io_read_bps', 'io_write_bps']);
const UNLIMITED = new Set(['max', 'unlimited', 'none']);

export interface HostShape {
  /** How many CPUs are online (for --cpus). */
  cpus: number;
  /** Which cores are online (for --cpuset): numbering may have gaps. */
  online: number[];
}

/** `0-3,6`: the shortest list for a set of cores. */
export function formatCpuset(cores: number[]): string {
  const sorted = [...new Set(cores)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push(j > i ? `${sorted[i]}-${sorted[j]}` : String(sorted[i]));
    i = j;
  }
  return out.join(',');
}

/** Parses a cpuset list (`0-1,3`) into its cores; throws a usage error naming the problem. */
export function parseCpuset(text: string, host?: HostShape): number[] {
  const cores = new Set<number>();
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw invalid(`invalid cpuset ${JSON.stringify(text)}`, 'use core numbers and ranges, e.g. 0-1,3');
  for (const part of text.split(',')) {
    const [a, b = a] = part.split('-').map(Number);
    if (b < a) throw invalid(`cpuset range ${part} runs backwards`);
    for (let c = a; c <= b; c++) cores.add(c);
  }
  if (host) {
    const bad = [...cores].filter((c) => !host.online.includes(c));
    if (bad.length) throw invalid(`cpuset ${text} names core ${bad.join(', ')}, but the host's online cores are ${formatCpuset(host.online)}`);
  }
  return [...cores].sort((x, y) => x - y);
}

/**
 * Parses one limit from a flag or config text and checks it against sane bounds and the host.
 * Throws a usage error (exit 2) naming the limit.
 */
export function parseLimit(key: LimitKey, text: string, host?: HostShape): Limits[LimitKey] {
  const s = String(text).trim();
  const flag = `--${key.replace(/_/g, '-')}`;
  if (UNLIMITED.has(s.toLowerCase())) {
    if (key === 'cpu_weight' || key === 'io_weight' || key === 'nofile' || key === 'memory_low') throw invalid(`${flag} takes a value, not ${JSON.stringify(s)}`);
    // every online core: the way back from a narrower cpuset
    if (key === 'cpuset') return host ? formatCpuset(host.online) : null;
    return null;
  }
  if (key === 'swap' && /^0+[KMGT]?B?$/i.test(s)) return 0;
  if (SIZE_KEYS.has(key)) {
    if (!/[KMGT]/i.test(s) && key !== 'io_read_bps' && key !== 'io_write_bps') {
      throw invalid(`${flag} ${JSON.stringify(s)} has no unit`, `say what you mean: e.g. ${flag} 512M or ${flag} 2G`);
    }
    const n = parseSize(s, flag);
    if (n <= 0) throw invalid(`${flag} must be more than zero`);
    if (key === 'memory' && n < MEMORY_FLOOR) throw invalid(`${flag} ${s} is below the floor of ${formatSize(MEMORY_FLOOR)}`, 'systemd and a shell need more than that to boot');
    return n;
  }
  if (key === 'cpus') {
    if (!/^\d+(\.\d+)?$/.test(s)) throw invalid(`${flag} ${JSON.stringify(s)} is not a number of cores`, 'e.g. --cpus 0.5 or --cpus 2');
    const n = Number(s);
    if (n < 0.01) throw invalid(`${flag} must be at least 0.01 (a hundredth of a core)`);
    if (host && n > host.cpus) throw invalid(`${flag} ${s} is more than the host's ${host.cpus} cores`);
    return n;
  }
  if (key === 'cpuset') {
    parseCpuset(s, host);
    return s;
  }
  if (!/^\d+$/.test(s)) throw invalid(`${flag} ${JSON.stringify(s)} is not a whole number`);
  const n = Number(s);
  const range: Record<string, [number, number]> = {
    cpu_weight: [1, 10000],
    io_weight: [1, 10000],
    pids: [PIDS_FLOOR, 4_194_304],
    nofile: [1024, 1_048_576],
    io_read_iops: [1, 1e9],
    io_write_iops: [1, 1e9],
  };
  const [lo, hi] = range[key] ?? [1, Number.MAX_SAFE_INTEGER];
  if (n < lo || n > hi) throw invalid(`${flag} must be from ${lo} to ${hi}, got ${s}`);
  return n;
}

/** The config.yaml form: sizes as `512M`, unlimited as `max`. */
export function renderLimits(l: Limits): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const k of LIMIT_KEYS) {
    const v = l[k];
    if (v === undefined) continue;
    out[k] = v === null ? 'max' : SIZE_KEYS.has(k) && typeof v === 'number' ? formatSize(v) : v;
  }
  return out;
}

/** Parses `limits:` of config.yaml; throws a usage error the config parser turns into exit 1. */
export function parseLimits(doc: unknown): Limits {
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw invalid('limits must be a mapping');
  const out: Limits = {};
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    if (!(LIMIT_KEYS as readonly string[]).includes(k)) throw invalid(`unknown limit ${JSON.stringify(k)}`);
    // sizes in the file were written by formatSize (with a unit) or by hand in bytes
    const text = String(v);
    (out as Record<string, unknown>)[k] = SIZE_KEYS.has(k as LimitKey) && /^\d+$/.test(text) ? Number(text) : parseLimit(k as LimitKey, text);
  }
  return out;
}

/** Arguments for `vps-limit apply` (the helper validates them again); IO throttles only with the device they name. */
export function limitArgs(l: Limits, ioDevice?: string): string[] {
  const a: string[] = [];
  const v = (x: number | string | null | undefined): string => (x === null ? 'max' : String(x));
  if (l.memory !== undefined) a.push('--memory', v(l.memory));
  if (l.swap !== undefined) a.push('--swap', v(l.swap));
  if (l.memory_low !== undefined && l.memory_low !== null) a.push('--memory-low', v(l.memory_low));
  if (l.cpus !== undefined) a.push('--cpus', v(l.cpus));
  if (l.cpu_weight !== undefined) a.push('--cpu-weight', v(l.cpu_weight));
  if (l.cpuset !== undefined && l.cpuset !== null) a.push('--cpuset', l.cpuset);
  if (l.pids !== undefined) a.push('--pids', v(l.pids));
  if (l.io_weight !== undefined) a.push('--io-weight', v(l.io_weight));
  const rates = ioRateArgs(l);
  if (ioDevice && rates.length) a.push('--io-device', ioDevice, ...rates);
  return a;
}

/** The IO throttles' arguments without their device (the monitor adds its loop device). */
export function ioRateArgs(l: Limits): string[] {
  const io: [keyof Limits, string][] = [
    ['io_read_bps', '--io-rbps'],
    ['io_write_bps', '--io-wbps'],
    ['io_read_iops', '--io-riops'],
    ['io_write_iops', '--io-wiops'],
  ];
  return io.filter(([k]) => l[k] !== undefined).flatMap(([k, f]) => [f, l[k] === null ? 'max' : String(l[k])]);
}

/** The keys whose values differ between two sets of limits. */
export function changedKeys(from: Limits, to: Limits): LimitKey[] {
  return LIMIT_KEYS.filter((k) => to[k] !== undefined && to[k] !== from[k]);
}
