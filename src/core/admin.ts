import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { exists } from '../sys/fs.js';
import { isSystemdInit } from '../sys/proc.js';
import { PACKAGE_ROOT } from '../sys/helpers.js';
import { removeLockFile, withLock } from '../sys/lock.js';
import { wrongState } from '../base/errors.js';
import { NO_REFLINK_HINT, type PoolInfo, type PoolInitOptions } from '../storage/pool.js';
import { SnapshotFiles } from '../storage/snapstore.js';
import { SPACE_HINT, spaceCheck } from '../storage/space.js';
import { formatSize } from '../base/units.js';
import type { Store } from './context.js';
import { hostChecks } from './hostcheck.js';
import { hostInfo, type HostInfo, type HostInfoDeps } from './hostinfo.js';
import type { HostCheckReport, PoolReport } from './host-types.js';
import type { Inventory } from './inventory.js';
import type { NetFinding, Networks } from './network.js';
import { HostSetup, type SetupStep } from './setup.js';

/** What the host-wide commands need. */
export type AdminDeps = Store &
  HostInfoDeps & {
    readonly networks: Networks;
    readonly inventory: Pick<Inventory, 'partialMarker' | 'spaceFrozen'>;
    destroy(id: string, opts: { force?: boolean }): Promise<unknown>;
  };

/** The host as a whole: `pool info`, `pool init`, `host setup`, `host info`, `host check [--fix]`. */
export class HostAdmin {
  constructor(private readonly h: AdminDeps) {}

  /**
   * `pool init`: with every container stopped and locked (their images move), and nothing in
   * the pool attached to a loop device (a mounted snapshot).
   */
  /** `pool info`: the pool, what it has promised, and a hint where it cannot share extents. */
  async poolInfo(): Promise<PoolReport> {
    const p = await this.h.pool.info();
    const s = await this.h.space.figures();
    return {
      ...p,
      promised: s.promised,
      ratio: s.ratio,
      overcommit_ratio: s.overcommit_ratio,
      limit: s.limit,
      watermark: s.watermark,
      thin: s.thin,
      below_watermark: s.below_watermark,
      ...(p.reflink ? {} : { hint: NO_REFLINK_HINT.replace('this was a full copy', 'snapshots and clones are full copies') }),
    };
  }

  /** `host setup`: the sysctls density needs, the boot unit (systemd hosts), the reflink pool. */
  setup(opts: { pool?: boolean } = {}): Promise<SetupStep[]> {
    const env = Object.fromEntries(Object.entries(process.env).filter((kv): kv is [string, string] => kv[0].startsWith('VPSCTL_') && kv[1] !== undefined));
    return new HostSetup({
      run: this.h.sys,
      progress: () => this.h.progress,
      systemd: isSystemdInit(),
      bin: path.join(PACKAGE_ROOT, 'bin', 'vpsctl'),
      env,
      root: this.h.settings.root,
      pool: { canReflink: () => this.h.pool.canReflink(), managed: async () => !!(await this.h.pool.record()), init: async () => void (await this.initPool({})) },
    }).run(opts);
  }

  /** `host info`. */
  info(): Promise<HostInfo> {
    return hostInfo(this.h);
  }

  /**
   * `host check`: the kernel features and tools vpsctl needs, the pool's space, and what
   * stopped containers left behind (removed, and flushed rules rebuilt, with `fix`).
   */
  async check(fix = false): Promise<HostCheckReport> {
    const r = { ...hostChecks(this.h.cgroups), leftovers: [...(await this.h.networks.check(fix)), ...(await this.halfMade(fix)), ...(fix ? await this.staleLocks() : [])] };
    r.checks.push(
      await this.h.space.figures().then(spaceCheck, (e: Error) => ({ name: 'pool space', status: 'warn' as const, required: false, detail: `cannot read the pool's figures: ${e.message}`, hint: 'see vpsctl pool info' })),
    );
    const held: string[] = [];
    for (const id of await this.h.ids()) {
      const f = await this.h.inventory.spaceFrozen(id).catch(() => null);
      if (f) held.push(`${id} (since ${f.since}, the pool had ${formatSize(f.free)} free)`);
    }
    if (held.length) {
      r.checks.push({ name: 'writes held', status: 'warn', required: false, detail: `the pool ran short: the writes of ${held.join(', ')} wait until it has twice disk_freeze_free free`, hint: SPACE_HINT });
    }
    return r;
  }

