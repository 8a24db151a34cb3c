/**
 * Test helpers: run the import checker on an archive in memory, and ask GNU tar (the one on
 * this machine, Debian 12's 1.34 in CI) what it makes of the same bytes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { VpsError } from '../../src/base/errors.js';
import { TarChecker, excludeArgs } from '../../src/templates/tar-check.js';
import { listedOf, type Listed } from '../../src/templates/tar-diff.js';
import { tarReadArgs } from '../../src/templates/scan.js';

export interface Verdict {
  /** The refusal's message, or undefined when the checker passed the archive. */
  refused?: string;
  /** What the checker read, as GNU tar would list it. */
  listed: Listed[];
  /** The device nodes it dropped (not listed: tar is told to skip them). */
  dropped: string[];
}

/**
 * tar's arguments to list `file` as the importer reads it: skipping exactly the device nodes
 * the checker dropped (written to `FILE.devices` for --exclude-from).
 */
export function importReadArgs(file: string, dropped: string[]): string[] {
  const exclude = `${file}.devices`;
  writeFileSync(exclude, dropped.map((n) => `${n}\n`).join(''), 'latin1');
  return tarReadArgs(file, 'none', exclude);
}

/** Runs the checker over `buf`, fed in chunks of `chunk` bytes; anything but a refusal is thrown on. */
export function check(buf: Buffer, opts: { maxSize?: number; chunk?: number } = {}): Verdict {
  const listed: Listed[] = [];
  const c = new TarChecker({ label: 'test.tar', maxSize: opts.maxSize ?? 2 ** 40, onEntry: (e) => listed.push(listedOf(e)) });
  const step = opts.chunk ?? buf.length;
  try {
    for (let off = 0; off < buf.length; off += step) c.feed(buf.subarray(off, off + step));
    c.finish();
  } catch (e) {
    if (!(e instanceof VpsError) || e.exitCode !== 2) throw e;
    return { refused: e.message, listed, dropped: c.dropped };
  }
  return { listed, dropped: c.dropped };
}

/** A directory for this test file's archives, removed after all its tests. */
export function scratchDir(): { dir: () => string } {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vpsctl-tar-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return { dir: () => dir };
}

let seq = 0;

/** Writes `buf` to a new file in `dir`; returns its path. */
export function writeArchive(dir: string, buf: Buffer): string {
  const f = path.join(dir, `a${++seq}.tar`);
  writeFileSync(f, buf);
  return f;
}

export interface GnuListing {
  /** tar's exit status: 0, or 2 when it reported an error (and carried on). */
  status: number;
  /** The lines of `tar --list --verbose --numeric-owner --quoting-style=c`. */
  lines: string[];
  stderr: string;
}

/** GNU tar's own listing of an archive file (skipping `dropped` as the import has it skip them). */
export function gnuList(file: string, dropped: string[] = []): GnuListing {
  const exclude = `${file}.devices`;
  writeFileSync(exclude, Buffer.from(dropped.map((n) => `${n}\n`).join(''), 'latin1'));
  const r = spawnSync('tar', ['--list', '--verbose', '--numeric-owner', '--quoting-style=c', `--file=${file}`, ...excludeArgs(exclude)], { env: { ...process.env, LC_ALL: 'C' }, encoding: 'latin1' });
  return { status: r.status ?? -1, lines: r.stdout.split('\n').filter(Boolean), stderr: r.stderr };
}
