import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { durationFlag, parallelFlag } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { BatchRow, StopResult } from '../core/host.js';
import { invalid } from '../base/errors.js';
import { validateId } from '../base/ids.js';

export default class Stop extends VpsCommand<StopResult | BatchRow[]> {
  static override summary = 'Stop a container: a clean shutdown of its init, then a kill after --timeout; or every running container (--all).';
  static override description =
    "--all stops every running container in the reverse of the boot order (lower --bootorder first), each group of equal order --parallel at a time, each with its clean shutdown and --timeout; it goes on past a failure, prints a summary and exits 1 if any failed: what the host's shutdown runs.";
  static override examples = ['<%= config.bin %> stop 101', '<%= config.bin %> stop 101 --timeout 10s', '<%= config.bin %> stop 101 --force', '<%= config.bin %> stop --all --timeout 60s'];
  static override args = { id: Args.string({ description: 'container id (omit with --all)', parse: async (s) => validateId(s) }) };
  static override flags = {
    timeout: durationFlag({ char: 't', description: 'how long to wait for a clean shutdown before killing', default: 30_000, defaultHelp: async () => '30s' }),
    force: Flags.boolean({ char: 'f', description: 'kill at once, without a clean shutdown', exclusive: ['all'] }),
    all: Flags.boolean({ description: 'every running container, the boot order reversed; exit 1 if any failed' }),
    parallel: parallelFlag,
  };

  async run(): Promise<StopResult | BatchRow[]> {
    const { args, flags } = await this.parse(Stop);
    const host = realHost(this.progress());
    if (flags.all) {
      if (args.id) throw invalid('give a container id or --all, not both');
      return this.batch(await host.boot.stopAll({ parallel: flags.parallel, timeoutMs: flags.timeout }), 'stopped');
    }
    if (!args.id) throw invalid('no container id given', 'usage: vpsctl stop ID, or --all');
    const r = await host.stop(args.id, { timeoutMs: flags.timeout, force: flags.force });
    if (!this.jsonEnabled()) this.log(`stopped container ${r.id} (${r.how})`);
    return r;
  }
}
