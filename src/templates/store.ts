import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml, stringify } from 'yaml';
import { ExitCode, VpsError, hostNotReady, notFound } from '../core/errors.js';
import { validateTemplateName } from '../core/ids.js';
import type { Layout } from '../core/settings.js';
import type { Progress } from '../core/types.js';
import { unmountUnder, type Runner } from '../sys/exec.js';
import { which } from '../sys/proc.js';
import { exists, readText, removeInside, resolveInside, writeFileAtomic, writeInside } from '../sys/fs.js';
import type { ImageStore } from '../storage/image.js';
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
}

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
    if (override) return override;
    if (this.settingsMirror) return this.settingsMirror;
    if (recipe.debootstrap.mirror === 'default') return undefined;
    const sources: { name: string; text: string }[] = [];
    const main = await readText('/etc/apt/sources.list');
    if (main) sources.push({ name: 'sources.list', text: main });
    for (const n of (await fsp.readdir('/etc/apt/sources.list.d').catch(() => [] as string[])).sort()) {
      const t = await readText(path.join('/etc/apt/sources.list.d', n));
      if (t) sources.push({ name: n, text: t });
    }
    return recipe.os === 'debian' ? hostDebianMirror(sources) : undefined;
  }

  async build(name: string, opts: BuildOptions, progress: Progress): Promise<BuildResult> {
    validateTemplateName(name);
    const recipe = await loadRecipe(this.recipes, name);
    const img = this.layout.templateImage(name);
    if (!opts.force && (await exists(img)) && (await exists(this.layout.templateMeta(name)))) {
      progress.info(`template ${name} is already built (use --force to rebuild)`);
      return { template: await this.get(name), built: false, image: img };
    }
    await this.requireTools(['debootstrap', 'mkfs.ext4', 'e2fsck']);
    await fsp.mkdir(this.layout.templatesDir(), { recursive: true, mode: 0o700 });
    await this.cleanupStale(name);
    const work = path.join(this.layout.templatesDir(), `.build-${name}-${randomBytes(4).toString('hex')}`);
    const rootfs = path.join(work, 'rootfs');
    const tmpImg = path.join(work, `${name}.img`);
    const steps = 5;
    try {
      await fsp.mkdir(rootfs, { recursive: true, mode: 0o755 });
      const mirror = await this.mirrorFor(recipe, opts.mirror);
      progress.step(1, steps, `debootstrap ${recipe.debootstrap.suite} (${recipe.debootstrap.variant}, ${recipe.packages.length} extra packages) from ${mirror ?? "debootstrap's default mirror"}`);
      const args = [
        `--variant=${recipe.debootstrap.variant}`,
        `--arch=${recipe.arch}`,
        `--components=${recipe.debootstrap.components.join(',')}`,
        ...(recipe.packages.length ? [`--include=${recipe.packages.join(',')}`] : []),
        ...(this.cacheDir ? [`--cache-dir=${path.join(this.cacheDir, 'debootstrap')}`] : []),
        recipe.debootstrap.suite,
        rootfs,
        ...(mirror ? [mirror] : []),
      ];
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
      progress.step(2, steps, 'configuring the tree for a container');
      await this.configure(rootfs, recipe);
      progress.step(3, steps, 'packing the ext4 image');
      const du = await this.run.run('du', ['-s', '-x', '--block-size=1', rootfs]);
      const used = Number(du.stdout.split(/\s/)[0]);
      // room for the journal and inode tables, then some; containers grow it at create
      const size = Math.ceil((used * 1.3 + 256 * 1024 ** 2) / 1024 ** 2) * 1024 ** 2;
      await this.images.mkfsFromDir(rootfs, tmpImg, size);
      progress.step(4, steps, 'checking the image');
      await this.images.check(tmpImg, true);
      const fsInfo = await this.images.info(tmpImg);
      progress.step(5, steps, 'recording the template');
      const info: TemplateInfo = {
        name,
        description: recipe.description,
        os: recipe.os,
        version: recipe.version,
        arch: recipe.arch,
        created: new Date().toISOString(),
        source: `debootstrap ${recipe.debootstrap.suite}${mirror ? ` ${mirror}` : ''}`,
        size: fsInfo.size,
        used: fsInfo.used,
        packages: recipe.packages,
      };
      await fsp.chmod(tmpImg, 0o600);
      await fsp.rename(tmpImg, img);
      await writeFileAtomic(this.layout.templateMeta(name), `# vpsctl template ${name}\n${stringify(info)}`, 0o600);
      return { template: info, built: true, image: img };
    } finally {
      await this.cleanupWork(work);
    }
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
  private async cleanupWork(work: string): Promise<void> {
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
