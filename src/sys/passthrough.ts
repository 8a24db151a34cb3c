import { spawn } from 'node:child_process';

/**
 * Runs a program with our stdout and stderr (and stdin, or /dev/null with `stdin: false`)
 * and returns its exit code (128+signal when killed). Kept free of execa so that `vpsctl
 * exec` starts fast. The program gets a session of its own, so the terminal's signals
 * (Ctrl-C, Ctrl-\) reach only us, and we pass SIGINT, SIGQUIT, SIGTERM and SIGHUP on, once
 * each, whoever sent them (vps-enter hands them to the command).
 */
export function runPassthrough(file: string, args: string[], opts: { stdin?: boolean; resize?: boolean } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [opts.stdin === false ? 'ignore' : 'inherit', 'inherit', 'inherit'], detached: true });
    const handler = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    // `resize`: our terminal's resizes too (the program, in a session of its own, gets none)
    const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP', ...(opts.resize ? ['SIGWINCH' as const] : [])];
    for (const s of sigs) process.on(s, handler);
    const done = (): void => {
      for (const s of sigs) process.off(s, handler);
    };
    child.on('error', (e) => {
      done();
      reject(e);
    });
    child.on('close', (code, signal) => {
      done();
      resolve(code ?? (signal ? 128 + (SIGNUMS[signal] ?? 0) : 1));
    });
  });
}

const SIGNUMS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13, SIGSEGV: 11, SIGABRT: 6 };

/**
 * Runs a program with `input` on its stdin and each chunk of its stdout and stderr handed to
 * `onOutput` as it comes (the daemon's exec streams them). Returns its exit code (128+signal
 * when killed). `signal` aborting kills it (the client went away).
 */
export function runStreaming(file: string, args: string[], opts: { input?: Buffer; onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void; signal?: AbortSignal }): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const abort = (): void => {
      child.kill('SIGTERM');
    };
    opts.signal?.addEventListener('abort', abort, { once: true });
    child.stdout.on('data', (b: Buffer) => opts.onOutput('stdout', b));
    child.stderr.on('data', (b: Buffer) => opts.onOutput('stderr', b));
    child.stdin.on('error', () => undefined); // the command did not read it all: EPIPE is its choice
    child.stdin.end(opts.input ?? Buffer.alloc(0));
    child.on('error', (e) => {
      opts.signal?.removeEventListener('abort', abort);
      reject(e);
    });
    child.on('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', abort);
      resolve(code ?? (signal ? 128 + (SIGNUMS[signal] ?? 0) : 1));
    });
  });
}
