/**
 * Fuzz, bounded and seeded: valid archives made from a seed (ustar, prefixes, GNU long names
 * and links, pax records with odd blanks and lengths, base-256 and blank-padded numbers,
 * signed checksums), then mutated where tar readers part ways: header bytes (the checksum
 * mostly made right again, so the mutation is read), pax records (blanks, digits, newlines,
 * NULs, with or without the header's size following), sizes, data lengths, zero blocks.
 *
 * Whenever the checker passes an archive, GNU tar's own listing of it must be the checker's
 * member list (the differential check agrees); and the checker throws nothing but refusals.
 *
 * VPSCTL_TAR_FUZZ_SEED replays a run (the seed is in the test's name and in every failure);
 * VPSCTL_TAR_FUZZ_CASES runs more cases than the default.
 */
import { VpsError } from '../../src/base/errors.js';
import { gnuTarDifference } from '../../src/templates/tar-diff.js';
import { check, importReadArgs, scratchDir, writeArchive } from './tar-gnu.js';
import { BLOCK, base256, header, octal, paxRecord, resum, sums } from './tar-writer.js';

const SEED = Number(process.env.VPSCTL_TAR_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CASES = Number(process.env.VPSCTL_TAR_FUZZ_CASES ?? 200);

/** mulberry32: a small seeded generator, the same sequence for a seed everywhere. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

class Dice {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** An archive as parts: headers, and data (unpadded) that belongs to the header before it. */
interface Part {
  kind: 'header' | 'data';
  buf: Buffer;
}

const COMPONENTS = ['a', 'etc', 'usr', 'b c', 'new\nline', 'q"uote', 'caf\xc3\xa9', '\xff\x01', '-x', 'dots..', 'x'.repeat(60), 'y'.repeat(130)];

/** A number field in one of the spellings GNU tar reads. */
function numberField(d: Dice, n: number, width: number): string | Buffer {
  switch (d.int(6)) {
    case 0:
      return base256(n, width);
    case 1:
      return `${' '.repeat(d.int(3))}${n.toString(8)}`.padEnd(width - 1, ' ').slice(0, width - 1) + '\0';
    case 2:
      return `\0${n.toString(8).padStart(width - 2, '0')}`;
    default:
      return octal(n, width);
  }
}

/** A number field spelled any way at all, mostly ways GNU tar reads differently or not at all. */
function wildNumberField(d: Dice, n: number, width: number): string | Buffer {
  const oct = n.toString(8);
  const marked = base256(n, width);
  marked[0] = d.pick([0x81, 0xa0, 0xbf, 0xc0, 0xfe, 0xff]);
  const spellings: (string | Buffer)[] = [
    ' '.repeat(width),
    `\0${' '.repeat(width - 1)}`,
    marked,
    `+${'A'.repeat(width - 3)}F`,
    `${oct}x`,
    `${oct} zz`,
    `${oct}\0zz`,
    `\0 \t${oct}`,
    `${oct.padStart(width, '0')}`,
    `${oct}8`,
    Buffer.from([0x80]),
  ];
  return d.chance(0.3) ? numberField(d, n, width) : d.pick(spellings);
}

/** Pax records for a member, with blanks, leading zeros and blanks before the length as GNU tar reads them. */
function records(d: Dice, kv: [string, string][]): Buffer {
  const out: string[] = [];
  for (const [k, v] of kv) {
    let r = paxRecord(k, v, d.pick([' ', ' ', '  ', '\t', ' \t ']));
    if (d.chance(0.15)) r = `0${r}`.replace(/^0(\d+)/, (_m, n: string) => `0${Number(n) + 1}`);
    out.push(r);
  }
  return Buffer.from(out.join(''), 'latin1');
}

/** A valid archive of a few members, each spelled one of the ways tar archives spell them. */
function generate(d: Dice): Part[] {
  const parts: Part[] = [];
  const add = (h: Buffer, data?: Buffer): void => {
    parts.push({ kind: 'header', buf: h });
    if (data?.length) parts.push({ kind: 'data', buf: data });
  };
  const dirs = ['./'];
  const files: string[] = [];
  const sum = (): 'signed' | 'unsigned' => (d.chance(0.2) ? 'signed' : 'unsigned');
  add(header({ name: './', type: '5', checksum: sum() }));
  if (d.chance(0.2)) {
    const g = records(d, [['comment', 'generated'], ['mtime', '1700000000']]);
    add(header({ name: 'pax_global_header', type: 'g', size: g.length }), g);
  }
  const n = 1 + d.int(6);
  for (let i = 0; i < n; i++) {
    const type = d.pick(['0', '0', '0', '5', '2', '1', '6', '\0', '7']);
    const isDir = type === '5';
    const base = `${d.pick(dirs)}${d.pick(COMPONENTS)}${i}`;
    const name = isDir ? `${base}/` : base;
    let link = '';
    if (type === '2') link = d.pick(['target', '../a', '/etc/passwd', 'x'.repeat(120)]);
    if (type === '1') {
      if (!files.length) continue;
      link = d.pick(files);
    }
    const data = type === '0' || type === '\0' || type === '7' ? Buffer.alloc(d.int(3) ? d.int(1100) : 0, 0x61 + i) : Buffer.alloc(0);
    const spell = d.int(4);
    let hName: string = name;
    let hLink = link;
    let prefix = '';
    if (spell === 1 || name.length > 100) {
      // pax path (and linkpath), sometimes size and ids too
      const kv: [string, string][] = [['path', name]];
      if (link) kv.push(['linkpath', link]);
      if (d.chance(0.3)) kv.push(['size', String(data.length)]);
      if (d.chance(0.2)) kv.push(['uid', String(d.int(70000))]);
      if (d.chance(0.2)) kv.push(['comment', 'pax\nrecord=with newline']);
      const x = records(d, kv);
      add(header({ name: `./PaxHeaders/${i}`, type: 'x', size: x.length }), x);
      hName = name.slice(0, 99);
      hLink = link.slice(0, 99);
    } else if (spell === 2) {
      // GNU long name and long link
      const l = Buffer.from(`${name}\0`, 'latin1');
      add(header({ name: '././@LongLink', type: 'L', size: l.length, magic: 'gnu' }), l);
      if (link) {
        const k = Buffer.from(`${link}\0`, 'latin1');
        add(header({ name: '././@LongLink', type: 'K', size: k.length, magic: 'gnu' }), k);
      }
      hName = 'ignored';
    } else if (spell === 3 && name.lastIndexOf('/') > 0) {
      const cut = name.lastIndexOf('/', name.length - 2);
      prefix = name.slice(0, cut);
      hName = name.slice(cut + 1);
    }
    if (hLink.length > 100) hLink = hLink.slice(0, 100);
    add(header({ name: hName, prefix, type, link: hLink, size: numberField(d, data.length, 12), uid: numberField(d, d.int(1000), 8), checksum: sum() }), data);
    if (isDir) dirs.push(name);
    if (type === '0') files.push(name);
  }
  return parts;
}

const FIELDS: [number, number][] = [
  [0, 100], // name
  [108, 8], // uid
  [124, 12], // size
  [148, 8], // checksum
  [156, 1], // type
  [157, 100], // link
  [257, 8], // magic and version
  [345, 155], // prefix
];
const BYTES = [0x00, 0x20, 0x09, 0x30, 0x37, 0x38, 0x31, 0x35, 0x32, 0x33, 0x80, 0x81, 0xc0, 0xff, 0x2f, 0x2e, 0x78, 0x4c, 0x4b, 0x67, 0x58, 0x53, 0x3d, 0x0a];

/** One mutation, in place. */
function mutate(d: Dice, parts: Part[]): void {
  const headers = parts.filter((p) => p.kind === 'header');
  const hp = d.pick(headers);
  const h = hp.buf;
  const dataOf = (p: Part): Part | undefined => {
    const i = parts.indexOf(p);
    return parts[i + 1]?.kind === 'data' ? parts[i + 1] : undefined;
  };
  const resize = (hdr: Buffer, n: number): void => {
    Buffer.from(octal(n, 12), 'latin1').copy(hdr, 124);
    resum(hdr);
  };
  switch (d.int(8)) {
    case 0:
    case 1: {
      // a header byte, the checksum made right again (mostly)
      const [off, len] = d.pick(FIELDS);
      h[off + d.int(len)] = d.pick(BYTES);
      if (d.chance(0.9)) resum(h, d.chance(0.2) ? 'signed' : 'unsigned');
      break;
    }
    case 2:
    case 3: {
      // a pax record: a blank, a digit, a newline, a NUL, a byte gone; the size following or not
      const x = headers.find((p) => p.buf[156] === 0x78 || p.buf[156] === 0x67) ?? headers[0];
      const data = dataOf(x);
      if (!data) break;
      const at = d.int(data.buf.length);
      const b = data.buf;
      const edits = [
        () => Buffer.concat([b.subarray(0, at), Buffer.from(d.pick([' ', '\t', '\n', '\0', '=', '0', '9'])), b.subarray(at)]),
        () => Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]),
        () => Buffer.concat([b.subarray(0, at), Buffer.from([d.pick(BYTES)]), b.subarray(at + 1)]),
      ];
      data.buf = d.pick(edits)();
      if (d.chance(0.7)) resize(x.buf, data.buf.length);
      break;
    }
    case 4: {
      // a numeric field (mostly the size; or uid, gid, the checksum) spelled any way at all
      const [at, width] = d.chance(0.7) ? [124, 12] : d.pick([[108, 8], [116, 8], [148, 8]] as const);
      const size = Math.max(0, (dataOf(hp)?.buf.length ?? 0) + d.pick([0, 0, 1, -1, BLOCK, -BLOCK, 5000]));
      const n = at === 124 ? size : at === 148 ? sums(h)[d.chance(0.8) ? 'unsigned' : 'signed'] : d.int(1 << 16);
      const f = wildNumberField(d, Math.max(0, n), width);
      h.fill(0, at, at + width);
      (typeof f === 'string' ? Buffer.from(f, 'latin1') : f).copy(h, at, 0, width);
      if (at !== 148) resum(h);
      break;
    }
    case 5: {
      // data one byte longer or shorter than its header says
      const data = parts.find((p) => p.kind === 'data');
      if (data) data.buf = d.chance(0.5) ? Buffer.concat([data.buf, Buffer.from('z')]) : data.buf.subarray(0, Math.max(0, data.buf.length - 1));
      break;
    }
    case 6:
      // a zero block, or a header, somewhere
      parts.splice(1 + d.int(parts.length), 0, { kind: 'header', buf: d.chance(0.5) ? Buffer.alloc(BLOCK) : Buffer.from(d.pick(headers).buf) });
      break;
    default: {
      // a part gone
      parts.splice(1 + d.int(parts.length - 1), 1);
    }
  }
}

