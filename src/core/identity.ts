import type { HookEvent, HookMap } from '../base/hooks.js';
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../sys/fs.js';
import { MAX_BOOTORDER, renderConfig, validBootorder, type ContainerConfig } from '../base/config.js';
import { invalid } from '../base/errors.js';
import { applyDeviceFlags, formatDevice, parseFeatures, type Feature } from '../base/devices.js';
import { checkDeviceNodes } from './devices.js';
import { applyMountFlags, formatMount } from '../base/mounts.js';
import { checkMounts, warnOpenMounts } from './mounts.js';
import { GUEST_IF } from '../net/names.js';
import { changesGuest, type NetChange } from '../net/plan.js';
import { applyPersonalityTo, type PersonalityResult } from '../distro/index.js';
import type { PersonalityInput } from '../distro/input.js';
import { HostTree } from '../distro/tree.js';
import { ContainerTree } from './container-tree.js';
import type { Execs, Power, Store } from './context.js';
import type { Identity } from './host-types.js';
import type { NetworkStatus, Networks } from './network.js';

/** What changing a container's identity needs. */
export type IdentityDeps = Store &
  Execs &
  Pick<Power, 'reconcile'> & {
    readonly networks: Networks;
  };

/** `set --hostname/--nameserver/--userpasswd/--ssh-key/--ipadd...` and `set --onboot --bootorder`. */
export class Identities {
  constructor(private readonly h: IdentityDeps) {}

  /** `create`/`set --onboot --bootorder`: saved in the config; the next host boot uses them. */
  async setBoot(id: string, change: { onboot?: boolean; bootorder?: number }): Promise<{ id: string; onboot: boolean; bootorder: number; changed: boolean }> {
    if (change.bootorder !== undefined && !validBootorder(change.bootorder)) throw invalid(`--bootorder must be an integer from 0 to ${MAX_BOOTORDER}`);
    await this.h.config(id);
    return this.h.lock(id, 'set --onboot', async () => {
      const cfg = await this.h.config(id);
      const next: ContainerConfig = { ...cfg };
      if (change.onboot !== undefined) next.onboot = change.onboot || undefined;
      if (change.bootorder !== undefined) next.bootorder = change.bootorder || undefined;
      const changed = !!next.onboot !== !!cfg.onboot || (next.bootorder ?? 0) !== (cfg.bootorder ?? 0);
      if (changed) await writeFileAtomic(this.h.layout.configFile(id), renderConfig(next), 0o600);
      return { id, onboot: !!next.onboot, bootorder: next.bootorder ?? 0, changed };
    });
  }

  /**
   * `set --features LIST` and `set --device PATH[:rw|ro]|PATH:off|none`: saved in the
   * config once the host has every node and may give it; a running container gets them at
   * its next start (`running` says it is one).
   */
  async setDevices(id: string, change: { features?: string; devices?: string[] }): Promise<{ id: string; features: Feature[]; devices: string[]; changed: boolean; running: boolean }> {
    await this.h.config(id);
    return this.h.lock(id, 'set --features', async () => {
      const cfg = await this.h.config(id);
      const features = change.features === undefined ? (cfg.features ?? []) : parseFeatures(change.features, cfg.features);
      const devices = change.devices === undefined ? (cfg.devices ?? []) : applyDeviceFlags(change.devices, cfg.devices);
      await checkDeviceNodes(features, devices, !cfg.privileged);
      const next: ContainerConfig = { ...cfg, features, devices };
      const changed = renderConfig(next) !== renderConfig(cfg);
      if (changed) await writeFileAtomic(this.h.layout.configFile(id), renderConfig(next), 0o600);
      const running = !!(await this.h.runtime.state(id)).state;
      return { id, features, devices: devices.map(formatDevice), changed, running };
    });
  }

  /**
   * `set --mount HOSTDIR:CTDIR[:ro|rw]|CTDIR:off|none`: saved in the config once every host
   * directory passes (checkMounts); a running container gets them at its next start.
   */
  async setMounts(id: string, flags: string[]): Promise<{ id: string; mounts: string[]; changed: boolean; running: boolean }> {
    await this.h.config(id);
    return this.h.lock(id, 'set --mount', async () => {
      const cfg = await this.h.config(id);
      const mounts = applyMountFlags(flags, cfg.mounts);
      await checkMounts(mounts, this.h.settings);
      // the note on a directory every host user can reach, for the ones this set adds
      const before = new Set((cfg.mounts ?? []).map(formatMount));
      await warnOpenMounts(mounts.filter((m) => !before.has(formatMount(m))), (m) => this.h.progress.warn(m));
      const next: ContainerConfig = { ...cfg, mounts };
      const changed = renderConfig(next) !== renderConfig(cfg);
      if (changed) await writeFileAtomic(this.h.layout.configFile(id), renderConfig(next), 0o600);
      const running = !!(await this.h.runtime.state(id)).state;
      return { id, mounts: mounts.map(formatMount), changed, running };
    });
  }

