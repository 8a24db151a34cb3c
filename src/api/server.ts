import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import * as path from 'node:path';
import { ErrorCodeName, ExitCode, VpsError, hostNotReady, type ExitCodeValue } from '../base/errors.js';
import { silentProgress, type Progress } from '../base/types.js';
import { Host } from '../core/host.js';
import { openapi } from './openapi.js';
import { errorObject, Operations } from './operations.js';
import { NO_QUERY, ROUTES, type Ctx } from './routes.js';

/** The HTTP status of each exit code: the error object is the CLI's either way. */
const STATUS: Record<ExitCodeValue, number> = { 0: 200, 1: 500, 2: 400, 3: 404, 4: 409, 5: 409, 6: 503, 7: 507 };

export interface ServerOptions {
  /** The operations' directory (`<run_dir>/.operations`). */
  opsDir: string;
  /** The Host a request gets (tests pass their own environment). */
  env?: NodeJS.ProcessEnv;
  /** Requests and errors to the daemon's log (stderr). */
  log?: (line: string) => void;
}

/**
 * The REST API over the same Host the CLI uses (docs/API.md): each request gets a Host of its
 * own whose events say "api", and takes the same per-container locks as the CLI. Every body
 * and query is checked against its route's schema (unknown fields refused, 1 MiB at most but
 * for exec's stdin); errors are the CLI's error object with the HTTP status that fits.
 */
export function buildServer(opts: ServerOptions): FastifyInstance {
  const ops = new Operations(opts.opsDir);
  const app = Fastify({
    bodyLimit: 1024 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    logger: false,
  });
  app.setErrorHandler((err: FastifyError | VpsError, _req, reply) => {
    if (err instanceof VpsError) return reply.status(STATUS[err.exitCode] ?? 500).send({ error: err.toJSON() });
    const fe = err as FastifyError;
    if (fe.validation || (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)) {
      const status = fe.statusCode && fe.statusCode !== 500 ? fe.statusCode : 400;
      const message = fe.validation
        ? fe.validation.map((v) => (v.keyword === 'additionalProperties' ? `unknown ${fe.validationContext === 'querystring' ? 'query parameter' : 'field'} ${JSON.stringify((v.params as { additionalProperty?: string }).additionalProperty)}${v.instancePath ? ` in ${v.instancePath.slice(1)}` : ''}` : `${fe.validationContext ?? 'body'}${v.instancePath.replace(/\//g, '.')} ${v.message}`)).join('; ')
        : fe.message;
      return reply.status(status).send({ error: { code: ErrorCodeName[ExitCode.USAGE], exitCode: ExitCode.USAGE, message, hint: 'see GET /openapi.json' } });
    }
    opts.log?.(`error: ${fe.stack ?? fe.message}`);
    return reply.status(500).send({ error: errorObject(err) });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: { code: ErrorCodeName[ExitCode.NOT_FOUND], exitCode: ExitCode.NOT_FOUND, message: `no route ${req.method} ${req.url.split('?')[0]}`, hint: 'see GET /openapi.json' } }));
  const host = (progress: Progress = silentProgress): Host => new Host({ source: 'api', progress, env: opts.env });
  for (const r of ROUTES) {
    app.route({
      method: r.method,
      url: r.url,
      ...(r.bodyLimit ? { bodyLimit: r.bodyLimit } : {}),
      // a route without a query takes none: an unknown parameter is refused like an unknown field
      schema: { ...(r.body ? { body: r.body } : {}), querystring: r.query ?? NO_QUERY },
      handler: async (req, reply) => {
        const ctx: Ctx = { req, reply, host, ops, params: req.params as Record<string, string>, body: (req.body ?? {}) as Record<string, unknown>, query: (req.query ?? {}) as Record<string, string> };
        const out = await r.handler(ctx);
        if (reply.sent) return reply;
        if (r.operation) return reply.status(202).header('location', `/1.0/operations/${(out as { id: string }).id}`).send(out);
        return reply.send(out ?? {});
      },
    });
  }
  const doc = openapi(ROUTES);
  app.get('/openapi.json', { schema: { querystring: NO_QUERY } }, async () => doc);
  app.get('/1.0', { schema: { querystring: NO_QUERY } }, async () => ({ api: '1.0', pid: process.pid }));
  return app;
}

/**
 * Listens on the unix socket: 0660 root and `group` (or 0600 root only), so nobody else can
 * connect. A socket file left by a dead daemon is replaced; a live one is not.
 */
export async function listenUnix(app: FastifyInstance, socket: string, group?: { gid: number }): Promise<void> {
  mkdirSync(path.dirname(socket), { recursive: true, mode: 0o755 });
  if (existsSync(socket)) {
    if (await answers(socket)) throw hostNotReady(`another vpsctl daemon is listening on ${socket}`, 'stop it first (systemctl stop vpsctl-api), or give another --socket');
    unlinkSync(socket);
  }
  await app.listen({ path: socket });
  chmodSync(socket, group ? 0o660 : 0o600);
  if (group) chownSync(socket, 0, group.gid);
}

function answers(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The default socket: `<run_dir>/api.sock`. */
export const defaultSocket = (runDir: string): string => path.join(runDir, 'api.sock');

/** A group's id from /etc/group, or a clear error. */
export function groupId(name: string): number {
  const line = readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.split(':')[0] === name);
  if (!line) throw hostNotReady(`api_group ${name} does not exist`, `make it (groupadd ${name}) or change api_group in the host settings`);
  return Number(line.split(':')[2]);
}

/** Only GET /metrics, for a Prometheus on the network (`metrics_listen`). */
export async function listenMetrics(address: string, env?: NodeJS.ProcessEnv): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => {
    reply.type('text/plain; version=0.0.4; charset=utf-8');
    return new Host({ source: 'api', env }).metrics();
  });
  const i = address.lastIndexOf(':');
  await app.listen({ host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) });
  return app;
}