function serialize(d: Dice, parts: Part[]): Buffer {
  const out: Buffer[] = [];
  for (const p of parts) {
    out.push(p.buf);
    if (p.kind === 'data') out.push(Buffer.alloc((BLOCK - (p.buf.length % BLOCK)) % BLOCK, d.chance(0.05) ? 0x41 : 0));
  }
  out.push(Buffer.alloc(d.chance(0.1) ? BLOCK : 2 * BLOCK));
  const buf = Buffer.concat(out);
  return d.chance(0.03) ? buf.subarray(0, d.int(buf.length)) : buf;
}

const scratch = scratchDir();

describe('fuzz: the checker and GNU tar read mutated archives alike', () => {
  it(`${CASES} cases from seed ${SEED} (replay with VPSCTL_TAR_FUZZ_SEED=${SEED})`, async () => {
    const d = new Dice(prng(SEED));
    let passed = 0;
    for (let i = 0; i < CASES; i++) {
      const parts = generate(d);
      const mutations = d.int(4);
      for (let m = 0; m < mutations; m++) mutate(d, parts);
      const buf = serialize(d, parts);
      const where = `seed ${SEED}, case ${i} (${mutations} mutations)`;
      let v: ReturnType<typeof check>;
      try {
        v = check(buf, { chunk: 1 + d.int(2000) });
      } catch (e) {
        throw new Error(`${where}: the checker threw ${e instanceof VpsError ? `exit ${e.exitCode}` : ''} ${(e as Error).stack}`);
      }
      if (v.refused) continue;
      passed++;
      // GNU tar reads it as the importer has it read: past the device nodes the checker drops
      const diff = await gnuTarDifference(importReadArgs(writeArchive(scratch.dir(), buf), v.dropped), v.listed);
      // GNU tar may still report an error (the differential check refuses those): the listing must agree
      if (diff && !diff.startsWith('GNU tar could not list it')) throw new Error(`${where}: the checker passed an archive ${diff}\narchive (base64): ${buf.toString('base64')}`);
    }
    // the generator makes archives the checker passes, unmutated or not
    expect(passed).toBeGreaterThan(CASES / 10);
  });
});
