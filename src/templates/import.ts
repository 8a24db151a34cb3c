/**
 * `template import` and `template download`: OpenVZ precreated template tarballs and LXC
 * images (a meta tarball with `metadata.yaml` plus a rootfs tarball) into the template cache.
 *
 * An archive is input from anywhere, so it is read whole and checked BEFORE anything is
 * unpacked: its tar stream is parsed here (GNU and pax headers included) and the archive is
 * refused whole, naming the first offending entry, for an absolute path, a `..` component,
 * a symlink whose relative target climbs above the root, an entry that would be written
 * through a symlink, a hardlink that is absolute, climbs out or names nothing earlier in the
 * archive, a device node, a member type we do not know, a size beyond --max-size, a damaged
 * or truncated stream, or a checksum that does not match. The bytes checked are the bytes
 * unpacked: a local file is copied into the work directory while it is read (downloads are
 * there already), and tar unpacks that private copy. A refusal leaves nothing in the cache.
 */
import { constants as C, promises as fsp, writeSync } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { parse as parseYaml } from 'yaml';
import { ExitCode, VpsError, failed, hostNotReady, invalid, notFound, wrongState } from '../core/errors.js';
import { validateTemplateName } from '../core/ids.js';
import type { Layout } from '../core/settings.js';
import type { Progress } from '../core/types.js';
import { formatSize } from '../core/units.js';
import type { OsInfo } from '../distro/detect.js';
import { spawnFilter, type Runner } from '../sys/exec.js';
import { exists } from '../sys/fs.js';
import { processLive, which } from '../sys/proc.js';
import { checkUrl, fetchText, fetchToFile, imageBaseUrl, indexUrl, isUrl, parseIndex, parseSha256Sums, pickImage, resolveServer } from './download.js';
import type { BuildResult, TemplateImportRecord, TemplateInfo, TemplateMeta, TemplateStore } from './store.js';

/** The default --max-size: what a template may unpack to (and the largest download). */
export const DEFAULT_MAX_SIZE = 8 * 1024 ** 3;
/** A meta tarball is small; more than this is not one. */
const MAX_META_ARCHIVE = 64 * 1024 * 1024;

// ---- the tar stream checker ----------------------------------------------------------------

const BLOCK = 512;
/** The longest GNU long name or pax header we read. */
const MAX_HEADER_DATA = 1024 * 1024;
/** The largest member kept in memory (metadata.yaml). */
const MAX_CAPTURE = 1024 * 1024;
/** Data allowed after the end-of-archive marker (tar pads to its record size). */
const MAX_TRAILING = 16 * 1024 * 1024;

type NodeKind = 'dir' | 'file' | 'link' | 'other';

export interface TarCheckOptions {
  /** What messages call the archive (its file name). */
  label: string;
  /** Refuse an archive that unpacks to more than this (data in 4 KiB blocks plus an inode per entry). */
  maxSize: number;
  /** Paths (normalized, e.g. `metadata.yaml`) of small regular members to keep in memory. */
  capture?: string[];
}

const show = (s: string): string => {
  const t = Buffer.from(s, 'latin1').toString('utf8');
  return JSON.stringify(t.length > 200 ? `${t.slice(0, 200)}...` : t);
};

/** A refusal of an archive: exit 2, with the entry named in the message. */
export function refusal(label: string, why: string, hint = 'nothing was unpacked and the template cache is unchanged'): VpsError {
  return new VpsError(ExitCode.USAGE, `refusing ${label}: ${why}`, { hint });
}

const AFTER_UNPACK = 'the unpacked tree was removed and the template cache is unchanged';

function cstr(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('latin1', off, end < 0 || end > off + len ? off + len : end);
}

/**
 * Checks a tar stream fed to it in chunks, with the rules in this file's comment. It keeps
 * one record per path (directory, file, symlink, other) to judge later entries the way tar
 * would meet them on disk: a path through a symlink, a directory over a symlink, a hardlink
 * to what is not there. Names are kept as raw bytes (latin1), so no two names collide.
 */
