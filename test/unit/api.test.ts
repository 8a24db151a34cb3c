/** The REST API's routes, schemas and OpenAPI description (src/api), through fastify's inject. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { request as httpRequest } from 'node:http';
import { buildServer } from '../../src/api/server.js';
import { ROUTES } from '../../src/api/routes.js';

let dir: string;
let app: FastifyInstance;
let sock: string;

interface Reply {
  statusCode: number;
  json: () => any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** A request over the server's unix socket, as a client makes it (jest cannot load fastify's inject). */
function inject(o: { method: string; url: string; payload?: string; headers?: Record<string, string> }): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath: sock, method: o.method, path: o.url, headers: o.headers }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, json: () => JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(o.payload);
  });
}
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'vpsctl-api-'));
  const env = { VPSCTL_ROOT: path.join(dir, 'root'), VPSCTL_RUN_DIR: path.join(dir, 'run'), VPSCTL_CONFIG: path.join(dir, 'none.yaml') };
  app = buildServer({ opsDir: path.join(dir, 'ops'), env });
  sock = path.join(dir, 'api.sock');
  await app.listen({ path: sock });
});
afterAll(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the API description', () => {
  it('/openapi.json holds every route the server answers, and each of its paths is a route', async () => {
    const doc = (await inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
    for (const r of ROUTES) expect(documented).toContain(`${r.method} ${r.url}`);
    for (const d of documented) {
      const [method, url] = d.split(' ');
      expect(app.hasRoute({ method: method as 'GET', url })).toBe(true);
    }
    // a route the server has but the description lacks is caught by the inverse: none is left over
    expect(documented.length).toBe(ROUTES.length + 2);
  });

  it('refuses unknown fields, wrong types and malformed JSON with the CLI error object (exit code 2)', async () => {
    const post = (url: string, payload: string) => inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } });
    const unknown = await post('/1.0/containers/101/stop', '{"force":true,"forse":true}');
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toEqual({ error: { code: 'INVALID', exitCode: 2, message: 'unknown field "forse"', hint: 'see GET /openapi.json' } });
    const wrongType = await post('/1.0/containers/101/stop', '{"force":"yes"}');
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json().error.message).toBe('body.force must be boolean');
    expect((await post('/1.0/containers/101/stop', '{"force":')).statusCode).toBe(400);
    const missing = await post('/1.0/containers', '{"id":"101"}');
    expect(missing.json().error.message).toMatch(/must have required property 'template'/);
    const id = await inject({ method: 'GET', url: '/1.0/containers/Bad_Id' });
    expect(id.statusCode).toBe(400);
    expect(id.json().error.message).toMatch(/invalid container id "Bad_Id"/);
    const route = await inject({ method: 'PUT', url: '/1.0/containers' });
    expect(route.statusCode).toBe(404);
    expect(route.json().error.code).toBe('NOT_FOUND');
  });

  it('every object in every request schema refuses unknown fields, and so does every query', () => {
    const open: string[] = [];
    const walk = (schema: unknown, where: string): void => {
      if (!schema || typeof schema !== 'object') return;
      const o = schema as Record<string, unknown>;
      if (o.type === 'object' && o.additionalProperties !== false) open.push(where);
      for (const [k, v] of Object.entries(o)) {
        if (k === 'properties') for (const [p, ps] of Object.entries(v as Record<string, unknown>)) walk(ps, `${where}.${p}`);
        else if (k === 'items') walk(v, `${where}[]`);
        else if (k === 'anyOf' || k === 'oneOf' || k === 'allOf') (v as unknown[]).forEach((x, i) => walk(x, `${where}|${i}`));
      }
    };
    for (const r of ROUTES) {
      walk(r.body, `${r.method} ${r.url} body`);
      walk(r.query, `${r.method} ${r.url} query`);
    }
    expect(open).toEqual([]);
  });

  it('a query parameter a route does not take is refused (400), on every route', async () => {
    for (const url of ['/1.0/containers?bogus=1', '/1.0/containers/101/stats?bogus=1', '/1.0/operations?bogus=1', '/openapi.json?bogus=1', '/1.0?bogus=1']) {
      const r = await inject({ method: 'GET', url });
      expect([url, r.statusCode, r.json().error]).toEqual([url, 400, { code: 'INVALID', exitCode: 2, message: 'unknown query parameter "bogus"', hint: 'see GET /openapi.json' }]);
    }
    expect((await inject({ method: 'DELETE', url: '/1.0/containers/101?force=true&bogus=1' })).statusCode).toBe(400);
    expect((await inject({ method: 'GET', url: '/1.0/events?id=101&bogus=1' })).statusCode).toBe(400);
    expect((await inject({ method: 'GET', url: '/1.0/containers' })).statusCode).toBe(200);
  });

  const send = (method: string, url: string, body: unknown) => inject({ method, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const ops = async (): Promise<number> => (await inject({ method: 'GET', url: '/1.0/operations' })).json().length;

  it("create takes the CLI's network, identity and boot: a bad value is a 400 before any operation starts", async () => {
    const before = await ops();
    const base = { id: '101', template: 'debian-12' };
    const bad: [unknown, RegExp][] = [
      [{ ...base, network: { ipadd: ['10.88.0.5'], bogus: 1 } }, /^unknown field "bogus" in network$/],
      [{ ...base, network: { ipdel: ['all'] } }, /^unknown field "ipdel" in network$/],
      [{ ...base, network: { netmode: 'venet' } }, /body\.network\.netmode must be equal to one of the allowed values/],
      [{ ...base, network: { ipadd: ['10.88.0.5'], rate: 'fast' } }, /rate/],
      [{ ...base, userpasswd: ['root'] }, /userpasswd "root" is not USER:PASSWORD/],
      [{ ...base, ssh_keys: [{ user: 'root', keys: ['# only a comment'] }] }, /no public key for root/],
      [{ ...base, ssh_keys: [{ user: 'root' }] }, /must have required property 'keys'/],
      [{ ...base, hostname: 'bad_name' }, /hostname/],
      [{ ...base, bootorder: -1 }, /body\.bootorder must be >= 0/],
      [{ ...base, onboot: 'yes' }, /body\.onboot must be boolean/],
      [{ ...base, privileged: true, shift_ids: true }, /privileged and shift_ids do not go together/],
    ];
    for (const [body, message] of bad) {
      const r = await send('POST', '/1.0/containers', body);
      expect([JSON.stringify(body), r.statusCode]).toEqual([JSON.stringify(body), 400]);
      expect(r.json().error.message).toMatch(message);
    }
    expect(await ops()).toBe(before);
  });

  it('PATCH identity, network, boot, hooks and disk check their bodies, then answer as the CLI does for a container that does not exist', async () => {
    const bad: [string, unknown, RegExp][] = [
      ['identity', {}, /must NOT have fewer than 1 properties/],
      ['identity', { hostname: 'x', ipadd: ['10.88.0.5'] }, /^unknown field "ipadd"$/],
      ['identity', { userpasswd: ['nocolon'] }, /not USER:PASSWORD/],
      ['identity', { nameservers: [] }, /^nothing to change$/],
      ['network', {}, /must NOT have fewer than 1 properties/],
      ['network', { rate: 'fast' }, /rate/],
      ['network', { hostname: 'x' }, /^unknown field "hostname"$/],
      ['boot', {}, /must NOT have fewer than 1 properties/],
      ['boot', { bootorder: 1.5 }, /must be integer/],
      ['hooks', { hooks: {} }, /must NOT have fewer than 1 properties/],
      ['hooks', { hooks: { 'pre-boot': '/usr/local/sbin/x' } }, /^unknown field "pre-boot" in hooks$/],
      ['hooks', { hooks: { 'pre-start': 'relative/x' } }, /hooks\.pre-start must be an absolute path/],
      ['hooks', { hooks: { 'pre-start': '/a/../b' } }, /absolute path/],
      ['disk', { size: '0' }, /greater than zero/],
      ['disk', { size: 'big' }, /size/],
      ['disk', { size: '10G', online: true }, /^unknown field "online"$/],
    ];
    for (const [section, body, message] of bad) {
      const r = await send('PATCH', `/1.0/containers/nosuch/${section}`, body);
      expect([section, JSON.stringify(body), r.statusCode]).toEqual([section, JSON.stringify(body), 400]);
      expect(r.json().error.message).toMatch(message);
    }
    const good: [string, unknown][] = [
      ['identity', { hostname: 'web-1.example.net', nameservers: ['192.0.2.53'], ssh_keys: [{ keys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA test'] }] }],
      ['network', { ipadd: ['10.88.0.5'], forwards: ['8080:80'], rate: '10mbit/2mbit' }],
      ['network', { ipdel: ['all'], rate: 'none' }],
      ['boot', { onboot: true, bootorder: 10 }],
      ['hooks', { hooks: { 'pre-start': '/usr/local/sbin/check-quota', 'post-stop': null } }],
      ['disk', { size: '20G', strict: true }],
    ];
    for (const [section, body] of good) {
      const r = await send('PATCH', `/1.0/containers/nosuch/${section}`, body);
      expect([section, r.statusCode, r.json().error.message]).toEqual([section, 404, 'container nosuch does not exist']);
    }
  });

  it('export is an operation: a relative file is refused at once; a container that does not exist fails the operation', async () => {
    expect((await send('POST', '/1.0/containers/nosuch/export', { file: 'backup.tar.zst' })).statusCode).toBe(400);
    expect((await send('POST', '/1.0/containers/nosuch/export', { file: '/tmp/x', bogus: true })).json().error.message).toBe('unknown field "bogus"');
    const r = await send('POST', '/1.0/containers/nosuch/export', { file: path.join(dir, 'nosuch.vps.tar.zst'), snapshots: true });
    expect(r.statusCode).toBe(202);
    const op = r.json();
    expect(op).toMatchObject({ description: `export nosuch to ${path.join(dir, 'nosuch.vps.tar.zst')}`, status: 'running' });
    const done = (await inject({ method: 'GET', url: `/1.0/operations/${op.id}/wait?timeout=10s` })).json();
    expect(done).toMatchObject({ status: 'failed', error: { code: 'NOT_FOUND', message: 'container nosuch does not exist' } });
  });

  it('a container that does not exist is 404 with the CLI message', async () => {
    const r = await inject({ method: 'GET', url: '/1.0/containers/nosuch' });
    expect(r.statusCode).toBe(404);
    expect(r.json().error).toMatchObject({ code: 'NOT_FOUND', exitCode: 3, message: 'container nosuch does not exist' });
    expect((await inject({ method: 'GET', url: '/1.0/operations/0000' })).statusCode).toBe(404);
  });
});
