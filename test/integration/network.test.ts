/**
 * Networking on real containers: a bridge, veths, routed host routes and the nftables
 * anti-spoofing, all on this host. Traffic goes only between the host and the test's own
 * containers (their own network namespaces): the test bridge and subnets are private to this
 * file (10.231.N.0/24 bridged, 10.232.N.0/24 routed, fd00:231:N::/64), NAT is off, and
 * nothing is routed anywhere else.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import type { NetworkStatus } from '../../src/core/network.js';
import { inside, json, makeEnv, newId, ok, sleep, until, vpsctl, type Env } from './harness.js';

interface Status {
  id: string;
  state: string;
  init_pid: number;
  addresses: string[];
  network: NetworkStatus | null;
}

const N = 10 + (process.pid % 200);
const tag = (process.pid % 100000).toString(36);
const BR = `vpt${tag}`;
const TABLE = `vpsctl_t${tag}`;
const V4 = `10.231.${N}`;
const R4 = `10.232.${N}`;
const V6 = `fd00:231:${N.toString(16)}`;
const base = makeEnv();
const e: Env = {
  ...base,
  env: { ...base.env, VPSCTL_BRIDGE: BR, VPSCTL_SUBNET: `${V4}.1/24`, VPSCTL_SUBNET6: `${V6}::1/64`, VPSCTL_NAT: 'false', VPSCTL_NFT_TABLE: TABLE },
};

const a = newId('na');
const b = newId('nb');
const r = newId('nr');

/** The rules of our two tables, as text ('' when a table is absent). */
async function rules(): Promise<string> {
  const out = await Promise.all(['bridge', 'inet'].map((f) => execa('nft', ['list', 'table', f, TABLE], { reject: false })));
  return out.map((o) => (o.exitCode === 0 ? String(o.stdout) : '')).join('\n');
}

/** A TCP connection from the host; resolves with the first bytes the peer sends (sshd's banner). */
function banner(host: string, port = 22, timeoutMs = 4000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (v: string): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done('timeout'));
    s.once('data', (d) => done(String(d)));
    s.once('error', (err) => done(`error ${(err as NodeJS.ErrnoException).code}`));
  });
}

/** Echo requests a container's kernel has received so far (IPv4 and IPv6). */
async function echoesIn(id: string): Promise<{ v4: number; v6: number }> {
  const snmp = await inside(e, id, ['cat', '/proc/net/snmp', '/proc/net/snmp6']);
  const icmp = snmp.split('\n').filter((l) => l.startsWith('Icmp:'));
  const head = icmp[0].split(/\s+/);
  const vals = icmp[1].split(/\s+/);
  return { v4: Number(vals[head.indexOf('InEchos')]), v6: Number(/^Icmp6InEchos\s+(\d+)$/m.exec(snmp)?.[1]) };
}

