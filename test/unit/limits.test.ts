import { exitCodeOf } from './exit-code.js';
import { changedKeys, formatCpuset, ioRateArgs, limitArgs, parseCpuset, parseLimit, parseLimits, renderLimits } from '../../src/base/limits.js';
import { parseConfig, renderConfig } from '../../src/base/config.js';

const host = { cpus: 4, online: [0, 1, 2, 3] };
const code = exitCodeOf;

describe('limit values', () => {
  it.each([
    ['memory', '512M', 512 * 1024 ** 2],
    ['memory', '2G', 2 * 1024 ** 3],
    ['memory', 'max', null],
    ['swap', '256M', 256 * 1024 ** 2],
    ['cpus', '0.5', 0.5],
    ['cpus', '4', 4],
    ['cpu_weight', '200', 200],
    ['cpuset', '0-1,3', '0-1,3'],
    ['pids', '200', 200],
    ['pids', 'unlimited', null],
    ['cpuset', 'max', '0-3'],
    ['swap', '0', 0],
    ['io_read_bps', '10M', 10 * 1024 ** 2],
    ['io_read_bps', '1048576', 1048576],
    ['io_write_iops', '100', 100],
    ['nofile', '65536', 65536],
  ] as const)('%s %s', (k, text, want) => expect(parseLimit(k, text, host)).toEqual(want));

  it.each([
    ['memory', '-5M'],
    ['memory', '512'],
    ['memory', '8M'],
    ['memory', 'lots'],
    ['swap', '-1M'],
    ['cpus', '0'],
    ['cpus', '0.001'],
    ['cpus', '5'],
    ['cpus', '-1'],
    ['cpus', '1e3'],
    ['cpu_weight', '0'],
    ['cpu_weight', '10001'],
    ['cpu_weight', 'max'],
    ['cpuset', '4'],
    ['cpuset', '1-0'],
    ['cpuset', '0,,1'],
    ['cpuset', 'a'],
    ['pids', '0'],
    ['pids', '15'],
    ['nofile', '10'],
    ['memory_low', 'max'],
  ] as const)('refuses %s %s (exit 2)', (k, text) => expect(code(() => parseLimit(k, text, host))).toBe(2));

  it('checks cpusets against the online cores, gaps included', () => {
    expect(exitCodeOf(() => parseLimit('cpuset', '1', { cpus: 2, online: [0, 2] }))).toBe(2);
    expect(parseLimit('cpuset', '2', { cpus: 2, online: [0, 2] })).toBe('2');
    expect(formatCpuset([0, 1, 2, 5, 7, 8])).toBe('0-2,5,7-8');
  });
  it('parses cpusets into cores', () => {
    expect(parseCpuset('0-2,5')).toEqual([0, 1, 2, 5]);
    expect(parseCpuset('3,1')).toEqual([1, 3]);
  });
});

describe('limits in config.yaml and for vps-limit', () => {
  const l = { memory: 512 * 1024 ** 2, swap: null, cpus: 0.5, pids: 200, cpuset: '0-1', io_read_bps: 10 * 1024 ** 2 };
  it('round-trip through the config', () => {
    expect(renderLimits(l)).toEqual({ memory: '512M', swap: 'max', cpus: 0.5, pids: 200, cpuset: '0-1', io_read_bps: '10M' });
    expect(parseLimits(renderLimits(l))).toEqual(l);
    const base = 'id: "1"\ntemplate: t\nhostname: h\ndisk: 2G\ncreated: "2026-11-22T00:00:00Z"\nprivileged: true\n';
    const cfg = parseConfig(`${base}limits:\n  memory: 512M\n  pids: 200\n`, 'f', '1');
    expect(cfg.limits).toEqual({ memory: 512 * 1024 ** 2, pids: 200 });
    expect(parseConfig(renderConfig(cfg), 'f', '1').limits).toEqual(cfg.limits);
    expect(code(() => parseConfig(`${base}limits:\n  memroy: 1G\n`, 'f', '1'))).toBe(1);
    expect(code(() => parseConfig(`${base}limits:\n  cpus: 0\n`, 'f', '1'))).toBe(1);
  });
  it('become helper arguments; IO limits only with the loop device', () => {
    expect(limitArgs(l)).toEqual(['--memory', String(512 * 1024 ** 2), '--swap', 'max', '--cpus', '0.5', '--cpuset', '0-1', '--pids', '200']);
    expect(limitArgs(l, '7:3').slice(-4)).toEqual(['--io-device', '7:3', '--io-rbps', String(10 * 1024 ** 2)]);
    expect(ioRateArgs(l)).toEqual(['--io-rbps', String(10 * 1024 ** 2)]);
  });
  it('know what changed', () => {
    expect(changedKeys({ memory: 1, pids: 2 }, { memory: 1, pids: 3, cpus: 1 })).toEqual(['cpus', 'pids']);
  });
});
