import { Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { idArg, snapshotArg } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';

type Result = { id: string; name: string; restarted: boolean; disk: number };

export default class SnapshotRestore extends VpsCommand<Result> {
  static override summary = "Put a snapshot back as the container's disk.";
  static override description =
    'The container must be stopped; with --stop a running one is stopped, restored and started again. What the disk held since the snapshot is lost (take a snapshot first to keep it). A disk grown since the snapshot keeps its size.';
  static override examples = ['<%= config.bin %> snapshot restore 101 before-upgrade', '<%= config.bin %> snapshot restore 101 before-upgrade --stop'];
  static override args = { id: idArg, name: snapshotArg };
  static override flags = { stop: Flags.boolean({ description: 'stop a running container first, and start it again afterwards' }) };

  async run(): Promise<Result> {
    const { args, flags } = await this.parse(SnapshotRestore);
    const r = await realHost(this.progress()).snapshots.restore(args.id, args.name, { stop: flags.stop });
    if (!this.jsonEnabled()) this.log(`restored ${r.id} from snapshot ${r.name}${r.restarted ? ' and started it again' : ''}`);
    return r;
  }
}
