import { withLock } from '../sys/lock.js';
import type { Runner } from '../sys/exec.js';
import { validateTemplateName } from '../base/ids.js';
import type { Layout } from '../base/settings.js';
import type { Progress } from '../base/types.js';
import type { Pool } from '../storage/pool.js';
import type { BuildOptions, BuildResult, TemplateInfo, TemplateStore } from '../templates/store.js';
import { prepareTemplate } from '../distro/index.js';

/** What the template commands need. */
export interface TemplateOpsDeps {
  readonly pool: Pool;
  readonly layout: Layout;
  readonly sys: Runner;
  readonly progress: Progress;
  readonly templates: TemplateStore;
}

/** `template build|list|import|download|remove|info`, each under its template's lock; the importer loads only when one of them runs. */
export class TemplateOps {
  constructor(private readonly h: TemplateOpsDeps) {}

  async buildTemplate(name: string, opts: BuildOptions = {}): Promise<BuildResult> {
    await this.h.pool.ensure();
    return withLock(this.h.layout.templateLockFile(validateTemplateName(name)), 'template build', `template ${name}`, () => this.h.templates.build(name, opts, this.h.progress));
  }

  async listTemplates(): Promise<TemplateInfo[]> {
    await this.h.pool.ensure();
    return this.h.templates.list();
  }

  async importTemplate(source: string, opts: import('../templates/import.js').ImportOptions = {}): Promise<BuildResult> {
    await this.h.pool.ensure();
    return (await this.templateImporter()).import(source, opts);
  }

  async downloadTemplate(dist: string, release: string, opts: import('../templates/import.js').DownloadOptions = {}): Promise<BuildResult> {
    await this.h.pool.ensure();
    return (await this.templateImporter()).download(dist, release, opts);
  }

  /** Containers are clones, so none depends on a template; a build or import of it (its lock) blocks removal. */
  async removeTemplate(name: string): Promise<{ name: string; removed: string[] }> {
    await this.h.pool.ensure();
    return withLock(this.h.layout.templateLockFile(validateTemplateName(name)), 'template remove', `template ${name}`, () => this.h.templates.remove(name));
  }

  async templateInfo(name: string): Promise<import('../templates/import.js').TemplateDetails> {
    await this.h.pool.ensure();
    const { templateDetails } = await import('../templates/import.js');
    return templateDetails(await this.h.templates.get(name), this.h.layout.templateImage(name));
  }

  private async templateImporter(): Promise<import('../templates/import.js').TemplateImporter> {
    const { TemplateImporter } = await import('../templates/import.js');
    return new TemplateImporter(this.h.templates, this.h.layout, this.h.sys, this.h.progress, (name, fn) =>
      withLock(this.h.layout.templateLockFile(validateTemplateName(name)), 'template import', `template ${name}`, fn),
      prepareTemplate,
    );
  }
}
