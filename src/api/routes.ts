import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalid, notFound } from '../base/errors.js';
import { parseSince, validateKinds, type EventFilter } from '../base/events.js';
import { applyDeviceFlags, parseFeatures } from '../base/devices.js';
import { applyMountFlags } from '../base/mounts.js';
import { HOOK_EVENTS, hookPath, type HookEvent } from '../base/hooks.js';
import { validateHostname, validateId } from '../base/ids.js';
import { LIMIT_KEYS, parseLimit, type LimitKey, type Limits } from '../base/limits.js';
import { parseRate } from '../base/netconfig.js';
import type { Progress } from '../base/types.js';
import { parseDuration } from '../base/units.js';
import { parseSize } from '../base/units.js';
import type { Host, Identity, NetChange } from '../core/host.js';
import type { Operations } from './operations.js';

/** What a handler gets: the request, a Host for it (source "api"), the operations. */
export interface Ctx {
  req: FastifyRequest;
  reply: FastifyReply;
  host: (progress?: Progress) => Host;
  ops: Operations;
  params: Record<string, string>;
  body: Record<string, unknown>;
  query: Record<string, string>;
}

/** One route: its schema is both the request's validation and its OpenAPI description. */
export interface Route {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  body?: Record<string, unknown>;
  query?: Record<string, unknown>;
  /** 202: the answer is an operation to poll or wait on. */
  operation?: boolean;
  /** A bigger body than the default 1 MiB (exec's stdin). */
  bodyLimit?: number;
  handler: (c: Ctx) => Promise<unknown>;
}

const str = { type: 'string', maxLength: 256 } as const;
const bool = { type: 'boolean' } as const;
const strs = { type: 'array', maxItems: 32, items: str } as const;
const obj = (properties: Record<string, unknown>, required: string[] = []): Record<string, unknown> => ({ type: 'object', additionalProperties: false, properties, ...(required.length ? { required } : {}) });
const limitsSchema = obj(Object.fromEntries(LIMIT_KEYS.map((k) => [k, { anyOf: [{ type: 'string', maxLength: 64 }, { type: 'number' }, { type: 'null' }] }])));
/** At least one field: a PATCH that names nothing is refused, as `set` with no flag is. */
const some = (schema: Record<string, unknown>): Record<string, unknown> => ({ ...schema, minProperties: 1 });
/** No query at all: `?bogus=1` is refused as an unknown field is. */
export const NO_QUERY = obj({});

