import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ExitCode, VpsError } from '../base/errors.js';
import type { IdMap } from '../base/config.js';
import type { HostSettings } from '../base/settings.js';

interface Range {
  start: number;
  count: number;
}

const overlaps = (a: Range, b: Range): boolean => a.start < b.start + b.count && b.start < a.start + a.count;

/** Subordinate id ranges the host gave its users (`name:start:count`): never hand those out. */
export function parseSubIds(text: string): Range[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(':'))
    .filter((f) => f.length === 3 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[2]))
    .map((f) => ({ start: Number(f[1]), count: Number(f[2]) }));
}

/**
 * The user-namespace id allocator (SECURITY.md R1: an isolated, non-overlapping range per
 * container). Candidates are [idmapBase + n*idmapSize, +idmapSize). A range is reserved by
 * creating `<root>/idmap/<first host id>` with O_EXCL, which the kernel makes atomic, so
 * concurrent creates never get the same range; the file names its container and size, so a
 * later change of idmap_base or idmap_size cannot make a new range overlap an old one. Ranges
 * in /etc/subuid and /etc/subgid are skipped.
 */
export class IdAllocator {
  constructor(
    private readonly dir: string,
    private readonly s: Pick<HostSettings, 'idmapBase' | 'idmapSize' | 'idmapRanges'>,
    private readonly subIdFiles: string[] = ['/etc/subuid', '/etc/subgid'],
  ) {}

  private async reserved(): Promise<(Range & { owner: string; file: string })[]> {
    const names = await fsp.readdir(this.dir).catch(() => [] as string[]);
    const out: (Range & { owner: string; file: string })[] = [];
    for (const n of names.filter((x) => /^\d+$/.test(x))) {
      const [owner = '', count = ''] = (await fsp.readFile(path.join(this.dir, n), 'utf8').catch(() => '')).trim().split(/\s+/);
      out.push({ start: Number(n), count: Number(count) || this.s.idmapSize, owner, file: n });
    }
    return out;
  }

  /** Reserves the lowest free range for container `id`. */
  async allocate(id: string): Promise<IdMap> {
    await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const taken: Range[] = await this.reserved();
    for (const f of this.subIdFiles) taken.push(...parseSubIds(await fsp.readFile(f, 'utf8').catch(() => '')));
    for (let n = 0; n < this.s.idmapRanges; n++) {
      const cand = { start: this.s.idmapBase + n * this.s.idmapSize, count: this.s.idmapSize };
      if (taken.some((t) => overlaps(t, cand))) continue;
      try {
        const fh = await fsp.open(path.join(this.dir, String(cand.start)), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        await fh.writeFile(`${id} ${cand.count}\n`);
        await fh.close();
        return { uid: cand.start, gid: cand.start, count: cand.count };
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
    for (const r of await this.reserved()) if (r.owner === id) await fsp.rm(path.join(this.dir, r.file), { force: true });
  }
}
