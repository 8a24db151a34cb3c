import { VpsCommand } from '../cli/base.js';
import { idArg, sizeFlag } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import { invalid } from '../core/errors.js';
import type { ResizeResult } from '../core/disk.js';
import { formatSize } from '../core/units.js';

type Result = { id: string; changed: boolean; disk?: ResizeResult };

export default class SetCmd extends VpsCommand<Result> {
  static override summary = "Change a container's settings.";
  static override description =
    '--disk grows the disk and its filesystem, online if the container is running; it shrinks only a stopped container, and only when the data fits (resize2fs says how small it can get).';
  static override examples = ['<%= config.bin %> set 101 --disk 20G', '<%= config.bin %> set 101 --disk 8G   # stopped, shrink'];
  static override args = { id: idArg };
  static override flags = { disk: sizeFlag({ description: 'new disk size (K, M, G, T)' }) };

  async run(): Promise<Result> {
    const { args, flags } = await this.parse(SetCmd);
    if (flags.disk === undefined) throw invalid('nothing to set', 'usage: vpsctl set ID --disk SIZE');
    const r = await realHost(this.progress()).disks.resize(args.id, flags.disk);
    if (!this.jsonEnabled()) {
      this.log(r.changed ? `disk of ${r.id}: ${formatSize(r.previous)} -> ${formatSize(r.disk)}${r.online ? ' (online)' : ''}` : `disk of ${r.id} is already ${formatSize(r.disk)}: nothing changed`);
    }
    return { id: r.id, changed: r.changed, disk: r };
  }
}
