import { Args } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { idArg, snapshotArg } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';

type Result = { id: string; name: string; mountpoint: string };

export default class SnapshotMount extends VpsCommand<Result> {
  static override summary = 'Mount a snapshot read-only on a directory, to fetch files from it.';
  static override description = 'Read-only, without a journal replay, nodev,nosuid,noexec: nothing changes the snapshot. `vpsctl snapshot umount ID NAME` unmounts it.';
  static override examples = ['<%= config.bin %> snapshot mount 101 before-upgrade /mnt/snap'];
  static override args = { id: idArg, name: snapshotArg, dir: Args.string({ description: 'an existing directory (absolute path)', required: true }) };

  async run(): Promise<Result> {
    const { args } = await this.parse(SnapshotMount);
    const r = await realHost(this.progress()).snapshots.mount(args.id, args.name, args.dir);
    if (!this.jsonEnabled()) this.log(`snapshot ${r.name} of ${r.id} mounted read-only on ${r.mountpoint}`);
    return r;
  }
}
