import type { Route } from './routes.js';

const errorSchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, exitCode: { type: 'integer' }, message: { type: 'string' }, hint: { type: 'string' } }, required: ['code', 'exitCode', 'message'] } },
};

/** The OpenAPI 3.1 description of the routes, made from the same schemas that check requests. */
export function openapi(routes: Route[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const url = r.url.replace(/:(\w+)/g, '{$1}');
    const params = [...r.url.matchAll(/:(\w+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const query = Object.entries(((r.query as { properties?: Record<string, unknown> } | undefined)?.properties ?? {}) as Record<string, unknown>).map(([name, schema]) => ({ name, in: 'query', required: false, schema }));
    (paths[url] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } } : {}),
      responses: {
        [r.operation ? '202' : '200']: { description: r.operation ? 'an operation: poll GET /1.0/operations/{op} or wait on /1.0/operations/{op}/wait' : 'the CLI --json object' },
        default: { description: "the CLI's error object; 400 bad request, 404 no such thing, 409 locked or wrong state, 503 host not ready, 507 out of resources, 500 failed", content: { 'application/json': { schema: errorSchema } } },
      },
    };
  }
  paths['/openapi.json'] = { get: { summary: 'This description.', responses: { '200': { description: 'OpenAPI 3.1' } } } };
  paths['/1.0'] = { get: { summary: 'The API version and the daemon.', responses: { '200': { description: '{api, pid}' } } } };
  return {
    openapi: '3.1.0',
    info: { title: 'vpsctl', version: '1.0', description: 'The REST API of vpsctl daemon, on its unix socket (docs/API.md).' },
    paths,
  };
}
