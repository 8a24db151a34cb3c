import { constants as C, openSync, closeSync, fstatSync, mkdirSync, readFileSync, ftruncateSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { ExitCode, VpsError } from '../base/errors.js';

/**
 * A per-container lock: flock(2) on `<run>/.locks/<id>.lock`, so the kernel releases it when
 * the holder dies, however it dies (SECURITY.md R10). Node has no flock(), so `flock(1)` takes
 * the lock on the open file description we pass it as fd 3; the lock belongs to that
 * description, which only this process keeps open (libuv opens with O_CLOEXEC, so children
 * such as a container's monitor do not inherit it).
 */
export class Lock {
  private constructor(
    private fd: number | undefined,
    readonly file: string,
  ) {}

  static async acquire(file: string, what: string, subject: string, waitMs = 0, attempt = 0): Promise<Lock> {
    mkdirSync(file.slice(0, file.lastIndexOf('/')), { recursive: true, mode: 0o700 });
    const fd = openSync(file, C.O_RDWR | C.O_CREAT | C.O_NOFOLLOW, 0o600);
    let r;
    try {
      r = await flock(fd, waitMs);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    if (r.exitCode === 75) {
      let holder = '';
      try {
        holder = readFileSync(file, 'utf8').trim();
      } catch {
        /* unreadable: say less */
      }
      closeSync(fd);
      throw new VpsError(ExitCode.LOCKED, `${subject} is locked by another operation${holder ? ` (${holder})` : ''}`, {
        hint: 'wait for it to finish and retry',
      });
    }
    if (r.exitCode !== 0) {
      closeSync(fd);
      throw new VpsError(ExitCode.HOST_NOT_READY, `could not lock ${file}: ${String(r.stderr || r.message).trim()}`, {
        hint: 'flock(1) comes with util-linux: apt-get install util-linux',
      });
    }
    if (!isPathOf(fd, file)) {
      // the file was removed (destroy, host check --fix) between our open and our flock: the
      // lock we hold is on a file nobody else will open; lock the one the path names now
      closeSync(fd);
      if (attempt >= 5) throw new VpsError(ExitCode.LOCKED, `${subject}'s lock file keeps being replaced`, { hint: 'retry' });
      return Lock.acquire(file, what, subject, waitMs, attempt + 1);
    }
    try {
      ftruncateSync(fd, 0);
      writeSync(fd, `${what} by pid ${process.pid}\n`, 0);
    } catch {
      /* the note is informative only */
    }
    return new Lock(fd, file);
  }

  release(): void {
    if (this.fd !== undefined) {
      try {
        ftruncateSync(this.fd, 0);
      } catch {
        /* ignore */
      }
      closeSync(this.fd); // closing the last reference to the description drops the flock
      this.fd = undefined;
    }
  }
}

/** Whether `file` still names the file open on `fd`. */
function isPathOf(fd: number, file: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(file);
    return a.ino === b.ino && a.dev === b.dev;
  } catch {
    return false;
  }
}

/**
 * Removes a lock file nobody holds, holding it while it goes (Lock.acquire then locks the
 * file the path names, never the removed one). False when someone holds it.
 */
export async function removeLockFile(file: string): Promise<boolean> {
  let lock: Lock;
  try {
    lock = await Lock.acquire(file, 'removal', file);
  } catch (e) {
    if (e instanceof VpsError && e.exitCode === ExitCode.LOCKED) return false;
    throw e;
  }
  try {
    unlinkSync(file);
  } finally {
    lock.release();
  }
  return true;
}

/** flock(1) on our fd 3 (execa cannot hand a child a raw fd beyond 0-2, node's spawn can). */
function flock(fd: number, waitMs: number): Promise<{ exitCode: number; stderr: string; message?: string }> {
  return new Promise((resolve) => {
    const how = waitMs > 0 ? ['--timeout', (waitMs / 1000).toFixed(3)] : ['--nonblock'];
    const child = spawn('flock', [...how, '--conflict-exit-code', '75', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => resolve({ exitCode: 127, stderr: '', message: e.message }));
    child.on('close', (code) => resolve({ exitCode: code ?? 1, stderr }));
  });
}

/** Runs fn holding the lock; `waitMs` > 0 waits that long for it (short host-wide sections), else exit 4 at once. */
/** `subject` names what is locked in the error (`container 101`, `the pool`). */
export async function withLock<T>(file: string, what: string, subject: string, fn: () => Promise<T>, waitMs = 0): Promise<T> {
  const lock = await Lock.acquire(file, what, subject, waitMs);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
