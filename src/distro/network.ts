import { stringify } from 'yaml';
import { inSubnet, isLinkLocal6, parseCidr, type Cidr, type NetworkInput } from './input.js';

/**
 * The container's network in each OS's own format. Every renderer here is a pure function
 * of a `NetPlan`, so the formats are tested without a tree; the personalities decide which
 * one an image reads and where it goes.
 *
 * On-link gateways (routed mode: a /32 or /128 address, the gateway the host's end of the
 * veth, on no subnet the container has) are written the way each stack supports:
 * - ifupdown: no `gateway` (ifup would fail on an unreachable one), but `post-up ip route
 *   replace GW dev IFACE` then `post-up ip route replace default via GW dev IFACE` (ip -6
 *   for IPv6; `replace`, so that a second ifup does not fail on a route already there); the
 *   kernel drops both when ifdown takes the link down;
 * - systemd-networkd: `[Route] Gateway=GW` with `GatewayOnLink=yes`;
 * - netplan: the default route with `on-link: true`;
 * - network-scripts (CentOS 7): no GATEWAY/IPV6_DEFAULTGW, but route-IFACE / route6-IFACE in
 *   `ip route` argument form (`GW dev IFACE`, `default via GW dev IFACE`), which ifup-routes
 *   and NetworkManager's ifcfg reader both take;
 * - NetworkManager keyfile: no `gateway=`, but `route1=0.0.0.0/0,GW` with
 *   `route1_options=onlink=true` (the `onlink` route attribute, NetworkManager >= 1.8).
 * An IPv6 link-local gateway (fe80::/10) is on every link already and needs none of this.
 */

export interface Gateway {
  address: string;
  /** Reached directly on the link although no address's subnet holds it. */
  onLink: boolean;
}

export interface NetPlan {
  iface: string;
  v4: Cidr[];
  v6: Cidr[];
  gw4?: Gateway;
  gw6?: Gateway;
  nameservers: string[];
  search: string[];
}

/** The first comment line of every network file we write: it marks the file as ours. */
export const MARK = 'written by vpsctl';

/** From the validated input to what the renderers need. */
export function planNetwork(net: NetworkInput, nameservers: string[] = [], search: string[] = []): NetPlan {
  const cidrs = net.addresses.map(parseCidr);
  const v4 = cidrs.filter((c) => c.family === 4);
  const v6 = cidrs.filter((c) => c.family === 6);
  const routed = net.mode === 'routed';
  const gw = (address: string | undefined, nets: Cidr[]): Gateway | undefined => {
    if (address === undefined) return undefined;
    if (isLinkLocal6(address)) return { address, onLink: false };
    return { address, onLink: routed || !nets.some((n) => inSubnet(address, n)) };
  };
  return { iface: net.iface, v4, v6, gw4: gw(net.gateway4, v4), gw6: gw(net.gateway6, v6), nameservers, search };
}

const cidr = (c: Cidr): string => `${c.address}/${c.prefix}`;
const v4dns = (p: NetPlan): string[] => p.nameservers.filter((n) => !n.includes(':'));
const v6dns = (p: NetPlan): string[] => p.nameservers.filter((n) => n.includes(':'));

/** Debian's ifupdown: /etc/network/interfaces.d/IFACE, one `iface` stanza per address. */
export function renderIfupdown(p: NetPlan): string {
  const out = [`# ${MARK}: the container's network (ifupdown); vpsctl set rewrites this file`, `auto ${p.iface}`];
  const family = (nets: Cidr[], inet: 'inet' | 'inet6', gw: Gateway | undefined, ip: string, first: boolean): void => {
    nets.forEach((n, i) => {
      out.push(`iface ${p.iface} ${inet} static`, `\taddress ${cidr(n)}`);
      if (i > 0) return;
      if (gw && !gw.onLink) out.push(`\tgateway ${gw.address}`);
      if (gw?.onLink) {
        out.push(`\tpost-up ${ip} route replace ${gw.address} dev ${p.iface}`);
        out.push(`\tpost-up ${ip} route replace default via ${gw.address} dev ${p.iface}`);
      }
      if (inet === 'inet6') out.push('\taccept_ra 0');
      // read only by the resolvconf package, when the image has it; /etc/resolv.conf is written too
      if (first && p.nameservers.length) out.push(`\tdns-nameservers ${p.nameservers.join(' ')}`);
      if (first && p.search.length) out.push(`\tdns-search ${p.search.join(' ')}`);
    });
  };
  family(p.v4, 'inet', p.gw4, 'ip', true);
  family(p.v6, 'inet6', p.gw6, 'ip -6', p.v4.length === 0);
  return `${out.join('\n')}\n`;
}

/** systemd-networkd: /etc/systemd/network/10-IFACE.network. */
export function renderNetworkd(p: NetPlan): string {
  const out = [`# ${MARK}: the container's network (systemd-networkd); vpsctl set rewrites this file`, '[Match]', `Name=${p.iface}`, '', '[Network]'];
  for (const n of [...p.v4, ...p.v6]) out.push(`Address=${cidr(n)}`);
  for (const ns of p.nameservers) out.push(`DNS=${ns}`);
  if (p.search.length) out.push(`Domains=${p.search.join(' ')}`);
  out.push('IPv6AcceptRA=no');
  for (const gw of [p.gw4, p.gw6]) {
    if (!gw) continue;
    out.push('', '[Route]', `Gateway=${gw.address}`);
    if (gw.onLink) out.push('GatewayOnLink=yes');
  }
  return `${out.join('\n')}\n`;
}

