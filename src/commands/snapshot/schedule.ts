import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { idArg } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';
import type { ScheduleResult } from '../../core/snapshots.js';
import { invalid } from '../../base/errors.js';
import { parseDuration } from '../../base/units.js';

export default class SnapshotSchedule extends VpsCommand<ScheduleResult> {
  static override summary = 'Take snapshots of a container on a schedule (a cron entry), or stop (--off).';
  static override description =
    "Writes /etc/cron.d/vpsctl-snapshot-ID (the cron_dir setting moves it), which runs `vpsctl snapshot create ID --scheduled`. --expiry is stored in the container's config as snapshots.expiry and applies to scheduled snapshots only, never to manual ones.";
  static override examples = ["<%= config.bin %> snapshot schedule 101 @daily --expiry 7d", "<%= config.bin %> snapshot schedule 101 '30 2 * * *' --expiry 14d", '<%= config.bin %> snapshot schedule 101 --off'];
  static override args = { id: idArg, when: Args.string({ description: "@hourly, @daily, @weekly, @monthly, or five cron fields ('30 2 * * *')" }) };
  static override flags = {
    expiry: Flags.string({ description: 'scheduled snapshots expire this long after they are taken (e.g. 7d)', helpValue: 'DURATION', parse: async (s) => (parseDuration(s), s) }),
    off: Flags.boolean({ description: 'remove the schedule' }),
  };

  async run(): Promise<ScheduleResult> {
    const { args, flags } = await this.parse(SnapshotSchedule);
    if (flags.off === !!args.when) throw invalid('give a schedule or --off', "usage: vpsctl snapshot schedule ID '@daily'|CRON [--expiry 7d] | --off");
    const r = await realHost(this.progress()).snapshots.schedule(args.id, flags.off ? 'off' : (args.when as string), flags.expiry);
    if (!this.jsonEnabled()) {
      this.log(r.schedule ? `snapshots of ${r.id}: ${r.schedule}${r.expiry ? `, kept ${r.expiry}` : ''} (${r.file})` : `no more scheduled snapshots of ${r.id}`);
    }
    if (r.warning) this.warn(r.warning);
    return r;
  }
}