export class TarChecker {
  entries = 0;
  /** Estimated bytes unpacked. */
  unpacked = 0;
  /** Entries owned by uids or gids beyond 65535 (outside a container's id range). */
  foreignIds = 0;
  readonly topLevel = new Set<string>();
  readonly captured = new Map<string, Buffer>();
  private readonly nodes = new Map<string, NodeKind>([['', 'dir']]);
  private readonly capture: Set<string>;
  private readonly head = Buffer.alloc(BLOCK);
  private headFill = 0;
  private state: 'header' | 'data' | 'end' = 'header';
  private padLeft = 0;
  private dataLeft = 0;
  private sink?: Buffer[];
  private sinkKind?: string;
  private sinkName = '';
  private longName?: string;
  private longLink?: string;
  private pax: Record<string, string> = {};
  private paxSeen = false;
  private zeroBlocks = 0;
  private trailing = 0;
  private last = '';

  constructor(private readonly opts: TarCheckOptions) {
    this.capture = new Set(opts.capture ?? []);
  }

  private refuse(why: string): never {
    throw refusal(this.opts.label, why);
  }

  private damaged(why: string): never {
    this.refuse(`the archive is damaged: ${why}`);
  }

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.state === 'end') {
        this.trailing += chunk.length - off;
        if (this.trailing > MAX_TRAILING) this.damaged(`more than ${formatSize(MAX_TRAILING)} of data follow the end-of-archive marker`);
        return;
      }
      if (this.state === 'header') {
        const n = Math.min(BLOCK - this.headFill, chunk.length - off);
        chunk.copy(this.head, this.headFill, off, off + n);
        this.headFill += n;
        off += n;
        if (this.headFill === BLOCK) {
          this.headFill = 0;
          this.header(this.head);
        }
        continue;
      }
      const n = Math.min(this.padLeft, chunk.length - off);
      if (this.sink && this.dataLeft > 0) this.sink.push(Buffer.from(chunk.subarray(off, off + Math.min(n, this.dataLeft))));
      this.dataLeft = Math.max(0, this.dataLeft - n);
      this.padLeft -= n;
      off += n;
      if (this.padLeft === 0) this.endData();
    }
  }

  /** The stream ended: it must have ended where a tar archive ends. */
  finish(): void {
    const loneZero = this.state === 'header' && this.headFill === 0 && this.zeroBlocks === 1;
    if (this.state !== 'end' && !loneZero) {
      this.refuse(
        `the archive is truncated: it ends ${this.state === 'data' ? `inside entry ${show(this.last)}` : this.headFill ? 'inside a header' : `after entry ${show(this.last)} without the end-of-archive marker`}`,
      );
    }
    if (this.entries === 0) this.refuse('the archive holds no entries');
  }

  private startData(size: number): void {
    this.dataLeft = size;
    this.padLeft = Math.ceil(size / BLOCK) * BLOCK;
    if (this.padLeft === 0) this.endData();
    else this.state = 'data';
  }

  private endData(): void {
    this.state = 'header';
    const kind = this.sinkKind;
    if (!kind || !this.sink) return;
    const buf = Buffer.concat(this.sink);
    this.sink = undefined;
    this.sinkKind = undefined;
    // two of a kind before one member: tar and this check might not agree on which counts
    const twice = (): never => this.damaged(`two ${kind === 'x' ? 'pax' : kind === 'L' ? 'long name' : 'long link'} headers for one entry after ${show(this.last)}`);
    if (kind === 'L') {
      if (this.longName !== undefined) twice();
      this.longName = cstr(buf, 0, buf.length);
    } else if (kind === 'K') {
      if (this.longLink !== undefined) twice();
      this.longLink = cstr(buf, 0, buf.length);
    } else if (kind === 'x') {
      if (this.paxSeen) twice();
      this.paxSeen = true;
      this.pax = this.parsePax(buf);
    } else if (kind === 'g') {
      // global pax keywords apply to every later member in tar: none that names, links or sizes one
      const bad = Object.keys(this.parsePax(buf)).find((k) => ['path', 'linkpath', 'size', 'uid', 'gid'].includes(k) || k.startsWith('GNU.sparse'));
      if (bad) this.refuse(`a global pax header sets ${JSON.stringify(bad)} for every later entry (after ${show(this.last)})`);
    } else this.captured.set(this.sinkName, buf);
  }

  private parsePax(buf: Buffer): Record<string, string> {
    const out: Record<string, string> = {};
    let i = 0;
    while (i < buf.length && buf[i] !== 0) {
      const sp = buf.indexOf(0x20, i);
      const len = sp < 0 ? NaN : Number(buf.toString('latin1', i, sp));
      if (!Number.isSafeInteger(len) || len <= sp - i + 1 || i + len > buf.length || buf[i + len - 1] !== 0x0a) this.damaged(`a malformed pax header before entry after ${show(this.last)}`);
      const rec = buf.toString('latin1', sp + 1, i + len - 1);
      const eq = rec.indexOf('=');
      if (eq <= 0) this.damaged(`a malformed pax record after ${show(this.last)}`);
      out[rec.slice(0, eq)] = rec.slice(eq + 1);
      i += len;
    }
    return out;
  }

  private num(h: Buffer, off: number, len: number, what: string): number {
    if (h[off] & 0x80) {
      // base-256 (GNU, star) for values octal cannot hold; negative ones are nonsense here
      if (h[off] & 0x40) this.damaged(`a negative ${what} in the header after ${show(this.last)}`);
      let v = h[off] & 0x3f;
      for (let i = 1; i < len; i++) v = v * 256 + h[off + i];
      if (!Number.isSafeInteger(v)) this.damaged(`a ${what} too large in the header after ${show(this.last)}`);
      return v;
    }
    const s = h.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^ +/, '');
    if (s === '') return 0;
    if (!/^[0-7]+$/.test(s)) this.damaged(`a ${what} that is not a number in the header after ${show(this.last)}`);
    return parseInt(s, 8);
  }

  private header(h: Buffer): void {
    let zero = true;
    for (let i = 0; i < BLOCK; i++) {
      if (h[i] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) {
      if (++this.zeroBlocks >= 2) this.state = 'end';
      return;
    }
    if (this.zeroBlocks) this.damaged(`a zero block inside the archive after ${show(this.last)}`);
    // the checksum: the header's bytes summed with the checksum field read as spaces
    let sum = 0;
    let ssum = 0;
    for (let i = 0; i < BLOCK; i++) {
      const b = i >= 148 && i < 156 ? 0x20 : h[i];
      sum += b;
      ssum += b > 127 ? b - 256 : b;
    }
    const stored = this.num(h, 148, 8, 'checksum');
    if (stored !== sum && stored !== ssum) {
      if (this.entries === 0 && !this.last) this.refuse('it is not a tar archive (no valid tar header at its start)');
      this.damaged(`a header with a bad checksum after ${show(this.last)}`);
    }
    const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]);
    let size = this.num(h, 124, 12, 'size');
    if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
      if (size > MAX_HEADER_DATA) this.damaged(`an extended header of ${formatSize(size)} after ${show(this.last)}`);
      this.sink = [];
      this.sinkKind = type;
      this.startData(size);
      return;
    }
    let name = cstr(h, 0, 100);
    if (h.toString('latin1', 257, 263) === 'ustar\0') {
      const prefix = cstr(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    let link = cstr(h, 157, 100);
    let uid = this.num(h, 108, 8, 'uid');
    let gid = this.num(h, 116, 8, 'gid');
    const pax = this.pax;
    if (this.longName !== undefined) name = this.longName;
    if (this.longLink !== undefined) link = this.longLink;
    if (pax.path !== undefined) name = pax.path;
    if (pax.linkpath !== undefined) link = pax.linkpath;
    const paxNum = (k: string): number => {
      if (!/^\d{1,16}$/.test(pax[k])) this.damaged(`pax ${k} ${show(pax[k])} of entry ${show(name)} is not a number`);
      return Number(pax[k]);
    };
    if (pax.size !== undefined) size = paxNum('size');
    if (pax.uid !== undefined) uid = paxNum('uid');
    if (pax.gid !== undefined) gid = paxNum('gid');
    if (Object.keys(pax).some((k) => k.startsWith('GNU.sparse'))) this.refuse(`entry ${show(name)} is a sparse file, which this importer does not unpack`);
    this.longName = undefined;
    this.longLink = undefined;
    this.pax = {};
    this.paxSeen = false;
    this.last = name;
    this.entries++;
    // tar takes a "file" whose name ends in "/" for a directory (an old convention) and then
    // reads no data for it: so must we, or the two of us would part ways in the stream
    let kind = type;
    if ((type === '0' || type === '7') && name.endsWith('/')) kind = '5';
    const p = this.check(kind, name, link, size);
    if (uid > 65535 || gid > 65535) this.foreignIds++;
    if ((kind === '0' || kind === '7') && this.capture.has(p) && size <= MAX_CAPTURE) {
      this.sink = [];
      this.sinkKind = 'capture';
      this.sinkName = p;
    }
    this.startData(kind === '0' || kind === '7' ? size : 0);
  }

  /** Judges one entry against what came before it; returns its normalized path. */
  private check(type: string, name: string, link: string, size: number): string {
    const s = show(name);
    if (name.startsWith('/')) this.refuse(`entry ${s} has an absolute path`);
    const parts = name.split('/').filter((c) => c !== '' && c !== '.');
    if (parts.includes('..')) this.refuse(`entry ${s} has a ".." component`);
    const p = parts.join('/');
    if (parts.length) this.topLevel.add(parts[0]);
    if (name.includes('\0') || link.includes('\0')) this.refuse(`entry ${s} has a NUL byte in its name or link target`);
    // GNU tar reads no data after a link, directory, FIFO or device header, whatever its size
    // says (it reads the next header there): a size on one would hide members from this check
    if (size > 0 && type !== '0' && type !== '7') this.damaged(`entry ${s} of type ${type === '5' ? 'directory' : JSON.stringify(type)} claims ${size} bytes of data`);
    for (let i = 1; i < parts.length; i++) {
      const q = parts.slice(0, i).join('/');
      const k = this.nodes.get(q);
      if (k === 'link') this.refuse(`entry ${s} lies under ${show(q)}, a symlink earlier in the archive: unpacking it would write through the link`);
      if (k === 'file' || k === 'other') this.refuse(`entry ${s} lies under ${show(q)}, which is not a directory`);
      if (k === undefined) this.nodes.set(q, 'dir');
    }
    const prev = this.nodes.get(p);
    if (p === '' && type !== '5') this.refuse(`entry ${s} is the root of the tree but not a directory`);
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
        if (prev === 'dir') this.refuse(`hardlink ${s} replaces a directory earlier in the archive`);
        this.nodes.set(p, k);
        add(0);
        break;
      }
      case '3':
      case '4':
        this.refuse(`entry ${s} is a ${type === '3' ? 'character' : 'block'} device node`);
        break;
      default:
        this.refuse(`entry ${s} has the tar type ${JSON.stringify(type)}${type === 'S' ? ' (a sparse file)' : ''}, which this importer does not unpack`);
    }
    return p;
  }
}

