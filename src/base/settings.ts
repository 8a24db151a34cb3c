import * as path from 'node:path';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { invalid } from './errors.js';
import { canonicalIp, parseCidr, reservedReason, subnetEdge, type Cidr } from './ip.js';
import { IFNAME } from './ids.js';
import { parseDuration, parseSize } from './units.js';

/** Host settings: `/etc/vpsctl/vpsctl.yaml` (all optional), then environment overrides. */
export interface HostSettings {
  /** State root: containers, pool, templates. */
  root: string;
  /** The storage pool directory. */
  pool: string;
  /** Runtime state: monitor state, console log, mount points, locks. */
  runDir: string;
  /** Name of the cgroup under each hierarchy that holds the containers' cgroups. */
  cgroupParent: string;
  /** Debian mirror for template builds; default: the host's own apt sources. */
  mirror?: string;
  /** A mirror per OS for the other recipes (`mirrors: {ubuntu: URL, almalinux: URL}`). */
  mirrors: Record<string, string>;
  /** debootstrap package cache shared by builds (speeds up rebuilds). */
  cacheDir: string;
  /** First host id handed to containers' user namespaces. */
  idmapBase: number;
  /** Ids per container (a container's root is idmapBase + n*idmapSize on the host). */
  idmapSize: number;
  /** How many ranges the allocator may hand out. */
  idmapRanges: number;
  /** Where `snapshot schedule` writes its cron entries. */
  cronDir: string;
  /** Host-wide hooks: every program in `<hooksDir>/<event>/`, in name order. */
  hooksDir: string;
  /** How long one hook may run (ms) before it is killed and counts as failed. */
  hookTimeoutMs: number;
  /** The group (besides root) that may use the daemon's socket; none: root only. */
  apiGroup?: string;
  /** `HOST:PORT` where the daemon serves /metrics over TCP; none: off. */
  metricsListen?: string;
  /** Memory limits may add up to the host's memory times this (create/set warn, --strict refuses). */
  overcommitRatio: number;
  /** Disks, snapshots, templates and the reserve may add up to the pool's size times this (1: no thin provisioning). */
  diskOvercommitRatio: number;
  /** Space the pool's filesystem keeps for the host (and its own metadata): never promised to a container. */
  diskReserve: Amount;
  /** A thin pool (promised beyond its size) with less free than this refuses new snapshots and containers. */
  diskLowWatermark: Amount;
  /** Running containers' filesystems are frozen (writes wait) while the pool has less free than this; 0: never. */
  diskFreezeFree: Amount;
  /** The host bridge bridged containers join (created on first need). */
  bridge: string;
  /** The bridge's own IPv4 address and the containers' subnet (`10.88.0.1/24`). */
  subnet: Cidr;
  /** The bridge's own IPv6 address and subnet; default a ULA /64 derived from the host's machine-id. */
  subnet6: Cidr;
  /** Masquerade the bridge's IPv4 subnet when it leaves through another interface. */
  nat: boolean;
  /** The host interface routed containers' addresses are answered on (proxy ARP/NDP), if any. */
  uplink?: string;
  /** The nftables tables vpsctl owns (`bridge NAME` and `inet NAME`); nothing else is touched. */
  nftTable: string;
  /** Where the settings came from, for `host info`. */
  configFile?: string;
}

const KNOWN = new Set(['root', 'pool', 'run_dir', 'cgroup_parent', 'mirror', 'cache_dir', 'idmap_base', 'idmap_size', 'idmap_ranges', 'cron_dir', 'hooks_dir', 'hook_timeout', 'api_group', 'metrics_listen', 'overcommit_ratio', 'disk_overcommit_ratio', 'disk_reserve', 'disk_low_watermark', 'disk_freeze_free', 'mirrors', 'bridge', 'subnet', 'subnet6', 'nat', 'uplink', 'nft_table']);

/** A stable ULA /64 (RFC 4193) for this host: fd + 40 bits of its machine-id's hash, ::1 the bridge. */
export function defaultSubnet6(machineId: string | undefined): Cidr {
  const h = createHash('sha256').update(`vpsctl-ula:${machineId ?? 'none'}`).digest('hex');
  return { address: canonicalIp(`fd${h.slice(0, 2)}:${h.slice(2, 6)}:${h.slice(6, 10)}::1`), prefix: 64, family: 6 };
}

