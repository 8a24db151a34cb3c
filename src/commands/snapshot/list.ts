import { VpsCommand } from '../../cli/base.js';
import { idArg } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';
import { table } from '../../cli/render.js';
import type { SnapshotListing } from '../../core/snapshots.js';
import { formatSize } from '../../base/units.js';

export default class SnapshotList extends VpsCommand<SnapshotListing[]> {
  static override summary = "List a container's snapshots, oldest first.";
  static override description = 'ALONE is the space a snapshot holds by itself: what deleting it gives back.';
  static override examples = ['<%= config.bin %> snapshot list 101'];
  static override args = { id: idArg };

  async run(): Promise<SnapshotListing[]> {
    const { args } = await this.parse(SnapshotList);
    const rows = await realHost(this.progress()).snapshots.list(args.id);
    const t = (s: string | null): string => (s ? s.replace(/\.\d+Z$/, 'Z') : '-');
    if (!this.jsonEnabled()) {
      this.log(
        table(rows, [
          { header: 'NAME', get: (r) => r.name },
          { header: 'CREATED', get: (r) => t(r.created) },
          { header: 'STATE', get: (r) => r.state },
          { header: 'EXPIRES', get: (r) => (r.pinned ? 'never (pinned)' : t(r.expiry)) },
          { header: 'ALONE', get: (r) => (r.exclusive === null ? '-' : formatSize(r.exclusive)) },
          { header: 'METHOD', get: (r) => r.method },
          { header: 'DESCRIPTION', get: (r) => `${r.description ?? ''}${r.mounted.length ? ` [mounted on ${r.mounted.join(', ')}]` : ''}` || '-' },
        ]),
      );
    }
    return rows;
  }
}