// ---- reading an archive: decompress, hash, copy, check ------------------------------------

export type Compression = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'none';

/** The compression of a file by its first bytes (never by its name); undefined: not a tar archive. */
export function compressionOf(head: Buffer): Compression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 4 && head.toString('latin1', 0, 3) === 'BZh' && head[3] >= 0x31 && head[3] <= 0x39) return 'bzip2';
  if (head.length >= BLOCK) {
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : head[i];
    const stored = parseInt(head.toString('latin1', 148, 156).replace(/[\0 ]/g, ''), 8);
    if (stored === sum && sum !== 8 * 0x20) return 'none';
  }
  return undefined;
}

/** tar's option for unpacking each compression. */
const TAR_FLAG: Record<Compression, string[]> = { gzip: ['--gzip'], xz: ['--xz'], zstd: ['--zstd'], bzip2: ['--bzip2'], none: [] };
const PROGRAM: Record<Exclude<Compression, 'none' | 'gzip'>, { prog: string; pkg: string }> = {
  xz: { prog: 'xz', pkg: 'xz-utils' },
  zstd: { prog: 'zstd', pkg: 'zstd' },
  bzip2: { prog: 'bzip2', pkg: 'bzip2' },
};

export function needDecompressor(c: Compression): void {
  if (c === 'none' || c === 'gzip') return;
  const { prog, pkg } = PROGRAM[c];
  if (!which(prog)) throw hostNotReady(`${prog} is not installed (the archive is ${c}-compressed)`, `apt-get install ${pkg}`);
}

