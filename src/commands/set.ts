import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { bootFlags, bootFromFlags, deviceFlags, mountFlag, hookFlag, hooksFromFlag, idArg, identityFlags, identityFromFlags, limitFlags, limitsFromFlags, networkFromFlags, networkSetFlags, sizeFlag } from '../cli/flags.js';
import { validateHostname } from '../base/ids.js';
import { realHost } from '../cli/host.js';
import { describeLimits, describeNetwork } from '../cli/render.js';
import type { NetworkStatus } from '../core/network.js';
import { invalid } from '../base/errors.js';
import { parseMount } from '../base/mounts.js';
import type { ResizeResult } from '../core/disk.js';
import type { SetLimitsResult } from '../core/resources.js';
import { formatSize } from '../base/units.js';

type Result = { id: string; changed: boolean; devices?: { features: string[]; devices: string[]; next_start: boolean }; mounts?: { mounts: string[]; next_start: boolean }; hooks?: Record<string, string>; boot?: { onboot: boolean; bootorder: number }; disk?: ResizeResult; limits?: SetLimitsResult; identity?: { live: boolean; wrote: string[]; notes: string[] }; network?: NetworkStatus | null };

export default class SetCmd extends VpsCommand<Result> {
  static override summary = "Change a container's hostname, DNS, passwords, SSH keys, network, resource limits and disk size.";
  static override description =
    'Limits apply to a running container at once; --save also writes them to its config, so that they survive a restart (as vzctl set --save). On a stopped container they are always saved. Network changes (--ipadd, --ipdel, --netmode, --forward, --forward-del, --rate) are always saved and apply at once to a running container, with no restart; an address another container has is refused. --disk grows the disk and its filesystem, online if the container is running; it shrinks only a stopped container, and only when the data fits (resize2fs says how small it can get); a grow past what the pool can promise (see pool info) is refused with exit 7. --onboot and --bootorder are saved for the next boot of the host (start --all --onboot). --features, --device and --mount are saved and given at the next start (restart a running container). A set that changes nothing says so.';
  static override examples = [
    '<%= config.bin %> set 101 --memory 2G --swap 512M --cpus 1.5 --save',
    '<%= config.bin %> set 101 --pids 400 --cpuset 0-1',
    '<%= config.bin %> set 101 --disk 20G',
    '<%= config.bin %> set 101 --ipadd 10.88.0.102 --ipdel 10.88.0.101 --forward 2222:22',
    '<%= config.bin %> set 101 --features tun,fuse --device /dev/ttyUSB0:rw',
    '<%= config.bin %> set 101 --mount /srv/data:/data --mount /var/www:off',
  ];
  static override args = { id: idArg };
  static override flags = {
    disk: sizeFlag({ description: 'new disk size (K, M, G, T)' }),
    ...limitFlags,
    save: Flags.boolean({ description: 'also write the limits to the config (they then survive a restart)' }),
    hostname: Flags.string({ description: 'new hostname (set live in a running container)', helpValue: 'NAME', parse: async (s) => validateHostname(s) }),
    ...identityFlags,
    ...networkSetFlags,
    ...bootFlags,
    ...deviceFlags,
    mount: mountFlag,
    hook: hookFlag,
  };

