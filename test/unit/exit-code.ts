import type { VpsError } from '../../src/base/errors.js';

/** The exit code of the VpsError a call throws, or undefined when it throws nothing. */
export function exitCodeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (e) {
    return (e as VpsError).exitCode;
  }
  return undefined;
}
