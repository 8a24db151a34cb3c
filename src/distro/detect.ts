import type { Tree } from './tree.js';

/** What /etc/os-release (or an older fallback) says about a tree. */
export interface OsInfo {
  /** `debian`, `ubuntu`, `centos`, `almalinux`, `rocky`, or what ID= says; `unknown` when nothing says. */
  id: string;
  /** VERSION_ID, e.g. `12`, `22.04`, `9.3`; the major version from the older files. */
  version: string;
  /** ID_LIKE words, for personalities shared by families. */
  like: string[];
  prettyName: string;
  /** The file it came from, e.g. `/etc/os-release`; empty when none was readable. */
  source: string;
}

/** The personalities: how an OS wants its identity and network written. */
export type PersonalityName = 'debian' | 'ubuntu' | 'centos7' | 'el9' | 'generic';

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2];
    if (/^".*"$|^'.*'$/.test(v)) v = v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    out[m[1]] = v;
  }
  return out;
}

/** A file of the tree, or undefined when it is missing, a symlink, a FIFO or unreadable. */
async function readQuiet(tree: Tree, rel: string): Promise<string | undefined> {
  try {
    return await tree.read(rel);
  } catch {
    return undefined; // Debian's /etc/os-release links to ../usr/lib/os-release; the next file says the same
  }
}

/** `CentOS Linux release 7.9.2009 (Core)` and friends, from EL's /etc/redhat-release. */
export function parseRedhatRelease(text: string, source: string): OsInfo | undefined {
  const line = text.split('\n')[0].trim();
  const m = /^(.*?)\s+release\s+(\d+)(?:\.[\d.]+)?/i.exec(line);
  if (!m) return undefined;
  const name = m[1];
  const ids: [RegExp, string][] = [
    [/centos/i, 'centos'],
    [/alma/i, 'almalinux'],
    [/rocky/i, 'rocky'],
    [/oracle/i, 'ol'],
    [/fedora/i, 'fedora'],
    [/red hat/i, 'rhel'],
  ];
  const id = ids.find(([re]) => re.test(name))?.[1] ?? 'rhel';
  return { id, version: m[2], like: id === 'rhel' ? [] : ['rhel'], prettyName: line, source };
}

/**
 * Detects the OS of a tree, never following a symlink out of it. Reads, first hit wins:
 * /etc/os-release, /usr/lib/os-release (every systemd distro), then for old releases
 * /etc/redhat-release, /etc/centos-release, /etc/lsb-release, /etc/debian_version.
 * lsb-release comes before debian_version (unlike the order one might expect) because old
 * Ubuntu has both, and its debian_version names a Debian codename (`squeeze/sid`).
 */
export async function detectOsIn(tree: Tree): Promise<OsInfo> {
  for (const rel of ['etc/os-release', 'usr/lib/os-release']) {
    const text = await readQuiet(tree, rel);
    if (text === undefined) continue;
    const kv = parseOsRelease(text);
    if (!kv.ID && !kv.NAME) continue;
    return {
      id: (kv.ID ?? 'linux').toLowerCase(),
      version: kv.VERSION_ID ?? '',
      like: (kv.ID_LIKE ?? '').toLowerCase().split(/\s+/).filter(Boolean),
      prettyName: kv.PRETTY_NAME ?? kv.NAME ?? 'Linux',
      source: `/${rel}`,
    };
  }
  for (const rel of ['etc/redhat-release', 'etc/centos-release']) {
    const text = await readQuiet(tree, rel);
    const os = text === undefined ? undefined : parseRedhatRelease(text, `/${rel}`);
    if (os) return os;
  }
  const lsb = await readQuiet(tree, 'etc/lsb-release');
  if (lsb !== undefined) {
    const kv = parseOsRelease(lsb);
    if (kv.DISTRIB_ID) {
      return {
        id: kv.DISTRIB_ID.toLowerCase(),
        version: kv.DISTRIB_RELEASE ?? '',
        like: kv.DISTRIB_ID.toLowerCase() === 'ubuntu' ? ['debian'] : [],
        prettyName: kv.DISTRIB_DESCRIPTION ?? kv.DISTRIB_ID,
        source: '/etc/lsb-release',
      };
    }
  }
  const dv = (await readQuiet(tree, 'etc/debian_version'))?.trim();
  if (dv) {
    const major = /^(\d+)/.exec(dv)?.[1] ?? ''; // testing and sid say `trixie/sid`: no number
    return { id: 'debian', version: major, like: [], prettyName: `Debian ${dv}`, source: '/etc/debian_version' };
  }
  return { id: 'unknown', version: '', like: [], prettyName: 'unknown', source: '' };
}

const major = (version: string): number => {
  const n = Number.parseInt(version, 10);
  return Number.isNaN(n) ? 0 : n;
};

/**
 * The personality for an OS:
 * - `ubuntu` is Ubuntu from 17.10 on (netplan); older Ubuntu used ifupdown and gets `debian`,
 *   and so do derivatives (ID_LIKE ubuntu or debian: Mint and friends do not use netplan).
 * - `centos7` is EL 7 (CentOS, RHEL, Oracle, Scientific; Amazon Linux 2): network-scripts.
 * - `el9` is EL 8 and later (CentOS Stream, AlmaLinux, Rocky, RHEL, Oracle) and Fedora:
 *   NetworkManager keyfiles, which EL 8's NetworkManager reads as well as its ifcfg files.
 * - `generic` is everything else, EL 6 and older (no systemd) included.
 */
export function classifyOs(os: OsInfo): PersonalityName {
  const like = (w: string): boolean => os.id === w || os.like.includes(w);
  if (os.id === 'ubuntu') {
    const [y, m] = os.version.split('.').map((s) => Number.parseInt(s, 10));
    return !os.version || y > 17 || (y === 17 && m >= 10) ? 'ubuntu' : 'debian';
  }
  if (like('debian') || like('ubuntu')) return 'debian';
  if (os.id === 'amzn') return os.version === '2' ? 'centos7' : 'generic'; // Amazon Linux 2023 uses networkd
  if (os.id === 'fedora') return 'el9';
  if (like('rhel') || like('centos') || like('fedora')) {
    const v = major(os.version);
    if (v === 7) return 'centos7';
    if (v >= 8) return 'el9';
  }
  return 'generic';
}
