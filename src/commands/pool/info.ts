import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { details } from '../../cli/render.js';
import { NO_REFLINK_HINT, type PoolInfo } from '../../storage/pool.js';
import { formatSize } from '../../core/units.js';

export default class PoolInfoCmd extends VpsCommand<PoolInfo> {
  static override summary = 'Show the storage pool: filesystem, reflink, size, use and what it holds.';
  static override examples = ['<%= config.bin %> pool info', '<%= config.bin %> pool info --json'];

  async run(): Promise<PoolInfo> {
    await this.parse(PoolInfoCmd);
    const p = await realHost(this.progress()).pool.info();
    if (!this.jsonEnabled()) {
      this.log(
        details([
          ['path', p.path],
          ['filesystem', p.fs],
          ['reflink', p.reflink ? 'yes' : 'no'],
          ['source', p.managed ? p.source : 'plain directory'],
          ['size', formatSize(p.size)],
          ['used', formatSize(p.used)],
          ['free', formatSize(p.free)],
          ['shared', formatSize(p.shared)],
          ['saved by sharing', formatSize(p.saved)],
          ['images', p.images],
          ['snapshots', p.snapshots],
          ['templates', p.templates],
        ]),
      );
      if (!p.reflink) this.log(`hint: ${NO_REFLINK_HINT.replace('this was a full copy', 'snapshots and clones are full copies')}`);
    }
    return p;
  }
}
