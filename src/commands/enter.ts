import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import { invalid } from '../base/errors.js';

export default class Enter extends VpsCommand<{ id: string; exitCode: number }> {
  static override summary = 'Open a login shell inside a running container.';
  static override description =
    "The shell (root's, or the user's from the container's /etc/passwd) runs on a new terminal inside the container, joined to yours: its size follows your terminal's, Ctrl-C reaches the program inside, and the shell's exit status becomes vpsctl's. The container never holds your own terminal. Works without a network or sshd in the container. Needs a terminal on stdin: to run commands from a pipe, use vpsctl exec ID -- sh -s.";
  static override examples = ['<%= config.bin %> enter 101', '<%= config.bin %> enter 101 --user alice'];
  static override args = { id: idArg };
  static override flags = {
    user: Flags.string({ char: 'u', description: "log in as this user of the container's /etc/passwd (name or uid; default root)", helpValue: 'NAME' }),
  };

  async run(): Promise<{ id: string; exitCode: number }> {
    const { args, flags } = await this.parse(Enter);
    if (this.jsonEnabled()) throw invalid('an interactive shell has no JSON form', `run a command instead: vpsctl exec ${args.id} --json -- COMMAND`);
    const exitCode = await realHost(this.progress()).enter(args.id, { user: flags.user, terminal: !!process.stdin.isTTY });
    if (exitCode !== 0) this.exit(exitCode);
    return { id: args.id, exitCode };
  }
}
