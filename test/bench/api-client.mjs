/**
 * The bench's side of the REST daemon: `vpsctl daemon` started on the bench's own run dir, a
 * small HTTP client over its unix socket (node:http, one request per exec, as a control panel
 * makes them), and the daemon's memory (VmRSS).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';

/** Starts `bin/vpsctl daemon` with `env`; resolves once its socket answers. */
export async function startDaemon(bin, env) {
  const socket = path.join(env.VPSCTL_RUN_DIR, 'api.sock');
  const child = spawn(bin, ['daemon'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (b) => (err += b.toString()));
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`vpsctl daemon exited ${child.exitCode}: ${err}`);
    if (fs.existsSync(socket) && (await call(socket, 'GET', '/1.0').catch(() => null))?.status === 200) return { child, socket };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`vpsctl daemon did not answer on ${socket}: ${err}`);
}

/** Stops it by its pid and waits for its exit. */
export async function stopDaemon(d) {
  if (!d || d.child.exitCode !== null) return;
  const gone = new Promise((r) => d.child.once('exit', r));
  d.child.kill('SIGTERM');
  await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  if (d.child.exitCode === null) d.child.kill('SIGKILL');
}

/** One request; the status and the whole body. */
export function call(socket, method, url, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ socketPath: socket, method, path: url, headers: data ? { 'content-type': 'application/json' } : {} }, (res) => {
      const parts = [];
      res.on('data', (b) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString() }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** `exec ID -- /bin/true` through the API: ms to its exit code; throws if it was not 0. */
export async function apiExecMs(socket, id) {
  const t0 = performance.now();
  const r = await call(socket, 'POST', `/1.0/containers/${id}/exec`, { command: ['/bin/true'] });
  const ms = performance.now() - t0;
  if (r.status !== 200 || !r.body.trimEnd().endsWith('{"exit_code":0}')) throw new Error(`API exec: ${r.status} ${r.body.slice(0, 300)}`);
  return ms;
}

/** The daemon's resident memory, bytes. */
export function rssBytes(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : null;
}
