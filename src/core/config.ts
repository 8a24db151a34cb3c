import { parse as parseYaml, stringify } from 'yaml';
import { failed, invalid } from './errors.js';
import { validateHostname, validateId, validateTemplateName } from './ids.js';
import { formatSize, parseSize } from './units.js';

/** A container's declared configuration: `<root>/containers/<id>/config.yaml`. */
export interface ContainerConfig {
  id: string;
  template: string;
  hostname: string;
  /** Disk (image) size in bytes. */
  disk: number;
  /** ISO time of creation. */
  created: string;
  /** What the template said the OS is. */
  os?: { family: string; version: string; arch?: string };
  /** Init to exec inside the container. */
  init: string;
}

const KEYS = new Set(['id', 'template', 'hostname', 'disk', 'created', 'os', 'init']);

export function renderConfig(c: ContainerConfig): string {
  const doc = {
    id: c.id,
    template: c.template,
    hostname: c.hostname,
    disk: formatSize(c.disk),
    created: c.created,
    ...(c.os ? { os: c.os } : {}),
    init: c.init,
  };
  return `# vpsctl container ${c.id}: declared configuration (edit with \`vpsctl set\`)\n${stringify(doc)}`;
}

/** Parses and validates config.yaml; every problem names the file and the key. */
export function parseConfig(text: string, file: string, expectId: string): ContainerConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw failed(`${file} is not valid YAML: ${(e as Error).message}`, { hint: `fix ${file} by hand` });
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw failed(`${file} is not a mapping`);
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!KEYS.has(k)) throw invalid(`${file}: unknown key ${JSON.stringify(k)}`);
  const str = (k: string): string => {
    const v = d[k];
    if (typeof v !== 'string' && typeof v !== 'number') throw invalid(`${file}: ${k} is missing or not a string`);
    return String(v);
  };
  const id = validateId(str('id'));
  if (id !== expectId) throw invalid(`${file}: id ${id} does not match its directory ${expectId}`);
  const disk = parseSize(str('disk'), `${file}: disk`);
  const init = d.init === undefined ? '/sbin/init' : str('init');
  if (!/^\/[A-Za-z0-9._/-]{1,200}$/.test(init) || init.includes('..')) throw invalid(`${file}: init must be an absolute path`);
  let os: ContainerConfig['os'];
  if (d.os !== undefined) {
    const o = d.os as Record<string, unknown>;
    if (!o || typeof o !== 'object') throw invalid(`${file}: os must be a mapping`);
    os = { family: String(o.family ?? 'unknown'), version: String(o.version ?? ''), ...(o.arch ? { arch: String(o.arch) } : {}) };
  }
  return {
    id,
    template: validateTemplateName(str('template')),
    hostname: validateHostname(str('hostname')),
    disk,
    created: str('created'),
    os,
    init,
  };
}
