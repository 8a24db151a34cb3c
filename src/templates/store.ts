import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml, stringify } from 'yaml';
import { ExitCode, VpsError, hostNotReady, notFound } from '../base/errors.js';
import { validateTemplateName } from '../base/ids.js';
import type { Layout } from '../base/settings.js';
import type { Progress } from '../base/types.js';
import { unmountUnder, type Runner } from '../sys/exec.js';
import { which } from '../sys/proc.js';
import { exists, readText, removeInside, resolveInside, writeFileAtomic, writeInside } from '../sys/fs.js';
import type { ImageStore } from '../storage/image.js';
import { debootstrapArgv, dnfArgv, resolveMirror } from './builders.js';
import { hostDebianMirror, loadRecipe, type Recipe } from './recipe.js';

/** Metadata stored beside each template image: `<pool>/templates/<name>.yaml`. */
export interface TemplateInfo {
  name: string;
  description: string;
  os: string;
  version: string;
  arch: string;
  created: string;
  /** Where it came from: `debootstrap <suite> <mirror>`, later `import <file>`. */
  source: string;
  /** Size of the filesystem in the image (the smallest disk a container can have). */
  size: number;
  /** Bytes in use inside it. */
  used: number;
  packages: string[];
  /** Templates made by `template import`/`download` (absent for recipe builds): what the archives were. */
  import?: TemplateImportRecord;
}

/** Where an imported template came from (`template info` shows it). */
export interface TemplateImportRecord {
  /** `openvz`: a precreated template tarball; `lxc`: an LXC image (meta + rootfs tarballs). */
  format: 'openvz' | 'lxc';
  /** The file or URL given (for `download`: the image's directory on the server). */
  from: string;
  /** Each archive read: its name, size and SHA-256, as verified before unpacking, and how many device nodes it held that were not unpacked. */
  files: { name: string; size: number; sha256: string; devicesDropped?: number }[];
  /** The flavour in an OpenVZ template name (`minimal`), or the LXC image variant. */
  flavour?: string;
  /** The LXC image's serial or creation date, when the image says. */
  serial?: string;
}

/** What a template's metadata records besides what `pack` measures (name, created, size, used). */
export type TemplateMeta = Omit<TemplateInfo, 'name' | 'created' | 'size' | 'used'>;

export interface BuildOptions {
  force?: boolean;
  mirror?: string;
}

export interface BuildResult {
  template: TemplateInfo;
  built: boolean;
  image: string;
}

/** The template cache in the pool, and the builder that fills it from recipes. */
export class TemplateStore {
  constructor(
    private readonly layout: Layout,
    private readonly run: Runner,
    private readonly images: ImageStore,
    private readonly recipes: string,
    private readonly settingsMirror?: string,
    private readonly cacheDir?: string,
    /** Host settings `mirrors:`: a mirror per OS (ubuntu, centos, almalinux, rocky, debian). */
    private readonly mirrors: Record<string, string> = {},
  ) {}

  async list(): Promise<TemplateInfo[]> {
    const names = await fsp.readdir(this.layout.templatesDir()).catch(() => [] as string[]);
    const out: TemplateInfo[] = [];
    for (const n of names.filter((x) => x.endsWith('.yaml')).sort()) {
      const name = n.slice(0, -5);
      if (!(await exists(this.layout.templateImage(name)))) continue;
      try {
        out.push(await this.get(name));
      } catch {
        /* a broken entry is skipped by list; `template info` reports it */
      }
    }
    return out;
  }

  async get(name: string): Promise<TemplateInfo> {
    validateTemplateName(name);
    const meta = await readText(this.layout.templateMeta(name));
    if (meta === undefined || !(await exists(this.layout.templateImage(name)))) {
      throw notFound(`template ${name} is not in the cache`, `build it with: vpsctl template build ${name}`);
    }
    const d = parseYaml(meta) as TemplateInfo;
    if (!d || typeof d !== 'object' || d.name !== name || !Number.isFinite(d.size)) {
      throw new VpsError(ExitCode.FAILED, `${this.layout.templateMeta(name)} is damaged`, { hint: `rebuild with: vpsctl template build ${name} --force` });
    }
    return d;
  }

  /** Picks the mirror: --mirror, host config, the host's own apt sources, else debootstrap's default. */
  async mirrorFor(recipe: Recipe, override?: string): Promise<string | undefined> {
    if (override || recipe.os !== 'debian' || this.settingsMirror || this.mirrors.debian || recipe.debootstrap.mirror === 'default') {
      return resolveMirror(recipe, { override, settingsMirror: this.settingsMirror, mirrors: this.mirrors });
    }
    const sources: { name: string; text: string }[] = [];
    const main = await readText('/etc/apt/sources.list');
    if (main) sources.push({ name: 'sources.list', text: main });
    for (const n of (await fsp.readdir('/etc/apt/sources.list.d').catch(() => [] as string[])).sort()) {
      const t = await readText(path.join('/etc/apt/sources.list.d', n));
      if (t) sources.push({ name: n, text: t });
    }
    return resolveMirror(recipe, { hostDebian: hostDebianMirror(sources) });
  }

