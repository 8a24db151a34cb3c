import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { realHost } from '../cli/host.js';
import type { ImportResult as Result } from '../core/disk.js';
import { validateHostname, validateId } from '../base/ids.js';
import { limitFlags, limitsFromFlags } from '../cli/flags.js';

export default class Import extends VpsCommand<Result> {
  static override summary = 'Make a container from an archive `vpsctl export` wrote.';
  static override description =
    "Every member of the archive is checked before anything is unpacked (only what export writes: regular files with known names). The container keeps its id unless ID is given, and gets an id range of this host; it is left stopped. The archive's config is taken as its maker's word: its network (addresses, routed mode, port forwards on this host) is taken only with --keep-network, a privileged container only with --privileged, and memory, swap and task limits that are missing or looser than a new container's defaults (1G, no swap, 4096 tasks) become those defaults unless --keep-limits or the limit flags say otherwise; each thing not taken is named on stderr (and in `notices` with --json).";
  static override examples = [
    '<%= config.bin %> import /backup/101.vps.tar.zst',
    '<%= config.bin %> import /backup/101.vps.tar.zst 201 --hostname web-201',
    '<%= config.bin %> import /backup/101.vps.tar.zst --keep-network --keep-limits   # moving your own container between hosts',
    '<%= config.bin %> import tenant.vps.tar.zst 301 --memory 2G --pids 2000',
  ];
  static override args = {
    file: Args.string({ description: 'archive written by vpsctl export', required: true }),
    id: Args.string({ description: 'id for the container [default: the id in the archive]', parse: async (s) => validateId(s) }),
  };
  static override flags = {
    hostname: Flags.string({ description: 'hostname [default: the archived one, or ID when given]', helpValue: 'NAME', parse: async (s) => validateHostname(s) }),
    privileged: Flags.boolean({ description: 'accept an archive of a privileged container (root inside is root on the host: NOT a security boundary)' }),
    'keep-network': Flags.boolean({ description: "take the archive's addresses, network mode and port forwards (they claim addresses and ports of this host)" }),
    'keep-limits': Flags.boolean({ description: "take the archive's limits as they are, even unlimited" }),
    ...limitFlags,
  };

  async run(): Promise<Result> {
    const { args, flags } = await this.parse(Import);
    const r = await realHost(this.progress()).disks.import(args.file, args.id, {
      hostname: flags.hostname,
      privileged: flags.privileged,
      keepNetwork: flags['keep-network'],
      keepLimits: flags['keep-limits'],
      limits: limitsFromFlags(flags),
      strict: flags.strict,
    });
    if (!this.jsonEnabled()) this.log(`imported container ${r.id}${r.snapshots.length ? ` with ${r.snapshots.length} snapshots` : ''}; start it with: vpsctl start ${r.id}`);
    return r;
  }
}
