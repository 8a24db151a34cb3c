import { parseHooks, type HookMap } from './hooks.js';
import { FEATURES, formatDevice, parseDevice, type DevicePass, type Feature } from './devices.js';
import { checkMountList, formatMount, parseMount, type BindMount } from './mounts.js';
import { parse as parseYaml, stringify } from 'yaml';
import { VpsError, ExitCode, failed } from './errors.js';
import { validateHostname, validateId, validateTemplateName } from './ids.js';
import { validateCron } from './cron.js';
import { parseLimits, renderLimits, type Limits } from './limits.js';
import { parseNetwork, renderNetwork, type NetworkConfig } from './netconfig.js';
import { formatSize, parseDuration, parseSize } from './units.js';

/** A container's declared configuration: `<root>/containers/<id>/config.yaml`. */
export interface ContainerConfig {
  id: string;
  template: string;
  hostname: string;
  /** Disk (image) size in bytes. */
  disk: number;
  /** ISO time of creation. */
  created: string;
  /** What the template said the OS is. */
  os?: { family: string; version: string; arch?: string };
  /** Init to exec inside the container. */
  init: string;
  /** No user namespace: container root is host root. Not a security boundary. */
  privileged: boolean;
  /** The container's user-namespace range on the host (unprivileged containers). */
  idmap?: IdMap;
  /** The image's ids were shifted into the range once at create (`--shift-ids`), so no idmapped mount. */
  shifted?: boolean;
  /** Scheduled snapshots (`vpsctl snapshot schedule`): when, and how long they are kept. */
  snapshots?: SnapshotPolicy;
  /** Resource limits, applied at every start (`vpsctl set ... --save` changes them). */
  limits?: Limits;
  /** Its veth, addresses and port forwards; none: only its loopback. */
  network?: NetworkConfig;
  /** Started by `start --all --onboot` (the host's boot), as vzctl's ONBOOT. */
  onboot?: boolean;
  /** Boot order: higher first at start, last at stop (vzctl's BOOTORDER); default 0. */
  bootorder?: number;
  /** The admin's programs run on the host at its events (src/base/hooks.ts); never taken from an import. */
  hooks?: HookMap;
  /** What it may do beyond a plain system container (src/base/devices.ts); never taken from an import. */
  features?: Feature[];
  /** Host character devices passed through, on the same path inside; never taken from an import. */
  devices?: DevicePass[];
  /** Host directories bound inside (`HOSTDIR:CTDIR:rw|ro`), idmapped when unprivileged; never taken from an import. */
  mounts?: BindMount[];
}

export interface SnapshotPolicy {
  /** A cron schedule (`@daily`, `30 2 * * *`). */
  schedule?: string;
  /** Expiry given to scheduled snapshots (`7d`); never applied to manual ones. */
  expiry?: string;
}

export interface IdMap {
  /** Host uid of the container's root. */
  uid: number;
  /** Host gid of the container's root group. */
  gid: number;
  count: number;
}

const KEYS = new Set(['id', 'template', 'hostname', 'disk', 'created', 'os', 'init', 'privileged', 'idmap', 'shifted', 'snapshots', 'limits', 'network', 'onboot', 'bootorder', 'hooks', 'features', 'devices', 'mounts']);

export function renderConfig(c: ContainerConfig): string {
  const doc = {
    id: c.id,
    template: c.template,
    hostname: c.hostname,
    disk: formatSize(c.disk),
    created: c.created,
    ...(c.os ? { os: c.os } : {}),
    init: c.init,
    privileged: c.privileged,
    ...(c.idmap ? { idmap: c.idmap } : {}),
    ...(c.shifted ? { shifted: true } : {}),
    ...(c.snapshots && (c.snapshots.schedule || c.snapshots.expiry) ? { snapshots: c.snapshots } : {}),
    ...(c.limits && Object.keys(c.limits).length ? { limits: renderLimits(c.limits) } : {}),
    ...(c.network ? { network: renderNetwork(c.network) } : {}),
    ...(c.onboot ? { onboot: true } : {}),
    ...(c.bootorder ? { bootorder: c.bootorder } : {}),
    ...(c.hooks && Object.keys(c.hooks).length ? { hooks: c.hooks } : {}),
    ...(c.features?.length ? { features: c.features } : {}),
    ...(c.devices?.length ? { devices: c.devices.map(formatDevice) } : {}),
    ...(c.mounts?.length ? { mounts: c.mounts.map(formatMount) } : {}),
  };
  return `# vpsctl container ${c.id}: declared configuration (edit with \`vpsctl set\`)\n${stringify(doc)}`;
}

/** A damaged config.yaml is a failure (exit 1) to repair, not a usage error. */
const invalid = (message: string, hint?: string): VpsError =>
  new VpsError(ExitCode.FAILED, message, { hint: hint ?? 'repair the file by hand, or restore it from a backup' });

export const MAX_BOOTORDER = 1_000_000;
export const validBootorder = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= MAX_BOOTORDER;

/** Parses and validates config.yaml; every problem names the file and the key, exit 1. */
export function parseConfig(text: string, file: string, expectId: string): ContainerConfig {
  try {
    return parseConfigText(text, file, expectId);
  } catch (e) {
    if (e instanceof VpsError && e.exitCode === ExitCode.USAGE) {
      throw invalid(e.message.startsWith(file) ? e.message : `${file}: ${e.message}`);
    }
    throw e;
  }
}

