/**
 * Host directories bound into containers (`--mount HOSTDIR:CTDIR[:ro|rw]`): the spec, set's
 * changes, the policy of which host directories and targets are refused, the config, the
 * import's refusal to take them, and the host-side check (a symlink anywhere, a file, none).
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig, renderConfig, type ContainerConfig } from '../../src/base/config.js';
import { VpsError } from '../../src/base/errors.js';
import { usage } from './usage.js';
import { MAX_MOUNTS, applyMountFlags, formatMount, hostDirRefusal, ownedRefusal, parseMount, plainAbsPath, targetRefusal } from '../../src/base/mounts.js';
import type { HostSettings } from '../../src/base/settings.js';
import { importPolicy } from '../../src/core/import-policy.js';
import { checkMounts, ownedPaths } from '../../src/core/mounts.js';
import { hostDirProblem } from '../../src/sys/mounts.js';


describe('--mount HOSTDIR:CTDIR[:ro|rw]', () => {
  it('parses read-write by default, :ro and :rw', () => {
    expect(parseMount('/srv/data:/data')).toEqual({ host: '/srv/data', target: '/data', access: 'rw' });
    expect(parseMount('/srv/www:/var/www/html:ro')).toEqual({ host: '/srv/www', target: '/var/www/html', access: 'ro' });
    expect(parseMount('/var/tmp/x/a-b_c.d+e@f,g=h:/data:rw')).toMatchObject({ host: '/var/tmp/x/a-b_c.d+e@f,g=h' });
    expect(formatMount(parseMount('/srv/data:/data'))).toBe('/srv/data:/data:rw');
  });

  it.each([
    ['/srv/data', /want HOSTDIR:CTDIR/],
    ['/srv/data:/data:rx', /want HOSTDIR:CTDIR/],
    ['/srv/data:/data:ro:x', /want HOSTDIR:CTDIR/],
    ['srv/data:/data', /HOSTDIR must be an absolute path/],
    [':/data', /HOSTDIR must be an absolute path/],
    ['/srv/data:data', /CTDIR must be an absolute path/],
    ['/srv/data:', /CTDIR must be an absolute path/],
    ['/srv/../etc:/data', /refusing HOSTDIR: .* not a plain absolute path/],
    ['/srv/./data:/data', /refusing HOSTDIR: .* not a plain absolute path/],
    ['/srv//data:/data', /refusing HOSTDIR: .* not a plain absolute path/],
    ['/srv/data/:/data', /refusing HOSTDIR: .* not a plain absolute path/],
    ['/srv/my data:/data', /refusing HOSTDIR: .* not a plain absolute path/],
    ['/srv/data:/data/../../x', /refusing CTDIR: .* not a plain absolute path/],
    ['/srv/data:/..', /refusing CTDIR: .* not a plain absolute path/],
    ['/srv/data:/', /refusing CTDIR: \/ is the container's own root/],
    ['/srv/data:/proc', /refusing CTDIR: \/proc is \/proc, one of the container's own mounts/],
    ['/srv/data:/sys/fs/x', /below \/sys/],
    ['/srv/data:/dev/shm', /below \/dev/],
    ['/srv/data:/run/x', /below \/run/],
    ['/:/data', /\/ itself is a root of the host's tree/],
    ['/home:/data', /\/home itself is a root/],
    ['/tmp:/data', /\/tmp itself is a root/],
    ['/etc:/data', /\/etc is \/etc, one of the host's system trees/],
    ['/etc/ssl/certs:/certs:ro', /below \/etc/],
    ['/proc/1:/data', /below \/proc/],
    ['/usr/local/bin:/data', /below \/usr/],
    ['/root/x:/data', /below \/root/],
    ['/boot:/data', /\/boot/],
    ['/var/lib/docker:/data', /below \/var\/lib/],
    ['/var/spool/cron:/data', /below \/var\/spool/],
    ['/lib64:/data', /\/lib64/],
  ])('refuses %s', (spec, re) => {
    expect(usage(() => parseMount(spec))).toMatch(re);
  });

  it('takes the directories below the shared roots, and look-alikes of the system trees', () => {
    for (const h of ['/home/alice/share', '/tmp/x', '/var/tmp/x', '/srv/data', '/opt/app/data', '/var/www', '/etcetera', '/usrdata', '/var/library']) {
      expect(hostDirRefusal(h)).toBeUndefined();
    }
    for (const t of ['/data', '/var/www', '/procedures', '/srv/x', '/tmp/x', '/home/u/x']) expect(targetRefusal(t)).toBeUndefined();
  });

  it('a plain absolute path: no dot components, no empty ones, nothing past 255 bytes', () => {
    expect(plainAbsPath('/a/b')).toBe(true);
    expect(plainAbsPath('/a/.b/c..d')).toBe(true);
    for (const p of ['a/b', '/a/', '//a', '/a/./b', '/a/..', '/a b', '/a:b', '/a\nb', `/${'x'.repeat(255)}`]) expect(plainAbsPath(p)).toBe(false);
  });
});

describe('vpsctl keeps its own', () => {
  const owned = ['/var/lib/vpsctl', '/srv/vpsctl/pool', '/run/vpsctl'];
  it('refuses one of them, a directory below one, and one holding one', () => {
    expect(ownedRefusal('/srv/vpsctl/pool', owned)).toMatch(/is \/srv\/vpsctl\/pool, which vpsctl keeps/);
    expect(ownedRefusal('/srv/vpsctl/pool/images', owned)).toMatch(/is below \/srv\/vpsctl\/pool/);
    expect(ownedRefusal('/srv/vpsctl', owned)).toMatch(/holds \/srv\/vpsctl\/pool/);
    expect(ownedRefusal('/srv/vpsctl-data', owned)).toBeUndefined();
    expect(ownedRefusal('/srv/data', owned)).toBeUndefined();
  });

  it("the settings' paths, its package and its helpers", () => {
    const s = { root: '/r', pool: '/p', runDir: '/run/v', cacheDir: '/c', hooksDir: '/h', cronDir: '/etc/cron.d' } as HostSettings;
    const got = ownedPaths(s, { VPSCTL_HELPERS_DIR: '/hd' });
    expect(got).toEqual(expect.arrayContaining(['/r', '/p', '/run/v', '/c', '/h', '/etc/cron.d', '/hd']));
    expect(got.length).toBe(8); // and the package root
  });
});

describe('set --mount', () => {
  const cur = applyMountFlags(['/srv/a:/a', '/srv/b:/b:ro']);

  it('adds, changes the one on a target, takes one away (CTDIR:off) or all (none)', () => {
    expect(cur.map(formatMount)).toEqual(['/srv/a:/a:rw', '/srv/b:/b:ro']);
    expect(applyMountFlags(['/srv/c:/c'], cur).map(formatMount)).toEqual(['/srv/a:/a:rw', '/srv/b:/b:ro', '/srv/c:/c:rw']);
    expect(applyMountFlags(['/srv/b2:/b'], cur).map(formatMount)).toEqual(['/srv/a:/a:rw', '/srv/b2:/b:rw']);
    expect(applyMountFlags(['/a:off'], cur).map(formatMount)).toEqual(['/srv/b:/b:ro']);
    expect(applyMountFlags(['none'], cur)).toEqual([]);
    expect(applyMountFlags(['none', '/srv/c:/c:ro'], cur).map(formatMount)).toEqual(['/srv/c:/c:ro']);
  });

  it('refuses taking away what is not there, nested or doubled targets, and more than eight', () => {
    expect(usage(() => applyMountFlags(['/x:off'], cur))).toMatch(/nothing is mounted on \/x/);
    expect(usage(() => applyMountFlags(['/proc:off'], cur))).toMatch(/container's own mounts/);
    expect(usage(() => applyMountFlags(['/srv/c:/a/c'], cur))).toMatch(/\/a\/c is below \/a, another mount's target/);
    expect(usage(() => applyMountFlags(['/srv/c:/'], cur))).toMatch(/container's own root/);
    const many = Array.from({ length: MAX_MOUNTS + 1 }, (_, i) => `/srv/d${i}:/d${i}`);
    expect(applyMountFlags(many.slice(0, MAX_MOUNTS))).toHaveLength(MAX_MOUNTS);
    expect(usage(() => applyMountFlags(many))).toMatch(/at most 8 --mount/);
  });
});

describe('config.yaml', () => {
  const cfg: ContainerConfig = { id: '101', template: 'debian-12', hostname: 'h', disk: 1024 ** 3, created: 'now', init: '/sbin/init', privileged: true, mounts: [{ host: '/srv/data', target: '/data', access: 'rw' }, { host: '/srv/www', target: '/var/www', access: 'ro' }] };

  it('keeps them, and refuses a hostile or nested one (exit 1, naming the file)', () => {
    const text = renderConfig(cfg);
    expect(text).toMatch(/mounts:\n {2}- \/srv\/data:\/data:rw\n {2}- \/srv\/www:\/var\/www:ro\n/);
    expect(parseConfig(text, 'c.yaml', '101')).toMatchObject({ mounts: cfg.mounts });
    expect(parseConfig(renderConfig({ ...cfg, mounts: [] }), 'c.yaml', '101').mounts).toBeUndefined();
    for (const [bad, re] of [['mounts: [/etc:/x:rw]', /\/etc/], ['mounts: [/srv/a:/proc/x:rw]', /\/proc/], ['mounts: [/srv/a:/x:rw, /srv/b:/x/y:rw]', /below \/x/], ['mounts: /srv/a:/x', /mounts must be a list/]] as const) {
      try {
        parseConfig(text.replace(/mounts:[\s\S]*$/, bad), 'c.yaml', '101');
        throw new Error('parsed');
      } catch (e) {
        expect((e as VpsError).exitCode).toBe(1);
        expect((e as VpsError).message).toMatch(/^c\.yaml/);
        expect((e as VpsError).message).toMatch(re);
      }
    }
  });

  it('an import never takes them: a notice says so', () => {
    expect(importPolicy(cfg, {}).notices.join('\n')).toMatch(/mounts \/srv\/data:\/data, \/srv\/www:\/var\/www: not taken/);
  });
});

describe('the host side', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'vpsctl-mounts-'));
    await fsp.mkdir(path.join(dir, 'real', 'sub'), { recursive: true });
    await fsp.symlink(path.join(dir, 'real'), path.join(dir, 'link'));
    await fsp.writeFile(path.join(dir, 'real', 'file'), 'x');
  });
  afterAll(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  it('a directory whose every component is real passes; a symlink anywhere, a file or nothing does not', async () => {
    expect(await hostDirProblem(path.join(dir, 'real', 'sub'))).toBeUndefined();
    expect(await hostDirProblem(path.join(dir, 'link'))).toMatch(/link is a symbolic link/);
    expect(await hostDirProblem(path.join(dir, 'link', 'sub'))).toMatch(/link is a symbolic link/);
    expect(await hostDirProblem(path.join(dir, 'real', 'file'))).toMatch(/is not a directory/);
    expect(await hostDirProblem(path.join(dir, 'none', 'x'))).toMatch(/none does not exist/);
  });

  it("checkMounts: vps-spawn's values, or a usage error naming the mount", async () => {
    const s = { root: path.join(dir, 'state'), pool: path.join(dir, 'state', 'pool'), runDir: '/run/v', cacheDir: '/c', hooksDir: '/h', cronDir: '/etc/cron.d' } as HostSettings;
    await fsp.mkdir(s.pool, { recursive: true });
    const sub = path.join(dir, 'real', 'sub');
    expect(await checkMounts([{ host: sub, target: '/data', access: 'ro' }], s)).toEqual([`${sub}:/data:ro`]);
    await expect(checkMounts([{ host: path.join(dir, 'link'), target: '/data', access: 'rw' }], s)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/refusing HOSTDIR: .*symbolic link/) });
    await expect(checkMounts([{ host: s.pool, target: '/data', access: 'rw' }], s)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/which vpsctl keeps for itself/) });
    await expect(checkMounts([{ host: dir, target: '/data', access: 'rw' }], s)).rejects.toMatchObject({ exitCode: 2, message: expect.stringMatching(/holds .*state/) });
  });
});
