/**
 * What a container is given beyond a plain system container: features (tun, fuse: a device
 * node the tenant asks for most; keyctl: the kernel's keyring calls, as Proxmox's
 * `features: keyctl=1`; nesting: containers inside the container, as Proxmox's `nesting=1`),
 * and character devices the admin passes through (`--device`).
 * Pure: the host's side (does the node exist, its numbers) is src/sys/devices.ts.
 */
import { invalid } from './errors.js';

export const FEATURES = ['tun', 'fuse', 'keyctl', 'nesting'] as const;
export type Feature = (typeof FEATURES)[number];

/** The device a feature gives: the host's node, bound on the same path inside (keyctl and nesting have none). */
export const FEATURE_DEVICES: Partial<Record<Feature, string>> = {
  tun: '/dev/net/tun',
  fuse: '/dev/fuse',
};

/**
 * Why a container may not have these features, or undefined. keyctl is for unprivileged
 * containers only (as in Proxmox): keyrings are not namespaced, and a privileged container's
 * root is the host's root, whose keyring calls the seccomp filter refuses (EPERM) whatever
 * its config says. nesting too: the clean /proc it mounts at /dev/.lxc/proc has no mask on
 * it, and a privileged container's root is the host's root, to whom its /proc/sys
 * (core_pattern, ...) is writable. Checked at create, set and start.
 */
export function featureRefusal(features: readonly Feature[] = [], privileged = false): string | undefined {
  if (!privileged) return undefined;
  if (features.includes('keyctl')) {
    return "keyctl is for unprivileged containers only: a privileged container's root is the host's root, and keyrings are not namespaced (its keyring calls stay refused, EPERM)";
  }
  if (features.includes('nesting')) {
    return "nesting is for unprivileged containers only: a privileged container's root is the host's root, and the clean /proc that nesting needs would give it the host's /proc/sys unmasked (core_pattern: code run as the host's root)";
  }
  return undefined;
}

/** The features refused to a privileged container (featureRefusal): none for an unprivileged one. */
export const UNPRIVILEGED_ONLY: readonly Feature[] = ['keyctl', 'nesting'];

/** What a container's keyring calls (add_key, request_key, keyctl) get from its seccomp filter. */
export type KeyringMode = 'allowed' | 'absent' | 'refused';

/**
 * `refused` (EPERM) for a privileged container; for an unprivileged one `allowed` with the
 * keyctl feature, else `absent` (ENOSYS). A running container's (`running`: its monitor's
 * state) is what its init was given: a monitor older than the feature gave them all.
 */
export function keyringMode(privileged: boolean, features: readonly Feature[] = [], running?: { keyctl?: boolean }): KeyringMode {
  if (privileged) return 'refused';
  if (running) return running.keyctl === false ? 'absent' : 'allowed';
  return features.includes('keyctl') ? 'allowed' : 'absent';
}

/** A host character device passed through, on the same path inside. */
export interface DevicePass {
  path: string;
  access: 'rw' | 'ro';
}

/** What is in every container's /dev already (vps-spawn makes it): never passed over. */
const OWN = new Set(['null', 'zero', 'full', 'random', 'urandom', 'tty', 'console', 'ptmx', 'pts', 'shm', 'mqueue', 'fd', 'stdin', 'stdout', 'stderr']);
const MAX_DEVICES = 14; // vps-spawn takes 16: the two features' nodes come on top

/** `tun,fuse,keyctl,nesting`, `tun=on,fuse=off` (on/off, 1/0, yes/no) or `none`, applied to `current`. */
export function parseFeatures(spec: string, current: readonly Feature[] = []): Feature[] {
  const on = new Set<Feature>(current);
  for (const raw of spec.split(',').map((s) => s.trim())) {
    if (raw === 'none') {
      on.clear();
      continue;
    }
    const m = /^([a-z]+)(?:=(on|off|1|0|yes|no|true|false))?$/.exec(raw);
    if (!m) throw invalid(`--features ${spec}: ${JSON.stringify(raw)} is not NAME or NAME=on|off`, `features: ${FEATURES.join(', ')}`);
    const name = m[1] as Feature;
    if (!FEATURES.includes(name)) {
      throw invalid(`--features: unknown feature ${JSON.stringify(m[1])}`, `features: ${FEATURES.join(', ')}`);
    }
    if (!m[2] || ['on', '1', 'yes', 'true'].includes(m[2])) on.add(name);
    else on.delete(name);
  }
  return FEATURES.filter((f) => on.has(f));
}

