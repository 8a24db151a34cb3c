import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { durationFlag, idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { StopResult } from '../core/host.js';

export default class Stop extends VpsCommand<StopResult> {
  static override summary = 'Stop a container: a clean shutdown of its init, then a kill after --timeout.';
  static override examples = ['<%= config.bin %> stop 101', '<%= config.bin %> stop 101 --timeout 10s', '<%= config.bin %> stop 101 --force'];
  static override args = { id: idArg };
  static override flags = {
    timeout: durationFlag({ char: 't', description: 'how long to wait for a clean shutdown before killing', default: 30_000, defaultHelp: async () => '30s' }),
    force: Flags.boolean({ char: 'f', description: 'kill at once, without a clean shutdown' }),
  };

  async run(): Promise<StopResult> {
    const { args, flags } = await this.parse(Stop);
    const r = await realHost(this.progress()).stop(args.id, { timeoutMs: flags.timeout, force: flags.force });
    if (!this.jsonEnabled()) this.log(`stopped container ${r.id} (${r.how})`);
    return r;
  }
}