interface Decompressor {
  input: Writable;
  output: Readable;
  /** Resolves to why decompression failed, or undefined when it went well. */
  done: Promise<string | undefined>;
  kill(): void;
}

/**
 * gzip in-process; xz, zstd and bzip2 through their programs, streamed (stdin to stdout: the
 * archive is never decompressed to disk, and a size bomb is cut off as it streams).
 */
function decompressor(c: Compression): Decompressor {
  if (c === 'none') {
    const p = new PassThrough();
    return { input: p, output: p, done: Promise.resolve(undefined), kill: () => p.destroy() };
  }
  if (c === 'gzip') {
    const z = createGunzip();
    return { input: z, output: z, done: Promise.resolve(undefined), kill: () => z.destroy() };
  }
  needDecompressor(c);
  const { prog } = PROGRAM[c];
  return spawnFilter(prog, ['-d', '-c', '-q']);
}

export interface ScanOptions extends TarCheckOptions {
  /** Write the bytes read to this new file (0600): what tar later unpacks. */
  copyTo?: string;
  /** Called with bytes read and the file's size, at most every two seconds. */
  onProgress?: (done: number, total: number) => void;
}

export interface ScanResult {
  compression: Compression;
  sha256: string;
  size: number;
  entries: number;
  unpacked: number;
  foreignIds: number;
  topLevel: Set<string>;
  captured: Map<string, Buffer>;
}