/** A device path as config.yaml and --device name it: absolute, under /dev, plain. */
export function validDevicePath(p: string): boolean {
  if (!/^\/dev\/[A-Za-z0-9._+/-]{1,60}$/.test(p) || p.endsWith('/') || p.includes('//')) return false;
  const parts = p.slice(5).split('/');
  return !parts.some((c) => c === '.' || c === '..') && !OWN.has(parts[0]);
}

/** `PATH[:rw|ro]`: a character device under /dev, read-write by default. */
export function parseDevice(spec: string): DevicePass {
  const m = /^(.*?)(?::(rw|ro))?$/.exec(spec);
  const p = m?.[1] ?? '';
  if (!validDevicePath(p)) {
    throw invalid(`--device ${spec}: want PATH[:rw|ro], PATH a device under /dev (not one of the container's own: ${[...OWN].slice(0, 6).join(', ')}, ...)`, 'e.g. --device /dev/ttyUSB0:rw');
  }
  return { path: p, access: (m?.[2] as 'rw' | 'ro' | undefined) ?? 'rw' };
}

/**
 * `set --device`: each `PATH[:rw|ro]` adds or changes one, `PATH:off` takes it away, `none`
 * all of them. Returns the new list.
 */
export function applyDeviceFlags(flags: string[], current: readonly DevicePass[] = []): DevicePass[] {
  const list = new Map(current.map((d) => [d.path, d]));
  for (const f of flags) {
    if (f === 'none') list.clear();
    else if (f.endsWith(':off')) {
      const p = parseDevice(f.slice(0, -4)).path;
      if (!list.delete(p)) throw invalid(`--device ${f}: ${p} is not passed through`, 'see vpsctl status ID');
    } else {
      const d = parseDevice(f);
      list.set(d.path, d);
    }
  }
  if (list.size > MAX_DEVICES) throw invalid(`at most ${MAX_DEVICES} devices are passed through`);
  return [...list.values()];
}

export const formatDevice = (d: DevicePass): string => `${d.path}:${d.access}`;

/** Every node a container gets beyond its own: its features' and the passed-through ones. */
export function deviceNodes(features: readonly Feature[] = [], devices: readonly DevicePass[] = []): DevicePass[] {
  const all = new Map<string, DevicePass>();
  for (const f of features) {
    const node = FEATURE_DEVICES[f];
    if (node) all.set(node, { path: node, access: 'rw' });
  }
  for (const d of devices) all.set(d.path, d);
  return [...all.values()];
}

/**
 * Why a host character device must not be passed through, or undefined. `name` is its
 * kernel name (`/sys/dev/char/MAJ:MIN/uevent` DEVNAME), for devices with dynamic numbers.
 * Refused: what reads or writes the host's memory or firmware, what reaches its disks
 * (SCSI generic, NVMe, tapes, loop and device-mapper control), the host's own terminals and
 * consoles, and the kernel's controls (watchdog, uinput, snapshot, cpu registers).
 */
export function deviceRefusal(major: number, minor: number, name = ''): string | undefined {
  const memory: Record<string, string> = { '1:1': 'mem', '1:2': 'kmem', '1:4': 'port', '10:144': 'nvram', '10:231': 'snapshot', '10:227': 'mcelog' };
  const control: Record<string, string> = { '10:130': 'watchdog', '10:223': 'uinput', '10:234': 'btrfs-control', '10:236': 'mapper/control', '10:237': 'loop-control', '10:235': 'autofs', '10:232': 'kvm' };
  const k = `${major}:${minor}`;
  if (memory[k]) return `it is the host's ${memory[k]}: it reaches the host's memory`;
  if (control[k]) return `it is the host's ${control[k]}: it controls the host's kernel or disks`;
  if (major === 1) return "it is one of the host's memory devices (the container has its own null, zero, full, random and urandom)";
  if ((major === 4 && minor < 64) || major === 5 || major === 7 || (major >= 136 && major <= 143)) return "it is one of the host's terminals or consoles (serial ports, ttyS*, may be passed)";
  if (major === 29) return "it is a framebuffer: it maps the host's memory";
  if (major === 202 || major === 203) return 'it reads and writes CPU registers (msr, cpuid)';
  if (major === 21 || major === 9) return "it reaches the host's disks or tapes (SCSI generic, st)";
  if (/^(nvme|ng\d|bsg|sg\d|mtd|ubi|watchdog|userfaultfd|vfio)/.test(name.replace(/^\/?dev\//, ''))) return `it is ${name}: it reaches the host's disks, memory or kernel`;
  return undefined;
}
