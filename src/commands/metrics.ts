import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { realHost } from '../cli/host.js';

export default class Metrics extends VpsCommand<{ metrics: string; output?: string }> {
  static override summary = 'Prometheus metrics of every container and of the pool.';
  static override description =
    "Prints, in Prometheus's text format, each container's state, uptime, CPU seconds, memory and swap used and limits, tasks and their limit, IO bytes, network bytes and packets in and out (its veth), OOM kills and disk used and size, and the pool's size, free space and promise. --output writes the text to a file instead, atomically, for node_exporter's textfile collector (run it from cron or a timer); --json wraps the text in {\"metrics\": ...}.";
  static override examples = ['<%= config.bin %> metrics', '<%= config.bin %> metrics --output /var/lib/prometheus/node-exporter/vpsctl.prom'];
  static override flags = {
    output: Flags.string({ char: 'o', description: 'write to this file (atomically: a temp file renamed into place) instead of stdout' }),
  };

  async run(): Promise<{ metrics: string; output?: string }> {
    const { flags } = await this.parse(Metrics);
    const text = await realHost(this.progress()).metrics({ output: flags.output });
    if (flags.output) {
      if (!this.jsonEnabled()) this.log(`wrote ${flags.output}`);
      return { metrics: text, output: flags.output };
    }
    if (!this.jsonEnabled()) process.stdout.write(text);
    return { metrics: text };
  }
}
