import { Args } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { details } from '../../cli/render.js';
import { validateTemplateName } from '../../base/ids.js';
import { formatSize } from '../../base/units.js';
import type { TemplateDetails } from '../../templates/import.js';

export default class TemplateInfo extends VpsCommand<TemplateDetails> {
  static override summary = "Show a template's metadata: OS, arch, where it came from, size, checksums.";
  static override examples = ['<%= config.bin %> template info debian-12', '<%= config.bin %> template info centos-7 --json'];
  static override args = {
    name: Args.string({ description: 'template name (see `vpsctl template list`)', required: true, parse: async (s) => validateTemplateName(s) }),
  };

  async run(): Promise<TemplateDetails> {
    const { args } = await this.parse(TemplateInfo);
    const t = await realHost(this.progress()).templateInfo(args.name);
    if (!this.jsonEnabled()) {
      this.log(
        details([
          ['name', t.name],
          ['description', t.description],
          ['os', `${t.os} ${t.version}`],
          ['arch', t.arch],
          ['kind', t.kind],
          ['source', t.source],
          ...(t.import?.flavour ? [['flavour', t.import.flavour] as [string, string]] : []),
          ...(t.import?.serial ? [['serial', t.import.serial] as [string, string]] : []),
          ['created', t.created],
          ['size', formatSize(t.size)],
          ['used', formatSize(t.used)],
          ['image', t.image],
          ...(t.import?.files ?? []).map((f): [string, string] => [`sha256 ${f.name}`, `${f.sha256} (${formatSize(f.size)})`]),
          ...(t.packages?.length ? [['packages', t.packages.join(' ')] as [string, string]] : []),
        ]),
      );
    }
    return t;
  }
}
