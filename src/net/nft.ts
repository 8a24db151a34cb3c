import { ipBits, ipFromBits, subnetBounds, type Cidr } from '../base/ip.js';
import type { PortForward } from '../base/netconfig.js';

/**
 * The nftables rules vpsctl owns, as a pure function of the containers with a network up.
 * Two tables of one name, because nftables sees bridged frames and routed packets in
 * different families: `table bridge NAME` (anti-spoofing on the bridge's ports, where frames
 * between two containers never reach an IP hook) and `table inet NAME` (anti-spoofing of
 * routed veths, NAT and port forwards). Nothing outside them is read or touched.
 *
 * The whole ruleset is replaced in one transaction (`nft -f`): `table X` (made if missing)
 * then `delete table X` then the new table, so there is never a moment without the rules,
 * and a crash leaves rules only for interfaces that are gone (harmless; the next change
 * drops them).
 */

export interface NftContainer {
  id: string;
  hostIf: string;
  mac: string;
  v4: string[];
  v6: string[];
  forwards: PortForward[];
}

export interface NftInput {
  table: string;
  bridge: string;
  subnet: Cidr;
  nat: boolean;
  containers: NftContainer[];
}

/** A chain name from an id: ids are DNS labels (no `_`), nft names take no `-`. */
export const nftChainName = (id: string): string => `ct_${id.replace(/-/g, '_')}`;
const chain = nftChainName;
const set = (items: string[]): string => `{ ${items.join(', ')} }`;
const q = (s: string): string => `"${s}"`;

/** A subnet as nftables wants it written: its network address and prefix. */
const net = (c: Cidr): string => `${ipFromBits(subnetBounds(c).first, c.family)}/${c.prefix}`;

/** An IPv6 address as the 128-bit number a raw payload match compares (nft 1.0 has no `icmpv6 taddr`). */
const hex128 = (a: string): string => `0x${ipBits(a, 6).toString(16).padStart(32, '0')}`;
/** fe80::/10 as a range of such numbers. */
const LINK_LOCAL_RANGE = `0xfe800000000000000000000000000000-0xfebfffffffffffffffffffffffffffff`;

/**
 * A neighbour advertisement claims its target address (ICMPv6 bytes 8-23): a container may
 * claim only its own addresses (and link-local ones), the NDP twin of the ARP sender check.
 */
const naTarget = (v6: string[]): string => `icmpv6 type nd-neighbor-advert @th,64,128 != ${set([LINK_LOCAL_RANGE, ...v6.map(hex128)])} drop`;

/** Duplicate address detection (a solicitation from `::`) only for its own addresses. */
const dadTarget = (v6: string[]): string => `ip6 saddr :: icmpv6 type nd-neighbor-solicit @th,64,128 != ${set([LINK_LOCAL_RANGE, ...v6.map(hex128)])} drop`;

/** Frames a bridged container may send: its MAC, its addresses, no router advertisements, no VLANs. */
function bridgedChain(c: NftContainer): string[] {
  const r = [`\tchain ${chain(c.id)} {`, `\t\tcomment ${q(`container ${c.id}`)}`, `\t\tether saddr != ${c.mac} drop`];
  if (c.v4.length) {
    r.push(`\t\tether type arp arp saddr ether != ${c.mac} drop`);
    // 0.0.0.0: ARP probes (duplicate address detection) before an address is taken, and
    // only for its own addresses (probing a neighbour's would make it fail its own)
    r.push(`\t\tether type arp arp saddr ip != ${set([...c.v4, '0.0.0.0'])} drop`);
    r.push(`\t\tether type arp arp saddr ip 0.0.0.0 arp daddr ip != ${set(c.v4)} drop`);
    r.push(`\t\tether type ip ip saddr != ${set(c.v4)} drop`);
    r.push('\t\tether type ip icmp type redirect drop');
  } else {
    r.push('\t\tether type { arp, ip } drop');
  }
  r.push('\t\tether type ip6 icmpv6 type { nd-router-advert, nd-redirect } drop');
  r.push(`\t\tether type ip6 ${naTarget(c.v6)}`);
  r.push(`\t\tether type ip6 ${dadTarget(c.v6)}`);
  // `::` is the source of duplicate address detection's neighbour solicitations
  r.push(`\t\tether type ip6 ip6 saddr != ${set(['fe80::/10', '::', ...c.v6])} drop`);
  r.push('\t\tether type != { arp, ip, ip6 } drop', '\t}');
  return r;
}

