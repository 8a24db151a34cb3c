import { Flags } from '@oclif/core';
import type { WaivableFeature } from '../core/host.js';
import { VpsCommand } from '../cli/base.js';
import { durationFlag, idArg, startFlags } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { StartResult } from '../core/host.js';

export default class Restart extends VpsCommand<StartResult> {
  static override summary = 'Stop a container (if running) and start it again.';
  static override examples = ['<%= config.bin %> restart 101 --wait'];
  static override args = { id: idArg };
  static override flags = {
    timeout: durationFlag({ char: 't', description: 'clean-shutdown timeout (--wait waits at least 120s, or this long if longer)', default: 30_000, defaultHelp: async () => '30s' }),
    force: Flags.boolean({ char: 'f', description: 'kill at once, without a clean shutdown' }),
    ...startFlags,
  };

  async run(): Promise<StartResult> {
    const { args, flags } = await this.parse(Restart);
    const r = await realHost(this.progress()).restart(args.id, {
      timeoutMs: flags.timeout,
      force: flags.force,
      waitMs: flags.wait ? Math.max(flags.timeout, 120_000) : undefined,
      allowMissing: flags['unsafe-allow-missing'] as WaivableFeature[] | undefined,
    });
    if (!this.jsonEnabled()) this.log(`restarted container ${r.id} (init pid ${r.init_pid})${r.system_state ? `: system ${r.system_state}` : ''}`);
    return r;
  }
}
