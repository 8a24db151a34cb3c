/**
 * The rules a template archive must pass before GNU tar unpacks it, judged member by member
 * as tar.ts reads them (exactly as GNU tar does, or the archive is refused). Refused whole,
 * naming the first offending entry: an absolute path, a `..` component, a symlink whose
 * relative target climbs above the root, an entry that would be written through a symlink, a
 * hardlink that is absolute, climbs out or names nothing earlier in the archive, a member
 * type we do not know, a size beyond --max-size, a damaged or truncated stream. Device nodes
 * (every real root file system archive has some in /dev) are not unpacked: the checker lists
 * them in `dropped`, tar is told to exclude exactly those names (`excludeArgs`), and GNU
 * tar's listing with that exclusion must then agree with the checker's (tar-diff.ts). An
 * entry that would land on or under a dropped node, or a hardlink to one, is refused: tar's
 * exclusion would skip it too, or find nothing to link.
 */
import { ExitCode, VpsError } from '../base/errors.js';
import { formatSize } from '../base/units.js';
import { TarError, TarReader, show, type TarEntry } from './tar.js';

/** The largest member kept in memory (metadata.yaml). */
const MAX_CAPTURE = 1024 * 1024;

/** A refusal of an archive: exit 2, with the entry named in the message. */
export function refusal(label: string, why: string, hint = 'nothing was unpacked and the template cache is unchanged'): VpsError {
  return new VpsError(ExitCode.USAGE, `refusing ${label}: ${why}`, { hint });
}

export interface TarCheckOptions {
  /** What messages call the archive (its file name). */
  label: string;
  /** Refuse an archive that unpacks to more than this (data in 4 KiB blocks plus an inode per entry). */
  maxSize: number;
  /** Paths (normalized, e.g. `metadata.yaml`) of small regular members to keep in memory. */
  capture?: string[];
  /** Called with each entry that passed, in archive order (what GNU tar must list the same). */
  onEntry?: (e: TarEntry) => void;
}

type NodeKind = 'dir' | 'file' | 'link' | 'other' | 'device';

/** The most device nodes an archive may carry (a full /dev has a few hundred). */
const MAX_DROPPED = 10_000;

/**
 * A dropped device node's name goes to tar's --exclude-from file as it is (one per line,
 * literal, anchored): names that file cannot carry unchanged (blanks at an end are trimmed
 * by tar, a newline ends the line, a backslash is an escape) are refused.
 */
const EXCLUDABLE = /^[\x21-\x5b\x5d-\x7e\x80-\xff]+$/;

/** tar's options that skip exactly the names listed (one per line) in `file`. */
export function excludeArgs(file: string): string[] {
  return ['--no-wildcards', '--anchored', '--no-unquote', `--exclude-from=${file}`];
}

/**
 * Checks a tar stream fed to it in chunks. It keeps one record per path (directory, file,
 * symlink, other) to judge later entries the way tar would meet them on disk: a path through
 * a symlink, a directory over a symlink, a hardlink to what is not there. Names are kept as
 * raw bytes (latin1), so no two names collide. It throws nothing but refusals.
 */
export class TarChecker {
  entries = 0;
  /** Estimated bytes unpacked. */
  unpacked = 0;
  /** Entries owned by uids or gids beyond 65535 (outside a container's id range). */
  foreignIds = 0;
  readonly topLevel = new Set<string>();
  /** Device nodes seen, by their names as the archive spells them: not to be unpacked. */
  readonly dropped: string[] = [];
  readonly captured = new Map<string, Buffer>();
  private readonly nodes = new Map<string, NodeKind>([['', 'dir']]);
  private readonly capture: Set<string>;
  private readonly reader: TarReader;

  constructor(private readonly opts: TarCheckOptions) {
    this.capture = new Set(opts.capture ?? []);
    this.reader = new TarReader({
      entry: (e) => this.entry(e),
      data: (e, data) => this.captured.set(normalize(e.name), data),
    });
  }

  feed(chunk: Buffer): void {
    this.reading(() => this.reader.feed(chunk));
  }

  /** The stream ended: it must have ended where a tar archive ends. */
  finish(): void {
    this.reading(() => this.reader.finish());
    if (this.entries === 0) this.refuse('the archive holds no entries');
  }