/** Packets a routed container may send: from its addresses (and IPv6 link-local), no RAs. */
function routedChain(c: NftContainer): string[] {
  const r = [`\tchain ${chain(c.id)} {`, `\t\tcomment ${q(`container ${c.id}`)}`, `\t\tether saddr != ${c.mac} drop`];
  r.push(c.v4.length ? `\t\tip saddr != ${set(c.v4)} drop` : '\t\tmeta nfproto ipv4 drop');
  r.push('\t\ticmpv6 type { nd-router-advert, nd-redirect } drop');
  r.push('\t\ticmp type redirect drop');
  r.push(`\t\t${naTarget(c.v6)}`);
  r.push(`\t\t${dadTarget(c.v6)}`);
  r.push(`\t\tip6 saddr != ${set(['fe80::/10', '::', ...c.v6])} drop`, '\t}');
  return r;
}

/** The first IPv4 address of a container on the bridge: where its port forwards go. */
const forwardTarget = (c: NftContainer): string | undefined => c.v4[0];

export function renderRuleset(input: NftInput): string {
  const t = input.table;
  // every container's checks in both tables, whatever its mode: a bridged veth never meets
  // the inet chain nor a routed one the bridge chain, and a mode change killed half-way
  // (veth of one mode, spec of the other) still finds its checks
  const all = input.containers;
  const out: string[] = [`# vpsctl: the whole of tables bridge ${t} and inet ${t}, replaced in one transaction`];

  out.push(`table bridge ${t}`, `delete table bridge ${t}`, `table bridge ${t} {`);
  out.push('\tchain prerouting {', '\t\ttype filter hook prerouting priority -200; policy accept;');
  const vmap = `\t\tiifname vmap ${set(all.map((c) => `${q(c.hostIf)} : jump ${chain(c.id)}`))}`;
  if (all.length) out.push(vmap);
  out.push('\t}');
  for (const c of all) out.push(...bridgedChain(c));
  out.push('}');

  out.push(`table inet ${t}`, `delete table inet ${t}`, `table inet ${t} {`);
  out.push('\tchain prerouting {', '\t\ttype filter hook prerouting priority -300; policy accept;');
  if (all.length) out.push(vmap);
  out.push('\t}');
  for (const c of all) out.push(...routedChain(c));

  const fwd: string[] = [];
  for (const c of input.containers) {
    const to = forwardTarget(c);
    if (!to) continue;
    for (const f of c.forwards) fwd.push(`\t\tfib daddr type local ip daddr != 127.0.0.0/8 ${f.proto} dport ${f.host} dnat ip to ${to}:${f.port} comment ${q(`container ${c.id}`)}`);
  }
  out.push('\tchain nat_prerouting {', '\t\ttype nat hook prerouting priority dstnat; policy accept;', ...fwd, '\t}');
  // connections from the host itself to one of its own addresses
  out.push('\tchain nat_output {', '\t\ttype nat hook output priority -100; policy accept;', ...fwd, '\t}');
  const sub = net(input.subnet);
  out.push('\tchain nat_postrouting {', '\t\ttype nat hook postrouting priority srcnat; policy accept;');
  if (input.nat) out.push(`\t\tip saddr ${sub} ip daddr != ${sub} oifname != ${q(input.bridge)} masquerade`);
  // hairpin: a container reaching a forward to itself or a neighbour answers through the host
  if (fwd.length) out.push(`\t\tip saddr ${sub} ip daddr ${sub} ct status dnat masquerade`);
  out.push('\t}', '}');
  return `${out.join('\n')}\n`;
}

/** Removes both tables (nothing of ours left): what `nft -f` gets when no container has a network and NAT is off. */
export function renderDeleteTables(table: string): string {
  return `table bridge ${table}\ndelete table bridge ${table}\ntable inet ${table}\ndelete table inet ${table}\n`;
}
