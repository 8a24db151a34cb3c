/**
 * The typed client of helpers/vps-spawn: one SpawnSpec makes the whole argv (see the header
 * of helpers/vps-spawn.c for each flag), and on a systemd host the systemd-run that puts the
 * monitor in a delegated scope of its own.
 */
import type { Runner } from './exec.js';
import { runHelperJson } from './helpers.js';

/** What one start asks of the monitor. */
export interface SpawnSpec {
  id: string;
  /** The image (absolute), the mount point, the run dir. */
  image: string;
  rootfs: string;
  runDir: string;
  hostname: string;
  init: string;
  /** `MOUNTNAME:OPTIONS:HOSTDIR` of each cgroup hierarchy. */
  cgroups: string[];
  /** The container's user namespace (unprivileged), and whether its ids are shifted in the image. */
  userns?: { uid: number; gid: number; count: number; shifted?: boolean };
  /** Its keyctl feature: the keyring calls allowed (with userns only; else ENOSYS, and EPERM when privileged). */
  keyctl?: boolean;
  /**
   * Its nesting feature (with userns only): a clean proc and a read-write sysfs at
   * /dev/.lxc/{proc,sys}, the sysfs superblock read-write and /sys read-only per mount.
   */
  nesting?: boolean;
  /** vps-limit, run by the monitor before init is born: its `apply` argv, and whether it throttles the loop device. */
  limits?: { helper: string; args: string[]; ioDevice: boolean };
  /** vps-net, run by the monitor at every boot, and the spec file it reads. */
  net?: { helper: string; spec: string };
  /** Freeze the filesystem while the pool has fewer free bytes (spawn-space.c). */
  spaceLow?: number;
  /** init's RLIMIT_NOFILE. */
  nofile?: number;
  /** Where lxcfs serves its /proc files. */
  lxcfs?: string;
  /** The monitor's own leaf in its systemd scope. */
  monitorCgroup?: string;
  /** Confinement features waived (--unsafe-allow-missing). */
  allowMissing?: string[];
  /** The host's event log, and who asked for this start (the first "started" event's source). */
  events?: { file: string; source: string };
  /** vpsctl: the monitor runs `PROG hook-run post-stop ID --reason R` once the container is down. */
  stopHook?: string;
  /** Host character devices bound into its /dev: `SRC:DEST:rw|ro` (DEST below /dev). */
  devices?: string[];
  /** Host directories bound inside: `HOSTDIR:CTDIR:rw|ro` (idmapped in userns mode). */
  binds?: string[];
}

/** On a systemd host: the transient, delegated scope the monitor (and so the container) lives in. */
export interface SpawnScope {
  slice: string;
  scope: string;
  /** The cgroup inside the scope that the monitor moves itself into. */
  monitorCgroup: string;
  /** A unit the scope is ordered before (at shutdown that unit stops first). */
  before?: string;
}

export interface SpawnResult {
  monitor_pid: number;
  init_pid: number;
  loop: string;
  /** vps-limit's answer to the monitor's apply (null without limits). */
  limits: { skipped?: { limit: string; why: string }[] } | null;
}

/** The argv of vps-spawn for a spec (without the program). */
export function spawnArgv(s: SpawnSpec): string[] {
  return [
    '--id', s.id,
    '--image', s.image,
    '--rootfs', s.rootfs,
    '--run-dir', s.runDir,
    '--hostname', s.hostname,
    '--init', s.init,
    ...(s.monitorCgroup ? ['--monitor-cgroup', s.monitorCgroup] : []),
    ...(s.spaceLow ? ['--space-low', String(s.spaceLow)] : []),
    ...s.cgroups.flatMap((c) => ['--cgroup', c]),
    ...(s.nofile ? ['--nofile', String(s.nofile)] : []),
    ...(s.lxcfs ? ['--lxcfs', s.lxcfs] : []),
    ...(s.userns ? ['--userns', `${s.userns.uid}:${s.userns.gid}:${s.userns.count}`, ...(s.userns.shifted ? ['--no-idmap'] : []), ...(s.keyctl ? ['--keyctl'] : []), ...(s.nesting ? ['--nesting'] : [])] : []),
    ...(s.allowMissing ?? []).flatMap((f) => ['--unsafe-allow-missing', f]),
    ...(s.events ? ['--events', s.events.file, '--event-source', s.events.source] : []),
    ...(s.stopHook ? ['--stop-hook', s.stopHook] : []),
    ...(s.devices ?? []).flatMap((d) => ['--device', d]),
    ...(s.binds ?? []).flatMap((b) => ['--bind', b]),
    ...(s.net ? ['--net-helper', s.net.helper, '--net-spec', s.net.spec] : []),
    ...(s.limits ? ['--limit-helper', s.limits.helper, ...s.limits.args.flatMap((a) => ['--limit', a]), ...(s.limits.ioDevice ? ['--limit-io-device'] : [])] : []),
  ];
}

/** systemd-run's argv that runs a command in the scope (Delegate=yes), before the command. */
export function scopeArgv(id: string, scope: SpawnScope): string[] {
  return [
    'systemd-run', '--scope', '--quiet', '--collect',
    `--unit=${scope.scope}`, `--slice=${scope.slice}`,
    '--property=Delegate=yes',
    ...(scope.before ? [`--property=Before=${scope.before}`] : []),
    `--description=vpsctl container ${id}`,
    '--',
  ];
}

/** Runs vps-spawn for a spec (in the scope, on a systemd host); its one-line JSON answer. */
export function runSpawn(run: Runner, spec: SpawnSpec, scope?: SpawnScope): Promise<SpawnResult> {
  const s = scope ? { ...spec, monitorCgroup: scope.monitorCgroup } : spec;
  return runHelperJson<SpawnResult>(run, 'vps-spawn', spawnArgv(s), scope ? scopeArgv(spec.id, scope) : undefined);
}
