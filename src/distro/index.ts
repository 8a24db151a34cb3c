import { promises as fsp } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { readInside, removeInside, resolveInside, writeInside } from '../sys/fs.js';

/** What /etc/os-release (or an older fallback) says about a tree. */
export interface OsInfo {
  /** `debian`, `ubuntu`, `centos`, `almalinux`, `rocky`, or what ID= says. */
  id: string;
  /** VERSION_ID, e.g. `12`. */
  version: string;
  /** ID_LIKE words, for personalities shared by families. */
  like: string[];
  prettyName: string;
}

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

/** Detects the OS of a rootfs tree. Never follows a symlink out of the tree. */
export async function detectOs(root: string): Promise<OsInfo> {
  for (const rel of ['etc/os-release', 'usr/lib/os-release']) {
    let text: string | undefined;
    try {
      text = await readInside(root, rel);
    } catch {
      text = undefined; // a symlink: Debian's /etc/os-release links to ../usr/lib/os-release
    }
    if (text) {
      const kv = parseOsRelease(text);
      return {
        id: (kv.ID ?? 'linux').toLowerCase(),
        version: kv.VERSION_ID ?? '',
        like: (kv.ID_LIKE ?? '').split(/\s+/).filter(Boolean),
        prettyName: kv.PRETTY_NAME ?? kv.NAME ?? 'Linux',
      };
    }
  }
  const dv = await readInside(root, 'etc/debian_version').catch(() => undefined);
  if (dv) return { id: 'debian', version: dv.trim().split('.')[0], like: [], prettyName: `Debian ${dv.trim()}` };
  return { id: 'unknown', version: '', like: [], prettyName: 'unknown' };
}

export interface PersonalityInput {
  hostname: string;
}

/** What a personality changed, for the create report. */
export interface PersonalityResult {
  os: OsInfo;
  machineId: string;
  wrote: string[];
}

/**
 * A distro personality: how this OS wants its identity written. The spine knows the
 * Debian family; Ubuntu (netplan) and the EL family (ifcfg, NetworkManager) come with the
 * templates work and plug in here.
 */
export interface Personality {
  name: string;
  matches(os: OsInfo): boolean;
  apply(root: string, input: PersonalityInput, os: OsInfo): Promise<PersonalityResult>;
}

/** Identity every systemd distro shares: hostname, /etc/hosts, a fresh machine-id. */
async function applyCommon(root: string, input: PersonalityInput, os: OsInfo): Promise<PersonalityResult> {
  const short = input.hostname.split('.')[0];
  const machineId = randomBytes(16).toString('hex');
  const wrote: string[] = [];
  await writeInside(root, 'etc/hostname', `${input.hostname}\n`);
  wrote.push('/etc/hostname');
  const hostsRel = 'etc/hosts';
  const old = (await readInside(root, hostsRel).catch(() => undefined)) ?? '';
  const keep = old
    .split('\n')
    .filter((l) => l.trim() !== '' && !/^127\.0\.1\.1\s/.test(l) && !/# vpsctl$/.test(l));
  if (!keep.some((l) => /^127\.0\.0\.1\s/.test(l))) keep.unshift('127.0.0.1\tlocalhost');
  if (!keep.some((l) => /^::1\s/.test(l))) keep.push('::1\t\tlocalhost ip6-localhost ip6-loopback');
  const nameLine = short !== input.hostname ? `127.0.1.1\t${input.hostname} ${short}` : `127.0.1.1\t${input.hostname}`;
  keep.splice(1, 0, nameLine);
  await writeInside(root, hostsRel, `${keep.join('\n')}\n`);
  wrote.push('/etc/hosts');
  await writeInside(root, 'etc/machine-id', `${machineId}\n`, 0o444);
  wrote.push('/etc/machine-id');
  // dbus keeps its own copy on some releases; a stale one would clash with the new id
  const dbusId = await resolveInside(root, 'var/lib/dbus/machine-id').catch(() => undefined);
  if (dbusId) {
    const st = await fsp.lstat(dbusId).catch(() => undefined);
    if (st?.isFile()) await removeInside(root, 'var/lib/dbus/machine-id');
  }
  return { os, machineId, wrote };
}

export const debianFamily: Personality = {
  name: 'debian',
  matches: (os) => os.id === 'debian' || os.id === 'ubuntu' || os.like.includes('debian'),
  apply: applyCommon,
};

export const genericSystemd: Personality = {
  name: 'generic',
  matches: () => true,
  apply: applyCommon,
};

const PERSONALITIES: Personality[] = [debianFamily, genericSystemd];

export function personalityFor(os: OsInfo): Personality {
  return PERSONALITIES.find((p) => p.matches(os)) ?? genericSystemd;
}

export async function applyPersonality(root: string, input: PersonalityInput): Promise<PersonalityResult> {
  const os = await detectOs(root);
  return personalityFor(os).apply(root, input, os);
}
