import type { NetRate } from '../base/netconfig.js';
import type { Runner } from '../sys/exec.js';
import { helperPath, runHelperJson } from '../sys/helpers.js';
import { GUEST_IF } from './names.js';

/**
 * helpers/vps-net: the host's end of container networking over rtnetlink (bridge, veth
 * pairs made straight into a container's network namespace, addresses, routes, proxy
 * neighbours). The monitor runs `vps-net up` at every boot of a container (a reboot inside
 * makes a new network namespace); vpsctl runs the rest for changes on a running container.
 */

/** What `vps-net up` reads: one `key value` per line (see helpers/vps-net.c). */
export interface NetSpec {
  mode: 'none' | 'bridged' | 'routed';
  hostIf?: string;
  mac?: string;
  bridge?: string;
  addresses: string[];
  gateway4?: string;
  gateway6?: string;
  /** The ifb device that shapes what the container sends (removed at boot if there is no out cap). */
  ifb?: string;
  rate?: NetRate;
}

export function renderSpec(s: NetSpec): string {
  const out = ['# vpsctl: read by vps-net at each boot of this container', `mode ${s.mode}`];
  if (s.mode !== 'none') {
    out.push(`host_if ${s.hostIf}`, `peer_if ${GUEST_IF}`, `mac ${s.mac}`);
    if (s.mode === 'bridged') out.push(`bridge ${s.bridge}`);
    for (const a of s.addresses) out.push(`addr ${a}`);
    if (s.gateway4) out.push(`gw4 ${s.gateway4}`);
    if (s.gateway6) out.push(`gw6 ${s.gateway6}`);
    if (s.ifb) out.push(`ifb_if ${s.ifb}`);
    if (s.rate?.in) out.push(`rate_in ${s.rate.in}`);
    if (s.rate?.out) out.push(`rate_out ${s.rate.out}`);
  }
  return `${out.join('\n')}\n`;
}

/** What renderSpec wrote, back: the mode and the addresses (the rest follows from the id). */
export function parseSpec(text: string): Pick<NetSpec, 'mode' | 'addresses'> {
  const mode = /^mode (none|bridged|routed)$/m.exec(text)?.[1] as NetSpec['mode'] | undefined;
  return { mode: mode ?? 'none', addresses: [...text.matchAll(/^addr (\S+)$/gm)].map((m) => m[1]) };
}

export class VpsNet {
  constructor(private readonly run: Runner) {}

  /** The helper's path, for the monitor (vps-spawn --net-helper). */
  path(): string {
    return helperPath('vps-net');
  }

  bridge(name: string, mac: string, addresses: string[]): Promise<{ bridge: string; created: boolean }> {
    return runHelperJson(this.run, 'vps-net', ['bridge', '--name', name, '--mac', mac, ...addresses.flatMap((a) => ['--addr', a])]);
  }

  /** A network for an already running container (its own network scripts will not run again). */
  up(pid: number, specFile: string): Promise<unknown> {
    return runHelperJson(this.run, 'vps-net', ['up', '--pid', String(pid), '--spec', specFile, '--configure-guest']);
  }

  /** Deletes the veth (and the container's ifb device, if given). */
  down(hostIf: string, ifb?: string): Promise<{ deleted: boolean }> {
    return runHelperJson(this.run, 'vps-net', ['down', '--host-if', hostIf, ...(ifb ? ['--ifb', ifb] : [])]);
  }

  /** A running container's bandwidth caps (0: none), on its veth's host end and its ifb device. */
  rate(hostIf: string, ifb: string, rate: NetRate | undefined): Promise<unknown> {
    return runHelperJson(this.run, 'vps-net', ['rate', '--host-if', hostIf, '--ifb', ifb, '--in', String(rate?.in ?? 0), '--out', String(rate?.out ?? 0)]);
  }

  guestAddr(pid: number, action: 'add' | 'del', cidr: string): Promise<unknown> {
    return runHelperJson(this.run, 'vps-net', ['addr', '--pid', String(pid), '--dev', GUEST_IF, action, cidr]);
  }

  guestGateway(pid: number, gw: string, onlink: boolean): Promise<unknown> {
    return runHelperJson(this.run, 'vps-net', ['gateway', '--pid', String(pid), '--dev', GUEST_IF, ...(onlink ? ['--onlink'] : []), gw]);
  }

  route(dev: string, action: 'add' | 'del', cidr: string): Promise<unknown> {
    return runHelperJson(this.run, 'vps-net', ['route', '--dev', dev, action, cidr]);
  }

  neighProxy(dev: string, action: 'add' | 'del', address: string): Promise<unknown> {
    return runHelperJson(this.run, 'vps-net', ['neigh-proxy', '--dev', dev, action, address]);
  }
}
