import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseRecipe } from '../../src/templates/recipe.js';
import { debootstrapArgv, dnfArgv, resolveMirror } from '../../src/templates/builders.js';
import { exitCodeOf } from './exit-code.js';
import { loadSettings } from '../../src/base/settings.js';

const dir = path.join(process.cwd(), 'templates');
const recipe = (name: string) => parseRecipe(readFileSync(path.join(dir, `${name}.yaml`), 'utf8'), `${name}.yaml`);

describe('the recipes in templates/', () => {
  const names = readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5));
  it('cover Debian 11-13, Ubuntu 20.04-24.04, CentOS 7, CentOS Stream 9, AlmaLinux 9, Rocky 9', () => {
    expect(names.sort()).toEqual(
      ['almalinux-9', 'centos-7', 'centos-stream-9', 'debian-11', 'debian-12', 'debian-13', 'rockylinux-9', 'ubuntu-20.04', 'ubuntu-22.04', 'ubuntu-24.04'].sort(),
    );
  });
  it.each(names)('%s parses, and writes no mirror host name', (n) => {
    const r = recipe(n);
    expect(r.name).toBe(n);
    expect(r.packages).toContain(r.builder === 'dnf' ? 'openssh-server' : 'openssh-server');
    expect(readFileSync(path.join(dir, `${n}.yaml`), 'utf8')).not.toMatch(/https?:\/\//);
  });
});

describe('debootstrap command lines', () => {
  it('Debian 12 from the host mirror, with the cache', () => {
    const r = recipe('debian-12');
    const m = resolveMirror(r, { hostDebian: 'http://mirror.example/debian' });
    expect(debootstrapArgv(r, '/t/rootfs', m, '/c')).toEqual([
      '--variant=minbase',
      '--arch=amd64',
      '--components=main',
      `--include=${r.packages.join(',')}`,
      '--cache-dir=/c',
      'bookworm',
      '/t/rootfs',
      'http://mirror.example/debian',
    ]);
  });
  it("Ubuntu 24.04 with Ubuntu's keyring, universe, and debootstrap's default mirror unless one is set", () => {
    const r = recipe('ubuntu-24.04');
    expect(resolveMirror(r, { settingsMirror: 'http://debian-only.example/debian', hostDebian: 'http://x/debian' })).toBeUndefined();
    const argv = debootstrapArgv(r, '/t/rootfs', resolveMirror(r, {}));
    expect(argv).toContain('--keyring=/usr/share/keyrings/ubuntu-archive-keyring.gpg');
    expect(argv).toContain('--components=main,universe');
    expect(argv.slice(-2)).toEqual(['noble', '/t/rootfs']);
    expect(resolveMirror(r, { mirrors: { ubuntu: 'http://u.example/ubuntu' } })).toBe('http://u.example/ubuntu');
  });
});

describe('dnf command lines', () => {
  it('AlmaLinux 9: repos under the mirror, GPG checked with its key, no host repos', () => {
    const r = recipe('almalinux-9');
    expect(exitCodeOf(() => resolveMirror(r, {}))).toBe(6);
    const m = resolveMirror(r, { override: 'http://alma.example/almalinux/' }) as string;
    const argv = dnfArgv(r, '/t/rootfs', m);
    expect(argv.slice(0, 4)).toEqual(['-y', '--installroot=/t/rootfs', '--releasever=9', '--forcearch=x86_64']);
    expect(argv).toContain('--setopt=reposdir=/nonexistent');
    expect(argv).toContain('--repofrompath=baseos,http://alma.example/almalinux/9/BaseOS/x86_64/os');
    expect(argv).toContain('--repofrompath=appstream,http://alma.example/almalinux/9/AppStream/x86_64/os');
    expect(argv).toContain('--setopt=baseos.gpgcheck=1');
    expect(argv).toContain('--setopt=baseos.gpgkey=http://alma.example/almalinux/RPM-GPG-KEY-AlmaLinux-9');
    expect(argv.slice(argv.indexOf('install') + 1)).toEqual(r.packages);
    expect(r.packages).toContain('NetworkManager');
  });
  it('CentOS 7: os and updates, initscripts for its ifcfg network', () => {
    const r = recipe('centos-7');
    const argv = dnfArgv(r, '/r', 'http://vault.example/centos');
    expect(argv).toContain('--repofrompath=os,http://vault.example/centos/7/os/x86_64');
    expect(argv).toContain('--repofrompath=updates,http://vault.example/centos/7/updates/x86_64');
    expect(r.packages).toContain('initscripts');
  });
  it('refuses a dnf recipe without keys or with a mirror path that climbs', () => {
    const base = readFileSync(path.join(dir, 'rockylinux-9.yaml'), 'utf8');
    expect(exitCodeOf(() => parseRecipe(base.replace(/gpg_keys: \[.*\]/, 'gpg_keys: []'), 'x'))).toBe(2);
    expect(exitCodeOf(() => parseRecipe(base.replace('9/BaseOS/x86_64/os', '../../etc'), 'x'))).toBe(2);
    expect(exitCodeOf(() => parseRecipe(base.replace('mirror: required', 'mirror: http://x'), 'x'))).toBe(2);
  });
});

describe('mirrors in the host settings', () => {
  const file = (text: string): string => {
    const f = path.join(mkdtempSync(path.join(tmpdir(), 'settings-')), 'vpsctl.yaml');
    writeFileSync(f, text);
    return f;
  };
  it('reads a mirror per OS, and refuses a non-URL', async () => {
    const s = loadSettings({ VPSCTL_CONFIG: file('mirrors:\n  almalinux: http://alma.example/almalinux\n  ubuntu: http://u.example/ubuntu\n') });
    expect(s.mirrors).toEqual({ almalinux: 'http://alma.example/almalinux', ubuntu: 'http://u.example/ubuntu' });
    expect(resolveMirror(recipe('almalinux-9'), { mirrors: s.mirrors })).toBe('http://alma.example/almalinux');
    expect(exitCodeOf(() => loadSettings({ VPSCTL_CONFIG: file('mirrors:\n  ubuntu: "ftp://x; rm"\n') }))).toBe(2);
  });
});
