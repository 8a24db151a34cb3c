import { promises as fsp, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { ExitCode, VpsError } from '../base/errors.js';
import type { Progress } from '../base/types.js';
import type { Runner } from '../sys/exec.js';
import { writeFileAtomic } from '../sys/fs.js';
import { which } from '../sys/proc.js';
import { hostDevice } from '../sys/devices.js';
import { FEATURE_DEVICES } from '../base/devices.js';

/**
 * What a host needs for density (DESIGN: host tuning): each container's systemd takes
 * inotify instances and watches, keys and map areas from the host's per-user limits. The
 * values are floors: a host set higher keeps its own.
 */
export const SYSCTLS: [key: string, value: number, why: string][] = [
  ['fs.inotify.max_user_instances', 8192, "each container's systemd and its services take several"],
  ['fs.inotify.max_user_watches', 1048576, 'watches of every container add up'],
  ['kernel.keys.maxkeys', 20000, 'a session keyring per container and per exec'],
  ['kernel.keys.maxbytes', 2000000, 'the same keyrings, in bytes'],
  ['vm.max_map_count', 262144, 'services inside (databases, JVMs) map many areas'],
];

export const SYSCTL_FILE = '/etc/sysctl.d/60-vpsctl.conf';
export const UNIT_NAME = 'vpsctl.service';
export const UNIT_FILE = `/etc/systemd/system/${UNIT_NAME}`;
export const API_UNIT_NAME = 'vpsctl-api.service';

export interface SetupStep {
  what: string;
  /** changed: it did something; ok: already so; skipped: not here (and what to do instead). */
  result: 'changed' | 'ok' | 'skipped';
  detail: string;
}

export interface SetupDeps {
  run: Runner;
  progress: () => Progress;
  /** systemd is PID 1 (its units can be installed). */
  systemd: boolean;
  /** The vpsctl the unit runs (this installation's bin/vpsctl). */
  bin: string;
  /** The pool: whether it shares extents, and `pool init` when it does not. */
  pool: { canReflink(): Promise<boolean>; managed(): Promise<boolean>; init(): Promise<void> };
  /** Root, run dir and other settings the unit must run with (VPSCTL_* of this process). */
  env: Record<string, string>;
  /** The state root: the unit waits for whatever filesystem holds it (and the bin). */
  root: string;
}

/** The unit's Environment= lines: the settings this vpsctl runs with. */
const environment = (env: Record<string, string>): string[] =>
  Object.entries(env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `Environment=${k}=${v}`);

/** The unit text: onboot containers at boot, every container stopped cleanly at shutdown. */
export function unitText(bin: string, env: Record<string, string>, root: string): string {
  return [
    '# vpsctl host setup: start the onboot containers at boot, stop every container cleanly at shutdown',
    '[Unit]',
    'Description=vpsctl containers (onboot start, clean stop)',
    'Wants=network-online.target',
    // lxcfs before the containers, so each gets its own /proc/meminfo and uptime at boot too
    'After=network-online.target local-fs.target nftables.service lxcfs.service',
    // a state root (or an installation) on a mount of its own, even one with nofail, which
    // local-fs.target does not wait for
    `RequiresMountsFor=${root} ${bin}`,
    // the containers' scopes are ordered Before= this unit (src/runtime/runtime.ts): at
    // shutdown it stops first, so each container's systemd shuts down before its scope goes
    '',
    '[Service]',
    'Type=oneshot',
    'RemainAfterExit=yes',
    ...environment(env),
    `ExecStart=${bin} start --all --onboot`,
    `ExecStop=${bin} stop --all --timeout 60s`,
    'TimeoutStartSec=infinity',
    'TimeoutStopSec=15min',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** The REST daemon's unit (`vpsctl daemon` on <run_dir>/api.sock), restarted if it dies. */
export function apiUnitText(bin: string, env: Record<string, string>, root: string): string {
  return [
    '# vpsctl host setup: the REST API on a unix socket (vpsctl daemon; docs/API.md)',
    '[Unit]',
    'Description=vpsctl REST API (unix socket)',
    'After=local-fs.target',
    `RequiresMountsFor=${root} ${bin}`,
    '',
    '[Service]',
    ...environment(env),
    `ExecStart=${bin} daemon`,
    'Restart=on-failure',
    // its operations' work (a create, a clone) and the containers it starts are not its
    // children to take down: a container's monitor runs in a scope of its own
    'KillMode=mixed',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/** `host setup`: sysctls, the boot unit, the reflink pool. Idempotent: a second run changes nothing. */
export class HostSetup {
  constructor(private readonly d: SetupDeps) {}

  async run(opts: { pool?: boolean } = {}): Promise<SetupStep[]> {
    const steps: SetupStep[] = [];
    steps.push(...(await this.sysctls()));
    steps.push(await this.unit(UNIT_NAME, unitText(this.d.bin, this.d.env, this.d.root), 'onboot containers start at boot, all stop cleanly at shutdown'));
    steps.push(await this.unit(API_UNIT_NAME, apiUnitText(this.d.bin, this.d.env, this.d.root), 'the REST API serves <run_dir>/api.sock'));
    steps.push(...(await this.featureNodes()));
    if (opts.pool !== false) steps.push(await this.reflinkPool());
    return steps;
  }

  /** The nodes of --features tun and fuse: there, and open to all as udev makes them. */
  private async featureNodes(): Promise<SetupStep[]> {
    const out: SetupStep[] = [];
    for (const [feature, node] of Object.entries(FEATURE_DEVICES)) {
      if (!(await hostDevice(node))) await this.d.run.run('modprobe', [feature], { reject: false });
      const dev = await hostDevice(node);
      if (!dev?.char) {
        out.push({ what: node, result: 'skipped', detail: `missing (modprobe ${feature} failed): no container can have --features ${feature}` });
      } else if ((dev.mode & 0o666) === 0o666) {
        out.push({ what: node, result: 'ok', detail: `open to all: --features ${feature} works in unprivileged containers` });
      } else {
        await fsp.chmod(node, (dev.mode & 0o7000) | 0o666);
        out.push({ what: node, result: 'changed', detail: `mode ${(dev.mode & 0o777).toString(8)} -> 666, as udev's rule makes it at every boot (without udev: set it from the boot scripts)` });
      }
    }
    return out;
  }

  private async sysctls(): Promise<SetupStep[]> {
    const out: SetupStep[] = [];
    const lines = ['# vpsctl host setup: floors for container density (a higher value set elsewhere is kept)'];
    for (const [key, floor, why] of SYSCTLS) {
      const file = path.join('/proc/sys', ...key.split('.'));
      const now = Number(readText(file)?.trim());
      const want = Number.isFinite(now) && now > floor ? now : floor;
      lines.push(`# ${why}`, `${key} = ${want}`);
      if (Number.isFinite(now) && now >= floor) {
        out.push({ what: key, result: 'ok', detail: `${now}` });
        continue;
      }
      try {
        await fsp.writeFile(file, `${floor}\n`);
        out.push({ what: key, result: 'changed', detail: `${now} -> ${floor}` });
      } catch (e) {
        out.push({ what: key, result: 'skipped', detail: `cannot be set here: ${(e as Error).message} (a container host, or a read-only /proc/sys?)` });
      }
    }
    const text = `${lines.join('\n')}\n`;
    if (readText(SYSCTL_FILE) === text) out.push({ what: SYSCTL_FILE, result: 'ok', detail: 'applied at every boot' });
    else {
      await fsp.mkdir(path.dirname(SYSCTL_FILE), { recursive: true });
      await writeFileAtomic(SYSCTL_FILE, text, 0o644);
      out.push({ what: SYSCTL_FILE, result: 'changed', detail: 'written: applied at every boot' });
    }
    return out;
  }

  private async unit(name: string, text: string, does: string): Promise<SetupStep> {
    if (!this.d.systemd || !which('systemctl')) {
      const instead = name === UNIT_NAME ? `run "${this.d.bin} start --all --onboot" from its boot scripts and "${this.d.bin} stop --all" from its shutdown` : `run "${this.d.bin} daemon" from its boot scripts if you want the REST API`;
      return { what: name, result: 'skipped', detail: `systemd is not this host's init: ${instead}` };
    }
    const file = path.join(path.dirname(UNIT_FILE), name);
    const same = readText(file) === text;
    if (!same) {
      await writeFileAtomic(file, text, 0o644);
      await this.d.run.run('systemctl', ['daemon-reload']);
    }
    const enabled = (await this.d.run.run('systemctl', ['is-enabled', name], { reject: false })).stdout.trim() === 'enabled';
    if (!enabled) await this.d.run.run('systemctl', ['enable', name]);
    // active, so that the first shutdown already stops the containers cleanly (its start runs start --all --onboot)
    const active = (await this.d.run.run('systemctl', ['is-active', name], { reject: false })).stdout.trim() === 'active';
    if (!active) await this.d.run.run('systemctl', ['start', '--no-block', name]);
    return same && enabled && active ? { what: name, result: 'ok', detail: 'installed, enabled and active' } : { what: name, result: 'changed', detail: `${same ? '' : 'written, '}enabled and started: ${does}` };
  }

  private async reflinkPool(): Promise<SetupStep> {
    if (await this.d.pool.managed()) return { what: 'pool', result: 'ok', detail: 'an XFS pool with reflink (pool init made it)' };
    if (await this.d.pool.canReflink()) return { what: 'pool', result: 'ok', detail: 'the pool directory shares extents already' };
    this.d.progress().info('the state root cannot share extents: making an XFS pool with reflink (vpsctl pool init)');
    try {
      await this.d.pool.init();
    } catch (e) {
      if (e instanceof VpsError && (e.exitCode === ExitCode.WRONG_STATE || e.exitCode === ExitCode.LOCKED)) {
        return { what: 'pool', result: 'skipped', detail: `not made: ${e.message} (${e.hint ?? 'retry'}), then run: vpsctl pool init` };
      }
      throw e;
    }
    return { what: 'pool', result: 'changed', detail: 'made an XFS pool with reflink (instant snapshots and clones); --no-pool skips this' };
  }
}

function readText(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}
