import { VpsError } from '../../src/base/errors.js';

/** Runs `fn`, expects it to throw a usage error (exit 2), and returns the error's message. */
export const usage = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VpsError);
    expect((e as VpsError).exitCode).toBe(2);
    return (e as VpsError).message;
  }
  throw new Error('no error');
};
