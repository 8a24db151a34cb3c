import { spawn } from 'node:child_process';

/**
 * Runs a program with our stdout and stderr (and stdin, or /dev/null with `stdin: false`)
 * and returns its exit code (128+signal when killed). Kept free of execa so that `vpsctl
 * exec` starts fast; terminal signals reach the child's process group directly, so we
 * only keep Node from dying of them.
 */
export function runPassthrough(file: string, args: string[], opts: { stdin?: boolean } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: [opts.stdin === false ? 'ignore' : 'inherit', 'inherit', 'inherit'] });
    // SIGINT/SIGQUIT from a terminal reach the child's process group by themselves (vps-enter
    // passes them to the command); SIGTERM/SIGHUP sent to us alone are passed on
    const handler = (sig: NodeJS.Signals): void => {
      if (sig === 'SIGTERM' || sig === 'SIGHUP') child.kill(sig);
    };
    const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'];
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
