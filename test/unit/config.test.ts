import { parseConfig, renderConfig, type ContainerConfig } from '../../src/base/config.js';
import { VpsError } from '../../src/base/errors.js';
import { loadSettings } from '../../src/base/settings.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cfg: ContainerConfig = {
  id: '101',
  template: 'debian-12',
  hostname: 'ct101.example.net',
  disk: 10 * 1024 ** 3,
  created: '2026-01-01T00:00:00.000Z',
  os: { family: 'debian', version: '12', arch: 'amd64' },
  init: '/sbin/init',
  privileged: false,
  idmap: { uid: 1_065_536, gid: 1_065_536, count: 65_536 },
};

describe('config.yaml', () => {
  it('round-trips', () => expect(parseConfig(renderConfig(cfg), 'config.yaml', '101')).toEqual(cfg));
  it('writes the disk human-readable', () => expect(renderConfig(cfg)).toMatch(/^disk: 10G$/m));
  it('refuses an id that does not match its directory', () => expect(() => parseConfig(renderConfig(cfg), 'f', '102')).toThrow(/does not match/));
  it('refuses unknown keys, naming them', () => expect(() => parseConfig(renderConfig(cfg) + 'memroy: 1G\n', 'f', '101')).toThrow(/unknown key "memroy"/));
  it('refuses a bad disk', () => expect(() => parseConfig(renderConfig(cfg).replace('disk: 10G', 'disk: lots'), 'f', '101')).toThrow(VpsError));
  it('refuses broken YAML with the file named', () => expect(() => parseConfig('id: [', '/x/config.yaml', '101')).toThrow(/\/x\/config.yaml/));
  it('refuses an unprivileged container without an idmap', () => {
    expect(() => parseConfig(renderConfig({ ...cfg, idmap: undefined }), 'f', '101')).toThrow(/needs an idmap/);
  });
  it('reads a config from before user namespaces (no privileged, no idmap) as privileged', () => {
    const old = renderConfig(cfg).replace(/^privileged: .*\n/m, '').replace(/^idmap:\n(  .*\n)+/m, '');
    expect(old).not.toMatch(/privileged|idmap/);
    expect(parseConfig(old, 'f', '101').privileged).toBe(true);
  });
  it('accepts a privileged one without', () => {
    expect(parseConfig(renderConfig({ ...cfg, privileged: true, idmap: undefined }), 'f', '101').privileged).toBe(true);
  });
  it('refuses an idmap past 2^32', () => {
    expect(() => parseConfig(renderConfig({ ...cfg, idmap: { uid: 2 ** 32 - 10, gid: 1, count: 65536 } }), 'f', '101')).toThrow(/32-bit/);
  });
  it('refuses a relative init', () => expect(() => parseConfig(renderConfig({ ...cfg, init: 'init' }), 'f', '101')).toThrow(/init/));
});

describe('host settings', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vpsctl-settings-'));
  const file = (text: string): string => {
    const f = join(dir, `s${Math.random()}.yaml`);
    writeFileSync(f, text);
    return f;
  };
  it('defaults with no file', () => {
    const s = loadSettings({ VPSCTL_CONFIG: join(dir, 'none.yaml') });
    expect(s).toMatchObject({ root: '/var/lib/vpsctl', pool: '/var/lib/vpsctl/pool', runDir: '/run/vpsctl', cgroupParent: 'vpsctl' });
  });
  it('reads the file', () => {
    const s = loadSettings({ VPSCTL_CONFIG: file('root: /srv/vps\nmirror: http://mirror.example/debian\n') });
    expect(s).toMatchObject({ root: '/srv/vps', pool: '/srv/vps/pool', mirror: 'http://mirror.example/debian' });
  });
  it('lets VPSCTL_ROOT win', () => expect(loadSettings({ VPSCTL_CONFIG: file('root: /srv/vps\n'), VPSCTL_ROOT: '/tmp/t' }).root).toBe('/tmp/t'));
  it('refuses unknown settings', () => expect(() => loadSettings({ VPSCTL_CONFIG: file('rot: /x\n') })).toThrow(/unknown setting "rot"/));
  it('refuses relative and dotted paths', () => {
    expect(() => loadSettings({ VPSCTL_CONFIG: file('root: var/lib\n') })).toThrow(VpsError);
    expect(() => loadSettings({ VPSCTL_CONFIG: join(dir, 'none'), VPSCTL_ROOT: '/a/../b' })).toThrow(VpsError);
  });
  it('has idmap defaults and checks them', () => {
    expect(loadSettings({ VPSCTL_CONFIG: join(dir, 'none') })).toMatchObject({ idmapBase: 1_000_000, idmapSize: 65_536 });
    expect(() => loadSettings({ VPSCTL_CONFIG: file('idmap_size: 100\n') })).toThrow(/idmap_size/);
    expect(() => loadSettings({ VPSCTL_CONFIG: file('idmap_base: 4294967000\n') })).toThrow(/idmap_base/);
  });
  it('refuses a mirror that is not a URL', () => expect(() => loadSettings({ VPSCTL_CONFIG: file('mirror: "x; rm -rf /"\n') })).toThrow(/mirror/));
});
