/**
 * Fetching template archives over http(s): files into the template cache's work directory
 * with a size cap and progress, an LXC image server's index (`meta/1.0/index-system`), and
 * its SHA256SUMS. Node's own fetch; nothing here unpacks anything (src/templates/import.ts
 * checks and unpacks).
 */
import { constants as C, promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { VpsError, ExitCode, failed, invalid, notFound } from '../base/errors.js';
import type { Progress } from '../base/types.js';
import { formatSize } from '../base/units.js';
import { checkUrl } from '../base/ids.js';

/** The environment variable that names the image server when `--server` is not given. */
export const IMAGE_SERVER_ENV = 'VPSCTL_IMAGE_SERVER';

export const isUrl = (s: string): boolean => /^https?:\/\//i.test(s);

/** The image server: `--server`, else $VPSCTL_IMAGE_SERVER; there is no built-in default. */
export function resolveServer(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const server = flag ?? env[IMAGE_SERVER_ENV];
  if (!server) {
    throw invalid(
      'no image server: give --server URL or set VPSCTL_IMAGE_SERVER',
      `the server is an LXC image server (it serves meta/1.0/index-system), e.g. --server https://images.example.org, or export ${IMAGE_SERVER_ENV}=URL`,
    );
  }
  return checkUrl(server, flag ? '--server' : IMAGE_SERVER_ENV).replace(/\/+$/, '');
}

export interface FetchedFile {
  file: string;
  url: string;
  size: number;
  sha256: string;
}

interface FetchOptions {
  /** Refuse (exit 2) a body larger than this. */
  maxBytes: number;
  /** A 404 or 410 returns undefined instead of failing. */
  optional?: boolean;
  progress?: Progress;
  /** What the progress lines call the file. */
  label?: string;
}

async function get(url: string, signal: AbortSignal, optional: boolean | undefined): Promise<Response | undefined> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow', signal });
  } catch (e) {
    const cause = (e as { cause?: { message?: string; code?: string } }).cause;
    throw failed(`could not fetch ${url}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, { hint: 'check the URL and the network' });
  }
  if (res.status === 404 || res.status === 410) {
    await res.body?.cancel().catch(() => undefined);
    if (optional) return undefined;
    throw notFound(`${url} does not exist (HTTP ${res.status})`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw failed(`could not fetch ${url}: HTTP ${res.status} ${res.statusText}`);
  }
  return res;
}

function tooLarge(url: string, maxBytes: number): VpsError {
  return new VpsError(ExitCode.USAGE, `refusing ${url}: it is larger than ${formatSize(maxBytes)} (--max-size)`, {
    hint: 'raise --max-size if this is expected; nothing was kept',
  });
}

/**
 * Streams `url` into `dest` (created 0600, never over an existing file or through a link),
 * hashing it on the way. Progress lines (bytes of total) on the caller's progress at most
 * every second. The caller removes `dest` when anything fails.
 */
export async function fetchToFile(url: string, dest: string, opts: FetchOptions): Promise<FetchedFile | undefined> {
  const ctl = new AbortController();
  const res = await get(url, ctl.signal, opts.optional);
  if (!res) return undefined;
  const total = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(total) && total > opts.maxBytes) {
    ctl.abort();
    throw tooLarge(url, opts.maxBytes);
  }
  const label = opts.label ?? url;
  const hash = createHash('sha256');
  const fh = await fsp.open(dest, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
  let done = 0;
  let last = Date.now();
  const say = (): void => opts.progress?.info(`  ${label}: ${formatSize(done)}${Number.isFinite(total) ? ` of ${formatSize(total)}` : ''}`);
  try {
    if (res.body) {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          done += chunk.length;
          if (done > opts.maxBytes) {
            ctl.abort();
            throw tooLarge(url, opts.maxBytes);
          }
          hash.update(chunk);
          let off = 0;
          while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
          if (Date.now() - last >= 1000) {
            last = Date.now();
            say();
          }
        }
      } catch (e) {
        if (e instanceof VpsError) throw e;
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOSPC') throw new VpsError(ExitCode.NO_RESOURCES, `out of disk space in the pool while downloading ${url}`, { hint: 'free space in the pool (vpsctl pool info shows it)' });
        throw failed(`the download of ${url} broke off after ${formatSize(done)}: ${(e as Error).message}`, { hint: 'retry; check the network' });
      }
    }
    if (Number.isFinite(total) && done !== total) throw failed(`the download of ${url} broke off after ${formatSize(done)} of ${formatSize(total)}`, { hint: 'retry; check the network' });
    await fh.sync();
  } finally {
    await fh.close();
  }
  say();
  return { file: dest, url, size: done, sha256: hash.digest('hex') };
}

/** A small text document (an index, SHA256SUMS), at most `maxBytes`. */
export async function fetchText(url: string, opts: { maxBytes?: number; optional?: boolean } = {}): Promise<string | undefined> {
  const max = opts.maxBytes ?? 16 * 1024 * 1024;
  const ctl = new AbortController();
  const res = await get(url, ctl.signal, opts.optional);
  if (!res) return undefined;
  const parts: Buffer[] = [];
  let n = 0;
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        n += chunk.length;
        if (n > max) {
          ctl.abort();
          throw tooLarge(url, max);
        }
        parts.push(Buffer.from(chunk));
      }
    }
  } catch (e) {
    if (e instanceof VpsError) throw e;
    throw failed(`could not fetch ${url}: ${(e as Error).message}`);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** One line of an image server's index: `dist;release;arch;variant;serial;path`. */
export interface IndexEntry {
  dist: string;
  release: string;
  arch: string;
  variant: string;
  serial: string;
  path: string;
}

const FIELD_RE = /^[A-Za-z0-9._:+~-]+$/;
const PATH_RE = /^\/?[A-Za-z0-9._:+~/-]+\/?$/;

/** Parses an index; lines that are not six sane fields (comments, blanks, junk) are skipped. */
export function parseIndex(text: string): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(';');
    if (f.length !== 6 || !f.slice(0, 5).every((x) => FIELD_RE.test(x))) continue;
    const p = f[5];
    if (!PATH_RE.test(p) || p.split('/').some((c) => c === '..' || c === '.')) continue;
    out.push({ dist: f[0], release: f[1], arch: f[2], variant: f[3], serial: f[4], path: p });
  }
  return out;
}

/** The newest build (highest serial) of one image; serials sort as text (`20240101_05:24`). */
export function pickImage(entries: IndexEntry[], want: { dist: string; release: string; arch: string; variant: string }): IndexEntry | undefined {
  const match = entries.filter((e) => e.dist === want.dist && e.release === want.release && e.arch === want.arch && e.variant === want.variant);
  match.sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0));
  return match.at(-1);
}

/** `SHA256SUMS`: `<hex>  <name>` (or `<hex> *<name>`) per line; names without a leading `./`. */
export function parseSha256Sums(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-fA-F]{64})\s+\*?(?:\.\/)?(\S.*?)\s*$/.exec(line);
    if (m) out.set(m[2], m[1].toLowerCase());
  }
  return out;
}

/** `<server>/<path>/` with exactly one slash at each join (the index's paths start at the server's base). */
export function imageBaseUrl(server: string, p: string): string {
  return `${server.replace(/\/+$/, '')}/${p.replace(/^\/+/, '').replace(/\/+$/, '')}/`;
}

export function indexUrl(server: string): string {
  return `${server.replace(/\/+$/, '')}/meta/1.0/index-system`;
}
