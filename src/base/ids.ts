import { invalid } from './errors.js';

/** A container id is a DNS label, so OpenVZ-style numeric ids (`101`) work too. */
export const ID_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** Template names: lower-case words, digits, dots and dashes (`debian-12`, `ubuntu-24.04`). */
export const TEMPLATE_RE = /^[a-z0-9]([a-z0-9.-]{0,62}[a-z0-9])?$/;
/** A Linux interface name (it becomes a file name too, `ifcfg-eth0`): 15 characters, no slash, not `.`/`..`. */
export const IFNAME = /^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,15}$/;
/** A user of a container's /etc/passwd, by name as useradd takes it or by uid (helpers/vps-enter checks the same). */
const LOGIN_RE = /^(?!-)[A-Za-z0-9_.-]{0,31}[A-Za-z0-9_.$-]$/;
/** A hostname: dot-separated labels of letters, digits and dashes, at most 253 characters. */
const LABEL_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Checks a container id before any path is built from it; throws a usage error. */
export function validateId(id: string): string {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw invalid(
      `invalid container id ${JSON.stringify(id)}`,
      'an id is 1-63 characters of a-z, 0-9 and "-", not starting or ending with "-" (e.g. 101 or web-1)',
    );
  }
  return id;
}

export function validateTemplateName(name: string): string {
  if (typeof name !== 'string' || !TEMPLATE_RE.test(name) || name.includes('..')) {
    throw invalid(
      `invalid template name ${JSON.stringify(name)}`,
      'a template name is lower-case letters, digits, "." and "-" (e.g. debian-12); see `vpsctl template list`',
    );
  }
  return name;
}

export function validateUser(name: string): string {
  if (typeof name !== 'string' || !LOGIN_RE.test(name)) {
    throw invalid(`invalid user ${JSON.stringify(name)}`, 'give a user name of the container (letters, digits, "_", ".", "-"; not starting with "-") or a uid');
  }
  return name;
}

export function validateHostname(name: string): string {
  const ok =
    typeof name === 'string' &&
    name.length >= 1 &&
    name.length <= 253 &&
    name.split('.').every((label) => LABEL_RE.test(label));
  if (!ok) {
    throw invalid(
      `invalid hostname ${JSON.stringify(name)}`,
      'a hostname is dot-separated labels of letters, digits and "-", each 1-63 characters, 253 in all',
    );
  }
  return name;
}

/** Snapshot names: letters, digits, ".", "_", "-"; no leading dot, no "..", at most 64. */
export const SNAPSHOT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validateSnapshotName(name: string): string {
  if (typeof name !== 'string' || !SNAPSHOT_RE.test(name) || name.includes('..') || /\.(img|yaml|partial)$/.test(name)) {
    throw invalid(
      `invalid snapshot name ${JSON.stringify(name)}`,
      'a snapshot name is 1-64 characters of letters, digits, ".", "_" and "-", starting with a letter or digit, without ".." (e.g. before-upgrade)',
    );
  }
  return name;
}

const SHA_RE = /^[0-9a-f]{64}$/;
/** A SHA-256 given on the command line: 64 hex digits, lower-cased. */
export function validateSha256(s: string): string {
  const v = s.trim().toLowerCase();
  if (!SHA_RE.test(v)) throw invalid(`--sha256 ${JSON.stringify(s)} is not a SHA-256 (64 hex digits)`);
  return v;
}

const URL_RE = /^https?:\/\/[^\s'"]+$/i;
/** An http(s) URL (an image server, an archive to fetch). */
export function checkUrl(url: string, what: string): string {
  let u: URL | undefined;
  try {
    u = new URL(url);
  } catch {
    u = undefined;
  }
  if (!u || !URL_RE.test(url) || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw invalid(`${what} ${JSON.stringify(url)} is not an http(s) URL`);
  return url;
}
