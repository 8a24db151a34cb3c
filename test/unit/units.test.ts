import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/base/units.js';
import { VpsError } from '../../src/base/errors.js';

describe('parseSize', () => {
  it.each([
    ['10G', 10 * 1024 ** 3],
    ['512M', 512 * 1024 ** 2],
    ['512m', 512 * 1024 ** 2],
    ['1.5G', 1.5 * 1024 ** 3],
    ['4096', 4096],
    ['2GiB', 2 * 1024 ** 3],
    ['1T', 1024 ** 4],
  ])('%s', (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it.each(['abc', '', '10X', '-1G', '1..2G', 'G'])('refuses %j with a usage error', (text) => {
    expect(() => parseSize(text)).toThrow(VpsError);
    try {
      parseSize(text);
    } catch (e) {
      expect((e as VpsError).exitCode).toBe(2);
    }
  });
});

describe('formatSize', () => {
  it.each([
    [10 * 1024 ** 3, '10G'],
    [1536 * 1024 ** 2, '1.5G'],
    [512, '512B'],
    [1024, '1K'],
  ])('%d -> %s', (bytes, text) => expect(formatSize(bytes)).toBe(text));
  it('round-trips through parseSize', () => expect(parseSize(formatSize(20 * 1024 ** 3))).toBe(20 * 1024 ** 3));
});

describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['30', 30_000],
    ['5m', 300_000],
    ['7d', 7 * 86_400_000],
    ['250ms', 250],
  ])('%s', (t, ms) => expect(parseDuration(t)).toBe(ms));
  it('refuses garbage', () => expect(() => parseDuration('soon')).toThrow(VpsError));
  it('formats', () => {
    expect(formatDuration(61_000)).toBe('1m 1s');
    expect(formatDuration(90_061_000)).toBe('1d 1h 1m');
  });
});
