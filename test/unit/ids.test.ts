import { validateHostname, validateId, validateTemplateName } from '../../src/base/ids.js';
import { VpsError } from '../../src/base/errors.js';

const usage = (fn: () => unknown): void => {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(VpsError);
  expect((err as VpsError).exitCode).toBe(2);
  expect((err as VpsError).hint).toBeTruthy();
};

describe('container ids', () => {
  it.each(['101', 'web-1', 'a', 'a'.repeat(63), '0-0'])('accepts %s', (id) => expect(validateId(id)).toBe(id));
  it.each(['../x', 'a/b', 'UPPER', '', 'a'.repeat(64), '-a', 'a-', 'a_b', 'a.b', ' a', 'a\n', '.', '..'])('refuses %j', (id) => usage(() => validateId(id)));
});

describe('template names', () => {
  it.each(['debian-12', 'ubuntu-24.04', 'centos-7'])('accepts %s', (n) => expect(validateTemplateName(n)).toBe(n));
  it.each(['../debian', 'a/b', 'Debian', 'a..b', ''])('refuses %j', (n) => usage(() => validateTemplateName(n)));
});

describe('hostnames', () => {
  it.each(['web', 'web-1.example.net', 'A1'])('accepts %s', (n) => expect(validateHostname(n)).toBe(n));
  it.each(['', 'a..b', '-a', 'a_b', 'a'.repeat(64), `${'a.'.repeat(127)}ab`])('refuses %j', (n) => usage(() => validateHostname(n)));
});
