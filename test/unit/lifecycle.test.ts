/**
 * The life of a container (src/core/lifecycle.ts) through a real Host whose programs are a
 * recording fake: a state root in a temp dir, every program run recorded (argv and order),
 * any one of them made to fail. What a step makes is undone when a later step fails: no
 * container dir, image, id range, run dir, network reservation or lock is left.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadSettings } from '../../src/base/settings.js';
import { silentProgress } from '../../src/base/types.js';
import { Host } from '../../src/core/host.js';
import type { RunOptions, RunResult, Runner } from '../../src/sys/exec.js';
import { ExecError } from '../../src/sys/exec.js';

/** A Debian tree, as a template's image holds it (what the personality writes into). */
function debianTree(root: string): void {
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
  writeFileSync(path.join(root, 'usr/lib/os-release'), 'NAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n');
  symlinkSync('../usr/lib/os-release', path.join(root, 'etc/os-release'));
  writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n');
  writeFileSync(path.join(root, 'etc/machine-id'), '');
}

/**
 * Programs as the host would answer them, recorded by name and first argument ("vps-snap
 * clone", "mount", ...). `failAt` makes that step exit 1.
 */
class FakeSys implements Runner {
  readonly log: string[] = [];
  readonly argv: string[][] = [];
  failAt?: string;

  async run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const name = path.basename(file);
    // a helper by its verb; vps-spawn (which has none) and systemd-run (its scope on a systemd host) by name
    const step = name.startsWith('vps-') && name !== 'vps-spawn' ? `${name} ${args[0]}` : name;
    this.argv.push([name, ...args]);
    this.log.push(step);
    const out = (stdout: string, exitCode = 0): RunResult => {
      if (exitCode !== 0 && opts.reject !== false) throw new ExecError([file, ...args], exitCode, undefined, `${step} failed (fake)`);
      return { exitCode, stdout, stderr: exitCode ? `${step} failed (fake)` : '' };
    };
    if (step === this.failAt) return out('', 8); // e2fsck's 1 is 'errors corrected': 8 fails every program
    const arg = (flag: string): string => args[args.indexOf(flag) + 1];
    switch (step) {
      case 'vps-snap clone':
        writeFileSync(arg('--dst'), 'image', { mode: 0o600 });
        return out(JSON.stringify({ method: 'copy', bytes: 5 }));
      case 'vps-snap probe':
        return out(JSON.stringify({ reflink: false, fs: 'ext4' }));
      case 'vps-snap union':
        return out(JSON.stringify({ union: 0 }));
      case 'vps-snap usage':
        return out('[]');
      case 'mount':
        debianTree(args[args.length - 1]);
        return out('');
      case 'dumpe2fs':
        return out('', 1);
      case 'vps-spawn':
      case 'systemd-run':
        return out(JSON.stringify({ monitor_pid: 999999, init_pid: 999998, loop: '/dev/loop99', limits: { skipped: [] } }));
      default:
        return out('');
    }
  }
}

let root: string;
let sys: FakeSys;
let host: Host;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'vpsctl-life-'));
  const env = {
    VPSCTL_ROOT: path.join(root, 'state'),
    VPSCTL_RUN_DIR: path.join(root, 'run'),
    VPSCTL_CONFIG: path.join(root, 'none.yaml'),
    VPSCTL_HOOKS_DIR: path.join(root, 'hooks.d'),
    VPSCTL_CGROUP_PARENT: 'vpsctl-unit-life',
    VPSCTL_IDMAP_BASE: '2000000000',
    VPSCTL_IDMAP_RANGES: '4',
    VPSCTL_DISK_OVERCOMMIT_RATIO: '100',
  };
  const tdir = path.join(env.VPSCTL_ROOT, 'pool', 'templates');
  mkdirSync(tdir, { recursive: true });
  writeFileSync(path.join(tdir, 'debian-12.img'), 'template');
  writeFileSync(path.join(tdir, 'debian-12.yaml'), 'name: debian-12\nos: debian\nversion: "12"\narch: amd64\nsize: 1048576\nused: 1048576\n');
  sys = new FakeSys();
  host = new Host({ sys, settings: loadSettings(env), progress: silentProgress });
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

