/**
 * template import / download / remove / info, as root, with archives made here from the
 * cached Debian template: an OpenVZ tarball, an LXC pair (meta.tar.xz + rootfs.tar.xz) and an
 * image server (a loopback HTTP server with meta/1.0/index-system and SHA256SUMS). Each
 * imports and boots. Hostile archives, written by a tiny tar writer below, are refused whole
 * with the offending entry named, and leave the template cache as it was.
 */
import { execa, type ResultPromise } from 'execa';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { TEMPLATE, TEMPLATE_CACHE, inside, json, listingOf, makeEnv, newId, ok, sleep, vpsctl } from './harness.js';

const e = makeEnv();
const tdir = path.join(e.root, 'pool', 'templates');
const fx = path.join(e.root, 'fixtures');
const OPENVZ = path.join(fx, 'debian-12.0-x86_64-test.tar.gz');
const LXC = path.join(fx, 'lxc');
const META = path.join(LXC, 'meta.tar.xz');
const ROOTFS = path.join(LXC, 'rootfs.tar.xz');
const SERIAL = '20240301_05:24';
const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

let server: Server;
let url = '';
/** URL path -> file or text the loopback image server serves. */
const routes = new Map<string, string | { text: string }>();

const METADATA = `architecture: x86_64
creation_date: 1709270640
properties:
  architecture: amd64
  description: Debian bookworm amd64 (${SERIAL})
  name: debian-bookworm-amd64-default-${SERIAL}
  os: Debian
  release: bookworm
  serial: "${SERIAL}"
  variant: default
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
`;

