import { runPassthrough } from './passthrough.js';

/**
 * Runs a program that makes a terminal of its own (vps-enter --pty) on a new
 * pseudo-terminal that we make (node-pty) and joins it to ours: the admin's terminal goes
 * raw and is relayed, its size goes in and follows resizes, SIGTERM/SIGHUP/SIGINT/SIGQUIT
 * sent to us are passed on. The program never holds the admin's own terminal. Piped input
 * (stdin not a terminal) is handed to the program as it is, with our stdout and stderr: on
 * a terminal of ours it could be read cooked before the program set it raw, and an end of
 * file read that way comes out as NUL bytes, never an end. Returns its exit code (128+N
 * when signal N killed it).
 */
export async function runInPty(file: string, args: string[]): Promise<number> {
  const input = process.stdin;
  if (!input.isTTY) return runPassthrough(file, args, { resize: true });
  const { spawn } = await import('node-pty');
  const output = process.stdout;
  const size = (): { cols: number; rows: number } => ({
    cols: (output.isTTY && output.columns) || 80,
    rows: (output.isTTY && output.rows) || 24,
  });
  const { cols, rows } = size();
  const p = spawn(file, args, {
    name: process.env.TERM || 'xterm',
    cols,
    rows,
    cwd: '/',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, // vps-enter gives the command its own
    encoding: null,
  });

  return new Promise((resolve) => {
    const restore = rawMode(input);
    // output faster than our reader takes it: the program waits meanwhile
    const show = pausingWriter(output, p);
    const onInput = (d: Buffer): void => p.write(d);
    // our reader went away (`vpsctl exec -t 101 -- cmd | head`): end the program, like a hangup
    const onOutputError = (): void => p.kill('SIGHUP');
    const onResize = (): void => {
      const s = size();
      p.resize(s.cols, s.rows);
    };
    const sigs = ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const;
    const onSignal = (sig: NodeJS.Signals): void => p.kill(sig);
    p.onData((d: string | Buffer) => show(d));
    p.onExit(({ exitCode, signal }) => {
      input.off('data', onInput);
      output.off('resize', onResize);
      for (const s of sigs) process.off(s, onSignal);
      output.off('error', onOutputError);
      restore();
      input.pause();
      resolve(signal ? 128 + signal : exitCode);
    });
    for (const s of sigs) process.on(s, onSignal);
    output.on('resize', onResize);
    output.on('error', onOutputError);
    input.on('data', onInput);
    input.resume();
  });
}

/** Puts a terminal input into raw mode; returns the undo, which also runs at process exit. */
export function rawMode(input: NodeJS.ReadStream): () => void {
  if (!input.isTTY) return () => undefined;
  input.setRawMode(true);
  const restore = (): void => {
    process.off('exit', restore);
    input.setRawMode(false);
  };
  process.once('exit', restore);
  return restore;
}

/** A write to `output` that pauses `source` while output is full, until it drains. */
export function pausingWriter(output: NodeJS.WritableStream, source: { pause(): unknown; resume(): unknown }): (chunk: Buffer | string) => void {
  let waiting = false;
  return (chunk) => {
    if (output.write(chunk) || waiting) return;
    waiting = true;
    source.pause();
    output.once('drain', () => {
      waiting = false;
      source.resume();
    });
  };
}
