import { VpsCommand } from '../../cli/base.js';
import { idArg, snapshotArg } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';
import { formatSize } from '../../base/units.js';

type Result = { id: string; name: string; freed: number };

export default class SnapshotDelete extends VpsCommand<Result> {
  static override summary = 'Delete a snapshot (pinned ones too).';
  static override examples = ['<%= config.bin %> snapshot delete 101 before-upgrade'];
  static override args = { id: idArg, name: snapshotArg };

  async run(): Promise<Result> {
    const { args } = await this.parse(SnapshotDelete);
    const r = await realHost(this.progress()).snapshots.delete(args.id, args.name);
    if (!this.jsonEnabled()) this.log(`deleted snapshot ${r.name} of ${r.id} (${formatSize(r.freed)} freed)`);
    return r;
  }
}
