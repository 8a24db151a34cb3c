import type { EventSource } from '../base/events.js';
/**
 * The Host's vocabulary: the options its methods take and the objects they return (what
 * `--json` prints). Types only, with the waivable features' names: host.ts re-exports all.
 */
import type { Runner } from '../sys/exec.js';
import type { NetChange } from '../net/plan.js';
import type { NetFinding, NetworkStatus } from './network.js';
import type { Limits } from '../base/limits.js';
import type { PoolInfo } from '../storage/pool.js';
import type { SpaceFigures } from '../storage/space.js';
import type { HostCheckResult } from './hostcheck.js';
import type { PersonalityInput } from '../distro/input.js';
import type { ContainerConfig, IdMap } from '../base/config.js';
import type { DevicePass, Feature, KeyringMode } from '../base/devices.js';
import type { BindMount } from '../base/mounts.js';
import type { HostSettings } from '../base/settings.js';
import type { ContainerState, Progress } from '../base/types.js';
import type { NetworkConfig } from '../base/netconfig.js';

export interface HostOptions {
  /** Runs external programs; tests pass a recording fake. */
  sys?: Runner;
  settings?: HostSettings;
  env?: NodeJS.ProcessEnv;
  progress?: Progress;
  /** Who the events this Host logs name as their source (default cli). */
  source?: EventSource;
}

export interface CreateOptions {
  template: string;
  disk?: number;
  hostname?: string;
  /** No user namespace (explicit opt-in; not a security boundary). */
  privileged?: boolean;
  /** Shift the image's ids into the container's range once, for kernels without idmapped mounts. */
  shiftIds?: boolean;
  /** Resource limits on top of DEFAULT_LIMITS. */
  limits?: Limits;
  /** Refuse (exit 7) rather than warn when memory limits overcommit the host. */
  strict?: boolean;
  identity?: Identity;
  /** --ipadd / --netmode / --forward: its network (none without them). */
  network?: NetChange;
  /** Started at the host's boot (`start --all --onboot`), in `bootorder` (higher first). */
  onboot?: boolean;
  bootorder?: number;
  /** --features: tun, fuse, keyctl, nesting (src/base/devices.ts). */
  features?: Feature[];
  /** --device: host character devices passed through. */
  devices?: DevicePass[];
  /** --mount: host directories bound inside (src/base/mounts.ts). */
  mounts?: BindMount[];
}

/** How `provision` makes a container (see there). */
export interface ProvisionSpec {
  /** For the `.partial` marker: what was making it. */
  what: string;
  /** The details of its "created" event: where it came from. */
  origin: Record<string, unknown>;
  hostname: string;
  privileged: boolean;
  /** Shift the image's plain ids into the new range (create --shift-ids). */
  shiftIds?: boolean;
  /** The image's ids are already shifted into this range (clone or import of a shifted container). */
  shiftedFrom?: IdMap;
  /** Remove SSH host keys so the copy makes its own at first boot (clone, import). */
  freshHostKeys?: boolean;
  /** How many progress steps `fill` reports (two more follow). */
  steps: number;
  /** Writes the new image to the given path. */
  fill: (tmpImg: string) => Promise<void>;
  base: Pick<ContainerConfig, 'template' | 'disk' | 'os' | 'init' | 'snapshots' | 'limits' | 'onboot' | 'bootorder' | 'features' | 'devices'>;
  /** Runs once the image is in place, before the config makes the container exist. */
  after?: (cfg: ContainerConfig) => Promise<void>;
  /** DNS, passwords, SSH keys to write along with the hostname (create). */
  identity?: Identity;
  /**
   * Its network (create), written into the guest and recorded under the network lock; null:
   * none, and the guest's network files of the image it came from are removed (clone, import:
   * another container's addresses must not come up in the copy).
   */
  network?: NetworkConfig | null;
}

/** What `create` and `set` write into a container's OS besides its hostname. */
export type Identity = Pick<PersonalityInput, 'nameservers' | 'searchDomains' | 'users' | 'sshKeys'>;

