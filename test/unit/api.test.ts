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

  it('a container that does not exist is 404 with the CLI message', async () => {
    const r = await inject({ method: 'GET', url: '/1.0/containers/nosuch' });
    expect(r.statusCode).toBe(404);
    expect(r.json().error).toMatchObject({ code: 'NOT_FOUND', exitCode: 3, message: 'container nosuch does not exist' });
    expect((await inject({ method: 'GET', url: '/1.0/operations/0000' })).statusCode).toBe(404);
  });
});