const sh = (id: string, cmd: string): Promise<{ exitCode: number; stdout: string; stderr: string }> => vpsctl(e, ['exec', id, '--', 'sh', '-c', cmd]);
const ifExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`);

beforeAll(async () => {
  await Promise.all([
    ok(e, ['create', a, '--template', 'debian-12', '--disk', '1G', '--ipadd', `${V4}.10`, '--ipadd', `${V6}::10`]),
    ok(e, ['create', b, '--template', 'debian-12', '--disk', '1G', '--ipadd', `${V4}.11`, '--ipadd', `${V6}::11`]),
    ok(e, ['create', r, '--template', 'debian-12', '--disk', '1G', '--netmode', 'routed', '--ipadd', `${R4}.5`]),
  ]);
  for (const id of [a, b, r]) await ok(e, ['start', id, '--wait', '--timeout', '180s']);
}, 400_000);

afterAll(async () => {
  for (const id of [a, b, r, newId('unused')]) await vpsctl(e, ['destroy', id, '--force']);
  // the bridge is left for other containers by design; this file's own goes at the end
  await execa('ip', ['link', 'del', BR], { reject: false });
});

describe('two bridged containers and a routed one', () => {
  it('status and list show the addresses, the mode, the veth and the MAC', async () => {
    const st = await json<Status>(e, ['status', a]);
    expect(st.network).toMatchObject({ mode: 'bridged', bridge: BR, addresses: [`${V4}.10/24`, `${V6}::10/64`], gateway4: `${V4}.1`, gateway6: `${V6}::1` });
    expect(st.network?.mac).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(readFileSync(`/sys/class/net/${st.network!.host_if}/master/uevent`, 'utf8')).toContain(`INTERFACE=${BR}`);
    expect(await inside(e, a, ['cat', '/sys/class/net/eth0/address'])).toBe(st.network?.mac);
    // the port never learns a MAC from what the tenant sends (link-local group frames such as
    // LLDP reach the bridge's learning before any netfilter hook): its own is a static entry
    const port = `/sys/class/net/${st.network!.host_if}/brport`;
    expect(readFileSync(`${port}/learning`, 'utf8').trim()).toBe('0');
    expect(readFileSync(`${port}/unicast_flood`, 'utf8').trim()).toBe('0');
    expect(String((await execa('bridge', ['fdb', 'show', 'dev', st.network!.host_if])).stdout)).toMatch(new RegExp(`^${st.network!.mac} .*master ${BR} static`, 'm'));
    const list = await json<Status[]>(e, ['list']);
    expect(list.find((c) => c.id === r)?.addresses).toEqual([`${R4}.5/32`]);
    expect(await ok(e, ['list'])).toMatch(new RegExp(`${a}.*${V4}\\.10,${V6}::10`));
  });

  it('the loopback is up inside and the guest configured eth0 from its own files', async () => {
    expect(await inside(e, a, ['cat', '/sys/class/net/lo/operstate'])).toMatch(/unknown|up/);
    expect(await inside(e, a, ['cat', '/etc/network/interfaces.d/eth0'])).toContain(`address ${V4}.10/24`);
    const addrs = await inside(e, a, ['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addrs).toContain(`${V4}.10/24`);
    expect(await inside(e, a, ['ip', 'route', 'show', 'default'])).toContain(`via ${V4}.1`);
  });

  it('they reach each other and the host: ping (IPv4 and IPv6) and TCP', async () => {
    expect((await sh(a, `ping -c 2 -W 2 ${V4}.11`)).exitCode).toBe(0);
    expect((await sh(b, `ping -c 2 -W 2 ${V4}.1`)).exitCode).toBe(0);
    // IPv6 addresses may still be tentative (duplicate address detection) just after boot
    expect((await until(() => sh(a, `ping -c 1 -W 2 ${V6}::11`), (x) => x.exitCode === 0, 20_000)).exitCode).toBe(0);
    // a TCP connection between the two (bash's /dev/tcp: the template has no netcat)
    expect((await vpsctl(e, ['exec', a, '--', 'bash', '-c', `exec 3<>/dev/tcp/${V4}.11/22 && head -c 7 <&3`])).stdout).toBe('SSH-2.0');
    expect(await banner(`${V4}.10`)).toMatch(/^SSH-2\.0/);
    expect(await until(() => banner(`${V6}::11`), (x) => x.startsWith('SSH-2.0'), 20_000)).toMatch(/^SSH-2\.0/);
  });

  it('the routed container is reachable from the host on its address, with no bridge', async () => {
    const st = await json<Status>(e, ['status', r]);
    expect(st.network).toMatchObject({ mode: 'routed', bridge: null, gateway4: '169.254.0.1' });
    expect(existsSync(`/sys/class/net/${st.network!.host_if}/master`)).toBe(false);
    const route = String((await execa('ip', ['route', 'show', `${R4}.5`])).stdout);
    expect(route).toContain(`dev ${st.network!.host_if}`);
    expect(await banner(`${R4}.5`)).toMatch(/^SSH-2\.0/);
    expect((await sh(r, 'ping -c 2 -W 2 169.254.0.1')).exitCode).toBe(0);
  });
});

describe('anti-spoofing', () => {
  it('a foreign address added inside is dropped; the other container never sees it', async () => {
    const before = await echoesIn(b);
    expect((await sh(a, `ping -c 3 -W 1 ${V4}.11`)).exitCode).toBe(0); // a control: the real address passes
    const mid = await echoesIn(b);
    expect(mid.v4 - before.v4).toBe(3);
    await ok(e, ['exec', a, '--', 'ip', 'addr', 'add', `${V4}.50/24`, 'dev', 'eth0']);
    await ok(e, ['exec', a, '--', 'ip', 'addr', 'add', `${V6}::50/64`, 'dev', 'eth0', 'nodad']);
    try {
      expect((await sh(a, `ping -c 3 -W 1 -I ${V4}.50 ${V4}.11`)).exitCode).not.toBe(0);
      expect((await sh(a, `ping -c 3 -W 1 -I ${V6}::50 ${V6}::11`)).exitCode).not.toBe(0);
      const after = await echoesIn(b);
      expect(after).toEqual(mid);
    } finally {
      await vpsctl(e, ['exec', a, '--', 'ip', 'addr', 'del', `${V4}.50/24`, 'dev', 'eth0']);
      await vpsctl(e, ['exec', a, '--', 'ip', 'addr', 'del', `${V6}::50/64`, 'dev', 'eth0']);
    }
  });

  it('a neighbour advertisement claiming a foreign IPv6 address is dropped; one for its own passes', async () => {
    // an unsolicited NA to ff02::1, sent from A's own MAC and link-local address (so only the
    // target address is foreign), written with perl (the template has no NDP tool)
    const na = (target: string): string =>
      [
        'use Socket;',
        'socket(my $s, AF_INET6, SOCK_RAW, 58) or die "socket: $!";',
        'setsockopt($s, 41, 18, pack("i", 255)) or die "hops: $!";', // IPV6_MULTICAST_HOPS: NDP wants 255
        'open(my $f, "<", "/sys/class/net/eth0/ifindex") or die; my $if = <$f>; chomp $if;',
        'open(my $m, "<", "/sys/class/net/eth0/address") or die; my $mac = <$m>; chomp $mac;',
        `my $t = Socket::inet_pton(AF_INET6, "${target}");`,
        'my $pkt = pack("CCnN", 136, 0, 0, 0x20000000) . $t . pack("CC", 2, 1) . pack("H12", join("", split(/:/, $mac)));',
        'for (1..3) { send($s, $pkt, 0, Socket::pack_sockaddr_in6(0, Socket::inet_pton(AF_INET6, "ff02::1"), 0, $if)) or die "send: $!"; }',
      ].join(' ');
    // B counts the NAs that reach it by their target, and only those whose target link-layer
    // address option is A's MAC, so only what A sent is counted (the bridge's own answers
    // about ::1 carry the bridge's MAC); it stops once A's control has arrived (sent last, on
    // the same path) and prints {target: count}
    const aMac = (await json<Status>(e, ['status', a])).network!.mac.replace(/:/g, '');
    const own = `${V6}::10`;
    const spoofed = [`${V6}::11`, `${V6}::1`]; // B's own address, the bridge's
    const listen = [
      'use Socket; use IO::Select;',
      'socket(my $s, AF_INET6, SOCK_RAW, 58) or die "socket: $!";',
      'open(my $r, ">", "/run/na-ready") or die; close $r;',
      `my %want = map { (Socket::inet_pton(AF_INET6, $_), $_) } ("${own}", ${spoofed.map((t) => `"${t}"`).join(', ')});`,
      'my %n = map { ($_, 0) } values %want; my $sel = IO::Select->new($s); my $end = time + 30; my $stop;',
      'while (time < $end && (!$stop || time < $stop)) {',
      '  next unless $sel->can_read(0.2); recv($s, my $buf, 2048, 0) or next;',
      '  next unless length($buf) >= 32 && ord($buf) == 136; my $t = $want{substr($buf, 8, 16)}; next unless defined $t;',
      `  next unless substr($buf, 24, 8) eq pack("CCH12", 2, 1, "${aMac}");`,
      `  $n{$t}++; $stop //= time + 2 if $t eq "${own}" && $n{$t} >= 3;`,
      '}',
      'print join(",", map { sprintf(q("%s":%d), $_, $n{$_}) } sort keys %n), "\\n";',
    ].join(' ');
    await sh(b, 'rm -f /run/na-ready');
    const listener = vpsctl(e, ['exec', b, '--', 'perl', '-e', listen], { timeoutMs: 60_000 });
    await until(() => sh(b, 'test -e /run/na-ready'), (x) => x.exitCode === 0, 15_000);
    for (const t of spoofed) await ok(e, ['exec', a, '--', 'perl', '-e', na(t)]);
    await ok(e, ['exec', a, '--', 'perl', '-e', na(own)]); // its own: the control, last
    const heard = await listener;
    expect({ exit: heard.exitCode, stderr: heard.stderr }).toEqual({ exit: 0, stderr: '' });
    expect(JSON.parse(`{${heard.stdout.trim()}}`)).toEqual({ [own]: 3, [spoofed[0]]: 0, [spoofed[1]]: 0 });
  });

  it('a changed MAC is dropped, even with the right address', async () => {
    const mac = (await json<Status>(e, ['status', a])).network!.mac;
    const before = await echoesIn(b);
    await sh(a, `ip neigh flush dev eth0; ip link set eth0 address 02:00:00:00:00:99`);
    try {
      expect((await sh(a, `ping -c 3 -W 1 ${V4}.11`)).exitCode).not.toBe(0);
      expect((await echoesIn(b)).v4).toBe(before.v4);
    } finally {
      await sh(a, `ip link set eth0 address ${mac}`);
    }
    expect((await until(() => sh(a, `ping -c 1 -W 1 ${V4}.11`), (x) => x.exitCode === 0, 15_000)).exitCode).toBe(0);
  });

  it('a routed container cannot send from an address it was not given', async () => {
    await ok(e, ['exec', r, '--', 'ip', 'addr', 'add', `${R4}.99/32`, 'dev', 'eth0']);
    try {
      expect((await sh(r, `ping -c 3 -W 1 -I ${R4}.99 169.254.0.1`)).exitCode).not.toBe(0);
      expect((await sh(r, 'ping -c 1 -W 1 169.254.0.1')).exitCode).toBe(0);
    } finally {
      await vpsctl(e, ['exec', r, '--', 'ip', 'addr', 'del', `${R4}.99/32`, 'dev', 'eth0']);
    }
  });
});