  private reading(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof TarError) this.refuse(e.message);
      throw e;
    }
  }

  private refuse(why: string): never {
    throw refusal(this.opts.label, why);
  }

  /** One entry: judged, counted, and its data wanted when it is to be captured. */
  private entry(e: TarEntry): boolean {
    // tar takes a "file" whose name ends in "/" for a directory (an old convention)
    let type = e.typeflag === '\0' ? '0' : e.typeflag;
    if ((type === '0' || type === '7') && e.name.endsWith('/')) type = '5';
    const p = this.check(type, e.name, e.link, e.size);
    if (type === '3' || type === '4') {
      this.dropped.push(e.name);
      return false;
    }
    this.entries++;
    if (e.uid > 65535 || e.gid > 65535) this.foreignIds++;
    this.opts.onEntry?.(e);
    return (type === '0' || type === '7') && this.capture.has(p) && e.size <= MAX_CAPTURE;
  }

  /** Judges one entry against what came before it; returns its normalized path. */
  private check(type: string, name: string, link: string, size: number): string {
    const s = show(name);
    if (name.startsWith('/')) this.refuse(`entry ${s} has an absolute path`);
    const parts = name.split('/').filter((c) => c !== '' && c !== '.');
    if (parts.includes('..')) this.refuse(`entry ${s} has a ".." component`);
    const p = parts.join('/');
    if (parts.length) this.topLevel.add(parts[0]);
    for (let i = 1; i < parts.length; i++) {
      const q = parts.slice(0, i).join('/');
      const k = this.nodes.get(q);
      if (k === 'link') this.refuse(`entry ${s} lies under ${show(q)}, a symlink earlier in the archive: unpacking it would write through the link`);
      if (k === 'file' || k === 'other' || k === 'device') this.refuse(`entry ${s} lies under ${show(q)}, which is not a directory`);
      if (k === undefined) this.nodes.set(q, 'dir');
    }
    const prev = this.nodes.get(p);
    if (p === '' && type !== '5') this.refuse(`entry ${s} is the root of the tree but not a directory`);
    if (prev === 'device') this.refuse(`entry ${s} replaces a device node of the same name earlier in the archive, which the import drops`);
    const add = (bytes: number): void => {
      this.unpacked += bytes + 256;
      if (this.unpacked > this.opts.maxSize) this.refuse(`it unpacks to more than ${formatSize(this.opts.maxSize)} (--max-size), reached at entry ${s}`);
    };
    switch (type) {
      case '5':
        if (prev === 'link') this.refuse(`directory entry ${s} would replace a symlink of the same name earlier in the archive (tar would follow the link)`);
        if (prev === 'file' || prev === 'other') this.refuse(`directory entry ${s} replaces a file earlier in the archive`);
        this.nodes.set(p, 'dir');
        add(4096);
        break;
      case '0':
      case '7':
      case '6':
        if (prev === 'dir') this.refuse(`entry ${s} replaces a directory earlier in the archive`);
        this.nodes.set(p, type === '6' ? 'other' : 'file');
        add(Math.ceil(size / 4096) * 4096);
        break;
      case '2': {
        if (prev === 'dir') this.refuse(`symlink ${s} replaces a directory earlier in the archive`);
        if (!link) this.refuse(`symlink ${s} has an empty target`);
        // an absolute target is resolved inside the container, as init sees it: fine. A
        // relative one must stay inside the tree when resolved from the link's directory.
        if (!link.startsWith('/')) {
          const stack = parts.slice(0, -1);
          for (const c of link.split('/')) {
            if (c === '' || c === '.') continue;
            if (c !== '..') stack.push(c);
            else if (stack.length === 0) this.refuse(`symlink ${s} -> ${show(link)} points outside the tree`);
            else stack.pop();
          }
        }
        this.nodes.set(p, 'link');
        add(0);
        break;
      }
      case '1': {
        const t = link.split('/').filter((c) => c !== '' && c !== '.');
        if (link.startsWith('/')) this.refuse(`hardlink ${s} -> ${show(link)} has an absolute target`);
        if (t.includes('..')) this.refuse(`hardlink ${s} -> ${show(link)} climbs out of the tree with ".."`);
        const k = this.nodes.get(t.join('/'));
        if (k === undefined || t.length === 0) this.refuse(`hardlink ${s} -> ${show(link)} names nothing earlier in the archive`);
        if (k === 'dir') this.refuse(`hardlink ${s} -> ${show(link)} names a directory`);
        if (k === 'device') this.refuse(`hardlink ${s} -> ${show(link)} names a device node, which the import drops`);
        if (prev === 'dir') this.refuse(`hardlink ${s} replaces a directory earlier in the archive`);
        this.nodes.set(p, k);
        add(0);
        break;
      }
      case '3':
      case '4':
        // not unpacked (a container's /dev is made at its start), never trusted either
        if (prev !== undefined) this.refuse(`device node ${s} replaces an entry of the same name earlier in the archive`);
        if (!EXCLUDABLE.test(name)) this.refuse(`device node ${s} has a name tar cannot be told to skip (a blank, backslash or control character)`);
        if (this.dropped.length >= MAX_DROPPED) this.refuse(`it holds more than ${MAX_DROPPED} device nodes`);
        this.nodes.set(p, 'device');
        break;
      default:
        this.refuse(`entry ${s} has the tar type ${JSON.stringify(type)}, which this importer does not unpack`);
    }
    return p;
  }
}

/** A member's path as `capture` names it: no empty or "." components. */
function normalize(name: string): string {
  return name
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/');
}
