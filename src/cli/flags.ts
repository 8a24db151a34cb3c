import { HOOK_EVENTS, hookPath, isHookEvent, type HookEvent } from '../base/hooks.js';
import { Args, Flags } from '@oclif/core';
import { exists, readText } from '../sys/fs.js';
import { hostShape } from '../sys/proc.js';
import type { Identity } from '../core/host.js';
import { invalid } from '../base/errors.js';
import { WAIVABLE_FEATURES } from '../core/host.js';
import { validateId, validateSnapshotName, validateTemplateName } from '../base/ids.js';
import { parseDuration, parseSize } from '../base/units.js';
import { LIMIT_KEYS, parseLimit, type LimitKey, type Limits } from '../base/limits.js';
import type { NetChange } from '../core/host.js';
import { parseRate } from '../base/netconfig.js';

/** A container id argument, validated before anything else happens. */
export const idArg = Args.string({
  name: 'id',
  description: 'container id (a DNS label: 101, web-1)',
  required: true,
  parse: async (s) => validateId(s),
});

export const templateFlag = Flags.custom<string>({
  description: 'OS template (see `vpsctl template list`)',
  helpValue: 'NAME',
  parse: async (s) => validateTemplateName(s),
});

export const sizeFlag = Flags.custom<number>({
  helpValue: 'SIZE',
  parse: async (s) => {
    const n = parseSize(s, 'size');
    if (n <= 0) throw invalid(`size must be greater than zero, got ${JSON.stringify(s)}`);
    return n;
  },
});

export const durationFlag = Flags.custom<number>({
  helpValue: 'DURATION',
  parse: async (s) => parseDuration(s),
});

/** What `start` and `restart` share: waiting for systemd, and waiving a missing confinement feature. */
export const startFlags = {
  wait: Flags.boolean({ char: 'w', description: 'wait until systemd reports running or degraded' }),
  'unsafe-allow-missing': Flags.string({
    description: 'start even though this confinement feature is missing (repeatable; for developers who know why)',
    options: [...WAIVABLE_FEATURES],
    multiple: true,
    helpValue: 'FEATURE',
  }),
};

/** `--onboot yes|no --bootorder N` (vzctl's names) on create and set. */
export const bootFlags = {
  onboot: Flags.string({ description: "start it at the host's boot (start --all --onboot)", options: ['yes', 'no'], helpValue: 'yes|no' }),
  bootorder: Flags.integer({ description: 'boot order: higher first at start --all, last at stop --all [default: 0]', min: 0, max: 1_000_000, helpValue: 'N' }),
};

export function bootFromFlags(flags: { onboot?: string; bootorder?: number }): { onboot?: boolean; bootorder?: number } {
  return { ...(flags.onboot !== undefined ? { onboot: flags.onboot === 'yes' } : {}), ...(flags.bootorder !== undefined ? { bootorder: flags.bootorder } : {}) };
}

/** `create`/`set --features LIST --device PATH[:rw|ro]`: what the container is given of the host's devices. */
export const deviceFlags = {
  features: Flags.string({ description: "what the container may do beyond a plain system container: tun (/dev/net/tun: VPNs), fuse (/dev/fuse: FUSE mounts), keyctl (the kernel's keyring calls, which an unprivileged container otherwise sees as absent, ENOSYS: Docker inside needs them; never for a privileged container), nesting (containers inside the container, Docker or LXC, with user namespaces of their own: a clean /proc and /sys at /dev/.lxc; never for a privileged container; given at start); a list, NAME=off turns one off, none all", helpValue: 'tun,fuse,keyctl,nesting' }),
  device: Flags.string({ description: "a host character device passed through on the same path inside, read-write or read-only (PATH:off takes one away, none all; repeatable). Never a block device, nor one that reaches the host's memory, disks or kernel", helpValue: 'PATH[:rw|ro]', multiple: true }),
};

/** `create`/`set --mount HOSTDIR:CTDIR[:ro|rw]`: host directories bound inside (set: CTDIR:off, none). */
export const mountFlag = Flags.string({
  description: "bind a host directory on CTDIR inside, read-write or read-only, at start (repeatable, at most 8; set: CTDIR:off takes one away, none all). Unprivileged containers see it through an idmapped mount: host uid 0-65535 are the container's 0-65535. Never a symlinked path, a host system tree or vpsctl's own state",
  helpValue: 'HOSTDIR:CTDIR[:ro|rw]',
  multiple: true,
});

