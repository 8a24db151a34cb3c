import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { invalid, notFound } from '../base/errors.js';
import { TEMPLATE_RE } from '../base/ids.js';

export interface RecipeFile {
  path: string;
  content: string;
  mode: number;
}

/** A template recipe from `templates/<name>.yaml`, validated. */
export interface Recipe {
  name: string;
  description: string;
  os: string;
  version: string;
  codename?: string;
  arch: string;
  builder: 'debootstrap' | 'dnf';
  /** debootstrap recipes (Debian, Ubuntu); dnf ones carry a neutral copy (mirror 'default'). */
  debootstrap: { suite: string; variant: string; components: string[]; mirror: string; keyring?: string };
  /** dnf recipes (the EL family): repos under the mirror's root, and the distro's GPG keys there. */
  dnf?: { releasever: string; mirror: 'required'; repos: { id: string; path: string }[]; gpgKeys: string[] };
  packages: string[];
  files: RecipeFile[];
  remove: string[];
  mask: string[];
  machineId: 'empty';
}

const TOP = new Set(['name', 'description', 'os', 'version', 'codename', 'arch', 'builder', 'debootstrap', 'dnf', 'packages', 'files', 'remove', 'mask', 'machine_id']);
const PKG_RE = /^[A-Za-z0-9][A-Za-z0-9+._-]+$/;
const ABS_RE = /^\/[A-Za-z0-9._@/+-]+$/;
const UNIT_RE = /^[A-Za-z0-9@._:-]+\.(service|socket|mount|target|timer|path|automount|swap)$/;

function fail(file: string, msg: string): never {
  throw invalid(`recipe ${file}: ${msg}`);
}

export function parseRecipe(text: string, file: string): Recipe {
  let d: Record<string, unknown>;
  try {
    d = parseYaml(text) as Record<string, unknown>;
  } catch (e) {
    fail(file, `not valid YAML: ${(e as Error).message}`);
  }
  if (!d || typeof d !== 'object') fail(file, 'not a mapping');
  for (const k of Object.keys(d)) if (!TOP.has(k)) fail(file, `unknown key ${JSON.stringify(k)}`);
  const s = (k: string, v: unknown = d[k]): string => {
    if (typeof v !== 'string' && typeof v !== 'number') fail(file, `${k} must be a string`);
    return String(v);
  };
  const list = (k: string, re: RegExp, v: unknown = d[k]): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) fail(file, `${k} must be a list`);
    return v.map((x, i) => {
      const str = s(`${k}[${i}]`, x);
      if (!re.test(str) || str.includes('..')) fail(file, `${k}[${i}] ${JSON.stringify(str)} is not allowed`);
      return str;
    });
  };
  const name = s('name');
  if (!TEMPLATE_RE.test(name)) fail(file, `name ${JSON.stringify(name)} is not a valid template name`);
  if (d.builder !== 'debootstrap' && d.builder !== 'dnf') fail(file, `builder ${JSON.stringify(d.builder)} is not supported (debootstrap, dnf)`);
  let dnf: Recipe['dnf'];
  if (d.builder === 'dnf') {
    const x = d.dnf as Record<string, unknown>;
    if (!x || typeof x !== 'object') fail(file, 'dnf: section missing');
    const releasever = s('dnf.releasever', x.releasever);
    if (!/^[0-9][0-9a-z.-]*$/.test(releasever)) fail(file, 'dnf.releasever is not a release');
    if (x.mirror !== 'required') fail(file, 'dnf.mirror must be "required" (the URL comes from --mirror or mirrors: in the host settings)');
    if (!Array.isArray(x.repos) || x.repos.length === 0) fail(file, 'dnf.repos must be a non-empty list');
    const repos = x.repos.map((r: Record<string, unknown>, i: number) => {
      const id = s(`dnf.repos[${i}].id`, r?.id);
      const rp = s(`dnf.repos[${i}].path`, r?.path);
      if (!/^[a-z0-9_-]+$/.test(id)) fail(file, `dnf.repos[${i}].id is not a repo id`);
      if (!/^[A-Za-z0-9._/-]+$/.test(rp) || rp.includes('..') || rp.startsWith('/')) fail(file, `dnf.repos[${i}].path must be relative to the mirror`);
      return { id, path: rp };
    });
    dnf = { releasever, mirror: 'required', repos, gpgKeys: list('dnf.gpg_keys', /^[A-Za-z0-9._-]+$/, x.gpg_keys) };
    if (dnf.gpgKeys.length === 0) fail(file, 'dnf.gpg_keys: a dnf recipe must name the distro\'s GPG keys');
  }
  const db = (d.builder === 'dnf' ? { suite: 'none', mirror: 'default' } : d.debootstrap) as Record<string, unknown>;
  if (!db || typeof db !== 'object') fail(file, 'debootstrap: section missing');
  const suite = s('debootstrap.suite', db.suite);
  if (!/^[a-z0-9-]+$/.test(suite)) fail(file, 'debootstrap.suite is not a suite name');
  const variant = s('debootstrap.variant', db.variant ?? 'minbase');
  if (!['minbase', 'buildd', 'fakechroot', '-'].includes(variant)) fail(file, `debootstrap.variant ${variant} is unknown`);
  const mirror = s('debootstrap.mirror', db.mirror ?? 'host');
  const keyring = db.keyring === undefined ? undefined : s('debootstrap.keyring', db.keyring);
  if (keyring !== undefined && (!ABS_RE.test(keyring) || keyring.includes('..'))) fail(file, 'debootstrap.keyring must be an absolute path on the host (e.g. /usr/share/keyrings/ubuntu-archive-keyring.gpg)');
  if (mirror !== 'host' && mirror !== 'default') fail(file, 'debootstrap.mirror must be "host" or "default" (set a URL with --mirror or in /etc/vpsctl/vpsctl.yaml)');
  const files: RecipeFile[] = [];
  if (d.files !== undefined) {
    if (!Array.isArray(d.files)) fail(file, 'files must be a list');
    d.files.forEach((f: Record<string, unknown>, i: number) => {
      const p = s(`files[${i}].path`, f?.path);
      if (!ABS_RE.test(p) || p.includes('..')) fail(file, `files[${i}].path ${JSON.stringify(p)} is not an absolute clean path`);
      const mode = f.mode === undefined ? 0o644 : parseInt(s(`files[${i}].mode`, f.mode), 8);
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) fail(file, `files[${i}].mode is not an octal mode`);
      files.push({ path: p, content: s(`files[${i}].content`, f.content ?? ''), mode });
    });
  }
  return {
    name,
    description: s('description', d.description ?? name),
    os: s('os'),
    version: s('version'),
    codename: d.codename === undefined ? undefined : s('codename'),
    arch: s('arch', d.arch ?? 'amd64'),
    builder: d.builder,
    ...(dnf ? { dnf } : {}),
    debootstrap: { suite, variant, components: list('debootstrap.components', /^[a-z0-9-]+$/, db.components ?? ['main']), mirror, ...(keyring ? { keyring } : {}) },
    packages: list('packages', PKG_RE),
    files,
    remove: list('remove', ABS_RE),
    mask: list('mask', UNIT_RE),
    machineId: 'empty',
  };
}

