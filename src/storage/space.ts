import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { ExitCode, VpsError } from '../base/errors.js';
import { amountOf, type Amount, type Layout } from '../base/settings.js';
import type { Progress } from '../base/types.js';
import { formatSize } from '../base/units.js';
import { withLock } from '../sys/lock.js';
import { processLive } from '../sys/proc.js';
import type { Pool } from './pool.js';
import type { SnapHelper } from './vpssnap.js';

/**
 * What the pool's filesystem has promised: every container may fill its whole disk, every
 * snapshot may come to hold all it shares once its container rewrites it (on a reflink pool),
 * templates stay, what is not vpsctl's stays, and the host keeps its reserve.
 */
export interface Promised {
  /** The containers' disk sizes. */
  disks: number;
  /** The snapshots' images as allocated: what each holds alone once nothing is shared. */
  snapshots: number;
  templates: number;
  /** Space on the filesystem that is not vpsctl's (the host's own files on a plain pool; the XFS log on a pool). */
  other: number;
  reserve: number;
  /** Operations under way (a create copying its image, a snapshot being taken). */
  pending: number;
  total: number;
}

export interface SpaceFigures {
  /** The pool directory and the size, use and free space of the filesystem that holds it. */
  path: string;
  /** What the filesystem can hold: used + free (its reserved blocks left out). */
  size: number;
  used: number;
  free: number;
  promised: Promised;
  /** promised.total / size: above 1 the pool is thin (overcommitted). */
  ratio: number;
  /** disk_overcommit_ratio: how far promises may go past the size. */
  overcommit_ratio: number;
  /** Where promises stop: size x overcommit_ratio. */
  limit: number;
  /** Free space under which a thin pool refuses new containers and snapshots. */
  watermark: number;
  thin: boolean;
  below_watermark: boolean;
}

export interface SpacePolicy {
  ratio: number;
  reserve: Amount;
  watermark: Amount;
  /** Free space under which a running container's filesystem is frozen by its monitor. */
  freeze: Amount;
}

/** What a space check says: go on, go on with a warning, or refuse (exit 7). */
export interface Verdict {
  refuse?: string;
  warn?: string;
}

/**
 * Weighs `extra` bytes more against the promise. Past size x ratio: refused. Past the size
 * (thin provisioning the admin chose): a warning, refused when `strict`. A thin pool below its
 * watermark refuses what `growsPromise` (a new container, a snapshot) until space is freed.
 */
export function judge(f: SpaceFigures, extra: number, what: string, opts: { strict?: boolean; growsPromise?: boolean } = {}): Verdict {
  const after = f.promised.total + extra;
  const p = f.promised;
  const figures = `disks ${formatSize(p.disks)}, snapshots ${formatSize(p.snapshots)}, templates ${formatSize(p.templates)}, other files ${formatSize(p.other)}, reserve ${formatSize(p.reserve)}${p.pending ? `, under way ${formatSize(p.pending)}` : ''}`;
  const head = `${what} needs ${formatSize(extra)}: the pool ${f.path} would have promised ${formatSize(after)} (${figures})`;
  if (after > f.limit) {
    return { refuse: `${head}, more than its ${formatSize(f.size)} x ${f.overcommit_ratio} (disk_overcommit_ratio)` };
  }
  if (opts.growsPromise && after > f.size && f.free < f.watermark) {
    return { refuse: `${what} is refused: the pool ${f.path} is thin (${formatSize(after)} promised on ${formatSize(f.size)}) and has only ${formatSize(f.free)} free, under its low watermark of ${formatSize(f.watermark)}` };
  }
  if (after > f.size) {
    const warn = `${head}, more than its ${formatSize(f.size)}: a container that fills its disk can make another one's writes fail (thin provisioning, disk_overcommit_ratio ${f.overcommit_ratio})`;
    return opts.strict ? { refuse: warn } : { warn };
  }
  return {};
}

/** `host check`'s line on the pool: a pool past its promise, under its watermark or into the host's reserve is a warning. */
export function spaceCheck(f: SpaceFigures): { name: string; status: 'ok' | 'warn'; required: boolean; detail: string; hint?: string } {
  const p = f.promised;
  const detail = `${f.path}: ${formatSize(p.total)} promised of ${formatSize(f.size)} (ratio ${f.ratio}, limit ${f.overcommit_ratio}), ${formatSize(f.free)} free`;
  const why: string[] = [];
  if (p.total > f.limit) why.push(`promised past size x disk_overcommit_ratio`);
  if (f.below_watermark) why.push(`thin and under its low watermark of ${formatSize(f.watermark)} free: new containers and snapshots are refused`);
  if (f.free < p.reserve) why.push(`free space is into the host's reserve of ${formatSize(p.reserve)}`);
  if (!why.length) return { name: 'pool space', status: 'ok', required: false, detail };
  return { name: 'pool space', status: 'warn', required: false, detail: `${detail}; ${why.join('; ')}`, hint: SPACE_HINT };
}

