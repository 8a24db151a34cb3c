import { existsSync } from 'node:fs';
import { readTextSync, which } from '../sys/proc.js';
import { helperPath } from '../sys/helpers.js';
import type { CgroupLayout } from '../limits/cgroups.js';

export interface Check {
  name: string;
  status: 'ok' | 'missing' | 'warn';
  required: boolean;
  detail: string;
  /** How to fix it, when it is not ok. */
  hint?: string;
}

export interface HostCheckResult {
  ok: boolean;
  cgroup_mode: string;
  checks: Check[];
}

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
}

/** What vpsctl needs from the kernel and the host, each with how to get it. */
export function hostChecks(cgroups: CgroupLayout): HostCheckResult {
  const checks: Check[] = [];
  const add = (c: Check): void => void checks.push(c);
  const release = (readTextSync('/proc/sys/kernel/osrelease') ?? '').trim();

  add({ name: 'root', status: process.getuid?.() === 0 ? 'ok' : 'missing', required: true, detail: `running as uid ${process.getuid?.()}`, hint: 'run vpsctl as root (sudo)' });
  for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net', 'cgroup']) {
    const ok = existsSync(`/proc/self/ns/${ns}`);
    add({ name: `namespace ${ns}`, status: ok ? 'ok' : 'missing', required: true, detail: ok ? 'available' : 'not in this kernel', hint: `a kernel with CONFIG_${ns === 'mnt' ? '' : ns.toUpperCase() + '_'}NS` });
  }
  const maxUserNs = Number((readTextSync('/proc/sys/user/max_user_namespaces') ?? '0').trim());
  add({
    name: 'user namespaces',
    status: existsSync('/proc/self/ns/user') && maxUserNs > 0 ? 'ok' : 'warn',
    required: false,
    detail: `max_user_namespaces=${maxUserNs}`,
    hint: 'sysctl -w user.max_user_namespaces=15000 (unprivileged containers need them)',
  });
  add({
    name: 'idmapped mounts',
    status: kernelAtLeast(release, 5, 12) ? 'ok' : 'warn',
    required: false,
    detail: `kernel ${release}`,
    hint: 'a kernel >= 5.12 (mount_setattr with MOUNT_ATTR_IDMAP)',
  });
  add({ name: 'loop devices', status: existsSync('/dev/loop-control') ? 'ok' : 'missing', required: true, detail: existsSync('/dev/loop-control') ? '/dev/loop-control' : 'no /dev/loop-control', hint: 'modprobe loop' });
  add({ name: 'LOOP_CONFIGURE', status: kernelAtLeast(release, 5, 8) ? 'ok' : 'missing', required: true, detail: `kernel ${release}`, hint: 'a kernel >= 5.8' });
  const controllers = new Set(cgroups.hierarchies.flatMap((h) => h.controllers));
  add({
    name: 'cgroups',
    status: cgroups.mode === 'none' ? 'missing' : 'ok',
    required: true,
    detail: `mode ${cgroups.mode}${cgroups.systemd ? ' (owned by systemd)' : ''}; controllers: ${[...controllers].sort().join(' ') || 'none'}`,
    hint: 'mount cgroup2 on /sys/fs/cgroup (or the v1 controllers)',
  });
  for (const c of ['memory', 'pids', 'cpu']) {
    add({ name: `cgroup ${c}`, status: controllers.has(c) ? 'ok' : 'warn', required: false, detail: controllers.has(c) ? 'available' : 'controller not mounted', hint: `enable the ${c} controller` });
  }
  if (cgroups.systemd) {
    // each container's cgroups live in a delegated transient scope of its own (src/limits/cgroups.ts)
    const run = which('systemd-run');
    add({ name: 'systemd-run', status: run ? 'ok' : 'missing', required: true, detail: run ? `${run}: containers run in delegated scopes of their own` : 'not found: systemd owns the cgroup tree, and containers need a delegated scope of it', hint: 'apt-get install systemd' });
  }
  const tools: [string, string, boolean, string][] = [
    ['mkfs.ext4', 'e2fsprogs', true, 'make template images'],
    ['e2fsck', 'e2fsprogs', true, 'check images'],
    ['resize2fs', 'e2fsprogs', true, 'grow disks'],
    ['dumpe2fs', 'e2fsprogs', true, 'read disk usage'],
    ['losetup', 'mount', true, 'loop devices'],
    ['mount', 'mount', true, 'mount images'],
    ['flock', 'util-linux', true, 'per-container locks'],
    ['debootstrap', 'debootstrap', true, 'build Debian templates'],
    ['dnf', 'dnf', false, 'build CentOS/AlmaLinux/Rocky templates'],
    ['nsenter', 'util-linux', true, 'online disk resize and compact of running containers'],
    ['fstrim', 'util-linux', true, 'compact'],
    ['tar', 'tar', true, 'export and import'],
    ['zstd', 'zstd', false, 'export and import'],
    ['mkfs.xfs', 'xfsprogs', false, 'pool init (an XFS pool with reflink)'],
    ['nft', 'nftables', false, 'container networks: anti-spoofing, NAT, port forwards'],
  ];
  for (const [tool, pkg, required, why] of tools) {
    const p = which(tool);
    add({ name: tool, status: p ? 'ok' : required ? 'missing' : 'warn', required, detail: p ?? `not found (${why})`, hint: `apt-get install ${pkg}` });
  }
  for (const h of ['vps-spawn', 'vps-enter', 'vps-snap', 'vps-limit', 'vps-net'] as const) {
    let p: string | undefined;
    try {
      p = helperPath(h);
    } catch {
      p = undefined;
    }
    add({ name: `helper ${h}`, status: p ? 'ok' : 'missing', required: true, detail: p ?? 'not built', hint: 'npm run build (needs make and gcc)' });
  }
  const lxcfs = existsSync('/var/lib/lxcfs/proc/meminfo');
  add({
    name: 'lxcfs',
    status: lxcfs ? 'ok' : 'warn',
    required: false,
    detail: lxcfs ? 'serving /var/lib/lxcfs: containers see their own memory, CPUs and uptime' : 'not running: free, top and uptime inside containers show the host',
    hint: 'apt-get install lxcfs (and systemctl start lxcfs, or run bin/setup)',
  });
  const inotify = Number((readTextSync('/proc/sys/fs/inotify/max_user_instances') ?? '0').trim());
  add({
    name: 'inotify instances',
    status: inotify >= 1024 ? 'ok' : 'warn',
    required: false,
    detail: `fs.inotify.max_user_instances=${inotify} (about ${Math.floor(inotify / 3.5)} containers)`,
    hint: 'vpsctl host setup (it writes /etc/sysctl.d/60-vpsctl.conf), or sysctl -w fs.inotify.max_user_instances=8192 (each container\'s systemd takes several)',
  });
  const fwd = (readTextSync('/proc/sys/net/ipv4/ip_forward') ?? '0').trim() === '1';
  add({
    name: 'ipv4 forwarding',
    status: fwd ? 'ok' : 'warn',
    required: false,
    detail: fwd ? 'net.ipv4.ip_forward=1: containers reach beyond the host (NAT, routed)' : 'off: containers reach the host and each other only (vpsctl turns it on with the bridge when nat is on)',
    hint: 'sysctl -w net.ipv4.ip_forward=1',
  });
  const ok = checks.every((c) => c.status === 'ok' || !c.required);
  return { ok, cgroup_mode: cgroups.mode, checks };
}
