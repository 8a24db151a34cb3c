import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { idArg, limitFlags } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import type { ContainerStatus } from '../core/host.js';
import { validateHostname, validateId, validateSnapshotName } from '../base/ids.js';

export default class Clone extends VpsCommand<ContainerStatus> {
  static override summary = 'Make a new container from another one (running or stopped) or from one of its snapshots.';
  static override description =
    "The copy is instant on a reflink pool; a running source is frozen for it, so the copy is consistent. The new container gets its own hostname (default: its id), machine-id, SSH host keys (made at its first boot) and id range; it is left stopped. Its disk is promised in full: a clone past the pool's promise (see pool info) is refused with exit 7.";
  static override examples = ['<%= config.bin %> clone 101 102', '<%= config.bin %> clone 101 102 --snapshot before-upgrade --hostname web-2'];
  static override args = { src: idArg, dst: Args.string({ description: 'id of the new container', required: true, parse: async (s) => validateId(s) }) };
  static override flags = {
    snapshot: Flags.string({ char: 's', description: "clone this snapshot of SRC instead of SRC's disk now", helpValue: 'NAME', parse: async (s) => validateSnapshotName(s) }),
    hostname: Flags.string({ description: 'hostname of the new container [default: its id]', helpValue: 'NAME', parse: async (s) => validateHostname(s) }),
    strict: limitFlags.strict,
  };

  async run(): Promise<ContainerStatus> {
    const { args, flags } = await this.parse(Clone);
    const st = await realHost(this.progress()).disks.clone(args.src, args.dst, { snapshot: flags.snapshot, hostname: flags.hostname, strict: flags.strict });
    if (!this.jsonEnabled()) this.log(`created container ${st.id} as a clone of ${args.src}${flags.snapshot ? ` (snapshot ${flags.snapshot})` : ''}; start it with: vpsctl start ${st.id}`);
    return st;
  }
}