/** A host-wide hook program for `event` (a shell script, root's, 0755). */
function hook(event: string, body: string): void {
  const file = path.join(root, 'hooks.d', event, '50-test');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
}

/** Everything under the state root and run dir but the template, the event log and empty dirs. */
function leftovers(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p);
      else if (!p.includes('/pool/templates/') && !p.includes('/.locks/') && !p.includes('/events/') && !p.includes('/hooks.d/')) out.push(path.relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

describe('create', () => {
  it('runs its steps in order: clone the template, grow, mount, write the identity, unmount', async () => {
    const st = await host.create('101', { template: 'debian-12', disk: 2 * 1024 ** 3, limits: { memory: null } });
    expect(st).toMatchObject({ id: '101', state: 'stopped', disk: 2 * 1024 ** 3, idmap: { uid: 2000000000 } });
    expect(sys.log.filter((s) => s !== 'vps-snap probe' && s !== 'vps-snap union' && s !== 'vps-snap usage' && s !== 'dumpe2fs' && s !== 'losetup')).toEqual([
      'vps-snap clone',
      'e2fsck',
      'resize2fs',
      'mount',
      'umount',
    ]);
    expect(leftovers()).toEqual(['state/containers/101/config.yaml', 'state/idmap/2000000000', 'state/pool/images/101.img']);
    expect(await host.readEvents({})).toMatchObject([{ id: '101', kind: 'created', source: 'cli', details: { template: 'debian-12' } }]);
  });

  (process.getuid?.() === 0 ? it : it.skip)('a pre-create hook that fails makes nothing', async () => {
    hook('pre-create', 'test "$VPSCTL_TEMPLATE" = debian-12 && echo "no quota left for $VPSCTL_ID" >&2; exit 1');
    await expect(host.create('101', { template: 'debian-12', limits: { memory: null } })).rejects.toThrow(/pre-create hook .* stopped the create of 101: exit 1: no quota left for 101/);
    expect(leftovers()).toEqual([]);
    expect(sys.log.filter((s) => s === 'vps-snap clone')).toEqual([]);
    expect(await host.readEvents({})).toEqual([]);
  });

  it.each(['vps-snap clone', 'e2fsck', 'resize2fs', 'mount', 'umount'])('undoes everything when %s fails', async (step) => {
    sys.failAt = step;
    await expect(host.create('101', { template: 'debian-12', disk: 2 * 1024 ** 3, limits: { memory: null } })).rejects.toThrow();
    expect(leftovers()).toEqual([]);
    expect(await host.readEvents({})).toEqual([]); // nothing claims it was made
    // and the id can be created again at once: no lock, reservation or range is held
    sys.failAt = undefined;
    await expect(host.create('101', { template: 'debian-12', disk: 2 * 1024 ** 3, limits: { memory: null } })).resolves.toMatchObject({ id: '101', idmap: { uid: 2000000000 } });
  });
});

describe('start', () => {
  /** The program runs that are not reads (probes, loop device look-ups). */
  const changes = (): string[] => sys.log.filter((s) => !['vps-snap probe', 'vps-snap union', 'vps-snap usage', 'losetup', 'dumpe2fs'].includes(s));
  const spawnArgv = (): string[] => sys.argv.find((a) => a.includes('--id'))!;

  it('checks the filesystem, then spawns once with the whole spec: image, rootfs, run dir, ids, limits', async () => {
    await host.create('103', { template: 'debian-12', limits: { memory: 256 * 1024 ** 2, pids: 300 } });
    sys.log.length = 0;
    sys.argv.length = 0;
    const r = await host.start('103');
    expect(r).toMatchObject({ id: '103', state: 'running', init_pid: 999998, monitor_pid: 999999 });
    const spawn = changes().filter((s) => s === 'vps-spawn' || s === 'systemd-run');
    expect(spawn).toHaveLength(1);
    expect(changes().indexOf('e2fsck')).toBeLessThan(changes().indexOf(spawn[0]));
    const argv = spawnArgv();
    const val = (flag: string): string => argv[argv.indexOf(flag) + 1];
    expect(val('--id')).toBe('103');
    expect(val('--image')).toBe(host.layout.image('103'));
    expect(argv.join(' ')).toContain('2000000000');
    expect(argv.join(' ')).toMatch(/memory|268435456/);
  });

  it('a spawn that fails leaves the host as it was: reconciled, nothing of the run left', async () => {
    await host.create('104', { template: 'debian-12', limits: { memory: null } });
    const before = leftovers();
    sys.failAt = 'vps-spawn';
    if (host.cgroups.systemd) sys.failAt = 'systemd-run';
    await expect(host.start('104')).rejects.toThrow(/failed \(fake\)/);
    expect(leftovers()).toEqual(before);
    // the next start is not refused by anything the failed one left
    sys.failAt = undefined;
    await expect(host.start('104')).resolves.toMatchObject({ state: 'running' });
  });

  (process.getuid?.() === 0 ? it : it.skip)('a pre-start hook that fails stops it before anything runs; post-stop hooks go to the monitor', async () => {
    await host.create('106', { template: 'debian-12', limits: { memory: null } });
    hook('pre-start', 'echo "106 is suspended" >&2; exit 1');
    sys.log.length = 0;
    await expect(host.start('106')).rejects.toThrow(/pre-start hook .* stopped the start of 106: exit 1: 106 is suspended/);
    expect(changes()).toEqual([]);
    rmSync(path.join(root, 'hooks.d', 'pre-start'), { recursive: true });
    sys.argv.length = 0;
    await host.start('106');
    expect(spawnArgv()).not.toContain('--stop-hook'); // no post-stop hook: no vpsctl at every stop
    await host.stop('106', { force: true }).catch(() => undefined);
    hook('post-stop', 'exit 0');
    sys.argv.length = 0;
    await host.start('106').catch(() => undefined);
    expect(spawnArgv()[spawnArgv().indexOf('--stop-hook') + 1]).toMatch(/\/bin\/vpsctl$/);
  });

  it('keyctl: --keyctl beside --userns for an unprivileged container with the feature, never without it', async () => {
    await host.create('107', { template: 'debian-12', limits: { memory: null }, features: ['keyctl'] });
    await host.create('108', { template: 'debian-12', limits: { memory: null } });
    sys.argv.length = 0;
    await host.start('107');
    expect(spawnArgv()).toContain('--keyctl');
    expect(spawnArgv().indexOf('--keyctl')).toBeGreaterThan(spawnArgv().indexOf('--userns'));
    sys.argv.length = 0;
    await host.start('108');
    expect(spawnArgv()).toContain('--userns');
    expect(spawnArgv()).not.toContain('--keyctl');
    expect(await host.status('107')).toMatchObject({ features: ['keyctl'], keyring: 'allowed' });
    expect(await host.status('108')).toMatchObject({ features: [], keyring: 'absent' });
  });

  it('keyctl: a privileged container is refused it at create (nothing made), at set and at start (nothing run)', async () => {
    await expect(host.create('109', { template: 'debian-12', limits: { memory: null }, privileged: true, features: ['keyctl'] })).rejects.toThrow(/keyctl is for unprivileged containers only/);
    expect(leftovers()).toEqual([]);
    await host.create('109', { template: 'debian-12', limits: { memory: null }, privileged: true });
    const cfg = readFileSync(host.layout.configFile('109'), 'utf8');
    await expect(host.setDevices('109', { features: 'keyctl' })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/keyctl is for unprivileged containers only/) });
    expect(readFileSync(host.layout.configFile('109'), 'utf8')).toBe(cfg);
    expect(await host.status('109')).toMatchObject({ features: [], keyring: 'refused' });
    // a config that has it anyway (written by hand) does not start
    writeFileSync(host.layout.configFile('109'), `${cfg}features:\n  - keyctl\n`);
    sys.log.length = 0;
    await expect(host.start('109')).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/keyctl is for unprivileged containers only/) });
    expect(changes().filter((s) => s === 'vps-spawn' || s === 'systemd-run')).toEqual([]);
    // and set takes it away
    await expect(host.setDevices('109', { features: 'keyctl=off' })).resolves.toMatchObject({ features: [], changed: true });
  });

  it('nesting: --nesting beside --userns for an unprivileged container with the feature, never without it', async () => {
    await host.create('110', { template: 'debian-12', limits: { memory: null }, features: ['nesting'] });
    await host.create('111', { template: 'debian-12', limits: { memory: null } });
    sys.argv.length = 0;
    await host.start('110');
    expect(spawnArgv()).toContain('--nesting');
    expect(spawnArgv().indexOf('--nesting')).toBeGreaterThan(spawnArgv().indexOf('--userns'));
    expect(spawnArgv()).not.toContain('--keyctl');
    sys.argv.length = 0;
    await host.start('111');
    expect(spawnArgv()).toContain('--userns');
    expect(spawnArgv()).not.toContain('--nesting');
    expect(await host.status('110')).toMatchObject({ features: ['nesting'] });
  });

  it('nesting: a privileged container is refused it at create (nothing made), at set and at start (nothing run)', async () => {
    await expect(host.create('112', { template: 'debian-12', limits: { memory: null }, privileged: true, features: ['nesting'] })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/nesting is for unprivileged containers only/), hint: expect.stringMatching(/nesting=off/) });
    expect(leftovers()).toEqual([]);
    await host.create('112', { template: 'debian-12', limits: { memory: null }, privileged: true });
    const cfg = readFileSync(host.layout.configFile('112'), 'utf8');
    await expect(host.setDevices('112', { features: 'tun,nesting' })).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/nesting is for unprivileged containers only/) });
    expect(readFileSync(host.layout.configFile('112'), 'utf8')).toBe(cfg);
    writeFileSync(host.layout.configFile('112'), `${cfg}features:\n  - nesting\n`);
    sys.log.length = 0;
    await expect(host.start('112')).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/nesting is for unprivileged containers only/) });
    expect(changes().filter((s) => s === 'vps-spawn' || s === 'systemd-run')).toEqual([]);
    await expect(host.setDevices('112', { features: 'nesting=off' })).resolves.toMatchObject({ features: [], changed: true });
  });

  it('refuses a missing image before anything runs', async () => {
    await host.create('105', { template: 'debian-12', limits: { memory: null } });
    rmSync(host.layout.image('105'));
    sys.log.length = 0;
    await expect(host.start('105')).rejects.toThrow(/disk image of container 105 is missing/);
    expect(changes()).toEqual([]);
  });
});

