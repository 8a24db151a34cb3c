/**
 * The per-container lock (src/sys/lock.ts) when its file is removed: destroy removes a
 * container's lock file while holding it, `host check --fix` removes those of containers that
 * are gone. A lock taken on the removed file must not count: the taker locks the file the path
 * names now, so two operations never both hold "the" lock.
 */
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ID_RE } from '../../src/base/ids.js';
import { Layout, loadSettings } from '../../src/base/settings.js';
import { Lock, removeLockFile } from '../../src/sys/lock.js';

let dir: string;
beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'vpsctl-lock-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('a lock file removed while a waiter waits on it', () => {
  it('the waiter ends up holding the file the path names, and a third taker is refused', async () => {
    const file = path.join(dir, '101.lock');
    const a = await Lock.acquire(file, 'destroy', 'container 101');
    // b opens the file now and waits in flock on it
    const b = Lock.acquire(file, 'start', 'container 101', 5000);
    await new Promise((r) => setTimeout(r, 300));
    unlinkSync(file); // what destroy does, holding the lock
    a.release();
    const held = await b;
    expect(existsSync(file)).toBe(true);
    await expect(Lock.acquire(file, 'stop', 'container 101')).rejects.toMatchObject({ exitCode: 4 });
    held.release();
    (await Lock.acquire(file, 'stop', 'container 101')).release();
  });
});

describe('removeLockFile', () => {
  it('leaves a held lock alone and removes a free one', async () => {
    const file = path.join(dir, '102.lock');
    const a = await Lock.acquire(file, 'create', 'container 102');
    expect(await removeLockFile(file)).toBe(false);
    expect(existsSync(file)).toBe(true);
    a.release();
    expect(await removeLockFile(file)).toBe(true);
    expect(existsSync(file)).toBe(false);
  });
});

describe('the host-wide locks', () => {
  it('never share a file with a container: their names are no <id>.lock', () => {
    const layout = new Layout(loadSettings({ VPSCTL_ROOT: dir, VPSCTL_RUN_DIR: dir, VPSCTL_CONFIG: path.join(dir, 'none.yaml') }));
    for (const f of [layout.netLockFile(), layout.spaceLockFile(), layout.poolLockFile(), layout.templateLockFile('debian-12')]) {
      const base = path.basename(f);
      expect([base, ID_RE.test(base.replace(/\.lock$/, ''))]).toEqual([base, false]);
    }
    for (const id of ['net', 'pool', 'space']) expect([layout.netLockFile(), layout.spaceLockFile(), layout.poolLockFile()]).not.toContain(layout.lockFile(id));
  });
});
