/**
 * The REST daemon, on its unix socket, driven by a plain HTTP client (curl --unix-socket) as a
 * control panel would: a container created (an operation), started, exec'd (stdin, binary
 * output, exit code), snapshotted, stopped and destroyed, while the CLI works on another one;
 * the same "locked" answer as the CLI; bad requests refused with nothing changed; nobody
 * outside root and the api group gets in; the event stream; /openapi.json. And what a control
 * panel needs besides: a create with an address, DNS, a password, an SSH key and a boot order;
 * PATCH of its network, identity, boot, hooks and disk; an export as an operation.
 */
import { execa, type ResultPromise } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BIN, json, makeEnv, newId, ok, until, vpsctl, type Env } from './harness.js';

const base = makeEnv();
// adm: a group every Debian host has, which the daemon's socket is shared with
// and /metrics over TCP on loopback, for a Prometheus (metrics_listen)
const METRICS = `127.0.0.1:${20000 + (process.pid % 20000)}`;
// a bridge, subnets and nftables tables of this file's own, for the panel's container
const N = 10 + (process.pid % 200);
const tag = (process.pid % 100000).toString(36);
const BR = `vpa${tag}`;
const TABLE = `vpsctl_a${tag}`;
const V4 = `10.237.${N}`;
const V6 = `fd00:237:${N.toString(16)}`;
const e: Env = {
  ...base,
  env: { ...base.env, VPSCTL_API_GROUP: 'adm', VPSCTL_METRICS_LISTEN: METRICS, VPSCTL_BRIDGE: BR, VPSCTL_SUBNET: `${V4}.1/24`, VPSCTL_SUBNET6: `${V6}::1/64`, VPSCTL_NAT: 'false', VPSCTL_NFT_TABLE: TABLE },
};
const SOCK = path.join(e.run, 'api.sock');
const viaApi = newId('api');
const viaCli = newId('cli');
const viaPanel = newId('pnl');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPanelTestKeyForTheVpsctlRestApi0000000000 panel@test';
let daemon: ResultPromise;

interface Answer {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  raw: string;
}

/** One request with curl over the socket; the body as JSON when it is. */
async function call(method: string, url: string, body?: unknown, extra: string[] = []): Promise<Answer> {
  const args = ['-s', '--unix-socket', SOCK, '-X', method, '-w', '\n%{http_code}', ...extra];
  // the body on curl's stdin: one argument may not pass 128 KiB
  if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', '@-');
  const input = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const r = await execa('curl', [...args, `http://vpsctl${url}`], { reject: false, maxBuffer: 64 * 1024 * 1024, ...(input !== undefined ? { input } : {}) });
  if (r.stdout === undefined) throw new Error(`curl: ${r.message}`);
  const cut = r.stdout.lastIndexOf('\n');
  const raw = r.stdout.slice(0, cut);
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {
    /* text or a stream */
  }
  return { status: Number(r.stdout.slice(cut + 1)), body: parsed, raw };
}

/** Waits for an operation to end and returns it. */
async function waited(op: { id: string }): Promise<{ status: string; result: any; error: any }> {
  return (await call('GET', `/1.0/operations/${op.id}/wait?timeout=300s`)).body;
}

beforeAll(async () => {
  daemon = execa(BIN, ['daemon'], { env: e.env, reject: false });
  await until(() => existsSync(SOCK), (x) => x, 30_000);
}, 60_000);

afterAll(async () => {
  daemon.kill('SIGTERM');
  await daemon;
  for (const id of [viaApi, viaCli, viaPanel]) await vpsctl(e, ['destroy', id, '--force']);
  await execa('ip', ['link', 'del', BR], { reject: false });
  await execa('nft', ['delete', 'table', 'bridge', TABLE], { reject: false });
  await execa('nft', ['delete', 'table', 'inet', TABLE], { reject: false });
});

