/**
 * `template import` and `template download`: OpenVZ precreated template tarballs and LXC
 * images (a meta tarball with `metadata.yaml` plus a rootfs tarball) into the template cache.
 *
 * An archive is input from anywhere, so it is read whole and checked BEFORE anything is
 * unpacked (scan.ts): its tar stream is read exactly as GNU tar reads it (tar.ts) and judged
 * member by member (tar-check.ts); the archive is refused whole, naming the first offending
 * entry. The bytes checked are the bytes unpacked: a local file is copied into the work
 * directory while it is read (downloads are there already), and tar unpacks that private
 * copy, but only after GNU tar's own listing of it agreed with the checker, member by member
 * (tar-diff.ts). A refusal leaves nothing in the cache.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ExitCode, VpsError, failed, invalid, notFound, wrongState } from '../base/errors.js';
import { checkUrl, validateSha256, validateTemplateName } from '../base/ids.js';
import type { Layout } from '../base/settings.js';
import type { Progress } from '../base/types.js';
import { formatSize } from '../base/units.js';
import type { OsInfo } from '../distro/detect.js';
import type { Runner } from '../sys/exec.js';
import { exists } from '../sys/fs.js';
import { processLive } from '../sys/proc.js';
import { needDecompressor, scanArchive, tarReadArgs, type ScanResult } from './scan.js';
import { refusal } from './tar-check.js';
import { show } from './tar.js';
import { gnuTarDifference, readSpool } from './tar-diff.js';
import { fetchText, fetchToFile, imageBaseUrl, indexUrl, isUrl, parseIndex, parseSha256Sums, pickImage, resolveServer } from './download.js';
import type { BuildResult, TemplateImportRecord, TemplateInfo, TemplateMeta, TemplateStore } from './store.js';

/** The default --max-size: what a template may unpack to (and the largest download). */
export const DEFAULT_MAX_SIZE = 8 * 1024 ** 3;
/** A meta tarball is small; more than this is not one. */
const MAX_META_ARCHIVE = 64 * 1024 * 1024;

const AFTER_UNPACK = 'the unpacked tree was removed and the template cache is unchanged';

// ---- names and metadata ------------------------------------------------------------------

const ARCHES: Record<string, string> = {
  x86_64: 'amd64',
  amd64: 'amd64',
  x64: 'amd64',
  aarch64: 'arm64',
  arm64: 'arm64',
  i386: 'i386',
  i486: 'i386',
  i586: 'i386',
  i686: 'i386',
  x86: 'i386',
  armhf: 'armhf',
  armv7l: 'armhf',
  ppc64le: 'ppc64el',
  ppc64el: 'ppc64el',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** Debian's name for an architecture (`x86_64` -> `amd64`), or undefined when unknown. */
export function normalizeArch(a: string): string | undefined {
  return ARCHES[a.toLowerCase()];
}

/** The host's architecture in Debian's words. */
export function hostArch(): string {
  return normalizeArch(process.arch === 'ia32' ? 'i386' : process.arch === 'arm' ? 'armhf' : process.arch === 'ppc64' ? 'ppc64el' : process.arch) ?? process.arch;
}

/** A template name made from free text: lower case, runs of other characters as one "-". */
export function templateNameFrom(text: string): string | undefined {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/\.{2,}/g, '.')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 64)
    .replace(/[^a-z0-9]+$/, '');
  try {
    return validateTemplateName(s);
  } catch {
    return undefined;
  }
}

export interface OpenvzName {
  os: string;
  version: string;
  /** Debian's name for it (`x86_64` -> `amd64`). */
  arch?: string;
  flavour?: string;
  /** The template name it gives: os-version[-flavour]. */
  name?: string;
}

/**
 * An OpenVZ template file name: `<os>-<version>-<arch>[-<flavour>].tar.<gz|xz|zst>`, e.g.
 * `centos-7-x86_64.tar.gz`, `ubuntu-22.04-x86_64-minimal.tar.gz`, `centos-stream-9-x86_64.tar.xz`.
 */
