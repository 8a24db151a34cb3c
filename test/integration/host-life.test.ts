/**
 * What a host's life does to containers: a monitor killed with SIGKILL (the OOM killer, an
 * admin's kill -9, a crash) takes its container down with it, as a power cut would, and
 * leaves nothing vpsctl cannot see or clean: status says stopped, start, stop and destroy
 * work, and no loop device, cgroup, veth or nftables rule of it remains.
 */
import { execa } from 'execa';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cgroupsLeft, json, loopsUnder, makeEnv, newId, ok, until, vpsctl, type Env } from './harness.js';

interface Status {
  state: string;
  init_pid: number | null;
  monitor_pid: number | null;
  network: { host_if?: string } | null;
}

const N = 10 + (process.pid % 200);
const tag = (process.pid % 100000).toString(36);
const BR = `vph${tag}`;
const TABLE = `vpsctl_h${tag}`;
const base = makeEnv();
const e: Env = {
  ...base,
  env: { ...base.env, VPSCTL_BRIDGE: BR, VPSCTL_SUBNET: `10.233.${N}.1/24`, VPSCTL_SUBNET6: `fd00:233:${N.toString(16)}::1/64`, VPSCTL_NAT: 'false', VPSCTL_NFT_TABLE: TABLE },
};
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
const rules = async (): Promise<string> => (await execa('nft', ['list', 'table', 'bridge', TABLE], { reject: false })).stdout;

afterAll(async () => {
  await execa('ip', ['link', 'del', BR], { reject: false });
  await execa('nft', ['delete', 'table', 'bridge', TABLE], { reject: false });
  await execa('nft', ['delete', 'table', 'inet', TABLE], { reject: false });
});

describe('a monitor killed with SIGKILL', () => {
  const id = newId('kill');
  afterAll(async () => {
    await vpsctl(e, ['destroy', id, '--force']);
  });

  it('takes its container down as a power cut would; status, start, stop and destroy work and nothing is left', async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--ipadd', `10.233.${N}.20`]);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    const st = await json<Status>(e, ['status', id]);
    const veth = st.network?.host_if;
    expect(veth).toBeTruthy();
    expect(await rules()).toContain(`10.233.${N}.20`);
    process.kill(st.monitor_pid!, 'SIGKILL');
    // init follows its monitor: nothing of the container keeps running unheld
    await until(() => alive(st.init_pid!), (a) => !a, 30_000);
    expect(alive(st.init_pid!)).toBe(false);
    expect((await json<Status>(e, ['status', id])).state).toBe('stopped');
    await until(() => loopsUnder(path.join(e.root, 'pool', 'images', `${id}.img`)), (l) => l.length === 0, 30_000);
    expect(await loopsUnder(path.join(e.root, 'pool', 'images', `${id}.img`))).toEqual([]);
    // the veth went with the container's network namespace
    expect((await execa('ip', ['link', 'show', veth!], { reject: false })).exitCode).not.toBe(0);
    // a stop says it is not running; a start cleans what the monitor left and boots it again
    expect((await vpsctl(e, ['stop', id])).exitCode).toBe(5);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    expect((await json<Status>(e, ['status', id])).state).toBe('running');
    await ok(e, ['stop', id]);
    await ok(e, ['destroy', id]);
    expect(cgroupsLeft(id)).toEqual([]);
    expect(await rules()).not.toContain(`10.233.${N}.20`);
    expect(await loopsUnder(path.join(e.root, 'pool'))).toEqual([]);
  }, 600_000);

  it('destroy --force right after the kill leaves nothing either', async () => {
    const other = newId('kill');
    await ok(e, ['create', other, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['start', other, '--wait', '--timeout', '180s']);
    const st = await json<Status>(e, ['status', other]);
    process.kill(st.monitor_pid!, 'SIGKILL');
    await ok(e, ['destroy', other, '--force']);
    expect((await vpsctl(e, ['status', other])).exitCode).toBe(3);
    await until(() => cgroupsLeft(other), (c) => c.length === 0, 30_000);
    expect(cgroupsLeft(other)).toEqual([]);
    expect(alive(st.init_pid!)).toBe(false);
  }, 600_000);
});

describe('a running container whose config.yaml is damaged', () => {
  const id = newId('bad');
  afterAll(async () => {
    await vpsctl(e, ['destroy', id, '--force']);
  });

  it('stops from its runtime state and says why it warns; destroy works too', async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    const init = (await json<Status>(e, ['status', id])).init_pid!;
    appendFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'garbage: [\n');
    const r = await vpsctl(e, ['stop', id]);
    expect([r.exitCode, r.stderr]).toEqual([0, expect.stringMatching(new RegExp(`warning: container ${id}'s config is damaged .*stopping it from its runtime state: fix .*config\\.yaml before its next start`, 's'))]);
    expect(alive(init)).toBe(false);
    // a start needs the config: it says what is wrong with it
    const start = await vpsctl(e, ['start', id]);
    expect([start.exitCode, start.stderr]).toEqual([1, expect.stringMatching(/config\.yaml is not valid YAML/)]);
    await ok(e, ['destroy', id]);
    expect(cgroupsLeft(id)).toEqual([]);
    expect(await loopsUnder(path.join(e.root, 'pool', 'images', `${id}.img`))).toEqual([]);
  }, 600_000);
});

