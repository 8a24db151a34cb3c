import type { ContainerConfig } from '../../src/base/config.js';
import { VpsError } from '../../src/base/errors.js';
import { silentProgress } from '../../src/base/types.js';
import { Boot, bootGroups, type BootDeps } from '../../src/core/boot.js';

describe('boot order', () => {
  it('groups equal orders, higher first (reversed for stop), ids in natural order within a group', () => {
    const items = [
      { id: '110', bootorder: 0 },
      { id: 'db', bootorder: 50 },
      { id: '101', bootorder: 0 },
      { id: 'cache', bootorder: 50 },
      { id: 'web', bootorder: 10 },
      { id: '99', bootorder: 0 },
    ];
    expect(bootGroups(items)).toEqual([['cache', 'db'], ['web'], ['99', '101', '110']]);
    expect(bootGroups(items, true)).toEqual([['99', '101', '110'], ['web'], ['cache', 'db']]);
  });
});

/** A host of containers whose start and stop are recorded (with what ran at the same time). */
function fakeHost(cfgs: Partial<ContainerConfig>[], opts: { running?: string[]; failing?: string[]; broken?: string[] } = {}) {
  const running = new Set(opts.running ?? []);
  const log: string[] = [];
  let now = 0;
  let peak = 0;
  const busy = async (what: string): Promise<void> => {
    now++;
    peak = Math.max(peak, now);
    log.push(`begin ${what}`);
    await new Promise((r) => setTimeout(r, 5));
    log.push(`end ${what}`);
    now--;
  };
  const deps: BootDeps = {
    ids: async () => [...cfgs.map((c) => c.id!), ...(opts.broken ?? [])],
    config: async (id) => {
      if (opts.broken?.includes(id)) throw new VpsError(1, `container ${id} is half-made`);
      return cfgs.find((c) => c.id === id) as ContainerConfig;
    },
    isRunning: async (id) => running.has(id),
    start: async (id) => {
      await busy(`start ${id}`);
      if (opts.failing?.includes(id)) throw new VpsError(6, `${id} cannot start`);
      running.add(id);
      return { system_state: 'running' };
    },
    stop: async (id) => {
      await busy(`stop ${id}`);
      running.delete(id);
      return { how: 'clean' };
    },
    progress: () => silentProgress,
  };
  return { deps, log, peak: () => peak, running };
}

describe('start --all and stop --all', () => {
  const cfgs: Partial<ContainerConfig>[] = [
    { id: 'a', onboot: true, bootorder: 10 },
    { id: 'b', onboot: true, bootorder: 10 },
    { id: 'c', onboot: true },
    { id: 'd' },
    { id: 'e', onboot: true, bootorder: 10 },
  ];

  it('--onboot starts the onboot ones only, a group at a time, at most --parallel at once, and goes on past a failure', async () => {
    const h = fakeHost(cfgs, { failing: ['b'], broken: ['zz'] });
    const rows = await new Boot(h.deps).startAll({ onboot: true, parallel: 2 });
    expect(rows.map((r) => [r.id, r.ok, r.action])).toEqual([
      ['zz', false, 'skipped'],
      ['a', true, 'started'],
      ['b', false, 'started'],
      ['e', true, 'started'],
      ['c', true, 'started'],
    ]);
    expect(rows.find((r) => r.id === 'b')?.error).toMatchObject({ exitCode: 6, message: 'b cannot start' });
    expect(h.peak()).toBe(2);
    // c (order 0) begins only once every start of order 10 has ended
    const cBegins = h.log.indexOf('begin start c');
    expect(['a', 'b', 'e'].every((id) => h.log.indexOf(`end start ${id}`) < cBegins)).toBe(true);
    expect(h.log.some((l) => / d$/.test(l))).toBe(false);
  });

  it('without --onboot starts every stopped one, and skips those running', async () => {
    const h = fakeHost(cfgs, { running: ['a'] });
    const rows = await new Boot(h.deps).startAll({});
    expect(rows.map((r) => [r.id, r.action, r.detail])).toEqual([
      ['a', 'skipped', 'running already'],
      ['b', 'started', 'system running'],
      ['e', 'started', 'system running'],
      ['c', 'started', 'system running'],
      ['d', 'started', 'system running'],
    ]);
  });

  it('stop --all stops the running ones, the boot order reversed', async () => {
    const h = fakeHost(cfgs, { running: ['a', 'c', 'e'] });
    const rows = await new Boot(h.deps).stopAll({ parallel: 1 });
    expect(rows.map((r) => [r.id, r.action, r.detail])).toEqual([
      ['c', 'stopped', 'clean'],
      ['a', 'stopped', 'clean'],
      ['e', 'stopped', 'clean'],
    ]);
    expect(h.running.size).toBe(0);
  });

  it('stop --all stops a running container whose config cannot be read as well', async () => {
    const h = fakeHost(cfgs, { running: ['a', 'zz'], broken: ['zz'] });
    const rows = await new Boot(h.deps).stopAll({ parallel: 1 });
    expect(rows.map((r) => [r.id, r.action, r.detail])).toEqual([
      ['zz', 'stopped', 'clean'],
      ['a', 'stopped', 'clean'],
    ]);
    expect(h.running.size).toBe(0);
  });
});
