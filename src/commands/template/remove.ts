import { Args } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { validateTemplateName } from '../../base/ids.js';

type Result = { name: string; removed: string[] };

export default class TemplateRemove extends VpsCommand<Result> {
  static override summary = 'Remove a template from the cache.';
  static override description =
    'Removes <pool>/templates/NAME.img and NAME.yaml. Containers are clones of their template and do not need it; a build or import of the same template in progress (its lock) makes this exit 4.';
  static override examples = ['<%= config.bin %> template remove centos-7'];
  static override args = {
    name: Args.string({ description: 'template name (see `vpsctl template list`)', required: true, parse: async (s) => validateTemplateName(s) }),
  };

  async run(): Promise<Result> {
    const { args } = await this.parse(TemplateRemove);
    const r = await realHost(this.progress()).removeTemplate(args.name);
    if (!this.jsonEnabled()) this.log(`removed template ${r.name}`);
    return r;
  }
}
