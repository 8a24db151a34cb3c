import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { IdAllocator } from '../../src/core/idmap.js';
import { VpsError } from '../../src/core/errors.js';

const settings = { idmapBase: 1_000_000, idmapSize: 65_536, idmapRanges: 50 };
const fresh = (s = settings): { dir: string; a: IdAllocator } => {
  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'idmap-')), 'idmap');
  return { dir, a: new IdAllocator(dir, s) };
};

describe('the id-range allocator', () => {
  it('hands out the lowest free 65536-id range and names its owner', async () => {
    const { dir, a } = fresh();
    expect(await a.allocate('101')).toEqual({ uid: 1_000_000, gid: 1_000_000, count: 65_536 });
    expect(await a.allocate('102')).toEqual({ uid: 1_065_536, gid: 1_065_536, count: 65_536 });
    expect(readFileSync(path.join(dir, '1'), 'utf8')).toBe('102\n');
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
    const all = await Promise.all(Array.from({ length: 30 }, (_, i) => new IdAllocator(dir, settings).allocate(`c${i}`)));
    const bases = all.map((m) => m.uid);
    expect(new Set(bases).size).toBe(30);
    for (const b of bases) expect((b - 1_000_000) % 65_536).toBe(0);
    expect(readdirSync(dir).length).toBe(30);
    void a;
  });

  it('says when it runs out, with exit code 7', async () => {
    const { a } = fresh({ ...settings, idmapRanges: 2 });
    await a.allocate('x');
    await a.allocate('y');
    await expect(a.allocate('z')).rejects.toMatchObject({ exitCode: 7 });
    await expect(a.allocate('z')).rejects.toBeInstanceOf(VpsError);
  });
});
