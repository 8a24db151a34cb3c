/**
 * What a hosting provider's host runs: systemd as PID 1 owning a pure cgroup v2 tree (this
 * guest). Each container lives in a delegated transient scope of its own; its limits hold,
 * its own systemd runs its units, it cannot raise a limit nor reach the host's cgroups, the
 * admin gets in whatever it does, and nothing is left when it goes.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CGROUP_PARENT, TEST_SLICE, inside, json, loopsUnder, makeEnv, mountsMentioning, newId, ok, processesMentioning, sleep, testScope, until, vpsctl, type Env } from '../integration/harness.js';
import { Term } from '../integration/term.js';
import { ifbName } from '../../src/net/names.js';
import { cgroupTree, record, timed, whyNotUp } from './guest.js';

const MiB = 1024 ** 2;
const N = 10 + (process.pid % 200);
const base = makeEnv();
const BR = `vpg${(process.pid % 100000).toString(36)}`;
const V4 = `10.233.${N}`;
const e: Env = {
  ...base,
  env: { ...base.env, VPSCTL_BRIDGE: BR, VPSCTL_SUBNET: `${V4}.1/24`, VPSCTL_SUBNET6: `fd00:233:${N.toString(16)}::1/64`, VPSCTL_NAT: 'false', VPSCTL_NFT_TABLE: `vpsctl_g${N}` },
};
const id = newId('plat');
/** The container's units and cgroups on this systemd host (src/limits/cgroups.ts). */
const SLICE_DIR = TEST_SLICE;
const SCOPE = testScope(id);
const CG = path.join(SLICE_DIR, SCOPE, id);
const read = (f: string): string => readFileSync(f, 'utf8').trim();
const sh = (cmd: string): Promise<{ exitCode: number; stdout: string; stderr: string }> => vpsctl(e, ['exec', id, '--', 'sh', '-c', cmd]);
const stat = (file: string, key: string): number => Number(new RegExp(`^${key} (\\d+)$`, 'm').exec(read(path.join(CG, file)))?.[1]);

interface Status {
  state: string;
  init_pid: number | null;
  network: { host_if: string } | null;
}
/** The host end of the container's veth, from status. */
let hostIf = '';

beforeAll(async () => {
  await ok(e, ['pool', 'init', '--size', '6G']); // XFS with reflink: the snapshot below is instant
  await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--memory', '256M', '--pids', '300', '--cpus', '0.5', '--ipadd', `${V4}.10`, '--userpasswd', 'root:guest-secret', '--features', 'tun']);
  const r = await timed('platform: start --wait', e, ['start', id, '--wait', '--timeout', '400s'], { timeoutMs: 500_000 });
  if (r.exitCode !== 0) throw new Error(`start --wait: exit ${r.exitCode}: ${r.stderr}\n${await whyNotUp(e, id)}`);
  hostIf = (await json<Status>(e, ['status', id])).network!.host_if;
}, 900_000);

