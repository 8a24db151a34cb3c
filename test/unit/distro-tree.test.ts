import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { HostTree, StagedTree } from '../../src/distro/tree.js';

/** A tree in `<tmp>/root` and a host file beside it that no tree operation may touch. */
function setup(): { root: string; victim: string; tree: HostTree } {
  const parent = mkdtempSync(path.join(tmpdir(), 'tree-'));
  const root = path.join(parent, 'root');
  mkdirSync(path.join(root, 'etc'), { recursive: true });
  const victim = path.join(parent, 'victim');
  writeFileSync(victim, 'host\n');
  return { root, victim, tree: new HostTree(root) };
}

const asRoot = process.geteuid?.() === 0;

describe('HostTree', () => {
  it('write replaces a symlink in the final place, never writes through it', async () => {
    const { root, victim, tree } = setup();
    symlinkSync(victim, path.join(root, 'etc/hostname'));
    await tree.write('/etc/hostname', 'ct\n');
    expect(readFileSync(victim, 'utf8')).toBe('host\n');
    expect(lstatSync(path.join(root, 'etc/hostname')).isFile()).toBe(true);
    expect(readFileSync(path.join(root, 'etc/hostname'), 'utf8')).toBe('ct\n');
  });

  it('write keeps an existing file owner and mode unless a mode is given; new files 0644', async () => {
    const { root, tree } = setup();
    writeFileSync(path.join(root, 'etc/shadow'), 'x');
    chmodSync(path.join(root, 'etc/shadow'), 0o640);
    if (asRoot) chownSync(path.join(root, 'etc/shadow'), 0, 42);
    await tree.write('etc/shadow', 'y');
    const st = statSync(path.join(root, 'etc/shadow'));
    expect(st.mode & 0o7777).toBe(0o640);
    if (asRoot) expect(st.gid).toBe(42);
    await tree.write('etc/shadow', 'z', 0o600);
    expect(statSync(path.join(root, 'etc/shadow')).mode & 0o7777).toBe(0o600);
    await tree.write('etc/new', 'n');
    expect(statSync(path.join(root, 'etc/new')).mode & 0o7777).toBe(0o644);
  });

  it('write leaves no temp file behind and refuses a directory or a symlinked parent', async () => {
    const { root, victim, tree } = setup();
    await tree.write('etc/a', 'a');
    expect(execFileSync('ls', ['-A', path.join(root, 'etc')], { encoding: 'utf8' }).trim()).toBe('a');
    mkdirSync(path.join(root, 'etc/dir'));
    await expect(tree.write('etc/dir', 'x')).rejects.toThrow(/directory/);
    symlinkSync(path.dirname(victim), path.join(root, 'etc/out'));
    await expect(tree.write('etc/out/victim', 'x')).rejects.toMatchObject({ exitCode: 1, message: expect.stringMatching(/symlink/) });
    await expect(tree.write('etc/../../victim', 'x')).rejects.toThrow(/leaves the container tree/);
    expect(readFileSync(victim, 'utf8')).toBe('host\n');
  });

  it('read refuses a symlink, a FIFO and a device; a missing file is undefined', async () => {
    const { root, victim, tree } = setup();
    symlinkSync(victim, path.join(root, 'etc/link'));
    execFileSync('mkfifo', [path.join(root, 'etc/fifo')]);
    await expect(tree.read('etc/link')).rejects.toThrow(/symlink/);
    await expect(tree.read('etc/fifo')).rejects.toThrow(/not a regular file/);
    if (asRoot) {
      execFileSync('mknod', [path.join(root, 'etc/zero'), 'c', '1', '5']);
      await expect(tree.read('etc/zero')).rejects.toThrow(/not a regular file/);
    }
    expect(await tree.read('etc/missing')).toBeUndefined();
    expect(await tree.read('nodir/missing')).toBeUndefined();
  });

  it('exists sees a symlink itself, but not what lies only behind one', async () => {
    const { root, victim, tree } = setup();
    symlinkSync(path.dirname(victim), path.join(root, 'out'));
    expect(await tree.exists('out')).toBe(true);
    expect(await tree.exists('out/victim')).toBe(false);
    expect(await tree.exists('etc')).toBe(true);
    expect(await tree.exists('etc/none')).toBe(false);
  });

  it('mkdir makes parents, keeps an existing directory, refuses a symlink on the way', async () => {
    const { root, victim, tree } = setup();
    await tree.mkdir('home/alice/.ssh', 0o700);
    expect(statSync(path.join(root, 'home/alice/.ssh')).mode & 0o7777).toBe(0o700);
    expect(statSync(path.join(root, 'home/alice')).mode & 0o7777).toBe(0o755);
    await tree.mkdir('home/alice/.ssh', 0o755);
    expect(statSync(path.join(root, 'home/alice/.ssh')).mode & 0o7777).toBe(0o700);
    symlinkSync(path.dirname(victim), path.join(root, 'home/bob'));
    await expect(tree.mkdir('home/bob/.ssh')).rejects.toThrow(/symlink \/home\/bob/);
    expect(existsSync(path.join(path.dirname(victim), '.ssh'))).toBe(false);
  });

  it('symlink makes or replaces a link, atomically and idempotently; readlink, remove of the link only', async () => {
    const { root, victim, tree } = setup();
    await tree.symlink('etc/u', '/dev/null');
    expect(readlinkSync(path.join(root, 'etc/u'))).toBe('/dev/null');
    await tree.symlink('etc/u', '/dev/null');
    symlinkSync(victim, path.join(root, 'etc/v'));
    await tree.symlink('etc/v', '/dev/null');
    expect(readlinkSync(path.join(root, 'etc/v'))).toBe('/dev/null');
    expect(await tree.readlink('etc/v')).toBe('/dev/null');
    expect(await tree.readlink('etc')).toBeUndefined();
    expect(await tree.readlink('etc/none')).toBeUndefined();
    symlinkSync(victim, path.join(root, 'etc/w'));
    await tree.remove('etc/w');
    expect(existsSync(victim)).toBe(true);
    await tree.remove('etc/none');
    await expect(tree.remove('etc')).rejects.toThrow(/directory/);
  });

  it('list names a directory, empty when missing, refuses a symlinked one', async () => {
    const { root, victim, tree } = setup();
    writeFileSync(path.join(root, 'etc/b'), '');
    writeFileSync(path.join(root, 'etc/a'), '');
    expect(await tree.list('etc')).toEqual(['a', 'b']);
    expect(await tree.list('none')).toEqual([]);
    symlinkSync(path.dirname(victim), path.join(root, 'out'));
    await expect(tree.list('out')).rejects.toThrow(/symlink/);
  });

  (asRoot ? it : it.skip)('chown changes a link, never its target (as root)', async () => {
    const { root, victim, tree } = setup();
    symlinkSync(victim, path.join(root, 'etc/link'));
    await tree.chown('etc/link', 1234, 1234);
    expect(lstatSync(path.join(root, 'etc/link')).uid).toBe(1234);
    expect(statSync(victim).uid).toBe(0);
  });
});

