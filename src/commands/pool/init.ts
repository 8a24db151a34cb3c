import { Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { sizeFlag } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';
import type { PoolInfo } from '../../storage/pool.js';
import { formatSize } from '../../base/units.js';

export default class PoolInit extends VpsCommand<PoolInfo> {
  static override summary = 'Make the storage pool an XFS filesystem with reflink, so snapshots and clones are instant.';
  static override description =
    'Makes an XFS filesystem with reflink in a sparse file under the state root (--size) or on a block device (--device), moves the images, snapshots and templates the pool directory holds into it, and mounts it there. vpsctl mounts it again on first use after a reboot. No container may be running.';
  static override examples = ['<%= config.bin %> pool init --size 200G', '<%= config.bin %> pool init --device /dev/vdb'];
  static override flags = {
    size: sizeFlag({ description: 'size of the sparse pool file', default: 100 * 1024 ** 3, defaultHelp: async () => '100G', exclusive: ['device'] }),
    device: Flags.string({ description: 'make the pool on this block device instead (its contents are lost)', helpValue: 'DEVICE' }),
    fs: Flags.string({ description: 'filesystem of the pool', options: ['xfs'], default: 'xfs' }),
    force: Flags.boolean({ description: 'wipe a device that holds a filesystem' }),
  };

  async run(): Promise<PoolInfo> {
    const { flags } = await this.parse(PoolInit);
    const info = await realHost(this.progress()).initPool({ size: flags.size, device: flags.device, fs: flags.fs as 'xfs', force: flags.force });
    if (!this.jsonEnabled()) this.log(`pool ready: ${info.fs}${info.reflink ? ' with reflink' : ''}, ${formatSize(info.size)} on ${info.path}`);
    return info;
  }
}
