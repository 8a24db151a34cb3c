import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { realHost } from '../cli/host.js';
import { invalid } from '../base/errors.js';
import { validateId } from '../base/ids.js';

export default class HookRun extends VpsCommand<{ id: string; hook: string }> {
  static override hidden = true;
  static override summary = "Run a container's post-stop hooks (what its monitor runs once it is down).";
  static override args = {
    hook: Args.string({ required: true, description: 'post-stop' }),
    id: Args.string({ required: true, description: 'container id', parse: async (s) => validateId(s) }),
  };
  static override flags = { reason: Flags.string({ required: true, description: "the stop's reason (the stopped event's)" }) };

  async run(): Promise<{ id: string; hook: string }> {
    const { args, flags } = await this.parse(HookRun);
    if (args.hook !== 'post-stop') throw invalid(`hook-run runs post-stop hooks only, not ${JSON.stringify(args.hook)}`);
    if (!/^[a-z]{1,16}$/.test(flags.reason)) throw invalid('--reason must be a word');
    await realHost(this.progress()).runStopHooks(args.id, flags.reason);
    return { id: args.id, hook: args.hook };
  }
}
