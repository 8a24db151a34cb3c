import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ExitCode, VpsError } from './errors.js';
import type { IdMap } from './config.js';
import type { HostSettings } from './settings.js';

/**
 * The user-namespace id allocator (SECURITY.md R1: an isolated, non-overlapping range per
 * container). Range n is [idmapBase + n*idmapSize, +idmapSize). A range is reserved by
 * creating `<root>/idmap/<n>` with O_EXCL, which the kernel makes atomic, so concurrent
 * creates can never get the same range; the file names its container.
 */
export class IdAllocator {
  constructor(
    private readonly dir: string,
    private readonly s: Pick<HostSettings, 'idmapBase' | 'idmapSize' | 'idmapRanges'>,
  ) {}

  rangeOf(n: number): IdMap {
    const base = this.s.idmapBase + n * this.s.idmapSize;
    return { uid: base, gid: base, count: this.s.idmapSize };
  }

  slotOf(map: IdMap): number | undefined {
    const off = map.uid - this.s.idmapBase;
    return off >= 0 && off % this.s.idmapSize === 0 ? off / this.s.idmapSize : undefined;
  }

  /** Reserves the lowest free range for container `id`. */
  async allocate(id: string): Promise<IdMap> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const taken = new Set((await fsp.readdir(this.dir)).filter((n) => /^\d+$/.test(n)).map(Number));
    for (let n = 0; n < this.s.idmapRanges; n++) {
      if (taken.has(n)) continue;
      try {
        const fh = await fsp.open(path.join(this.dir, String(n)), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        await fh.writeFile(`${id}\n`);
        await fh.close();
        return this.rangeOf(n);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue; // another create won the race
        throw e;
      }
    }
    throw new VpsError(ExitCode.NO_RESOURCES, `no free user-namespace id range (all ${this.s.idmapRanges} are in use)`, {
      hint: 'raise idmap_ranges (or lower idmap_base) in /etc/vpsctl/vpsctl.yaml',
    });
  }

  /** Gives back every range reserved for `id` (idempotent; used by destroy and failed creates). */
  async release(id: string): Promise<void> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    for (const n of names.filter((x) => /^\d+$/.test(x))) {
      const owner = (await fsp.readFile(path.join(this.dir, n), 'utf8').catch(() => '')).trim();
      if (owner === id) await fsp.rm(path.join(this.dir, n), { force: true });
    }
  }
}
