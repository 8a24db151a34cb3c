import { amountOf, parseAmount, loadSettings } from '../../src/base/settings.js';
import { judge, spaceCheck, type SpaceFigures } from '../../src/storage/space.js';

const G = 1024 ** 3;

/** A pool of `size` with these promises, free space as given. */
function pool(size: number, promised: Partial<SpaceFigures['promised']>, o: { ratio?: number; free?: number; watermark?: number } = {}): SpaceFigures {
  const p = { disks: 0, snapshots: 0, templates: 0, other: 0, reserve: 0, pending: 0, total: 0, ...promised };
  p.total = p.disks + p.snapshots + p.templates + p.other + p.reserve + p.pending;
  const ratio = o.ratio ?? 1;
  const watermark = o.watermark ?? size / 10;
  const free = o.free ?? size / 2;
  return { path: '/pool', size, used: size - free, free, promised: p, ratio: p.total / size, overcommit_ratio: ratio, limit: size * ratio, watermark, thin: p.total > size, below_watermark: p.total > size && free < watermark };
}

describe('the disk promise', () => {
  it('admits what fits in the size, and refuses (with every figure) what passes it at ratio 1', () => {
    const f = pool(2 * G, { disks: 1 * G, templates: 0.2 * G, reserve: 0.1 * G });
    expect(judge(f, 0.6 * G, 'container b')).toEqual({});
    const v = judge(f, 0.8 * G, "container b's 819.2M disk");
    expect(v.refuse).toBe("container b's 819.2M disk needs 819M: the pool /pool would have promised 2.1G (disks 1G, snapshots 0B, templates 205M, other files 0B, reserve 102M), more than its 2G x 1 (disk_overcommit_ratio)");
    expect(v.warn).toBeUndefined();
  });

  it('with disk_overcommit_ratio 2 lets it pass the size with a warning, --strict refuses, and 2x is still the limit', () => {
    const f = pool(2 * G, { disks: 1.5 * G }, { ratio: 2 });
    const v = judge(f, 1 * G, 'container b');
    expect(v.refuse).toBeUndefined();
    expect(v.warn).toMatch(/more than its 2G: a container that fills its disk can make another one's writes fail \(thin provisioning, disk_overcommit_ratio 2\)/);
    expect(judge(f, 1 * G, 'container b', { strict: true }).refuse).toBe(v.warn);
    expect(judge(f, 3 * G, 'container b').refuse).toMatch(/more than its 2G x 2/);
  });

  it('a thin pool under its watermark refuses new containers and snapshots, but not a grow within the limit', () => {
    const f = pool(2 * G, { disks: 3 * G }, { ratio: 2, free: 0.1 * G, watermark: 0.2 * G });
    expect(f.below_watermark).toBe(true);
    expect(judge(f, 0.1 * G, 'snapshot s of a', { growsPromise: true }).refuse).toMatch(/snapshot s of a is refused: the pool \/pool is thin \(3\.1G promised on 2G\) and has only 102M free, under its low watermark of 205M/);
    expect(judge(f, 0.1 * G, 'growing a').refuse).toBeUndefined();
    // a pool that is not thin has no watermark: its promise keeps the space
    const full = pool(2 * G, { disks: 1.5 * G }, { free: 0.05 * G, watermark: 0.2 * G });
    expect(judge(full, 0.1 * G, 'snapshot', { growsPromise: true })).toEqual({});
    // ... unless this very operation makes it thin
    expect(judge(pool(2 * G, { disks: 1.95 * G }, { ratio: 2, free: 0.05 * G, watermark: 0.2 * G }), 0.1 * G, 'snapshot', { growsPromise: true }).refuse).toMatch(/under its low watermark/);
  });

  it("host check warns of a pool past its promise, under its watermark or into the host's reserve", () => {
    expect(spaceCheck(pool(2 * G, { disks: 1 * G, reserve: 0.1 * G })).status).toBe('ok');
    expect(spaceCheck(pool(2 * G, { disks: 3 * G })).detail).toMatch(/promised past size x disk_overcommit_ratio/);
    expect(spaceCheck(pool(2 * G, { disks: 3 * G }, { ratio: 2, free: 0.1 * G, watermark: 0.2 * G })).detail).toMatch(/under its low watermark/);
    expect(spaceCheck(pool(2 * G, { disks: 1 * G, reserve: 0.2 * G }, { free: 0.1 * G })).detail).toMatch(/into the host's reserve/);
  });
});

describe('disk settings', () => {
  it('reads a reserve or watermark as a size or a percentage', () => {
    expect(parseAmount('5%', 'disk_reserve', 'f')).toEqual({ percent: 5 });
    expect(parseAmount('2G', 'disk_reserve', 'f')).toEqual({ bytes: 2 * G });
    expect(amountOf({ percent: 5 }, 100 * G)).toBe(5 * G);
    expect(() => parseAmount('lots', 'disk_reserve', 'f')).toThrow(/disk_reserve must be a size \(2G\) or a percentage of the pool \(5%\), got "lots"/);
    expect(() => parseAmount('95%', 'disk_low_watermark', 'f')).toThrow(/at most 90%/);
  });

  it('defaults to no overcommit, a 5% reserve, a 10% watermark and writes held under 256M free, and checks the ratio', () => {
    const s = loadSettings({ VPSCTL_CONFIG: '/nonexistent' });
    expect([s.diskOvercommitRatio, s.diskReserve, s.diskLowWatermark, s.diskFreezeFree]).toEqual([1, { percent: 5 }, { percent: 10 }, { bytes: 256 * 1024 ** 2 }]);
    expect(() => loadSettings({ VPSCTL_CONFIG: '/nonexistent', VPSCTL_DISK_OVERCOMMIT_RATIO: '0' })).toThrow(/disk_overcommit_ratio must be a number from 0\.1 to 100/);
  });
});
