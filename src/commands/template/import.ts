import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../../cli/base.js';
import { sizeFlag } from '../../cli/flags.js';
import { realHost } from '../../cli/host.js';
import { details } from '../../cli/render.js';
import type { BuildResult } from '../../core/host.js';
import { validateSha256, validateTemplateName } from '../../base/ids.js';
import { formatSize } from '../../base/units.js';

export default class TemplateImport extends VpsCommand<BuildResult> {
  static override summary = 'Import an OpenVZ template tarball or an LXC image into the template cache.';
  static override description = [
    'SOURCE is a file or an http(s) URL. An OpenVZ precreated template (a rootfs tarball, plain or compressed with gzip, xz, zstd or bzip2, told by its content) is named after its file: os-version-arch[-flavour].tar.gz gives the template os-version[-flavour] (centos-7-x86_64.tar.gz: centos-7).',
    'An LXC image is its meta tarball (meta.tar.xz, with metadata.yaml) plus its rootfs tarball: give the rootfs as ROOTFS, or let it be rootfs.tar.xz beside the meta tarball; SOURCE may also be a directory or a URL ending in "/" that holds both. Its template is named os-release[-variant] from metadata.yaml.',
    'Every archive is read whole and checked before anything is unpacked: absolute paths, "..", symlinks that climb out of the tree, entries written through a symlink, hardlinks out of the tree or to nothing earlier, a size beyond --max-size, a damaged or truncated archive and a checksum mismatch are refused (exit 2) with the offending entry named, and nothing is left in the cache. Device nodes are dropped and counted, never unpacked (a container\'s /dev is made at its start).',
  ].join('\n\n');
  static override examples = [
    '<%= config.bin %> template import /srv/vz/centos-7-x86_64.tar.gz',
    '<%= config.bin %> template import ubuntu-22.04-x86_64-minimal.tar.gz --name ubuntu-22.04 --sha256 0123...cdef',
    '<%= config.bin %> template import meta.tar.xz rootfs.tar.xz --name debian-12-lxc',
    '<%= config.bin %> template import https://images.example.org/images/debian/bookworm/amd64/default/20240101_05:24/',
  ];
  static override args = {
    source: Args.string({ description: 'the archive: a file, a directory holding meta.tar.xz and rootfs.tar.xz, or an http(s) URL', required: true }),
    rootfs: Args.string({ description: 'the rootfs tarball (file or URL) of the LXC image whose meta tarball is SOURCE' }),
  };
  static override flags = {
    name: Flags.string({ description: 'template name [default: from the OpenVZ file name, or from the LXC metadata]', helpValue: 'NAME', parse: async (s) => validateTemplateName(s) }),
    sha256: Flags.string({ description: 'SHA-256 the rootfs archive must have (the OpenVZ tarball, or the LXC rootfs tarball)', helpValue: 'SUM', parse: async (s) => validateSha256(s) }),
    'max-size': sizeFlag({ description: 'refuse an archive that unpacks to (or a download of) more than this', default: 8 * 1024 ** 3, defaultHelp: async () => '8G' }),
    force: Flags.boolean({ char: 'f', description: 'replace a template of the same name' }),
  };

  async run(): Promise<BuildResult> {
    const { args, flags } = await this.parse(TemplateImport);
    const r = await realHost(this.progress()).importTemplate(args.source, { rootfs: args.rootfs, name: flags.name, sha256: flags.sha256, maxSize: flags['max-size'], force: flags.force });
    if (!this.jsonEnabled()) {
      this.log(`imported template ${r.template.name}`);
      this.log(describe(r));
    }
    return r;
  }
}

export function describe(r: BuildResult): string {
  const t = r.template;
  return details([
    ['image', r.image],
    ['os', `${t.os} ${t.version} ${t.arch}`],
    ['size', formatSize(t.size)],
    ['used', formatSize(t.used)],
    ['source', t.source],
    ...(t.import?.files ?? []).map((f): [string, string] => [`sha256 ${f.name}`, f.sha256]),
  ]);
}