// each test's end, as it comes, in the timings the host prints (jest's own report waits for the file's end)
let t0 = performance.now();
beforeEach(() => {
  t0 = performance.now();
});
afterEach(() => {
  record(`platform: ${expect.getState().currentTestName}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

afterAll(async () => {
  await vpsctl(e, ['destroy', id, '--force']);
  await execa('umount', [path.join(e.root, 'pool')], { reject: false });
});

describe('a container on a systemd host with pure cgroup v2', () => {
  it('lives in a delegated scope of its own; its systemd runs every unit (none failed)', async () => {
    expect((await execa('systemctl', ['show', '-p', 'Delegate', '-p', 'ActiveState', '-p', 'Slice', SCOPE])).stdout.split('\n').sort()).toEqual(
      ['ActiveState=active', 'Delegate=yes', `Slice=${CGROUP_PARENT}.slice`].sort(),
    );
    const st = await json<Status>(e, ['status', id]);
    expect(read(`/proc/${st.init_pid}/cgroup`)).toBe(`0::${CG.slice('/sys/fs/cgroup'.length)}/ct/init.scope`);
    expect(await inside(e, id, ['systemctl', 'is-system-running'])).toBe('running');
    expect(await inside(e, id, ['systemctl', '--failed', '--no-legend', '--plain'])).toBe('');
    // exec joins the root-owned leaf beside the container's tree, counted under its limits
    expect((await inside(e, id, ['cat', '/proc/self/cgroup']))).toBe('0::/../enter');
  });

  it('holds its limits on a cgroup the container cannot write, and a daemon-reload changes nothing', async () => {
    const before = { memory: read(path.join(CG, 'memory.max')), pids: read(path.join(CG, 'pids.max')), cpu: read(path.join(CG, 'cpu.max')), procs: read(path.join(CG, 'ct', 'init.scope', 'cgroup.procs')) };
    expect(before).toMatchObject({ memory: String(256 * MiB), pids: '300', cpu: '50000 100000' });
    expect((await sh('echo max > /sys/fs/cgroup/memory.max')).exitCode).not.toBe(0);
    expect((await sh('echo max > /sys/fs/cgroup/pids.max')).exitCode).not.toBe(0);
    // nothing of the host's tree is in sight, nor can it move itself out of its own
    expect((await sh('ls /sys/fs/cgroup; cat /proc/1/cgroup')).stdout).not.toMatch(/\.slice\/|vpsctl|\.\./);
    expect((await sh('echo $$ > /sys/fs/cgroup/../cgroup.procs')).exitCode).not.toBe(0);
    // unprivileged: no device node of its own making, a block device least of all (the user namespace)
    expect((await sh('mknod /dev/vblk b 7 0')).exitCode).not.toBe(0);
    await execa('systemctl', ['daemon-reload']);
    await sleep(1000);
    expect({ memory: read(path.join(CG, 'memory.max')), pids: read(path.join(CG, 'pids.max')), cpu: read(path.join(CG, 'cpu.max')), procs: read(path.join(CG, 'ct', 'init.scope', 'cgroup.procs')) }).toEqual(before);
  });

  it('an OOM inside kills inside; init survives', async () => {
    const init = (await json<Status>(e, ['status', id])).init_pid;
    const kills = stat('memory.events', 'oom_kill');
    const r = await sh('head -c 600M /dev/zero | tail > /dev/null');
    expect(r.exitCode).not.toBe(0);
    expect(stat('memory.events', 'oom_kill')).toBeGreaterThan(kills);
    // the monitor saw it (a POLLPRI watch of memory.events) and logged it once
    const ooms = await until(() => json<{ details: { total: number } }[]>(e, ['events', id, '--kind', 'oom']), (v) => v.length > 0, 20_000);
    expect(ooms.map((o) => o.details.total)).toEqual([stat('memory.events', 'oom_kill')]);
    expect((await json<Status>(e, ['status', id])).init_pid).toBe(init);
    expect(await inside(e, id, ['systemctl', 'is-system-running'])).toMatch(/^(running|degraded)$/);
  });

  it('a fork bomb stops at --pids, and exec still gets in', async () => {
    await sh('b() { b | b & }; b >/dev/null 2>&1');
    try {
      await until(() => Number(read(path.join(CG, 'pids.current'))), (n) => n >= 290, 120_000, 500);
      expect(Number(read(path.join(CG, 'pids.current')))).toBeLessThanOrEqual(300);
      // refused forks: counted in the container's cgroup or in the exec's leaf, by kernel version
      const refused = (): number => ['', 'enter'].reduce((n, d) => n + Number(/^max (\d+)$/m.exec(read(path.join(CG, d, 'pids.events')))?.[1] ?? 0), 0);
      expect(await until(refused, (n) => n > 0, 120_000, 500)).toBeGreaterThan(0);
      // the admin gets in (vps-enter forks outside and moves its child in)
      expect((await vpsctl(e, ['exec', id, '--', 'true'])).exitCode).toBe(0);
    } finally {
      // the host's root defuses it at once: cgroup.kill of the exec's leaf (the bomb forks
      // faster than anything run inside could kill it)
      writeFileSync(path.join(CG, 'enter', 'cgroup.kill'), '1');
      await until(() => Number(read(path.join(CG, 'pids.current'))), (n) => n < 100, 60_000, 500);
    }
    expect(Number(read(path.join(CG, 'pids.current')))).toBeLessThan(100);
  }, 900_000);

  it('--cpus 0.5 holds two busy loops to half a core (cpu.stat)', async () => {
    await sh('for i in 1 2; do nohup sh -c "while :; do :; done" >/dev/null 2>&1 & echo $! >> /run/busy.pids; done');
    await sleep(1000);
    const u0 = stat('cpu.stat', 'usage_usec');
    const th0 = stat('cpu.stat', 'nr_throttled');
    const t0 = performance.now();
    await sleep(5000);
    const cores = (stat('cpu.stat', 'usage_usec') - u0) / ((performance.now() - t0) * 1000);
    const throttled = stat('cpu.stat', 'nr_throttled') - th0;
    await sh('kill $(cat /run/busy.pids); rm /run/busy.pids');
    expect(cores).toBeLessThan(0.6);
    if (throttled === 0) throw new Error(`the loops got only ${cores.toFixed(2)} cores, never reaching the quota: the guest is too busy to test --cpus`);
  });

  it('set --memory live is seen in memory.max and in free inside (lxcfs)', async () => {
    await ok(e, ['set', id, '--memory', '192M']);
    expect(read(path.join(CG, 'memory.max'))).toBe(String(192 * MiB));
    const total = Number((await inside(e, id, ['sh', '-c', "free -b | awk '/^Mem:/ {print $2}'"])).trim());
    expect(total).toBe(192 * MiB);
  });

  it('stats and host info read the v2 tree: memory, tasks and CPU of the container, the host as v2', async () => {
    const [st] = await json<{ memory_limit: number; memory_used: number; pids_limit: number; pids: number; cpu_seconds: number }[]>(e, ['stats', id, '--interval', '100']);
    expect(st).toMatchObject({ memory_limit: 192 * MiB, pids_limit: 300 });
    expect(st.memory_used).toBeGreaterThan(0);
    expect(st.pids).toBeGreaterThan(0);
    expect(st.cpu_seconds).toBeGreaterThan(0);
    expect((await json<{ cgroup_mode: string }>(e, ['host', 'info'])).cgroup_mode).toBe('v2');
  });

  it("set --io-write-bps live writes io.max for the container's own loop device", async () => {
    await ok(e, ['set', id, '--io-write-bps', '10M']);
    const image = path.join(e.root, 'pool', 'images', `${id}.img`);
    const dev = (await execa('losetup', ['--noheadings', '--output', 'MAJ:MIN', '--associated', image])).stdout.trim().split('\n')[0].trim();
    expect(dev).toMatch(/^\d+:\d+$/);
    expect(read(path.join(CG, 'io.max'))).toMatch(new RegExp(`^${dev} .*wbps=${10 * MiB}`, 'm'));
    await ok(e, ['set', id, '--io-write-bps', 'max']);
  });

  it("--rate: the Debian kernel's tbf, ifb, u32 and mirred cap it on the host's side, live", async () => {
    await ok(e, ['set', id, '--rate', '10mbit/5mbit']);
    const ifb = ifbName(id);
    expect((await execa('tc', ['qdisc', 'show', 'dev', hostIf])).stdout).toMatch(/tbf 1: root .*rate 10Mbit/);
    expect((await execa('tc', ['qdisc', 'show', 'dev', ifb])).stdout).toMatch(/tbf 1: root .*rate 5Mbit/);
    expect((await sh(`ping -c 1 -W 5 ${V4}.1`)).exitCode).toBe(0);
    await ok(e, ['set', id, '--rate', 'none']);
    expect(existsSync(`/sys/class/net/${ifb}`)).toBe(false);
  });

  it('enter gives a login shell on a terminal of the container', async () => {
    const t = Term.vpsctl(e, ['enter', id], { cols: 90, rows: 25 });
    try {
      await t.waitFor(/root@[^:]+:~# *$/m, 120_000);
      t.write('tty; stty size; exit 3\r');
      await t.waitFor(/^\/dev\/pts\/\d+$/m);
      await t.waitFor(/^25 90$/m);
      expect((await t.exit(60_000)).exitCode).toBe(3);
    } finally {
      t.kill();
    }
  });

  it('console: root logs in with the password given to create', async () => {
    const t = Term.vpsctl(e, ['console', id]);
    try {
      t.write('\r');
      await t.waitFor(/login: *$/m, 120_000);
      t.write('root\r');
      await t.waitFor(/Password: *$/m, 60_000);
      t.write('guest-secret\r');
      await t.waitFor(/root@[^:]+:~# *$/m, 60_000);
      t.write('echo "in=$(hostname)"; exit\r');
      await t.waitFor(new RegExp(`^in=${id}$`, 'm'));
      t.write('\x1dq');
      expect((await t.exit(30_000)).exitCode).toBe(0);
    } finally {
      t.kill();
    }
  });

  it('a bridged container pings the host; its anti-spoofing rules are in place', async () => {
    expect((await sh(`ping -c 1 -W 5 ${V4}.1`)).exitCode).toBe(0);
    const rules = (await execa('nft', ['list', 'table', 'bridge', `vpsctl_g${N}`])).stdout;
    expect(rules).toContain(hostIf);
    await sh(`ip addr add ${V4}.99/24 dev eth0`);
    expect((await sh(`ping -c 2 -W 2 -I ${V4}.99 ${V4}.1`)).exitCode).not.toBe(0);
    await sh(`ip addr del ${V4}.99/24 dev eth0`);
  });

  it('--features tun: the eBPF device program lets its tun through, and a tun device comes up inside', async () => {
    const r = await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'ip tuntap add dev tun0 mode tun && ip addr add 10.99.0.1/24 dev tun0 && ip link set tun0 up && ip -o -4 addr show dev tun0']);
    expect({ exitCode: r.exitCode, out: r.stdout + r.stderr }).toEqual({ exitCode: 0, out: expect.stringMatching(/tun0\s+inet 10\.99\.0\.1\/24/) });
  });

  it('a snapshot of the running container on the XFS pool restores byte for byte', async () => {
    await sh('head -c 8M /dev/urandom > /root/keep; sync');
    const sum = await inside(e, id, ['sha256sum', '/root/keep']);
    await ok(e, ['snapshot', 'create', id, 'before']);
    await sh('rm /root/keep; sync');
    await ok(e, ['snapshot', 'restore', id, 'before', '--stop']);
    await until(() => vpsctl(e, ['exec', id, '--', 'systemctl', 'is-system-running']), (r) => /running|degraded/.test(r.stdout), 400_000, 1000);
    expect(await inside(e, id, ['sha256sum', '/root/keep'])).toBe(sum);
  }, 900_000);

  it('restart, then poweroff inside: it stops by itself, runs the post-stop hook, logs why, and leaves nothing', async () => {
    const out = path.join(e.root, 'post-stop.out');
    const hook = path.join(e.env.VPSCTL_HOOKS_DIR, 'post-stop', '50-note');
    mkdirSync(path.dirname(hook), { recursive: true });
    writeFileSync(hook, `#!/bin/sh\necho "$VPSCTL_ID $VPSCTL_STOP_REASON" >> ${out}\n`, { mode: 0o755 });
    await ok(e, ['restart', id, '--wait', '--timeout', '400s']);
    await vpsctl(e, ['exec', id, '--', 'systemctl', 'poweroff']);
    await until(() => json<Status>(e, ['status', id]), (s) => s.state === 'stopped', 300_000, 1000);
    // the monitor runs the hook from its scope after its teardown (status says stopped as
    // soon as the teardown removed the state file: the hook may still be starting)
    await until(() => existsSync(out), (x) => x, 120_000, 500);
    expect(readFileSync(out, 'utf8')).toBe(`${id} poweroff\n`);
    const stops = await json<{ source: string; details: { reason: string } }[]>(e, ['events', id, '--kind', 'stopped']);
    // restore --stop, restart, then the poweroff typed inside
    expect(stops.map((v) => `${v.source}/${v.details.reason}`)).toEqual(['cli/stop', 'cli/stop', 'monitor/poweroff']);
    await until(() => existsSync(path.join(SLICE_DIR, SCOPE)), (x) => !x, 30_000);
    // (the XFS pool's own loop device stays: it is the pool's, not the container's)
    const images = path.join(e.root, 'pool', 'images');
    expect({ scope: existsSync(path.join(SLICE_DIR, SCOPE)), loops: await loopsUnder(images), mounts: mountsMentioning(e.run), procs: processesMentioning(e.run) }).toEqual({ scope: false, loops: [], mounts: [], procs: [] });
  }, 900_000);

  it('destroy leaves no cgroup, scope, loop device, mount, veth or rule', async () => {
    await ok(e, ['destroy', id]);
    const units = (await execa('systemctl', ['list-units', '--all', '--plain', '--no-legend', `${CGROUP_PARENT}-*`])).stdout.trim();
    const leftCgroups = existsSync(SLICE_DIR) ? readdirSync(SLICE_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name) : [];
    const rules = (await execa('nft', ['list', 'ruleset'])).stdout;
    expect({ units, cgroups: leftCgroups, veth: existsSync(`/sys/class/net/${hostIf}`), rules: rules.includes(hostIf) }).toEqual({ units: '', cgroups: [], veth: false, rules: false });
    if (leftCgroups.length) throw new Error(cgroupTree(SLICE_DIR));
  });
});

