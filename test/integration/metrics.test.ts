/**
 * `vpsctl metrics` and the network counters of `stats`: a running container with an address,
 * traffic it makes, and what both report; a stopped one reports its state only; `--output`
 * writes the text for node_exporter's textfile collector.
 */
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { inside, json, makeEnv, newId, ok, vpsctl, type Env } from './harness.js';

const N = 10 + (process.pid % 200);
const tag = (process.pid % 100000).toString(36);
const BR = `vpm${tag}`;
const TABLE = `vpsctl_m${tag}`;
const base = makeEnv();
const e: Env = { ...base, env: { ...base.env, VPSCTL_BRIDGE: BR, VPSCTL_SUBNET: `10.234.${N}.1/24`, VPSCTL_SUBNET6: `fd00:234:${N.toString(16)}::1/64`, VPSCTL_NAT: 'false', VPSCTL_NFT_TABLE: TABLE } };
const up = newId('met');
const down = newId('met');
const MiB = 1024 ** 2;

interface Stats {
  id: string;
  memory_limit: number | null;
  pids_limit: number | null;
  net_rx_packets: number | null;
  net_tx_packets: number | null;
  net_rx_bytes: number | null;
  oom_kills: number | null;
  cpu_seconds: number | null;
}

/** The samples of a metrics text: series (name and labels) to value. */
function samples(text: string): Map<string, number> {
  return new Map(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1))]));
}

beforeAll(async () => {
  await ok(e, ['create', up, '--template', 'debian-12', '--disk', '2G', '--memory', '256M', '--pids', '300', '--ipadd', `10.234.${N}.10`]);
  await ok(e, ['create', down, '--template', 'debian-12', '--disk', '2G']);
  await ok(e, ['start', up, '--wait', '--timeout', '180s']);
}, 600_000);

afterAll(async () => {
  for (const id of [up, down]) await vpsctl(e, ['destroy', id, '--force']);
  await execa('ip', ['link', 'del', BR], { reject: false });
  await execa('nft', ['delete', 'table', 'bridge', TABLE], { reject: false });
  await execa('nft', ['delete', 'table', 'inet', TABLE], { reject: false });
});

describe('metrics and stats of a running container with an address', () => {
  it("count the container's own traffic: 20 pings out and their 20 answers in", async () => {
    const before = samples(await ok(e, ['metrics']));
    const rx0 = before.get(`vpsctl_container_network_receive_packets_total{id="${up}"}`)!;
    const tx0 = before.get(`vpsctl_container_network_transmit_packets_total{id="${up}"}`)!;
    expect([rx0, tx0].every(Number.isFinite)).toBe(true);
    expect(await inside(e, up, ['sh', '-c', `ping -c 20 -i 0.05 -q 10.234.${N}.1 >/dev/null && echo ok`])).toBe('ok');
    const after = samples(await ok(e, ['metrics']));
    expect(after.get(`vpsctl_container_network_transmit_packets_total{id="${up}"}`)! - tx0).toBeGreaterThanOrEqual(20);
    expect(after.get(`vpsctl_container_network_receive_packets_total{id="${up}"}`)! - rx0).toBeGreaterThanOrEqual(20);
    const [st] = await json<Stats[]>(e, ['stats', up, '--interval', '100']);
    expect(st.net_tx_packets! - tx0).toBeGreaterThanOrEqual(20);
    expect(st.net_rx_bytes).toBeGreaterThan(20 * 84);
  });

  it('agree with stats --json on limits, and give CPU seconds, tasks and OOM kills', async () => {
    const m = samples(await ok(e, ['metrics']));
    const [st] = await json<Stats[]>(e, ['stats', up, '--interval', '100']);
    expect(m.get(`vpsctl_container_running{id="${up}"}`)).toBe(1);
    expect(m.get(`vpsctl_container_memory_limit_bytes{id="${up}"}`)).toBe(256 * MiB);
    expect(st.memory_limit).toBe(256 * MiB);
    expect(m.get(`vpsctl_container_tasks_limit{id="${up}"}`)).toBe(300);
    expect(st.pids_limit).toBe(300);
    expect(m.get(`vpsctl_container_tasks{id="${up}"}`)).toBeGreaterThan(0);
    expect(m.get(`vpsctl_container_cpu_seconds_total{id="${up}"}`)).toBeGreaterThan(0);
    expect(st.cpu_seconds).toBeGreaterThan(0);
    expect(m.get(`vpsctl_container_oom_kills_total{id="${up}"}`)).toBe(0);
    expect(st.oom_kills).toBe(0);
    expect(m.get(`vpsctl_container_disk_size_bytes{id="${up}"}`)).toBe(2 * 1024 ** 3);
    expect(m.get(`vpsctl_container_disk_used_bytes{id="${up}"}`)).toBeGreaterThan(100 * MiB);
  });

  it('a stopped container has its state and size, and no use', async () => {
    const m = samples(await ok(e, ['metrics']));
    expect(m.get(`vpsctl_container_running{id="${down}"}`)).toBe(0);
    expect(m.get(`vpsctl_container_disk_size_bytes{id="${down}"}`)).toBe(2 * 1024 ** 3);
    expect([...m.keys()].filter((k) => k.includes(`id="${down}"`) && !/running|info|disk_size/.test(k))).toEqual([]);
    expect(m.get('vpsctl_containers{state="running"}')).toBe(1);
    expect(m.get('vpsctl_containers{state="stopped"}')).toBe(1);
    expect(m.get('vpsctl_pool_size_bytes')).toBeGreaterThan(0);
  });

  it('--output writes the same text atomically, readable by the collector; a bad path is exit 2', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vpsctl-prom-'));
    try {
      const file = path.join(dir, 'vpsctl.prom');
      await ok(e, ['metrics', '--output', file]);
      expect(statSync(file).mode & 0o777).toBe(0o644);
      expect(samples(readFileSync(file, 'utf8')).get(`vpsctl_container_running{id="${up}"}`)).toBe(1);
      const bad = await vpsctl(e, ['metrics', '--output', path.join(dir, 'no', 'such', 'dir.prom')]);
      expect([bad.exitCode, bad.stderr]).toEqual([2, expect.stringContaining('cannot write the metrics')]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