describe('parallel creates with --ipadd auto', () => {
  const ids = Array.from({ length: 8 }, () => newId('auto'));
  afterAll(async () => {
    for (const id of ids) await vpsctl(e, ['destroy', id, '--force']);
  });

  it('8 at once: 8 containers, 8 distinct addresses, exit 0 each; a race for an explicit address is exit 7, not 2', async () => {
    const runs = await Promise.all(ids.map((id) => vpsctl(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--ipadd', 'auto', '--json'])));
    expect(runs.map((r) => [r.exitCode, r.stderr.split('\n').filter((l) => /error/.test(l))])).toEqual(ids.map(() => [0, []]));
    const addresses = runs.map((r) => (JSON.parse(r.stdout) as { addresses: string[] }).addresses[0]);
    expect(new Set(addresses).size).toBe(8);
    expect(existsSync(path.join(e.run, '.net-plans')) ? readdirSync(path.join(e.run, '.net-plans')) : []).toEqual([]);
    // two creates after the same explicit address: one gets it, the other is told of the race or the owner
    const [x, y] = [newId('race'), newId('race')];
    ids.push(x, y);
    const race = await Promise.all([x, y].map((id) => vpsctl(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--ipadd', `10.233.${N}.200`])));
    const codes = race.map((r) => r.exitCode).sort();
    expect(codes[0]).toBe(0);
    expect([2, 7]).toContain(codes[1]);
    const loser = race.find((r) => r.exitCode !== 0)!;
    expect(loser.stderr).toMatch(new RegExp(`address 10\\.233\\.${N}\\.200 is (being taken by|already assigned to) container`));
  }, 900_000);
});

describe('host check --fix after killed creates and snapshots', () => {
  const id = newId('half');
  const kept = newId('kept');
  afterAll(async () => {
    for (const c of [id, kept]) await vpsctl(e, ['destroy', c, '--force']);
  });

  it('lists what they left, removes it with --fix, and leaves every whole container alone', async () => {
    await ok(e, ['create', kept, '--template', 'debian-12', '--disk', '2G']);
    // a create killed half-way (SIGKILL once its container is marked half-made)
    const create = execa(path.join(process.cwd(), 'bin', 'vpsctl'), ['create', id, '--template', 'debian-12', '--disk', '2G'], { env: e.env, reject: false });
    await until(() => existsSync(path.join(e.root, 'containers', id, '.partial')), (x) => x, 60_000);
    create.kill('SIGKILL');
    await create;
    // and a snapshot killed before it was made whole
    const snapDir = path.join(e.root, 'pool', 'snapshots', kept);
    mkdirSync(snapDir, { recursive: true });
    writeFileSync(path.join(snapDir, 'lost.img.partial'), 'x'.repeat(4096));
    const seen = await json<{ leftovers: { problem: string; fixed?: string }[] }>(e, ['host', 'check']);
    expect(seen.leftovers.map((l) => l.problem)).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`container ${id} is half-made`)), expect.stringMatching(/lost\.img\.partial is left from a killed snapshot/)]));
    const fixed = await json<{ leftovers: { problem: string; fixed?: string }[] }>(e, ['host', 'check', '--fix']);
    expect(fixed.leftovers.filter((l) => /half-made|killed snapshot/.test(l.problem)).map((l) => l.fixed)).toEqual(['removed', 'removed']);
    expect((await vpsctl(e, ['status', id])).exitCode).toBe(3);
    expect(existsSync(path.join(e.root, 'containers', id))).toBe(false);
    expect(readdirSync(path.join(e.root, 'pool', 'images')).filter((f) => f.startsWith(id))).toEqual([]);
    expect(existsSync(path.join(snapDir, 'lost.img.partial'))).toBe(false);
    expect((await json<Status>(e, ['status', kept])).state).toBe('stopped');
    // nothing left to report
    const again = await json<{ leftovers: { problem: string }[] }>(e, ['host', 'check']);
    expect(again.leftovers.filter((l) => /half-made|killed/.test(l.problem))).toEqual([]);
  }, 600_000);
});

describe('start --all --onboot and stop --all', () => {
  const [x, y, z] = [newId('boot'), newId('boot'), newId('boot')];
  afterAll(async () => {
    for (const id of [x, y, z]) await vpsctl(e, ['destroy', id, '--force']);
  });

  it('starts the onboot containers in boot order and leaves the others; stop --all stops them all', async () => {
    await ok(e, ['create', x, '--template', 'debian-12', '--disk', '2G', '--onboot', 'yes', '--bootorder', '10']);
    await ok(e, ['create', y, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['create', z, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['set', y, '--onboot', 'yes']);
    const listed = await json<{ id: string; onboot: boolean; bootorder: number }[]>(e, ['list']);
    expect(listed.filter((c) => [x, y, z].includes(c.id)).map((c) => [c.id, c.onboot, c.bootorder])).toEqual([[x, true, 10], [y, true, 0], [z, false, 0]]);
    const rows = await json<{ id: string; ok: boolean; action: string; detail: string }[]>(e, ['start', '--all', '--onboot', '--wait', '--timeout', '180s']);
    const mine = rows.filter((r) => [x, y, z].includes(r.id));
    // x (order 10) before y (order 0); z is not onboot
    expect(mine.map((r) => [r.id, r.ok, r.action])).toEqual([[x, true, 'started'], [y, true, 'started']]);
    expect(mine.every((r) => /system (running|degraded)/.test(r.detail))).toBe(true);
    expect((await json<Status>(e, ['status', z])).state).toBe('stopped');
    const again = await json<{ id: string; action: string }[]>(e, ['start', '--all', '--onboot']);
    expect(again.filter((r) => [x, y].includes(r.id)).map((r) => r.action)).toEqual(['skipped', 'skipped']);
    const stopped = await json<{ id: string; ok: boolean; action: string; detail: string }[]>(e, ['stop', '--all']);
    // y (order 0) before x (order 10)
    expect(stopped.filter((r) => [x, y].includes(r.id)).map((r) => [r.id, r.ok, r.detail])).toEqual([[y, true, 'clean'], [x, true, 'clean']]);
    for (const id of [x, y, z]) expect((await json<Status>(e, ['status', id])).state).toBe('stopped');
    // a bad order is refused
    expect((await vpsctl(e, ['set', z, '--bootorder', '-1'])).exitCode).toBe(2);
  }, 900_000);
});

describe('host setup', () => {
  const fresh = makeEnv();
  afterAll(async () => {
    await execa('umount', [path.join(fresh.root, 'pool')], { reject: false });
  });

  it('sets the density sysctls, says what it cannot install here, makes the reflink pool; a second run changes nothing', async () => {
    type Step = { what: string; result: string; detail: string };
    const first = await json<Step[]>(fresh, ['host', 'setup']);
    const byWhat = new Map(first.map((s) => [s.what, s]));
    for (const [key, floor] of [['fs.inotify.max_user_instances', 8192], ['fs.inotify.max_user_watches', 1048576], ['kernel.keys.maxkeys', 20000], ['vm.max_map_count', 262144]] as const) {
      expect(byWhat.get(key)?.result).toMatch(/changed|ok/);
      expect(Number(readFileSync(path.join('/proc/sys', ...key.split('.')), 'utf8'))).toBeGreaterThanOrEqual(floor);
      expect(readFileSync('/etc/sysctl.d/60-vpsctl.conf', 'utf8')).toMatch(new RegExp(`^${key.replace(/\./g, '\\.')} = \\d+$`, 'm'));
    }
    const systemd = readFileSync('/proc/1/comm', 'utf8').trim() === 'systemd';
    expect(byWhat.get('vpsctl.service')?.result).toBe(systemd ? 'changed' : 'skipped');
    if (!systemd) expect(byWhat.get('vpsctl.service')?.detail).toMatch(/start --all --onboot" from its boot scripts/);
    expect(byWhat.get('pool')).toMatchObject({ result: 'changed' });
    expect((await json<{ fs: string; reflink: boolean }>(fresh, ['pool', 'info']))).toMatchObject({ fs: 'xfs', reflink: true });
    const second = await json<Step[]>(fresh, ['host', 'setup']);
    expect(second.filter((s) => s.result === 'changed')).toEqual([]);
  }, 300_000);
});

describe('containers named as the host-wide locks were (net, pool, space)', () => {
  afterAll(async () => {
    for (const c of ['net', 'pool', 'space']) await vpsctl(e, ['destroy', c, '--force']);
  });

  it('create (net with an address), start and destroy like any other; destroy leaves no lock file, host check --fix removes stale ones', async () => {
    // each once shared its lock file with the network, pool or space lock: the create failed
    for (const id of ['net', 'pool', 'space']) await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', ...(id === 'net' ? ['--ipadd', `10.233.${N}.30`] : [])]);
    await ok(e, ['start', 'net']);
    expect((await json<Status>(e, ['status', 'net'])).state).toBe('running');
    await ok(e, ['stop', 'net', '--force']);
    const locks = path.join(e.run, '.locks');
    for (const id of ['net', 'pool', 'space']) await ok(e, ['destroy', id]);
    expect(readdirSync(locks).filter((f) => /^(net|pool|space)\.lock$/.test(f))).toEqual([]);
    // a lock file an older vpsctl's destroy left
    writeFileSync(path.join(locks, 'gone-1.lock'), '');
    const fixed = await json<{ leftovers: { problem: string; fixed?: string }[] }>(e, ['host', 'check', '--fix']);
    expect(fixed.leftovers.filter((l) => l.problem.includes('gone-1.lock'))).toEqual([{ problem: `${path.join(locks, 'gone-1.lock')} is the lock file of a container that is gone`, fixed: 'removed' }]);
    expect(existsSync(path.join(locks, 'gone-1.lock'))).toBe(false);
  }, 600_000);
});
