import { mkdtempSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, existsSync, lstatSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { applyPersonality, detectOs, parseOsRelease } from '../../src/distro/index.js';

/** A rootfs fixture with Debian's layout (os-release is a link into /usr/lib, as on Debian). */
function debianTree(): string {
  const root = mkdtempSync(path.join(tmpdir(), 'rootfs-'));
  mkdirSync(path.join(root, 'etc'));
  mkdirSync(path.join(root, 'usr/lib'), { recursive: true });
  mkdirSync(path.join(root, 'var/lib/dbus'), { recursive: true });
  writeFileSync(path.join(root, 'usr/lib/os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n');
  symlinkSync('../usr/lib/os-release', path.join(root, 'etc/os-release'));
  writeFileSync(path.join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\ttemplate-host\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  writeFileSync(path.join(root, 'etc/machine-id'), '');
  symlinkSync('/etc/machine-id', path.join(root, 'var/lib/dbus/machine-id'));
  return root;
}

describe('os-release', () => {
  it('parses quoted and bare values', () => {
    expect(parseOsRelease('ID=debian\nVERSION_ID="12"\n# c\nNAME=\'A "B"\'\n')).toEqual({ ID: 'debian', VERSION_ID: '12', NAME: 'A "B"' });
  });
  it('reads /usr/lib/os-release when /etc/os-release is a link', async () => {
    expect(await detectOs(debianTree())).toMatchObject({ id: 'debian', version: '12' });
  });
  it('falls back to /etc/debian_version on old releases', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'old-'));
    mkdirSync(path.join(root, 'etc'));
    writeFileSync(path.join(root, 'etc/debian_version'), '7.11\n');
    expect(await detectOs(root)).toMatchObject({ id: 'debian', version: '7' });
  });
});

describe('the Debian personality', () => {
  it('writes hostname, /etc/hosts and a fresh machine-id', async () => {
    const root = debianTree();
    const r = await applyPersonality(root, { hostname: 'web-1.example.net' });
    expect(readFileSync(path.join(root, 'etc/hostname'), 'utf8')).toBe('web-1.example.net\n');
    const hosts = readFileSync(path.join(root, 'etc/hosts'), 'utf8');
    expect(hosts).toMatch(/^127\.0\.1\.1\tweb-1\.example\.net web-1$/m);
    expect(hosts).not.toContain('template-host');
    expect(hosts).toMatch(/^127\.0\.0\.1\tlocalhost$/m);
    expect(readFileSync(path.join(root, 'etc/machine-id'), 'utf8')).toMatch(/^[0-9a-f]{32}\n$/);
    expect(r.machineId).toMatch(/^[0-9a-f]{32}$/);
    // dbus's link to /etc/machine-id stays a link
    expect(lstatSync(path.join(root, 'var/lib/dbus/machine-id')).isSymbolicLink()).toBe(true);
  });

  it('gives each container its own machine-id', async () => {
    const a = await applyPersonality(debianTree(), { hostname: 'a' });
    const b = await applyPersonality(debianTree(), { hostname: 'b' });
    expect(a.machineId).not.toBe(b.machineId);
  });

  it('never writes through a symlink planted in the tree', async () => {
    const root = debianTree();
    const outside = mkdtempSync(path.join(tmpdir(), 'outside-'));
    writeFileSync(path.join(outside, 'victim'), 'keep');
    symlinkSync(path.join(outside, 'victim'), path.join(root, 'etc/hostname'));
    await applyPersonality(root, { hostname: 'evil' });
    expect(readFileSync(path.join(outside, 'victim'), 'utf8')).toBe('keep');
    expect(lstatSync(path.join(root, 'etc/hostname')).isFile()).toBe(true);
  });

  it('refuses a tree whose /etc is a link out of it', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'evil-'));
    const outside = mkdtempSync(path.join(tmpdir(), 'outside-'));
    symlinkSync(outside, path.join(root, 'etc'));
    await expect(applyPersonality(root, { hostname: 'x' })).rejects.toThrow(/symlink/);
    expect(existsSync(path.join(outside, 'hostname'))).toBe(false);
  });
});

describe('a hostile tree (clone and import run the personality on tenant trees)', () => {
  it('a FIFO or a device in place of a file read neither hangs nor feeds forever', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'fifo-'));
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    execFileSync('mkfifo', [path.join(root, 'etc', 'os-release'), path.join(root, 'etc', 'hosts')]);
    symlinkSync('/dev/zero', path.join(root, 'etc', 'debian_version'));
    const os = await detectOs(root); // must return, not block on the FIFO
    expect(os.id).toBe('unknown');
    await applyPersonality(root, { hostname: 'h1' });
    expect(lstatSync(path.join(root, 'etc', 'hosts')).isFile()).toBe(true);
    expect(readFileSync(path.join(root, 'etc', 'hosts'), 'utf8')).toMatch(/127\.0\.1\.1\th1/);
  });
});
