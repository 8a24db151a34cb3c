import { canonicalIp, ipFromBits, ipBits, reservedReason } from '../../src/base/ip.js';
import { parseConfig, renderConfig, type ContainerConfig } from '../../src/base/config.js';
import { formatRate, parseForward, parseNetwork, parseRate, type NetworkConfig } from '../../src/base/netconfig.js';
import { loadSettings } from '../../src/base/settings.js';
import { hostIfName, ifbName, macFor, HOST_IF } from '../../src/net/names.js';
import { guestNetwork, normalizeAddress, planNetwork, type NetSettings } from '../../src/net/plan.js';
import { renderDeleteTables, renderRuleset } from '../../src/net/nft.js';
import { renderSpec } from '../../src/net/vpsnet.js';
import { exitCodeOf } from './exit-code.js';

const s: NetSettings = {
  bridge: 'vpsbr0',
  subnet: { address: '10.88.0.1', prefix: 24, family: 4 },
  subnet6: { address: 'fd42:1:2::1', prefix: 64, family: 6 },
};
const bridged = (addresses: string[], forwards: NetworkConfig['forwards'] = []): NetworkConfig => ({ mode: 'bridged', addresses, forwards });

describe('IP addresses', () => {
  it('canonical forms follow RFC 5952', () => {
    expect(canonicalIp('FD42:0001:0002:0000:0000:0000:0000:0005')).toBe('fd42:1:2::5');
    expect(canonicalIp('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(canonicalIp('2001:db8::0:1')).toBe('2001:db8::1');
    expect(canonicalIp('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // one zero group stays
    expect(canonicalIp('::')).toBe('::');
    expect(canonicalIp('010.1.2.3'.replace(/^0/, ''))).toBe('10.1.2.3');
    expect(ipFromBits(ipBits('192.0.2.255', 4), 4)).toBe('192.0.2.255');
  });

  it.each([
    ['0.0.0.0', 'unspecified'],
    ['127.0.0.5', 'loopback'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['169.254.0.1', 'link-local'],
    ['::1', 'loopback'],
    ['ff02::1', 'multicast'],
    ['fe80::1', 'link-local'],
    ['::ffff:10.0.0.1', 'IPv4-mapped'],
  ])('%s is reserved (%s)', (a, why) => {
    expect(reservedReason(a)).toContain(why);
  });

  it('ordinary addresses are not reserved', () => {
    for (const a of ['10.88.0.5', '192.0.2.1', '2001:db8::1', 'fd00::1']) expect(reservedReason(a)).toBeUndefined();
  });
});

describe('names', () => {
  it('the host end of the veth fits 15 characters and is stable', () => {
    expect(hostIfName('101')).toBe('vps-101');
    expect(hostIfName('abcdefghijk')).toBe('vps-abcdefghijk');
    const long = hostIfName('a-very-long-container-id');
    expect(long).toMatch(/^vpsh[0-9a-f]{11}$/);
    expect(hostIfName('a-very-long-container-id')).toBe(long);
    for (const n of ['vps-101', long]) expect(HOST_IF.test(n)).toBe(true);
    expect(HOST_IF.test('vpsbr0')).toBe(false);
  });

  it("the ifb device of --rate fits 15 characters, is stable and never one of the veth's names", () => {
    expect(ifbName('101')).toBe('vpsi-101');
    expect(ifbName('abcdefghij')).toBe('vpsi-abcdefghij');
    expect(ifbName('abcdefghijk')).toMatch(/^vpsi[0-9a-f]{11}$/);
    const long = ifbName('a-very-long-container-id');
    expect(long).toMatch(/^vpsi[0-9a-f]{11}$/);
    expect(long).not.toBe(hostIfName('a-very-long-container-id'));
    for (const n of ['vpsi-101', long]) expect(HOST_IF.test(n)).toBe(false);
  });

  it('MACs are locally administered unicast, stable, and differ per id', () => {
    const m = macFor('101');
    expect(m).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(macFor('101')).toBe(m);
    expect(macFor('102')).not.toBe(m);
  });
});

describe('--ipadd normalisation', () => {
  it.each([
    ['10.88.0.5', 'bridged', '10.88.0.5/24'],
    ['10.88.0.5/24', 'bridged', '10.88.0.5/24'],
    ['fd42:1:2:0::5', 'bridged', 'fd42:1:2::5/64'],
    ['192.0.2.10/28', 'bridged', '192.0.2.10/28'],
    ['192.0.2.10', 'bridged', '192.0.2.10/32'],
    ['203.0.113.7', 'routed', '203.0.113.7/32'],
    ['2001:db8::7', 'routed', '2001:db8::7/128'],
    ['2001:db8::7/128', 'routed', '2001:db8::7/128'],
  ] as const)('%s in %s mode is %s', (text, mode, want) => {
    expect(normalizeAddress(text, mode, s)).toBe(want);
  });

  it.each([
    ['10.88.0.300', 'not an IPv4 or IPv6'],
    ['banana', 'not an IPv4 or IPv6'],
    ['10.88.0.5/33', 'out of range'],
    ['10.88.0.5/0', 'out of range'],
    ['10.88.0.5/x', 'out of range'],
    ['2001:db8::1/129', 'out of range'],
    ['10.88.0.1', "bridge vpsbr0's own address"],
    ['fd42:1:2::1', "bridge vpsbr0's own address"],
    ['10.88.0.0', 'network address'],
    ['10.88.0.255', 'broadcast address'],
    ['10.88.0.5/16', 'does not match'],
    ['192.0.2.0/24', 'network address'],
    ['127.0.0.2', 'loopback'],
    ['fe80::5', 'link-local'],
    ['fe80::1%eth0', 'not an IPv4 or IPv6'],
  ])('%s is refused (%s) with exit 2', (text, why) => {
    expect(() => normalizeAddress(text, 'bridged', s)).toThrow(why);
    expect(exitCodeOf(() => normalizeAddress(text, 'bridged', s))).toBe(2);
  });

  it('routed addresses are single hosts outside the bridge subnet', () => {
    expect(() => normalizeAddress('203.0.113.7/24', 'routed', s)).toThrow('must be /32');
    expect(() => normalizeAddress('10.88.0.7', 'routed', s)).toThrow("bridge's subnet");
  });
});

describe('planNetwork', () => {
  const others = [{ id: 'b', net: bridged(['10.88.0.11/24'], [{ proto: 'tcp' as const, host: 2222, port: 22 }]) }];

  it('adds, keeps the order, and makes bridged the default mode', () => {
    expect(planNetwork('a', undefined, { add: ['10.88.0.10', 'fd42:1:2::10'] }, s, others)).toEqual(bridged(['10.88.0.10/24', 'fd42:1:2::10/64']));
  });

  it('auto picks the lowest free address past the bridge and the others', () => {
    const n = planNetwork('a', bridged(['10.88.0.2/24']), { add: ['auto'] }, s, [{ id: 'b', net: bridged(['10.88.0.3/24']) }]);
    expect(n?.addresses).toEqual(['10.88.0.2/24', '10.88.0.4/24']);
  });

  it('auto in a full subnet is out of resources (exit 7)', () => {
    const tiny: NetSettings = { ...s, subnet: { address: '10.9.0.1', prefix: 30, family: 4 } };
    expect(exitCodeOf(() => planNetwork('a', bridged(['10.9.0.2/30']), { add: ['auto'] }, tiny, []))).toBe(7);
  });

  it("refuses another container's address, in any spelling", () => {
    expect(() => planNetwork('a', undefined, { add: ['10.88.0.11'] }, s, others)).toThrow('already assigned to container b');
    const v6 = [{ id: 'c', net: bridged(['fd42:1:2::10/64']) }];
    expect(() => planNetwork('a', undefined, { add: ['fd42:1:2:0:0::10'] }, s, v6)).toThrow('already assigned to container c');
  });

  it("refuses another container's host port, and the host's own address", () => {
    expect(() => planNetwork('a', undefined, { add: ['10.88.0.10'], forwards: ['2222:22'] }, s, others)).toThrow('host tcp port 2222');
    expect(planNetwork('a', undefined, { add: ['10.88.0.10'], forwards: ['udp:2222:22'] }, s, others)?.forwards).toEqual([{ proto: 'udp', host: 2222, port: 22 }]);
    expect(() => planNetwork('a', undefined, { add: ['192.0.2.9'] }, s, [], ['192.0.2.9'])).toThrow("this host's own");
  });

  it('removes by address with or without prefix, or all; a missing one is exit 3', () => {
    const cur = bridged(['10.88.0.10/24', 'fd42:1:2::10/64']);
    expect(planNetwork('a', cur, { del: ['fd42:1:2:0::10/64'] }, s, [])?.addresses).toEqual(['10.88.0.10/24']);
    expect(planNetwork('a', cur, { del: ['all'] }, s, [])?.addresses).toEqual([]);
    expect(exitCodeOf(() => planNetwork('a', cur, { del: ['10.88.0.99'] }, s, []))).toBe(3);
  });

  it('a mode change re-checks the addresses it keeps', () => {
    expect(() => planNetwork('a', bridged(['10.88.0.10/24']), { mode: 'routed' }, s, [])).toThrow("bridge's subnet");
    expect(planNetwork('a', bridged(['192.0.2.5/32']), { mode: 'routed' }, s, [])).toEqual({ mode: 'routed', addresses: ['192.0.2.5/32'], forwards: [] });
    expect(planNetwork('a', bridged(['10.88.0.10/24']), { mode: 'none' }, s, [])).toBeUndefined();
    expect(() => planNetwork('a', undefined, { mode: 'none', add: ['10.88.0.10'] }, s, [])).toThrow('--netmode none');
  });

  it('forwards need an IPv4 address, and go with --forward-del', () => {
    expect(() => planNetwork('a', undefined, { add: ['fd42:1:2::10'], forwards: ['80:8080'] }, s, [])).toThrow('first IPv4 address');
    const cur = bridged(['10.88.0.10/24'], [{ proto: 'tcp', host: 80, port: 8080 }, { proto: 'udp', host: 80, port: 8080 }]);
    expect(planNetwork('a', cur, { forwardDel: ['tcp:80'] }, s, [])?.forwards).toEqual([{ proto: 'udp', host: 80, port: 8080 }]);
    expect(planNetwork('a', cur, { forwardDel: ['80'] }, s, [])?.forwards).toEqual([]);
    expect(exitCodeOf(() => planNetwork('a', cur, { forwardDel: ['81'] }, s, []))).toBe(3);
  });

  it('--ipdel on a container without a network is exit 3', () => {
    expect(exitCodeOf(() => planNetwork('a', undefined, { del: ['10.88.0.10'] }, s, []))).toBe(3);
  });
});

describe('--rate', () => {
  it.each([
    ['10mbit', { in: 10e6, out: 10e6 }],
    ['10Mbit/2mbit', { in: 10e6, out: 2e6 }],
    ['1.5gbit/none', { in: 1.5e9, out: 0 }],
    ['0/500kbit', { in: 0, out: 500e3 }],
    ['8000bit', { in: 8000, out: 8000 }],
    ['100gbit', { in: 100e9, out: 100e9 }],
  ])('%s parses', (t, want) => expect(parseRate(t)).toEqual(want));
  it('none (or 0 both ways) removes the caps', () => {
    expect(parseRate('none')).toBeNull();
    expect(parseRate('0/none')).toBeNull();
  });
  it.each(['10mbps', '10M', '7999bit', '101gbit', '1/2/3', 'fast', '', '-1mbit', '1e9bit'])('%s is refused (exit 2)', (t) => expect(exitCodeOf(() => parseRate(t))).toBe(2));
  it('bytes per second get a hint that says so', () => expect(() => parseRate('10mbps')).toThrow(expect.objectContaining({ hint: expect.stringMatching(/bytes per second/) })));
  it('formats in the largest exact unit', () => {
    expect(formatRate(10e6)).toBe('10mbit');
    expect(formatRate(1.5e9)).toBe('1500mbit');
    expect(formatRate(8500)).toBe('8500bit');
  });
  it('planNetwork keeps, changes and removes the caps; a container without a network takes none', () => {
    const n = planNetwork('a', undefined, { add: ['10.88.0.10'], rate: { in: 1e7, out: 1e7 } }, s, []);
    expect(n?.rate).toEqual({ in: 1e7, out: 1e7 });
    expect(planNetwork('a', n, { add: ['10.88.0.11'] }, s, [])?.rate).toEqual({ in: 1e7, out: 1e7 });
    expect(planNetwork('a', n, { rate: null }, s, [])?.rate).toBeUndefined();
    expect(exitCodeOf(() => planNetwork('a', undefined, { rate: { in: 1e7, out: 0 } }, s, []))).toBe(2);
    expect(exitCodeOf(() => planNetwork('a', n, { mode: 'none', rate: { in: 1e7, out: 0 } }, s, []))).toBe(2);
  });
  it('config.yaml round-trips the caps, each way on its own', () => {
    const cfg: ContainerConfig = { id: '101', template: 'debian-12', hostname: 'h', disk: 1024 ** 3, created: 'x', init: '/sbin/init', privileged: true, network: { mode: 'bridged', addresses: ['10.88.0.10/24'], forwards: [], rate: { in: 0, out: 2e6 } } };
    expect(renderConfig(cfg)).toContain('rate:\n    out: 2mbit');
    expect(parseConfig(renderConfig(cfg), 'f', '101').network).toEqual(cfg.network);
    expect(() => parseNetwork({ mode: 'bridged', addresses: [], rate: { in: '10mbps' } })).toThrow('not a rate');
    expect(() => parseNetwork({ mode: 'bridged', addresses: [], rate: { up: '10mbit' } })).toThrow('network.rate.up');
  });
  it('the spec gives vps-net the caps in bits per second and the ifb device', () => {
    const text = renderSpec({ mode: 'routed', hostIf: 'vps-101', mac: '02:00:00:00:00:01', addresses: ['203.0.113.7/32'], ifb: 'vpsi-101', rate: { in: 1e7, out: 0 } });
    expect(text).toContain('ifb_if vpsi-101\nrate_in 10000000\n');
    expect(text).not.toContain('rate_out');
  });
});

describe('port forwards', () => {
  it.each(['2222:22', 'tcp:2222:22', 'udp:53:53'])('%s parses', (t) => expect(parseForward(t).port).toBeGreaterThan(0));
  it.each(['2222', 'sctp:1:2', '0:22', '70000:22', '22:', 'a:b'])('%s is refused', (t) => expect(exitCodeOf(() => parseForward(t))).toBe(2));
});

describe('the guest side', () => {
  it('bridged containers use the bridge as gateway; routed ones the host end of the veth, on-link', () => {
    expect(guestNetwork(bridged(['10.88.0.10/24', 'fd42:1:2::10/64']), s)).toMatchObject({ iface: 'eth0', gateway4: '10.88.0.1', gateway6: 'fd42:1:2::1' });
    expect(guestNetwork(bridged(['192.0.2.10/28']), s).gateway4).toBeUndefined();
    expect(guestNetwork({ mode: 'routed', addresses: ['203.0.113.7/32', '2001:db8::7/128'], forwards: [] }, s)).toMatchObject({ gateway4: '169.254.0.1', gateway6: 'fe80::1', mode: 'routed' });
  });

  it('the spec vps-net reads at each boot', () => {
    const text = renderSpec({ mode: 'bridged', hostIf: 'vps-101', mac: '02:00:00:00:00:01', bridge: 'vpsbr0', addresses: ['10.88.0.10/24'], gateway4: '10.88.0.1' });
    expect(text).toContain('mode bridged\nhost_if vps-101\npeer_if eth0\nmac 02:00:00:00:00:01\nbridge vpsbr0\naddr 10.88.0.10/24\ngw4 10.88.0.1\n');
    expect(renderSpec({ mode: 'none', addresses: [] })).toMatch(/\nmode none\n$/);
  });
});

describe('config.yaml network', () => {
  const cfg: ContainerConfig = {
    id: '101', template: 'debian-12', hostname: 'h', disk: 1024 ** 3, created: 'x', init: '/sbin/init', privileged: true,
    network: { mode: 'routed', addresses: ['203.0.113.7/32'], forwards: [{ proto: 'tcp', host: 2222, port: 22 }] },
  };
  it('round-trips', () => {
    expect(parseConfig(renderConfig(cfg), 'f', '101').network).toEqual(cfg.network);
    expect(renderConfig(cfg)).toContain('forwards:\n    - tcp:2222:22');
  });
  it('refuses a bad network section', () => {
    expect(() => parseNetwork({ mode: 'venet', addresses: [] })).toThrow('bridged or routed');
    expect(() => parseNetwork({ mode: 'bridged', addresses: ['10.0.0.1/24', '10.0.0.1/16'] })).toThrow('twice');
    expect(() => parseNetwork({ mode: 'bridged', addresses: ['10.0.0.1'] })).toThrow('prefix length');
    expect(() => parseNetwork({ mode: 'bridged', addresses: [], mac: 'x' })).toThrow('network.mac');
  });
});

describe('host settings for the network', () => {
  const load = (env: Record<string, string>): ReturnType<typeof loadSettings> => loadSettings({ VPSCTL_CONFIG: '/nonexistent/vpsctl.yaml', ...env });
  it('has defaults: vpsbr0, 10.88.0.1/24, a ULA /64, NAT, table vpsctl', () => {
    const st = load({});
    expect(st).toMatchObject({ bridge: 'vpsbr0', subnet: { address: '10.88.0.1', prefix: 24 }, nat: true, nftTable: 'vpsctl' });
    expect(st.subnet6.address).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::1$/);
    expect(st.subnet6.prefix).toBe(64);
  });
  it.each([
    [{ VPSCTL_SUBNET: '10.88.0.0/24' }, 'network'],
    [{ VPSCTL_SUBNET: '10.88.0.1/31' }, 'prefix'],
    [{ VPSCTL_SUBNET: 'fd00::1/64' }, 'IPv4'],
    [{ VPSCTL_SUBNET6: 'fd00::1/20' }, 'prefix'],
    [{ VPSCTL_BRIDGE: 'a/b' }, 'interface name'],
    [{ VPSCTL_BRIDGE: 'waytoolongbridge0' }, 'interface name'],
    [{ VPSCTL_NAT: 'maybe' }, 'true or false'],
    [{ VPSCTL_NFT_TABLE: 'Bad-Name' }, 'lower-case'],
  ])('%j is refused', (env, why) => {
    expect(() => load(env)).toThrow(why);
  });
});

describe('nftables rules', () => {
  const input = {
    table: 'vpsctl',
    bridge: 'vpsbr0',
    subnet: s.subnet,
    nat: true,
    containers: [
      { id: '101', hostIf: 'vps-101', mac: '02:00:00:00:01:01', v4: ['10.88.0.10'], v6: ['fd42:1:2::10'], forwards: [{ proto: 'tcp' as const, host: 2222, port: 22 }] },
      { id: 'web-2', hostIf: 'vps-web-2', mac: '02:00:00:00:01:02', v4: ['203.0.113.7'], v6: [], forwards: [] },
      { id: 'v6only', hostIf: 'vps-v6only', mac: '02:00:00:00:01:03', v4: [], v6: ['fd42:1:2::12'], forwards: [] },
    ],
  };
  const text = renderRuleset(input);

  it('replaces exactly its own two tables in one go', () => {
    expect(text.match(/^table (bridge|inet) vpsctl$/gm)).toHaveLength(2);
    expect(text).toContain('delete table bridge vpsctl\ntable bridge vpsctl {');
    expect(text).toContain('delete table inet vpsctl\ntable inet vpsctl {');
    expect(text.match(/^table /gm)).toHaveLength(4);
    expect(renderDeleteTables('vpsctl')).toBe('table bridge vpsctl\ndelete table bridge vpsctl\ntable inet vpsctl\ndelete table inet vpsctl\n');
  });

  it('checks MAC, ARP and source addresses on bridge ports, and drops RAs and VLANs', () => {
    expect(text).toContain('iifname vmap { "vps-101" : jump ct_101, "vps-web-2" : jump ct_web_2, "vps-v6only" : jump ct_v6only }');
    expect(text).toContain('ether saddr != 02:00:00:00:01:01 drop');
    expect(text).toContain('arp saddr ether != 02:00:00:00:01:01 drop');
    expect(text).toContain('arp saddr ip != { 10.88.0.10, 0.0.0.0 } drop');
    expect(text).toContain('ether type ip ip saddr != { 10.88.0.10 } drop');
    expect(text).toContain('ip6 saddr != { fe80::/10, ::, fd42:1:2::10 } drop');
    expect(text).toContain('nd-router-advert');
    // NDP's twin of the ARP check: an advertisement may claim only its own (or link-local) addresses
    expect(text).toContain('icmpv6 type nd-neighbor-advert @th,64,128 != { 0xfe800000000000000000000000000000-0xfebfffffffffffffffffffffffffffff, 0xfd420001000200000000000000000010 } drop');
    expect(text).toContain('ether type != { arp, ip, ip6 } drop');
    // no IPv4 address: no IPv4 and no ARP at all
    expect(text).toMatch(/chain ct_v6only \{[^}]*ether type \{ arp, ip \} drop/);
  });

  it('checks routed veths in the inet table, with the id made a chain name', () => {
    expect(text).toMatch(/chain prerouting \{\n\t\ttype filter hook prerouting priority -300; policy accept;\n\t\tiifname vmap \{ "vps-101" : jump ct_101, "vps-web-2" : jump ct_web_2, "vps-v6only" : jump ct_v6only \}/);
    expect(text).toContain('ip saddr != { 203.0.113.7 } drop');
    expect(text).toContain('icmp type redirect drop');
    // duplicate address detection only for its own addresses, in ARP and NDP
    expect(text).toContain('arp saddr ip 0.0.0.0 arp daddr ip != { 10.88.0.10 } drop');
    expect(text).toContain('ip6 saddr :: icmpv6 type nd-neighbor-solicit @th,64,128 != { 0xfe800000000000000000000000000000-0xfebfffffffffffffffffffffffffffff, 0xfd420001000200000000000000000010 } drop');
  });

  it('forwards host ports to the first IPv4 address, for outside and for the host itself, and masquerades the subnet', () => {
    expect(text.match(/tcp dport 2222 dnat ip to 10\.88\.0\.10:22/g)).toHaveLength(2);
    expect(text).toContain('ip saddr 10.88.0.0/24 ip daddr != 10.88.0.0/24 oifname != "vpsbr0" masquerade');
    expect(text).toContain('ct status dnat masquerade');
    expect(renderRuleset({ ...input, nat: false })).not.toContain('oifname != "vpsbr0" masquerade');
  });
});