export const SPACE_HINT = 'free space (vpsctl destroy, vpsctl snapshot prune --all, a smaller --disk), grow the pool, or let promises pass its size with disk_overcommit_ratio in /etc/vpsctl/vpsctl.yaml; `vpsctl pool info` shows the figures';

/** A reservation of promised space for an operation under way; release it when it ends. */
export interface Reservation {
  release(): Promise<void>;
}

export interface SpaceDeps {
  layout: Layout;
  pool: Pool;
  snap: SnapHelper;
  policy: SpacePolicy;
  progress: () => Progress;
  /** The containers' configured disk sizes (a damaged config: its image's size). */
  disks: () => Promise<number[]>;
}

let seq = 0;

/** The pool's promises: figures for `pool info`, and the guard every operation that adds to them passes. */
export class Space {
  constructor(private readonly d: SpaceDeps) {}

  /** The pool's files: container images, snapshot and template images, images being made. */
  private async files(): Promise<{ images: string[]; snapshots: string[]; templates: string[]; partials: string[] }> {
    const dir = this.d.pool.dir;
    const snapshots: string[] = [];
    const partials = await imageFiles(path.join(dir, 'images'), '.partial');
    for (const d of await fsp.readdir(path.join(dir, 'snapshots')).catch(() => [] as string[])) {
      snapshots.push(...(await imageFiles(path.join(dir, 'snapshots', d))));
      partials.push(...(await imageFiles(path.join(dir, 'snapshots', d), '.partial')));
    }
    return { images: await imageFiles(path.join(dir, 'images')), snapshots, templates: await imageFiles(path.join(dir, 'templates')), partials };
  }

  async figures(): Promise<SpaceFigures> {
    const { layout, pool, snap, policy } = this.d;
    await pool.ensure();
    await pool.prepare();
    const dir = pool.dir;
    const st = await fsp.statfs(dir);
    const used = (st.blocks - st.bfree) * st.bsize;
    let free = st.bavail * st.bsize;
    // a pool in a sparse file grows into the filesystem under it: it has no more free than that
    const rec = await pool.record();
    if (rec?.source === 'file') {
      const under = await fsp.statfs(path.dirname(rec.path)).catch(() => undefined);
      if (under) free = Math.min(free, under.bavail * under.bsize);
    }
    // what can be used: a filesystem's own reserved blocks (and a thin volume under it, which
    // reports more blocks than it can give) are not vpsctl's to promise
    const size = Math.min(st.blocks * st.bsize, used + free);
    const f = await this.files();
    // blocks shared (a snapshot with its container's older data, clones of a template) count
    // once: on a reflink pool the snapshots and templates hold, together, what their
    // extents cover, whatever the containers rewrite
    const union = (files: string[]): Promise<number> => unionOf(snap, files);
    const templates = await union(f.templates);
    const snapshots = (await union([...f.snapshots, ...f.templates])) - templates;
    const ours = await union([...f.images, ...f.snapshots, ...f.templates, ...f.partials]);
    // the rest of what the filesystem uses is not the containers' (the host's files on a
    // plain pool; XFS's log and metadata and work files on a pool): images being made are
    // ours, their operation's reservation promises them
    const other = Math.max(0, used - ours);
    const disks = (await this.d.disks()).reduce((a, b) => a + b, 0);
    const pending = await this.pending(layout);
    const reserve = amountOf(policy.reserve, size);
    const promised: Promised = { disks, snapshots, templates, other, reserve, pending, total: 0 };
    promised.total = disks + snapshots + templates + other + reserve + pending;
    const watermark = amountOf(policy.watermark, size);
    const thin = promised.total > size;
    return {
      path: dir,
      size,
      used,
      free,
      promised,
      ratio: size ? Math.round((promised.total / size) * 1000) / 1000 : 0,
      overcommit_ratio: policy.ratio,
      limit: Math.floor(size * policy.ratio),
      watermark,
      thin,
      below_watermark: thin && free < watermark,
    };
  }

  /** `; holding the most: 101 (9.1G), web (4G)`: the three container images that hold the most. */
  private async heaviest(): Promise<string> {
    const images = (await this.files()).images;
    const usage = await this.d.snap.usage(images).catch(() => []);
    const top = usage.sort((a, b) => b.allocated - a.allocated).slice(0, 3).filter((u) => u.allocated > 0);
    return top.length ? `; holding the most: ${top.map((u) => `${path.basename(u.path, '.img')} (${formatSize(u.allocated)})`).join(', ')}` : '';
  }

