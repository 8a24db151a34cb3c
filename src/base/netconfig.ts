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

/** `network:` in config.yaml. A container without one has only its loopback. */
export interface NetworkConfig {
  mode: NetMode;
  /** Canonical `ADDRESS/PREFIX`, IPv4 and IPv6, in the order given. */
  addresses: string[];
  forwards: PortForward[];
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
  return { mode: n.mode, addresses: n.addresses, ...(n.forwards.length ? { forwards: n.forwards.map(formatForward) } : {}) };
}

/** config.yaml's `network:`; every problem names the key (the caller adds the file). */
export function parseNetwork(v: unknown): NetworkConfig {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('network must be a mapping');
  const d = v as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!['mode', 'addresses', 'forwards'].includes(k)) throw invalid(`unknown key network.${k}`);
  if (d.mode !== 'bridged' && d.mode !== 'routed') throw invalid('network.mode must be bridged or routed');
  const list = (k: string): string[] => {
    const x = d[k] ?? [];
    if (!Array.isArray(x) || x.some((e) => typeof e !== 'string')) throw invalid(`network.${k} must be a list of strings`);
    return x as string[];
  };
  const addresses = list('addresses').map(canonicalCidr);
  if (new Set(addresses.map(cidrAddress)).size !== addresses.length) throw invalid('network.addresses lists an address twice');
  return { mode: d.mode, addresses, forwards: list('forwards').map(parseForward) };
}
