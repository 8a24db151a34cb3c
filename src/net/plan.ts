import { invalid, notFound, VpsError, ExitCode } from '../base/errors.js';
import { canonicalIp, inSubnet, ipFamily, ipFromBits, reservedReason, subnetBounds, subnetEdge, type Cidr } from '../base/ip.js';
import { cidrAddress, formatForward, parseForward, type NetMode, type NetRate, type NetworkConfig, type PortForward } from '../base/netconfig.js';
import { GUEST_IF, ROUTED_GW4, ROUTED_GW6 } from './names.js';

/**
 * What a network change turns a container's network into, checked against the host's
 * bridge and every other container: pure, so each rule is unit-tested. The caller runs it
 * twice: early (a clear error before anything changes) and again under the network lock
 * just before the config is written (so two creates cannot take one address).
 */

export interface NetSettings {
  bridge: string;
  subnet: Cidr;
  subnet6: Cidr;
}

/** `create`/`set`: --netmode, --ipadd (repeatable), --ipdel, --forward, --forward-del, --rate. */
export interface NetChange {
  mode?: NetMode | 'none';
  add?: string[];
  /** Addresses (with or without prefix) or `all`. */
  del?: string[];
  forwards?: string[];
  /** `[tcp|udp:]HOSTPORT`; without a protocol both go. */
  forwardDel?: string[];
  /** Bandwidth caps; null removes them. */
  rate?: NetRate | null;
}

/** Whether a change touches what the guest's own network files say (its addresses, its mode). */
export const changesGuest = (c: NetChange): boolean => !!(c.mode || c.add?.length || c.del?.length || c.forwards?.length || c.forwardDel?.length);

export interface OtherNetwork {
  id: string;
  net: NetworkConfig;
  /** Reserved by a create or import under way, not yet in a config. */
  pending?: boolean;
}

/** A duplicate with another container: exit 2 naming it; with one a create under way holds, exit 7 (a race, not a mistake). */
const taken = (what: string, other: OtherNetwork): VpsError =>
  other.pending
    ? new VpsError(ExitCode.NO_RESOURCES, `${what} is being taken by container ${other.id} (a create under way)`, { hint: 'pick another, or retry once that create has finished' })
    : new VpsError(ExitCode.USAGE, `${what} is already assigned to container ${other.id}`, { hint: `pick another, or remove it there first: vpsctl set ${other.id} --ipdel ...` });

/** The lowest free IPv4 host address of the bridge's subnet (`--ipadd auto`). */
function allocate(s: NetSettings, used: Set<string>): string {
  const { first, last } = subnetBounds(s.subnet);
  for (let b = first + 1n; b < last; b++) {
    const a = ipFromBits(b, 4);
    if (a !== s.subnet.address && !used.has(a)) return `${a}/${s.subnet.prefix}`;
  }
  throw new VpsError(ExitCode.NO_RESOURCES, `no free address left in the bridge's subnet ${s.subnet.address}/${s.subnet.prefix}`, { hint: 'give one with --ipadd ADDR, or a larger subnet in /etc/vpsctl/vpsctl.yaml' });
}

/** One --ipadd value as the canonical CIDR the container gets in this mode; exit 2 when it cannot be one. */
export function normalizeAddress(text: string, mode: NetMode, s: NetSettings): string {
  const m = /^([^/\s]+)(?:\/(\S*))?$/.exec(text);
  const family = m ? ipFamily(m[1]) : 0;
  if (!m || !family) throw invalid(`${JSON.stringify(text)} is not an IPv4 or IPv6 address`, 'give e.g. --ipadd 10.88.0.5, --ipadd 192.0.2.10/24 or --ipadd 2001:db8::10/64');
  const address = canonicalIp(m[1]);
  const max = family === 4 ? 32 : 128;
  const bridgeNet = family === 4 ? s.subnet : s.subnet6;
  const onBridge = inSubnet(address, bridgeNet);
  let prefix: number;
  if (m[2] === undefined) prefix = mode === 'bridged' && onBridge ? bridgeNet.prefix : max;
  else {
    prefix = Number(m[2]);
    if (!/^\d{1,3}$/.test(m[2]) || prefix < 1 || prefix > max) throw invalid(`prefix length /${m[2]} of ${text} is out of range for IPv${family} (1 to ${max})`);
  }
  const why = reservedReason(address);
  if (why) throw invalid(`${address} is ${why}: it cannot be a container's address`);
  if (address === bridgeNet.address) throw invalid(`${address} is the bridge ${s.bridge}'s own address`, `give a container another address of ${bridgeNet.address}/${bridgeNet.prefix}`);
  if (onBridge) {
    const edge = subnetEdge(address, bridgeNet);
    if (edge) throw invalid(`${address} is the ${edge} address of the bridge's subnet ${bridgeNet.address}/${bridgeNet.prefix}`);
    if (mode === 'routed') throw invalid(`${address} is in the bridge's subnet ${bridgeNet.address}/${bridgeNet.prefix}; routed addresses come from outside it`, 'use --netmode bridged for it, or route another address');
    if (prefix !== bridgeNet.prefix) throw invalid(`${address}/${prefix} does not match the bridge's subnet ${bridgeNet.address}/${bridgeNet.prefix}`, `give ${address}/${bridgeNet.prefix} or no prefix`);
  } else if (mode === 'routed' && prefix !== max) {
    throw invalid(`a routed address is a single host: ${address}/${prefix} must be /${max}`, `give ${address} or ${address}/${max}`);
  } else {
    const edge = subnetEdge(address, { address, prefix, family });
    if (edge) throw invalid(`${address}/${prefix} is the ${edge} address of its subnet`);
  }
  return `${address}/${prefix}`;
}