/**
 * Ubuntu's netplan: /etc/netplan/50-vpsctl.yaml. `to: default` from netplan 0.104 (Ubuntu
 * 22.04); older netplan gets `0.0.0.0/0` and `::/0`, which every version takes. DHCP and
 * router advertisements are switched off explicitly, since a template's own netplan file
 * for the same interface (cloud-init's 50-cloud-init.yaml sorts before ours) merges with it.
 */
export function renderNetplan(p: NetPlan, opts: { defaultKeyword: boolean }): string {
  const eth: Record<string, unknown> = {
    addresses: [...p.v4, ...p.v6].map(cidr),
    dhcp4: false,
    dhcp6: false,
    'accept-ra': false,
  };
  const routes = [];
  for (const [gw, def] of [[p.gw4, '0.0.0.0/0'], [p.gw6, '::/0']] as const) {
    if (!gw) continue;
    routes.push({ to: opts.defaultKeyword ? 'default' : def, via: gw.address, ...(gw.onLink ? { 'on-link': true } : {}) });
  }
  if (routes.length) eth.routes = routes;
  if (p.nameservers.length || p.search.length) {
    eth.nameservers = { ...(p.nameservers.length ? { addresses: p.nameservers } : {}), ...(p.search.length ? { search: p.search } : {}) };
  }
  const doc = { network: { version: 2, ethernets: { [p.iface]: eth } } };
  return `# ${MARK}: the container's network (netplan); vpsctl set rewrites this file\n${stringify(doc)}`;
}

/** A shell-sourced value (ifcfg files are read by bash): quoted when it needs to be. */
const sh = (v: string): string => (/^[A-Za-z0-9_./:%@-]+$/.test(v) ? v : `"${v.replace(/(["\\$`])/g, '\\$1')}"`);

/** CentOS 7's network-scripts: ifcfg-IFACE, plus route-IFACE / route6-IFACE for on-link gateways. */
export function renderIfcfg(p: NetPlan): { ifcfg: string; route?: string; route6?: string } {
  const kv: [string, string][] = [
    ['DEVICE', p.iface],
    ['NAME', p.iface],
    ['TYPE', 'Ethernet'],
    ['ONBOOT', 'yes'],
    ['BOOTPROTO', 'none'],
  ];
  p.v4.forEach((n, i) => {
    kv.push([`IPADDR${i || ''}`, n.address], [`PREFIX${i || ''}`, String(n.prefix)]);
  });
  if (p.gw4 && !p.gw4.onLink) kv.push(['GATEWAY', p.gw4.address]);
  if (p.gw4) kv.push(['DEFROUTE', 'yes']);
  kv.push(['IPV6INIT', p.v6.length ? 'yes' : 'no']);
  if (p.v6.length) {
    kv.push(['IPV6_AUTOCONF', 'no'], ['IPV6ADDR', cidr(p.v6[0])]);
    if (p.v6.length > 1) kv.push(['IPV6ADDR_SECONDARIES', p.v6.slice(1).map(cidr).join(' ')]);
    // a link-local gateway needs its interface named (ifup-ipv6 takes ADDR%IFACE)
    if (p.gw6 && !p.gw6.onLink) kv.push(['IPV6_DEFAULTGW', isLinkLocal6(p.gw6.address) ? `${p.gw6.address}%${p.iface}` : p.gw6.address]);
  }
  p.nameservers.forEach((ns, i) => kv.push([`DNS${i + 1}`, ns]));
  if (p.search.length) kv.push(['DOMAIN', p.search.join(' ')]);
  const head = `# ${MARK}: the container's network (network-scripts); vpsctl set rewrites this file\n`;
  const routeFile = (gw: Gateway | undefined): string | undefined =>
    gw?.onLink ? `${head}${gw.address} dev ${p.iface}\ndefault via ${gw.address} dev ${p.iface}\n` : undefined;
  return {
    ifcfg: head + kv.map(([k, v]) => `${k}=${sh(v)}\n`).join(''),
    route: routeFile(p.gw4),
    route6: routeFile(p.gw6),
  };
}

/** NetworkManager's keyfile: /etc/NetworkManager/system-connections/IFACE.nmconnection. */
export function renderNmKeyfile(p: NetPlan, uuid: string): string {
  const out = [
    `# ${MARK}: the container's network (NetworkManager keyfile); vpsctl set rewrites this file`,
    '[connection]',
    `id=${p.iface}`,
    `uuid=${uuid}`,
    'type=ethernet',
    `interface-name=${p.iface}`,
    'autoconnect=true',
    '',
    '[ethernet]',
  ];
  // search domains go with the first family that is configured: NM merges them anyway
  const searchIn = p.v4.length ? 4 : 6;
  const family = (nets: Cidr[], gw: Gateway | undefined, dns: string[], fam: 4 | 6): void => {
    out.push('', `[ipv${fam}]`);
    if (!nets.length) {
      out.push(fam === 4 ? 'method=disabled' : 'method=ignore');
      return;
    }
    out.push('method=manual');
    nets.forEach((n, i) => out.push(`address${i + 1}=${cidr(n)}`));
    if (gw && !gw.onLink) out.push(`gateway=${gw.address}`);
    if (gw?.onLink) out.push(`route1=${fam === 4 ? '0.0.0.0/0' : '::/0'},${gw.address}`, 'route1_options=onlink=true');
    if (dns.length) out.push(`dns=${dns.join(';')};`);
    if (p.search.length && searchIn === fam) out.push(`dns-search=${p.search.join(';')};`);
    if (fam === 6) out.push('addr-gen-mode=eui64');
    out.push('may-fail=false');
  };
  family(p.v4, p.gw4, v4dns(p), 4);
  family(p.v6, p.gw6, v6dns(p), 6);
  out.push('', '[proxy]');
  return `${out.join('\n')}\n`;
}