const isPipeNoise = (e: unknown): boolean => ['EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED'].includes((e as NodeJS.ErrnoException)?.code ?? '');

/**
 * Reads an archive once, start to end: hashes it, optionally copies it, decompresses and
 * checks its tar stream. Throws a refusal (exit 2) naming the first offending entry; a
 * truncated or damaged stream is a refusal too.
 */
export async function scanArchive(file: string, opts: ScanOptions): Promise<ScanResult> {
  const fh = await fsp.open(file, C.O_RDONLY);
  let copy: fsp.FileHandle | undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw invalid(`${file} is not a regular file`);
    const head = Buffer.alloc(BLOCK);
    const { bytesRead } = await fh.read(head, 0, BLOCK, 0);
    const compression = compressionOf(head.subarray(0, bytesRead));
    if (!compression) throw refusal(opts.label, 'it is not a tar archive (plain, or compressed with gzip, xz, zstd or bzip2)');
    const dec = decompressor(compression);
    if (opts.copyTo) copy = await fsp.open(opts.copyTo, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    const copyFd = copy?.fd;
    const checker = new TarChecker(opts);
    const hash = createHash('sha256');
    let read = 0;
    let last = Date.now();
    const tee = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        try {
          hash.update(chunk);
          read += chunk.length;
          if (copyFd !== undefined) {
            let off = 0;
            while (off < chunk.length) off += writeSync(copyFd, chunk, off, chunk.length - off);
          }
          if (opts.onProgress && Date.now() - last >= 2000) {
            last = Date.now();
            opts.onProgress(read, st.size);
          }
          cb(null, chunk);
        } catch (e) {
          cb(e as Error);
        }
      },
    });
    const src = fh.createReadStream({ start: 0, highWaterMark: 1 << 20, autoClose: false });
    const piped = pipeline(src, tee, dec.input).then(
      () => undefined,
      (e: unknown) => e,
    );
    let failure: unknown;
    try {
      for await (const chunk of dec.output) checker.feed(chunk as Buffer);
    } catch (e) {
      failure = e;
    }
    if (failure) {
      src.destroy();
      tee.destroy();
      dec.kill();
    }
    const pipeErr = await piped;
    const decErr = await dec.done;
    if (failure instanceof VpsError) throw failure;
    if (pipeErr && !isPipeNoise(pipeErr) && !(pipeErr as { code?: string }).code?.startsWith('Z_')) {
      if ((pipeErr as NodeJS.ErrnoException).code === 'ENOSPC') throw new VpsError(ExitCode.NO_RESOURCES, `out of disk space in the pool while reading ${opts.label}`, { hint: 'free space in the pool (vpsctl pool info shows it)' });
      throw failed(`could not read ${file}: ${(pipeErr as Error).message}`);
    }
    if (decErr) throw refusal(opts.label, `the archive is damaged or truncated (${decErr})`);
    if (failure) throw refusal(opts.label, `the archive is damaged or truncated (${compression}: ${(failure as Error).message})`);
    if (pipeErr) throw refusal(opts.label, `the archive is damaged or truncated (${(pipeErr as Error).message})`);
    checker.finish();
    return {
      compression,
      sha256: hash.digest('hex'),
      size: read,
      entries: checker.entries,
      unpacked: checker.unpacked,
      foreignIds: checker.foreignIds,
      topLevel: checker.topLevel,
      captured: checker.captured,
    };
  } finally {
    await copy?.close();
    await fh.close();
  }
}

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
}

