import type { NetworkStatus } from '../core/network.js';
import type { Limits } from '../base/limits.js';
import { formatSize } from '../base/units.js';
import { formatRate } from '../base/netconfig.js';
/** Renders rows as an aligned table for people; `--json` prints the objects instead. */
export function table<T>(rows: T[], columns: { header: string; get: (r: T) => string | number | null | undefined }[]): string {
  const cells = rows.map((r) => columns.map((c) => String(c.get(r) ?? '-')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const line = (vals: string[]): string => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

/** Key/value lines for a single object. */
export function details(pairs: [string, string | number | null | undefined][]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(w + 1)} ${v ?? '-'}`).join('\n');
}

/** `memory 512M, swap 256M, cpus 0.5, pids 200`: a container's limits on one line. */
/** `bridged on vpsbr0: 10.88.0.5/24, fd..::5/64; gateway 10.88.0.1; forwards tcp:2222:22`, or `none (loopback only)`. */
export function describeNetwork(n: NetworkStatus | null): string {
  if (!n) return 'none (loopback only)';
  const gws = [n.gateway4, n.gateway6].filter(Boolean).join(', ');
  return [
    `${n.mode}${n.bridge ? ` on ${n.bridge}` : ''} (${n.host_if}, ${n.mac})`,
    `addresses ${n.addresses.join(', ') || 'none'}`,
    ...(gws ? [`gateway ${gws}`] : []),
    ...(n.forwards.length ? [`forwards ${n.forwards.join(', ')}`] : []),
    ...(n.rate ? [`rate in ${n.rate.in ? formatRate(n.rate.in) : 'uncapped'}, out ${n.rate.out ? formatRate(n.rate.out) : 'uncapped'}`] : []),
  ].join('; ');
}

export function describeLimits(l: Limits): string {
  const parts = (Object.keys(l) as (keyof Limits)[]).map((k) => {
    const v = l[k];
    const text = v === null ? 'max' : ['memory', 'swap', 'memory_low', 'io_read_bps', 'io_write_bps'].includes(k) && typeof v === 'number' ? formatSize(v) : String(v);
    return `${k.replace(/_/g, '-')} ${text}`;
  });
  return parts.join(', ') || 'none';
}
