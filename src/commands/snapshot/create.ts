import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { durationFlag, limitFlags } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';
import { table } from '../../cli/render.js';
import type { AllResult, SnapshotCreated } from '../../core/snapshots.js';
import { invalid } from '../../base/errors.js';
import { validateId, validateSnapshotName } from '../../base/ids.js';

export default class SnapshotCreate extends VpsCommand<SnapshotCreated | AllResult[]> {
  static override summary = 'Take a snapshot of a container, running or stopped.';
  static override description =
    "A running container's filesystem is frozen for the copy (milliseconds on a reflink pool), so the snapshot is consistent. The name defaults to the UTC time. Expired snapshots of the container are removed first. A snapshot is promised what its container's image holds and no other snapshot or template shares (it becomes the snapshot's own once the container rewrites it): past the pool's promise, or on a thin pool under its low watermark, it is refused with exit 7. --all snapshots every container for cron: it goes on past a failure, prints a summary and exits 1 if any failed.";
  static override examples = [
    '<%= config.bin %> snapshot create 101',
    "<%= config.bin %> snapshot create 101 before-upgrade --description 'before apt upgrade' --no-expiry",
    '<%= config.bin %> snapshot create 101 --expiry 7d --keep 10',
    '<%= config.bin %> snapshot create --all --expiry 2d',
  ];
  static override args = {
    id: Args.string({ description: 'container id (omit with --all)', parse: async (s) => validateId(s) }),
    name: Args.string({ description: 'snapshot name [default: UTC time, e.g. 20261122-101530]', parse: async (s) => validateSnapshotName(s) }),
  };
  static override flags = {
    all: Flags.boolean({ description: 'snapshot every container; exit 1 if any failed' }),
    description: Flags.string({ char: 'd', description: 'what this snapshot is for', helpValue: 'TEXT' }),
    keep: Flags.integer({ description: 'afterwards keep only the N newest snapshots (pinned ones aside)', min: 1, helpValue: 'N' }),
    expiry: durationFlag({ description: 'remove it this long after it is taken (prune or the next snapshot create)' }),
    'no-expiry': Flags.boolean({ description: 'a snapshot that must stay: never removed by prune, --keep or expiry', exclusive: ['expiry'] }),
    scheduled: Flags.boolean({ description: "taken by the schedule's cron entry: the container's snapshots.expiry applies" }),
    strict: limitFlags.strict,
  };

  async run(): Promise<SnapshotCreated | AllResult[]> {
    const { args, flags } = await this.parse(SnapshotCreate);
    const host = realHost(this.progress());
    const opts = { description: flags.description, keep: flags.keep, expiryMs: flags.expiry, noExpiry: flags['no-expiry'], scheduled: flags.scheduled, strict: flags.strict };
    if (flags.all) {
      if (args.id) throw invalid('give a container id or --all, not both');
      const rows = await host.snapshots.createAll(opts);
      const failed = rows.filter((r) => !r.ok);
      if (this.jsonEnabled()) {
        if (failed.length) {
          this.logJson(rows);
          this.exit(1);
        }
      } else {
        this.log(table(rows, [
          { header: 'ID', get: (r) => r.id },
          { header: 'RESULT', get: (r) => (r.ok ? 'ok' : 'FAILED') },
          { header: 'SNAPSHOT', get: (r) => r.name },
          { header: 'DETAIL', get: (r) => r.error?.message ?? r.method },
        ]));
        this.log(`${rows.length - failed.length} of ${rows.length} snapshots taken${failed.length ? `; failed: ${failed.map((f) => f.id).join(', ')}` : ''}`);
        if (failed.length) this.exit(1);
      }
      return rows;
    }
    if (!args.id) throw invalid('no container id given', 'usage: vpsctl snapshot create ID [NAME], or --all');
    const s = await host.snapshots.create(args.id, { ...opts, name: args.name });
    if (!this.jsonEnabled()) {
      const frozen = s.frozen_ms !== null ? `, writes held ${((s.freeze_ms ?? 0) + s.frozen_ms).toFixed(1)} ms` : '';
      this.log(`snapshot ${s.name} of ${s.id} taken (${s.method}${frozen}${s.expiry ? `, expires ${s.expiry.replace(/\.\d+Z$/, 'Z')}` : ''})`);
      if (s.pruned.length) this.log(`removed: ${s.pruned.join(', ')}`);
      if (s.hint) this.log(`hint: ${s.hint}`);
    }
    return s;
  }
}
