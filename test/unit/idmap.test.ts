import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdAllocator } from '../../src/core/idmap.js';
import { VpsError } from '../../src/base/errors.js';

const settings = { idmapBase: 1_000_000, idmapSize: 65_536, idmapRanges: 50 };
const fresh = (s = settings): { dir: string; a: IdAllocator } => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'idmap-')), 'idmap');
  return { dir, a: new IdAllocator(dir, s, []) };
};

describe('the id-range allocator', () => {
  it('hands out the lowest free 65536-id range and names its owner', async () => {
    const { dir, a } = fresh();
    expect(await a.allocate('101')).toEqual({ uid: 1_000_000, gid: 1_000_000, count: 65_536 });
    expect(await a.allocate('102')).toEqual({ uid: 1_065_536, gid: 1_065_536, count: 65_536 });
    expect(readFileSync(path.join(dir, '1065536'), 'utf8')).toBe('102 65536\n');
  });

  it('gives ranges back and reuses them', async () => {
    const { a } = fresh();
    await a.allocate('a');
    await a.allocate('b');
    await a.release('a');
    expect((await a.allocate('c')).uid).toBe(1_000_000);
    await a.release('nobody'); // idempotent
  });

  it('never hands the same range to concurrent creates', async () => {
    const { dir, a } = fresh();
    // separate allocator objects, as separate vpsctl processes would have
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) => new IdAllocator(dir, settings, []).allocate(`c${i}`)));
    const bases = all.map((m) => m.uid);
    expect(new Set(bases).size).toBe(30);
    for (const b of bases) expect((b - 1_000_000) % 65_536).toBe(0);
    expect(readdirSync(dir).length).toBe(30);
    void a;
  });

  it('never overlaps a range reserved under other settings, nor the host users\' subordinate ids', async () => {
    const { dir } = fresh();
    const sub = path.join(path.dirname(dir), 'subuid');
    writeFileSync(sub, 'alice:1000000:65536\n# comment\nbob:1131072:100\n');
    const a = new IdAllocator(dir, settings, [sub]);
    // slots 0 (alice) and 2 (bob) are the host users'; slot 1 is free
    expect((await a.allocate('x')).uid).toBe(1_065_536);
    // an admin halves idmap_size and moves the base: the new grid must skip x's range
    const b = new IdAllocator(dir, { idmapBase: 1_065_536 + 32_768, idmapSize: 32_768, idmapRanges: 50 }, [sub]);
    const y = await b.allocate('y');
    expect(y.uid).toBeGreaterThanOrEqual(1_065_536 + 65_536);
    expect(y.uid + y.count <= 1_131_072 || y.uid >= 1_131_172).toBe(true);
  });

  it('says when it runs out, with exit code 7', async () => {
    const { a } = fresh({ ...settings, idmapRanges: 2 });
    await a.allocate('x');
    await a.allocate('y');
    await expect(a.allocate('z')).rejects.toMatchObject({ exitCode: 7 });
    await expect(a.allocate('z')).rejects.toBeInstanceOf(VpsError);
  });
});
