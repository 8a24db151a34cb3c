import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { table } from '../../cli/render.js';
import type { TemplateInfo } from '../../core/host.js';
import { formatSize } from '../../base/units.js';

export default class TemplateList extends VpsCommand<TemplateInfo[]> {
  static override summary = 'List the templates in the cache.';
  static override examples = ['<%= config.bin %> template list'];

  async run(): Promise<TemplateInfo[]> {
    await this.parse(TemplateList);
    const rows = await realHost(this.progress()).listTemplates();
    if (!this.jsonEnabled()) {
      this.log(
        table(rows, [
          { header: 'NAME', get: (r) => r.name },
          { header: 'OS', get: (r) => `${r.os} ${r.version}` },
          { header: 'ARCH', get: (r) => r.arch },
          { header: 'SIZE', get: (r) => formatSize(r.size) },
          { header: 'CREATED', get: (r) => r.created.replace(/\.\d+Z$/, 'Z') },
        ]),
      );
    }
    return rows;
  }
}
