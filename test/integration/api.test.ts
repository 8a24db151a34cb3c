/**
 * The REST daemon, on its unix socket, driven by a plain HTTP client (curl --unix-socket) as a
 * control panel would: a container created (an operation), started, exec'd (stdin, binary
 * output, exit code), snapshotted, stopped and destroyed, while the CLI works on another one;
 * the same "locked" answer as the CLI; bad requests refused with nothing changed; nobody
 * outside root and the api group gets in; the event stream; /openapi.json.
 */
import { execa, type ResultPromise } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { BIN, json, makeEnv, newId, ok, until, vpsctl, type Env } from './harness.js';

const base = makeEnv();
// adm: a group every Debian host has, which the daemon's socket is shared with
// and /metrics over TCP on loopback, for a Prometheus (metrics_listen)
const METRICS = `127.0.0.1:${20000 + (process.pid % 20000)}`;
const e: Env = { ...base, env: { ...base.env, VPSCTL_API_GROUP: 'adm', VPSCTL_METRICS_LISTEN: METRICS } };
const SOCK = path.join(e.run, 'api.sock');
const viaApi = newId('api');
const viaCli = newId('cli');
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
  for (const id of [viaApi, viaCli]) await vpsctl(e, ['destroy', id, '--force']);
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