describe('set --disk', () => {
  it('a resize is a limits-changed event with the new size and the previous one; the same size again is none', async () => {
    await host.create('107', { template: 'debian-12', disk: 2 * 1024 ** 3, limits: { memory: null } });
    const r = await host.disks.resize('107', 3 * 1024 ** 3);
    expect(r).toEqual({ id: '107', disk: 3 * 1024 ** 3, previous: 2 * 1024 ** 3, online: false, changed: true });
    await expect(host.disks.resize('107', 3 * 1024 ** 3)).resolves.toMatchObject({ changed: false });
    const events = await host.readEvents({ ids: ['107'] });
    expect(events.map((e) => e.kind)).toEqual(['created', 'limits-changed']);
    expect(events[1]).toMatchObject({ source: 'cli', details: { disk: 3 * 1024 ** 3, previous: 2 * 1024 ** 3, online: false } });
  });

  it('a resize that fails logs nothing', async () => {
    await host.create('108', { template: 'debian-12', disk: 2 * 1024 ** 3, limits: { memory: null } });
    sys.failAt = 'resize2fs';
    await expect(host.disks.resize('108', 3 * 1024 ** 3)).rejects.toThrow();
    expect((await host.readEvents({ ids: ['108'] })).map((e) => e.kind)).toEqual(['created']);
  });
});

describe('destroy', () => {
  it('removes the container, its image and its id range, and runs nothing that touches a running one', async () => {
    await host.create('102', { template: 'debian-12', limits: { memory: null } });
    sys.log.length = 0;
    await host.destroy('102');
    expect(leftovers()).toEqual([]);
    expect((await host.readEvents({ ids: ['102'] })).map((e) => e.kind)).toEqual(['created', 'destroyed']);
    expect(sys.log.every((s) => ['losetup', 'umount', 'vps-snap probe'].includes(s))).toBe(true);
  });
});
