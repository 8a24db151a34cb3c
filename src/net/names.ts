import { createHash } from 'node:crypto';

/**
 * Names a container's network gets on the host, derived from its id alone so that they are
 * the same at every start and never need recording: the host end of its veth pair, its MAC.
 */

const hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The host end of the container's veth: `vps-ID` while that fits the kernel's 15
 * characters, else `vpsh` and 11 hex digits of the id's hash (a literal name never starts
 * `vpsh`+hex past 11 characters, and `vps-` and `vpsh` never meet).
 */
export function hostIfName(id: string): string {
  return id.length <= 11 ? `vps-${id}` : `vpsh${hex(`vpsctl-if:${id}`).slice(0, 11)}`;
}

/**
 * The ifb device that shapes what the container sends (`--rate`): `vpsi-ID` while that fits
 * 15 characters, else `vpsi` and 11 hex digits of another hash (as hostIfName).
 */
export function ifbName(id: string): string {
  return id.length <= 10 ? `vpsi-${id}` : `vpsi${hex(`vpsctl-ifb:${id}`).slice(0, 11)}`;
}

/** Whether an interface name is one hostIfName makes (the host's own addresses on them are not the host's). */
export const HOST_IF = /^vps(-[a-z0-9-]{1,11}|h[0-9a-f]{11})$/;

/** A locally administered unicast MAC (02:...) from a name: stable, and another for every id. */
export function macFor(what: string): string {
  const h = hex(`vpsctl-mac:${what}`);
  return ['02', h.slice(0, 2), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10)].join(':');
}

/** The container's own end, inside it. */
export const GUEST_IF = 'eth0';

/** The host end of a routed veth: the container's gateways (as Incus's routed NICs use). */
export const ROUTED_GW4 = '169.254.0.1';
export const ROUTED_GW6 = 'fe80::1';