const SHA_RE = /^[0-9a-f]{64}$/;

export function validateSha256(s: string): string {
  const v = s.trim().toLowerCase();
  if (!SHA_RE.test(v)) throw invalid(`--sha256 ${JSON.stringify(s)} is not a SHA-256 (64 hex digits)`);
  return v;
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
    const scan = await scanArchive(file, {
      label: src.label,
      maxSize: opts.maxSize,
      capture: opts.capture,
      copyTo,
      onProgress: (done, total) => this.progress.info(`  checking ${src.label}: ${formatSize(done)} of ${formatSize(total)}`),
    });
    this.progress.info(`  ${src.label}: ${scan.compression === 'none' ? 'tar' : `${scan.compression} tar`}, ${scan.entries} entries, about ${formatSize(scan.unpacked)} unpacked, sha256 ${scan.sha256}`);
    return { source: src, scan, file: copyTo ?? file };
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
      files: [{ name: c.source.label, size: c.scan.size, sha256: c.scan.sha256 }],
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
        { name: meta.source.label, size: meta.scan.size, sha256: meta.scan.sha256 },
        { name: rootfs.source.label, size: rootfs.scan.size, sha256: rootfs.scan.sha256 },
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
      const r = await this.run.run(
        'tar',
        [
          '--extract',
          `--file=${c.file}`,
          `--directory=${rootfs}`,
          ...TAR_FLAG[c.scan.compression],
          '--numeric-owner',
          '--same-owner',
          '--same-permissions',
          '--xattrs',
          '--xattrs-include=security.capability',
          '--warning=no-timestamp',
        ],
        { reject: false },
      );
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
