import { VpsCommand } from '../cli/base.js';
import { idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { CompactResult } from '../core/disk.js';
import { formatSize } from '../base/units.js';

export default class Compact extends VpsCommand<CompactResult> {
  static override summary = 'Give back to the pool the space a container freed inside (fstrim through its loop device).';
  static override description = 'Disk images otherwise only grow: blocks the guest frees stay allocated in the image file until compact punches them out. Works running or stopped.';
  static override examples = ['<%= config.bin %> compact 101'];
  static override args = { id: idArg };

  async run(): Promise<CompactResult> {
    const { args } = await this.parse(Compact);
    const r = await realHost(this.progress()).disks.compact(args.id);
    if (!this.jsonEnabled()) this.log(`compacted ${r.id}: image holds ${formatSize(r.after)} (was ${formatSize(r.before)}, ${formatSize(r.freed)} given back)`);
    return r;
  }
}
