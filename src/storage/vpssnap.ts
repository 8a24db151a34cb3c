import { ExitCode, VpsError } from '../base/errors.js';
import type { Runner } from '../sys/exec.js';
import { helperError, helperPath, runHelperJson } from '../sys/helpers.js';

/** How helpers/vps-snap made a copy: a reflink (shared extents, instant) or a sparse copy. */
export type CloneMethod = 'reflink' | 'copy';

export interface CloneResult {
  method: CloneMethod;
  /** Apparent size of the file. */
  size: number;
  /** Bytes of data actually copied (0 for a reflink). */
  copied: number;
  ms: number;
}

export interface FrozenCloneResult extends CloneResult {
  /** How long FIFREEZE took (it flushes the filesystem first). */
  freeze_ms: number;
  /** How long the filesystem stayed frozen: writers inside were blocked this long. */
  frozen_ms: number;
}

export interface FileUsage {
  path: string;
  size: number;
  allocated: number;
  /** Bytes in extents shared with another file (reflink). */
  shared: number;
  /** Bytes only this file holds: what deleting it gives back. */
  exclusive: number;
}

export interface FrozenCloneSpec {
  /** A path to the mounted filesystem (e.g. through /proc/MONITOR/root). */
  mount: string;
  loop: string;
  src: string;
  dst: string;
  /** Written while frozen, removed after the thaw: lets a later vpsctl thaw after a crash. */
  marker: string;
  maxFrozenMs?: number;
}

type ProgressFn = (done: number, total: number) => void;

/** The TypeScript side of helpers/vps-snap: clones, frozen snapshots, thaw, usage, probe. */
export class SnapHelper {
  constructor(private readonly run: Runner) {}

  private async runWithProgress<T>(args: string[], onProgress?: ProgressFn): Promise<T> {
    if (!onProgress) return runHelperJson<T>(this.run, 'vps-snap', args);
    const r = await this.run.run(helperPath('vps-snap'), [...args, '--progress'], {
      reject: false,
      onLine: (line, stream) => {
        const m = stream === 'stderr' ? /^progress (\d+) (\d+)$/.exec(line) : null;
        if (m) onProgress(Number(m[1]), Number(m[2]));
      },
    });
    if (r.exitCode !== 0) throw helperError('vps-snap', r.exitCode, r.stderr.replace(/^progress .*\n/gm, ''));
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
  }

  /** Clones a file that nothing writes to (a stopped container's image, a snapshot, a template). */
  clone(src: string, dst: string, onProgress?: ProgressFn): Promise<CloneResult> {
    return this.runWithProgress<CloneResult>(['clone', '--src', src, '--dst', dst], onProgress);
  }

  /** Freezes the mounted filesystem, clones the file behind its loop device, thaws. */
  frozenClone(s: FrozenCloneSpec, onProgress?: ProgressFn): Promise<FrozenCloneResult> {
    const args = ['snapshot', '--mount', s.mount, '--loop', s.loop, '--src', s.src, '--dst', s.dst, '--marker', s.marker];
    if (s.maxFrozenMs) args.push('--max-frozen-ms', String(Math.round(s.maxFrozenMs)));
    return this.runWithProgress<FrozenCloneResult>(args, onProgress);
  }

  /** Thaws a filesystem a killed snapshot left frozen; true if it was frozen. */
  async thaw(mount: string, loop: string | undefined, marker: string): Promise<boolean> {
    const r = await runHelperJson<{ thawed: boolean }>(this.run, 'vps-snap', ['thaw', '--mount', mount, ...(loop ? ['--loop', loop] : []), '--marker', marker]);
    return r.thawed;
  }

  /** What the files hold together, a block they share counted once (physical extents merged). */
  async union(files: string[]): Promise<number> {
    if (files.length === 0) return 0;
    return (await runHelperJson<{ union: number }>(this.run, 'vps-snap', ['union', ...files])).union;
  }

  async usage(files: string[]): Promise<FileUsage[]> {
    if (files.length === 0) return [];
    const r = await this.run.run(helperPath('vps-snap'), ['usage', ...files], { reject: false });
    if (r.exitCode !== 0) throw helperError('vps-snap', r.exitCode, r.stderr);
    return JSON.parse(r.stdout) as FileUsage[];
  }

  /** Whether files in `dir` can share extents, and the filesystem's type. */
  probe(dir: string): Promise<{ reflink: boolean; fs: string }> {
    return runHelperJson(this.run, 'vps-snap', ['probe', dir]);
  }
}

/** Out of space in the pool, with what to do about it. */
export function poolFull(what: string, cause?: unknown): VpsError {
  return new VpsError(ExitCode.NO_RESOURCES, `out of disk space in the pool: ${what}`, {
    hint: 'free space (vpsctl snapshot prune --all, vpsctl compact ID) or grow the pool; `vpsctl pool info` shows its use',
    cause,
  });
}
