import { invalid } from '../base/errors.js';
import { IFNAME } from '../base/ids.js';

/** How the container's interface reaches its gateway. */
export type NetworkMode = 'bridged' | 'routed';

/** The container's network, as each personality writes it in its OS's own format. */
export interface NetworkInput {
  /** The interface inside the container, e.g. `eth0`. */
  iface: string;
  /** Addresses with prefix length, IPv4 and IPv6 (`192.0.2.10/24`, `2001:db8::10/64`). */
  addresses: string[];
  gateway4?: string;
  gateway6?: string;
  /**
   * `bridged` (the default): the gateway is on the addresses' subnet. `routed`: the host
   * routes each address to the container (a /32 or /128 on a veth) and the gateway is the
   * host's end, outside any subnet the container has, so it is declared on-link. A bridged
   * gateway outside every subnet of its family is treated as on-link too, since it could
   * not be reached otherwise.
   */
  mode?: NetworkMode;
}

export interface PersonalityInput {
  hostname: string;
  /** DNS servers, IPv4 or IPv6, in order. */
  nameservers?: string[];
  searchDomains?: string[];
  /** Passwords to set (SHA-512 crypt into /etc/shadow); the users must exist in the image. */
  users?: { name: string; password: string }[];
  /** SSH public keys to add (deduplicated) to each user's ~/.ssh/authorized_keys. */
  sshKeys?: { user: string; keys: string[] }[];
  network?: NetworkInput;
  /**
   * The interface has no network any more (or a copy must not bring up its source's): our
   * own files for it are removed, in every format (only files that carry our mark).
   */
  dropNetwork?: string;
  /** Remove the SSH host keys, so that the first boot makes new ones (clone, import). */
  freshHostKeys?: boolean;
  /** `set` on an existing container: its machine-id stays what it is. */
  keepMachineId?: boolean;
}

export { parseCidr, ipFamily, inSubnet, isLinkLocal6, type Cidr } from '../base/ip.js';
import { parseCidr, ipFamily } from '../base/ip.js';

/** A DNS name (RFC 1123 labels): what a hostname or a search domain may be. */
const LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;
export function isDnsName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

export const USERNAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** The key types an authorized_keys line may carry (OpenSSH's names). */
const KEY_TYPE = /^(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com|ssh-(rsa|ed25519)-cert-v01@openssh\.com|ecdsa-sha2-nistp(256|384|521)-cert-v01@openssh\.com)$/;

/**
 * The identity of an authorized_keys line: its key type and base-64 blob (options in front
 * and the comment behind do not make another key). Undefined when the line has no key.
 */
export function sshKeyId(line: string): string | undefined {
  const words = line.trim().split(/\s+/);
  for (let i = 0; i + 1 < words.length; i++) {
    if (KEY_TYPE.test(words[i]) && /^[A-Za-z0-9+/]+={0,3}$/.test(words[i + 1])) return `${words[i]} ${words[i + 1]}`;
  }
  return undefined;
}

/**
 * Checks a personality's input before anything is written (exit 2 on a bad value), so that
 * a typo never leaves a container half-configured. Returns nothing; throws the first problem.
 */
export function validatePersonalityInput(input: PersonalityInput): void {
  if (!isDnsName(input.hostname)) {
    throw invalid(`hostname ${JSON.stringify(input.hostname)} is not valid`, 'use letters, digits and hyphens in dot-separated labels of at most 63 characters');
  }
  for (const ns of input.nameservers ?? []) {
    if (!ipFamily(ns)) throw invalid(`nameserver ${JSON.stringify(ns)} is not an IPv4 or IPv6 address`);
  }
  for (const d of input.searchDomains ?? []) {
    if (!isDnsName(d)) throw invalid(`search domain ${JSON.stringify(d)} is not a valid domain name`);
  }
  for (const u of input.users ?? []) {
    if (!USERNAME.test(u.name)) throw invalid(`user name ${JSON.stringify(u.name)} is not valid`, 'a user name matches ^[a-z_][a-z0-9_-]{0,31}$');
    if (typeof u.password !== 'string' || u.password === '') throw invalid(`the password for ${u.name} is empty`);
    if (u.password.includes('\0')) throw invalid(`the password for ${u.name} contains a NUL byte`);
  }
  for (const k of input.sshKeys ?? []) {
    if (!USERNAME.test(k.user)) throw invalid(`user name ${JSON.stringify(k.user)} is not valid`, 'a user name matches ^[a-z_][a-z0-9_-]{0,31}$');
    for (const key of k.keys) {
      // eslint-disable-next-line no-control-regex
      if (/[\x00-\x08\x0a-\x1f\x7f]/.test(key) || !sshKeyId(key)) {
        throw invalid(`not an SSH public key for ${k.user}: ${JSON.stringify(key.slice(0, 40))}`, 'give one line of a .pub file, e.g. ssh-ed25519 AAAA... comment');
      }
    }
  }
  if (input.dropNetwork !== undefined && (!IFNAME.test(input.dropNetwork) || input.network)) throw invalid(`dropNetwork ${JSON.stringify(input.dropNetwork)}: an interface name, and no network with it`);
  const net = input.network;
  if (net) {
    if (!IFNAME.test(net.iface)) throw invalid(`interface name ${JSON.stringify(net.iface)} is not valid`, 'at most 15 letters, digits, _ . -');
    if (net.mode !== undefined && net.mode !== 'bridged' && net.mode !== 'routed') throw invalid(`network mode ${JSON.stringify(net.mode)} is neither bridged nor routed`);
    if (net.addresses.length === 0) throw invalid(`no address for ${net.iface}`);
    const cidrs = net.addresses.map(parseCidr);
    if (net.gateway4 !== undefined) {
      if (ipFamily(net.gateway4) !== 4) throw invalid(`IPv4 gateway ${JSON.stringify(net.gateway4)} is not an IPv4 address`);
      if (!cidrs.some((c) => c.family === 4)) throw invalid(`an IPv4 gateway but no IPv4 address for ${net.iface}`);
    }
    if (net.gateway6 !== undefined) {
      if (ipFamily(net.gateway6) !== 6) throw invalid(`IPv6 gateway ${JSON.stringify(net.gateway6)} is not an IPv6 address`);
      if (!cidrs.some((c) => c.family === 6)) throw invalid(`an IPv6 gateway but no IPv6 address for ${net.iface}`);
    }
  }
}