  async build(name: string, opts: BuildOptions, progress: Progress): Promise<BuildResult> {
    validateTemplateName(name);
    const recipe = await loadRecipe(this.recipes, name);
    const img = this.layout.templateImage(name);
    if (!opts.force && (await exists(img)) && (await exists(this.layout.templateMeta(name)))) {
      progress.info(`template ${name} is already built (use --force to rebuild)`);
      return { template: await this.get(name), built: false, image: img };
    }
    await this.requireTools([recipe.builder === 'dnf' ? 'dnf' : 'debootstrap', 'mkfs.ext4', 'e2fsck']);
    await fsp.mkdir(this.layout.templatesDir(), { recursive: true, mode: 0o700 });
    await this.cleanupStale(name);
    const work = path.join(this.layout.templatesDir(), `.build-${name}-${randomBytes(4).toString('hex')}`);
    const rootfs = path.join(work, 'rootfs');
    const steps = 5;
    try {
      await fsp.mkdir(rootfs, { recursive: true, mode: 0o755 });
      const mirror = await this.mirrorFor(recipe, opts.mirror);
      if (recipe.builder === 'dnf') {
        await this.runDnf(recipe, rootfs, mirror as string, progress, steps);
      } else {
      progress.step(1, steps, `debootstrap ${recipe.debootstrap.suite} (${recipe.debootstrap.variant}, ${recipe.packages.length} extra packages) from ${mirror ?? "debootstrap's default mirror"}`);
      const args = debootstrapArgv(recipe, rootfs, mirror, this.cacheDir ? path.join(this.cacheDir, 'debootstrap') : undefined);
      if (this.cacheDir) await fsp.mkdir(path.join(this.cacheDir, 'debootstrap'), { recursive: true, mode: 0o755 });
      let n = 0;
      const r = await this.run.run('debootstrap', args, {
        reject: false,
        onLine: (line) => {
          if (/^I: (Retrieving|Validating|Extracting|Installing|Unpacking|Configuring|Base system)/.test(line)) {
            n++;
            if (/^I: (Retrieving Release|Validating Packages|Installing core|Unpacking the base|Configuring the base|Base system)/.test(line) || n % 25 === 0) {
              progress.info(`  ${line.slice(3)}`);
            }
          }
        },
      });
      if (r.exitCode !== 0) {
        const log = await readText(path.join(rootfs, 'debootstrap/debootstrap.log'));
        throw new VpsError(ExitCode.FAILED, `debootstrap failed (exit ${r.exitCode}): ${(r.stderr || '').trim().split('\n').slice(-3).join('; ')}${log ? `\n${log.trim().split('\n').slice(-5).join('\n')}` : ''}`, {
          hint: 'check the mirror (--mirror URL) and the network; the build left nothing behind',
        });
      }
      }
      progress.step(2, steps, 'configuring the tree for a container');
      await this.configure(rootfs, recipe);
      return await this.pack(
        name,
        rootfs,
        work,
        {
          description: recipe.description,
          os: recipe.os,
          version: recipe.version,
          arch: recipe.arch,
          source: recipe.builder === 'dnf' ? `dnf ${recipe.name} ${mirror}` : `debootstrap ${recipe.debootstrap.suite}${mirror ? ` ${mirror}` : ''}`,
          packages: recipe.packages,
        },
        progress,
        { first: 3, total: steps },
      );
    } finally {
      await this.cleanupWork(work);
    }
  }

  /** The EL family's builder: dnf --installroot from the recipe's repos under the mirror. */
  private async runDnf(recipe: Recipe, rootfs: string, mirror: string, progress: Progress, steps: number): Promise<void> {
    progress.step(1, steps, `dnf install of ${recipe.packages.length} packages into a fresh tree from ${mirror}`);
    const cache = this.cacheDir ? path.join(this.cacheDir, 'dnf') : undefined;
    if (cache) await fsp.mkdir(cache, { recursive: true, mode: 0o755 });
    const r = await this.run.run('dnf', dnfArgv(recipe, rootfs, mirror, cache), {
      reject: false,
      onLine: (line) => {
        if (/^(Installing|Downloading Packages|Running transaction|Complete!)/.test(line)) progress.info(`  ${line.trim()}`);
      },
    });
    if (r.exitCode !== 0) {
      throw new VpsError(ExitCode.FAILED, `dnf failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join('; ')}`, {
        hint: 'check the mirror (--mirror URL: the root holding the repos) and the network; the build left nothing behind',
      });
    }
  }