  /**
   * What a snapshot of `image` may come to hold beyond what the pool's snapshots and
   * templates hold already: the image's blocks no earlier snapshot or template shares.
   */
  async snapshotNeed(image: string): Promise<number> {
    const f = await this.files();
    const held = [...f.snapshots, ...f.templates];
    return Math.max(0, (await unionOf(this.d.snap, [...held, image])) - (await unionOf(this.d.snap, held)));
  }

  /**
   * Weighs and reserves `extra` bytes for `what` (one at a time, under the space lock), or
   * refuses with exit 7 and the figures. The reservation counts against every other check
   * until it is released (or its process is gone).
   */
  async admit(extra: number, what: string, opts: { strict?: boolean; growsPromise?: boolean } = {}): Promise<Reservation> {
    const { layout } = this.d;
    // adds nothing to the promise (a restore on a reflink pool): nothing to weigh, even on a pool promised past its size
    if (extra <= 0 && !opts.growsPromise) return { release: async () => undefined };
    return withLock(
      layout.spaceLockFile(),
      what,
      'the pool\'s space accounting',
      async () => {
        const f = await this.figures();
        const v = judge(f, extra, what, opts);
        if (v.refuse) {
          // under the watermark, the containers that hold the most are where space comes from
          const heavy = f.free < f.watermark ? await this.heaviest() : '';
          throw new VpsError(ExitCode.NO_RESOURCES, `${v.refuse}${heavy}`, { hint: SPACE_HINT });
        }
        if (v.warn) this.d.progress().warn(v.warn);
        const dir = layout.spaceReservations();
        await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
        const file = path.join(dir, `${process.pid}-${++seq}`);
        const fh = await fsp.open(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        try {
          await fh.writeFile(`${extra} ${what}\n`);
        } catch (e) {
          await fsp.rm(file, { force: true });
          throw e;
        } finally {
          await fh.close();
        }
        return { release: () => fsp.rm(file, { force: true }) };
      },
      30_000,
    );
  }

  /** Runs `fn` with `extra` bytes admitted and reserved; the reservation ends with it. */
  async within<T>(extra: number, what: string, opts: { strict?: boolean; growsPromise?: boolean }, fn: () => Promise<T>): Promise<T> {
    const r = await this.admit(extra, what, opts);
    try {
      return await fn();
    } finally {
      await r.release();
    }
  }

  /** The bytes live reservations hold; those of processes that are gone are removed. */
  private async pending(layout: Layout): Promise<number> {
    const dir = layout.spaceReservations();
    let total = 0;
    for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
      const pid = Number(/^(\d+)-\d+$/.exec(f)?.[1]);
      if (!Number.isInteger(pid) || !processLive(pid)) {
        await fsp.rm(path.join(dir, f), { force: true });
        continue;
      }
      const text = await fsp.readFile(path.join(dir, f), 'utf8').catch(() => '');
      total += Number(text.split(' ')[0]) || 0;
    }
    return total;
  }

  /**
   * The free space under which a container's monitor freezes its filesystem (vps-spawn
   * --space-low), so that a pool that runs out anyway makes writes wait rather than fail;
   * undefined when off. At most half the host's reserve, so that a pool that keeps its
   * promises never holds a write; at least 1M (the helper's floor).
   */
  async freezeBelow(): Promise<number | undefined> {
    const st = await fsp.statfs(this.d.pool.dir);
    const used = (st.blocks - st.bfree) * st.bsize;
    const size = Math.min(st.blocks * st.bsize, used + st.bavail * st.bsize);
    const low = amountOf(this.d.policy.freeze, size);
    if (low <= 0) return undefined;
    return Math.max(1024 ** 2, Math.min(low, Math.floor(amountOf(this.d.policy.reserve, size) / 2)));
  }
}

/** The union of files other operations may remove or rename meanwhile: those gone are left out. */
async function unionOf(snap: SnapHelper, files: string[]): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await snap.union(files);
    } catch (e) {
      const still: string[] = [];
      for (const f of files) if (await fsp.lstat(f).then(() => true, () => false)) still.push(f);
      if (still.length === files.length || attempt >= 3) throw e;
      files = still;
    }
  }
}

async function imageFiles(dir: string, suffix = '.img'): Promise<string[]> {
  const names = await fsp.readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => n.endsWith(suffix) && !n.startsWith('.')).map((n) => path.join(dir, n));
}
