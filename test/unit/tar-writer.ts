/**
 * A tiny tar writer for tests: raw 512-byte blocks, so a test can write any header a hostile
 * archive might hold (odd numbers, wrong checksums, pax records GNU tar and a naive parser
 * read differently). Field values are written exactly as given; `header` fills in what is
 * left out the way GNU tar would, and sums the checksum last unless told otherwise.
 */

/** A header field: a number (written as zero-padded octal ending in NUL) or its exact bytes. */
export type Field = number | string | Buffer;

export interface Header {
  name?: Field;
  mode?: Field;
  uid?: Field;
  gid?: Field;
  size?: Field;
  mtime?: Field;
  /** The type flag: one character ('0', '5', 'x', ...) or '\0'. */
  type?: string;
  link?: Field;
  /** Bytes 257-264: ustar ('ustar\0' + '00', the default), GNU ('ustar  \0') or none (''). */
  magic?: 'ustar' | 'gnu' | 'v7';
  uname?: Field;
  gname?: Field;
  devmajor?: Field;
  devminor?: Field;
  /** ustar's prefix field (bytes 345-499). */
  prefix?: Field;
  /** The checksum: summed as unsigned bytes (the default) or as signed ones (old Sun tar), or these exact bytes. */
  checksum?: 'unsigned' | 'signed' | Buffer | string;
}

export const BLOCK = 512;

/** `n` in octal, zero-padded to fill `width` bytes with a NUL at the end. */
export function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

/** `n` in GNU's base-256: 0x80, then big-endian bytes filling `width`. */
export function base256(n: number | bigint, width: number): Buffer {
  const b = Buffer.alloc(width);
  let v = BigInt(n);
  for (let i = width - 1; i > 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  b[0] = 0x80;
  return b;
}

function put(h: Buffer, off: number, width: number, v: Field | undefined, dflt: Field): void {
  const x = v ?? dflt;
  const bytes = typeof x === 'number' ? Buffer.from(octal(x, width), 'latin1') : Buffer.isBuffer(x) ? x : Buffer.from(x, 'latin1');
  bytes.copy(h, off, 0, Math.min(width, bytes.length));
}

/** The checksums tar accepts for a header: its bytes summed unsigned and signed, the checksum field counted as blanks. */
export function sums(h: Buffer): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

/** Writes the checksum field of a header (after it was changed): 6 octal digits, NUL, blank. */
export function resum(h: Buffer, how: 'unsigned' | 'signed' = 'unsigned'): Buffer {
  const s = sums(h)[how];
  h.write(`${(s < 0 ? 0 : s).toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** One header block. */
export function header(f: Header): Buffer {
  const h = Buffer.alloc(BLOCK);
  const type = f.type ?? '0';
  put(h, 0, 100, f.name, '');
  put(h, 100, 8, f.mode, type === '5' ? 0o755 : 0o644);
  put(h, 108, 8, f.uid, 0);
  put(h, 116, 8, f.gid, 0);
  put(h, 124, 12, f.size, 0);
  put(h, 136, 12, f.mtime, 0o14600000000);
  h.write(type, 156, 'latin1');
  put(h, 157, 100, f.link, '');
  const magic = f.magic ?? 'ustar';
  if (magic === 'ustar') h.write('ustar\x0000', 257, 'latin1');
  if (magic === 'gnu') h.write('ustar  \0', 257, 'latin1');
  if (magic !== 'v7') {
    put(h, 265, 32, f.uname, 'root');
    put(h, 297, 32, f.gname, 'root');
    put(h, 329, 8, f.devmajor, magic === 'gnu' ? '' : 0);
    put(h, 337, 8, f.devminor, magic === 'gnu' ? '' : 0);
    put(h, 345, 155, f.prefix, '');
  }
  const c = f.checksum ?? 'unsigned';
  if (c === 'unsigned' || c === 'signed') resum(h, c);
  else put(h, 148, 8, c, '');
  return h;
}

/** Data padded to whole blocks. */
export function padded(data: Buffer | string): Buffer {
  const d = Buffer.from(data as Buffer);
  return Buffer.concat([d, Buffer.alloc((BLOCK - (d.length % BLOCK)) % BLOCK)]);
}

/** A member: its header, then its data padded to whole blocks (the size field is the data's length unless given). */
export function member(f: Header, data: Buffer | string = ''): Buffer {
  const d = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return Buffer.concat([header({ size: d.length, ...f }), padded(d)]);
}

/** A pax record `<len> key=value\n`, the length counting itself (`blanks` between length and key, default one). */
export function paxRecord(key: string, value: string, blanks = ' '): string {
  const body = `${blanks}${key}=${value}\n`;
  let n = body.length + 1;
  while (`${n}${body}`.length !== n) n = `${n}${body}`.length;
  return `${n}${body}`;
}

/** A pax extended header ('x', or 'g' for a global one) holding these records. */
export function pax(records: string | Buffer, type: 'x' | 'g' | 'X' = 'x', name = 'PaxHeaders/x'): Buffer {
  return member({ name, type }, typeof records === 'string' ? Buffer.from(records, 'latin1') : records);
}

/** A GNU long name ('L') or long link ('K') header: the name and its NUL. */
export function longName(name: string, type: 'L' | 'K' = 'L'): Buffer {
  return member({ name: '././@LongLink', type, magic: 'gnu' }, `${name}\0`);
}

/** The end-of-archive marker: two zero blocks. */
export const END = Buffer.alloc(2 * BLOCK);

/** An archive of these parts, with the end marker. */
export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}
