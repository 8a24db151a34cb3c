import { spawn } from 'node:child_process';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { Options as ExecaOptions } from 'execa';
import { ExitCode, VpsError } from '../base/errors.js';
import { mountsUnder } from './proc.js';

/** A failed external program: the command, its exit code or signal, and the tail of stderr. */
export class ExecError extends VpsError {
  readonly command: string[];
  readonly exitStatus?: number;
  readonly signal?: string;
  readonly stderrTail: string;

  constructor(command: string[], exitStatus: number | undefined, signal: string | undefined, stderr: string, cause?: unknown) {
    const tail = tailLines(stderr, 8);
    const how = signal ? `was killed by ${signal}` : exitStatus === undefined ? 'could not run' : `exited ${exitStatus}`;
    super(ExitCode.FAILED, `${command[0]} ${how}${tail ? `: ${tail}` : ''}`, { cause });
    this.name = 'ExecError';
    this.command = command;
    this.exitStatus = exitStatus;
    this.signal = signal;
    this.stderrTail = tail;
  }
}

export function tailLines(text: string, n: number): string {
  const lines = String(text ?? '').trim().split('\n').filter(Boolean);
  return lines.slice(-n).join('\n');
}

export interface RunOptions {
  /** Extra stdio beyond 0-2, or inheritance; defaults to pipes. */
  stdio?: ExecaOptions['stdio'];
  input?: string;
  env?: Record<string, string>;
  /** Do not throw on non-zero exit; the caller inspects `exitCode`. */
  reject?: boolean;
  timeoutMs?: number;
  /** Called with each line of stdout and stderr as it arrives (progress). */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  cwd?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  signal?: string;
}

/** What runs programs. Injected into the Host so unit tests can record argv. */
export interface Runner {
  run(file: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

let execaModule: Promise<typeof import('execa')> | undefined;

/**
 * The one place that runs external programs: array argv, never a shell string. execa is
 * imported on first use: loading it costs about 100 ms here, which commands that run no
 * program (list, status of a running container) need not pay.
 */
export class ExecaRunner implements Runner {
  async run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const { execa } = await (execaModule ??= import('execa'));
    const child = execa(file, [...args], {
      reject: false,
      stdio: opts.stdio,
      input: opts.input,
      env: { LC_ALL: 'C', ...opts.env },
      extendEnv: true,
      timeout: opts.timeoutMs,
      cwd: opts.cwd,
      stripFinalNewline: false,
      lines: false,
      encoding: 'utf8',
      buffer: true,
    } as ExecaOptions);
    if (opts.onLine) {
      const onLine = opts.onLine;
      for (const [stream, name] of [
        [child.stdout, 'stdout'],
        [child.stderr, 'stderr'],
      ] as const) {
        let buf = '';
        stream?.on('data', (chunk: Buffer | string) => {
          buf += chunk.toString();
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            onLine(buf.slice(0, i), name);
            buf = buf.slice(i + 1);
          }
        });
      }
    }
    const r = await child;
    const stdout = typeof r.stdout === 'string' ? r.stdout : '';
    const stderr = typeof r.stderr === 'string' ? r.stderr : '';
    const exitCode = typeof r.exitCode === 'number' ? r.exitCode : -1;
    const signal = r.signal ?? undefined;
    if ((r.failed && opts.reject !== false) || (r.exitCode === undefined && !signal && r.failed)) {
      if ((r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(r.message))) {
        throw new VpsError(ExitCode.HOST_NOT_READY, `${file} is not installed`, {
          hint: 'run `vpsctl host check` to see what to install',
        });
      }
      if (opts.reject !== false) throw new ExecError([file, ...args], r.exitCode, signal, stderr || String(r.message ?? ''), r);
    }
    return { exitCode, stdout, stderr, signal };
  }
}

/** Lazily unmounts everything at or below `dir` (leftovers of a killed build or create); returns what it unmounted. */
export async function unmountUnder(run: Runner, dir: string): Promise<string[]> {
  const mounts = mountsUnder(dir);
  for (const m of mounts) await run.run('umount', ['-l', '--', m], { reject: false });
  return mounts;
}

/** A program used as a stream filter: write to `input`, read `output`. */
export interface Filter {
  input: Writable;
  output: Readable;
  /** Resolves with undefined on success, or why it failed (exit status, signal, stderr tail). */
  done: Promise<string | undefined>;
  kill: () => void;
}

/**
 * Runs `prog args` as a streaming filter (a decompressor: nothing goes through a temporary
 * file, and the caller can cut a stream off as it reads), or as a reader whose output is
 * consumed as it comes (end `input` at once: tar listing an archive). Array argv, never a shell.
 */
export function spawnFilter(prog: string, args: readonly string[]): Filter {
  const child = spawn(prog, [...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString();
  });
  child.stdout.on('error', () => undefined);
  // Node resumes (and so discards) a child's stdout that nobody reads when the child exits:
  // a reader that starts late (tar listing a small archive finishes at once) would see nothing.
  // Piping at once keeps every byte, with backpressure through the PassThrough.
  const output = child.stdout.pipe(new PassThrough());
  output.on('error', () => undefined);
  // a reader that cuts the stream off cuts off the program too (its next write gets EPIPE),
  // and a read error reaches the reader
  output.on('close', () => child.stdout.destroy());
  child.stdout.on('error', (e) => output.destroy(e));
  const done = new Promise<string | undefined>((resolve) => {
    child.on('error', (e) => resolve(`${prog} could not run: ${e.message}`));
    child.on('close', (code, signal) => {
      const why = stderr.trim().split('\n').slice(-2).join('; ');
      resolve(code === 0 ? undefined : `${prog} ${signal ? `was killed by ${signal}` : `exited ${code}`}${why ? `: ${why}` : ''}`);
    });
  });
  return { input: child.stdin, output, done, kill: () => child.kill('SIGKILL') };
}