  /**
   * `set --hook EVENT=PATH` (`EVENT=none` removes it): the container's own hooks, in its
   * config. The program is checked when it runs (root's alone, or refused), not here: it may
   * be installed after.
   */
  async setHooks(id: string, change: Partial<Record<HookEvent, string | null>>): Promise<{ id: string; hooks: HookMap; changed: boolean }> {
    await this.h.config(id);
    return this.h.lock(id, 'set --hook', async () => {
      const cfg = await this.h.config(id);
      const hooks: HookMap = { ...(cfg.hooks ?? {}) };
      for (const [event, file] of Object.entries(change) as [HookEvent, string | null][]) {
        if (file === null) delete hooks[event];
        else hooks[event] = file;
      }
      const next: ContainerConfig = { ...cfg, hooks };
      const changed = renderConfig(next) !== renderConfig(cfg);
      if (changed) await writeFileAtomic(this.h.layout.configFile(id), renderConfig(next), 0o600);
      return { id, hooks, changed };
    });
  }

  /**
   * `set --hostname/--nameserver/--userpasswd/--ssh-key`: writes them the way the container's
   * OS reads them. A stopped container's image is mounted on the host for it (nothing runs in
   * it, so nothing races the writes, and no write follows a link); a running one is changed
   * by commands run inside it (its own kernel view confines them), and its hostname is set live.
   */
  async setIdentity(
    id: string,
    change: Identity & { hostname?: string },
    netChange?: NetChange,
  ): Promise<{ id: string; live: boolean; result?: PersonalityResult; network?: NetworkStatus | null }> {
    await this.h.config(id);
    return this.h.lock(id, 'set', async () => {
      const cfg = await this.h.config(id);
      const hostname = change.hostname ?? cfg.hostname;
      // the whole change is checked before anything is written
      const net = netChange ? await this.h.networks.plan(id, cfg.network, netChange) : cfg.network;
      const netInput: Partial<PersonalityInput> = !netChange || !changesGuest(netChange)
        ? {}
        : net?.addresses.length
          ? { network: this.h.networks.guestInput(net) }
          : { dropNetwork: GUEST_IF };
      const input: PersonalityInput = { ...change, ...netInput, hostname, keepMachineId: true };
      const next: ContainerConfig = { ...cfg, hostname };
      if (net) next.network = net;
      else delete next.network;
      const { state } = await this.h.runtime.state(id);
      const write = async (): Promise<PersonalityResult> => {
        let result: PersonalityResult;
        if (state) {
          result = await applyPersonalityTo(new ContainerTree(this.h, id), input);
          if (change.hostname) await this.h.exec(id, ['hostname', hostname], { capture: true });
        } else {
          const img = this.h.layout.image(id);
          await this.h.images.assertPlainImage(img);
          await this.h.images.check(img);
          const mnt = path.join(this.h.layout.runDir(id), 'set-mnt');
          await this.h.images.mount(img, mnt);
          try {
            result = await applyPersonalityTo(new HostTree(mnt), input);
          } finally {
            await this.h.images.umount(mnt).catch(() => this.h.sys.run('umount', ['-l', '--', mnt], { reject: false }));
            await fsp.rm(this.h.layout.runDir(id), { recursive: true, force: true });
          }
        }
        return result;
      };
      const writeConfig = async (): Promise<void> => {
        if (renderConfig(next) !== renderConfig(cfg)) await writeFileAtomic(this.h.layout.configFile(id), renderConfig(next), 0o600);
      };
      // addresses are checked again and recorded under the network lock; a running
      // container's live change follows (it takes that lock itself)
      if (!state) {
        // before the network lock is taken: reconcile may need it for a leftover veth
        await this.h.pool.ensure();
        await this.h.reconcile(id);
      }
      // the guest's files first, outside the network lock (a running container's are written by
      // its own programs, which must never hold up the other containers' network changes);
      // none for a change only the host sees (--rate)
      const result = Object.keys(change).length || (netChange && changesGuest(netChange)) ? await write() : undefined;
      if (netChange) {
        // addresses checked again, the config recorded and a running container changed, all
        // in one section under the network lock: the rules never disagree with the veth
        await this.h.networks.commit(id, net, async () => {
          await writeConfig();
          if (state) await this.h.networks.applyLive(next, cfg.network, state.init_pid);
        });
        const had = new Set(cfg.network?.addresses ?? []);
        const has = new Set(net?.addresses ?? []);
        for (const a of has) if (!had.has(a)) this.h.emit(id, 'address-added', { address: a });
        for (const a of had) if (!has.has(a)) this.h.emit(id, 'address-removed', { address: a });
      } else {
        await writeConfig();
      }
      return { id, live: !!state, ...(result ? { result } : {}), ...(netChange ? { network: this.h.networks.status(next) } : {}) };
    });
  }
}
