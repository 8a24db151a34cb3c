import { Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { table } from '../../cli/render.js';
import type { SetupStep } from '../../core/host.js';

export default class HostSetupCmd extends VpsCommand<SetupStep[]> {
  static override summary = 'Set the host up for containers: density sysctls, the boot unit, the reflink pool.';
  static override description =
    "Writes /etc/sysctl.d/60-vpsctl.conf and applies it (inotify instances and watches, keys, map count: floors, a higher value is kept); on a host whose init is systemd installs, enables and starts vpsctl.service, which starts the onboot containers at boot (start --all --onboot, after the network and local filesystems) and stops every container cleanly at shutdown (stop --all: each container's own systemd shuts down, a kill only after its timeout); elsewhere it says what to run from the host's boot and shutdown scripts. Where the state root cannot share extents it makes the XFS pool with reflink (pool init; --no-pool skips it). A second run changes nothing.";
  static override examples = ['<%= config.bin %> host setup', '<%= config.bin %> host setup --no-pool --json'];
  static override flags = {
    pool: Flags.boolean({ description: 'make the reflink pool where the state root cannot share extents', default: true, allowNo: true }),
  };

  async run(): Promise<SetupStep[]> {
    const { flags } = await this.parse(HostSetupCmd);
    const steps = await realHost(this.progress()).setup({ pool: flags.pool });
    if (!this.jsonEnabled()) {
      this.log(table(steps, [
        { header: 'STEP', get: (s) => s.what },
        { header: 'RESULT', get: (s) => s.result },
        { header: 'DETAIL', get: (s) => s.detail },
      ]));
      const changed = steps.filter((s) => s.result === 'changed').length;
      this.log(changed ? `${changed} changed` : 'nothing to change: the host is set up');
    }
    return steps;
  }
}
