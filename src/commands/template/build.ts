import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { realHost } from '../../cli/host.js';
import { details } from '../../cli/render.js';
import { validateTemplateName } from '../../base/ids.js';
import { invalid } from '../../base/errors.js';
import type { BuildResult } from '../../core/host.js';
import { formatSize } from '../../base/units.js';

export default class TemplateBuild extends VpsCommand<BuildResult> {
  static override summary = 'Build an OS template image from its recipe (templates/NAME.yaml).';
  static override description =
    "Runs the recipe's builder (debootstrap) into a temporary tree, configures it for containers and packs it into <pool>/templates/NAME.img with its metadata. Skipped when the template is already built, unless --force. Progress goes to stderr.";
  static override examples = ['<%= config.bin %> template build debian-12', '<%= config.bin %> template build debian-12 --force --mirror http://mirror.example/debian'];
  static override args = {
    name: Args.string({ description: 'template name, e.g. debian-12', required: true, parse: async (s) => validateTemplateName(s) }),
  };
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'rebuild even if the template is already built' }),
    mirror: Flags.string({
      description: "package mirror URL [default: host config, else the host's own apt sources, else debootstrap's default]",
      helpValue: 'URL',
      parse: async (s) => {
        if (!/^(https?|file):\/\/[^\s'"]+$/.test(s)) throw invalid(`--mirror ${JSON.stringify(s)} is not an http(s) or file URL`);
        return s;
      },
    }),
  };

  async run(): Promise<BuildResult> {
    const { args, flags } = await this.parse(TemplateBuild);
    const r = await realHost(this.progress()).buildTemplate(args.name, { force: flags.force, mirror: flags.mirror });
    if (!this.jsonEnabled()) {
      if (r.built) this.log(`built template ${r.template.name}`);
      this.log(details([['image', r.image], ['os', `${r.template.os} ${r.template.version} ${r.template.arch}`], ['size', formatSize(r.template.size)], ['used', formatSize(r.template.used)], ['source', r.template.source]]));
    }
    return r;
  }
}
