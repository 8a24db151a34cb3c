import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { VpsError } from '../base/errors.js';
import type { Progress } from '../base/types.js';

/** Long work the daemon does for a client (create, clone, snapshot, export), as the client sees it. */
export interface Operation {
  id: string;
  /** What it does: `create 101`, `snapshot 101`. */
  description: string;
  status: 'running' | 'done' | 'failed';
  created: string;
  updated: string;
  /** The last step it reported, and its last message. */
  progress: { step: number; total: number; message: string } | null;
  /** Its answer when done: the CLI's --json object. */
  result: unknown;
  /** Why it failed: the CLI's error object. */
  error: { code: string; exitCode: number; message: string; hint?: string } | null;
  /** The daemon that ran it. */
  pid: number;
}

const KEEP = 200; // finished operations kept on disk

/**
 * The daemon's operations, each a JSON file in `<run_dir>/.operations/` rewritten atomically
 * at each change: a client polls or waits on one; a daemon restarted meanwhile reads them
 * back, and marks those a dead daemon was running as failed (the work itself, a create half
 * done, is what `host check --fix` cleans).
 */
export class Operations {
  private readonly waiters = new Map<string, (() => void)[]>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const op of this.all()) {
      if (op.status === 'running' && op.pid !== process.pid) {
        this.save({ ...op, status: 'failed', error: { code: 'FAILED', exitCode: 1, message: `the daemon (pid ${op.pid}) running it went away`, hint: 'see vpsctl host check, then retry' } });
      }
    }
    this.prune();
  }

  all(): Operation[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => this.read(f.slice(0, -5)))
      .filter((o): o is Operation => !!o)
      .sort((a, b) => a.created.localeCompare(b.created));
  }

  get(id: string): Operation | undefined {
    return /^[0-9a-f-]{36}$/.test(id) ? this.read(id) : undefined;
  }

  /** Starts `work` as an operation; returns it at once (running). */
  start(description: string, work: (progress: Progress) => Promise<unknown>): Operation {
    const now = new Date().toISOString();
    const op: Operation = { id: randomUUID(), description, status: 'running', created: now, updated: now, progress: null, result: null, error: null, pid: process.pid };
    this.save(op);
    const progress: Progress = {
      step: (step, total, message) => this.update(op.id, { progress: { step, total, message } }),
      info: (message) => this.update(op.id, { progress: { ...(this.get(op.id)?.progress ?? { step: 0, total: 0 }), message } }),
      warn: (message) => this.update(op.id, { progress: { ...(this.get(op.id)?.progress ?? { step: 0, total: 0 }), message: `warning: ${message}` } }),
    };
    work(progress).then(
      (result) => this.finish(op.id, { status: 'done', result }),
      (e: unknown) => this.finish(op.id, { status: 'failed', error: errorObject(e) }),
    );
    return op;
  }

  /** The operation once it is no longer running, or as it is after `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<Operation | undefined> {
    const op = this.get(id);
    if (!op || op.status !== 'running') return op;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      const list = this.waiters.get(id) ?? [];
      list.push(() => {
        clearTimeout(t);
        resolve();
      });
      this.waiters.set(id, list);
    });
    return this.get(id);
  }

  private finish(id: string, change: Partial<Operation>): void {
    this.update(id, change);
    for (const w of this.waiters.get(id) ?? []) w();
    this.waiters.delete(id);
    this.prune();
  }

  private update(id: string, change: Partial<Operation>): void {
    const op = this.get(id);
    if (op) this.save({ ...op, ...change, updated: new Date().toISOString() });
  }

  private save(op: Operation): void {
    const file = path.join(this.dir, `${op.id}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(op), { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  private read(id: string): Operation | undefined {
    try {
      return JSON.parse(readFileSync(path.join(this.dir, `${id}.json`), 'utf8')) as Operation;
    } catch {
      return undefined;
    }
  }

  private prune(): void {
    const done = this.all().filter((o) => o.status !== 'running');
    for (const o of done.slice(0, Math.max(0, done.length - KEEP))) {
      rmSync(path.join(this.dir, `${o.id}.json`), { force: true });
    }
  }
}

/** The CLI's error object for anything thrown. */
export function errorObject(e: unknown): Operation['error'] & object {
  if (e instanceof VpsError) return e.toJSON() as Operation['error'] & object;
  return { code: 'FAILED', exitCode: 1, message: e instanceof Error ? e.message : String(e) };
}
