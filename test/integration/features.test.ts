/**
 * What tenants ask for, on real containers: --features tun gives /dev/net/tun (a tun device
 * is made, addressed and brought up inside, and a ping through it is answered by its userspace
 * end, test/fixtures/tunecho.c), --features fuse gives /dev/fuse (a FUSE file
 * system, tests/fixtures/tinyfuse.c, mounts and serves inside); without them the same fails,
 * in a privileged container too (the devices cgroup refuses a node made by hand). --device
 * passes a host character device through, read-only when asked; a device that reaches the
 * host's memory, disks or kernel is refused with nothing changed. --features keyctl (Proxmox's
 * keyctl=1) lets an unprivileged container use the kernel's keyring calls, which it otherwise
 * sees as absent (ENOSYS) in every exec, exec -t and systemd service, while its systemd still
 * boots to running (test/fixtures/keyprobe.c asks); a privileged container is refused it.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BIN, json, makeEnv, newId, ok, REPO, shIn, vpsctl, type Env } from './harness.js';
import { Term } from './term.js';

const e: Env = makeEnv();
const TINYFUSE = path.join(e.root, 'tinyfuse');
const TUNECHO = path.join(e.root, 'tunecho');
const KEYPROBE = path.join(e.root, 'keyprobe');
const made: string[] = [];

async function container(args: string[] = []): Promise<string> {
  const id = newId('ft');
  made.push(id);
  await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', ...args]);
  return id;
}

/** `sh -c SCRIPT` inside: exit code and both outputs. */
const sh = (id: string, script: string) => shIn(e, id, script, { timeoutMs: 60_000 });

const TUN_UP = 'ip tuntap add dev tun0 mode tun && ip addr add 10.99.0.1/24 dev tun0 && ip link set tun0 up && ip -o -4 addr show dev tun0';
const FUSE_MOUNT = 'mkdir -p /mnt/f && (tinyfuse /mnt/f > /tmp/tinyfuse.log 2>&1 &) && for i in $(seq 50); do grep -q mounted /tmp/tinyfuse.log && break; grep -q tinyfuse: /tmp/tinyfuse.log && break; sleep 0.1; done; cat /tmp/tinyfuse.log; cat /mnt/f/hello && umount /mnt/f';

async function install(id: string, file: string): Promise<void> {
  const name = path.basename(file);
  await ok(e, ['exec', id, '--', 'sh', '-c', `cat > /usr/local/bin/${name} && chmod 755 /usr/local/bin/${name}`], { input: readFileSync(file) as unknown as string });
}
const installTinyfuse = (id: string): Promise<void> => install(id, TINYFUSE);

beforeAll(async () => {
  await execa('gcc', ['-static', '-O1', '-o', TINYFUSE, path.join(REPO, 'test/fixtures/tinyfuse.c')]);
  await execa('gcc', ['-static', '-O1', '-o', TUNECHO, path.join(REPO, 'test/fixtures/tunecho.c')]);
  await execa('gcc', ['-static', '-O1', '-o', KEYPROBE, path.join(REPO, 'test/fixtures/keyprobe.c')]);
}, 120_000);

afterAll(async () => {
  for (const id of made) await vpsctl(e, ['destroy', id, '--force']);
});

