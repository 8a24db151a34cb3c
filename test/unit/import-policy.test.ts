import { importPolicy } from '../../src/core/import-policy.js';
import type { ContainerConfig } from '../../src/base/config.js';

const GiB = 1024 ** 3;
const archived: ContainerConfig = {
  id: '101',
  template: 'debian-12',
  hostname: 'ct101',
  disk: 10 * GiB,
  created: '2026-01-01T00:00:00.000Z',
  init: '/sbin/init',
  privileged: false,
  idmap: { uid: 1_065_536, gid: 1_065_536, count: 65_536 },
};
const net = { mode: 'bridged' as const, addresses: ['10.88.0.9/24'], forwards: [{ proto: 'tcp' as const, host: 22, port: 22 }] };

describe('import policy: the archive is its maker\'s word (SECURITY.md R14)', () => {
  it('gives an archive without limits the defaults of a new container, and says so', () => {
    const d = importPolicy(archived, {});
    expect(d.limits).toEqual({ memory: GiB, swap: 0, pids: 4096 });
    expect(d.notices).toHaveLength(3);
    expect(d.notices[0]).toMatch(/^memory: the archive's none .* it gets 1G/);
  });

  it('caps limits looser than the defaults, unlimited included, and keeps tighter ones and the rest', () => {
    const d = importPolicy({ ...archived, limits: { memory: null, swap: 2 * GiB, pids: 100, cpus: 0.5, cpuset: '0' } }, {});
    expect(d.limits).toEqual({ memory: GiB, swap: 0, pids: 100, cpus: 0.5, cpuset: '0' });
    expect(d.notices.map((n) => n.split(':')[0])).toEqual(['memory', 'swap']);
    expect(d.notices[0]).toMatch(/archive's max/);
  });

  it('caps shares above the normal one and drops a memory reservation, keeping lower shares', () => {
    const d = importPolicy({ ...archived, limits: { memory: GiB, swap: 0, pids: 100, cpu_weight: 10_000, io_weight: 50, memory_low: GiB / 2 } }, {});
    expect(d.limits).toEqual({ memory: GiB, swap: 0, pids: 100, cpu_weight: 100, io_weight: 50 });
    expect(d.notices.map((n) => n.split(':')[0])).toEqual(['cpu_weight', 'memory_low']);
    expect(importPolicy({ ...archived, limits: { memory: GiB, swap: 0, pids: 100, cpu_weight: 10_000, memory_low: GiB / 2 } }, { keepLimits: true }).limits).toMatchObject({ cpu_weight: 10_000, memory_low: GiB / 2 });
  });

  it('names the boot settings and the snapshot schedule it does not take', () => {
    const d = importPolicy({ ...archived, limits: { memory: GiB, swap: 0, pids: 100 }, onboot: true, bootorder: 5, snapshots: { schedule: '@daily', expiry: '7d' } }, {});
    expect(d.notices).toEqual([expect.stringMatching(/^boot: the archive's onboot yes, boot order 5 not taken/), expect.stringMatching(/^snapshots: the archive's schedule @daily \(kept 7d\) not taken/)]);
  });

  it("takes the archive's limits with --keep-limits, and the admin's flags over everything", () => {
    expect(importPolicy({ ...archived, limits: { memory: null } }, { keepLimits: true }).limits).toEqual({ memory: null });
    expect(importPolicy({ ...archived, limits: { memory: null } }, { keepLimits: true }).notices).toEqual([]);
    expect(importPolicy(archived, { limits: { memory: 4 * GiB, pids: 9000 } }).limits).toEqual({ memory: 4 * GiB, swap: 0, pids: 9000 });
  });

  it('drops the network (addresses, mode, port forwards) unless --keep-network, naming what it dropped', () => {
    const dropped = importPolicy({ ...archived, network: net }, {});
    expect(dropped.network).toBeUndefined();
    expect(dropped.notices.find((n) => n.startsWith('network:'))).toMatch(/10\.88\.0\.9\/24.*tcp:22:22.*--keep-network/);
    expect(importPolicy({ ...archived, network: net }, { keepNetwork: true }).network).toEqual(net);
    expect(importPolicy(archived, {}).notices.some((n) => n.startsWith('network:'))).toBe(false);
  });
});