export function parseOpenvzName(file: string): OpenvzName | undefined {
  const base = path.basename(file).replace(/\.(tar\.(gz|xz|zst|zstd|bz2)|tgz|txz|tzst|tbz2?|tar)$/i, '');
  const t = base.split('-').filter(Boolean);
  const ai = t.findIndex((x, i) => i >= 2 && normalizeArch(x) !== undefined);
  let os: string[];
  let version: string;
  let flavour: string[];
  let arch: string | undefined;
  if (ai >= 2) {
    os = t.slice(0, ai - 1);
    version = t[ai - 1];
    arch = normalizeArch(t[ai]);
    flavour = t.slice(ai + 1);
  } else {
    const vi = t.findIndex((x, i) => i >= 1 && /^\d/.test(x));
    if (vi < 1) return undefined;
    os = t.slice(0, vi);
    version = t[vi];
    flavour = t.slice(vi + 1);
  }
  const r: OpenvzName = { os: os.join('-').toLowerCase(), version: version.toLowerCase(), arch, flavour: flavour.join('-').toLowerCase() || undefined };
  r.name = templateNameFrom([r.os, r.version, r.flavour].filter(Boolean).join('-'));
  return r;
}

/** What an LXC image's metadata.yaml says that we use. */
export interface LxcMetadata {
  arch?: string;
  created?: string;
  os?: string;
  release?: string;
  variant?: string;
  description?: string;
  serial?: string;
  /** The template name it gives: os-release[-variant unless "default"]. */
  name?: string;
}

