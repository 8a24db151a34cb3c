import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { ExportResult } from '../core/disk.js';
import { formatSize } from '../base/units.js';

export default class Export extends VpsCommand<ExportResult> {
  static override summary = 'Write a container to one archive (zstd tar) for moving it to another host.';
  static override description =
    "The archive holds the disk image (sparse; a frozen, consistent copy if the container is running), its config and its snapshots' metadata; --snapshots adds the snapshots' images. `vpsctl import FILE` on the other host makes the container again.";
  static override examples = ['<%= config.bin %> export 101 /backup/101.vps.tar.zst', '<%= config.bin %> export 101 /backup/101.vps.tar.zst --snapshots'];
  static override args = { id: idArg, file: Args.string({ description: 'archive to write', required: true }) };
  static override flags = {
    snapshots: Flags.boolean({ description: "include the snapshots' images" }),
    force: Flags.boolean({ char: 'f', description: 'overwrite FILE' }),
  };

  async run(): Promise<ExportResult> {
    const { args, flags } = await this.parse(Export);
    const r = await realHost(this.progress()).disks.export(args.id, args.file, { snapshots: flags.snapshots, force: flags.force });
    if (!this.jsonEnabled()) this.log(`exported ${r.id} to ${r.file} (${formatSize(r.size)}${r.snapshot_images ? `, ${r.snapshots.length} snapshots` : ''})`);
    return r;
  }
}
