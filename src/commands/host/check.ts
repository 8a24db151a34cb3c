import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { table } from '../../cli/render.js';
import { ExitCode } from '../../base/errors.js';
import { Flags } from '@oclif/core';
import type { HostCheckReport } from '../../core/host.js';

export default class HostCheck extends VpsCommand<HostCheckReport> {
  static override summary = 'Check the kernel features and host tools vpsctl needs.';
  static override description =
    'Prints each check with ok, missing or warn and how to fix it, then the pool space (a pool promised past its size, a thin pool under its low watermark, free space into the host reserve), then what stopped containers left behind (a veth, nftables rules: what a crash can leave), running containers whose anti-spoofing rules are gone, and what killed creates, clones, imports and snapshots left (a half-made container whose maker is gone, .partial images). Exits 6 when something required is missing. --fix removes the leftovers (each under the lock of its container: one an operation holds is left alone) and rebuilds the rules.';
  static override examples = ['<%= config.bin %> host check', '<%= config.bin %> host check --fix', '<%= config.bin %> host check --json'];
  static override flags = {
    fix: Flags.boolean({ description: 'remove what stopped containers and killed operations left behind (veths, nftables rules, half-made containers, .partial images) and rebuild flushed rules' }),
  };

  async run(): Promise<HostCheckReport> {
    const { flags } = await this.parse(HostCheck);
    const r = await realHost(this.progress()).check(flags.fix);
    if (!this.jsonEnabled()) {
      this.log(
        table(r.checks, [
          { header: 'CHECK', get: (c) => c.name },
          { header: 'STATUS', get: (c) => c.status + (c.required || c.status === 'ok' ? '' : ' (optional)') },
          { header: 'DETAIL', get: (c) => (c.status === 'ok' ? c.detail : `${c.detail}; fix: ${c.hint}`) },
        ]),
      );
      for (const l of r.leftovers) this.log(`leftover: ${l.problem}${l.fixed !== undefined ? ` (fixed: ${l.fixed})` : ' (vpsctl host check --fix removes it)'}`);
      this.log(r.ok ? '\nhost ready' : '\nhost not ready: install or enable what is missing above');
    }
    if (!r.ok) process.exitCode = ExitCode.HOST_NOT_READY;
    return r;
  }
}