function parseConfigText(text: string, file: string, expectId: string): ContainerConfig {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw failed(`${file} is not valid YAML: ${(e as Error).message}`, { hint: `fix ${file} by hand` });
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw failed(`${file} is not a mapping`);
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!KEYS.has(k)) throw invalid(`${file}: unknown key ${JSON.stringify(k)}`);
  const str = (k: string): string => {
    const v = d[k];
    if (typeof v !== 'string' && typeof v !== 'number') throw invalid(`${file}: ${k} is missing or not a string`);
    return String(v);
  };
  const id = validateId(str('id'));
  if (id !== expectId) throw invalid(`${file}: id ${id} does not match its directory ${expectId}`);
  const disk = parseSize(str('disk'), `${file}: disk`);
  const init = d.init === undefined ? '/sbin/init' : str('init');
  if (!/^\/[A-Za-z0-9._/-]{1,200}$/.test(init) || init.includes('..')) throw invalid(`${file}: init must be an absolute path`);
  let os: ContainerConfig['os'];
  if (d.os !== undefined) {
    const o = d.os as Record<string, unknown>;
    if (!o || typeof o !== 'object') throw invalid(`${file}: os must be a mapping`);
    os = { family: String(o.family ?? 'unknown'), version: String(o.version ?? ''), ...(o.arch ? { arch: String(o.arch) } : {}) };
  }
  // configs written before user namespaces existed have neither key: they ran privileged, and
  // are read that way (status and list say so) rather than refused
  const privileged = d.privileged === undefined ? d.idmap === undefined : d.privileged;
  if (typeof privileged !== 'boolean') throw invalid(`${file}: privileged must be true or false`);
  let idmap: IdMap | undefined;
  if (d.idmap !== undefined) {
    const m = d.idmap as Record<string, unknown>;
    const n = (k: string): number => {
      const v = m?.[k];
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > 2 ** 32 - 1) throw invalid(`${file}: idmap.${k} must be a positive integer`);
      return v;
    };
    idmap = { uid: n('uid'), gid: n('gid'), count: n('count') };
    if (idmap.uid + idmap.count > 2 ** 32 - 1 || idmap.gid + idmap.count > 2 ** 32 - 1) throw invalid(`${file}: idmap passes the 32-bit id space`);
  }
  if (!privileged && !idmap) throw invalid(`${file}: an unprivileged container needs an idmap`, 'recreate it, or set privileged: true if you know it is not a security boundary');
  if (d.shifted !== undefined && typeof d.shifted !== 'boolean') throw invalid(`${file}: shifted must be true or false`);
  let snapshots: SnapshotPolicy | undefined;
  if (d.snapshots !== undefined && d.snapshots !== null) {
    const p = d.snapshots as Record<string, unknown>;
    if (typeof p !== 'object' || Array.isArray(p)) throw invalid(`${file}: snapshots must be a mapping`);
    for (const k of Object.keys(p)) if (k !== 'schedule' && k !== 'expiry') throw invalid(`${file}: unknown key snapshots.${k}`);
    snapshots = {};
    if (p.schedule !== undefined) snapshots.schedule = validateCron(String(p.schedule));
    if (p.expiry !== undefined) {
      parseDuration(String(p.expiry), `${file}: snapshots.expiry`);
      snapshots.expiry = String(p.expiry);
    }
  }
  const limits = d.limits === undefined ? undefined : parseLimits(d.limits);
  const network = d.network === undefined || d.network === null ? undefined : parseNetwork(d.network);
  if (d.onboot !== undefined && typeof d.onboot !== 'boolean') throw invalid(`${file}: onboot must be true or false`);
  if (d.bootorder !== undefined && !validBootorder(d.bootorder)) throw invalid(`${file}: bootorder must be an integer from 0 to ${MAX_BOOTORDER}`);
  const hooks = d.hooks === undefined || d.hooks === null ? undefined : parseHooks(d.hooks, file);
  const list = (k: string): string[] => {
    const v = d[k];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalid(`${file}: ${k} must be a list of strings`);
    return v as string[];
  };
  const features = list('features');
  for (const f of features) if (!(FEATURES as readonly string[]).includes(f)) throw invalid(`${file}: unknown feature ${JSON.stringify(f)} (features: ${FEATURES.join(', ')})`);
  const devices = list('devices').map((s) => parseDevice(s));
  const mounts = list('mounts').map((s) => parseMount(s, 'mounts:'));
  checkMountList(mounts);
  return {
    ...(mounts.length ? { mounts } : {}),
    ...(features.length ? { features: FEATURES.filter((f) => features.includes(f)) } : {}),
    ...(devices.length ? { devices } : {}),
    ...(hooks && Object.keys(hooks).length ? { hooks } : {}),
    ...(d.onboot ? { onboot: true } : {}),
    ...(d.bootorder ? { bootorder: d.bootorder as number } : {}),
    ...(network ? { network } : {}),
    id,
    privileged,
    ...(snapshots ? { snapshots } : {}),
    ...(limits && Object.keys(limits).length ? { limits } : {}),
    ...(idmap ? { idmap } : {}),
    ...(d.shifted ? { shifted: true } : {}),
    template: validateTemplateName(str('template')),
    hostname: validateHostname(str('hostname')),
    disk,
    created: str('created'),
    os,
    init,
  };
}
