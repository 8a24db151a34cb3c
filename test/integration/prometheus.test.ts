/**
 * A real Prometheus (Debian's package; bin/setup installs it from bin/apt-packages-tests)
 * scrapes the daemon's /metrics over TCP (metrics_listen), and its query API returns the test
 * container's memory and network series with the values `stats --json` reports.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BIN, inside, json, makeEnv, newId, ok, until, vpsctl, type Env } from './harness.js';

const N = 10 + (process.pid % 200);
const tag = (process.pid % 100000).toString(36);
const BR = `vpp${tag}`;
const TABLE = `vpsctl_p${tag}`;
const METRICS = `127.0.0.1:${20000 + ((process.pid + 7) % 20000)}`;
const PROM = `127.0.0.1:${40000 + (process.pid % 20000)}`;
const base = makeEnv();
const e: Env = {
  ...base,
  env: { ...base.env, VPSCTL_BRIDGE: BR, VPSCTL_SUBNET: `10.235.${N}.1/24`, VPSCTL_SUBNET6: `fd00:235:${N.toString(16)}::1/64`, VPSCTL_NAT: 'false', VPSCTL_NFT_TABLE: TABLE, VPSCTL_METRICS_LISTEN: METRICS },
};
const id = newId('prom');
let daemon: ResultPromise;
let prometheus: ResultPromise;

interface Stats {
  memory_limit: number;
  swap_limit: number;
  net_rx_bytes: number;
  net_tx_bytes: number;
}

/** One instant query: the sample's value, or undefined while Prometheus has none. */
async function query(expr: string): Promise<number | undefined> {
  const r = await execa('curl', ['-s', '--get', '--data-urlencode', `query=${expr}`, `http://${PROM}/api/v1/query`], { reject: false });
  try {
    const v = (JSON.parse(r.stdout) as { data: { result: { value: [number, string] }[] } }).data.result[0]?.value[1];
    return v === undefined ? undefined : Number(v);
  } catch {
    return undefined;
  }
}

beforeAll(async () => {
  if (!existsSync('/usr/bin/prometheus')) throw new Error('prometheus is not installed: bin/setup installs it (bin/apt-packages-tests)');
  await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--memory', '384M', '--ipadd', `10.235.${N}.10`]);
  await ok(e, ['start', id, '--wait', '--timeout', '180s']);
  daemon = execa(BIN, ['daemon'], { env: e.env, reject: false });
  const dir = path.join(e.root, 'prometheus');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'prometheus.yml'), `global:\n  scrape_interval: 2s\n  scrape_timeout: 2s\nscrape_configs:\n  - job_name: vpsctl\n    static_configs:\n      - targets: ['${METRICS}']\n`);
  prometheus = execa('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=${PROM}`], { reject: false, cwd: dir });
}, 600_000);

afterAll(async () => {
  for (const p of [prometheus, daemon]) {
    p?.kill('SIGTERM');
    await p;
  }
  await vpsctl(e, ['destroy', id, '--force']);
  await execa('ip', ['link', 'del', BR], { reject: false });
  await execa('nft', ['delete', 'table', 'bridge', TABLE], { reject: false });
  await execa('nft', ['delete', 'table', 'inet', TABLE], { reject: false });
});

describe('Prometheus scraping the daemon', () => {
  it("its query API returns the container's memory and network series as stats --json has them", async () => {
    expect(await inside(e, id, ['sh', '-c', `ping -c 10 -i 0.05 -q 10.235.${N}.1 >/dev/null && echo ok`])).toBe('ok');
    const sel = `{id="${id}",job="vpsctl"}`;
    // the first scrapes after the traffic; then what the counters were just before and just after the query
    await until(() => query(`vpsctl_container_memory_limit_bytes${sel}`), (v) => v !== undefined, 60_000, 500);
    await new Promise((r) => setTimeout(r, 5000));
    const before = (await json<Stats[]>(e, ['stats', id, '--interval', '100']))[0];
    await new Promise((r) => setTimeout(r, 5000)); // two scrapes at least, after `before`
    const got = {
      limit: await query(`vpsctl_container_memory_limit_bytes${sel}`),
      swap: await query(`vpsctl_container_swap_limit_bytes${sel}`),
      rx: await query(`vpsctl_container_network_receive_bytes_total${sel}`),
      tx: await query(`vpsctl_container_network_transmit_bytes_total${sel}`),
      running: await query(`vpsctl_container_running${sel}`),
    };
    const after = (await json<Stats[]>(e, ['stats', id, '--interval', '100']))[0];
    expect({ limit: got.limit, swap: got.swap, running: got.running }).toEqual({ limit: 384 * 1024 ** 2, swap: before.swap_limit, running: 1 });
    expect(before.memory_limit).toBe(384 * 1024 ** 2);
    // an idle container's counters hold still, or move only with its own background traffic
    for (const [k, v] of [['net_rx_bytes', got.rx], ['net_tx_bytes', got.tx]] as const) {
      expect([k, v! >= before[k] && v! <= after[k]]).toEqual([k, true]);
    }
    expect(got.rx).toBeGreaterThan(10 * 64); // the ten answers to the pings, at least
  }, 300_000);
});
