/**
 * A second opinion on an archive the checker passed: GNU tar's own listing of the very file
 * it will unpack, with the options it will unpack with, compared member by member (type,
 * name, size, link target) with what the checker read. tar.ts means to read archives exactly
 * as GNU tar does; this proves it for each archive, so a reading this project got wrong ends
 * in a refusal rather than in a member nobody checked.
 *
 * Both sides stream: the checker's entries go to a file as it reads them (ListingSpool), and
 * tar's listing is read line by line beside that file, so memory stays bounded however many
 * members an archive holds.
 */
import { createReadStream, writeSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { spawnFilter } from '../sys/exec.js';
import { show, type TarEntry } from './tar.js';

/** One member as `tar --list --verbose` shows it: its type letter, name, size (or major,minor) and link target. */
export interface Listed {
  type: string;
  name: string;
  size: string;
  link: string;
}

/** The type letters of GNU tar's listing (list.c simple_print_header). */
const LETTER: Record<string, string> = { '1': 'h', '2': 'l', '3': 'c', '4': 'b', '5': 'd', '6': 'p', '7': 'C' };
const WORD: Record<string, string> = { '-': 'file', h: 'hardlink', d: 'directory', l: 'symlink', c: 'character device', b: 'block device', p: 'FIFO', C: 'contiguous file' };

/** What GNU tar lists for an entry the checker read (devices never pass it, so no major,minor). */
export function listedOf(e: TarEntry): Listed {
  const regular = e.typeflag === '0' || e.typeflag === '\0';
  // an old-style regular file whose name ends in "/" is listed (and unpacked) as a directory
  const type = regular ? (e.name.endsWith('/') ? 'd' : '-') : (LETTER[e.typeflag] ?? '?');
  return { type, name: e.name, size: String(e.size), link: type === 'h' || type === 'l' ? e.link : '' };
}

function describe(l: Listed): string {
  const what = WORD[l.type] ?? `a member of type ${JSON.stringify(l.type)}`;
  const more = l.type === 'h' || l.type === 'l' ? ` -> ${show(l.link)}` : l.size.includes(',') ? ` ${l.size}` : ` of ${l.size} bytes`;
  return `${what} ${show(l.name)}${more}`;
}

// ---- reading GNU tar's listing -------------------------------------------------------------------

const ESCAPES: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', '"': '"' };

/**
 * A name as `--quoting-style=c` prints it, starting at the `"` at `at`: C escapes, every byte
 * that is not printable ASCII as three octal digits. Undefined for anything else.
 */
export function unquote(s: string, at: number): { text: string; end: number } | undefined {
  if (s[at] !== '"') return undefined;
  let text = '';
  for (let i = at + 1; i < s.length; i++) {
    const c = s[i];
    if (c === '"') return { text, end: i + 1 };
    if (c !== '\\') {
      text += c;
    } else if (Object.hasOwn(ESCAPES, s[i + 1])) {
      text += ESCAPES[s[i + 1]];
      i++;
    } else if (/^[0-7]{3}$/.test(s.slice(i + 1, i + 4))) {
      text += String.fromCharCode(parseInt(s.slice(i + 1, i + 4), 8));
      i += 3;
    } else {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Everything before the name: type and mode letters (and a blank or `*` for extended
 * attributes), numeric uid/gid, size or major,minor, the time (with its padding).
 */
const HEAD = /^(.)[-rwxsStT]{9}[ *]? \d+\/\d+ +(\d+|\d+,\d+) [-0-9:. ]+ $/;

/** One line of `tar --list --verbose --numeric-owner --quoting-style=c`; undefined if it is not one. */
export function parseListing(line: string): Listed | undefined {
  const q = line.indexOf('"');
  const head = q < 0 ? null : HEAD.exec(line.slice(0, q));
  const name = head ? unquote(line, q) : undefined;
  if (!head || !name) return undefined;
  const type = head[1];
  const rest = line.slice(name.end);
  const arrow = type === 'l' ? ' -> ' : type === 'h' ? ' link to ' : '';
  if (!arrow) return rest === '' ? { type, name: name.text, size: head[2], link: '' } : undefined;
  const link = rest.startsWith(arrow) ? unquote(line, name.end + arrow.length) : undefined;
  return link && link.end === line.length ? { type, name: name.text, size: head[2], link: link.text } : undefined;
}

/** The longest listing line read (a 1 MiB name and link, quoted); tar's output beyond it is refused. */
const MAX_LINE = 16 * 1024 * 1024;

/** The lines of a stream, split at "\n" only (names may hold any other byte). */
async function* lines(stream: Readable, encoding: BufferEncoding): AsyncGenerator<string> {
  stream.setEncoding(encoding);
  let rest = '';
  for await (const chunk of stream as AsyncIterable<string>) {
    const text = rest + chunk;
    let from = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', from)) {
      yield text.slice(from, i);
      from = i + 1;
    }
    rest = text.slice(from);
    if (rest.length > MAX_LINE) throw new Error(`a listing line longer than ${MAX_LINE} bytes`);
  }
  if (rest) yield rest;
}

// ---- the checker's side ---------------------------------------------------------------------------

/** The checker's entries, one JSON line each, written to a file (descriptor) as they come. */
export class ListingSpool {
  private pending: string[] = [];
  private bytes = 0;

  constructor(private readonly fd: number) {}

  add(e: TarEntry): void {
    const l = listedOf(e);
    const line = `${JSON.stringify([l.type, l.name, l.size, l.link])}\n`;
    this.pending.push(line);
    this.bytes += line.length;
    if (this.bytes >= 1 << 20) this.flush();
  }

  flush(): void {
    const data = Buffer.from(this.pending.join(''), 'utf8');
    for (let off = 0; off < data.length; ) off += writeSync(this.fd, data, off, data.length - off);
    this.pending = [];
    this.bytes = 0;
  }
}

/** The entries a ListingSpool wrote, in order. */
export async function* readSpool(file: string): AsyncGenerator<Listed> {
  for await (const line of lines(createReadStream(file), 'utf8')) {
    const [type, name, size, link] = JSON.parse(line) as string[];
    yield { type, name, size, link };
  }
}

// ---- the comparison ---------------------------------------------------------------------------------

/**
 * Lists an archive with GNU tar (`readArgs`: the file and the options the unpack reads it
 * with) and compares that listing with `ours`, entry by entry. Returns the first difference in
 * words (or why tar could not list the archive), or undefined when the two agree throughout.
 */
export async function gnuTarDifference(readArgs: readonly string[], ours: AsyncIterable<Listed> | Iterable<Listed>): Promise<string | undefined> {
  const tar = spawnFilter('tar', ['--list', '--verbose', '--quoting-style=c', ...readArgs]);
  tar.input.end();
  const theirs = lines(tar.output, 'latin1');
  let diff: string | undefined;
  let atEnd = false;
  let n = 0;
  try {
    for await (const mine of ours) {
      n++;
      const t = await theirs.next();
      const their = t.done ? undefined : parseListing(t.value);
      if (t.done) diff = `it lists no entry ${n}, where this check read ${describe(mine)}`;
      else if (!their) diff = `it lists entry ${n} as ${show(t.value)}, which this check cannot read`;
      else if (their.type !== mine.type || their.name !== mine.name || their.size !== mine.size || their.link !== mine.link) {
        diff = `at entry ${n} this check read ${describe(mine)}, GNU tar lists ${describe(their)}`;
      }
      if (diff) break;
    }
    if (!diff) {
      const t = await theirs.next();
      if (!t.done) diff = `it lists an entry ${n + 1} this check did not read: ${show(t.value)}`;
      atEnd = !diff;
    }
  } finally {
    // stopped before the end of tar's listing: nothing more of it matters
    if (!atEnd) tar.kill();
    await theirs.return(undefined);
    tar.output.destroy();
  }
  const failed = await tar.done;
  if (diff) return `GNU tar reads it differently than this check: ${diff}${failed && !/killed by SIGKILL/.test(failed) ? ` (${failed})` : ''}`;
  return failed ? `GNU tar could not list it: ${failed}` : undefined;
}
