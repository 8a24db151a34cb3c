import { promises as fsp } from 'node:fs';
import { parse as parseYaml, stringify } from 'yaml';
import { failed } from '../base/errors.js';
import { SNAPSHOT_RE } from '../base/ids.js';
import type { Layout } from '../base/settings.js';
import { formatSize, parseSize } from '../base/units.js';
import { exists, writeFileAtomic } from '../sys/fs.js';
import type { CloneMethod } from './vpssnap.js';

/** A snapshot's metadata: `<pool>/snapshots/<id>/<name>.yaml`, written after its image. */
export interface SnapshotMeta {
  name: string;
  /** The container it belongs to. */
  id: string;
  /** ISO time it was taken. */
  created: string;
  description: string | null;
  /** The container's state when it was taken (running: a frozen, consistent copy). */
  state: 'running' | 'stopped';
  /** ISO time after which `prune` (and the next `snapshot create`) removes it. */
  expiry: string | null;
  /** `--no-expiry`: never removed by prune, --keep or --older-than; only by delete. */
  pinned: boolean;
  /** Taken by `snapshot schedule`'s cron entry. */
  scheduled: boolean;
  method: CloneMethod;
  /** How long FIFREEZE took: new writes inside already wait while it flushes. */
  freeze_ms: number | null;
  /** How long the container's filesystem was frozen (running containers). */
  frozen_ms: number | null;
  /** The container's disk size when it was taken. */
  disk: number;
}

const KEYS = new Set(['name', 'id', 'created', 'description', 'state', 'expiry', 'pinned', 'scheduled', 'method', 'freeze_ms', 'frozen_ms', 'disk']);

export function renderSnapshotMeta(m: SnapshotMeta): string {
  return `# vpsctl snapshot ${m.name} of container ${m.id}\n${stringify({ ...m, disk: formatSize(m.disk) })}`;
}

export function parseSnapshotMeta(text: string, file: string, id: string, name: string): SnapshotMeta {
  let d: Record<string, unknown>;
  try {
    d = parseYaml(text) as Record<string, unknown>;
  } catch (e) {
    throw failed(`${file} is not valid YAML: ${(e as Error).message}`);
  }
  if (!d || typeof d !== 'object' || Array.isArray(d)) throw failed(`${file} is not a mapping`);
  for (const k of Object.keys(d)) if (!KEYS.has(k)) throw failed(`${file}: unknown key ${JSON.stringify(k)}`);
  if (d.name !== name || d.id !== id) throw failed(`${file}: names snapshot ${String(d.name)} of ${String(d.id)}, not ${name} of ${id}`);
  const time = (k: string, v: unknown): string => {
    if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw failed(`${file}: ${k} is not a time`);
    return v;
  };
  const state = d.state === 'running' ? 'running' : 'stopped';
  return {
    name,
    id,
    created: time('created', d.created),
    description: typeof d.description === 'string' ? d.description : null,
    state,
    expiry: d.expiry === null || d.expiry === undefined ? null : time('expiry', d.expiry),
    pinned: d.pinned === true,
    scheduled: d.scheduled === true,
    method: d.method === 'reflink' ? 'reflink' : 'copy',
    freeze_ms: typeof d.freeze_ms === 'number' ? d.freeze_ms : null,
    frozen_ms: typeof d.frozen_ms === 'number' ? d.frozen_ms : null,
    disk: parseSize(String(d.disk ?? '0'), `${file}: disk`),
  };
}

/** The files of one container's snapshots. Callers hold the container's lock for writes. */
export class SnapshotFiles {
  constructor(
    private readonly layout: Layout,
    readonly id: string,
  ) {}

  get dir(): string {
    return this.layout.snapshotsDir(this.id);
  }
  image(name: string): string {
    return this.layout.snapshotImage(this.id, name);
  }
  meta(name: string): string {
    return this.layout.snapshotMeta(this.id, name);
  }
  partial(name: string): string {
    return `${this.image(name)}.partial`;
  }

  /** Snapshots that are whole (image and metadata), oldest first. */
  async list(): Promise<SnapshotMeta[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    const out: SnapshotMeta[] = [];
    for (const f of names) {
      const name = f.slice(0, -'.yaml'.length);
      if (!f.endsWith('.yaml') || !SNAPSHOT_RE.test(name) || !(await exists(this.image(name)))) continue;
      out.push(parseSnapshotMeta(await fsp.readFile(this.meta(name), 'utf8'), this.meta(name), this.id, name));
    }
    return out.sort((a, b) => a.created.localeCompare(b.created) || a.name.localeCompare(b.name));
  }

  async has(name: string): Promise<boolean> {
    return (await exists(this.meta(name))) && (await exists(this.image(name)));
  }

  async get(name: string): Promise<SnapshotMeta | undefined> {
    if (!(await this.has(name))) return undefined;
    return parseSnapshotMeta(await fsp.readFile(this.meta(name), 'utf8'), this.meta(name), this.id, name);
  }

  /** Makes a snapshot whole: the image moves into place, then the metadata that lists it. */
  async commit(meta: SnapshotMeta): Promise<void> {
    await fsp.rename(this.partial(meta.name), this.image(meta.name));
    await writeFileAtomic(this.meta(meta.name), renderSnapshotMeta(meta), 0o600);
  }

  /** Metadata first: a crash in between leaves an unlisted image that `sweep` removes. */
  async remove(name: string): Promise<void> {
    await fsp.rm(this.meta(name), { force: true });
    await fsp.rm(this.image(name), { force: true });
  }

  /**
   * Removes what interrupted snapshots left: `.partial` images and images without metadata.
   * Returns what it removed. Only under the container's lock.
   */
  async sweep(): Promise<string[]> {
    const removed: string[] = [];
    for (const f of await fsp.readdir(this.dir).catch(() => [] as string[])) {
      const p = `${this.dir}/${f}`;
      const orphan = f.endsWith('.img') && !(await exists(p.replace(/\.img$/, '.yaml')));
      if (f.endsWith('.partial') || orphan) {
        await fsp.rm(p, { recursive: true, force: true });
        removed.push(f);
      }
    }
    return removed;
  }

  /** Removes the directory when it holds no snapshot (after a delete of the last one). */
  async removeDirIfEmpty(): Promise<void> {
    await fsp.rmdir(this.dir).catch(() => undefined);
  }
}

/** `20261122-101530`: the default name, UTC, made unique with `-2`, `-3`... */
export function defaultSnapshotName(now: Date, taken: Set<string>): string {
  const base = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}-${i}`)) return `${base}-${i}`;
}

/** What `prune` removes: expired ones, then by --older-than and --keep among the unpinned. */
export function pruneSelection(snaps: SnapshotMeta[], now: number, opts: { keep?: number; olderThanMs?: number }): SnapshotMeta[] {
  const drop = new Set<SnapshotMeta>();
  for (const s of snaps) if (!s.pinned && s.expiry && Date.parse(s.expiry) <= now) drop.add(s);
  const unpinned = snaps.filter((s) => !s.pinned && !drop.has(s));
  if (opts.olderThanMs !== undefined) for (const s of unpinned) if (now - Date.parse(s.created) > opts.olderThanMs) drop.add(s);
  if (opts.keep !== undefined) {
    const newestFirst = unpinned.filter((s) => !drop.has(s)).sort((a, b) => b.created.localeCompare(a.created) || b.name.localeCompare(a.name));
    for (const s of newestFirst.slice(opts.keep)) drop.add(s);
  }
  return snaps.filter((s) => drop.has(s));
}
