import { Args, Flags } from '@oclif/core';
import type { WaivableFeature } from '../core/host.js';
import { VpsCommand } from '../cli/base.js';
import { durationFlag, parallelFlag, startFlags } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { BatchRow, StartResult } from '../core/host.js';
import { invalid } from '../base/errors.js';
import { validateId } from '../base/ids.js';

export default class Start extends VpsCommand<StartResult | BatchRow[]> {
  static override summary = 'Start a container: boot its init (systemd) on its own disk image; or every container (--all).';
  static override description =
    "Returns once init runs; with --wait, once systemd reports running or degraded (or fails after --timeout). --all starts every stopped container (with --onboot, those marked --onboot yes: what the host's boot runs) in boot order, higher --bootorder first, each group of equal order --parallel at a time; it goes on past a failure, prints a summary and exits 1 if any failed.";
  static override examples = ['<%= config.bin %> start 101', '<%= config.bin %> start 101 --wait --timeout 2m', '<%= config.bin %> start --all --onboot --wait'];
  static override args = { id: Args.string({ description: 'container id (omit with --all)', parse: async (s) => validateId(s) }) };
  static override flags = {
    ...startFlags,
    timeout: durationFlag({ description: 'how long --wait waits', default: 120_000, defaultHelp: async () => '120s' }),
    all: Flags.boolean({ description: 'every stopped container, in boot order; exit 1 if any failed' }),
    onboot: Flags.boolean({ description: 'with --all: only those marked --onboot yes', dependsOn: ['all'] }),
    parallel: parallelFlag,
  };

  async run(): Promise<StartResult | BatchRow[]> {
    const { args, flags } = await this.parse(Start);
    const host = realHost(this.progress());
    const waitMs = flags.wait ? flags.timeout : undefined;
    if (flags.all) {
      if (args.id) throw invalid('give a container id or --all, not both');
      const rows = await host.boot.startAll({ onboot: flags.onboot, parallel: flags.parallel, waitMs });
      return this.batch(rows, 'started');
    }
    if (!args.id) throw invalid('no container id given', 'usage: vpsctl start ID, or --all [--onboot]');
    const r = await host.start(args.id, { waitMs, allowMissing: flags['unsafe-allow-missing'] as WaivableFeature[] | undefined });
    if (!this.jsonEnabled()) this.log(`started container ${r.id} (init pid ${r.init_pid})${r.system_state ? `: system ${r.system_state}` : ''}`);
    return r;
  }
}