  /**
   * What killed creates, clones, imports and snapshots left: a container dir still marked
   * `.partial` whose maker is gone, `.partial` images. With `fix`, each goes under its
   * container's lock (one an operation holds now is left alone and named).
   */
  private async halfMade(fix: boolean): Promise<NetFinding[]> {
    const out: NetFinding[] = [];
    const ids = new Set(await this.h.ids());
    const partialImages = (await fsp.readdir(this.h.layout.imagesDir()).catch(() => [] as string[])).filter((f) => f.endsWith('.img.partial'));
    for (const f of partialImages) ids.add(f.slice(0, -'.img.partial'.length));
    for (const d of await fsp.readdir(path.join(this.h.settings.pool, 'snapshots')).catch(() => [] as string[])) ids.add(d);
    for (const id of [...ids].sort()) {
      if (!/^[a-z0-9-]+$/.test(id)) continue;
      const marker = await this.h.inventory.partialMarker(id);
      if (marker?.live) continue; // its maker is still at work
      const halfMade = marker !== undefined;
      const img = `${this.h.layout.image(id)}.partial`;
      const snaps = new SnapshotFiles(this.h.layout, id);
      const snapPartials = (await fsp.readdir(snaps.dir).catch(() => [] as string[])).filter((f) => f.endsWith('.partial'));
      const problems = [
        ...(halfMade ? [`container ${id} is half-made (${marker.text}, gone)`] : []),
        ...(!halfMade && (await exists(img)) ? [`${img} is left from a killed create, clone or import`] : []),
        ...snapPartials.map((f) => `${path.join(snaps.dir, f)} is left from a killed snapshot`),
      ];
      if (!problems.length) continue;
      if (!fix) {
        out.push(...problems.map((problem) => ({ problem })));
        continue;
      }
      try {
        if (halfMade) await this.h.destroy(id, { force: true });
        else
          await this.h.lock(id, 'host check --fix', async () => {
            await fsp.rm(img, { force: true });
            await snaps.sweep();
          });
        out.push(...problems.map((problem) => ({ problem, fixed: 'removed' })));
      } catch (e) {
        out.push(...problems.map((problem) => ({ problem: `${problem}; not removed: ${(e as Error).message}` })));
      }
    }
    return out;
  }

  /**
   * `host check --fix`: lock files of containers that are gone (an older vpsctl's destroy
   * left them; the run dir is a tmpfs, so they pile up only until the host reboots). A lock
   * someone holds is left alone. Only with --fix: they are harmless, not a finding.
   */
  private async staleLocks(): Promise<NetFinding[]> {
    const out: NetFinding[] = [];
    const dir = this.h.layout.locksDir();
    for (const f of (await fsp.readdir(dir).catch(() => [] as string[])).sort()) {
      const id = /^([a-z0-9-]+)\.lock$/.exec(f)?.[1]; // every other lock's name has a dot
      if (!id || (await exists(this.h.layout.containerDir(id)))) continue;
      if (await removeLockFile(path.join(dir, f))) out.push({ problem: `${path.join(dir, f)} is the lock file of a container that is gone`, fixed: 'removed' });
    }
    return out;
  }

  initPool(opts: PoolInitOptions): Promise<PoolInfo> {
    return withLock(this.h.layout.poolLockFile(), 'pool init', 'the pool', async () => {
      const ids = await this.h.ids();
      const running: string[] = [];
      for (const id of ids) if ((await this.h.runtime.state(id)).state) running.push(id);
      if (running.length) throw wrongState(`containers are running: ${running.join(', ')}`, 'stop them first: pool init moves their images');
      const loops = await this.h.sys.run('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { reject: false });
      const inPool = loops.stdout.split('\n').map((l) => l.trim()).filter((f) => f.startsWith(`${this.h.settings.pool}/`));
      if (inPool.length) throw wrongState(`files in the pool are attached to loop devices: ${inPool.join(', ')}`, 'unmount mounted snapshots first (vpsctl snapshot umount ID NAME)');
      const hold = async (i: number): Promise<PoolInfo> => {
        if (i < ids.length) return this.h.lock(ids[i], 'pool init', () => hold(i + 1));
        // every container locked now: one started between the check above and its lock?
        for (const id of ids) if ((await this.h.runtime.state(id)).state) throw wrongState(`container ${id} was started meanwhile`, 'stop it and retry');
        return this.h.pool.init(opts, this.h.progress);
      };
      return hold(0);
    });
  }
}
