/**
 * A tar stream read exactly as GNU tar 1.34 (Debian 12's) reads it, or refused.
 *
 * The import checker (tar-check.ts) judges members; GNU tar unpacks them. If the two read
 * one byte of an archive differently, a member can hide from the checker inside what it
 * takes for another member's data. So this reader follows GNU tar's own code: headers and
 * checksums as list.c (read_header, tar_checksum, from_header) reads them, pax records as
 * xheader.c (decode_record) does, long names and links as GNU tar keeps them. Where GNU tar
 * would report an error and carry on, or where its listing and its unpacking would part ways,
 * or where this reader does not model what GNU tar does (sparse files, multi-volume archives),
 * it throws a TarError: the archive is refused, never guessed at.
 */

export const BLOCK = 512;
/** The largest GNU long name, long link or pax header read. */
export const MAX_EXTENDED = 1024 * 1024;
/** Data allowed after the end-of-archive marker (tar pads archives to its record size). */
const MAX_TRAILING = 16 * 1024 * 1024;

/** Why an archive is not read: GNU tar would read it differently, or report it damaged. */
export class TarError extends Error {}

/** One member as GNU tar sees it once its extended headers are applied. Strings are raw bytes (latin1). */
export interface TarEntry {
  /** The type flag: '0' (or '\0') regular file, '1' hardlink, '2' symlink, '3'/'4' device, '5' directory, '6' FIFO, '7' contiguous file. */
  typeflag: string;
  name: string;
  link: string;
  /** Bytes of data (a regular file's), as tar counts them: from the header or pax `size`. */
  size: number;
  uid: number;
  gid: number;
}

/** What a reader hands its entries to. */
export interface TarVisitor {
  /** A member's header was read; return true to get its data (a regular file's) through `data`. */
  entry(e: TarEntry): boolean;
  data(e: TarEntry, data: Buffer): void;
}

/** A name for messages: UTF-8 where it is, quoted, at most 200 characters. */
export const show = (s: string): string => {
  const t = Buffer.from(s, 'latin1').toString('utf8');
  return JSON.stringify(t.length > 200 ? `${t.slice(0, 200)}...` : t);
};

// ---- numbers -------------------------------------------------------------------------------

/** C's isspace() in the C locale. */
const isSpace = (b: number | undefined): boolean => b === 0x20 || (b !== undefined && b >= 0x09 && b <= 0x0d);
const isOctal = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x37;
const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;

const OFF_MAX = 2n ** 63n - 1n;
const ID_MAX = 2n ** 32n - 1n;
const INT_MAX = 2n ** 31n - 1n;

/**
 * A numeric header field as GNU tar's from_header() reads it: one leading NUL skipped (a
 * buggy old tar's), then blanks, then octal digits ended by the field's end, a NUL or a blank
 * (what follows that is never looked at); or, unless `octalOnly`, base-256: 0x80 and then
 * big-endian bytes to the field's end. Undefined where GNU tar reports an error: a field of
 * blanks, any other character, a value above `max`, a negative base-256 number. GNU tar also
 * still reads tar 1.13.6's base-64 (`+`/`-`): that is undefined here too, refused rather than
 * mirrored. Fields here are at most 12 octal digits and limits at least 2^31, so GNU tar's
 * two's-complement reading of too-large octal never applies.
 */
export function headerNumber(h: Buffer, off: number, len: number, max: bigint, octalOnly = false): bigint | undefined {
  const lim = off + len;
  let i = h[off] === 0 ? off + 1 : off;
  for (; ; i++) {
    if (i === lim) return undefined;
    if (!isSpace(h[i])) break;
  }
  let v = 0n;
  if (isOctal(h[i])) {
    for (; i < lim && isOctal(h[i]); i++) v = v * 8n + BigInt(h[i] - 0x30);
  } else if (!octalOnly && i <= lim - 2 && h[i] === 0xff) {
    return undefined;
  } else if (!octalOnly && i <= lim - 2 && h[i] === 0x80) {
    for (i++; i < lim; i++) {
      if (v >= 2n ** 56n) return undefined;
      v = (v << 8n) | BigInt(h[i]);
    }
  }
  if (i < lim && h[i] !== 0 && !isSpace(h[i])) return undefined;
  return v <= max ? v : undefined;
}