describe('--features tun', () => {
  it('gives /dev/net/tun: a tun device is made, addressed and brought up inside; without it that fails', async () => {
    const id = await container(['--features', 'tun']);
    expect(await json<{ features: string[] }>(e, ['status', id])).toMatchObject({ features: ['tun'], devices: [] });
    await ok(e, ['start', id, '--wait']);
    const up = await sh(id, TUN_UP);
    expect(up).toEqual({ exitCode: 0, out: expect.stringMatching(/tun0\s+inet 10\.99\.0\.1\/24/) });
    // the node is the host's tun, and only that: a bind of the host's node, 10:200
    expect((await sh(id, 'stat -c "%t:%T %F" /dev/net/tun')).out.trim()).toBe('a:c8 character special file');
    // a ping through it: its userspace end (test/fixtures/tunecho.c) answers
    await install(id, TUNECHO);
    const ping = await sh(id, '(tunecho tun0 2 > /tmp/tunecho.log 2>&1 &) && for i in $(seq 50); do grep -q attached /tmp/tunecho.log && break; sleep 0.1; done; ping -c 2 -W 5 10.99.0.2');
    expect(ping).toEqual({ exitCode: 0, out: expect.stringMatching(/2 packets transmitted, 2 received/) });

    // taken away: saved, given no more at the next start
    const set = await json<{ devices: { features: string[]; next_start: boolean } }>(e, ['set', id, '--features', 'tun=off']);
    expect(set.devices).toEqual({ features: [], devices: [], next_start: true });
    await ok(e, ['restart', id, '--wait']);
    const no = await sh(id, TUN_UP);
    expect(no.exitCode).not.toBe(0);
    expect(no.out).toMatch(/No such file or directory/);
    // and a node made by hand is no way round it: mknod in a user namespace is refused
    expect((await sh(id, 'mkdir -p /dev/net && mknod /dev/net/tun c 10 200')).exitCode).not.toBe(0);
  }, 300_000);

  it('privileged: without the feature, a tun node made by hand cannot be opened (the devices cgroup); with it, it can', async () => {
    const id = await container(['--privileged']);
    await ok(e, ['start', id, '--wait']);
    const byHand = await sh(id, 'mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && ' + TUN_UP);
    expect(byHand.exitCode).not.toBe(0);
    expect(byHand.out).toMatch(/Operation not permitted/);
    await ok(e, ['stop', id]);
    await ok(e, ['set', id, '--features', 'tun']);
    await ok(e, ['start', id, '--wait']);
    expect(await sh(id, TUN_UP)).toEqual({ exitCode: 0, out: expect.stringMatching(/10\.99\.0\.1\/24/) });
  }, 300_000);
});

describe('--features fuse', () => {
  it('gives /dev/fuse: a FUSE file system mounts and serves inside; without it, it does not', async () => {
    const id = await container(['--features', 'fuse']);
    await ok(e, ['start', id, '--wait']);
    await installTinyfuse(id);
    const r = await sh(id, FUSE_MOUNT);
    expect(r).toEqual({ exitCode: 0, out: 'mounted\nhello from fuse\n' });

    const plain = await container();
    await ok(e, ['start', plain, '--wait']);
    await installTinyfuse(plain);
    const no = await sh(plain, FUSE_MOUNT);
    expect(no.exitCode).not.toBe(0);
    expect(no.out).toMatch(/tinyfuse: open \/dev\/fuse: No such file or directory/);
  }, 300_000);
});

