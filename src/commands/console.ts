import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import { invalid } from '../base/errors.js';

export default class Console extends VpsCommand<{ id: string; log?: string; detached?: boolean }> {
  static override summary = "Attach to a container's console, or print what it wrote there.";
  static override description = [
    "Attaches your terminal to the container's /dev/console, which its monitor holds: the boot messages and a login prompt (the templates run a getty there), whether or not the container has a network. Press Enter for a fresh prompt. Detach with Ctrl-] then q (see --escape); the container keeps running. Ctrl-] twice sends one Ctrl-].",
    'Several admins may attach at once: the first one types, the others watch, and when the one typing detaches the next one takes over. --read-only only watches.',
    'The console output is also kept in a log (the last 1-2 MiB, across restarts): --log prints it, for a running or a stopped container.',
  ].join('\n\n');
  static override examples = ['<%= config.bin %> console 101', '<%= config.bin %> console 101 --escape ^a', '<%= config.bin %> console 101 --log | tail -50'];
  static override args = { id: idArg };
  static override flags = {
    escape: Flags.string({ description: 'the detach key, followed by q: ^X for Ctrl-X, or one character', default: '^]', helpValue: '^X' }),
    'read-only': Flags.boolean({ description: 'watch without typing' }),
    log: Flags.boolean({ description: 'print the console log and exit' }),
  };

  async run(): Promise<{ id: string; log?: string; detached?: boolean }> {
    const { args, flags } = await this.parse(Console);
    const host = realHost(this.progress());
    if (flags.log) {
      const { log } = await host.consoleLog(args.id);
      if (this.jsonEnabled()) return { id: args.id, log: log.toString('utf8') };
      if (log.length === 0) process.stderr.write(`vpsctl: container ${args.id} has written nothing to its console yet\n`);
      process.stdout.write(log);
      return { id: args.id };
    }
    if (this.jsonEnabled()) throw invalid('an attached console has no JSON form', `print the log instead: vpsctl console ${args.id} --log --json`);
    const notice = (line: string): void => {
      process.stderr.write(`\r\n[vpsctl: ${line}]\r\n`);
    };
    const how = await host.console(args.id, { escape: flags.escape, readOnly: flags['read-only'], notice });
    notice(how === 'detached' ? `detached from ${args.id}; it keeps running` : `the console of ${args.id} closed: the container stopped`);
    return { id: args.id, detached: how === 'detached' };
  }
}
