import { invalid } from './errors.js';

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

/**
 * Parses a size such as `512M`, `10G`, `1.5T`, `4096` (bytes). Units are binary
 * (K = 1024), as vzctl and LXC read them; an optional `i`/`iB`/`B` suffix is accepted.
 */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(String(text));
  if (!m) {
    throw invalid(`invalid ${what} ${JSON.stringify(text)}`, 'use a number with an optional unit K, M, G or T, e.g. 10G or 512M');
  }
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[m[2].toUpperCase()]);
  if (!Number.isSafeInteger(bytes)) throw invalid(`${what} ${JSON.stringify(text)} is too large`);
  return bytes;
}

/** Formats bytes the way `df -h` does: 1 decimal under 10, binary units. */
export function formatSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  const units = ['B', 'K', 'M', 'G', 'T', 'P'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  if (i === 0) return `${v}B`;
  return `${v < 10 && Math.round(v * 10) % 10 !== 0 ? v.toFixed(1) : Math.round(v).toString()}${units[i]}`;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses `30s`, `5m`, `7d`, `2w`, `250ms`, or a bare number of seconds; returns milliseconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$/.exec(String(text));
  if (!m) throw invalid(`invalid ${what} ${JSON.stringify(text)}`, 'use a number with a unit s, m, h, d or w, e.g. 30s or 7d');
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 's']);
}

export function formatDuration(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d ${h}h ${m}m`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}
