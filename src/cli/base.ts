import { Command, Errors } from '@oclif/core';
import { ErrorCodeName, ExitCode, VpsError, type ExitCodeValue } from '../base/errors.js';
import type { Progress } from '../base/types.js';

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