/** A bridge address with its prefix: a host address (not the network or broadcast) of a subnet of a sane size. */
function bridgeCidr(key: string, v: unknown, family: 4 | 6, file: string): Cidr {
  let c: Cidr;
  try {
    c = parseCidr(String(v));
  } catch {
    throw invalid(`${file}: ${key} must be the bridge's address with a prefix length, e.g. ${family === 4 ? '10.88.0.1/24' : 'fd42:1:2::1/64'}; got ${JSON.stringify(v)}`);
  }
  const [min, max] = family === 4 ? [8, 30] : [48, 120];
  if (c.family !== family || c.prefix < min || c.prefix > max) throw invalid(`${file}: ${key} must be an IPv${family} address with a prefix from /${min} to /${max}, got ${JSON.stringify(v)}`);
  const edge = subnetEdge(c.address, c);
  if (edge) throw invalid(`${file}: ${key} ${JSON.stringify(v)} is the subnet's ${edge} address; give the bridge's own address, e.g. the first host`);
  const why = reservedReason(c.address);
  if (why) throw invalid(`${file}: ${key} ${JSON.stringify(v)} is ${why}`);
  return { ...c, address: canonicalIp(c.address) };
}

/** A share of a filesystem: a fixed size, or a percentage of its size. */
export type Amount = { bytes: number } | { percent: number };

/** `5%` or a size (`2G`). */
export function parseAmount(v: unknown, key: string, file: string): Amount {
  const text = String(v).trim();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(text);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent > 90) throw invalid(`${file}: ${key} must be at most 90%, got ${JSON.stringify(v)}`);
    return { percent };
  }
  try {
    return { bytes: parseSize(text, key) };
  } catch {
    throw invalid(`${file}: ${key} must be a size (2G) or a percentage of the pool (5%), got ${JSON.stringify(v)}`);
  }
}

/** What an Amount comes to on a filesystem of `size` bytes. */
export function amountOf(a: Amount, size: number): number {
  return 'bytes' in a ? a.bytes : Math.floor((size * a.percent) / 100);
}

/** A settings file's text, or undefined when there is none (base reads; it changes nothing). */
function readTextSync(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

export function defaultConfigFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.VPSCTL_CONFIG || '/etc/vpsctl/vpsctl.yaml';
}

