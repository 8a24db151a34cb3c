import type { WaivableFeature } from '../core/host.js';
import { VpsCommand } from '../cli/base.js';
import { durationFlag, idArg, startFlags } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { StartResult } from '../core/host.js';

export default class Start extends VpsCommand<StartResult> {
  static override summary = 'Start a container: boot its init (systemd) on its own disk image.';
  static override description =
    'Returns once init runs; with --wait, once systemd reports running or degraded (or fails after --timeout).';
  static override examples = ['<%= config.bin %> start 101', '<%= config.bin %> start 101 --wait --timeout 2m'];
  static override args = { id: idArg };
  static override flags = {
    ...startFlags,
    timeout: durationFlag({ description: 'how long --wait waits', default: 120_000, defaultHelp: async () => '120s' }),
  };

  async run(): Promise<StartResult> {
    const { args, flags } = await this.parse(Start);
    const r = await realHost(this.progress()).start(args.id, { waitMs: flags.wait ? flags.timeout : undefined, allowMissing: flags['unsafe-allow-missing'] as WaivableFeature[] | undefined });
    if (!this.jsonEnabled()) this.log(`started container ${r.id} (init pid ${r.init_pid})${r.system_state ? `: system ${r.system_state}` : ''}`);
    return r;
  }
}
