import { promises as fsp } from 'node:fs';
import type { ContainerConfig } from '../base/config.js';
import { invalid, wrongState } from '../base/errors.js';
import { validateUser } from '../base/ids.js';
import type { Layout } from '../base/settings.js';
import type { RuntimeState } from '../base/types.js';
import { enterCgroupDirs, type CgroupLayout } from '../limits/cgroups.js';
import { attachConsole, escapeName, parseEscape, type ConsoleEnd } from '../runtime/console.js';
import { enterArgv, type EnterOptions } from '../runtime/enter.js';
import type { Runner } from '../sys/exec.js';
import { exists } from '../sys/fs.js';
import { runPassthrough, runStreaming } from '../sys/passthrough.js';
import { runInPty } from '../sys/terminal.js';
import type { ExecOptions, ExecResult } from './host-types.js';

/** What Access needs of the Host. */
export interface AccessDeps {
  config(id: string): Promise<ContainerConfig>;
  state(id: string): Promise<RuntimeState | undefined>;
  sys: Runner;
  layout: Layout;
  cgroups(): CgroupLayout;
  cgroupParent: string;
}

/** Getting into a running container: exec, enter, its console and console log. */
export class Access {
  constructor(private readonly d: AccessDeps) {}

  async running(id: string): Promise<RuntimeState> {
    await this.d.config(id);
    const state = await this.d.state(id);
    if (!state) throw wrongState(`container ${id} is not running`, `start it with: vpsctl start ${id}`);
    return state;
  }

  /**
   * Runs a command inside a running container (helpers/vps-enter): with the caller's stdin,
   * stdout and stderr, or with its output captured. The exit code is the command's own.
   */
  async exec(id: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    if (cmd.length === 0) throw invalid('no command given', `usage: vpsctl exec ${id} -- COMMAND [ARGS...]`);
    if (opts.tty && opts.capture) throw invalid('--tty and --json do not go together: a terminal cannot be captured', 'drop one of them');
    const { file, args } = await this.enterCommand(id, cmd, { ...opts, pty: opts.tty, env: opts.tty ? withTerm(opts.env) : opts.env });
    if (opts.tty) return { id, exitCode: await runInPty(file, args) };
    if (!opts.capture) return { id, exitCode: await runPassthrough(file, args, { stdin: opts.stdin }) };
    const r = await this.d.sys.run(file, args, { reject: false, ...(opts.input !== undefined ? { input: opts.input } : { stdio: ['ignore', 'pipe', 'pipe'] }) });
    return { id, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  }

  /**
   * A command inside with `input` on its stdin and its output handed over as it comes (the
   * daemon's exec): binary safe, stdout and stderr apart. Returns its exit code.
   */
  async execStream(id: string, cmd: string[], opts: Pick<ExecOptions, 'cwd' | 'env' | 'user'>, io: { input?: Buffer; onOutput: (stream: 'stdout' | 'stderr', chunk: Buffer) => void; signal?: AbortSignal }): Promise<number> {
    if (cmd.length === 0) throw invalid('no command given');
    const { file, args } = await this.enterCommand(id, cmd, opts);
    return runStreaming(file, args, io);
  }

  /**
   * An interactive login shell inside a running container (`vpsctl enter`): root's, or
   * that of `user`, on a new terminal. Returns the shell's exit code.
   */
  async enter(id: string, opts: { user?: string; terminal?: boolean } = {}): Promise<number> {
    const { file, args } = await this.enterCommand(id, [], { user: opts.user, pty: true, env: withTerm([]) });
    // a login shell reads its terminal raw: input piped in ahead of it is read cooked first,
    // and its end of file can arrive as a NUL byte, so the shell would wait for ever
    if (opts.terminal === false) throw invalid('enter needs a terminal: it opens an interactive login shell', `to run commands from a pipe or a script: vpsctl exec ${id} -- sh -s (over ssh: ssh -t)`);
    return runInPty(file, args);
  }

  /** helpers/vps-enter's argv for a running container: its init, its cgroups. */
  private async enterCommand(id: string, cmd: string[], opts: EnterOptions): Promise<{ file: string; args: string[] }> {
    if (opts.user !== undefined) validateUser(opts.user);
    const st = await this.running(id);
    return enterArgv(st, enterCgroupDirs(this.d.cgroups(), this.d.cgroupParent, id), cmd, opts);
  }

  /**
   * Attaches the caller's terminal to a running container's console until the user
   * detaches (the escape key, `^]` by default, then q) or the container stops.
   */
  async console(id: string, opts: { escape?: string; readOnly?: boolean; notice: (line: string) => void }): Promise<ConsoleEnd> {
    const escape = parseEscape(opts.escape ?? '^]');
    const sock = await this.consoleSocket(id);
    opts.notice(`console of ${id}: detach with ${escapeName(escape)} then q; press Enter for a login prompt`);
    return attachConsole(sock, { escape, readOnly: opts.readOnly }, { input: process.stdin, output: process.stdout, notice: opts.notice });
  }

  /** The console socket of a running container (the monitor serves it). */
  private async consoleSocket(id: string): Promise<string> {
    await this.d.config(id);
    const state = await this.d.state(id);
    if (!state) throw wrongState(`container ${id} is not running: it has no console to attach to`, `start it with: vpsctl start ${id}, or read its last console output with: vpsctl console ${id} --log`);
    const sock = this.d.layout.consoleSocket(id);
    if (!(await exists(sock))) throw wrongState(`container ${id} has no console socket (it was started by an older vpsctl)`, `restart it: vpsctl restart ${id}`);
    return sock;
  }

  /** What the container wrote to its console, oldest first (kept after it stops). */
  async consoleLog(id: string): Promise<{ id: string; log: Buffer }> {
    await this.d.config(id);
    const parts = await Promise.all(this.d.layout.consoleLogs(id).map((f) => fsp.readFile(f).catch(() => Buffer.alloc(0))));
    return { id, log: Buffer.concat(parts) };
  }
}

/** The admin's TERM for a terminal inside, unless --env sets one. */
function withTerm(env: string[] = []): string[] {
  const term = process.env.TERM;
  return term && /^[A-Za-z0-9._+-]{1,64}$/.test(term) && !env.some((e) => e.startsWith('TERM=')) ? [...env, `TERM=${term}`] : env;
}