/**
 * Whether a header's checksum field matches its bytes summed (the field counted as eight
 * blanks) as unsigned or as signed chars (old Sun tar), read as octal only: tar_checksum().
 */
export function checksumMatches(h: Buffer): boolean {
  const stored = headerNumber(h, 148, 8, INT_MAX, true);
  if (stored === undefined) return false;
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === BigInt(unsigned) || stored === BigInt(signed);
}

/** A NUL-terminated field (or the whole field when it has no NUL). */
function cstr(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off);
  return h.toString('latin1', off, end < 0 || end > off + len ? off + len : end);
}

/** A header's name: with ustar's prefix only under its magic ("ustar" and a NUL; GNU's "ustar  " has no prefix). */
function ustarName(h: Buffer): string {
  const name = cstr(h, 0, 100);
  return h[345] !== 0 && h.toString('latin1', 257, 263) === 'ustar\0' ? `${cstr(h, 345, 155)}/${name}` : name;
}

// ---- pax records -----------------------------------------------------------------------------

export interface PaxRecord {
  key: string;
  /** Raw bytes (latin1); may hold NULs and newlines. */
  value: string;
}

/**
 * The records of a pax header's data as GNU tar's decode_record() reads them, in order:
 * blanks (spaces or tabs), a decimal length counted from the record's first byte (blanks
 * included), one or more blanks, the keyword up to the first `=`, the value up to the record's
 * last byte, which must be a newline. A NUL where a record would start ends the records
 * quietly (whatever follows it is ignored, by GNU tar too). Everything else GNU tar reports as
 * malformed, stops reading the header at, and carries on: a TarError here.
 */
export function parsePaxRecords(buf: Buffer): PaxRecord[] {
  const out: PaxRecord[] = [];
  for (let start = 0; ; ) {
    let p = start;
    while (buf[p] === 0x20 || buf[p] === 0x09) p++;
    if (p >= buf.length || buf[p] === 0) return out;
    const bad = (why: string): never => {
      throw new TarError(`${why} (pax record ${out.length + 1}: ${show(buf.toString('latin1', start, Math.min(buf.length, start + 40)))})`);
    };
    if (!isDigit(buf[p])) bad('a pax record without its length');
    let q = p;
    while (isDigit(buf[q])) q++;
    const digits = buf.toString('latin1', p, q).replace(/^0+(?=.)/, '');
    const len = digits.length > 15 ? Infinity : Number(digits);
    if (len > buf.length - start) bad('a pax record longer than its header');
    const next = start + len;
    let k = q;
    while (buf[k] === 0x20 || buf[k] === 0x09) k++;
    if (k === q) bad('a pax record without a blank after its length');
    // strchr(): the first "=" or NUL from the keyword on
    let eq = k;
    while (eq < buf.length && buf[eq] !== 0x3d && buf[eq] !== 0) eq++;
    if (buf[eq] !== 0x3d || eq >= next) bad('a pax record without "="');
    if (buf[next - 1] !== 0x0a) bad('a pax record that does not end in a newline');
    out.push({ key: buf.toString('latin1', k, eq), value: buf.toString('latin1', eq + 1, next - 1) });
    start = next;
  }
}

/** Global pax keywords allowed: they touch no member's name, link, size or owner, and no unpacking. */
const GLOBAL_KEYWORDS = new Set(['comment', 'charset', 'hdrcharset', 'atime', 'mtime', 'ctime']);

/** The member types read here; every other one is refused. */
const MEMBER_TYPES = new Set(['0', '\0', '1', '2', '3', '4', '5', '6', '7']);

// ---- the stream ------------------------------------------------------------------------------

type Extended = 'L' | 'K' | 'x' | 'g';

/**
 * Reads a tar stream fed to it in chunks and hands each member to a visitor. Long names,
 * long links and pax headers are gathered until the member they precede; a second one of a
 * kind before a member (GNU tar keeps only the last) is refused, as is a global pax header
 * setting anything but comments, charsets and times.
 */
