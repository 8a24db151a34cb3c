import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { table } from '../../cli/render.js';
import { ExitCode } from '../../core/errors.js';
import { hostChecks, type HostCheckResult } from '../../core/hostcheck.js';

export default class HostCheck extends VpsCommand<HostCheckResult> {
  static override summary = 'Check the kernel features and host tools vpsctl needs.';
  static override description = 'Prints each check with ok, missing or warn and how to fix it. Exits 6 when something required is missing.';
  static override examples = ['<%= config.bin %> host check', '<%= config.bin %> host check --json'];

  async run(): Promise<HostCheckResult> {
    await this.parse(HostCheck);
    const r = hostChecks(realHost(this.progress()).cgroups);
    if (!this.jsonEnabled()) {
      this.log(
        table(r.checks, [
          { header: 'CHECK', get: (c) => c.name },
          { header: 'STATUS', get: (c) => c.status + (c.required || c.status === 'ok' ? '' : ' (optional)') },
          { header: 'DETAIL', get: (c) => (c.status === 'ok' ? c.detail : `${c.detail}; fix: ${c.hint}`) },
        ]),
      );
      this.log(r.ok ? '\nhost ready' : '\nhost not ready: install or enable what is missing above');
    }
    if (!r.ok) process.exitCode = ExitCode.HOST_NOT_READY;
    return r;
  }
}
