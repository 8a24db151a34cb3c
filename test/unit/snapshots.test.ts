import { validateSnapshotName } from '../../src/base/ids.js';
import { validateCron } from '../../src/base/cron.js';
import { cronEntry } from '../../src/core/snapshots.js';
import { exitCodeOf } from './exit-code.js';
import { defaultSnapshotName, parseSnapshotMeta, pruneSelection, renderSnapshotMeta, type SnapshotMeta } from '../../src/storage/snapstore.js';
import { parseConfig, renderConfig } from '../../src/base/config.js';

const code = exitCodeOf;

describe('snapshot names', () => {
  it.each(['a', 'before-upgrade', '20261122-101530', 'v1.2_final', 'x'.repeat(64)])('accepts %s', (n) => expect(validateSnapshotName(n)).toBe(n));
  it.each(['', '.', '..', 'a/b', '../x', '.hidden', '-a', 'x'.repeat(65), 'a b', 'a..b', 'snap.img', 'snap.yaml', 'x.partial', 'a\n'])('refuses %j', (n) =>
    expect(code(() => validateSnapshotName(n))).toBe(2),
  );
});

describe('cron schedules', () => {
  it.each(['@daily', '@hourly', '30 2 * * *', '*/15 * * * *', '0 3 * * mon-fri', '0 0 1,15 * *', '5 4 * jan sun', '0  2 * * 7'])('accepts %j', (c) =>
    expect(() => validateCron(c)).not.toThrow(),
  );
  it.each(['@reboot', '@sometimes', '* * * *', '* * * * * *', '60 * * * *', '* 24 * * *', '* * 0 * *', '* * * 13 *', '*/0 * * * *', '5-1 * * * *', '* * * * * rm -rf /', '$(id) * * * *', '1;2 * * * *'])(
    'refuses %j',
    (c) => expect(code(() => validateCron(c))).toBe(2),
  );
  it('writes one entry that runs snapshot create --scheduled with the state env', () => {
    const text = cronEntry('101', '@daily', { VPSCTL_ROOT: '/srv/vps', VPSCTL_RUN_DIR: '/run/x y' });
    expect(text).toMatch(/^@daily root \/\S+\/bin\/vpsctl snapshot create 101 --scheduled 2>&1 \| logger -t vpsctl$/m);
    expect(text).toContain('VPSCTL_ROOT=/srv/vps\n');
    expect(text).not.toContain('run/x y'); // a value cron could not carry is left out
  });
});

const snap = (name: string, created: string, extra: Partial<SnapshotMeta> = {}): SnapshotMeta => ({
  name,
  id: '101',
  created,
  description: null,
  state: 'running',
  expiry: null,
  pinned: false,
  scheduled: false,
  method: 'reflink',
  freeze_ms: 0.5,
  frozen_ms: 1,
  disk: 1024 ** 3,
  ...extra,
});

describe('prune selection', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  const all = [
    snap('a', '2026-11-01T00:00:00Z'),
    snap('b', '2026-11-10T00:00:00Z', { expiry: '2026-11-20T00:00:00Z' }),
    snap('c', '2026-11-15T00:00:00Z', { pinned: true }),
    snap('d', '2026-11-20T00:00:00Z'),
    snap('e', '2026-11-21T00:00:00Z', { expiry: '2026-12-01T00:00:00Z' }),
    snap('f', '2026-11-22T00:00:00Z'),
  ];
  const names = (s: SnapshotMeta[]): string[] => s.map((x) => x.name).sort();
  it('always takes the expired, never the pinned', () => {
    expect(names(pruneSelection(all, now, {}))).toEqual(['b']);
    expect(names(pruneSelection(all, now, { keep: 0 }))).toEqual(['a', 'b', 'd', 'e', 'f']);
  });
  it('--keep N keeps the N newest unpinned ones', () => {
    expect(names(pruneSelection(all, now, { keep: 2 }))).toEqual(['a', 'b', 'd']);
  });
  it('--older-than takes the unpinned older than that', () => {
    expect(names(pruneSelection(all, now, { olderThanMs: 5 * 86_400_000 }))).toEqual(['a', 'b']);
  });
});

describe('snapshot metadata', () => {
  it('round-trips, and refuses a file naming another snapshot', () => {
    const m = snap('x', '2026-11-22T10:00:00.000Z', { description: 'before: upgrade', expiry: '2026-11-29T10:00:00.000Z' });
    expect(parseSnapshotMeta(renderSnapshotMeta(m), 'f', '101', 'x')).toEqual(m);
    expect(code(() => parseSnapshotMeta(renderSnapshotMeta(m), 'f', '101', 'y'))).toBe(1);
    expect(code(() => parseSnapshotMeta('name: x\nid: "101"\ncreated: never\n', 'f', '101', 'x'))).toBe(1);
  });
  it('default names are the UTC time, made unique', () => {
    const d = new Date('2026-11-22T10:15:30.123Z');
    expect(defaultSnapshotName(d, new Set())).toBe('20261122-101530');
    expect(defaultSnapshotName(d, new Set(['20261122-101530', '20261122-101530-2']))).toBe('20261122-101530-3');
  });
});

describe('a config with a snapshot policy', () => {
  const base = 'id: "101"\ntemplate: debian-12\nhostname: a\ndisk: 10G\ncreated: "2026-11-22T00:00:00Z"\nprivileged: true\n';
  it('round-trips schedule and expiry', () => {
    const cfg = parseConfig(`${base}snapshots:\n  schedule: "@daily"\n  expiry: 7d\n`, 'f', '101');
    expect(cfg.snapshots).toEqual({ schedule: '@daily', expiry: '7d' });
    expect(parseConfig(renderConfig(cfg), 'f', '101').snapshots).toEqual(cfg.snapshots);
  });
  it.each(['snapshots:\n  schedule: "* * *"\n', 'snapshots:\n  expiry: soon\n', 'snapshots:\n  keep: 3\n'])('refuses %j', (extra) =>
    expect(code(() => parseConfig(base + extra, 'f', '101'))).toBe(1),
  );
});
