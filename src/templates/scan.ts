/**
 * Reading an archive once, start to end: decompress, hash, copy and check its tar stream
 * (tar-check.ts) in one pass. The bytes checked are the bytes unpacked: a local file is copied
 * into the work directory while it is read, and tar unpacks that private copy, with the
 * options `tarReadArgs` gives (which the listing that vouches for the checker uses too).
 */
import { constants as C, promises as fsp, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { ExitCode, VpsError, failed, hostNotReady, invalid } from '../base/errors.js';
import { spawnFilter } from '../sys/exec.js';
import { which } from '../sys/proc.js';
import { BLOCK, checksumMatches } from './tar.js';
import { TarChecker, excludeArgs, refusal, type TarCheckOptions } from './tar-check.js';
import { ListingSpool } from './tar-diff.js';
export type Compression = 'gzip' | 'xz' | 'zstd' | 'bzip2' | 'none';

/** The compression of a file by its first bytes (never by its name); undefined: not a tar archive. */
export function compressionOf(head: Buffer): Compression | undefined {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 4 && head.toString('latin1', 0, 3) === 'BZh' && head[3] >= 0x31 && head[3] <= 0x39) return 'bzip2';
  if (head.length >= BLOCK && checksumMatches(head)) return 'none';
  return undefined;
}

/** tar's option for unpacking each compression. */
const TAR_FLAG: Record<Compression, string[]> = { gzip: ['--gzip'], xz: ['--xz'], zstd: ['--zstd'], bzip2: ['--bzip2'], none: [] };

/**
 * How GNU tar reads the archive `file`: its decompressor, numeric owners, file capabilities,
 * and the device nodes it skips (`excludeFrom`: the checker's `dropped`, one per line). The
 * unpack adds where and how to write; the listing that vouches for the checker adds nothing,
 * so both read the archive alike.
 */
export function tarReadArgs(file: string, c: Compression, excludeFrom?: string): string[] {
  return [`--file=${file}`, ...TAR_FLAG[c], '--numeric-owner', '--xattrs', '--xattrs-include=security.capability', ...(excludeFrom ? excludeArgs(excludeFrom) : [])];
}
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

export interface ScanOptions extends Omit<TarCheckOptions, 'onEntry'> {
  /** Write the bytes read to this new file (0600): what tar later unpacks. */
  copyTo?: string;
  /** Write the entries the checker passed to this new file (0600), for gnuTarDifference (tar-diff.ts). */
  listTo?: string;
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
  /** Device nodes, by their names in the archive: tar is to skip them (excludeArgs). */
  dropped: string[];
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
  let list: fsp.FileHandle | undefined;
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
    if (opts.listTo) list = await fsp.open(opts.listTo, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    const spool = list ? new ListingSpool(list.fd) : undefined;
    const checker = new TarChecker({ ...opts, onEntry: spool && ((e) => spool.add(e)) });
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
    spool?.flush();
    return {
      compression,
      sha256: hash.digest('hex'),
      size: read,
      entries: checker.entries,
      unpacked: checker.unpacked,
      foreignIds: checker.foreignIds,
      topLevel: checker.topLevel,
      dropped: checker.dropped,
      captured: checker.captured,
    };
  } finally {
    await list?.close();
    await copy?.close();
    await fh.close();
  }
}