/** `set --hook EVENT=PATH`: the container's own hook for an event (`EVENT=none` removes it). */
export const hookFlag = Flags.string({ description: "the container's own program for a hook event, run as root on the host (EVENT=none removes it; repeatable; see HOOKS in man vpsctl)", helpValue: 'EVENT=PATH', multiple: true });

export function hooksFromFlag(values: string[] = []): Partial<Record<HookEvent, string | null>> {
  const out: Partial<Record<HookEvent, string | null>> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    const event = i > 0 ? v.slice(0, i) : v;
    if (!isHookEvent(event)) throw invalid(`--hook ${JSON.stringify(v)}: unknown event ${JSON.stringify(event)}`, `events: ${HOOK_EVENTS.join(', ')}`);
    const file = v.slice(i + 1);
    out[event] = file === '' || file === 'none' ? null : hookPath(file, `--hook ${event}`);
  }
  return out;
}

/** `start --all` / `stop --all`: how many at once. */
export const parallelFlag = Flags.integer({ description: 'with --all: containers started or stopped at once (each boot-order group in turn)', min: 1, max: 64, default: 4, helpValue: 'N' });

/** A snapshot name argument, validated before anything else happens. */
export const snapshotArg = Args.string({
  name: 'name',
  description: 'snapshot name (see `vpsctl snapshot list ID`)',
  required: true,
  parse: async (s) => validateSnapshotName(s),
});

/** One flag per resource limit, shared by `create` and `set` (sizes need a unit; `max` = none). */
const limitFlag = (key: LimitKey, description: string, helpValue: string) =>
  Flags.string({ description, helpValue, parse: async (s) => (parseLimit(key, s, hostShape()), s) });

export const limitFlags = {
  memory: limitFlag('memory', 'memory limit (hard; e.g. 512M, 2G; max = none)', 'SIZE'),
  swap: limitFlag('swap', 'swap the container may use on top of --memory', 'SIZE'),
  'memory-low': limitFlag('memory_low', 'memory reservation (soft limit kept under pressure)', 'SIZE'),
  cpus: limitFlag('cpus', 'CPU time in cores, fractions allowed (0.5 = half a core)', 'N'),
  'cpu-weight': limitFlag('cpu_weight', 'relative CPU share, 1-10000 (100 = normal)', 'N'),
  cpuset: limitFlag('cpuset', 'host cores it may run on (e.g. 0-1,3)', 'LIST'),
  pids: limitFlag('pids', 'tasks (processes and threads) at most', 'N'),
  'io-weight': limitFlag('io_weight', 'relative block IO share, 1-10000 (100 = normal)', 'N'),
  'io-read-bps': limitFlag('io_read_bps', 'disk read bytes per second (e.g. 50M)', 'SIZE'),
  'io-write-bps': limitFlag('io_write_bps', 'disk write bytes per second', 'SIZE'),
  'io-read-iops': limitFlag('io_read_iops', 'disk read operations per second', 'N'),
  'io-write-iops': limitFlag('io_write_iops', 'disk write operations per second', 'N'),
  nofile: limitFlag('nofile', "open-files limit of the container's init", 'N'),
  strict: Flags.boolean({ description: "refuse, rather than warn, when memory limits overcommit the host or disks pass the pool's size (disk_overcommit_ratio above 1)" }),
};

/** The limits the flags name (each flag's text was validated against the host when parsed). */
export function limitsFromFlags(flags: Record<string, unknown>): Limits {
  const out: Limits = {};
  for (const k of LIMIT_KEYS) {
    const v = flags[k.replace(/_/g, '-')];
    if (typeof v === 'string') (out as Record<string, unknown>)[k] = parseLimit(k, v);
  }
  return out;
}

/** What create and set write into the guest OS besides limits (the hostname is each command's own flag). */
export const identityFlags = {
  nameserver: Flags.string({ description: 'DNS server for the container (repeatable, IPv4 or IPv6)', helpValue: 'IP', multiple: true }),
  searchdomain: Flags.string({ description: 'DNS search domain (repeatable)', helpValue: 'DOMAIN', multiple: true }),
  userpasswd: Flags.string({ description: "set a user's password in the container's /etc/shadow (SHA-512 crypt; repeatable)", helpValue: 'USER:PASSWORD', multiple: true }),
  'ssh-key': Flags.string({ description: "add the public keys in FILE to root's (or USER's) authorized_keys (repeatable)", helpValue: '[USER:]FILE', multiple: true }),
};

