import { Command, Errors } from '@oclif/core';
import { ErrorCodeName, ExitCode, VpsError, type ExitCodeValue } from '../base/errors.js';
import type { Progress } from '../base/types.js';
import { table } from './render.js';

/**
 * The base of every vpsctl command: `--json` (the returned object is the JSON), progress on
 * stderr, and one place that turns errors into a message, a hint and a stable exit code.
 */
export abstract class VpsCommand<T> extends Command {
  static override enableJsonFlag = true;

  /** Progress lines on stderr, quiet under --json unless VPSCTL_PROGRESS=1. */
  protected progress(): Progress {
    const quiet = this.jsonEnabled() && process.env.VPSCTL_PROGRESS !== '1';
    const say = (s: string): void => {
      if (!quiet) process.stderr.write(`${s}\n`);
    };
    return {
      step: (n, total, message) => say(`[${n}/${total}] ${message}`),
      info: (message) => say(message),
      warn: (message) => process.stderr.write(`vpsctl: warning: ${message}\n`),
    };
  }

  abstract override run(): Promise<T>;

  /**
   * The end of a command over many containers (`--all`): a table and a count for people,
   * the rows for programs, exit 1 when any failed (the rows still printed).
   */
  protected batch<R extends { id: string; ok: boolean; action: string; detail: string; error?: { message: string } }>(rows: R[], done: string): R[] {
    const failed = rows.filter((r) => !r.ok);
    if (this.jsonEnabled()) {
      if (failed.length) {
        this.logJson(rows);
        this.exit(1);
      }
      return rows;
    }
    this.log(table(rows, [
      { header: 'ID', get: (r) => r.id },
      { header: 'RESULT', get: (r) => (r.ok ? (r.action === 'skipped' ? 'skipped' : 'ok') : 'FAILED') },
      { header: 'DETAIL', get: (r) => r.error?.message ?? r.detail },
    ]));
    this.log(`${rows.filter((r) => r.ok && r.action !== 'skipped').length} ${done}, ${rows.filter((r) => r.ok && r.action === 'skipped').length} skipped${failed.length ? `; failed: ${failed.map((f) => f.id).join(', ')}` : ''}`);
    if (failed.length) this.exit(1);
    return rows;
  }

  protected override toErrorJson(err: unknown): unknown {
    if (err instanceof VpsError) return { error: err.toJSON() };
    const exitCode = ((err as { oclif?: { exit?: number } }).oclif?.exit ?? 1) as ExitCodeValue;
    return { error: { code: ErrorCodeName[exitCode] ?? 'FAILED', exitCode, message: (err as Error).message } };
  }

  protected override async catch(err: Error & { oclif?: { exit?: number } }): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err;
    if (err instanceof VpsError) {
      if (this.jsonEnabled()) this.logJson(this.toErrorJson(err));
      else {
        process.stderr.write(`vpsctl: error: ${err.message}\n`);
        if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
      }
      this.exit(err.exitCode);
    }
    // parse errors are usage errors (oclif marks them exit 2); anything else is a plain failure
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err));
      this.exit(err.oclif?.exit ?? ExitCode.FAILED);
    }
    return super.catch(err);
  }
}
