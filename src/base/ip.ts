import { isIPv4, isIPv6 } from 'node:net';
import { invalid } from './errors.js';

/**
 * IP addresses and prefixes: parsing, canonical forms and subnet arithmetic, shared by the
 * network subsystem (host side) and the distro personalities (what the guest reads).
 */

/** An address with its prefix, parsed. */
export interface Cidr {
  address: string;
  prefix: number;
  family: 4 | 6;
}

/** IPv6 without a zone (`fe80::1%eth0` has no place in a config file we write). */
const isPlainIPv6 = (s: string): boolean => !s.includes('%') && isIPv6(s);

/** An IPv4 or IPv6 address's family, 0 when it is neither. */
export const ipFamily = (s: string): 0 | 4 | 6 => (isIPv4(s) ? 4 : isPlainIPv6(s) ? 6 : 0);

/** `192.0.2.10/24` -> { address, prefix, family }; throws an exit-2 error when it is not one. */
export function parseCidr(text: string): Cidr {
  const m = /^([^/\s]+)\/(\d{1,3})$/.exec(text);
  const family = m ? ipFamily(m[1]) : 0;
  const prefix = m ? Number(m[2]) : -1;
  if (!m || family === 0 || prefix > (family === 4 ? 32 : 128)) {
    throw invalid(`${JSON.stringify(text)} is not an address with a prefix length`, 'give e.g. 192.0.2.10/24 or 2001:db8::10/64');
  }
  return { address: m[1], prefix, family };
}

/** The 128-bit (or 32-bit) value of an address. */
export function ipBits(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text); // ::ffff:192.0.2.1
  if (v4) {
    const n = ipBits(v4[1], 4);
    text = text.slice(0, -v4[1].length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g || '0', 16)), 0n);
}

/** The address of a value: dotted quad, or RFC 5952's canonical IPv6 (lower case, longest zero run as `::`). */
export function ipFromBits(bits: bigint, family: 4 | 6): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((bits >> s) & 0xffn)).join('.');
  const g = Array.from({ length: 8 }, (_, i) => Number((bits >> BigInt((7 - i) * 16)) & 0xffffn));
  let best = -1;
  let bestLen = 1; // a single zero group is not shortened
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The canonical text of an address, so that `fd00:0::5` and `fd00::5` are one address. */
export function canonicalIp(address: string): string {
  const family = ipFamily(address);
  if (!family) throw invalid(`${JSON.stringify(address)} is not an IPv4 or IPv6 address`);
  return ipFromBits(ipBits(address, family), family);
}

const width = (family: 4 | 6): number => (family === 4 ? 32 : 128);

/** Whether `address` is inside `net`'s subnet (same family only). */
export function inSubnet(address: string, net: Cidr): boolean {
  const family = ipFamily(address);
  if (family !== net.family) return false;
  const shift = BigInt(width(family) - net.prefix);
  return ipBits(address, family) >> shift === ipBits(net.address, family) >> shift;
}

/** The first and last address of a subnet (network and, for IPv4, broadcast). */
export function subnetBounds(net: Cidr): { first: bigint; last: bigint } {
  const host = (1n << BigInt(width(net.family) - net.prefix)) - 1n;
  const first = ipBits(net.address, net.family) & ~host;
  return { first, last: first | host };
}

/**
 * Whether an address is its subnet's network address or (IPv4, below /31) its broadcast
 * address, which no host may have; undefined when it is neither.
 */
export function subnetEdge(address: string, net: Cidr): 'network' | 'broadcast' | undefined {
  const { first, last } = subnetBounds(net);
  const bits = ipBits(address, net.family);
  if (bits === first && !(net.family === 4 && net.prefix >= 31) && !(net.family === 6 && net.prefix === 128)) return 'network';
  if (net.family === 4 && net.prefix < 31 && bits === last) return 'broadcast';
  return undefined;
}

/** An IPv6 link-local address (fe80::/10): always reachable on the link, with the interface named. */
export const isLinkLocal6 = (address: string): boolean => ipFamily(address) === 6 && ipBits(address, 6) >> 118n === 0x3fan;

/**
 * Why an address can never be a container's own, or undefined when it can be: the
 * unspecified and loopback addresses, multicast, link-local (the host's end of a routed
 * veth lives there), IPv4 broadcast, IPv4-mapped IPv6.
 */
export function reservedReason(address: string): string | undefined {
  const family = ipFamily(address);
  if (family === 4) {
    const b = ipBits(address, 4);
    const top = Number(b >> 24n);
    if (b === 0n) return 'the unspecified address';
    if (top === 127) return 'a loopback address';
    if (top >= 224 && top <= 239) return 'a multicast address';
    if (top >= 240) return b === 0xffffffffn ? 'the broadcast address' : 'a reserved (class E) address';
    if (b >> 16n === 0xa9fen) return 'a link-local address (169.254.0.0/16)';
    if (top === 0) return 'in 0.0.0.0/8 ("this network")';
    return undefined;
  }
  const b = ipBits(address, 6);
  if (b === 0n) return 'the unspecified address';
  if (b === 1n) return 'the loopback address';
  if (b >> 120n === 0xffn) return 'a multicast address';
  if (isLinkLocal6(address)) return 'a link-local address (fe80::/10)';
  if (b >> 32n === 0xffffn) return 'an IPv4-mapped address';
  return undefined;
}
