/**
 * The host-life tests' state, shared by the guest's two boots (host-life.test.ts before the
 * reboot, host-life.after.ts after it). It lives on the run disk, outside the harness's
 * TEST_BASE, which each jest run's teardown removes; vpsctl.service, which `host setup`
 * installs with this state root, starts the onboot containers at the second boot.
 */
import { copyFileSync, linkSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TEMPLATE, TEMPLATE_CACHE, TEST_IDMAP_BASE, type Env } from '../integration/harness.js';

/** in-guest.sh reboots the guest when READY exists after the first boot's suite. */
export const DIR = '/var/tmp/vpsctl-reboot';
export const READY = path.join(DIR, 'ready');
const NOTES = path.join(DIR, 'notes.json');

const V4 = '10.233.250';
export const CGROUP_PARENT = 'vpsctl-reboot';
export const R: Env = {
  root: path.join(DIR, 'root'),
  run: '/run/vpsctl-reboot',
  env: {
    VPSCTL_ROOT: path.join(DIR, 'root'),
    VPSCTL_RUN_DIR: '/run/vpsctl-reboot',
    VPSCTL_CGROUP_PARENT: CGROUP_PARENT,
    VPSCTL_CONFIG: path.join(DIR, 'no-host-config.yaml'),
    // past the 64 id bases the harness's makeEnv draws from
    VPSCTL_IDMAP_BASE: String(TEST_IDMAP_BASE + 64 * 64 * 65536),
    VPSCTL_IDMAP_RANGES: '8',
    VPSCTL_DISK_OVERCOMMIT_RATIO: '100',
    VPSCTL_BRIDGE: 'vpsrb0',
    VPSCTL_SUBNET: `${V4}.1/24`,
    VPSCTL_NAT: 'false',
    VPSCTL_NFT_TABLE: 'vpsctl_reboot',
  },
};

/** Onboot, boot order 20 (first), with an address; running before the reboot. */
export const FIRST = '201';
export const FIRST_ADDR = `${V4}.10`;
/** Onboot, boot order 10 (second); never started before the reboot. */
export const SECOND = '202';
/** Not onboot; started from a login session, running before the reboot. */
export const OTHER = '203';

/** What the first boot saw, for the second to compare. */
export interface Notes {
  bootId: string;
  /** sha256 of /root/unsynced, written and not synced just before the reboot, by container. */
  unsynced: Record<string, string>;
  /** Boots in FIRST's own journal before the reboot. */
  firstBoots: number;
}

export const saveNotes = (n: Notes): void => writeFileSync(NOTES, JSON.stringify(n, null, 2));
export const loadNotes = (): Notes => JSON.parse(readFileSync(NOTES, 'utf8')) as Notes;

/** The state root with the test template in its pool. */
export function makeRoot(): void {
  const tdir = path.join(R.root, 'pool', 'templates');
  mkdirSync(tdir, { recursive: true, mode: 0o700 });
  for (const f of [`${TEMPLATE}.img`, `${TEMPLATE}.yaml`]) {
    const src = path.join(TEMPLATE_CACHE, 'pool', 'templates', f);
    try {
      linkSync(src, path.join(tdir, f));
    } catch {
      copyFileSync(src, path.join(tdir, f));
    }
  }
}

export const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

/** When a process started, in clock ticks after the boot (field 22 of /proc/PID/stat). */
export function startTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}
