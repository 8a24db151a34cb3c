import { VpsCommand } from '../cli/base.js';
import { realHost } from '../cli/host.js';
import { table } from '../cli/render.js';
import type { ContainerSummary } from '../core/host.js';
import { formatSize } from '../base/units.js';

export default class List extends VpsCommand<ContainerSummary[]> {
  static override summary = 'List containers and their state.';
  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --json'];

  async run(): Promise<ContainerSummary[]> {
    await this.parse(List);
    const rows = await realHost(this.progress()).list();
    if (!this.jsonEnabled()) {
      this.log(
        table(rows, [
          { header: 'ID', get: (r) => r.id },
          { header: 'STATE', get: (r) => r.state },
          { header: 'MODE', get: (r) => r.mode },
          { header: 'TEMPLATE', get: (r) => r.template },
          { header: 'HOSTNAME', get: (r) => r.hostname },
          { header: 'ADDRESSES', get: (r) => r.addresses.map((a) => a.slice(0, a.lastIndexOf('/'))).join(',') || '-' },
          { header: 'DISK', get: (r) => (r.disk ? formatSize(r.disk) : '-') },
          { header: 'INIT PID', get: (r) => r.init_pid },
          { header: 'ONBOOT', get: (r) => (r.onboot ? `yes${r.bootorder ? ` (${r.bootorder})` : ''}` : 'no') },
        ]),
      );
    }
    return rows;
  }
}
