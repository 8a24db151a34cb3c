/**
 * Runs a program on a new pseudo-terminal that we make (node-pty) and joins it to ours:
 * the admin's terminal goes raw and is relayed, its size goes in and follows resizes,
 * SIGTERM/SIGHUP/SIGINT/SIGQUIT sent to us are passed on. The program never holds the
 * admin's own terminal. Returns its exit code (128+N when signal N killed it).
 */
export async function runInPty(file: string, args: string[], opts: { env?: Record<string, string>; interactive?: boolean } = {}): Promise<number> {
  const { spawn } = await import('node-pty');
  const input = process.stdin;
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
    env: opts.env ?? { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    encoding: null,
  });
  const raw = opts.interactive !== false && input.isTTY === true;

  return new Promise((resolve) => {
    let waiting = false; // for our output to drain: the pty is paused meanwhile
    const restore = (): void => {
      if (raw) input.setRawMode(false);
    };
    const onInput = (d: Buffer): void => p.write(d);
    // our reader went away (`vpsctl exec -t 101 -- cmd | head`): end the program, like a hangup
    const onOutputError = (): void => p.kill('SIGHUP');
    const onResize = (): void => {
      const s = size();
      p.resize(s.cols, s.rows);
    };
    const sigs = ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const;
    const onSignal = (sig: NodeJS.Signals): void => p.kill(sig);
    p.onData((d: string | Buffer) => {
      if (!output.write(d) && !waiting) {
        waiting = true;
        p.pause();
        output.once('drain', () => {
          waiting = false;
          p.resume();
        });
      }
    });
    p.onExit(({ exitCode, signal }) => {
      input.off('data', onInput);
      output.off('resize', onResize);
      for (const s of sigs) process.off(s, onSignal);
      output.off('error', onOutputError);
      process.off('exit', restore);
      restore();
      input.pause();
      resolve(signal ? 128 + signal : exitCode);
    });
    for (const s of sigs) process.on(s, onSignal);
    output.on('resize', onResize);
    output.on('error', onOutputError);
    process.once('exit', restore);
    if (opts.interactive !== false) {
      if (raw) input.setRawMode(true);
      input.on('data', onInput);
      // piped input: its end is end of file for the program on the terminal: one Ctrl-D
      // hands over a last unfinished line, a second one on the empty line is the end
      if (!input.isTTY) input.once('end', () => p.write(Buffer.from([4, 4])));
      input.resume();
    }
  });
}
