import { DEFAULT_LIMITS, LIMIT_KEYS, renderLimits, type LimitKey, type Limits } from '../base/limits.js';
import type { ContainerConfig } from '../base/config.js';
import { formatForward, type NetworkConfig } from '../base/netconfig.js';

/** What the admin says about an archive on `vpsctl import` (SECURITY.md R14). */
export interface ImportPolicyOptions {
  /** `--privileged`: accept a privileged container. */
  privileged?: boolean;
  /** `--keep-network`: take the archive's addresses, mode and port forwards. */
  keepNetwork?: boolean;
  /** `--keep-limits`: take the archive's limits as they are, however loose. */
  keepLimits?: boolean;
  /** Limit flags given to import: they win over the archive and the defaults. */
  limits?: Limits;
}

export interface ImportDecision {
  limits: Limits;
  /** The network to plan on this host; undefined: the container comes without one. */
  network?: NetworkConfig;
  /** One line per thing of the archive's that was not taken, for the admin. */
  notices: string[];
}

const show = (key: LimitKey, v: number | string | null): string => String(renderLimits({ [key]: v })[key]);

/** A share above the normal one (100) is a claim on other containers' CPU or disk time. */
const NORMAL_WEIGHT = 100;

/**
 * An archive's config.yaml is the word of whoever made the archive, a tenant perhaps: what
 * reaches beyond the container (host ports, addresses on the host's bridge or uplink,
 * privileged mode) is taken only on the admin's flag, and limits missing or looser than a new
 * container's defaults become the defaults, as for `create`. Privileged mode is refused by the
 * caller (it is never dropped silently: the container would not be the one exported).
 */
export function importPolicy(cfg: ContainerConfig, opts: ImportPolicyOptions): ImportDecision {
  const notices: string[] = [];
  const limits: Limits = { ...(cfg.limits ?? {}) };
  if (!opts.keepLimits) {
    for (const key of LIMIT_KEYS) {
      const cap = DEFAULT_LIMITS[key];
      if (cap === undefined || typeof cap !== 'number') continue;
      const had = limits[key];
      if (typeof had === 'number' && had <= cap) continue;
      (limits as Record<string, unknown>)[key] = cap;
      const was = had === undefined ? 'none' : show(key, had);
      notices.push(`${key}: the archive's ${was} is looser than a new container's default; it gets ${show(key, cap)} (--${key.replace(/_/g, '-')} or --keep-limits to choose)`);
    }
    for (const key of ['cpu_weight', 'io_weight'] as const) {
      const had = limits[key];
      if (had === undefined || had <= NORMAL_WEIGHT) continue;
      limits[key] = NORMAL_WEIGHT;
      notices.push(`${key}: the archive's ${had} is more than the normal share; it gets ${NORMAL_WEIGHT} (--${key.replace(/_/g, '-')} or --keep-limits to choose)`);
    }
    if (limits.memory_low !== undefined && limits.memory_low !== null) {
      notices.push(`memory_low: the archive's reservation of ${show('memory_low', limits.memory_low)} is not taken (it keeps memory from other containers; --memory-low or --keep-limits to choose)`);
      delete limits.memory_low;
    }
  }
  Object.assign(limits, opts.limits ?? {});
  let network: NetworkConfig | undefined;
  if (cfg.network && opts.keepNetwork) {
    network = cfg.network;
  } else if (cfg.network) {
    const what = [
      `mode ${cfg.network.mode}`,
      ...(cfg.network.addresses.length ? [`addresses ${cfg.network.addresses.join(', ')}`] : []),
      ...(cfg.network.forwards.length ? [`port forwards ${cfg.network.forwards.map(formatForward).join(', ')}`] : []),
    ];
    notices.push(`network: the archive's ${what.join('; ')} not taken; the container has only its loopback (--keep-network to take them, or vpsctl set --ipadd)`);
  }
  if (cfg.features?.length || cfg.devices?.length) {
    const what = [...(cfg.features?.length ? [`features ${cfg.features.join(', ')}`] : []), ...(cfg.devices?.length ? [`devices ${cfg.devices.map((d) => d.path).join(', ')}`] : [])];
    notices.push(`${what.join('; ')}: not taken (what the host gives a container is for its admin to set: vpsctl set --features, --device)`);
  }
  if (cfg.mounts?.length) {
    notices.push(`mounts ${cfg.mounts.map((m) => `${m.host}:${m.target}`).join(', ')}: not taken (which host directories a container sees is for this host's admin to set: vpsctl set --mount)`);
  }
  if (cfg.hooks && Object.keys(cfg.hooks).length) {
    notices.push(`hooks: the archive's ${Object.keys(cfg.hooks).join(', ')} hooks are not taken (programs run as root on this host are for its admin to set)`);
  }
  if (cfg.onboot || cfg.bootorder !== undefined) {
    notices.push(`boot: the archive's ${[cfg.onboot ? 'onboot yes' : '', cfg.bootorder !== undefined ? `boot order ${cfg.bootorder}` : ''].filter(Boolean).join(', ')} not taken (when the host starts it is for its admin to set: vpsctl set --onboot, --bootorder)`);
  }
  if (cfg.snapshots?.schedule) {
    notices.push(`snapshots: the archive's schedule ${cfg.snapshots.schedule}${cfg.snapshots.expiry ? ` (kept ${cfg.snapshots.expiry})` : ''} not taken (vpsctl snapshot schedule to set one)`);
  }
  return { limits, network, notices };
}