function absPath(key: string, v: unknown, file: string): string {
  if (typeof v !== 'string' || !path.isAbsolute(v) || v.split('/').includes('..')) {
    throw invalid(`${file}: ${key} must be an absolute path without "..", got ${JSON.stringify(v)}`);
  }
  return path.normalize(v);
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): HostSettings {
  const file = defaultConfigFile(env);
  const text = readTextSync(file);
  let raw: Record<string, unknown> = {};
  if (text !== undefined) {
    let doc: unknown;
    try {
      // loaded only when there is a settings file: `vpsctl exec` start-up pays for no parser
      const { parse: parseYaml } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
      doc = parseYaml(text);
    } catch (e) {
      throw invalid(`${file} is not valid YAML: ${(e as Error).message}`, `fix ${file} or remove it to use the defaults`);
    }
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc)) throw invalid(`${file} must be a mapping of settings`);
      raw = doc as Record<string, unknown>;
    }
    for (const k of Object.keys(raw)) {
      if (!KNOWN.has(k)) throw invalid(`${file}: unknown setting ${JSON.stringify(k)}`, `known settings: ${[...KNOWN].join(', ')}`);
    }
  }
  const root = env.VPSCTL_ROOT ? absPath('VPSCTL_ROOT', env.VPSCTL_ROOT, 'environment') : raw.root ? absPath('root', raw.root, file) : '/var/lib/vpsctl';
  const pool = raw.pool && !env.VPSCTL_ROOT ? absPath('pool', raw.pool, file) : path.join(root, 'pool');
  const runDir = env.VPSCTL_RUN_DIR
    ? absPath('VPSCTL_RUN_DIR', env.VPSCTL_RUN_DIR, 'environment')
    : raw.run_dir
      ? absPath('run_dir', raw.run_dir, file)
      : '/run/vpsctl';
  const cgroupParent = env.VPSCTL_CGROUP_PARENT ?? (raw.cgroup_parent as string | undefined) ?? 'vpsctl';
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(cgroupParent)) throw invalid(`cgroup_parent ${JSON.stringify(cgroupParent)} is not a simple name`);
  const mirror = env.VPSCTL_MIRROR ?? (raw.mirror as string | undefined);
  if (mirror !== undefined && !/^(https?|file):\/\/[^\s'"]+$/.test(mirror)) throw invalid(`mirror ${JSON.stringify(mirror)} is not an http(s) or file URL`);
  const mirrors: Record<string, string> = {};
  if (raw.mirrors !== undefined) {
    if (!raw.mirrors || typeof raw.mirrors !== 'object' || Array.isArray(raw.mirrors)) throw invalid(`${file}: mirrors must be a mapping of OS to URL`);
    for (const [os, url] of Object.entries(raw.mirrors as Record<string, unknown>)) {
      if (!/^[a-z][a-z0-9-]{0,30}$/.test(os)) throw invalid(`${file}: mirrors: ${JSON.stringify(os)} is not an OS name`);
      if (typeof url !== 'string' || !/^(https?|file):\/\/[^\s'"]+$/.test(url)) throw invalid(`${file}: mirrors.${os} is not an http(s) or file URL`);
      mirrors[os] = url;
    }
  }
  const cacheDir = env.VPSCTL_CACHE_DIR
    ? absPath('VPSCTL_CACHE_DIR', env.VPSCTL_CACHE_DIR, 'environment')
    : raw.cache_dir
      ? absPath('cache_dir', raw.cache_dir, file)
      : '/var/cache/vpsctl';
  const cronDir = env.VPSCTL_CRON_DIR
    ? absPath('VPSCTL_CRON_DIR', env.VPSCTL_CRON_DIR, 'environment')
    : raw.cron_dir
      ? absPath('cron_dir', raw.cron_dir, file)
      : '/etc/cron.d';
  const hooksDir = env.VPSCTL_HOOKS_DIR
    ? absPath('VPSCTL_HOOKS_DIR', env.VPSCTL_HOOKS_DIR, 'environment')
    : raw.hooks_dir
      ? absPath('hooks_dir', raw.hooks_dir, file)
      : '/etc/vpsctl/hooks.d';
  const hookTimeoutText = env.VPSCTL_HOOK_TIMEOUT ?? (raw.hook_timeout === undefined ? undefined : String(raw.hook_timeout));
  const hookTimeoutMs = hookTimeoutText === undefined ? 60_000 : parseDuration(hookTimeoutText, `${env.VPSCTL_HOOK_TIMEOUT ? 'VPSCTL_HOOK_TIMEOUT' : `${file}: hook_timeout`}`);
  if (hookTimeoutMs < 1000 || hookTimeoutMs > 3_600_000) throw invalid(`hook_timeout must be from 1s to 1h`);
  const apiGroup = env.VPSCTL_API_GROUP ?? (raw.api_group === undefined ? undefined : String(raw.api_group));
  if (apiGroup !== undefined && !/^[a-z_][a-z0-9_-]{0,31}$/.test(apiGroup)) throw invalid(`api_group ${JSON.stringify(apiGroup)} is not a group name`);
  const metricsListen = env.VPSCTL_METRICS_LISTEN ?? (raw.metrics_listen === undefined ? undefined : String(raw.metrics_listen));
  if (metricsListen !== undefined && !/^(\[[0-9a-fA-F:]+\]|[0-9.]+|[a-z0-9.-]+):\d{1,5}$/.test(metricsListen)) throw invalid(`metrics_listen ${JSON.stringify(metricsListen)} is not HOST:PORT`, 'e.g. 127.0.0.1:9775');
  const int = (key: string, env: string | undefined, dflt: number, min: number, max: number): number => {
    const v = env ?? raw[key];
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw invalid(`${file}: ${key} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
    return n;
  };
  const ratioText = env.VPSCTL_OVERCOMMIT_RATIO ?? raw.overcommit_ratio;
  const overcommitRatio = ratioText === undefined ? 1.5 : Number(ratioText);
  if (!Number.isFinite(overcommitRatio) || overcommitRatio < 0.1 || overcommitRatio > 100) throw invalid(`${file}: overcommit_ratio must be a number from 0.1 to 100, got ${JSON.stringify(ratioText)}`);
  const ratio = (key: string, envText: string | undefined, dflt: number): number => {
    const text = envText ?? raw[key];
    const n = text === undefined ? dflt : Number(text);
    if (!Number.isFinite(n) || n < 0.1 || n > 100) throw invalid(`${file}: ${key} must be a number from 0.1 to 100, got ${JSON.stringify(text)}`);
    return n;
  };
  const diskOvercommitRatio = ratio('disk_overcommit_ratio', env.VPSCTL_DISK_OVERCOMMIT_RATIO, 1);
  const diskReserve = parseAmount(env.VPSCTL_DISK_RESERVE ?? raw.disk_reserve ?? '5%', 'disk_reserve', file);
  const diskLowWatermark = parseAmount(env.VPSCTL_DISK_LOW_WATERMARK ?? raw.disk_low_watermark ?? '10%', 'disk_low_watermark', file);
  const diskFreezeFree = parseAmount(env.VPSCTL_DISK_FREEZE_FREE ?? raw.disk_freeze_free ?? '256M', 'disk_freeze_free', file);
  const idmapBase = int('idmap_base', env.VPSCTL_IDMAP_BASE, 1_000_000, 65_536, 2 ** 32 - 2 * 65_536);
  const idmapSize = int('idmap_size', env.VPSCTL_IDMAP_SIZE, 65_536, 65_536, 2 ** 24);
  const idmapRanges = int('idmap_ranges', env.VPSCTL_IDMAP_RANGES, Math.floor((2 ** 32 - 1 - idmapBase) / idmapSize), 1, 2 ** 20);
  if (idmapBase + idmapRanges * idmapSize > 2 ** 32 - 1) throw invalid(`${file}: idmap_base + idmap_ranges * idmap_size passes the 32-bit id space`);
  const bridge = String(env.VPSCTL_BRIDGE ?? raw.bridge ?? 'vpsbr0');
  if (!IFNAME.test(bridge)) throw invalid(`${file}: bridge ${JSON.stringify(bridge)} is not an interface name (at most 15 letters, digits, _ . -)`);
  const subnet = bridgeCidr('subnet', env.VPSCTL_SUBNET ?? raw.subnet ?? '10.88.0.1/24', 4, file);
  const s6 = env.VPSCTL_SUBNET6 ?? raw.subnet6;
  const subnet6 = s6 === undefined ? defaultSubnet6(readTextSync('/etc/machine-id')?.trim()) : bridgeCidr('subnet6', s6, 6, file);
  const natText = env.VPSCTL_NAT ?? raw.nat;
  if (natText !== undefined && !['true', 'false', 'yes', 'no', '1', '0'].includes(String(natText))) throw invalid(`${file}: nat must be true or false, got ${JSON.stringify(natText)}`);
  const nat = natText === undefined || ['true', 'yes', '1'].includes(String(natText));
  const uplink = (env.VPSCTL_UPLINK ?? raw.uplink) as string | undefined;
  if (uplink !== undefined && (!IFNAME.test(String(uplink)) || uplink === bridge)) throw invalid(`${file}: uplink ${JSON.stringify(uplink)} is not an interface name other than the bridge`);
  const nftTable = String(env.VPSCTL_NFT_TABLE ?? raw.nft_table ?? 'vpsctl');
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(nftTable)) throw invalid(`${file}: nft_table ${JSON.stringify(nftTable)} must be a lower-case name ([a-z][a-z0-9_]*)`);
  return { bridge, subnet, subnet6, nat, uplink: uplink || undefined, nftTable, root, pool, runDir, cgroupParent, mirror, mirrors, cacheDir, cronDir, hooksDir, hookTimeoutMs, ...(apiGroup ? { apiGroup } : {}), ...(metricsListen ? { metricsListen } : {}), overcommitRatio, diskOvercommitRatio, diskReserve, diskLowWatermark, diskFreezeFree, idmapBase, idmapSize, idmapRanges, configFile: text !== undefined ? file : undefined };
}

/** Every path vpsctl uses, built only from validated ids and names. */
export class Layout {
  constructor(readonly s: HostSettings) {}
  containersDir(): string {
    return path.join(this.s.root, 'containers');
  }
  containerDir(id: string): string {
    return path.join(this.s.root, 'containers', id);
  }
  configFile(id: string): string {
    return path.join(this.containerDir(id), 'config.yaml');
  }
  imagesDir(): string {
    return path.join(this.s.pool, 'images');
  }
  image(id: string): string {
    return path.join(this.s.pool, 'images', `${id}.img`);
  }
  /** export's work: symlinks to what goes into the archive, and a running container's frozen copy. */
  exportStage(id: string): string {
    return path.join(this.s.pool, 'images', `.export-${id}`);
  }
  exportFrozenImage(id: string): string {
    return path.join(this.s.pool, 'images', `.export-${id}.img`);
  }
  templatesDir(): string {
    return path.join(this.s.pool, 'templates');
  }
  templateImage(name: string): string {
    return path.join(this.s.pool, 'templates', `${name}.img`);
  }
  templateMeta(name: string): string {
    return path.join(this.s.pool, 'templates', `${name}.yaml`);
  }
  /** Snapshots of one container: `<name>.img` + `<name>.yaml` (listed only when both exist). */
  snapshotsDir(id: string): string {
    return path.join(this.s.pool, 'snapshots', id);
  }
  snapshotImage(id: string, name: string): string {
    return path.join(this.snapshotsDir(id), `${name}.img`);
  }
  snapshotMeta(id: string, name: string): string {
    return path.join(this.snapshotsDir(id), `${name}.yaml`);
  }
  /** What `pool init` made (fs, backing file or device); its presence means "mount the pool". */
  poolRecord(): string {
    return path.join(this.s.root, 'pool.yaml');
  }
  /** The sparse file an XFS pool lives in when `pool init` got no --device. */
  poolFile(): string {
    return path.join(this.s.root, 'pool.xfs');
  }
  runDir(id: string): string {
    return path.join(this.s.runDir, id);
  }
  /** The host's event log (src/sys/eventlog.ts): kept across reboots, rotated beside it. */
  eventsLog(): string {
    return path.join(this.s.root, 'events', 'events.log');
  }
  /** Written by a stop that vpsctl asks for, with the asker's source: the monitor reads it. */
  stopRequest(id: string): string {
    return path.join(this.s.runDir, id, 'stop-request');
  }
  rootfs(id: string): string {
    return path.join(this.s.runDir, id, 'rootfs');
  }
  stateFile(id: string): string {
    return path.join(this.s.runDir, id, 'state.json');
  }
  /** The monitor's console socket (helpers/console-proto.h). */
  consoleSocket(id: string): string {
    return path.join(this.s.runDir, id, 'console.sock');
  }
  /** The console log, oldest part first: the monitor rotates console.log to console.log.1. */
  consoleLogs(id: string): string[] {
    return ['console.log.1', 'console.log'].map((f) => path.join(this.s.runDir, id, f));
  }
  /**
   * `.locks`: a dot cannot start a container id, so no container's run dir is ever this.
   * In it, `<id>.lock` per container; every other lock's name holds a dot (`host.net.lock`,
   * `template.NAME.lock`), which no id does, so a container named net, pool or space never
   * shares a lock with the host.
   */
  locksDir(): string {
    return path.join(this.s.runDir, '.locks');
  }
  lockFile(id: string): string {
    return path.join(this.locksDir(), `${id}.lock`);
  }
  /** Written by vps-snap while a container's filesystem is frozen; a leftover means "thaw it". */
  frozenMarker(id: string): string {
    return path.join(this.locksDir(), `${id}.frozen`);
  }
  /** Held while a disk promise is weighed and reserved (`Space.admit`). */
  spaceLockFile(): string {
    return path.join(this.locksDir(), 'host.space.lock');
  }
  /** Space reserved by operations under way (`<pid>-<n>`): counted until they finish or their process is gone. */
  spaceReservations(): string {
    return path.join(this.s.runDir, '.space');
  }
  /** The pool's own lock: `pool init` against everything that writes into the pool. */
  poolLockFile(): string {
    return path.join(this.locksDir(), 'host.pool.lock');
  }
  /** Template locks: `template.NAME` (a dot cannot appear in a container id). */
  templateLockFile(name: string): string {
    return path.join(this.locksDir(), `template.${name}.lock`);
  }
  /** The network's own lock: address assignment, the bridge and the nftables tables. */
  netLockFile(): string {
    return path.join(this.locksDir(), 'host.net.lock');
  }
  /**
   * What the monitor's vps-net reads at each boot (veth, MAC, mode, addresses). It exists
   * from a container's start until its teardown, and the nftables rules are made for the
   * containers that have one: a crash leaves it, and the next reconcile removes it.
   */
  /** A network a create or import under way has reserved (JSON: pid, network), until its config holds it. */
  netPlan(id: string): string {
    return path.join(this.s.runDir, '.net-plans', `${id}.json`);
  }
  netSpec(id: string): string {
    return path.join(this.s.runDir, id, 'net.spec');
  }
  /** Reservations of user-namespace id ranges: one file per range, made with O_EXCL. */
  idmapDir(): string {
    return path.join(this.s.root, 'idmap');
  }
}
