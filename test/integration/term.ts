/**
 * A real terminal for the tests: runs a program on a pseudo-terminal (node-pty), as an admin
 * at a terminal would, and reads what appears on the screen.
 */
import { spawn, type IPty } from 'node-pty';
import { BIN, type Env } from './harness.js';

export interface TermExit {
  exitCode: number;
  signal?: number;
}

export class Term {
  private raw = '';
  /** Where in the screen the next waitFor starts: after the last match. */
  private mark = 0;
  private readonly pty: IPty;
  readonly exited: Promise<TermExit>;

  /** `vpsctl ARGS` on a terminal of cols x rows. */
  static vpsctl(e: Env, args: string[], size = { cols: 100, rows: 30 }): Term {
    return new Term(BIN, args, { ...e.env, PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' }, size);
  }

  constructor(file: string, args: string[], env: Record<string, string>, size = { cols: 100, rows: 30 }) {
    this.pty = spawn(file, args, { name: env.TERM ?? 'xterm', cols: size.cols, rows: size.rows, cwd: '/', env });
    this.pty.onData((d) => {
      this.raw += d;
    });
    this.exited = new Promise((resolve) => this.pty.onExit((x) => resolve(x)));
  }

  /** Everything shown so far, without colours and cursor movements. */
  get screen(): string {
    return strip(this.raw);
  }

  write(s: string): void {
    this.pty.write(s);
  }

  resize(cols: number, rows: number): void {
    this.pty.resize(cols, rows);
  }

  /** Waits until the output since the last match matches `re`; fails with what was shown. */
  async waitFor(re: RegExp, timeoutMs = 60_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = strip(this.raw).slice(this.mark);
      const m = text.match(re);
      if (m) {
        this.mark += (m.index ?? 0) + m[0].length;
        return m;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${re} on the terminal; it shows:\n${text.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The exit, or a failure with the screen if it does not come. */
  async exit(timeoutMs = 60_000): Promise<TermExit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the program did not exit; the terminal shows:\n${this.screen.slice(-2000)}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    try {
      this.pty.kill('SIGKILL');
    } catch {
      /* gone already */
    }
  }
}

export function strip(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\r/g, '');
}
