import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { sizeFlag } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';
import type { BuildResult } from '../../core/host.js';
import { checkUrl, validateSha256, validateTemplateName } from '../../base/ids.js';
import { describe } from './import.js';

export default class TemplateDownload extends VpsCommand<BuildResult> {
  static override summary = "Download an LXC image from an image server's index and import it as a template.";
  static override description = [
    "Reads <server>/meta/1.0/index-system (lines dist;release;arch;variant;serial;path, the format of LXC's image servers), picks the newest serial of DIST RELEASE ARCH VARIANT, fetches meta.tar.xz and rootfs.tar.xz from its directory, verifies both against the SHA256SUMS there (when the server has one) and the rootfs against --sha256, then imports them as `template import` does.",
    'There is no built-in server: give --server URL or set VPSCTL_IMAGE_SERVER.',
  ].join('\n\n');
  static override examples = ['<%= config.bin %> template download debian bookworm --server https://images.example.org', 'VPSCTL_IMAGE_SERVER=https://images.example.org <%= config.bin %> template download ubuntu jammy --name ubuntu-22.04'];
  static override args = {
    dist: Args.string({ description: 'distribution as the index names it (debian, ubuntu, almalinux, ...)', required: true }),
    release: Args.string({ description: 'release as the index names it (bookworm, jammy, 9, ...)', required: true }),
  };
  static override flags = {
    arch: Flags.string({ description: "architecture [default: the host's, e.g. amd64]", helpValue: 'ARCH' }),
    variant: Flags.string({ description: 'image variant', default: 'default', helpValue: 'VARIANT' }),
    server: Flags.string({ description: 'image server URL [default: $VPSCTL_IMAGE_SERVER]', helpValue: 'URL', parse: async (s) => checkUrl(s, '--server') }),
    name: Flags.string({ description: 'template name [default: DIST-RELEASE, plus -VARIANT unless default]', helpValue: 'NAME', parse: async (s) => validateTemplateName(s) }),
    sha256: Flags.string({ description: 'SHA-256 the rootfs.tar.xz must have', helpValue: 'SUM', parse: async (s) => validateSha256(s) }),
    'max-size': sizeFlag({ description: 'refuse a download of, or an image that unpacks to, more than this', default: 8 * 1024 ** 3, defaultHelp: async () => '8G' }),
    force: Flags.boolean({ char: 'f', description: 'replace a template of the same name' }),
  };

  async run(): Promise<BuildResult> {
    const { args, flags } = await this.parse(TemplateDownload);
    const r = await realHost(this.progress()).downloadTemplate(args.dist, args.release, {
      arch: flags.arch,
      variant: flags.variant,
      server: flags.server,
      name: flags.name,
      sha256: flags.sha256,
      maxSize: flags['max-size'],
      force: flags.force,
    });
    if (!this.jsonEnabled()) {
      this.log(`imported template ${r.template.name}`);
      this.log(describe(r));
    }
    return r;
  }
}