  async run(): Promise<Result> {
    const { args, flags } = await this.parse(SetCmd);
    const limits = limitsFromFlags(flags);
    const identity = await identityFromFlags(flags);
    const net = networkFromFlags(flags);
    const who = flags.hostname !== undefined || Object.keys(identity).length > 0 || net !== undefined;
    const boot = bootFromFlags(flags);
    const hooks = hooksFromFlag(flags.hook);
    const devs = flags.features !== undefined || flags.device !== undefined;
    const mounts = flags.mount !== undefined;
    // a malformed spec is refused before anything is changed (CTDIR:off and none are judged against the config)
    for (const f of flags.mount ?? []) if (f !== 'none' && !/^[^:]*:off$/.test(f)) parseMount(f);
    if (flags.disk === undefined && Object.keys(limits).length === 0 && !who && Object.keys(boot).length === 0 && Object.keys(hooks).length === 0 && !devs && !mounts) throw invalid('nothing to set', 'usage: vpsctl set ID [--hostname NAME] [--nameserver IP] [--userpasswd U:P] [--ssh-key FILE] [--ipadd ADDR] [--ipdel ADDR] [--netmode MODE] [--forward H:P] [--rate IN[/OUT]] [--disk SIZE] [--memory SIZE] [--cpus N] ... [--save] [--onboot yes|no] [--bootorder N] [--features LIST] [--device PATH[:rw|ro]] [--mount HOSTDIR:CTDIR[:ro|rw]]; see vpsctl set --help');
    const host = realHost(this.progress());
    const out: Result = { id: args.id, changed: false };
    if (who) {
      const r = await host.setIdentity(args.id, { ...identity, ...(flags.hostname ? { hostname: flags.hostname } : {}) }, net);
      if (r.result) out.identity = { live: r.live, wrote: r.result.wrote, notes: r.result.notes };
      if (net) out.network = r.network ?? null;
      out.changed = true;
      if (!this.jsonEnabled()) {
        if (r.result) {
          this.log(`${r.live ? 'in the running' : 'in the stopped'} container ${r.id} (${r.result.personality}): wrote ${r.result.wrote.join(', ') || 'nothing'}`);
          for (const n of r.result.notes) this.log(`note: ${n}`);
        }
        if (net) this.log(`network of ${r.id}: ${describeNetwork(r.network ?? null)}${r.live ? ' (applied now)' : ''}`);
      }
    }
    if (Object.keys(limits).length) {
      const r = await host.resources.set(args.id, limits, { save: flags.save, strict: flags.strict });
      out.limits = r;
      out.changed ||= r.changed.length > 0 || r.saved;
      if (!this.jsonEnabled()) {
        if (!r.changed.length && !r.saved) this.log(`limits of ${r.id} already so: nothing changed`);
        else this.log(`limits of ${r.id}: ${describeLimits(limits)}${r.live ? ' (applied now)' : ''}${r.saved ? ' (saved)' : r.live ? ' (not saved: a restart goes back to the saved ones; add --save to keep them)' : ''}`);
      }
    }
    if (flags.disk !== undefined) {
      const r = await host.disks.resize(args.id, flags.disk, flags.strict);
      out.disk = r;
      out.changed ||= r.changed;
      if (!this.jsonEnabled()) {
        this.log(r.changed ? `disk of ${r.id}: ${formatSize(r.previous)} -> ${formatSize(r.disk)}${r.online ? ' (online)' : ''}` : `disk of ${r.id} is already ${formatSize(r.disk)}: nothing changed`);
      }
    }
    if (Object.keys(boot).length) {
      const r = await host.setBoot(args.id, boot);
      out.boot = { onboot: r.onboot, bootorder: r.bootorder };
      out.changed ||= r.changed;
      if (!this.jsonEnabled()) this.log(`${r.id} ${r.onboot ? 'starts' : 'does not start'} at the host's boot (boot order ${r.bootorder})${r.changed ? '' : ': nothing changed'}`);
    }
    if (devs) {
      const r = await host.setDevices(args.id, { features: flags.features, devices: flags.device });
      out.devices = { features: r.features, devices: r.devices, next_start: r.running && r.changed };
      out.changed ||= r.changed;
      if (!this.jsonEnabled()) {
        this.log(`features of ${r.id}: ${r.features.join(', ') || 'none'}; devices: ${r.devices.join(', ') || 'none'}${r.changed ? (r.running ? ' (saved: they take effect at its next start, vpsctl restart ' + r.id + ')' : '') : ': nothing changed'}`);
      }
    }
    if (mounts) {
      const r = await host.setMounts(args.id, flags.mount ?? []);
      out.mounts = { mounts: r.mounts, next_start: r.running && r.changed };
      out.changed ||= r.changed;
      if (!this.jsonEnabled()) {
        this.log(`mounts of ${r.id}: ${r.mounts.join(', ') || 'none'}${r.changed ? (r.running ? ' (saved: they take effect at its next start, vpsctl restart ' + r.id + ')' : '') : ': nothing changed'}`);
      }
    }
    if (Object.keys(hooks).length) {
      const r = await host.setHooks(args.id, hooks);
      out.hooks = r.hooks;
      out.changed ||= r.changed;
      if (!this.jsonEnabled()) this.log(`hooks of ${r.id}: ${Object.entries(r.hooks).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}${r.changed ? '' : ': nothing changed'}`);
    }
    return out;
  }
}