export function parseLxcMetadata(text: string, label: string): LxcMetadata {
  let d: unknown;
  try {
    d = parseYaml(text);
  } catch (e) {
    throw refusal(label, `metadata.yaml is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw refusal(label, 'metadata.yaml is not a mapping');
  const m = d as Record<string, unknown>;
  const str = (v: unknown): string | undefined => (typeof v === 'string' || typeof v === 'number' ? String(v).slice(0, 256) : undefined);
  const props = (m.properties && typeof m.properties === 'object' && !Array.isArray(m.properties) ? m.properties : {}) as Record<string, unknown>;
  const archText = str(m.architecture) ?? str(props.architecture);
  if (archText === undefined) throw refusal(label, 'metadata.yaml names no architecture');
  const arch = normalizeArch(archText);
  if (!arch) throw refusal(label, `metadata.yaml names the unknown architecture ${JSON.stringify(archText)}`);
  const cd = Number(m.creation_date);
  const r: LxcMetadata = {
    arch,
    created: Number.isFinite(cd) && cd > 0 ? new Date(cd * 1000).toISOString() : undefined,
    os: str(props.os),
    release: str(props.release),
    variant: str(props.variant),
    description: str(props.description),
    serial: str(props.serial),
  };
  if (r.os && r.release) r.name = templateNameFrom(`${r.os}-${r.release}${r.variant && r.variant !== 'default' ? `-${r.variant}` : ''}`);
  return r;
}

// ---- the tree after unpacking ------------------------------------------------------------

/**
 * Whether `rel` exists in the tree, following symlinks as the container would see them
 * (absolute targets from the tree's root, `..` stopping at it): only lstat and readlink
 * inside `root`, never a host path.
 */
export async function existsInTree(root: string, rel: string): Promise<boolean> {
  let todo = rel.split('/').filter(Boolean);
  let cur: string[] = [];
  let hops = 0;
  while (todo.length) {
    const c = todo.shift() as string;
    if (c === '.') continue;
    if (c === '..') {
      cur.pop();
      continue;
    }
    const p = path.join(root, ...cur, c);
    const st = await fsp.lstat(p).catch(() => undefined);
    if (!st) return false;
    if (st.isSymbolicLink()) {
      if (++hops > 40) return false;
      const target = await fsp.readlink(p);
      if (target.startsWith('/')) cur = [];
      todo = [...target.split('/').filter(Boolean), ...todo];
      continue;
    }
    cur.push(c);
  }
  return true;
}

/** What the distro layer does to an unpacked tree to make it a template (Host passes it in). */
export type PrepareTemplate = (root: string) => Promise<{ os: OsInfo; result: { removed: string[]; notes: string[] } }>;

/**
 * Checks that an unpacked tree is a bootable system's root, then has the distro layer make it
 * a template (empty machine-id, no SSH host keys, keys made at first boot).
 */
export async function prepareTree(root: string, progress: Progress, label: string, prepare: PrepareTemplate): Promise<OsInfo> {
  if (!(await existsInTree(root, 'sbin/init'))) throw refusal(label, 'it holds no /sbin/init: it is not the root filesystem of a system that boots', AFTER_UNPACK);
  const etc = await fsp.lstat(path.join(root, 'etc')).catch(() => undefined);
  if (!etc?.isDirectory()) throw refusal(label, 'its /etc is not a directory', AFTER_UNPACK);
  const { os, result } = await prepare(root);
  const keys = result.removed.filter((f) => f.startsWith('/etc/ssh/'));
  if (keys.length) progress.info(`  removed the SSH host keys (${keys.length} files): each container makes its own`);
  for (const n of result.notes) progress.warn(n);
  return os;
}

// ---- the importer --------------------------------------------------------------------------

export interface ImportOptions {
  /** The template name [default: derived from the file name or the LXC metadata]. */
  name?: string;
  /** SHA-256 the rootfs archive (the OpenVZ tarball, or the LXC rootfs tarball) must have. */
  sha256?: string;
  /** Replace a template of the same name. */
  force?: boolean;
  /** Largest unpacked size (and download) accepted [default 8G]. */
  maxSize?: number;
  /** LXC: the rootfs tarball (file or URL) when the source is the meta tarball. */
  rootfs?: string;
}

export interface DownloadOptions extends Omit<ImportOptions, 'rootfs'> {
  arch?: string;
  variant?: string;
  /** The image server [default: $VPSCTL_IMAGE_SERVER]. */
  server?: string;
}

export type ImportResult = BuildResult;

/** `template info`: the metadata, plus what kind of template and where its image is. */
export interface TemplateDetails extends TemplateInfo {
  kind: 'recipe' | 'openvz' | 'lxc';
  from: string;
  image: string;
}

export function templateDetails(info: TemplateInfo, image: string): TemplateDetails {
  return { ...info, kind: info.import?.format ?? 'recipe', from: info.import?.from ?? info.source, image };
}

/** One archive to read: a local file, or a URL fetched into the work directory first. */
interface Source {
  /** A local path or an http(s) URL. */
  where: string;
  /** Its file name, for messages. */
  label: string;
}

/** An archive read and checked, ready to unpack. */
interface Checked {
  source: Source;
  scan: ScanResult;
  /** The file tar unpacks: our private copy (or download). */
  file: string;
  /** The device nodes tar skips, one name per line (none: undefined). */
  excludeFrom?: string;
}

export class TemplateImporter {
  private seq = 0;

  constructor(
    private readonly store: TemplateStore,
    private readonly layout: Layout,
    private readonly run: Runner,
    private readonly progress: Progress,
    /** Runs `fn` holding the template's lock (the one `template build` takes). */
    private readonly lock: <T>(name: string, fn: () => Promise<T>) => Promise<T>,
    private readonly prepare: PrepareTemplate,
  ) {}

  /** `template import SOURCE [ROOTFS]`. */
  async import(source: string, opts: ImportOptions = {}): Promise<ImportResult> {
    const o = this.options(opts);
    if (opts.rootfs !== undefined && isUrl(opts.rootfs)) checkUrl(opts.rootfs, 'ROOTFS');
    let pair: { meta: Source; rootfs: Source } | undefined;
    let single: Source | undefined;
    if (isUrl(source)) {
      checkUrl(source, 'SOURCE');
      const u = new URL(source);
      if (u.pathname.endsWith('/')) pair = { meta: urlSource(new URL('meta.tar.xz', u).href), rootfs: this.rootfsSource(opts.rootfs) ?? urlSource(new URL('rootfs.tar.xz', u).href) };
      else single = urlSource(source);
    } else {
      const abs = path.resolve(source);
      const st = await fsp.stat(abs).catch(() => undefined);
      if (!st) throw notFound(`${abs} does not exist`);
      if (st.isDirectory()) {
        const meta = path.join(abs, 'meta.tar.xz');
        if (!(await exists(meta))) throw notFound(`${abs} holds no meta.tar.xz`, 'a directory names an LXC image: meta.tar.xz and rootfs.tar.xz');
        pair = { meta: fileSource(meta), rootfs: this.rootfsSource(opts.rootfs) ?? fileSource(path.join(abs, 'rootfs.tar.xz')) };
      } else single = fileSource(abs);
    }
    if (o.name) await this.ensureFree(o.name, o.force);
    return this.inWork(async (work) => {
      const total = 6;
      this.progress.step(1, total, `checking ${pair ? `${pair.meta.label} and ${pair.rootfs.label}` : (single as Source).label}`);
      if (single) {
        // the first archive decides: an LXC meta tarball (metadata.yaml, no /etc) or a rootfs
        const first = await this.check(single, work, { capture: ['metadata.yaml'], maxSize: o.maxSize });
        // with ROOTFS given, SOURCE is the meta tarball (an LXC 1.x one may lack metadata.yaml)
        const meta = first.scan.captured.has('metadata.yaml') || opts.rootfs !== undefined;
        if (meta && !first.scan.topLevel.has('etc')) {
          const rootfs = this.rootfsSource(opts.rootfs) ?? siblingOf(single, 'rootfs.tar.xz');
          return this.importLxc(first, rootfs, work, o, single.where, total);
        }
        if (opts.rootfs !== undefined) throw invalid(`${single.label} is a root filesystem tarball itself: ROOTFS goes only with an LXC meta tarball`);
        return this.importOpenvz(first, work, o, total);
      }
      const p = pair as { meta: Source; rootfs: Source };
      const meta = await this.check(p.meta, work, { capture: ['metadata.yaml'], maxSize: MAX_META_ARCHIVE, noCopy: true });
      return this.importLxc(meta, p.rootfs, work, o, isUrl(source) ? source : path.resolve(source), total);
    });
  }

  /** `template download DIST RELEASE`: the newest build of the image on the server's index. */
  async download(dist: string, release: string, opts: DownloadOptions = {}): Promise<ImportResult> {
    const o = this.options(opts);
    const server = resolveServer(opts.server);
    const arch = opts.arch ?? hostArch();
    const variant = opts.variant ?? 'default';
    for (const [k, v] of [['DIST', dist], ['RELEASE', release], ['--arch', arch], ['--variant', variant]]) {
      if (!/^[A-Za-z0-9._:+~-]{1,64}$/.test(v)) throw invalid(`${k} ${JSON.stringify(v)} is not a name an image index uses`);
    }
    const name = o.name ?? templateNameFrom(`${dist}-${release}${variant !== 'default' ? `-${variant}` : ''}`);
    if (!name) throw invalid(`cannot make a template name of ${dist} ${release}`, 'give one with --name');
    await this.ensureFree(name, o.force);
    return this.inWork(async (work) => {
      const total = 6;
      this.progress.step(1, total, `looking up ${dist} ${release} ${arch} ${variant} on ${server}`);
      const index = await fetchText(indexUrl(server));
      const entry = pickImage(parseIndex(index ?? ''), { dist, release, arch, variant });
      if (!entry) throw notFound(`${server} has no image ${dist}/${release}/${arch}/${variant}`, `its index is ${indexUrl(server)}`);
      const base = imageBaseUrl(server, entry.path);
      this.progress.info(`  image ${entry.serial} at ${base}`);
      const sumsText = await fetchText(`${base}SHA256SUMS`, { optional: true });
      const sums = sumsText === undefined ? undefined : parseSha256Sums(sumsText);
      const got: Record<string, { file: string; sha256: string; size: number }> = {};
      for (const f of ['meta.tar.xz', 'rootfs.tar.xz']) {
        const dest = path.join(work, `dl-${++this.seq}-${f}`);
        const r = await fetchToFile(`${base}${f}`, dest, { maxBytes: f === 'meta.tar.xz' ? MAX_META_ARCHIVE : o.maxSize, progress: this.progress, label: f });
        if (!r) throw notFound(`${base}${f} does not exist`);
        if (sums) {
          const want = sums.get(f);
          if (!want) throw refusal(f, `the server's SHA256SUMS does not list it`);
          if (want !== r.sha256) throw refusal(f, `its SHA-256 ${r.sha256} does not match ${want} in the server's SHA256SUMS`);
        }
        if (f === 'rootfs.tar.xz' && o.sha256 && o.sha256 !== r.sha256) throw refusal(f, `its SHA-256 ${r.sha256} does not match --sha256 ${o.sha256}`);
        got[f] = r;
      }
      if (sums) this.progress.info('  both files match the server\'s SHA256SUMS');
      else if (!o.sha256) this.progress.warn(`${base} has no SHA256SUMS: the download is not verified (give --sha256 to verify the rootfs)`);
      const meta = await this.check({ where: got['meta.tar.xz'].file, label: 'meta.tar.xz' }, work, { capture: ['metadata.yaml'], maxSize: MAX_META_ARCHIVE, noCopy: true });
      const rootfs: Source = { where: got['rootfs.tar.xz'].file, label: 'rootfs.tar.xz' };
      // what the index says stands in for a meta tarball without metadata.yaml (lxc-download's format)
      const fromIndex: LxcMetadata = { arch: normalizeArch(entry.arch), os: dist, release, variant, serial: entry.serial, name };
      return this.importLxc(meta, rootfs, work, { ...o, name }, base, total, fromIndex);
    });
  }

  private options(opts: ImportOptions): { name?: string; sha256?: string; force: boolean; maxSize: number } {
    const maxSize = opts.maxSize ?? DEFAULT_MAX_SIZE;
    if (!Number.isSafeInteger(maxSize) || maxSize <= 0) throw invalid(`--max-size must be a positive size`);
    return {
      name: opts.name === undefined ? undefined : validateTemplateName(opts.name),
      sha256: opts.sha256 === undefined ? undefined : validateSha256(opts.sha256),
      force: !!opts.force,
      maxSize,
    };
  }

  private rootfsSource(rootfs: string | undefined): Source | undefined {
    if (rootfs === undefined) return undefined;
    return isUrl(rootfs) ? urlSource(rootfs) : fileSource(path.resolve(rootfs));
  }

  /** Refuses (exit 5) to overwrite a template unless --force. */
  private async ensureFree(name: string, force: boolean): Promise<void> {
    if (force) return;
    if ((await exists(this.layout.templateImage(name))) || (await exists(this.layout.templateMeta(name)))) {
      throw wrongState(`template ${name} already exists`, 'replace it with --force, or import under another --name');
    }
  }

  /** A work directory in the template cache for this run, always removed afterwards. */
  private async inWork<T>(fn: (work: string) => Promise<T>): Promise<T> {
    const dir = this.layout.templatesDir();
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    // work directories of imports whose process is gone (killed): nothing holds them
    for (const n of await fsp.readdir(dir).catch(() => [] as string[])) {
      const pid = Number(/^\.import-(\d+)-/.exec(n)?.[1] ?? NaN);
      if (Number.isInteger(pid) && pid !== process.pid && !processLive(pid)) await this.store.cleanupWork(path.join(dir, n));
    }
    const work = await fsp.mkdtemp(path.join(dir, `.import-${process.pid}-`));
    try {
      return await fn(work);
    } finally {
      await this.store.cleanupWork(work);
    }
  }

  /** Fetches a URL into the work directory (a local file is read where it is), then checks it. */
  private async check(src: Source, work: string, opts: { capture?: string[]; maxSize: number; noCopy?: boolean }): Promise<Checked> {
    let file = src.where;
    let privateFile = false;
    if (isUrl(src.where)) {
      file = path.join(work, `dl-${++this.seq}-${src.label.replace(/[^A-Za-z0-9._-]/g, '_')}`);
      await fetchToFile(src.where, file, { maxBytes: opts.maxSize, progress: this.progress, label: src.label });
      privateFile = true;
    } else if (file.startsWith(`${work}/`)) {
      privateFile = true;
    } else {
      const st = await fsp.stat(file).catch(() => undefined);
      if (!st) throw notFound(`${file} does not exist`);
      if (!st.isFile()) throw invalid(`${file} is not a regular file`);
    }
    const copyTo = privateFile || opts.noCopy ? undefined : path.join(work, `src-${++this.seq}`);
    // what tar may unpack is a private file: GNU tar's listing of it must agree with the checker
    const unpackable = copyTo ?? (privateFile ? file : undefined);
    const listTo = unpackable && path.join(work, `list-${++this.seq}`);
    const scan = await scanArchive(file, {
      label: src.label,
      maxSize: opts.maxSize,
      capture: opts.capture,
      copyTo,
      listTo,
      onProgress: (done, total) => this.progress.info(`  checking ${src.label}: ${formatSize(done)} of ${formatSize(total)}`),
    });
    this.progress.info(`  ${src.label}: ${scan.compression === 'none' ? 'tar' : `${scan.compression} tar`}, ${scan.entries} entries, about ${formatSize(scan.unpacked)} unpacked, sha256 ${scan.sha256}`);
    let excludeFrom: string | undefined;
    if (scan.dropped.length) {
      excludeFrom = path.join(work, `devices-${++this.seq}`);
      await fsp.writeFile(excludeFrom, Buffer.from(scan.dropped.map((n) => `${n}\n`).join(''), 'latin1'), { mode: 0o600, flag: 'wx' });
      this.progress.info(`  ${src.label}: dropping its ${scan.dropped.length} device node${scan.dropped.length === 1 ? '' : 's'} (${scan.dropped.slice(0, 3).map((n) => show(n)).join(', ')}${scan.dropped.length > 3 ? ', ...' : ''}): a container's /dev is made at its start`);
    }
    if (unpackable && listTo) {
      needDecompressor(scan.compression);
      const diff = await gnuTarDifference(tarReadArgs(unpackable, scan.compression, excludeFrom), readSpool(listTo));
      if (diff) throw refusal(src.label, diff);
      await fsp.rm(listTo, { force: true });
      this.progress.info(`  ${src.label}: GNU tar lists the same ${scan.entries} entries`);
    }
    return { source: src, scan, file: unpackable ?? file, excludeFrom };
  }

  private verifySha(checked: Checked, want: string | undefined): void {
    if (want && want !== checked.scan.sha256) {
      throw refusal(checked.source.label, `its SHA-256 ${checked.scan.sha256} does not match --sha256 ${want}`);
    }
  }

  private checkArch(arch: string | undefined, label: string): string {
    const host = hostArch();
    if (arch && arch !== host) throw refusal(label, `it is built for ${arch} and this host runs ${host}`);
    return arch ?? host;
  }

  private async importOpenvz(c: Checked, work: string, o: { name?: string; sha256?: string; force: boolean; maxSize: number }, total: number): Promise<ImportResult> {
    this.verifySha(c, o.sha256);
    const parsed = parseOpenvzName(c.source.label);
    const name = o.name ?? parsed?.name;
    if (!name) throw invalid(`cannot make a template name of ${JSON.stringify(c.source.label)}`, 'name OpenVZ templates os-version-arch[-flavour].tar.gz (e.g. centos-7-x86_64.tar.gz) or give --name');
    const arch = this.checkArch(parsed?.arch, c.source.label);
    const record: TemplateImportRecord = {
      format: 'openvz',
      from: c.source.where,
      files: [fileRecord(c)],
      ...(parsed?.flavour ? { flavour: parsed.flavour } : {}),
    };
    return this.unpackAndPack(name, c, work, o.force, total, (os) => {
      if (parsed && os.id !== 'unknown' && !parsed.os.startsWith(os.id) && !os.id.startsWith(parsed.os)) {
        this.progress.warn(`${c.source.label} is named for ${parsed.os} but its /etc/os-release says ${os.id}: the template records ${os.id}`);
      }
      return this.openvzMeta(os, parsed, c, arch, record);
    });
  }

  private openvzMeta(os: OsInfo, parsed: OpenvzName | undefined, c: Checked, arch: string, record: TemplateImportRecord): TemplateMeta {
    return {
      description: `${os.prettyName !== 'unknown' ? os.prettyName : `${parsed?.os ?? 'unknown'} ${parsed?.version ?? ''}`.trim()}${parsed?.flavour ? ` (${parsed.flavour})` : ''}, imported from ${c.source.label}`,
      os: os.id !== 'unknown' ? os.id : (parsed?.os ?? 'unknown'),
      version: os.version || parsed?.version || '',
      arch,
      source: `import openvz ${c.source.where}`,
      packages: [],
      import: record,
    };
  }

  /**
   * An LXC image: names and arch from metadata.yaml (incus/LXD-style meta tarballs have one);
   * a meta tarball without it (LXC 1.x: config, templates) takes them from the server's index
   * (`download`), or needs --name (its arch is then taken to be the host's).
   */
  private async importLxc(meta: Checked, rootfsSrc: Source, work: string, o: { name?: string; sha256?: string; force: boolean; maxSize: number }, from: string, total: number, fromIndex?: LxcMetadata): Promise<ImportResult> {
    const downloaded = fromIndex !== undefined;
    const text = meta.scan.captured.get('metadata.yaml');
    if (!text && !fromIndex && !o.name) throw refusal(meta.source.label, 'it holds no metadata.yaml to name the template by (an LXC image\'s meta tarball has one at its top): give --name');
    const md: LxcMetadata = text ? parseLxcMetadata(text.toString('utf8'), meta.source.label) : (fromIndex ?? {});
    const name = o.name ?? md.name;
    if (!name) throw invalid(`cannot make a template name of ${meta.source.label}: its metadata.yaml has no properties.os and properties.release`, 'give one with --name');
    const arch = this.checkArch(md.arch, meta.source.label);
    if (!o.name) await this.ensureFree(name, o.force);
    if (!isUrl(rootfsSrc.where) && !(await exists(rootfsSrc.where))) {
      throw notFound(`${rootfsSrc.where} does not exist`, 'an LXC image is a meta tarball plus its rootfs tarball: give the rootfs as ROOTFS, or put rootfs.tar.xz beside the meta tarball');
    }
    const rootfs = await this.check(rootfsSrc, work, { maxSize: o.maxSize });
    this.verifySha(rootfs, o.sha256);
    const record: TemplateImportRecord = {
      format: 'lxc',
      from,
      files: [
        fileRecord(meta),
        fileRecord(rootfs),
      ],
      ...(md.variant ? { flavour: md.variant } : {}),
      ...(md.serial || md.created ? { serial: md.serial ?? md.created } : {}),
    };
    return this.unpackAndPack(name, rootfs, work, o.force, total, (os) => ({
      description: md.description ?? (os.prettyName !== 'unknown' ? os.prettyName : `${md.os ?? 'unknown'} ${md.release ?? ''}`.trim()),
      os: os.id !== 'unknown' ? os.id : (md.os?.toLowerCase() ?? 'unknown'),
      version: os.version || md.release || '',
      arch,
      source: `${downloaded ? 'download' : 'import'} lxc ${from}`,
      packages: [],
      import: record,
    }));
  }

  /** Under the template's lock: unpack the checked archive, prepare the tree, pack it. */
  private unpackAndPack(name: string, c: Checked, work: string, force: boolean, total: number, meta: (os: OsInfo) => TemplateMeta): Promise<ImportResult> {
    validateTemplateName(name);
    return this.lock(name, async () => {
      await this.ensureFree(name, force);
      if (c.scan.foreignIds) this.progress.warn(`${c.scan.foreignIds} entries of ${c.source.label} belong to uids or gids beyond 65535, which no container's id range maps`);
      this.progress.step(2, total, `unpacking ${c.source.label}`);
      const rootfs = path.join(work, 'rootfs');
      await fsp.mkdir(rootfs, { mode: 0o755 });
      await fsp.chmod(rootfs, 0o755);
      needDecompressor(c.scan.compression);
      const r = await this.run.run('tar', ['--extract', ...tarReadArgs(c.file, c.scan.compression, c.excludeFrom), `--directory=${rootfs}`, '--same-owner', '--same-permissions', '--warning=no-timestamp'], { reject: false });
      if (r.exitCode !== 0) {
        if (/No space left/.test(r.stderr)) throw new VpsError(ExitCode.NO_RESOURCES, `out of disk space in the pool unpacking ${c.source.label}`, { hint: 'free space in the pool (vpsctl pool info shows it)' });
        throw failed(`tar could not unpack ${c.source.label}: ${r.stderr.trim().split('\n').slice(-3).join('; ')}`);
      }
      this.progress.step(3, total, 'preparing the tree for containers');
      const os = await prepareTree(rootfs, this.progress, c.source.label, this.prepare);
      this.progress.info(`  ${os.prettyName}`);
      return this.store.pack(name, rootfs, work, meta(os), this.progress, { first: 4, total });
    });
  }
}

/** An archive as the template's record keeps it: what was verified, and what was dropped. */
function fileRecord(c: Checked): TemplateImportRecord['files'][number] {
  return { name: c.source.label, size: c.scan.size, sha256: c.scan.sha256, ...(c.scan.dropped.length ? { devicesDropped: c.scan.dropped.length } : {}) };
}

function fileSource(p: string): Source {
  return { where: p, label: path.basename(p) };
}

function urlSource(u: string): Source {
  const label = decodeURIComponent(new URL(u).pathname.split('/').filter(Boolean).pop() ?? 'download');
  return { where: u, label };
}

/** `rootfs.tar.xz` beside a meta tarball: in the same directory, or at the same URL base. */
function siblingOf(src: Source, name: string): Source {
  if (isUrl(src.where)) return urlSource(new URL(name, src.where).href);
  return fileSource(path.join(path.dirname(src.where), name));
}