export class TarReader {
  private readonly head = Buffer.alloc(BLOCK);
  private headFill = 0;
  private state: 'header' | 'data' | 'end' = 'header';
  /** Bytes of the current data run (content and padding) still to come, and of those still to keep. */
  private padLeft = 0;
  private keepLeft = 0;
  private kept?: Buffer[];
  private keptFor?: Extended | TarEntry;
  private longName?: string;
  private longLink?: string;
  private pax?: PaxRecord[];
  private zeroBlocks = 0;
  private trailing = 0;
  private headers = 0;
  /** The last member's name, for messages. */
  private last = '';

  constructor(private readonly visitor: TarVisitor) {}

  private damaged(why: string): never {
    throw new TarError(`the archive is damaged: ${why}`);
  }

  private where(): string {
    return this.last ? `after entry ${show(this.last)}` : 'at its start';
  }

  feed(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.state === 'end') {
        // GNU tar reads nothing after the end-of-archive marker
        this.trailing += chunk.length - off;
        if (this.trailing > MAX_TRAILING) this.damaged(`more than ${MAX_TRAILING >> 20}M of data follow the end-of-archive marker`);
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
      const keep = Math.min(n, this.keepLeft);
      if (this.kept && keep > 0) this.kept.push(Buffer.from(chunk.subarray(off, off + keep)));
      this.keepLeft -= keep;
      this.padLeft -= n;
      off += n;
      if (this.padLeft === 0) this.endData();
    }
  }

  /** The stream ended: it must have ended where a tar archive ends. */
  finish(): void {
    // GNU tar stops at a zero block followed by the end of the stream too (with a warning)
    const loneZero = this.state === 'header' && this.headFill === 0 && this.zeroBlocks === 1;
    if (this.state !== 'end' && !loneZero) {
      const at = this.state === 'data' ? `inside entry ${show(this.last)}` : this.headFill ? 'inside a header' : `${this.where()} without the end-of-archive marker`;
      throw new TarError(`the archive is truncated: it ends ${at}`);
    }
    if (this.longName !== undefined || this.longLink !== undefined || this.pax) this.damaged(`an extended header ${this.where()} precedes no entry`);
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      if (++this.zeroBlocks === 2) this.state = 'end';
      return;
    }
    // after one zero block GNU tar reads one more block and stops, whatever it holds
    if (this.zeroBlocks) this.damaged(`a zero block inside the archive ${this.where()}`);
    if (!checksumMatches(h)) {
      if (this.headers === 0) throw new TarError('it is not a tar archive (no valid tar header at its start)');
      this.damaged(`a header with a bad checksum ${this.where()}`);
    }
    this.headers++;
    const typeflag = String.fromCharCode(h[156]);
    const sizeField = headerNumber(h, 124, 12, OFF_MAX);
    if (sizeField === undefined) this.damaged(`a header ${this.where()} whose size is not a number tar reads`);
    if (sizeField > BigInt(Number.MAX_SAFE_INTEGER)) this.damaged(`a header ${this.where()} with a size of ${sizeField} bytes`);
    const size = Number(sizeField);
    if (typeflag === 'L' || typeflag === 'K' || typeflag === 'x' || typeflag === 'X' || typeflag === 'g') {
      // GNU tar reads Solaris' 'X' header as a pax header
      this.extended(typeflag === 'X' ? 'x' : typeflag, size);
      return;
    }
    this.member(h, typeflag, size);
  }

  private extended(kind: Extended, size: number): void {
    if (size > MAX_EXTENDED) this.damaged(`an extended header of ${size} bytes ${this.where()}`);
    // two of a kind before one member: GNU tar keeps the last, a reader might keep the first
    const pending = kind === 'L' ? this.longName : kind === 'K' ? this.longLink : kind === 'x' ? this.pax : undefined;
    if (pending !== undefined) this.damaged(`two ${kind === 'x' ? 'pax' : kind === 'L' ? 'long name' : 'long link'} headers for one entry ${this.where()}`);
    // GNU tar keeps a long name's whole last block: without a NUL inside the size, the name runs on into the padding
    const keep = kind === 'L' || kind === 'K' ? Math.ceil(size / BLOCK) * BLOCK : size;
    this.startData(size, keep, kind);
  }

  private member(h: Buffer, typeflag: string, headerSize: number): void {
    let name = this.longName ?? ustarName(h);
    let link = this.longLink ?? cstr(h, 157, 100);
    const id = (off: number, what: string): number => {
      const v = headerNumber(h, off, 8, ID_MAX);
      if (v === undefined) this.damaged(`the ${what} of entry ${show(name)} is not a number tar reads`);
      return Number(v);
    };
    let uid = id(108, 'uid');
    let gid = id(116, 'gid');
    let size = headerSize;
    for (const { key, value } of this.pax ?? []) {
      const num = (max: bigint): number => {
        if (!/^[0-9]+$/.test(value) || BigInt(value) > max) this.damaged(`pax ${key} ${show(value)} of entry ${show(name)} is not a number`);
        return Number(value);
      };
      if (key === 'path') name = value;
      else if (key === 'linkpath') link = value;
      else if (key === 'size') size = num(BigInt(Number.MAX_SAFE_INTEGER));
      else if (key === 'uid') uid = num(ID_MAX);
      else if (key === 'gid') gid = num(ID_MAX);
      else if (key.startsWith('GNU.sparse')) throw new TarError(`entry ${show(name)} is a sparse file, which this importer does not unpack`);
      else if (key.startsWith('GNU.dumpdir') || key.startsWith('GNU.volume')) throw new TarError(`entry ${show(name)} has the pax keyword ${show(key)} (incremental or multi-volume archives), which this importer does not unpack`);
    }
    this.longName = undefined;
    this.longLink = undefined;
    this.pax = undefined;
    this.last = name;
    const s = show(name);
    if (!MEMBER_TYPES.has(typeflag)) throw new TarError(`entry ${s} has the tar type ${JSON.stringify(typeflag)}${typeflag === 'S' ? ' (a sparse file)' : ''}, which this importer does not unpack`);
    // GNU tar cuts a pax path at a NUL byte: a name with one is not the name it unpacks
    if (name.includes('\0') || link.includes('\0')) throw new TarError(`entry ${s} has a NUL byte in its name or link target`);
    // Only a regular file's data is read. GNU tar lists every other type by skipping its size
    // (but a directory's) and unpacks it reading nothing (a hardlink's header size it ignores
    // altogether): data on any other type would be members to one and data to the other.
    const regular = (typeflag === '0' || typeflag === '\0' || typeflag === '7') && !name.endsWith('/');
    if (!regular && size > 0) {
      const dir = typeflag === '5' || name.endsWith('/');
      this.damaged(`entry ${s} of type ${dir ? 'directory' : JSON.stringify(typeflag)} claims ${size} bytes of data`);
    }
    const e: TarEntry = { typeflag, name, link, size, uid, gid };
    const wanted = this.visitor.entry(e);
    this.startData(regular ? size : 0, wanted ? size : 0, wanted ? e : undefined);
  }

  /** Starts a run of data blocks; `keep` bytes of it go to `kind` (an extended header, or a member that wants its data). */
  private startData(size: number, keep: number, kind: Extended | TarEntry | undefined): void {
    this.padLeft = Math.ceil(size / BLOCK) * BLOCK;
    this.keepLeft = keep;
    this.kept = kind === undefined ? undefined : [];
    this.keptFor = kind;
    if (this.padLeft === 0) this.endData();
    else this.state = 'data';
  }

  private endData(): void {
    this.state = 'header';
    const kind = this.keptFor;
    const buf = Buffer.concat(this.kept ?? []);
    this.kept = undefined;
    this.keptFor = undefined;
    if (kind === 'L') this.longName = cstr(buf, 0, buf.length);
    else if (kind === 'K') this.longLink = cstr(buf, 0, buf.length);
    else if (kind === 'x') this.pax = this.records(buf);
    else if (kind === 'g') {
      // GNU tar applies a global header's records to every later member
      const bad = this.records(buf).find((r) => !GLOBAL_KEYWORDS.has(r.key));
      if (bad) throw new TarError(`a global pax header sets ${show(bad.key)} for every later entry (${this.where()})`);
    } else if (kind) this.visitor.data(kind, buf);
  }

  private records(buf: Buffer): PaxRecord[] {
    try {
      return parsePaxRecords(buf);
    } catch (e) {
      return this.damaged(`${(e as Error).message} ${this.where()}`);
    }
  }
}