const sameForward = (a: PortForward, b: PortForward): boolean => a.proto === b.proto && a.host === b.host;

/**
 * The container's network after the change (undefined: none), or an error that names the
 * problem. `hostAddresses` are the host's own (an address in use there is refused too).
 */
export function planNetwork(
  id: string,
  current: NetworkConfig | undefined,
  change: NetChange,
  s: NetSettings,
  others: OtherNetwork[],
  hostAddresses: string[] = [],
): NetworkConfig | undefined {
  if (change.mode === 'none') {
    if (change.add?.length || change.forwards?.length || change.rate) throw invalid('--netmode none takes no --ipadd, --forward or --rate');
    return undefined;
  }
  const mode: NetMode | undefined = change.mode ?? current?.mode ?? (change.add?.length || change.forwards?.length ? 'bridged' : undefined);
  if (!mode) {
    if (change.del?.length || change.forwardDel?.length) throw notFound(`container ${id} has no network`);
    if (change.rate) throw invalid(`--rate caps the container's veth, and ${id} has no network`, 'give it one with --ipadd (or --netmode)');
    return undefined;
  }
  let addresses = [...(current?.addresses ?? [])];
  for (const d of change.del ?? []) {
    if (d === 'all') {
      addresses = [];
      continue;
    }
    const a = d.includes('/') ? cidrAddress(d) : d;
    const fam = ipFamily(a);
    if (!fam) throw invalid(`--ipdel ${JSON.stringify(d)} is not an address (or all)`);
    const c = canonicalIp(a);
    if (!addresses.some((x) => cidrAddress(x) === c)) throw notFound(`container ${id} has no address ${c}`, `its addresses: ${addresses.join(', ') || 'none'}`);
    addresses = addresses.filter((x) => cidrAddress(x) !== c);
  }
  // a mode change re-checks what it keeps (a routed address must be a /32 or /128)
  if (mode !== current?.mode) addresses = addresses.map((a) => normalizeAddress(a, mode, s));
  const usedElsewhere = new Map<string, OtherNetwork>();
  for (const o of others) for (const a of o.net.addresses) usedElsewhere.set(cidrAddress(a), o);
  for (const text of change.add ?? []) {
    const used = new Set([...usedElsewhere.keys(), ...addresses.map(cidrAddress)]);
    if (text === 'auto' && mode !== 'bridged') throw invalid('--ipadd auto picks from the bridge subnet: it needs --netmode bridged');
    const cidr = text === 'auto' ? allocate(s, used) : normalizeAddress(text, mode, s);
    if (addresses.some((x) => cidrAddress(x) === cidrAddress(cidr))) throw invalid(`container ${id} has address ${cidrAddress(cidr)} already`);
    addresses.push(cidr);
  }
  const hostSet = new Set(hostAddresses.filter((a) => ipFamily(a)).map(canonicalIp));
  for (const a of addresses) {
    const other = usedElsewhere.get(cidrAddress(a));
    if (other) throw taken(`address ${cidrAddress(a)}`, other);
    if (hostSet.has(cidrAddress(a)) && cidrAddress(a) !== s.subnet.address) throw invalid(`address ${cidrAddress(a)} is one of this host's own addresses`);
  }

  let forwards = [...(current?.forwards ?? [])];
  for (const d of change.forwardDel ?? []) {
    const m = /^(?:(tcp|udp):)?(\d{1,5})$/.exec(d);
    if (!m) throw invalid(`--forward-del ${JSON.stringify(d)} is not [tcp|udp:]HOSTPORT`);
    const keep = forwards.filter((f) => !(f.host === Number(m[2]) && (!m[1] || f.proto === m[1])));
    if (keep.length === forwards.length) throw notFound(`container ${id} has no port forward from host port ${d}`);
    forwards = keep;
  }
  for (const text of change.forwards ?? []) {
    const f = parseForward(text);
    if (forwards.some((x) => sameForward(x, f))) throw invalid(`container ${id} forwards ${f.proto} port ${f.host} already`);
    forwards.push(f);
  }
  if (forwards.length && !addresses.some((a) => ipFamily(cidrAddress(a)) === 4)) {
    throw invalid(`port forwards go to the container's first IPv4 address, and ${id} has none`, 'add one with --ipadd');
  }
  for (const o of others) {
    for (const f of forwards) if (o.net.forwards.some((x) => sameForward(x, f))) throw taken(`host ${f.proto} port ${f.host} (${formatForward(f)})`, o);
  }
  const rate = change.rate === null ? undefined : (change.rate ?? current?.rate);
  return { mode, addresses, forwards, ...(rate ? { rate } : {}) };
}

/** What the guest's own network configuration says: its addresses and the gateways of its mode. */
export function guestNetwork(n: NetworkConfig, s: NetSettings): { iface: string; addresses: string[]; gateway4?: string; gateway6?: string; mode: NetMode } {
  const v4 = n.addresses.filter((a) => ipFamily(cidrAddress(a)) === 4);
  const v6 = n.addresses.filter((a) => ipFamily(cidrAddress(a)) === 6);
  let gateway4: string | undefined;
  let gateway6: string | undefined;
  if (n.mode === 'routed') {
    if (v4.length) gateway4 = ROUTED_GW4;
    if (v6.length) gateway6 = ROUTED_GW6;
  } else {
    if (v4.some((a) => inSubnet(cidrAddress(a), s.subnet))) gateway4 = s.subnet.address;
    if (v6.some((a) => inSubnet(cidrAddress(a), s.subnet6))) gateway6 = s.subnet6.address;
  }
  return { iface: GUEST_IF, addresses: n.addresses, mode: n.mode, ...(gateway4 ? { gateway4 } : {}), ...(gateway6 ? { gateway6 } : {}) };
}
