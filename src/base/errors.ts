/**
 * Exit codes are part of the interface: scripts and cron jobs branch on them.
 * They mirror helpers/exit-codes.h and are documented in man/vpsctl.8 (EXIT STATUS).
 */
export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  LOCKED: 4,
  WRONG_STATE: 5,
  HOST_NOT_READY: 6,
  NO_RESOURCES: 7,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Stable machine-readable error codes, one per exit code. */
export const ErrorCodeName: Record<ExitCodeValue, string> = {
  0: 'OK',
  1: 'FAILED',
  2: 'INVALID',
  3: 'NOT_FOUND',
  4: 'LOCKED',
  5: 'WRONG_STATE',
  6: 'HOST_NOT_READY',
  7: 'NO_RESOURCES',
};

export interface VpsErrorOptions {
  /** What the user can do next. */
  hint?: string;
  cause?: unknown;
}

/** The one error type the CLI maps to an exit code; every subsystem throws it. */
export class VpsError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint?: string;

  constructor(exitCode: ExitCodeValue, message: string, opts: VpsErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VpsError';
    this.exitCode = exitCode;
    this.hint = opts.hint;
  }

  get code(): string {
    return ErrorCodeName[this.exitCode];
  }

  toJSON(): { code: string; exitCode: number; message: string; hint?: string } {
    return { code: this.code, exitCode: this.exitCode, message: this.message, ...(this.hint ? { hint: this.hint } : {}) };
  }
}

export const invalid = (message: string, hint?: string): VpsError => new VpsError(ExitCode.USAGE, message, { hint });
export const notFound = (message: string, hint?: string): VpsError => new VpsError(ExitCode.NOT_FOUND, message, { hint });
export const wrongState = (message: string, hint?: string): VpsError => new VpsError(ExitCode.WRONG_STATE, message, { hint });
export const hostNotReady = (message: string, hint?: string): VpsError =>
  new VpsError(ExitCode.HOST_NOT_READY, message, { hint });
export const failed = (message: string, opts: VpsErrorOptions = {}): VpsError => new VpsError(ExitCode.FAILED, message, opts);
