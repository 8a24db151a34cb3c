import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { details } from '../../cli/render.js';
import type { HostInfo } from '../../core/host.js';
import { formatSize } from '../../base/units.js';

export default class HostInfoCmd extends VpsCommand<HostInfo> {
  static override summary = 'Describe the host: CPUs, memory, disk, kernel, cgroup mode, containers and what they commit.';
  static override examples = ['<%= config.bin %> host info', '<%= config.bin %> host info --json'];

  async run(): Promise<HostInfo> {
    await this.parse(HostInfoCmd);
    const i = await realHost(this.progress()).info();
    if (!this.jsonEnabled()) {
      this.log(
        details([
          ['os', i.os],
          ['kernel', i.kernel],
          ['cpus', `${i.cpus} (${i.cpu_model})`],
          ['memory', `${formatSize(i.memory_total)} total, ${formatSize(i.memory_available)} available`],
          ['pool', `${i.pool} (${formatSize(i.pool_free)} free of ${formatSize(i.pool_size)})`],
          ['cgroup mode', i.cgroup_mode],
          ['containers', `${i.containers} (${i.running} running)`],
          ['committed disk', `${formatSize(i.committed_disk)}${i.promised_disk !== null && i.disk_ratio !== null ? ` (pool promised ${formatSize(i.promised_disk)}, ${Math.round(i.disk_ratio * 100)}% of its size)` : ''}`],
          ['committed memory', i.committed_memory === null ? 'no limits set' : formatSize(i.committed_memory)],
        ]),
      );
    }
    return i;
  }
}
