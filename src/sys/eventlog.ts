import { closeSync, constants as C, fstatSync, mkdirSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { open as openAsync, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { eventLine, matches, parseEvent, type EventFilter, type VpsEvent } from '../base/events.js';

/** Bytes in the current file before it is rotated, and rotated files kept (as in spawn-events.c). */
export const EVENTS_MAX = 4 << 20;
export const EVENTS_KEEP = 4;
const ARCHIVE = /^events-.+\.log$/;

/**
 * The host's event log: `events.log` in its directory, plus up to EVENTS_KEEP rotated files
 * `events-<UTC time>-<pid>.log`. The CLI, the daemon and every monitor append to it, each
 * line with one write(2) on O_APPEND (so lines never interleave); whoever leaves the file
 * over EVENTS_MAX renames it to a name of its own and prunes the oldest rotated files.
 * helpers/spawn-events.c is the monitor's side of the same rules.
 */
export class EventLog {
  constructor(readonly file: string) {}

  /** Appends one event. Never throws: an event that cannot be logged is a warning. */
  append(e: VpsEvent, warn: (msg: string) => void = () => undefined): void {
    let fd: number | undefined;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o750 });
      fd = openSync(this.file, C.O_WRONLY | C.O_APPEND | C.O_CREAT | C.O_NOFOLLOW, 0o640);
      writeSync(fd, eventLine(e));
      this.rotate(fd);
    } catch (err) {
      warn(`event ${e.kind} of ${e.id} not logged: ${(err as Error).message}`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private rotate(fd: number): void {
    const mine = fstatSync(fd);
    if (mine.size <= EVENTS_MAX) return;
    try {
      if (statSync(this.file).ino !== mine.ino) return; // another writer rotated it already
      const stamp = new Date().toISOString().replace(/[-:]/g, '');
      renameSync(this.file, path.join(path.dirname(this.file), `events-${stamp}-${process.pid}.log`));
    } catch {
      return;
    }
    for (const old of this.archives().slice(0, -EVENTS_KEEP)) unlinkSync(old);
  }

  /** The rotated files, oldest first (their names sort by time). */
  private archives(): string[] {
    let names: string[] = [];
    try {
      names = readdirSync(path.dirname(this.file)).filter((n) => ARCHIVE.test(n));
    } catch {
      /* no log yet */
    }
    return names.sort().map((n) => path.join(path.dirname(this.file), n));
  }

  /** Every event in the log (rotated files first) that the filter lets through, oldest first. */
  async read(filter: EventFilter = {}): Promise<VpsEvent[]> {
    const out: VpsEvent[] = [];
    for (const f of [...this.archives(), this.file]) {
      for (const line of (await readFrom(f, 0)).toString('utf8').split('\n')) {
        const e = parseEvent(line);
        if (e && matches(e, filter)) out.push(e);
      }
    }
    return out;
  }

  /**
   * Calls `onEvent` for every event the filter lets through (with `past`, first those the log
   * holds, then each new one as it comes) until `signal` aborts: the log is looked at every
   * `everyMs`, and followed across a rotation. None is missed or given twice.
   */
  async follow(filter: EventFilter, onEvent: (e: VpsEvent) => void, signal: AbortSignal, opts: { past?: boolean; everyMs?: number } = {}): Promise<void> {
    let ino = await inode(this.file);
    let offset = ino === undefined ? 0 : (await stat(this.file)).size;
    let partial = Buffer.alloc(0);
    if (opts.past) {
      // the file we stat'ed may have been rotated since: read it under the name it has now
      const archives = this.archives();
      const cur = inodeSync(this.file) === ino ? this.file : archives.find((f) => inodeSync(f) === ino);
      for (const f of archives.filter((a) => a !== cur)) this.emitLines((await readFrom(f, 0)).toString('utf8'), filter, onEvent);
      const head = cur === undefined ? Buffer.alloc(0) : (await readFrom(cur, 0)).subarray(0, offset);
      offset = head.lastIndexOf(0x0a) + 1; // a line still being written is read with the rest
      this.emitLines(head.subarray(0, offset).toString('utf8'), filter, onEvent);
    }
    // whole lines only: a line is complete (and whole UTF-8) once its newline is there
    const take = (got: Buffer): void => {
      const all = Buffer.concat([partial, got]);
      const cut = all.lastIndexOf(0x0a) + 1;
      partial = all.subarray(cut);
      this.emitLines(all.subarray(0, cut).toString('utf8'), filter, onEvent);
    };
    while (!signal.aborted) {
      await new Promise((r) => setTimeout(r, opts.everyMs ?? 200));
      const now = await inode(this.file);
      if (now !== ino) {
        // rotated (or made): finish the old file under its new name, then the new one from its start
        const moved = ino === undefined ? undefined : this.archives().find((f) => inodeSync(f) === ino);
        if (moved) take(await readFrom(moved, offset));
        partial = Buffer.alloc(0);
        ino = now;
        offset = 0;
      }
      if (now === undefined) continue;
      const got = await readFrom(this.file, offset);
      offset += got.length;
      take(got);
    }
  }

  private emitLines(text: string, filter: EventFilter, onEvent: (e: VpsEvent) => void): void {
    for (const line of text.split('\n')) {
      const e = parseEvent(line);
      if (e && matches(e, filter)) onEvent(e);
    }
  }
}

async function readFrom(file: string, offset: number): Promise<Buffer> {
  let fh;
  try {
    fh = await openAsync(file, C.O_RDONLY | C.O_NOFOLLOW);
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = (await fh.stat()).size;
    if (size <= offset) return Buffer.alloc(0);
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function inode(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).ino;
  } catch {
    return undefined;
  }
}

function inodeSync(file: string): number | undefined {
  try {
    return statSync(file).ino;
  } catch {
    return undefined;
  }
}
