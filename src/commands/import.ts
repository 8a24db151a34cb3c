import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { realHost } from '../cli/host.js';
import type { ContainerStatus } from '../core/host.js';
import { validateHostname, validateId } from '../core/ids.js';

type Result = ContainerStatus & { snapshots: string[] };

export default class Import extends VpsCommand<Result> {
  static override summary = 'Make a container from an archive `vpsctl export` wrote.';
  static override description =
    'Every member of the archive is checked before anything is unpacked (only what export writes: regular files with known names). The container keeps its id unless ID is given, and gets an id range of this host; it is left stopped.';
  static override examples = ['<%= config.bin %> import /backup/101.vps.tar.zst', '<%= config.bin %> import /backup/101.vps.tar.zst 201 --hostname web-201'];
  static override args = {
    file: Args.string({ description: 'archive written by vpsctl export', required: true }),
    id: Args.string({ description: 'id for the container [default: the id in the archive]', parse: async (s) => validateId(s) }),
  };
  static override flags = {
    hostname: Flags.string({ description: 'hostname [default: the archived one, or ID when given]', helpValue: 'NAME', parse: async (s) => validateHostname(s) }),
    privileged: Flags.boolean({ description: 'accept an archive of a privileged container (root inside is root on the host: NOT a security boundary)' }),
  };

  async run(): Promise<Result> {
    const { args, flags } = await this.parse(Import);
    const r = await realHost(this.progress()).disks.import(args.file, args.id, { hostname: flags.hostname, privileged: flags.privileged });
    if (!this.jsonEnabled()) this.log(`imported container ${r.id}${r.snapshots.length ? ` with ${r.snapshots.length} snapshots` : ''}; start it with: vpsctl start ${r.id}`);
    return r;
  }
}
