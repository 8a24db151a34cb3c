import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { details } from '../../cli/render.js';
import type { PoolReport } from '../../core/host.js';
import { formatSize } from '../../base/units.js';

type Result = PoolReport;

export default class PoolInfoCmd extends VpsCommand<Result> {
  static override summary = 'Show the storage pool: filesystem, reflink, size, use, what it holds and what it has promised.';
  static override description =
    "Promised is what the pool's filesystem must be able to hold: every container's whole disk, what the snapshots hold together beyond the templates (a block several share counts once; what a snapshot shares with its container becomes its own once the container rewrites it), templates, files that are not vpsctl's, and the host's reserve (disk_reserve). Creates, clones, imports, disk grows, snapshots and restores that would promise more than size x disk_overcommit_ratio are refused with exit 7. A thin pool (promised above its size) refuses new containers and snapshots while its free space is under disk_low_watermark.";
  static override examples = ['<%= config.bin %> pool info', '<%= config.bin %> pool info --json'];

  async run(): Promise<Result> {
    await this.parse(PoolInfoCmd);
    const p = await realHost(this.progress()).poolInfo();
    if (!this.jsonEnabled()) {
      const q = p.promised;
      this.log(
        details([
          ['path', p.path],
          ['filesystem', p.fs],
          ['reflink', p.reflink ? 'yes' : 'no'],
          ['source', p.managed ? p.source : 'plain directory'],
          ['size', formatSize(p.size)],
          ['used', formatSize(p.used)],
          ['free', formatSize(p.free)],
          ['promised', `${formatSize(q.total)} of the ${formatSize(Math.round(p.limit / p.overcommit_ratio))} it can hold (${Math.round(p.ratio * 100)}%); limit ${formatSize(p.limit)} at disk_overcommit_ratio ${p.overcommit_ratio}`],
          ['  disks', formatSize(q.disks)],
          ['  snapshots', formatSize(q.snapshots)],
          ['  templates', formatSize(q.templates)],
          ['  other files', formatSize(q.other)],
          ['  host reserve', formatSize(q.reserve)],
          ...(q.pending ? ([['  under way', formatSize(q.pending)]] as [string, string][]) : []),
          ['thin', p.thin ? `yes: low watermark ${formatSize(p.watermark)} free${p.below_watermark ? ' (BELOW IT: new containers and snapshots are refused)' : ''}` : 'no'],
          ['shared', formatSize(p.shared)],
          ['saved by sharing', formatSize(p.saved)],
          ['images', p.images],
          ['snapshots', p.snapshots],
          ['templates', p.templates],
        ]),
      );
      if (p.hint) this.log(`hint: ${p.hint}`);
    }
    return p;
  }
}
