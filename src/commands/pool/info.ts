import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { details } from '../../cli/render.js';
import { NO_REFLINK_HINT, type PoolInfo } from '../../storage/pool.js';
import type { SpaceFigures } from '../../storage/space.js';
import { formatSize } from '../../core/units.js';

type Result = PoolInfo & Pick<SpaceFigures, 'promised' | 'ratio' | 'overcommit_ratio' | 'limit' | 'watermark' | 'thin' | 'below_watermark'>;

export default class PoolInfoCmd extends VpsCommand<Result> {
  static override summary = 'Show the storage pool: filesystem, reflink, size, use, what it holds and what it has promised.';
  static override description =
    "Promised is what the pool's filesystem must be able to hold: every container's whole disk, what the snapshots hold together beyond the templates (a block several share counts once; what a snapshot shares with its container becomes its own once the container rewrites it), templates, files that are not vpsctl's, and the host's reserve (disk_reserve). Creates, clones, imports, disk grows, snapshots and restores that would promise more than size x disk_overcommit_ratio are refused with exit 7. A thin pool (promised above its size) refuses new containers and snapshots while its free space is under disk_low_watermark.";
  static override examples = ['<%= config.bin %> pool info', '<%= config.bin %> pool info --json'];

  async run(): Promise<Result> {
    await this.parse(PoolInfoCmd);
    const host = realHost(this.progress());
    const p = await host.pool.info();
    const s = await host.space.figures();
    const out: Result = { ...p, promised: s.promised, ratio: s.ratio, overcommit_ratio: s.overcommit_ratio, limit: s.limit, watermark: s.watermark, thin: s.thin, below_watermark: s.below_watermark };
    if (!this.jsonEnabled()) {
      const q = s.promised;
      this.log(
        details([
          ['path', p.path],
          ['filesystem', p.fs],
          ['reflink', p.reflink ? 'yes' : 'no'],
          ['source', p.managed ? p.source : 'plain directory'],
          ['size', formatSize(p.size)],
          ['used', formatSize(p.used)],
          ['free', formatSize(p.free)],
          ['promised', `${formatSize(q.total)} (${Math.round(s.ratio * 100)}% of size; limit ${formatSize(s.limit)} at disk_overcommit_ratio ${s.overcommit_ratio})`],
          ['  disks', formatSize(q.disks)],
          ['  snapshots', formatSize(q.snapshots)],
          ['  templates', formatSize(q.templates)],
          ['  other files', formatSize(q.other)],
          ['  host reserve', formatSize(q.reserve)],
          ...(q.pending ? ([['  under way', formatSize(q.pending)]] as [string, string][]) : []),
          ['thin', s.thin ? `yes: low watermark ${formatSize(s.watermark)} free${s.below_watermark ? ' (BELOW IT: new containers and snapshots are refused)' : ''}` : 'no'],
          ['shared', formatSize(p.shared)],
          ['saved by sharing', formatSize(p.saved)],
          ['images', p.images],
          ['snapshots', p.snapshots],
          ['templates', p.templates],
        ]),
      );
      if (!p.reflink) this.log(`hint: ${NO_REFLINK_HINT.replace('this was a full copy', 'snapshots and clones are full copies')}`);
    }
    return out;
  }
}
