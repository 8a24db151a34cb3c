import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { realHost } from '../cli/host.js';
import { table } from '../cli/render.js';
import type { ContainerStats } from '../core/resources.js';
import { validateId } from '../base/ids.js';
import { formatDuration, formatSize } from '../base/units.js';

export default class Stats extends VpsCommand<ContainerStats[]> {
  static override summary = 'Resource use of running containers: CPU, memory, swap, tasks, IO, network, disk, uptime.';
  static override description = 'All running containers unless IDs are given. CPU % is measured over --interval (100% = one core). --watch refreshes until interrupted.';
  static override examples = ['<%= config.bin %> stats', '<%= config.bin %> stats 101 102 --json', '<%= config.bin %> stats --watch'];
  static override strict = false;
  static override args = { id: Args.string({ description: 'container ids (default: all running)', parse: async (s) => validateId(s) }) };
  static override flags = {
    watch: Flags.boolean({ char: 'w', description: 'refresh until interrupted' }),
    interval: Flags.integer({ description: 'milliseconds between the two CPU samples (and refreshes)', default: 1000, min: 100, max: 60_000 }),
  };

  async run(): Promise<ContainerStats[]> {
    const { argv, flags } = await this.parse(Stats);
    const host = realHost(this.progress());
    const named = (argv as string[]).map(validateId);
    const ids = async (): Promise<string[]> => (named.length ? named : (await host.list()).filter((c) => c.state === 'running').map((c) => c.id));
    const sz = (n: number | null): string => (n === null ? '-' : formatSize(n));
    const render = (rows: ContainerStats[]): string =>
      table(rows, [
        { header: 'ID', get: (r) => r.id },
        { header: 'CPU%', get: (r) => (r.cpu_percent === null ? '-' : r.cpu_percent.toFixed(1)) },
        { header: 'MEM', get: (r) => `${sz(r.memory_used)} / ${r.memory_limit === null ? 'max' : sz(r.memory_limit)}` },
        { header: 'SWAP', get: (r) => `${sz(r.swap_used)} / ${r.swap_limit === null ? 'max' : sz(r.swap_limit)}` },
        { header: 'TASKS', get: (r) => `${r.pids ?? '-'} / ${r.pids_limit ?? 'max'}` },
        { header: 'READ', get: (r) => sz(r.io_read) },
        { header: 'WRITE', get: (r) => sz(r.io_write) },
        { header: 'NET IN', get: (r) => sz(r.net_rx_bytes) },
        { header: 'NET OUT', get: (r) => sz(r.net_tx_bytes) },
        { header: 'DISK', get: (r) => `${sz(r.disk_used)} / ${sz(r.disk_size)}` },
        { header: 'UPTIME', get: (r) => formatDuration(r.uptime_s * 1000) },
      ]);
    for (;;) {
      const rows = await host.resources.stats(await ids(), flags.interval);
      if (!flags.watch) {
        if (!this.jsonEnabled()) this.log(rows.length ? render(rows) : 'no running containers');
        return rows;
      }
      if (this.jsonEnabled()) this.log(JSON.stringify(rows));
      else process.stdout.write(`\x1b[H\x1b[2J${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}\n${render(rows)}\n`);
    }
  }
}
