import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { ExecResult } from '../core/host.js';

export default class Exec extends VpsCommand<ExecResult> {
  static override summary = 'Run a command inside a running container.';
  static override description =
    "stdin, stdout and stderr pass straight through, and the command's exit code becomes vpsctl's (128+N when a signal N killed it). With --json the output is captured and returned instead.";
  static override examples = ['<%= config.bin %> exec 101 -- systemctl is-system-running', "<%= config.bin %> exec 101 -- sh -c 'df -h /'"];
  static override strict = false;
  static override args = { id: idArg };
  static override flags = {
    cwd: Flags.string({ description: 'working directory inside the container', default: '/', helpValue: 'DIR' }),
    env: Flags.string({ char: 'e', description: 'set an environment variable (repeatable)', multiple: true, helpValue: 'KEY=VALUE' }),
  };

  async run(): Promise<ExecResult> {
    const { args, flags, argv } = await this.parse(Exec);
    const cmd = (argv as string[]).slice(1);
    for (const e of flags.env ?? []) if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) this.error(`--env ${e}: expected KEY=VALUE`, { exit: 2 });
    const r = await realHost(this.progress()).exec(args.id, cmd, { cwd: flags.cwd, env: flags.env, capture: this.jsonEnabled() });
    if (this.jsonEnabled()) {
      process.exitCode = r.exitCode;
      return r;
    }
    if (r.exitCode !== 0) this.exit(r.exitCode);
    return r;
  }
}