/** create's network (`--ipadd`, `--netmode`, `--forward`, `--rate`); a change adds `ipdel` and `forward_del`. */
const netProps = { ipadd: strs, netmode: { type: 'string', enum: ['bridged', 'routed', 'none'] }, forwards: strs, rate: { type: 'string', maxLength: 64 } };
const netChangeProps = { ...netProps, ipdel: strs, forward_del: strs };
/** What create and `set` write into the guest besides its network: the CLI's --nameserver, --searchdomain, --userpasswd; SSH keys as text (the CLI reads files). */
const identityProps = {
  nameservers: strs,
  searchdomains: strs,
  userpasswd: { type: 'array', maxItems: 32, items: { type: 'string', maxLength: 4096 } },
  ssh_keys: { type: 'array', maxItems: 32, items: obj({ user: str, keys: { type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', maxLength: 16384 } } }, ['keys']) },
};
const bootProps = { onboot: bool, bootorder: { type: 'integer', minimum: 0, maximum: 1_000_000 } };
const hooksSchema = some(obj(Object.fromEntries(HOOK_EVENTS.map((e) => [e, { anyOf: [{ type: 'string', maxLength: 1024 }, { type: 'null' }] }]))));

const id = (c: Ctx): string => validateId(c.params.id);
const ms = (v: unknown, what: string): number | undefined => (v === undefined ? undefined : parseDuration(String(v), what));

/** Limits as the CLI's flags take them (`"512M"`, `1.5`, `null` for none). */
function limitsFrom(doc: unknown): Limits {
  const out: Limits = {};
  for (const [k, v] of Object.entries((doc ?? {}) as Record<string, unknown>)) {
    (out as Record<string, unknown>)[k] = v === null ? parseLimit(k as LimitKey, 'none') : parseLimit(k as LimitKey, String(v));
  }
  return out;
}

/** A network change as `networkFromFlags` makes it from the CLI's flags (undefined: none asked). */
function netFrom(doc: unknown): NetChange | undefined {
  if (doc === undefined) return undefined;
  const d = doc as { ipadd?: string[]; ipdel?: string[]; netmode?: NetChange['mode']; forwards?: string[]; forward_del?: string[]; rate?: string };
  const c: NetChange = {};
  if (d.netmode) c.mode = d.netmode;
  if (d.ipadd?.length) c.add = d.ipadd;
  if (d.ipdel?.length) c.del = d.ipdel;
  if (d.forwards?.length) c.forwards = d.forwards;
  if (d.forward_del?.length) c.forwardDel = d.forward_del;
  if (d.rate !== undefined) c.rate = parseRate(d.rate);
  return Object.keys(c).length ? c : undefined;
}

/** The identity as `identityFromFlags` makes it; the keys come as text, one public key a line. */
function identityFrom(b: Record<string, unknown>): Identity {
  const out: Identity = {};
  const list = (k: string): string[] => (b[k] as string[] | undefined) ?? [];
  if (list('nameservers').length) out.nameservers = list('nameservers');
  if (list('searchdomains').length) out.searchDomains = list('searchdomains');
  if (list('userpasswd').length) {
    out.users = list('userpasswd').map((up) => {
      const i = up.indexOf(':');
      if (i <= 0) throw invalid(`userpasswd ${JSON.stringify(up.slice(0, 40))} is not USER:PASSWORD`);
      return { name: up.slice(0, i), password: up.slice(i + 1) };
    });
  }
  const keys = (b.ssh_keys as { user?: string; keys: string[] }[] | undefined) ?? [];
  if (keys.length) {
    out.sshKeys = keys.map((k) => ({ user: k.user ?? 'root', keys: k.keys.flatMap((t) => t.split('\n')).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')) }));
    const empty = out.sshKeys.find((k) => !k.keys.length);
    if (empty) throw invalid(`ssh_keys: no public key for ${empty.user}`);
  }
  return out;
}

const hostnameFrom = (v: unknown): string | undefined => (v === undefined ? undefined : validateHostname(String(v)));

export const ROUTES: Route[] = [
  {
    method: 'GET',
    url: '/1.0/containers',
    summary: 'Every container and its state (vpsctl list --json).',
    handler: (c) => c.host().list(),
  },
  {
    method: 'POST',
    url: '/1.0/containers',
    summary: 'Create a container from a template (vpsctl create); an operation whose result is its status.',
    body: obj(
      { id: str, template: str, disk: str, hostname: str, privileged: bool, shift_ids: bool, limits: limitsSchema, strict: bool, features: str, devices: strs, mounts: strs, network: obj(netProps), ...identityProps, ...bootProps },
      ['id', 'template'],
    ),
    operation: true,
    handler: async (c) => {
      const b = c.body;
      const cid = validateId(String(b.id));
      if (b.privileged && b.shift_ids) throw invalid('privileged and shift_ids do not go together', 'a privileged container has no id range to shift into');
      // everything is parsed before the operation starts: a bad value is a 400, not a failed operation
      const opts = {
        template: String(b.template),
        disk: b.disk === undefined ? undefined : parseSize(String(b.disk)),
        hostname: hostnameFrom(b.hostname),
        privileged: !!b.privileged,
        shiftIds: !!b.shift_ids,
        limits: limitsFrom(b.limits),
        strict: !!b.strict,
        identity: identityFrom(b),
        network: netFrom(b.network),
        ...(b.onboot !== undefined ? { onboot: !!b.onboot } : {}),
        ...(b.bootorder !== undefined ? { bootorder: b.bootorder as number } : {}),
        ...(b.features !== undefined ? { features: parseFeatures(String(b.features)) } : {}),
        ...(b.devices !== undefined ? { devices: applyDeviceFlags(b.devices as string[]) } : {}),
        ...(b.mounts !== undefined ? { mounts: applyMountFlags(b.mounts as string[]) } : {}),
      };
      return c.ops.start(`create ${cid}`, (p) => c.host(p).create(cid, opts));
    },
  },
  {
    method: 'GET',
    url: '/1.0/containers/:id',
    summary: 'One container (vpsctl status --json).',
    handler: (c) => c.host().status(id(c)),
  },
  {
    method: 'DELETE',
    url: '/1.0/containers/:id',
    summary: 'Destroy a container (vpsctl destroy); ?force=true stops a running one first.',
    query: obj({ force: { type: 'string', enum: ['true', 'false'] } }),
    handler: (c) => c.host().destroy(id(c), { force: c.query.force === 'true' }),
  },
  {
    method: 'POST',
    url: '/1.0/containers/:id/start',
    summary: 'Start it (vpsctl start); wait: until systemd is up.',
    body: obj({ wait: bool, timeout: str }),
    handler: async (c) => {
      const h = c.host();
      const cid = id(c);
      const r = await h.start(cid);
      if (c.body.wait) return { ...r, system: await h.waitSystemRunning(cid, ms(c.body.timeout, 'timeout') ?? 120_000) };
      return r;
    },
  },
  {
    method: 'POST',
    url: '/1.0/containers/:id/stop',
    summary: 'Stop it cleanly, killed after timeout (vpsctl stop); force: kill at once.',
    body: obj({ force: bool, timeout: str }),
    handler: (c) => c.host().stop(id(c), { force: !!c.body.force, timeoutMs: ms(c.body.timeout, 'timeout') }),
  },
  {
    method: 'POST',
    url: '/1.0/containers/:id/restart',
    summary: 'Stop and start it (vpsctl restart).',
    body: obj({ timeout: str }),
    handler: (c) => c.host().restart(id(c), { timeoutMs: ms(c.body.timeout, 'timeout') }),
  },
  {
    method: 'PATCH',
    url: '/1.0/containers/:id/limits',
    summary: 'Change its limits, live when it runs (vpsctl set --memory ... [--save]).',
    body: obj({ limits: limitsSchema, save: bool, strict: bool }, ['limits']),
    handler: (c) => c.host().resources.set(id(c), limitsFrom(c.body.limits), { save: !!c.body.save, strict: !!c.body.strict }),
  },
  {
    method: 'PATCH',
    url: '/1.0/containers/:id/devices',
    summary: 'Change its features and passed-through devices, given at its next start (vpsctl set --features --device).',
    body: obj({ features: str, devices: strs }),
    handler: (c) => c.host().setDevices(id(c), { features: c.body.features as string | undefined, devices: c.body.devices as string[] | undefined }),
  },
  {
    method: 'PATCH',
    url: '/1.0/containers/:id/mounts',
    summary: 'Change the host directories bound inside, given at its next start (vpsctl set --mount).',
    body: obj({ mounts: strs }, ['mounts']),
    handler: (c) => c.host().setMounts(id(c), c.body.mounts as string[]),
  },
  {
    method: 'PATCH',
    url: '/1.0/containers/:id/identity',
    summary: "Change its hostname, DNS, passwords and root's (or a user's) SSH keys, live when it runs (vpsctl set --hostname --nameserver --searchdomain --userpasswd --ssh-key).",
    body: some(obj({ hostname: str, ...identityProps })),
    handler: async (c) => {
      const cid = id(c);
      const change = { ...identityFrom(c.body), ...(c.body.hostname !== undefined ? { hostname: hostnameFrom(c.body.hostname) } : {}) };
      if (!Object.keys(change).length) throw invalid('nothing to change', 'give hostname, nameservers, searchdomains, userpasswd or ssh_keys with a value');
      return c.host().setIdentity(cid, change);
    },
  },
  {
    method: 'PATCH',
    url: '/1.0/containers/:id/network',
    summary: 'Change its addresses, network mode, port forwards and bandwidth caps, saved and applied at once when it runs (vpsctl set --ipadd --ipdel --netmode --forward --forward-del --rate).',
    body: some(obj(netChangeProps)),
    handler: async (c) => {
      const cid = id(c);
      const net = netFrom(c.body);
      if (!net) throw invalid('nothing to change', 'give ipadd, ipdel, netmode, forwards, forward_del or rate');
      return c.host().setIdentity(cid, {}, net);
    },
  },
  {
    method: 'PATCH',
    url: '/1.0/containers/:id/boot',
    summary: "Whether it starts at the host's boot, and in what order (vpsctl set --onboot --bootorder).",
    body: some(obj(bootProps)),
    handler: (c) => c.host().setBoot(id(c), { onboot: c.body.onboot as boolean | undefined, bootorder: c.body.bootorder as number | undefined }),
  },
  {
    method: 'PATCH',
    url: '/1.0/containers/:id/hooks',
    summary: "Its own hook programs, an absolute path per event, null to remove one (vpsctl set --hook EVENT=PATH).",
    body: obj({ hooks: hooksSchema }, ['hooks']),
    handler: async (c) => {
      const cid = id(c);
      const change: Partial<Record<HookEvent, string | null>> = {};
      for (const [event, file] of Object.entries(c.body.hooks as Record<HookEvent, string | null>)) change[event as HookEvent] = file === null ? null : hookPath(file, `hooks.${event}`);
      return c.host().setHooks(cid, change);
    },
  },
  {
    method: 'PATCH',
    url: '/1.0/containers/:id/disk',
    summary: 'Grow its disk (online when it runs) or shrink a stopped one (vpsctl set --disk); strict: refuse past what the pool can promise.',
    body: obj({ size: { type: 'string', maxLength: 64 }, strict: bool }, ['size']),
    handler: async (c) => {
      const cid = id(c);
      const bytes = parseSize(String(c.body.size), 'size');
      if (bytes <= 0) throw invalid(`size must be greater than zero, got ${JSON.stringify(c.body.size)}`);
      return c.host().disks.resize(cid, bytes, !!c.body.strict);
    },
  },
  {
    method: 'GET',
    url: '/1.0/containers/:id/stats',
    summary: 'Its use of CPU, memory, tasks, IO, network and disk (vpsctl stats --json).',
    handler: async (c) => (await c.host().resources.stats([id(c)]))[0],
  },
  {
    method: 'GET',
    url: '/1.0/containers/:id/snapshots',
    summary: 'Its snapshots (vpsctl snapshot list --json).',
    handler: (c) => c.host().snapshots.list(id(c)),
  },
  {
    method: 'POST',
    url: '/1.0/containers/:id/snapshots',
    summary: 'Take a snapshot (vpsctl snapshot create); an operation.',
    body: obj({ name: str, description: str, expiry: str, keep: { type: 'integer', minimum: 0, maximum: 10000 } }),
    operation: true,
    handler: async (c) => {
      const cid = id(c);
      const b = c.body;
      const opts = { name: b.name as string | undefined, description: b.description as string | undefined, expiryMs: ms(b.expiry, 'expiry'), keep: b.keep as number | undefined };
      return c.ops.start(`snapshot ${cid}`, (p) => c.host(p).snapshots.create(cid, opts));
    },
  },
  {
    method: 'POST',
    url: '/1.0/containers/:id/snapshots/:name/restore',
    summary: 'Restore a snapshot (vpsctl snapshot restore); stop: a running container is stopped and started again.',
    body: obj({ stop: bool }),
    handler: (c) => c.host().snapshots.restore(id(c), c.params.name, { stop: !!c.body.stop }),
  },
  {
    method: 'DELETE',
    url: '/1.0/containers/:id/snapshots/:name',
    summary: 'Delete a snapshot (vpsctl snapshot delete).',
    handler: (c) => c.host().snapshots.delete(id(c), c.params.name),
  },
  {
    method: 'POST',
    url: '/1.0/containers/:id/clone',
    summary: 'A new container from its disk or a snapshot (vpsctl clone); an operation.',
    body: obj({ dst: str, snapshot: str, hostname: str, strict: bool }, ['dst']),
    operation: true,
    handler: async (c) => {
      const src = id(c);
      const dst = validateId(String(c.body.dst));
      const opts = { snapshot: c.body.snapshot as string | undefined, hostname: c.body.hostname as string | undefined, strict: !!c.body.strict };
      return c.ops.start(`clone ${src} to ${dst}`, (p) => c.host(p).disks.clone(src, dst, opts));
    },
  },
  {
    method: 'POST',
    url: '/1.0/containers/:id/export',
    summary: "Write it to one archive on the host, for import elsewhere (vpsctl export); file: an absolute path on the host; an operation.",
    body: obj({ file: { type: 'string', minLength: 2, maxLength: 4096, pattern: '^/' }, snapshots: bool, force: bool }, ['file']),
    operation: true,
    handler: async (c) => {
      const cid = id(c);
      const file = String(c.body.file);
      if (/[\x00-\x1f\x7f]/.test(file)) throw invalid('file must not hold control characters');
      const opts = { snapshots: !!c.body.snapshots, force: !!c.body.force };
      return c.ops.start(`export ${cid} to ${file}`, (p) => c.host(p).disks.export(cid, file, opts));
    },
  },
  {
    method: 'POST',
    url: '/1.0/containers/:id/exec',
    summary:
      'Run a command inside (vpsctl exec): stdin from the body (base64), the answer a stream of JSON lines, {"stream":"stdout"|"stderr","data":BASE64} as the output comes, then {"exit_code":N}.',
    body: obj({ command: { type: 'array', minItems: 1, maxItems: 1024, items: { type: 'string', maxLength: 65536 } }, stdin: { type: 'string', maxLength: 16 * 1024 * 1024 * 2 }, user: str, cwd: { type: 'string', maxLength: 4096 }, env: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 65536 } } }, ['command']),
    bodyLimit: 24 * 1024 * 1024,
    handler: async (c) => {
      const cid = id(c);
      const b = c.body;
      const input = b.stdin === undefined ? undefined : Buffer.from(String(b.stdin), 'base64');
      const host = c.host();
      await host.running(cid); // not running: a plain error answer, before the stream starts
      const gone = new AbortController();
      c.reply.raw.on('close', () => gone.abort());
      c.reply.hijack();
      c.reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const line = (o: unknown): void => {
        c.reply.raw.write(`${JSON.stringify(o)}\n`);
      };
      try {
        const code = await host.access.execStream(cid, b.command as string[], { user: b.user as string | undefined, cwd: b.cwd as string | undefined, env: b.env as string[] | undefined }, { input, signal: gone.signal, onOutput: (stream, chunk) => line({ stream, data: chunk.toString('base64') }) });
        line({ exit_code: code });
      } catch (e) {
        line({ error: { message: (e as Error).message } });
      }
      c.reply.raw.end();
      return undefined;
    },
  },
  {
    method: 'GET',
    url: '/1.0/containers/:id/console-log',
    summary: 'What its console showed (vpsctl console --log), as text.',
    handler: async (c) => {
      const { log } = await c.host().consoleLog(id(c));
      c.reply.type('text/plain; charset=utf-8');
      return log;
    },
  },
  {
    method: 'GET',
    url: '/1.0/events',
    summary: 'The event log (vpsctl events --json); follow=true: server-sent events, each new one as it comes.',
    query: obj({ id: str, kind: str, since: str, follow: { type: 'string', enum: ['true', 'false'] } }),
    handler: async (c) => {
      const filter: EventFilter = {
        ids: c.query.id ? c.query.id.split(',').map(validateId) : [],
        kinds: c.query.kind ? validateKinds(c.query.kind.split(',')) : [],
        ...(c.query.since ? { since: parseSince(c.query.since) } : {}),
      };
      if (c.query.follow !== 'true') return c.host().readEvents(filter);
      const gone = new AbortController();
      c.reply.raw.on('close', () => gone.abort());
      c.reply.hijack();
      c.reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      c.reply.raw.write(': vpsctl events\n\n');
      await c.host().readEvents(filter, { onEvent: (e) => c.reply.raw.write(`event: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`), signal: gone.signal });
      c.reply.raw.end();
      return undefined;
    },
  },
  {
    method: 'GET',
    url: '/1.0/operations',
    summary: 'The operations under way and the last ones done.',
    handler: async (c) => c.ops.all(),
  },
  {
    method: 'GET',
    url: '/1.0/operations/:op',
    summary: 'One operation: running, done (with its result) or failed (with its error).',
    handler: async (c) => c.ops.get(c.params.op) ?? Promise.reject(notFound(`no operation ${c.params.op}`, 'see GET /1.0/operations')),
  },
  {
    method: 'GET',
    url: '/1.0/operations/:op/wait',
    summary: 'The operation once it has ended, or as it is after timeout (default 60s, at most 1h).',
    query: obj({ timeout: str }),
    handler: async (c) => {
      const t = ms(c.query.timeout, 'timeout') ?? 60_000;
      if (t > 3_600_000) throw invalid('timeout is at most 1h');
      return (await c.ops.wait(c.params.op, t)) ?? Promise.reject(notFound(`no operation ${c.params.op}`, 'see GET /1.0/operations'));
    },
  },
  {
    method: 'GET',
    url: '/metrics',
    summary: "Prometheus metrics (vpsctl metrics): every container's state and use, the pool's figures.",
    handler: async (c) => {
      c.reply.type('text/plain; version=0.0.4; charset=utf-8');
      return c.host().metrics();
    },
  },
];