beforeAll(async () => {
  mkdirSync(path.join(fx, 'mnt'), { recursive: true });
  mkdirSync(path.join(fx, 'meta', 'templates'), { recursive: true });
  mkdirSync(LXC, { recursive: true });
  const mnt = path.join(fx, 'mnt');
  await execa('mount', ['-o', 'loop,ro', path.join(TEMPLATE_CACHE, 'pool', 'templates', `${TEMPLATE}.img`), mnt]);
  try {
    // the whole tree, its /dev nodes too, as a real root file system archive has them
    await execa('tar', ['--create', '--numeric-owner', '--xattrs', '--exclude=./lost+found', '-C', mnt, '-f', path.join(fx, 'base.tar'), '.']);
  } finally {
    await execa('umount', [mnt]);
  }
  // and what an old OpenVZ template's /dev adds: the host's memory, a disk, a FIFO
  const more = path.join(fx, 'more');
  mkdirSync(path.join(more, 'dev'), { recursive: true });
  await execa('mknod', [path.join(more, 'dev', 'mem'), 'c', '1', '1']);
  await execa('mknod', [path.join(more, 'dev', 'sda'), 'b', '8', '0']);
  await execa('mkfifo', [path.join(more, 'dev', 'xconsole')]);
  await execa('tar', ['--append', '--numeric-owner', '-C', more, '-f', path.join(fx, 'base.tar'), './dev/mem', './dev/sda', './dev/xconsole']);
  await execa('gzip', ['-1', '-k', path.join(fx, 'base.tar')]);
  renameSync(path.join(fx, 'base.tar.gz'), OPENVZ);
  await execa('xz', ['-0', '-T0', '-k', path.join(fx, 'base.tar')]);
  renameSync(path.join(fx, 'base.tar.xz'), ROOTFS);
  writeFileSync(path.join(fx, 'meta', 'metadata.yaml'), METADATA);
  writeFileSync(path.join(fx, 'meta', 'templates', 'hostname.tpl'), '{{ container.name }}\n');
  await execa('tar', ['--create', '--xz', '--numeric-owner', '-C', path.join(fx, 'meta'), '-f', META, 'metadata.yaml', 'templates']);

  // the image server: an index with an older build (whose files are gone), the newest, another
  // arch, and an image whose SHA256SUMS does not match its rootfs
  const dir = `/images/debian/bookworm/amd64/default/${SERIAL}/`;
  const bad = '/images/debian/badsum/amd64/default/20240101_00:00/';
  // an LXC 1.x meta tarball: config and templates, no metadata.yaml
  const classic = '/images/debian/classic/amd64/cloud/20240101_00:00/';
  mkdirSync(path.join(fx, 'classic', 'templates'), { recursive: true });
  writeFileSync(path.join(fx, 'classic', 'config'), 'lxc.include = LXC_TEMPLATE_CONFIG/debian.common.conf\nlxc.arch = x86_64\n');
  writeFileSync(path.join(fx, 'classic', 'templates', 'hostname'), 'LXC_NAME\n');
  const classicMeta = path.join(fx, 'classic-meta.tar.xz');
  await execa('tar', ['--create', '--xz', '-C', path.join(fx, 'classic'), '-f', classicMeta, 'config', 'templates']);
  routes.set(
    '/meta/1.0/index-system',
    {
      text: [
        'debian;bookworm;amd64;default;20240101_05:24;/images/debian/bookworm/amd64/default/20240101_05:24/',
        `debian;bookworm;amd64;default;${SERIAL};${dir}`,
        'debian;bookworm;arm64;default;20240401_05:24;/images/debian/bookworm/arm64/default/20240401_05:24/',
        `debian;badsum;amd64;default;20240101_00:00;${bad}`,
        `debian;classic;amd64;cloud;20240101_00:00;${classic}`,
        '',
      ].join('\n'),
    },
  );
  routes.set(`${dir}meta.tar.xz`, META);
  routes.set(`${dir}rootfs.tar.xz`, ROOTFS);
  routes.set(`${dir}SHA256SUMS`, { text: `${sha256(META)}  meta.tar.xz\n${sha256(ROOTFS)}  rootfs.tar.xz\n` });
  routes.set(`${bad}meta.tar.xz`, META);
  routes.set(`${bad}rootfs.tar.xz`, ROOTFS);
  routes.set(`${bad}SHA256SUMS`, { text: `${sha256(META)}  meta.tar.xz\n${'0'.repeat(64)}  rootfs.tar.xz\n` });
  routes.set(`${classic}meta.tar.xz`, classicMeta);
  routes.set(`${classic}rootfs.tar.xz`, ROOTFS);
  routes.set('/vz/debian-12.0-x86_64-test.tar.gz', OPENVZ);
  server = createServer((req, res) => {
    const r = routes.get(decodeURIComponent((req.url ?? '').split('?')[0]));
    if (r === undefined) {
      res.writeHead(404).end('not found\n');
    } else if (typeof r === 'string') {
      res.writeHead(200, { 'content-length': statSync(r).size, 'content-type': 'application/octet-stream' });
      createReadStream(r).pipe(res);
    } else {
      res.writeHead(200, { 'content-length': Buffer.byteLength(r.text), 'content-type': 'text/plain' }).end(r.text);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

/** A container from the template boots to systemd running, with its own machine-id and SSH host keys; then it goes. */
async function boots(template: string): Promise<void> {
  const id = newId('ti');
  try {
    await ok(e, ['create', id, '--template', template]);
    await ok(e, ['start', id, '--wait', '--timeout', '120s']);
    expect(await inside(e, id, ['systemctl', 'is-system-running'])).toBe('running');
    expect(await inside(e, id, ['cat', '/etc/machine-id'])).toMatch(/^[0-9a-f]{32}$/);
    expect(await inside(e, id, ['sh', '-c', 'test -s /etc/ssh/ssh_host_ed25519_key && echo keys'])).toBe('keys');
  } finally {
    await vpsctl(e, ['destroy', id, '--force']);
  }
}

/** The device nodes, FIFOs and sockets in an image, as "TYPE PATH" (find's %y), sorted. */
async function specialFiles(image: string): Promise<string[]> {
  const mnt = path.join(fx, `special-${path.basename(image)}`);
  mkdirSync(mnt, { recursive: true });
  await execa('mount', ['-o', 'loop,ro', image, mnt]);
  try {
    const r = await execa('find', ['.', '-xdev', '(', '-type', 'c', '-o', '-type', 'b', '-o', '-type', 'p', '-o', '-type', 's', ')', '-printf', '%y /%P\n'], { cwd: mnt });
    return r.stdout.split('\n').filter(Boolean).sort();
  } finally {
    await execa('umount', [mnt]);
  }
}

interface Imported {
  template: { name: string; os: string; version: string; arch: string; source: string; size: number; import: { format: string; from: string; files: { name: string; sha256: string; size: number }[]; flavour?: string; serial?: string } };
  image: string;
}

describe('template import: an OpenVZ tarball', () => {
  it('is checked, unpacked and packed, named from its file, and boots', async () => {
    const r = await json<Imported>(e, ['template', 'import', OPENVZ]);
    expect(r.template).toMatchObject({ name: 'debian-12.0-test', os: 'debian', version: '12', arch: 'amd64', import: { format: 'openvz', flavour: 'test', from: OPENVZ } });
    // the template's 8 device nodes and the 2 added are dropped; its FIFO is kept
    expect(r.template.import.files).toEqual([{ name: path.basename(OPENVZ), size: statSync(OPENVZ).size, sha256: sha256(OPENVZ), devicesDropped: 10 }]);
    expect(r.image).toBe(path.join(tdir, 'debian-12.0-test.img'));
    expect(await specialFiles(r.image)).toEqual(['p /dev/xconsole']);
    const list = await json<{ name: string }[]>(e, ['template', 'list']);
    expect(list.map((t) => t.name).sort()).toEqual(['debian-12', 'debian-12.0-test']);
    const info = await json<{ kind: string; from: string; image: string }>(e, ['template', 'info', 'debian-12.0-test']);
    expect(info).toMatchObject({ kind: 'openvz', from: OPENVZ, image: r.image });
    expect(await ok(e, ['template', 'info', 'debian-12.0-test'])).toMatch(/^kind:\s+openvz$/m);
    expect(readdirSync(tdir).filter((n) => n.startsWith('.'))).toEqual([]);
    await boots('debian-12.0-test');
  });

  it('shows progress on stderr and only the result on stdout; an existing name is exit 5 unless --force', async () => {
    const again = await vpsctl(e, ['template', 'import', OPENVZ, '--name', 'debian-12.0-test']);
    expect(again.exitCode).toBe(5);
    expect(again.stderr).toMatch(/already exists/);
    const r = await vpsctl(e, ['template', 'import', OPENVZ, '--force', '--json'], {});
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).template.name).toBe('debian-12.0-test');
    const plain = await vpsctl(e, ['template', 'import', OPENVZ, '--force', '--sha256', sha256(OPENVZ).toUpperCase()]);
    expect(plain.exitCode).toBe(0);
    expect(plain.stderr).toMatch(/\[1\/6\] checking/);
    // the checker's reading, vouched for by GNU tar's own listing of the copy it unpacks
    expect(plain.stderr).toMatch(/debian-12\.0-x86_64-test\.tar\.gz: dropping its 10 device nodes \("\.\/dev\/\w+", "\.\/dev\/\w+", "\.\/dev\/\w+", \.\.\.\): a container's \/dev is made at its start/);
    expect(plain.stderr).toMatch(/debian-12\.0-x86_64-test\.tar\.gz: GNU tar lists the same \d+ entries/);
    expect(plain.stderr).toMatch(/\[4\/6\] packing the ext4 image/);
    expect(plain.stdout).toMatch(/^imported template debian-12.0-test$/m);
  });

  it('is fetched from a URL (with progress on stderr) and removed again', async () => {
    const r = await vpsctl({ ...e, env: { ...e.env, VPSCTL_PROGRESS: '1' } }, ['template', 'import', `${url}/vz/debian-12.0-x86_64-test.tar.gz`, '--name', 'from-url', '--json']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toMatch(/debian-12\.0-x86_64-test\.tar\.gz: [\d.]+M of [\d.]+M/);
    const j = JSON.parse(r.stdout) as Imported;
    expect(j.template.import).toMatchObject({ format: 'openvz', from: `${url}/vz/debian-12.0-x86_64-test.tar.gz`, files: [{ sha256: sha256(OPENVZ) }] });
    expect(await json(e, ['template', 'remove', 'from-url'])).toEqual({ name: 'from-url', removed: [path.join(tdir, 'from-url.img'), path.join(tdir, 'from-url.yaml')] });
    expect(existsSync(path.join(tdir, 'from-url.img'))).toBe(false);
    const gone = await vpsctl(e, ['template', 'remove', 'from-url']);
    expect(gone.exitCode).toBe(3);
    expect((await vpsctl(e, ['template', 'info', 'from-url'])).exitCode).toBe(3);
  });
});

describe('template import: an LXC image', () => {
  it('meta.tar.xz plus rootfs.tar.xz: named from metadata.yaml, and boots', async () => {
    const r = await json<Imported>(e, ['template', 'import', META, ROOTFS, '--sha256', sha256(ROOTFS)]);
    expect(r.template).toMatchObject({ name: 'debian-bookworm', os: 'debian', version: '12', arch: 'amd64', import: { format: 'lxc', from: META, flavour: 'default', serial: SERIAL } });
    expect(r.template.import.files.map((f) => [f.name, f.sha256])).toEqual([
      ['meta.tar.xz', sha256(META)],
      ['rootfs.tar.xz', sha256(ROOTFS)],
    ]);
    expect(await json(e, ['template', 'info', 'debian-bookworm'])).toMatchObject({ kind: 'lxc', description: `Debian bookworm amd64 (${SERIAL})` });
    await boots('debian-bookworm');
  });

  it('a directory holding both imports too; a meta tarball without its rootfs says what is missing', async () => {
    const r = await json<Imported>(e, ['template', 'import', LXC, '--name', 'lxc-dir']);
    expect(r.template).toMatchObject({ name: 'lxc-dir', import: { format: 'lxc', from: LXC } });
    await ok(e, ['template', 'remove', 'lxc-dir']);
    const lone = path.join(fx, 'lone');
    mkdirSync(lone, { recursive: true });
    copyFileSync(META, path.join(lone, 'meta.tar.xz'));
    const before = listingOf(tdir);
    const miss = await vpsctl(e, ['template', 'import', path.join(lone, 'meta.tar.xz'), '--name', 'lone']);
    expect([miss.exitCode, miss.stderr]).toEqual([3, expect.stringMatching(/rootfs\.tar\.xz does not exist/)]);
    expect(miss.stderr).toMatch(/ROOTFS/);
    expect(listingOf(tdir)).toEqual(before);
  });
});

describe('template download', () => {
  it('reads the index, takes the newest serial, verifies SHA256SUMS, imports, and boots', async () => {
    const r = await json<Imported>({ ...e, env: { ...e.env, VPSCTL_IMAGE_SERVER: url } }, ['template', 'download', 'debian', 'bookworm', '--name', 'deb-dl']);
    expect(r.template).toMatchObject({ name: 'deb-dl', os: 'debian', version: '12', import: { format: 'lxc', from: `${url}/images/debian/bookworm/amd64/default/${SERIAL}/` } });
    expect(r.template.source).toBe(`download lxc ${url}/images/debian/bookworm/amd64/default/${SERIAL}/`);
    await boots('deb-dl');
  });

  it('takes names from the index when the meta tarball has no metadata.yaml (LXC 1.x), and warns when nothing verifies it', async () => {
    const r = await vpsctl(e, ['template', 'download', 'debian', 'classic', '--variant', 'cloud', '--server', url, '--json']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).template).toMatchObject({ name: 'debian-classic-cloud', os: 'debian', version: '12', import: { format: 'lxc', flavour: 'cloud', serial: '20240101_00:00' } });
    expect(r.stderr).toMatch(/has no SHA256SUMS: the download is not verified/);
    await ok(e, ['template', 'remove', 'debian-classic-cloud']);
  });

  it('without a server says how to give one (exit 2); an image the index lacks is exit 3', async () => {
    const none = await vpsctl(e, ['template', 'download', 'debian', 'bookworm']);
    expect(none.exitCode).toBe(2);
    expect(none.stderr).toMatch(/--server/);
    expect(none.stderr).toMatch(/VPSCTL_IMAGE_SERVER/);
    const missing = await vpsctl(e, ['template', 'download', 'debian', 'trixie', '--server', url]);
    expect(missing.exitCode).toBe(3);
    expect(missing.stderr).toMatch(/no image debian\/trixie\/amd64\/default/);
  });

  it('refuses a rootfs that does not match the SHA256SUMS, or --sha256, and keeps nothing', async () => {
    const before = listingOf(tdir);
    const bad = await vpsctl(e, ['template', 'download', 'debian', 'badsum', '--server', url]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/refusing rootfs\.tar\.xz: its SHA-256 [0-9a-f]{64} does not match 0{64} in the server's SHA256SUMS/);
    const flag = await vpsctl(e, ['template', 'download', 'debian', 'bookworm', '--server', url, '--name', 'x', '--sha256', 'a'.repeat(64)]);
    expect(flag.exitCode).toBe(2);
    expect(flag.stderr).toMatch(/does not match --sha256 a{64}/);
    expect(listingOf(tdir)).toEqual(before);
  });
});

describe('template remove', () => {
  it('refuses while a build or import of the template holds its lock (exit 4)', async () => {
    await ok(e, ['template', 'import', OPENVZ, '--name', 'locked-one']);
    const lockFile = path.join(e.run, '.locks', 'template.locked-one.lock');
    const holder: ResultPromise = execa('flock', ['--exclusive', '--no-fork', lockFile, 'sleep', '60'], { reject: false });
    try {
      // held once a try of our own fails (the file alone can exist before flock has the lock)
      const held = async (): Promise<boolean> => existsSync(lockFile) && (await execa('flock', ['--exclusive', '--nonblock', lockFile, 'true'], { reject: false })).exitCode !== 0;
      for (let i = 0; i < 100 && !(await held()); i++) await sleep(100);
      const r = await vpsctl(e, ['template', 'remove', 'locked-one']);
      expect(r.exitCode).toBe(4);
    } finally {
      holder.kill('SIGTERM');
      await holder;
    }
    await ok(e, ['template', 'remove', 'locked-one']);
    expect((await json<{ name: string }[]>(e, ['template', 'list'])).map((t) => t.name)).not.toContain('locked-one');
  });
});

// ---- hostile archives ----------------------------------------------------------------------

interface Member {
  name: string;
  type?: string;
  data?: string | Buffer;
  link?: string;
  mode?: number;
}

/** One ustar header, checksum and all. */
function header(name: string, type: string, size: number, link = '', mode = 0o644): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'latin1');
  h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write('14600000000\0', 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(type, 156, 'latin1');
  h.write(link, 157, 100, 'latin1');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** A tar archive of these members (a GNU long name is an `L` member; a pax header an `x` one). */
function tarOf(members: Member[]): Buffer {
  const parts: Buffer[] = [];
  for (const m of members) {
    const data = Buffer.from(m.data ?? '');
    const type = m.type ?? '0';
    parts.push(header(m.name, type, data.length, m.link, m.mode ?? (type === '5' ? 0o755 : 0o644)));
    if (data.length) parts.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A pax record: `<len> key=value\n`, the length counting itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let n = body.length + 1;
  while (`${n}${body}`.length !== n) n = `${n}${body}`.length;
  return `${n}${body}`;
}

const TREE: Member[] = [
  { name: './', type: '5' },
  { name: './etc/', type: '5' },
  { name: './etc/hostname', data: 'evil\n' },
  { name: './etc/shadow', data: 'root:*:19000:0:99999:7:::\n', mode: 0o640 },
  { name: './sbin/', type: '5' },
];

describe('template import refuses hostile archives whole, naming the entry, and keeps nothing', () => {
  const cases: [string, Member[], RegExp][] = [
    ['an absolute path', [{ name: '/etc/evil', data: 'x' }], /entry "\/etc\/evil" has an absolute path/],
    ['a ".." component', [{ name: '../escape', data: 'x' }], /entry "\.\.\/escape" has a "\.\." component/],
    ['".." in the middle of a path', [{ name: './etc/../../escape', data: 'x' }], /entry "\.\/etc\/\.\.\/\.\.\/escape" has a "\.\." component/],
    ['a symlink out of the tree, and a file written through it', [{ name: './etc/x', type: '2', link: '../../../../etc/shadow' }, { name: './etc/x/y', data: 'x' }], /symlink "\.\/etc\/x" -> "\.\.\/\.\.\/\.\.\/\.\.\/etc\/shadow" points outside the tree/],
    ['a file written through an absolute symlink', [{ name: './etc/y', type: '2', link: '/etc' }, { name: './etc/y/passwd', data: 'x' }], /entry "\.\/etc\/y\/passwd" lies under "etc\/y", a symlink/],
    ['a directory over a symlink', [{ name: './root', type: '2', link: '/' }, { name: './root/', type: '5' }], /directory entry "\.\/root\/" would replace a symlink of the same name/],
    ['a hardlink to /etc/shadow', [{ name: './etc/sh', type: '1', link: '/etc/shadow' }], /hardlink "\.\/etc\/sh" -> "\/etc\/shadow" has an absolute target/],
    ['a hardlink climbing out', [{ name: './etc/sh', type: '1', link: '../etc/shadow' }], /hardlink "\.\/etc\/sh" -> "\.\.\/etc\/shadow" climbs out/],
    ['a hardlink to nothing earlier', [{ name: './etc/sh', type: '1', link: './etc/gshadow' }], /hardlink "\.\/etc\/sh" -> "\.\/etc\/gshadow" names nothing earlier in the archive/],
    // device nodes are dropped (tar skips them by name): what would land on or under one is refused
    ['a file written under a device node', [{ name: './dev/', type: '5' }, { name: './dev/sda', type: '4' }, { name: './dev/sda/x', data: 'x' }], /entry "\.\/dev\/sda\/x" lies under "dev\/sda", which is not a directory/],
    ['a hardlink to a device node', [{ name: './dev/', type: '5' }, { name: './dev/mem', type: '3' }, { name: './etc/m', type: '1', link: './dev/mem' }], /hardlink "\.\/etc\/m" -> "\.\/dev\/mem" names a device node, which the import drops/],
    ['an absolute GNU long name', [{ name: '././@LongLink', type: 'L', data: '/etc/evil-long-name\0' }, { name: 'harmless', data: 'x' }], /entry "\/etc\/evil-long-name" has an absolute path/],
    ['a pax path that climbs out', [{ name: 'PaxHeaders/x', type: 'x', data: paxRecord('path', '../pax-escape') }, { name: 'harmless', data: 'x' }], /entry "\.\.\/pax-escape" has a "\.\." component/],
    ['a pax path with a NUL byte (tar would cut the name there)', [{ name: 'PaxHeaders/l', type: 'x', data: paxRecord('path', 'l\0junk') }, { name: 'l', type: '2', link: '/etc' }, { name: 'l/passwd', data: 'x' }], /NUL byte/],
    ['a global pax header that renames every later entry', [{ name: 'GlobalHead', type: 'g', data: paxRecord('path', 'etc/cron.d/evil') }, { name: 'harmless', data: 'x' }], /global pax header sets "path"/],
    // tar reads no data after a hardlink header whatever its size says: the "data" would be a member
    ['a hardlink whose size hides a device node', [{ name: './etc/h', type: '1', link: './etc/shadow', data: header('./dev/sda', '4', 0) }], /entry "\.\/etc\/h" of type "1" claims 512 bytes of data/],
    ['a "file" named like a directory whose data hides a member', [{ name: './etc/d/', data: header('./dev/sdb', '4', 0) }], /entry "\.\/etc\/d\/" of type directory claims 512 bytes of data/],
    // issue 15: GNU tar reads "size=0" after two blanks; a parser splitting at the first blank hid the device
    ['a device node behind "NN  size=0", a pax record GNU tar reads, with a file over it', [{ name: 'PaxHeaders/m', type: 'x', data: '11  size=0\n' }, { name: './etc/motd', data: header('./dev/mem', '3', 0) }, { name: './dev/mem', data: 'x' }], /entry "\.\/dev\/mem" replaces a device node of the same name/],
  ];

  it.each(cases)('%s', async (what, members, re) => {
    const file = path.join(fx, `hostile-${what.replace(/[^a-z]+/g, '-')}.tar.gz`);
    writeFileSync(file, gzipSync(tarOf([...TREE, ...members])));
    const before = listingOf(tdir);
    const r = await vpsctl(e, ['template', 'import', file, '--name', 'evil']);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(re) });
    expect(r.stderr).toMatch(/nothing was unpacked/);
    expect(listingOf(tdir)).toEqual(before);
  });

  it('a size bomb beyond --max-size', async () => {
    const file = path.join(fx, 'bomb.tar.gz');
    writeFileSync(file, gzipSync(tarOf([...TREE, { name: './big', data: Buffer.alloc(4 * 1024 * 1024) }])));
    const before = listingOf(tdir);
    const r = await vpsctl(e, ['template', 'import', file, '--name', 'evil', '--max-size', '1M', '--json']);
    expect(r.exitCode).toBe(2);
    expect(JSON.parse(r.stdout).error).toMatchObject({ code: 'INVALID', exitCode: 2, message: expect.stringMatching(/unpacks to more than 1M \(--max-size\), reached at entry "\.\/big"/) });
    expect(listingOf(tdir)).toEqual(before);
  });

  it('a size bomb behind "NN  size=4194304", a pax record GNU tar reads (issue 15)', async () => {
    const file = path.join(fx, 'bomb-pax.tar.gz');
    const head = tarOf([...TREE, { name: 'PaxHeaders/big', type: 'x', data: '17  size=4194304\n' }, { name: './big' }]).subarray(0, -1024);
    writeFileSync(file, gzipSync(Buffer.concat([head, Buffer.alloc(4 * 1024 * 1024, 0x61), Buffer.alloc(1024)])));
    const before = listingOf(tdir);
    const r = await vpsctl(e, ['template', 'import', file, '--name', 'evil', '--max-size', '1M']);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 2, stderr: expect.stringMatching(/unpacks to more than 1M \(--max-size\), reached at entry "\.\/big"/) });
    expect(listingOf(tdir)).toEqual(before);
  });

  it('a checksum mismatch (--sha256)', async () => {
    const before = listingOf(tdir);
    const r = await vpsctl(e, ['template', 'import', OPENVZ, '--name', 'evil', '--sha256', 'f'.repeat(64)]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`its SHA-256 ${sha256(OPENVZ)} does not match --sha256 f{64}`));
    expect(listingOf(tdir)).toEqual(before);
  });

  it('a truncated archive (the gzip cut in half), and one that is no tar at all', async () => {
    const cut = path.join(fx, 'debian-12.0-x86_64-cut.tar.gz');
    copyFileSync(OPENVZ, cut);
    truncateSync(cut, Math.floor(statSync(OPENVZ).size / 2));
    const before = listingOf(tdir);
    const r = await vpsctl(e, ['template', 'import', cut]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/refusing debian-12\.0-x86_64-cut\.tar\.gz: the archive is (damaged or truncated|truncated)/);
    const cutXz = path.join(fx, 'cut-rootfs.tar.xz');
    copyFileSync(ROOTFS, cutXz);
    truncateSync(cutXz, Math.floor(statSync(ROOTFS).size / 2));
    const x = await vpsctl(e, ['template', 'import', META, cutXz, '--name', 'evil']);
    expect(x.exitCode).toBe(2);
    expect(x.stderr).toMatch(/refusing cut-rootfs\.tar\.xz: the archive is (damaged or truncated|truncated)/);
    const junk = path.join(fx, 'junk-1-x86_64.tar.gz');
    writeFileSync(junk, Buffer.from('this is not an archive\n'.repeat(100)));
    const j = await vpsctl(e, ['template', 'import', junk]);
    expect(j.exitCode).toBe(2);
    expect(j.stderr).toMatch(/not a tar archive/);
    expect(listingOf(tdir)).toEqual(before);
  });

  it('a tree that passes the checks but cannot boot (no /sbin/init) is refused after unpacking, leaving nothing', async () => {
    const file = path.join(fx, 'noinit.tar.gz');
    writeFileSync(file, gzipSync(tarOf([...TREE, { name: './bin', type: '2', link: 'usr/bin' }, { name: './fifo', type: '6' }])));
    const before = listingOf(tdir);
    const r = await vpsctl(e, ['template', 'import', file, '--name', 'noinit']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/holds no \/sbin\/init/);
    expect(listingOf(tdir)).toEqual(before);
  });
});
