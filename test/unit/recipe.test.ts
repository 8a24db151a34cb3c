import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { hostDebianMirror, parseRecipe } from '../../src/templates/recipe.js';

const dir = path.resolve('templates');

describe('recipes in templates/', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  it('has the default debian-12', () => expect(files).toContain('debian-12.yaml'));
  it.each(files)('%s is valid and named after its file', (f) => {
    const r = parseRecipe(readFileSync(path.join(dir, f), 'utf8'), f);
    expect(r.name).toBe(f.replace(/\.yaml$/, ''));
  });
  it.each(files)('%s writes no mirror host name (mirrors come from the host)', (f) => {
    expect(readFileSync(path.join(dir, f), 'utf8')).not.toMatch(/https?:\/\//);
  });
  it('debian-12 installs what a VPS needs to boot and be reached', () => {
    const r = parseRecipe(readFileSync(path.join(dir, 'debian-12.yaml'), 'utf8'), 'debian-12.yaml');
    for (const p of ['systemd-sysv', 'iproute2', 'openssh-server', 'less', 'procps', 'vim-tiny', 'ca-certificates']) expect(r.packages).toContain(p);
    expect(r.remove.some((x) => x.startsWith('/etc/ssh/ssh_host_'))).toBe(true);
  });
});

describe('recipe validation', () => {
  const base = 'name: t\nos: debian\nversion: "1"\nbuilder: debootstrap\ndebootstrap: {suite: bookworm}\n';
  it('accepts a minimal recipe', () => expect(parseRecipe(base, 'r').debootstrap.mirror).toBe('host'));
  it.each([
    ['an unknown key', `${base}extra: 1\n`, /unknown key/],
    ['a path escaping the tree', `${base}files: [{path: /etc/../../x, content: a}]\n`, /files\[0\]\.path/],
    ['a relative path', `${base}remove: [etc/x]\n`, /remove\[0\]/],
    ['a package with shell in it', `${base}packages: ["vim; rm -rf /"]\n`, /packages\[0\]/],
    ['another builder', base.replace('debootstrap\n', 'pacstrap\n'), /builder/],
    ['a dnf builder without its section', base.replace('debootstrap\n', 'dnf\n'), /dnf/],
    ['a URL mirror in the recipe', base.replace('{suite: bookworm}', '{suite: bookworm, mirror: "http://x"}'), /mirror/],
  ])('refuses %s', (_what, text, re) => expect(() => parseRecipe(text, 'r')).toThrow(re));
});

describe('the host mirror', () => {
  it('reads a deb822 source and skips security and other vendors', () => {
    const sources = [
      { name: 'vendor.sources', text: 'Types: deb\nURIs: https://vendor.example/apt\nSuites: nodistro\nSigned-By: /usr/share/keyrings/vendor.gpg\n' },
      {
        name: 'debian.sources',
        text: 'Types: deb\nURIs: http://sec.example/debian-security\nSuites: bookworm-security\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
      },
    ];
    expect(hostDebianMirror(sources)).toBe('http://mirror.example/debian');
  });
  it('reads a one-line sources.list', () => {
    expect(hostDebianMirror([{ name: 'sources.list', text: '# x\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n' }])).toBe('http://mirror.example/debian');
  });
  it('gives up (debootstrap default) when there is none', () => expect(hostDebianMirror([])).toBeUndefined());
});