describe('live changes', () => {
  it('set --ipadd on a running container makes the address reachable at once; --ipdel removes it', async () => {
    const init = (await json<Status>(e, ['status', a])).init_pid;
    await ok(e, ['set', a, '--ipadd', `${V4}.20`]);
    expect(await banner(`${V4}.20`)).toMatch(/^SSH-2\.0/);
    expect((await sh(b, `ping -c 1 -W 2 ${V4}.20`)).exitCode).toBe(0);
    expect(await inside(e, a, ['cat', '/etc/network/interfaces.d/eth0'])).toContain(`address ${V4}.20/24`);
    await ok(e, ['set', a, '--ipdel', `${V4}.20`]);
    expect(await inside(e, a, ['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).not.toContain(`${V4}.20/`);
    expect(await banner(`${V4}.20`, 22, 1500)).not.toMatch(/^SSH/);
    expect(await inside(e, a, ['cat', '/etc/network/interfaces.d/eth0'])).not.toContain(`${V4}.20`);
    expect((await json<Status>(e, ['status', a])).init_pid).toBe(init);
  });

  it('a routed container gets a new address live, with its host route', async () => {
    await ok(e, ['set', r, '--ipadd', `${R4}.6`]);
    expect(await banner(`${R4}.6`)).toMatch(/^SSH-2\.0/);
    await ok(e, ['set', r, '--ipdel', `${R4}.6`]);
    expect(String((await execa('ip', ['route', 'show', `${R4}.6`])).stdout)).toBe('');
  });

  it('a port forward reaches the container from the host, and goes with --forward-del', async () => {
    await ok(e, ['set', a, '--forward', `${2000 + N}:22`]);
    expect(await rules()).toContain(`dport ${2000 + N}`);
    expect(await banner(`${V4}.1`, 2000 + N)).toMatch(/^SSH-2\.0/);
    await ok(e, ['set', a, '--forward-del', String(2000 + N)]);
    expect(await rules()).not.toContain(`dport ${2000 + N}`);
  });

  it('the network comes back after a reboot inside (the monitor makes the veth again)', async () => {
    const st = await json<Status>(e, ['status', b]);
    await vpsctl(e, ['exec', b, '--', 'reboot', '-f']);
    await until(() => json<Status>(e, ['status', b]), (s) => s.state === 'running' && s.init_pid !== st.init_pid, 60_000);
    await until(() => vpsctl(e, ['exec', b, '--', 'systemctl', 'is-system-running']), (x) => /running|degraded/.test(x.stdout), 90_000);
    expect(await until(() => banner(`${V4}.11`), (x) => x.startsWith('SSH-2.0'), 30_000)).toMatch(/^SSH-2\.0/);
  }, 180_000);
});

describe('bad input changes nothing', () => {
  const cases: [string, string[], number, RegExp][] = [
    ['a malformed address', ['--ipadd', `${V4}.300`], 2, /not an IPv4 or IPv6 address/],
    ['a prefix out of range', ['--ipadd', `${V4}.30/33`], 2, /out of range/],
    ["another container's address", ['--ipadd', `${V4}.11`], 2, new RegExp(`already assigned to container ${b}`)],
    ["the bridge's own address", ['--ipadd', `${V4}.1`], 2, /bridge .*own address/],
    ['a routed address with a prefix', ['--netmode', 'routed', '--ipadd', '10.233.0.5/24'], 2, /must be \/32|bridge's subnet/],
  ];
  it.each(cases)('create with %s', async (_what, flags, code, msg) => {
    const id = newId('nbad');
    const res = await vpsctl(e, ['create', id, '--template', 'debian-12', '--disk', '1G', ...flags]);
    expect(res.exitCode).toBe(code);
    expect(res.stderr).toMatch(msg);
    expect((await vpsctl(e, ['status', id])).exitCode).toBe(3);
  });

  it.each(cases)('set on a running container with %s', async (_what, flags, code, msg) => {
    const before = await json<Status>(e, ['status', a]);
    const rulesBefore = await rules();
    const res = await vpsctl(e, ['set', a, ...flags]);
    expect(res.exitCode).toBe(code);
    expect(res.stderr).toMatch(msg);
    expect((await json<Status>(e, ['status', a])).network).toEqual(before.network);
    expect(await rules()).toBe(rulesBefore);
  });
});

describe('teardown', () => {
  it('stop removes the veth and the rules of that container only; the bridge stays for the others', async () => {
    const hostIf = (await json<Status>(e, ['status', a])).network!.host_if;
    expect(await rules()).toContain(`"${hostIf}"`);
    await ok(e, ['stop', a]);
    expect(ifExists(hostIf)).toBe(false);
    const text = await rules();
    expect(text).not.toContain(`"${hostIf}"`);
    expect(text).toContain(`"${(await json<Status>(e, ['status', b])).network!.host_if}"`);
    expect(ifExists(BR)).toBe(true);
    expect((await sh(b, `ping -c 1 -W 2 ${V4}.1`)).exitCode).toBe(0);
  });

  it('rules flushed behind our back (nftables.service restarted) are reported by host check and rebuilt by --fix', async () => {
    const hostIf = (await json<Status>(e, ['status', b])).network!.host_if;
    await execa('nft', ['delete', 'table', 'bridge', TABLE]);
    expect((await vpsctl(e, ['host', 'check'])).stdout).toMatch(new RegExp(`running containers? [^\\n]*${b}[^\\n]* ha(s|ve) no anti-spoofing rules`));
    const fix = JSON.parse((await vpsctl(e, ['host', 'check', '--fix', '--json'])).stdout) as { leftovers: { problem: string; fixed?: string }[] };
    expect(fix.leftovers.find((l) => l.problem.includes('anti-spoofing'))?.fixed).toBe('rebuilt the tables');
    expect(await rules()).toContain(`"${hostIf}"`);
    expect((await vpsctl(e, ['host', 'check'])).stdout).not.toContain('anti-spoofing');
  });

  it('a killed monitor leaves rules that host check reports and --fix removes', async () => {
    const st = await json<Status & { monitor_pid: number }>(e, ['status', b]);
    process.kill(st.monitor_pid, 'SIGKILL');
    process.kill(st.init_pid, 'SIGKILL');
    await until(() => json<Status>(e, ['status', b]), (s) => s.state === 'stopped', 20_000);
    await until(() => ifExists(st.network!.host_if), (x) => !x, 10_000);
    const check = await vpsctl(e, ['host', 'check']);
    expect(check.stdout).toContain(`stopped container ${b} still has its network rules`);
    expect(await rules()).toContain(`"${st.network!.host_if}"`);
    const fix = await vpsctl(e, ['host', 'check', '--fix', '--json']);
    expect((JSON.parse(fix.stdout) as { leftovers: { fixed?: string }[] }).leftovers[0].fixed).toContain('rules');
    expect(await rules()).not.toContain(`"${st.network!.host_if}"`);
    await vpsctl(e, ['stop', b]); // puts the rest (cgroups, mounts) back
  });

  it('destroy of the last networked container leaves no veth and no rules of ours', async () => {
    const hostIf = (await json<Status>(e, ['status', r])).network!.host_if;
    await ok(e, ['destroy', r, '--force']);
    expect(ifExists(hostIf)).toBe(false);
    expect(String((await execa('ip', ['route', 'show', `${R4}.5`])).stdout)).toBe('');
    await sleep(100);
    expect(await rules()).toBe('\n');
    expect(ifExists(BR)).toBe(true);
  });
});