describe('a privileged container on cgroup v2', () => {
  const p = newId('priv');
  afterAll(async () => {
    await vpsctl(e, ['destroy', p, '--force']);
  });

  it('starts without waiving devices-cgroup: its allow-list is an eBPF device program', async () => {
    await ok(e, ['create', p, '--template', 'debian-12', '--disk', '2G', '--privileged']);
    const r = await timed('privileged: start --wait', e, ['start', p, '--wait', '--timeout', '400s'], { timeoutMs: 500_000 });
    if (r.exitCode !== 0) throw new Error(`start --wait: exit ${r.exitCode}: ${r.stderr}\n${await whyNotUp(e, p)}`);
    // in the container's /dev (a tmpfs that allows device nodes): mknod is allowed, opening is the program's call
    // tun is not in the base list: without --features tun, a node made by hand is refused too
    const dev = await vpsctl(e, ['exec', p, '--', 'sh', '-c', 'mknod /dev/vblk b 7 0 && head -c 1 /dev/vblk; echo "read=$?"; mknod /dev/vkmsg c 1 11 && head -c 1 /dev/vkmsg; echo "kmsg=$?"; mknod /dev/vtun c 10 200 && (exec 3<>/dev/vtun) 2>&1 | sed "s/^/tun: /"; rm -f /dev/vblk /dev/vkmsg /dev/vtun; head -c 1 /dev/urandom >/dev/null; echo "urandom=$?"']);
    expect(dev.stdout).toMatch(/^tun: .*Operation not permitted/m);
    expect(dev.stdout).toMatch(/read=[1-9]/);
    expect(dev.stdout).toMatch(/kmsg=[1-9]/);
    expect(dev.stdout).toMatch(/urandom=0/);
    expect(dev.stderr).toMatch(/Operation not permitted/);
  }, 900_000);
});
