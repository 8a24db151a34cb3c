import { VpsCommand } from '../../cli/base.js';
import { idArg, snapshotArg } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';

type Result = { id: string; name: string; unmounted: string[] };

export default class SnapshotUmount extends VpsCommand<Result> {
  static override summary = 'Unmount a snapshot `snapshot mount` mounted.';
  static override examples = ['<%= config.bin %> snapshot umount 101 before-upgrade'];
  static override args = { id: idArg, name: snapshotArg };

  async run(): Promise<Result> {
    const { args } = await this.parse(SnapshotUmount);
    const r = await realHost(this.progress()).snapshots.umount(args.id, args.name);
    if (!this.jsonEnabled()) this.log(`unmounted snapshot ${r.name} of ${r.id} from ${r.unmounted.join(', ')}`);
    return r;
  }
}