export function recipesDir(packageRoot: string): string {
  return path.join(packageRoot, 'templates');
}

export async function listRecipes(dir: string): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith('.yaml')).map((n) => n.slice(0, -5)).sort();
}

export async function loadRecipe(dir: string, name: string): Promise<Recipe> {
  const file = path.join(dir, `${name}.yaml`);
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    const known = await listRecipes(dir);
    throw notFound(`no recipe for template ${name}`, `recipes here: ${known.join(', ') || 'none'}`);
  }
  const r = parseRecipe(text, file);
  if (r.name !== name) fail(file, `name ${r.name} does not match the file name`);
  return r;
}

/**
 * The Debian mirror the host's own apt sources use (deb822 `.sources` or one-line `.list`),
 * skipping security, updates and backports entries. Undefined: let debootstrap choose.
 */
export function hostDebianMirror(sources: { name: string; text: string }[]): string | undefined {
  const ok = (uri: string, suites: string[]): boolean =>
    /^(https?|file):\/\//.test(uri) && !/security/.test(uri) && suites.some((s) => !/-(security|updates|backports)$/.test(s) && !/\//.test(s));
  for (const { name, text } of sources) {
    if (name.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string): string => new RegExp(`^${k}:\\s*(.*)$`, 'mi').exec(stanza)?.[1]?.trim() ?? '';
        if (!/\bdeb\b/.test(field('Types')) || /^no$/i.test(field('Enabled'))) continue;
        const keyring = field('Signed-By');
        if (keyring && !/debian/.test(keyring)) continue;
        for (const uri of field('URIs').split(/\s+/)) if (ok(uri, field('Suites').split(/\s+/))) return uri;
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m && ok(m[1], [m[2]]) && /debian/.test(m[1] + line)) return m[1];
      }
    }
  }
  return undefined;
}