export type ContainerMode = 'unprivileged' | 'privileged';
/** Confinement features `start --unsafe-allow-missing` may waive (SECURITY.md R11). */
export const WAIVABLE_FEATURES = ['userns', 'idmap', 'seccomp', 'devices-cgroup'] as const;
export type WaivableFeature = (typeof WAIVABLE_FEATURES)[number];

export interface ContainerSummary {
  id: string;
  state: ContainerState;
  mode: ContainerMode | null;
  template: string;
  hostname: string;
  disk: number;
  init_pid: number | null;
  /** Its addresses (`ADDRESS/PREFIX`), from its config. */
  addresses: string[];
  /** Started at the host's boot, in this order (higher first). */
  onboot: boolean;
  bootorder: number;
}

/** `pool info`'s object. */
export type PoolReport = PoolInfo & Pick<SpaceFigures, 'promised' | 'ratio' | 'overcommit_ratio' | 'limit' | 'watermark' | 'thin' | 'below_watermark'> & { hint?: string };
/** `host check`'s object. */
export type HostCheckReport = HostCheckResult & { leftovers: NetFinding[] };
export type { HostInfo } from './hostinfo.js';

export interface SpaceFrozen {
  since: string;
  /** The pool's free bytes when it froze, and the threshold. */
  free: number;
  low: number;
}

export interface ContainerStatus extends ContainerSummary {
  /** Its features (tun, fuse, keyctl, nesting) and the host devices passed through (`PATH:rw|ro`), from its config. */
  features: Feature[];
  devices: string[];
  /**
   * What its keyring calls (add_key, request_key, keyctl) get: `allowed` (the keyctl
   * feature), `absent` (ENOSYS, an unprivileged container's default, as Proxmox's) or
   * `refused` (EPERM: privileged). A running container's as its init has them (a change by
   * `set` waits for the next start), a stopped one's as its next start gives them.
   */
  keyring: KeyringMode;
  /** Host directories bound inside (`HOSTDIR:CTDIR:rw|ro`), from its config: given at start. */
  mounts: string[];
  /** Host ids of the container's user namespace: root inside is `uid` outside. */
  idmap: IdMap | null;
  os: ContainerConfig['os'] | null;
  created: string;
  disk_used: number | null;
  memory_used: number | null;
  monitor_pid: number | null;
  started: string | null;
  uptime_s: number | null;
  /** Writes are held: the pool fell under disk_freeze_free and the monitor froze the filesystem. */
  space_frozen: SpaceFrozen | null;
  loop: string | null;
  image: string;
  /** Saved limits (config.yaml); `vpsctl set` without --save changes only the live ones. */
  limits: Limits;
  network: NetworkStatus | null;
}

export interface StartOptions {
  /** Wait until systemd reports running/degraded, up to this many ms. */
  waitMs?: number;
  /** Start even though these confinement features are missing (developers who know why). */
  allowMissing?: WaivableFeature[];
}

export interface StartResult {
  id: string;
  state: 'running';
  init_pid: number;
  monitor_pid: number;
  loop: string;
  system_state?: string;
}

export interface ExecOptions {
  cwd?: string;
  /** KEY=VALUE pairs for the command's environment. */
  env?: string[];
  /** A user of the container's /etc/passwd (name or uid); root when absent. */
  user?: string;
  /** Run the command on a new terminal (ours from node-pty, the container's inside). */
  tty?: boolean;
  /** Without tty and capture: pass our stdin on (default), or give the command none. */
  stdin?: boolean;
  /** Capture stdout and stderr instead of passing the caller's through. */
  capture?: boolean;
  /** With capture: what the command reads on stdin (else it reads nothing). */
  input?: string;
}

export interface ExecResult {
  id: string;
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

export interface StopOptions {
  timeoutMs?: number;
  force?: boolean;
}

export interface StopResult {
  id: string;
  state: 'stopped';
  /** How it went down: clean (init exited on request), killed (after the timeout or --force). */
  how: 'clean' | 'killed' | 'already-stopped';
}

