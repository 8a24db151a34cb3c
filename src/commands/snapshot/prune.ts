import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { durationFlag } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';
import { table } from '../../cli/render.js';
import type { Pruned } from '../../core/snapshots.js';
import { invalid } from '../../base/errors.js';
import { validateId } from '../../base/ids.js';

export default class SnapshotPrune extends VpsCommand<Pruned[]> {
  static override summary = 'Remove expired snapshots, and with --keep/--older-than old ones.';
  static override description =
    'Always removes snapshots past their expiry. --keep N keeps the N newest of the rest, --older-than removes those older than that; pinned snapshots (--no-expiry) are never removed by prune.';
  static override examples = ['<%= config.bin %> snapshot prune 101 --keep 7', '<%= config.bin %> snapshot prune --all --older-than 30d', '<%= config.bin %> snapshot prune --all --dry-run'];
  static override args = { id: Args.string({ description: 'container id (omit with --all)', parse: async (s) => validateId(s) }) };
  static override flags = {
    all: Flags.boolean({ description: 'every container' }),
    keep: Flags.integer({ description: 'keep the N newest unpinned snapshots', min: 0, helpValue: 'N' }),
    'older-than': durationFlag({ description: 'remove unpinned snapshots older than this (e.g. 7d)' }),
    'dry-run': Flags.boolean({ char: 'n', description: 'say what would go, remove nothing' }),
  };

  async run(): Promise<Pruned[]> {
    const { args, flags } = await this.parse(SnapshotPrune);
    if (flags.all === !!args.id) throw invalid('give a container id or --all', 'usage: vpsctl snapshot prune ID|--all [--keep N] [--older-than 7d]');
    const rows = await realHost(this.progress()).snapshots.prune(args.id ? [args.id] : 'all', { keep: flags.keep, olderThanMs: flags['older-than'], dryRun: flags['dry-run'] });
    if (!this.jsonEnabled()) {
      if (rows.length === 0) this.log('nothing to prune');
      else this.log(table(rows, [
        { header: 'ID', get: (r) => r.id },
        { header: 'SNAPSHOT', get: (r) => r.name },
        { header: flags['dry-run'] ? 'WOULD GO' : 'REMOVED', get: (r) => r.reason },
      ]));
    }
    return rows;
  }
}
