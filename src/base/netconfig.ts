import { invalid } from './errors.js';
import { canonicalIp, parseCidr } from './ip.js';

/** How a container's veth reaches the host. */
export type NetMode = 'bridged' | 'routed';

/** A host port sent on to a port of the container's first IPv4 address (nftables DNAT). */
export interface PortForward {
  proto: 'tcp' | 'udp';
  host: number;
  port: number;
}

/**
 * Bandwidth caps on the container's veth, in bits per second (0: no cap): `in` what it
 * receives, `out` what it sends.
 */
export interface NetRate {
  in: number;
  out: number;
}

/** `network:` in config.yaml. A container without one has only its loopback. */
export interface NetworkConfig {
  mode: NetMode;
  /** Canonical `ADDRESS/PREFIX`, IPv4 and IPv6, in the order given. */
  addresses: string[];
  forwards: PortForward[];
  /** Absent: no caps. */
  rate?: NetRate;
}

/** What a cap may be, in bits per second (tbf's reach, as helpers/vps-net checks it again). */
export const RATE_MIN = 8_000;
export const RATE_MAX = 100_000_000_000;
const RATE_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };
const RATE_HINT = 'give bits per second as tc writes them, e.g. 10mbit, 500kbit, 1gbit (8kbit to 100gbit), IN/OUT for two caps, or none';

/** `10mbit`, `1.5gbit`, `8000bit`, `none` or `0` (no cap) -> bits per second; exit 2 otherwise. */
export function parseRateValue(text: string, whole = text): number {
  if (text === 'none' || text === '0') return 0;
  const m = /^(\d{1,12}(?:\.\d{1,6})?)([kmg]?)bit$/i.exec(text);
  if (!m) throw invalid(`${JSON.stringify(whole)} is not a rate`, /bps$/i.test(text) ? `tc's bps means bytes per second; ${RATE_HINT}` : RATE_HINT);
  const bits = Math.round(Number(m[1]) * RATE_UNITS[m[2].toLowerCase()]);
  if (bits < RATE_MIN || bits > RATE_MAX) throw invalid(`rate ${JSON.stringify(text)} is out of range`, RATE_HINT);
  return bits;
}

/** `--rate IN[/OUT]`: one value caps both ways; `none` removes the caps (null). */
export function parseRate(text: string): NetRate | null {
  const parts = text.split('/');
  if (parts.length > 2) throw invalid(`${JSON.stringify(text)} is not a rate`, RATE_HINT);
  const inBits = parseRateValue(parts[0], text);
  const outBits = parts.length === 2 ? parseRateValue(parts[1], text) : inBits;
  return inBits || outBits ? { in: inBits, out: outBits } : null;
}

/** Bits per second in the largest unit that says them exactly: 10000000 -> `10mbit`. */
export function formatRate(bits: number): string {
  for (const [unit, n] of [['g', 1e9], ['m', 1e6], ['k', 1e3]] as const) if (bits % n === 0) return `${bits / n}${unit}bit`;
  return `${bits}bit`;
}

const port = (text: string, what: string, whole: string): number => {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n < 1 || n > 65535) throw invalid(`${what} in ${JSON.stringify(whole)} is not a port from 1 to 65535`, 'give [tcp|udp:]HOSTPORT:PORT, e.g. 2222:22');
  return n;
};

/** `2222:22`, `tcp:2222:22`, `udp:5353:53` -> a PortForward; exit 2 otherwise. */
export function parseForward(text: string): PortForward {
  const parts = text.split(':');
  const proto = parts.length === 3 ? parts.shift() : 'tcp';
  if (parts.length !== 2 || (proto !== 'tcp' && proto !== 'udp')) throw invalid(`${JSON.stringify(text)} is not a port forward`, 'give [tcp|udp:]HOSTPORT:PORT, e.g. 2222:22');
  return { proto, host: port(parts[0], 'the host port', text), port: port(parts[1], 'the container port', text) };
}

export const formatForward = (f: PortForward): string => `${f.proto}:${f.host}:${f.port}`;

/** A CIDR written the one way (canonical address), so equal addresses compare equal. */
export function canonicalCidr(text: string): string {
  const c = parseCidr(text);
  return `${canonicalIp(c.address)}/${c.prefix}`;
}

/** The address part of `ADDRESS/PREFIX`. */
export const cidrAddress = (cidr: string): string => cidr.slice(0, cidr.lastIndexOf('/'));

export function renderNetwork(n: NetworkConfig): Record<string, unknown> {
  return {
    mode: n.mode,
    addresses: n.addresses,
    ...(n.forwards.length ? { forwards: n.forwards.map(formatForward) } : {}),
    ...(n.rate ? { rate: { ...(n.rate.in ? { in: formatRate(n.rate.in) } : {}), ...(n.rate.out ? { out: formatRate(n.rate.out) } : {}) } } : {}),
  };
}

function parseRateKey(v: unknown): NetRate | undefined {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('network.rate must be a mapping with in and/or out');
  const d = v as Record<string, unknown>;
  for (const k of Object.keys(d)) if (k !== 'in' && k !== 'out') throw invalid(`unknown key network.rate.${k}`);
  const one = (k: 'in' | 'out'): number => {
    if (d[k] === undefined) return 0;
    if (typeof d[k] !== 'string') throw invalid(`network.rate.${k} must be a rate such as 10mbit`);
    return parseRateValue(d[k] as string);
  };
  const rate = { in: one('in'), out: one('out') };
  return rate.in || rate.out ? rate : undefined;
}

/** config.yaml's `network:`; every problem names the key (the caller adds the file). */
export function parseNetwork(v: unknown): NetworkConfig {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('network must be a mapping');
  const d = v as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!['mode', 'addresses', 'forwards', 'rate'].includes(k)) throw invalid(`unknown key network.${k}`);
  if (d.mode !== 'bridged' && d.mode !== 'routed') throw invalid('network.mode must be bridged or routed');
  const list = (k: string): string[] => {
    const x = d[k] ?? [];
    if (!Array.isArray(x) || x.some((e) => typeof e !== 'string')) throw invalid(`network.${k} must be a list of strings`);
    return x as string[];
  };
  const addresses = list('addresses').map(canonicalCidr);
  if (new Set(addresses.map(cidrAddress)).size !== addresses.length) throw invalid('network.addresses lists an address twice');
  const rate = d.rate === undefined ? undefined : parseRateKey(d.rate);
  return { mode: d.mode, addresses, forwards: list('forwards').map(parseForward), ...(rate ? { rate } : {}) };
}
