import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';

/**
 * Why a hook program may not run as root, or undefined when it may: it must be a regular,
 * executable file owned by root and writable by nobody else, in directories that are root's
 * and that nobody else can change (or sticky, as /var/tmp), all the way up from its real path.
 */
export async function hookRefusal(file: string): Promise<string | undefined> {
  let real: string;
  try {
    real = await fsp.realpath(file);
  } catch (e) {
    return `${file} does not exist (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  const st = await fsp.stat(real);
  if (!st.isFile()) return `${real} is not a regular file`;
  if (st.uid !== 0) return `${real} is not owned by root (uid ${st.uid})`;
  if (st.mode & 0o022) return `${real} is writable by ${st.mode & 0o002 ? 'others' : 'its group'} (mode ${(st.mode & 0o7777).toString(8)})`;
  if (!(st.mode & 0o100)) return `${real} is not executable`;
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    const d = await fsp.stat(dir);
    if (d.uid !== 0) return `its directory ${dir} is not owned by root`;
    // sticky (as /var/tmp): nobody but root may move a root-owned file out of it
    if (d.mode & 0o022 && !(d.mode & 0o1000)) return `its directory ${dir} is writable by others (mode ${(d.mode & 0o7777).toString(8)})`;
    if (dir === '/') return undefined;
  }
}

/** The programs of a host-wide hook directory (`<hooks_dir>/<event>/`), in name order; none if it is missing. */
export async function hookDirPrograms(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  // as run-parts: dot files, editor backups and package leftovers are not hooks
  return names.filter((n) => /^[A-Za-z0-9_.-]+$/.test(n) && !n.startsWith('.') && !/(~|\.dpkg-\w+|\.bak|\.swp)$/.test(n)).sort().map((n) => path.join(dir, n));
}

export interface HookRun {
  ok: boolean;
  /** What went wrong, with the last lines the program wrote. */
  why: string;
}

const OUTPUT_KEPT = 4096; // bytes of a hook's output kept for its message

/**
 * Runs one hook with its environment (on top of ours), stdin /dev/null, in a process group of
 * its own: after `timeoutMs` the whole group is killed (SIGTERM, SIGKILL 2 s later), so a
 * background child that holds its output open cannot hold the operation.
 */
export function runHook(file: string, env: Record<string, string>, timeoutMs: number): Promise<HookRun> {
  return new Promise((resolve) => {
    let out = '';
    let timedOut = false;
    const child = spawn(file, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const keep = (b: Buffer): void => {
      out = (out + b.toString()).slice(-OUTPUT_KEPT);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const killGroup = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid) process.kill(-child.pid, sig);
      } catch {
        /* gone */
      }
    };
    let hard: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      hard = setTimeout(() => killGroup('SIGKILL'), 2000);
    }, timeoutMs);
    let settled = false;
    const done = (code: number | null, signal: NodeJS.Signals | null, err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (timedOut) killGroup('SIGKILL'); // what it left behind goes with it
      if (hard) clearTimeout(hard);
      if (code === 0 && !err) return resolve({ ok: true, why: '' });
      const said = out.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
      const how = err ? err.message : timedOut ? `timed out after ${Math.round(timeoutMs / 1000)}s` : signal ? `killed by ${signal}` : `exit ${code}`;
      resolve({ ok: false, why: `${how}${said ? `: ${said}` : ''}` });
    };
    child.on('error', (e) => done(null, null, e));
    // 'close': its output is read to the end; a background child it left holding the output
    // does not hold us past half a second after its exit
    child.on('close', (code, signal) => done(code, signal));
    child.on('exit', (code, signal) =>
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        done(code, signal);
      }, 500).unref(),
    );
  });
}