describe('--features keyctl', () => {
  const ABSENT = 'keyctl: ENOSYS\nadd_key: ENOSYS\nrequest_key: ENOSYS\n';
  // the calls reach the kernel: a key is added, and one that is not there is not found
  const THERE = 'keyctl: ok\nadd_key: ok\nrequest_key: ENOKEY\n';
  /** keyprobe in a service of the container's systemd (as root, and as a user: systemd sets up a keyring for each). */
  const service = (id: string, ...props: string[]): Promise<{ exitCode: number; out: string }> =>
    sh(id, `systemd-run --wait --pipe --quiet --collect ${props.map((p) => `-p ${p}`).join(' ')} /usr/local/bin/keyprobe`);

  it('without it an unprivileged container sees the keyring calls as absent (ENOSYS) in exec, exec -t and its services, and boots to running; with it they work', async () => {
    const id = await container();
    expect(await json(e, ['status', id])).toMatchObject({ mode: 'unprivileged', features: [], keyring: 'absent' });
    await ok(e, ['start', id, '--wait']);
    await install(id, KEYPROBE);
    expect(await sh(id, 'keyprobe')).toEqual({ exitCode: 1, out: ABSENT });
    const t = new Term(BIN, ['exec', '-t', id, '--', 'keyprobe'], { ...e.env, PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' });
    expect((await t.exit()).exitCode).toBe(1);
    expect(t.screen).toContain('keyctl: ENOSYS');
    expect(await service(id)).toEqual({ exitCode: 1, out: ABSENT });
    // systemd takes ENOSYS for "no keyrings" and starts the service anyway (EPERM would fail
    // it at step KEYRING): a user's service, which it would give a keyring of that user's
    expect(await service(id, 'User=nobody', 'KeyringMode=private')).toEqual({ exitCode: 1, out: ABSENT });
    // and its own units all came up: Proxmox runs systemd so
    const state = (await sh(id, 'systemctl is-system-running')).out.trim();
    const failed = (await sh(id, 'systemctl --failed --no-legend --plain')).out.trim();
    expect({ state, failed }).toEqual({ state: 'running', failed: '' });

    // turned on: saved, given at the next start (the running init keeps its filter till then)
    const set = await json<{ devices: { features: string[]; next_start: boolean } }>(e, ['set', id, '--features', 'keyctl']);
    expect(set.devices).toEqual({ features: ['keyctl'], devices: [], next_start: true });
    expect(await json(e, ['status', id])).toMatchObject({ features: ['keyctl'], keyring: 'absent' });
    expect((await sh(id, 'keyprobe')).out).toBe(ABSENT); // exec follows the running init, not the config
    await ok(e, ['restart', id, '--wait']);
    expect(await json(e, ['status', id])).toMatchObject({ features: ['keyctl'], keyring: 'allowed' });
    expect(await sh(id, 'keyprobe')).toEqual({ exitCode: 0, out: THERE });
    expect(await service(id)).toEqual({ exitCode: 0, out: THERE });
    expect(await service(id, 'User=nobody', 'KeyringMode=private')).toEqual({ exitCode: 0, out: THERE });
    const t2 = new Term(BIN, ['exec', '-t', id, '--', 'keyprobe'], { ...e.env, PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' });
    expect((await t2.exit()).exitCode).toBe(0);
    expect(t2.screen).toContain('request_key: ENOKEY');
    expect((await sh(id, 'systemctl is-system-running')).out.trim()).toBe('running');
  }, 300_000);

  it('is refused for a privileged container: at create with nothing made, and at set with nothing changed; its keyring calls stay EPERM', async () => {
    const nope = newId('ft');
    const r = await vpsctl(e, ['create', nope, '--template', 'debian-12', '--disk', '2G', '--privileged', '--features', 'keyctl']);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/keyctl is for unprivileged containers only/) });
    expect((await vpsctl(e, ['status', nope])).exitCode).toBe(3);
    expect(existsSync(path.join(e.root, 'containers', nope))).toBe(false);

    const id = await container(['--privileged']);
    const before = readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8');
    const s = await vpsctl(e, ['set', id, '--features', 'tun,keyctl']);
    expect({ exitCode: s.exitCode, stderr: s.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/keyctl is for unprivileged containers only/) });
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).toBe(before);
    expect(await json(e, ['status', id])).toMatchObject({ mode: 'privileged', keyring: 'refused' });
    await ok(e, ['start', id, '--wait']);
    await install(id, KEYPROBE);
    expect(await sh(id, 'keyprobe')).toEqual({ exitCode: 1, out: 'keyctl: EPERM\nadd_key: EPERM\nrequest_key: EPERM\n' });
  }, 300_000);
});

describe('--device', () => {
  it('passes a host character device through, read-only when asked (the devices cgroup refuses a write open)', async () => {
    const id = await container(['--device', '/dev/net/tun:ro']);
    await ok(e, ['start', id, '--wait']);
    expect((await sh(id, 'exec 3</dev/net/tun && echo read-open')).out).toBe('read-open\n');
    const w = await sh(id, 'exec 3<>/dev/net/tun && echo write-open');
    expect(w.exitCode).not.toBe(0);
    expect(w.out).toMatch(/Operation not permitted/);
    expect(await json(e, ['status', id])).toMatchObject({ devices: ['/dev/net/tun:ro'] });
  }, 300_000);

  it('refuses what reaches the host\'s memory, disks or kernel, block devices and what is not there, changing nothing', async () => {
    const id = await container();
    const before = readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8');
    const loop = (await execa('losetup', ['--find'])).stdout.trim() || '/dev/loop0';
    const cases: [string, RegExp][] = [
      ['/dev/kmsg', /memory devices/],
      ['/dev/loop-control', /loop-control/],
      ['/dev/tty1', /terminals/],
      [loop, /block device/],
      ['/dev/no-such-device', /does not exist on this host/],
      ['/dev/null', /--device \/dev\/null/],
      ['/etc/passwd', /under \/dev/],
    ];
    for (const [dev, re] of cases) {
      const r = await vpsctl(e, ['set', id, '--device', dev]);
      expect({ dev, exitCode: r.exitCode, stderr: r.stderr }).toEqual({ dev, exitCode: 2, stderr: expect.stringMatching(re) });
    }
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).toBe(before);
    // and create refuses the same before anything is made
    const nope = newId('ft');
    const r = await vpsctl(e, ['create', nope, '--template', 'debian-12', '--device', '/dev/loop-control']);
    expect(r.exitCode).toBe(2);
    expect((await vpsctl(e, ['status', nope])).exitCode).toBe(3);
  }, 300_000);
});