describe('the daemon', () => {
  it('shares its socket with root and the api group only: nobody else connects', async () => {
    const st = statSync(SOCK);
    expect({ mode: (st.mode & 0o777).toString(8), uid: st.uid }).toEqual({ mode: '660', uid: 0 });
    const nobody = await execa('runuser', ['-u', 'nobody', '--', 'curl', '-sS', '--unix-socket', SOCK, 'http://vpsctl/1.0/containers'], { reject: false });
    expect(nobody.exitCode).not.toBe(0);
    expect(nobody.stderr).toMatch(/Permission denied|Couldn't connect/);
  });

  it('runs a container through its life over HTTP while the CLI works on another', async () => {
    // both at once: the API's create (an operation) and the CLI's
    const [op, cli] = await Promise.all([call('POST', '/1.0/containers', { id: viaApi, template: 'debian-12', disk: '2G', limits: { memory: '512M' } }), ok(e, ['create', viaCli, '--template', 'debian-12', '--disk', '2G'])]);
    expect(cli).toMatch(new RegExp(`created container ${viaCli}`));
    expect(op.status).toBe(202);
    const done = await waited(op.body);
    expect(done).toMatchObject({ status: 'done', result: { id: viaApi, state: 'stopped', limits: { memory: 512 * 1024 ** 2 } } });
    // its answer is the CLI's --json object
    expect((await call('GET', `/1.0/containers/${viaApi}`)).body).toEqual(await json(e, ['status', viaApi]));

    const [started] = await Promise.all([call('POST', `/1.0/containers/${viaApi}/start`, { wait: true, timeout: '180s' }), ok(e, ['start', viaCli])]);
    expect(started).toMatchObject({ status: 200, body: { id: viaApi, state: 'running', system: expect.stringMatching(/running|degraded/) } });

    // exec: stdin in, binary out, stdout and stderr apart, the exit code
    const data = randomBytes(300_000);
    const ex = await call('POST', `/1.0/containers/${viaApi}/exec`, { command: ['sh', '-c', 'cat; echo oops >&2; exit 7'], stdin: data.toString('base64') });
    expect(ex.status).toBe(200);
    const lines = ex.raw.trim().split('\n').map((l) => JSON.parse(l) as { stream?: string; data?: string; exit_code?: number });
    const out = Buffer.concat(lines.filter((l) => l.stream === 'stdout').map((l) => Buffer.from(l.data!, 'base64')));
    expect(createHash('sha256').update(out).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(Buffer.concat(lines.filter((l) => l.stream === 'stderr').map((l) => Buffer.from(l.data!, 'base64'))).toString()).toBe('oops\n');
    expect(lines[lines.length - 1]).toEqual({ exit_code: 7 });

    const snap = await call('POST', `/1.0/containers/${viaApi}/snapshots`, { name: 'first' });
    expect(snap.status).toBe(202);
    expect(await waited(snap.body)).toMatchObject({ status: 'done', result: { id: viaApi, name: 'first' } });
    expect((await call('GET', `/1.0/containers/${viaApi}/snapshots`)).body.map((s: { name: string }) => s.name)).toEqual(['first']);

    expect(await call('POST', `/1.0/containers/${viaApi}/stop`, {})).toMatchObject({ status: 200, body: { id: viaApi, state: 'stopped', how: 'clean' } });
    expect(await call('DELETE', `/1.0/containers/${viaApi}`)).toMatchObject({ status: 200, body: { id: viaApi, destroyed: true } });
    expect((await call('GET', `/1.0/containers/${viaApi}`)).status).toBe(404);
    // the CLI's container lived on beside it
    expect((await json<{ state: string }>(e, ['status', viaCli])).state).toBe('running');
    // and the log says who did what
    const sources = (await json<{ kind: string; source: string }[]>(e, ['events', viaApi])).map((v) => `${v.kind}/${v.source}`);
    expect(sources).toEqual(['created/api', 'started/api', 'snapshot-created/api', 'stopped/api', 'destroyed/api']);
  }, 600_000);

  it('a container the CLI has locked gets the same answer as the CLI', async () => {
    const lock = path.join(e.run, '.locks', `${viaCli}.lock`);
    // flock(1) holds the lock the CLI takes, in a process group of its own that we kill whole
    const holder = execa('flock', ['-o', lock, 'sleep', '30'], { reject: false, detached: true, stdio: 'ignore' });
    await until(() => execa('flock', ['-n', lock, 'true'], { reject: false }), (r) => r.exitCode !== 0, 10_000, 100);
    const cli = await vpsctl(e, ['stop', viaCli, '--json']);
    const api = await call('POST', `/1.0/containers/${viaCli}/stop`, {});
    process.kill(-holder.pid!, 'SIGKILL');
    await holder;
    expect(cli.exitCode).toBe(4);
    expect(api.status).toBe(409);
    expect(api.body).toEqual(JSON.parse(cli.stdout));
    expect(api.body.error.code).toBe('LOCKED');
  });

  it('refuses bad requests clearly, and they change nothing', async () => {
    const before = await json(e, ['list']);
    const bad = [
      await call('POST', `/1.0/containers/${viaCli}/stop`, '{"force": tru'),
      await call('POST', `/1.0/containers/${viaCli}/stop`, { force: true, bogus: 1 }),
      await call('POST', '/1.0/containers', { id: 'x', template: 'debian-12', disk: 'a'.repeat(300) }),
      await call('POST', `/1.0/containers/${viaCli}/stop`, `{"pad":"${'x'.repeat(10 * 1024 * 1024)}"}`),
      await call('DELETE', '/1.0/containers/..%2Fx'),
      await call('GET', '/1.0/nothing-here'),
    ];
    expect(bad.map((b) => b.status)).toEqual([400, 400, 400, 413, 400, 404]);
    expect(bad[1].body.error.message).toBe('unknown field "bogus"');
    expect(bad[2].body.error.message).toMatch(/body\.disk must NOT have more than 256 characters/);
    expect(bad[4].body.error.message).toMatch(/invalid container id "..\/x"/);
    for (const b of bad) expect(b.body.error).toMatchObject({ code: expect.any(String), exitCode: expect.any(Number), message: expect.any(String) });
    expect(await json(e, ['list'])).toEqual(before);
  });

  it('streams events as they happen', async () => {
    const stream = execa('curl', ['-sN', '--unix-socket', SOCK, `http://vpsctl/1.0/events?follow=true&id=${viaCli}&kind=stopped`], { reject: false, buffer: false });
    let got = '';
    stream.stdout!.on('data', (b: Buffer) => (got += b.toString()));
    await until(() => got, (g) => g.startsWith(': vpsctl events'), 10_000, 50);
    await ok(e, ['stop', viaCli]);
    await until(() => got, (g) => /event: stopped\ndata: /.test(g), 30_000, 100);
    stream.kill('SIGTERM');
    await stream;
    const ev = JSON.parse(/data: (.*)/.exec(got)![1]) as { id: string; source: string; details: { reason: string } };
    expect(ev).toMatchObject({ id: viaCli, kind: 'stopped', source: 'cli', details: { reason: 'stop' } });
  });

  it('describes itself: every route in /openapi.json', async () => {
    const doc = (await call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    expect(doc.paths['/1.0/containers/{id}/exec']).toHaveProperty('post.requestBody');
    expect(Object.keys(doc.paths).length).toBeGreaterThan(15);
    const metrics = await call('GET', '/metrics');
    expect(metrics.raw).toMatch(new RegExp(`vpsctl_container_running\\{id="${viaCli}"\\} 0`));
    // the same text over TCP, where a Prometheus scrapes it, with its content type
    const tcp = await execa('curl', ['-s', '-D', '-', `http://${METRICS}/metrics`], { reject: false });
    expect(tcp.stdout).toMatch(/^content-type: text\/plain; version=0\.0\.4/im);
    expect(tcp.stdout).toMatch(new RegExp(`vpsctl_container_running\\{id="${viaCli}"\\} 0`));
    expect((await execa('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${METRICS}/1.0/containers`], { reject: false })).stdout).toBe('404');
  });
});

describe('what a control panel needs besides: no CLI at all', () => {
  const inside = async (cmd: string[]): Promise<string> => {
    const r = await call('POST', `/1.0/containers/${viaPanel}/exec`, { command: cmd });
    const lines = r.raw.trim().split('\n').map((l) => JSON.parse(l) as { stream?: string; data?: string });
    return Buffer.concat(lines.filter((l) => l.stream === 'stdout').map((l) => Buffer.from(l.data!, 'base64'))).toString().trim();
  };

  it('creates a container with an address, a bandwidth cap, DNS, a password, an SSH key and a boot order', async () => {
    const op = await call('POST', '/1.0/containers', {
      id: viaPanel,
      template: 'debian-12',
      disk: '2G',
      hostname: 'panel-1.example.net',
      limits: { memory: '256M' },
      network: { ipadd: [`${V4}.10`, `${V6}::10`], rate: '20mbit/5mbit' },
      nameservers: ['192.0.2.53'],
      searchdomains: ['example.net'],
      userpasswd: ['root:s3cret-Pass'],
      ssh_keys: [{ keys: [KEY] }],
      onboot: true,
      bootorder: 7,
    });
    expect(op.status).toBe(202);
    const done = await waited(op.body);
    expect(done).toMatchObject({ status: 'done', result: { id: viaPanel, hostname: 'panel-1.example.net', onboot: true, bootorder: 7, addresses: [`${V4}.10/24`, `${V6}::10/64`], network: { mode: 'bridged', bridge: BR } } });
    expect((await call('GET', `/1.0/containers/${viaPanel}`)).body).toEqual(await json(e, ['status', viaPanel]));
    const cfg = readFileSync(path.join(e.root, 'containers', viaPanel, 'config.yaml'), 'utf8');
    expect(cfg).toMatch(/rate:/);

    expect(await call('POST', `/1.0/containers/${viaPanel}/start`, { wait: true, timeout: '180s' })).toMatchObject({ status: 200, body: { state: 'running' } });
    expect(await inside(['cat', '/etc/hostname'])).toBe('panel-1.example.net');
    const resolv = await inside(['cat', '/etc/resolv.conf']);
    expect(resolv).toMatch(/^nameserver 192\.0\.2\.53$/m);
    expect(resolv).toMatch(/^search example\.net$/m);
    expect(await inside(['cat', '/root/.ssh/authorized_keys'])).toContain(KEY);
    expect(await inside(['sh', '-c', 'grep "^root:" /etc/shadow | cut -d: -f2 | cut -c1-3'])).toBe('$6$');
    expect(await inside(['ip', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain(`${V4}.10/24`);
  }, 600_000);

  it('PATCH network changes its addresses live; PATCH identity its hostname and DNS', async () => {
    const net = await call('PATCH', `/1.0/containers/${viaPanel}/network`, { ipadd: [`${V4}.11`], ipdel: [`${V4}.10`], rate: 'none' });
    expect(net).toMatchObject({ status: 200, body: { id: viaPanel, live: true, network: { addresses: [`${V6}::10/64`, `${V4}.11/24`] } } });
    const addrs = await inside(['ip', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(addrs).toContain(`${V4}.11/24`);
    expect(addrs).not.toContain(`${V4}.10/`);
    expect(readFileSync(path.join(e.root, 'containers', viaPanel, 'config.yaml'), 'utf8')).not.toMatch(/rate:/);
    // an address refused: 400, and nothing changed
    const bad = await call('PATCH', `/1.0/containers/${viaPanel}/network`, { ipadd: [`${V4}.1`] });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/bridge .*own address/);

    const who = await call('PATCH', `/1.0/containers/${viaPanel}/identity`, { hostname: 'panel-2', nameservers: ['192.0.2.54'] });
    expect(who).toMatchObject({ status: 200, body: { id: viaPanel, live: true } });
    expect(await inside(['hostname'])).toBe('panel-2');
    expect(await inside(['cat', '/etc/hostname'])).toBe('panel-2');
    expect(await inside(['cat', '/etc/resolv.conf'])).toContain('192.0.2.54');
    expect((await json<{ hostname: string; addresses: string[] }>(e, ['status', viaPanel])).hostname).toBe('panel-2');
  }, 300_000);

  it('PATCH boot and hooks change its config; a query it does not take is refused', async () => {
    expect(await call('PATCH', `/1.0/containers/${viaPanel}/boot`, { onboot: false })).toMatchObject({ status: 200, body: { id: viaPanel, onboot: false, bootorder: 7, changed: true } });
    expect((await json<{ onboot: boolean }>(e, ['status', viaPanel])).onboot).toBe(false);
    const hook = path.join(e.root, 'panel-hooks', 'post-stop');
    mkdirSync(path.dirname(hook), { recursive: true });
    writeFileSync(hook, '#!/bin/sh\nexit 0\n');
    chmodSync(hook, 0o755);
    expect(await call('PATCH', `/1.0/containers/${viaPanel}/hooks`, { hooks: { 'post-stop': hook } })).toMatchObject({ status: 200, body: { hooks: { 'post-stop': hook }, changed: true } });
    expect(readFileSync(path.join(e.root, 'containers', viaPanel, 'config.yaml'), 'utf8')).toContain(`hooks:\n  post-stop: ${hook}\n`);
    expect(await call('PATCH', `/1.0/containers/${viaPanel}/hooks`, { hooks: { 'post-stop': null } })).toMatchObject({ status: 200, body: { hooks: {}, changed: true } });
    expect(readFileSync(path.join(e.root, 'containers', viaPanel, 'config.yaml'), 'utf8')).not.toContain('hooks:');
    const q = await call('GET', '/1.0/containers?bogus=1');
    expect(q.status).toBe(400);
    expect(q.body.error.message).toBe('unknown query parameter "bogus"');
  });

  it('PATCH disk grows its disk and logs it; export is an operation that writes the archive', async () => {
    expect(await call('POST', `/1.0/containers/${viaPanel}/stop`, {})).toMatchObject({ status: 200, body: { state: 'stopped' } });
    const grown = await call('PATCH', `/1.0/containers/${viaPanel}/disk`, { size: '3G' });
    expect(grown).toMatchObject({ status: 200, body: { id: viaPanel, disk: 3 * 1024 ** 3, previous: 2 * 1024 ** 3, online: false, changed: true } });
    expect((await json<{ disk: number }>(e, ['status', viaPanel])).disk).toBe(3 * 1024 ** 3);

    const file = path.join(e.root, `${viaPanel}.vps.tar.zst`);
    const op = await call('POST', `/1.0/containers/${viaPanel}/export`, { file });
    expect(op.status).toBe(202);
    expect(await waited(op.body)).toMatchObject({ status: 'done', result: { id: viaPanel, file, snapshots: [], snapshot_images: false } });
    expect(statSync(file).size).toBeGreaterThan(0);
    // the same file again: refused unless force, as the CLI's export
    expect(await waited((await call('POST', `/1.0/containers/${viaPanel}/export`, { file })).body)).toMatchObject({ status: 'failed', error: { code: 'WRONG_STATE' } });
    expect(await waited((await call('POST', `/1.0/containers/${viaPanel}/export`, { file, force: true })).body)).toMatchObject({ status: 'done' });

    const evs = (await json<{ kind: string; source: string; details: Record<string, unknown> }[]>(e, ['events', viaPanel])).map((v) => `${v.kind}/${v.source}`);
    expect(evs).toEqual(['created/api', 'started/api', 'address-added/api', 'address-removed/api', 'stopped/api', 'limits-changed/api']);
    const resized = (await json<{ kind: string; details: Record<string, unknown> }[]>(e, ['events', viaPanel, '--kind', 'limits-changed']))[0];
    expect(resized.details).toEqual({ disk: 3 * 1024 ** 3, previous: 2 * 1024 ** 3, online: false });
  }, 600_000);
});
