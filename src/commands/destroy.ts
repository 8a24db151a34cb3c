import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';

export default class Destroy extends VpsCommand<{ id: string; destroyed: true }> {
  static override summary = 'Remove a container: its disk image, configuration and runtime state.';
  static override description = 'Refuses a running container unless --force, which kills it first. Also removes a half-made container left by an interrupted create.';
  static override examples = ['<%= config.bin %> destroy 101', '<%= config.bin %> destroy 101 --force'];
  static override args = { id: idArg };
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'kill a running container first' }),
  };

  async run(): Promise<{ id: string; destroyed: true }> {
    const { args, flags } = await this.parse(Destroy);
    const r = await realHost(this.progress()).destroy(args.id, { force: flags.force });
    if (!this.jsonEnabled()) this.log(`destroyed container ${r.id}`);
    return r;
  }
}