/** The identity the flags ask for; reads the key files (the admin's, on the host). */
export async function identityFromFlags(flags: { nameserver?: string[]; searchdomain?: string[]; userpasswd?: string[]; 'ssh-key'?: string[] }): Promise<Identity> {
  const out: Identity = {};
  if (flags.nameserver?.length) out.nameservers = flags.nameserver;
  if (flags.searchdomain?.length) out.searchDomains = flags.searchdomain;
  if (flags.userpasswd?.length) {
    out.users = flags.userpasswd.map((up) => {
      const i = up.indexOf(':');
      if (i <= 0) throw invalid(`--userpasswd ${JSON.stringify(up.slice(0, 40))} is not USER:PASSWORD`);
      return { name: up.slice(0, i), password: up.slice(i + 1) };
    });
  }
  if (flags['ssh-key']?.length) {
    const byUser = new Map<string, string[]>();
    for (const spec of flags['ssh-key']) {
      const m = /^([a-z_][a-z0-9_-]{0,31}):(.+)$/.exec(spec);
      const [user, file] = m && !(await exists(spec)) ? [m[1], m[2]] : ['root', spec];
      let text: string | undefined;
      try {
        text = await readText(file);
      } catch (e) {
        throw invalid(`--ssh-key: cannot read ${file}: ${(e as Error).message}`);
      }
      if (text === undefined) throw invalid(`--ssh-key: ${file} does not exist`);
      const keys = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      if (keys.length === 0) throw invalid(`--ssh-key: ${file} holds no public key`);
      byUser.set(user, [...(byUser.get(user) ?? []), ...keys]);
    }
    out.sshKeys = [...byUser].map(([user, keys]) => ({ user, keys }));
  }
  return out;
}

/** create's network flags (set adds --ipdel and --forward-del). */
export const networkFlags = {
  ipadd: Flags.string({
    description: "add an address (repeatable; IPv4 or IPv6; without /PREFIX the bridge subnet's in bridged mode, /32 or /128 routed; auto: the bridge subnet's next free IPv4)",
    helpValue: 'ADDR[/PREFIX]',
    multiple: true,
  }),
  netmode: Flags.string({
    description: 'bridged: a veth on the host bridge; routed: venet-like host routes, no bridge; none: loopback only [default: bridged when an address is given]',
    options: ['bridged', 'routed', 'none'],
  }),
  forward: Flags.string({ description: "forward a host port to a port of the container's first IPv4 address (repeatable; tcp by default)", helpValue: '[tcp|udp:]HOSTPORT:PORT', multiple: true }),
  rate: Flags.string({
    description: 'cap its bandwidth on the host side of its veth: what it receives / what it sends, in bits per second (kbit, mbit, gbit); one value caps both ways, none removes the caps',
    helpValue: 'IN[/OUT]|none',
  }),
};

export const networkSetFlags = {
  ...networkFlags,
  ipdel: Flags.string({ description: 'remove an address (repeatable), or all of them', helpValue: 'ADDR|all', multiple: true }),
  'forward-del': Flags.string({ description: 'remove a port forward (repeatable; both protocols without one)', helpValue: '[tcp|udp:]HOSTPORT', multiple: true }),
};

/** The network change the flags ask for (undefined: none asked). */
export function networkFromFlags(flags: { ipadd?: string[]; netmode?: string; forward?: string[]; ipdel?: string[]; 'forward-del'?: string[]; rate?: string }): NetChange | undefined {
  const c: NetChange = {};
  if (flags.netmode) c.mode = flags.netmode as NetChange['mode'];
  if (flags.ipadd?.length) c.add = flags.ipadd;
  if (flags.ipdel?.length) c.del = flags.ipdel;
  if (flags.forward?.length) c.forwards = flags.forward;
  if (flags['forward-del']?.length) c.forwardDel = flags['forward-del'];
  if (flags.rate !== undefined) c.rate = parseRate(flags.rate);
  return Object.keys(c).length ? c : undefined;
}