describe('StagedTree', () => {
  it('holds changes until commit, reads its own, and commits in order', async () => {
    const { root, tree } = setup();
    const st = new StagedTree(tree);
    await st.mkdir('etc/x/y', 0o700);
    await st.write('etc/x/y/f', 'one');
    await st.symlink('etc/x/l', '/dev/null');
    expect(await st.read('etc/x/y/f')).toBe('one');
    expect(await st.exists('etc/x/y')).toBe(true);
    expect(await st.readlink('etc/x/l')).toBe('/dev/null');
    expect(await st.list('etc/x')).toEqual(['l', 'y']);
    expect(existsSync(path.join(root, 'etc/x'))).toBe(false);
    await st.commit();
    expect(readFileSync(path.join(root, 'etc/x/y/f'), 'utf8')).toBe('one');
    expect(statSync(path.join(root, 'etc/x/y')).mode & 0o7777).toBe(0o700);
    expect(readlinkSync(path.join(root, 'etc/x/l'))).toBe('/dev/null');
  });

  it('refuses at stage time a symlink on the way and a write into a missing directory', async () => {
    const { root, victim, tree } = setup();
    symlinkSync(path.dirname(victim), path.join(root, 'etc/out'));
    const st = new StagedTree(tree);
    await expect(st.write('etc/out/victim', 'x')).rejects.toThrow(/symlink \/etc\/out/);
    await expect(st.mkdir('etc/out/d')).rejects.toThrow(/symlink/);
    await expect(st.write('etc/none/f', 'x')).rejects.toThrow(/does not exist/);
    await st.symlink('etc/staged-link', '/');
    await expect(st.write('etc/staged-link/f', 'x')).rejects.toThrow(/symlink/);
    expect(st.ops.map((o) => o.op)).toEqual(['symlink']);
  });

  it('a removed file reads as missing and drops out of the listing', async () => {
    const { root, tree } = setup();
    writeFileSync(path.join(root, 'etc/k'), 'k');
    const st = new StagedTree(tree);
    await st.remove('etc/k');
    expect(await st.exists('etc/k')).toBe(false);
    expect(await st.read('etc/k')).toBeUndefined();
    expect(await st.list('etc')).toEqual([]);
    expect(existsSync(path.join(root, 'etc/k'))).toBe(true);
    await st.commit();
    expect(existsSync(path.join(root, 'etc/k'))).toBe(false);
  });
});
