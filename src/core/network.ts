import { promises as fsp, existsSync, readdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import * as path from 'node:path';
import type { ContainerConfig } from '../base/config.js';
import { failed, hostNotReady } from '../base/errors.js';
import { ipFamily } from '../base/ip.js';
import { cidrAddress, formatForward, type NetRate, type NetworkConfig } from '../base/netconfig.js';
import type { HostSettings, Layout } from '../base/settings.js';
import type { Progress } from '../base/types.js';
import type { NetworkInput } from '../distro/input.js';
import { hostIfName, HOST_IF, ifbName, macFor } from '../net/names.js';
import { nftChainName, renderDeleteTables, renderRuleset, type NftContainer } from '../net/nft.js';
import { guestNetwork, planNetwork, type NetChange, type NetSettings, type OtherNetwork } from '../net/plan.js';
import { parseSpec, renderSpec, VpsNet, type NetSpec } from '../net/vpsnet.js';
import type { Runner } from '../sys/exec.js';
import type { SpawnSpec } from '../sys/vps-spawn.js';
import { exists, readText, writeFileAtomic } from '../sys/fs.js';
import { withLock } from '../sys/lock.js';
import { processLive } from '../sys/proc.js';

/** Whether a network interface of that name exists on the host. */
const linkExists = (name: string): boolean => existsSync(`/sys/class/net/${name}`);

/** What the network needs to know of the other containers. */
export interface NetHostView {
  ids(): Promise<string[]>;
  config(id: string): Promise<ContainerConfig>;
  isRunning(id: string): Promise<boolean>;
  /** Runs fn holding the container's lock (exit 4 at once when another operation has it). */
  lock<T>(id: string, what: string, fn: () => Promise<T>): Promise<T>;
}

/** A container's network as `status` shows it. */
export interface NetworkStatus {
  mode: 'bridged' | 'routed';
  host_if: string;
  mac: string;
  bridge: string | null;
  addresses: string[];
  gateway4: string | null;
  gateway6: string | null;
  forwards: string[];
  /** Bandwidth caps in bits per second (0: none); null when it has none. */
  rate: { in: number; out: number } | null;
}

/** One finding of `host check` about networking, and what --fix did. */
export interface NetFinding {
  problem: string;
  fixed?: string;
}

/**
 * The lifecycle's side of networking (src/net does the parts): address assignment under
 * one host-wide lock, the bridge, the spec each boot's vps-net reads, the nftables rules
 * (rebuilt whole from the containers that have a network up), live changes, teardown.
 * Lock order: a container's lock, then the network lock; the network lock is held for
 * short sections only and waited for (30 s), never the other way round.
 */
export class Networks {
  private readonly net: VpsNet;

  constructor(
    private readonly layout: Layout,
    private readonly settings: HostSettings,
    private readonly sys: Runner,
    private readonly progress: Progress,
    private readonly view: NetHostView,
  ) {
    this.net = new VpsNet(sys);
  }

  get netSettings(): NetSettings {
    return { bridge: this.settings.bridge, subnet: this.settings.subnet, subnet6: this.settings.subnet6 };
  }

  private locked<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withLock(this.layout.netLockFile(), what, 'the network', fn, 30_000);
  }

  private async others(id: string): Promise<OtherNetwork[]> {
    const out: OtherNetwork[] = [];
    for (const o of await this.view.ids()) {
      if (o === id) continue;
      const cfg = await this.view.config(o).catch(() => undefined); // a broken config holds no address we can read
      if (cfg?.network) out.push({ id: o, net: cfg.network });
    }
    // what creates under way have reserved: theirs until their config holds it or they end
    const dir = path.dirname(this.layout.netPlan(id));
    for (const f of await fsp.readdir(dir).catch(() => [] as string[])) {
      const o = f.replace(/\.json$/, '');
      if (o === id || !f.endsWith('.json')) continue;
      const plan = await readPlan(path.join(dir, f));
      if (plan && processLive(plan.pid)) out.push({ id: o, net: plan.net, pending: true });
      else await fsp.rm(path.join(dir, f), { force: true });
    }
    return out;
  }

  /**
   * Plans a new container's network and reserves it under the network lock, so that parallel
   * creates (`--ipadd auto`) each get their own address before any image is copied; the
   * reservation lasts until `commit` records the config, or `release`.
   */
  async reserve(id: string, change: NetChange): Promise<NetworkConfig | undefined> {
    return this.locked(`network of ${id}`, async () => {
      const planned = await this.plan(id, undefined, change);
      if (planned) {
        const file = this.layout.netPlan(id);
        await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
        await writeFileAtomic(file, JSON.stringify({ pid: process.pid, net: planned }), 0o600);
      }
      return planned;
    });
  }

  /** Drops this process's reservation for `id` (a create that failed, or one whose config now holds it). */
  async release(id: string): Promise<void> {
    const plan = await readPlan(this.layout.netPlan(id));
    if (plan?.pid === process.pid) await fsp.rm(this.layout.netPlan(id), { force: true });
  }

  /** The host's own addresses, except those of our bridge and routed veths. */
  private hostAddresses(): string[] {
    const out: string[] = [];
    for (const [name, list] of Object.entries(networkInterfaces())) {
      if (name === this.settings.bridge || HOST_IF.test(name)) continue;
      for (const a of list ?? []) out.push(a.address);
    }
    return out;
  }

  /** The network a change gives (undefined: none); exit 2/3/7 naming the problem. Changes nothing. */
  async plan(id: string, current: NetworkConfig | undefined, change: NetChange): Promise<NetworkConfig | undefined> {
    return planNetwork(id, current, change, this.netSettings, await this.others(id), this.hostAddresses());
  }

  /**
   * Checks a planned network again under the network lock (another create may have taken an
   * address meanwhile) and runs `write` (which records it) while still holding the lock.
   */
  async commit<T>(id: string, planned: NetworkConfig | undefined, write: () => Promise<T>): Promise<T> {
    return this.locked(`network of ${id}`, async () => {
      if (planned) {
        await this.plan(id, undefined, { mode: planned.mode, add: planned.addresses, forwards: planned.forwards.map(formatForward) });
      }
      const r = await write();
      await this.release(id);
      return r;
    });
  }

  /** What the guest's own network files should say. */
  guestInput(n: NetworkConfig): NetworkInput {
    return guestNetwork(n, this.netSettings);
  }

  status(cfg: ContainerConfig): NetworkStatus | null {
    const n = cfg.network;
    if (!n) return null;
    const g = guestNetwork(n, this.netSettings);
    return {
      mode: n.mode,
      host_if: hostIfName(cfg.id),
      mac: macFor(cfg.id),
      bridge: n.mode === 'bridged' ? this.settings.bridge : null,
      addresses: n.addresses,
      gateway4: g.gateway4 ?? null,
      gateway6: g.gateway6 ?? null,
      forwards: n.forwards.map(formatForward),
      rate: n.rate ?? null,
    };
  }

  private spec(cfg: ContainerConfig): NetSpec {
    const n = cfg.network;
    if (!n) return { mode: 'none', addresses: [] };
    const g = guestNetwork(n, this.netSettings);
    return {
      mode: n.mode,
      hostIf: hostIfName(cfg.id),
      mac: macFor(cfg.id),
      bridge: this.settings.bridge,
      addresses: n.addresses,
      gateway4: g.gateway4,
      gateway6: g.gateway6,
      ifb: ifbName(cfg.id),
      ...(n.rate ? { rate: n.rate } : {}),
    };
  }

  /** The bridge, made on first need with its addresses; NAT on means the host forwards IPv4. */
  private async ensureBridge(): Promise<void> {
    const s = this.settings;
    const r = await this.net.bridge(s.bridge, macFor(`bridge:${s.bridge}`), [`${s.subnet.address}/${s.subnet.prefix}`, `${s.subnet6.address}/${s.subnet6.prefix}`]);
    if (r.created) this.progress.info(`made bridge ${s.bridge} (${s.subnet.address}/${s.subnet.prefix}, ${s.subnet6.address}/${s.subnet6.prefix})`);
    if (s.nat) await this.ipv4Forwarding('for the bridge\'s NAT; set nat: false in /etc/vpsctl/vpsctl.yaml to keep it off');
  }

  /**
   * IPv4 forwarding, which NAT and a routed address seen from beyond the host need (the
   * kernel answers proxy ARP only then). IPv6 forwarding is left to the admin: turning it on
   * makes the host stop taking router advertisements on its own uplink.
   */
  private async ipv4Forwarding(why: string): Promise<void> {
    if ((await readText('/proc/sys/net/ipv4/ip_forward'))?.trim() !== '0') return;
    await fsp.writeFile('/proc/sys/net/ipv4/ip_forward', '1');
    this.progress.info(`enabled IPv4 forwarding (net.ipv4.ip_forward=1) ${why}`);
  }

  /**
   * Start: the bridge, the spec the monitor's vps-net reads at each boot, and the rules
   * (made before the veth exists, so it is never without them). Returns vps-spawn's args.
   */
  async beforeSpawn(cfg: ContainerConfig): Promise<NonNullable<SpawnSpec['net']>> {
    const spec = this.spec(cfg);
    const file = this.layout.netSpec(cfg.id);
    await fsp.mkdir(this.layout.runDir(cfg.id), { recursive: true, mode: 0o700 });
    const args = { helper: this.net.path(), spec: file };
    if (spec.mode === 'none') {
      await writeFileAtomic(file, renderSpec(spec), 0o600);
      return args;
    }
    await this.locked(`start of ${cfg.id}`, async () => {
      if (spec.mode === 'bridged') await this.ensureBridge();
      await writeFileAtomic(file, renderSpec(spec), 0o600);
      await this.sync();
      await this.proxies(cfg.network, 'add');
    });
    return args;
  }

  /** Proxy ARP/NDP entries on the uplink for a routed container's addresses. */
  private async proxies(n: NetworkConfig | undefined, action: 'add' | 'del', only?: string[]): Promise<void> {
    const uplink = this.settings.uplink;
    if (!uplink || n?.mode !== 'routed') return;
    if (action === 'add') await this.ipv4Forwarding(`for routed addresses on ${uplink}`);
    for (const a of only ?? n.addresses) {
      await this.net.neighProxy(uplink, action, cidrAddress(a)).catch((e: unknown) => {
        if (action === 'add') throw e;
      });
    }
  }

  /**
   * Puts the host back for a container that is not running: its veth (if the kernel has
   * not removed it with the namespace yet), its ifb device, its proxy entries, its rules,
   * its spec.
   */
  async teardown(id: string): Promise<string[]> {
    const file = this.layout.netSpec(id);
    const hostIf = hostIfName(id);
    const ifb = ifbName(id);
    const had = await exists(file);
    if (!had && !linkExists(hostIf) && !linkExists(ifb)) return [];
    return this.locked(`teardown of ${id}`, async () => {
      const fixed: string[] = [];
      if (linkExists(hostIf) || linkExists(ifb)) {
        const hadIfb = linkExists(ifb);
        const r = await this.net.down(hostIf, ifb);
        if (r.deleted) fixed.push(`removed veth ${hostIf}`);
        if (hadIfb) fixed.push(`removed ifb ${ifb}`);
      }
      const spec = await this.readSpec(id);
      if (spec) {
        await fsp.rm(file, { force: true });
        if (spec.mode !== 'none') {
          if (spec.mode === 'routed') await this.proxies({ mode: 'routed', addresses: spec.addresses, forwards: [] }, 'del');
          await this.sync();
          fixed.push('removed its network rules');
        }
      }
      return fixed;
    });
  }

  /** The spec a container's network is up with; undefined when it is not up. */
  private async readSpec(id: string): Promise<ReturnType<typeof parseSpec> | undefined> {
    const text = await readText(this.layout.netSpec(id)).catch(() => undefined);
    return text === undefined ? undefined : parseSpec(text);
  }

  /** The containers whose network is up (they have a spec) and that have one. */
  private async upContainers(): Promise<NftContainer[]> {
    const out: NftContainer[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(this.settings.runDir);
    } catch {
      return out;
    }
    for (const id of names) {
      if (!/^[a-z0-9][a-z0-9-]*$/.test(id)) continue;
      const spec = await this.readSpec(id);
      if (!spec || spec.mode === 'none') continue; // not up, or no veth
      // allowed: what both the config and the spec (what vps-net made) say, so that a change
      // killed half-way fails closed
      const n = (await this.view.config(id).catch(() => undefined))?.network;
      const addrs = (n?.addresses ?? []).filter((a) => spec.addresses.includes(a)).map(cidrAddress);
      out.push({
        id,
        hostIf: hostIfName(id),
        mac: macFor(id),
        v4: addrs.filter((a) => ipFamily(a) === 4),
        v6: addrs.filter((a) => ipFamily(a) === 6),
        forwards: n?.forwards ?? [],
      });
    }
    return out;
  }

  /** Replaces our two nftables tables with what the containers up now need (caller holds the lock). */
  private async sync(): Promise<void> {
    const containers = await this.upContainers();
    const text = containers.length
      ? renderRuleset({ table: this.settings.nftTable, bridge: this.settings.bridge, subnet: this.settings.subnet, nat: this.settings.nat, containers })
      : renderDeleteTables(this.settings.nftTable);
    const r = await this.sys.run('nft', ['-f', '-'], { input: text, reject: false }).catch((e: unknown) => {
      throw hostNotReady(`nft cannot run: ${(e as Error).message}`, 'install nftables: apt-get install nftables');
    });
    if (r.exitCode !== 0) throw failed(`nft refused vpsctl's rules: ${r.stderr.trim().split('\n').slice(0, 3).join(' / ')}`, { hint: 'run `vpsctl host check` for the kernel features nftables needs' });
  }

  /**
   * A running container's network after `set`: the spec for its next boots, then the
   * change itself. Same mode: addresses removed inside and from the host first, the rules,
   * then the new addresses. A mode change (or a network added or removed) replaces the veth.
   * Runs inside `commit` (the network lock held, the config just written there), so that
   * the rules, the spec and the config change together; the caller holds the container's lock.
   */
  async applyLive(cfg: ContainerConfig, before: NetworkConfig | undefined, pid: number): Promise<void> {
    const after = cfg.network;
    const file = this.layout.netSpec(cfg.id);
    const hostIf = hostIfName(cfg.id);
    {
      const spec = this.spec(cfg);
      await writeFileAtomic(file, renderSpec(spec), 0o600);
      if (!before || !after || before.mode !== after.mode) {
        if (before) {
          await this.proxies(before, 'del');
          await this.net.down(hostIf, ifbName(cfg.id));
        }
        if (after?.mode === 'bridged') await this.ensureBridge();
        await this.sync();
        if (after) {
          await this.proxies(after, 'add');
          await this.net.up(pid, file);
        }
        return;
      }
      const gone = before.addresses.filter((a) => !after.addresses.includes(a));
      const added = after.addresses.filter((a) => !before.addresses.includes(a));
      try {
        for (const a of gone) {
          // a tenant may have taken it off (or renamed eth0) already: the rules still go
          await this.net.guestAddr(pid, 'del', a).catch((e: unknown) => this.progress.warn(`removing ${a} inside ${cfg.id}: ${(e as Error).message}`));
          if (after.mode === 'routed') await this.net.route(hostIf, 'del', a);
        }
        await this.proxies(after, 'del', gone);
      } finally {
        await this.sync();
      }
      for (const a of added) {
        if (after.mode === 'routed') await this.net.route(hostIf, 'add', a);
        await this.net.guestAddr(pid, 'add', a);
      }
      await this.proxies(after, 'add', added);
      // a family's first address brings its default route
      const g = guestNetwork(after, this.netSettings);
      const had = (fam: 4 | 6): boolean => before.addresses.some((a) => ipFamily(cidrAddress(a)) === fam);
      if (g.gateway4 && !had(4)) await this.net.guestGateway(pid, g.gateway4, after.mode === 'routed');
      if (g.gateway6 && !had(6)) await this.net.guestGateway(pid, g.gateway6, false);
      if (!sameRate(before.rate, after.rate)) await this.net.rate(hostIf, ifbName(cfg.id), after.rate);
    }
  }

  /** `host check`: leftovers of stopped containers and rules that outlived them; --fix removes them. */
  async check(fix: boolean): Promise<NetFinding[]> {
    const out: NetFinding[] = [];
    const running: string[] = [];
    for (const id of await this.view.ids()) {
      if (await this.view.isRunning(id)) {
        running.push(id);
        continue;
      }
      const hostIf = hostIfName(id);
      const spec = await this.readSpec(id);
      const left = [spec && spec.mode !== 'none' ? 'rules' : '', linkExists(hostIf) ? `veth ${hostIf}` : '', linkExists(ifbName(id)) ? `ifb ${ifbName(id)}` : ''].filter(Boolean);
      if (!left.length) continue;
      const problem = `stopped container ${id} still has its network ${left.join(' and ')}`;
      if (!fix) {
        out.push({ problem });
        continue;
      }
      // under the container's lock: a start that is writing its spec right now is not a leftover
      const fixed = await this.view
        .lock(id, 'host check --fix', async () => ((await this.view.isRunning(id)) ? 'nothing: it is running now' : (await this.teardown(id)).join(', ') || 'nothing left'))
        .catch((e: unknown) => `not now: ${(e as Error).message}`);
      out.push({ problem, fixed });
    }
    out.push(...(await this.checkRules(running, fix)));
    return out;
  }

  /**
   * Running containers with a network whose checks are missing from our tables (someone ran
   * `nft flush ruleset`, or restarted nftables.service); --fix rebuilds the tables.
   */
  private async checkRules(running: string[], fix: boolean): Promise<NetFinding[]> {
    const up = (await this.upContainers()).filter((c) => running.includes(c.id));
    if (!up.length) return [];
    const tables = await Promise.all(
      ['bridge', 'inet'].map(async (f) => {
        const r = await this.sys.run('nft', ['list', 'table', f, this.settings.nftTable], { reject: false }).catch(() => undefined);
        return r?.exitCode === 0 ? r.stdout : '';
      }),
    );
    const missing = up.filter((c) => !tables.every((t) => t.includes(`chain ${nftChainName(c.id)} {`)));
    if (!missing.length) return [];
    const problem = `running container${missing.length > 1 ? 's' : ''} ${missing.map((c) => c.id).join(', ')} ha${missing.length > 1 ? 've' : 's'} no anti-spoofing rules in nftables tables ${this.settings.nftTable} (flushed?)`;
    if (!fix) return [{ problem }];
    await this.locked('host check --fix', () => this.sync());
    return [{ problem, fixed: 'rebuilt the tables' }];
  }
}


const sameRate = (a: NetRate | undefined, b: NetRate | undefined): boolean => (a?.in ?? 0) === (b?.in ?? 0) && (a?.out ?? 0) === (b?.out ?? 0);

async function readPlan(file: string): Promise<{ pid: number; net: NetworkConfig } | undefined> {
  try {
    const j = JSON.parse(await fsp.readFile(file, 'utf8')) as { pid: number; net: NetworkConfig };
    return Number.isInteger(j.pid) && j.net && Array.isArray(j.net.addresses) ? j : undefined;
  } catch {
    return undefined;
  }
}
