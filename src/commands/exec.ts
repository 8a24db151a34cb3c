import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import { invalid } from '../base/errors.js';
import type { ExecResult } from '../core/host.js';

export default class Exec extends VpsCommand<ExecResult> {
  static override summary = 'Run a command inside a running container.';
  static override description = [
    "Without --tty the command gets three pipes of its own, which vpsctl joins to its stdin, stdout and stderr: binary safe, stdout and stderr kept apart. Its exit code becomes vpsctl's (128+N when signal N killed it); SIGINT, SIGTERM, SIGHUP and SIGQUIT are passed on to it (a second SIGTERM or SIGHUP kills it).",
    'stdin reaches the command when it is a pipe or a file; when it is a terminal, only with --interactive (else the command reads end of file).',
    "With --tty the command runs on a new terminal inside the container (so `tty` names it) joined to yours: its size follows your terminal's, Ctrl-C reaches it, stdout and stderr arrive together. The container never holds your own terminal.",
    'With --json the output is captured and returned instead.',
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> exec 101 -- systemctl is-system-running',
    "<%= config.bin %> exec 101 -- sh -c 'df -h /'",
    '<%= config.bin %> exec 101 -- sha256sum < backup.tar',
    '<%= config.bin %> exec -ti 101 -- top',
    '<%= config.bin %> exec --user www-data --cwd /srv 101 -- ls',
  ];
  static override strict = false;
  static override args = { id: idArg };
  static override flags = {
    tty: Flags.boolean({ char: 't', description: 'run the command on a new terminal inside the container, joined to yours' }),
    interactive: Flags.boolean({ char: 'i', description: 'pass stdin on even when it is a terminal' }),
    user: Flags.string({ char: 'u', description: "run as this user of the container's /etc/passwd (name or uid)", helpValue: 'NAME' }),
    cwd: Flags.string({ description: "working directory inside the container (default /, or the user's home with --user)", helpValue: 'DIR' }),
    env: Flags.string({ char: 'e', description: 'set an environment variable (repeatable)', multiple: true, helpValue: 'KEY=VALUE' }),
  };

  async run(): Promise<ExecResult> {
    const { args, flags, argv } = await this.parse(Exec);
    const cmd = (argv as string[]).slice(1);
    for (const e of flags.env ?? []) if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(e)) throw invalid(`--env ${e}: expected KEY=VALUE`);
    const r = await realHost(this.progress()).exec(args.id, cmd, {
      cwd: flags.cwd,
      env: flags.env,
      user: flags.user,
      tty: flags.tty,
      stdin: flags.interactive || !process.stdin.isTTY,
      capture: this.jsonEnabled(),
    });
    if (this.jsonEnabled()) {
      process.exitCode = r.exitCode;
      return r;
    }
    if (r.exitCode !== 0) this.exit(r.exitCode);
    return r;
  }
}