  /**
   * Packs a prepared tree into the template cache: an ext4 image sized to the tree, checked,
   * then `<pool>/templates/NAME.img` and its metadata `NAME.yaml` (what list() and get() read).
   * The image is made in `work` and renamed into place, so a failure leaves the cache as it
   * was. Shared by `build` and `template import`; the caller holds the template's lock.
   */
  async pack(name: string, rootfs: string, work: string, meta: TemplateMeta, progress: Progress, step: { first: number; total: number }): Promise<BuildResult> {
    validateTemplateName(name);
    const img = this.layout.templateImage(name);
    const tmpImg = path.join(work, `${name}.img`);
    progress.step(step.first, step.total, 'packing the ext4 image');
    const du = await this.run.run('du', ['-s', '-x', '--block-size=1', rootfs]);
    const used = Number(du.stdout.split(/\s/)[0]);
    // room for the journal and inode tables, then some; containers grow it at create
    const size = Math.ceil((used * 1.3 + 256 * 1024 ** 2) / 1024 ** 2) * 1024 ** 2;
    await this.images.mkfsFromDir(rootfs, tmpImg, size);
    progress.step(step.first + 1, step.total, 'checking the image');
    await this.images.check(tmpImg, true);
    const fsInfo = await this.images.info(tmpImg);
    progress.step(step.first + 2, step.total, 'recording the template');
    // the keys in the order recipe builds always wrote them; `import` only for imports
    const info: TemplateInfo = {
      name,
      description: meta.description,
      os: meta.os,
      version: meta.version,
      arch: meta.arch,
      created: new Date().toISOString(),
      source: meta.source,
      size: fsInfo.size,
      used: fsInfo.used,
      packages: meta.packages,
      ...(meta.import ? { import: meta.import } : {}),
    };
    await fsp.chmod(tmpImg, 0o600);
    await fsp.rename(tmpImg, img);
    await writeFileAtomic(this.layout.templateMeta(name), `# vpsctl template ${name}\n${stringify(info)}`, 0o600);
    return { template: info, built: true, image: img };
  }

  /**
   * Removes a template from the cache: its image and metadata (a broken entry too). Containers
   * are clones, so none depends on it; the caller holds the template's lock.
   */
  async remove(name: string): Promise<{ name: string; removed: string[] }> {
    validateTemplateName(name);
    const files = [this.layout.templateImage(name), this.layout.templateMeta(name)];
    const present: string[] = [];
    for (const f of files) if (await exists(f)) present.push(f);
    if (!present.length) throw notFound(`template ${name} is not in the cache`, 'see `vpsctl template list`');
    // the metadata first: list() and get() see an entry only while both are there
    for (const f of [...files].reverse()) await fsp.rm(f, { force: true });
    return { name, removed: present };
  }

  /** Applies the recipe's files, removals and masks to a fresh tree. */
  private async configure(rootfs: string, recipe: Recipe): Promise<void> {
    for (const f of recipe.files) {
      const rel = f.path.slice(1);
      const parent = await resolveInside(rootfs, path.dirname(rel));
      await fsp.mkdir(parent, { recursive: true, mode: 0o755 });
      await writeInside(rootfs, rel, f.content, f.mode);
    }
    for (const r of recipe.remove) await removeInside(rootfs, r.slice(1));
    for (const unit of recipe.mask) {
      const rel = `etc/systemd/system/${unit}`;
      await removeInside(rootfs, rel);
      await fsp.symlink('/dev/null', await resolveInside(rootfs, rel));
    }
    await writeInside(rootfs, 'etc/machine-id', '', 0o444);
    // packages already downloaded are in the debootstrap cache; the image need not carry them
    const archives = await resolveInside(rootfs, 'var/cache/apt/archives');
    for (const n of await fsp.readdir(archives).catch(() => [] as string[])) {
      if (n.endsWith('.deb')) await fsp.rm(path.join(archives, n), { force: true });
    }
    await fsp.rm(await resolveInside(rootfs, 'debootstrap'), { recursive: true, force: true });
  }

  /** Unmounts whatever debootstrap left mounted in the work dir, then removes it (never crossing a mount). */
  async cleanupWork(work: string): Promise<void> {
    await unmountUnder(this.run, work);
    await this.run.run('rm', ['-rf', '--one-file-system', '--', work], { reject: false });
  }

  /** Build trees of this template left by a build that was killed (we hold its lock: none is live). */
  private async cleanupStale(name: string): Promise<void> {
    const names = await fsp.readdir(this.layout.templatesDir()).catch(() => [] as string[]);
    for (const n of names.filter((x) => x.startsWith(`.build-${name}-`))) await this.cleanupWork(path.join(this.layout.templatesDir(), n));
  }

  private async requireTools(tools: string[]): Promise<void> {
    for (const t of tools) {
      if (!which(t)) {
        const pkg = t === 'debootstrap' ? 'debootstrap' : 'e2fsprogs';
        throw hostNotReady(`${t} is not installed`, `apt-get install ${pkg}`);
      }
    }
  }
}
