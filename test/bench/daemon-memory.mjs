#!/usr/bin/env node
/**
 * The REST daemon's memory with many containers: `node test/bench/daemon-memory.mjs [N]` (as
 * root, after `npm run build`; default 100). It makes N stopped containers of 1G from the
 * cached debian-12 template on an XFS pool with reflink of its own (instant, sparse), starts
 * `vpsctl daemon`, and prints its resident memory (VmRSS) idle, after 20 lists of all N
 * (GET /1.0/containers) and after 20 status reads of each, with how long a list takes.
 * Everything lives under its own state root, run dir and cgroup parent, and is removed at the end.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { call, rssBytes, startDaemon, stopDaemon } from './api-client.mjs';

const N = Number(process.argv[2] ?? 100);
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const BIN = path.join(REPO, 'bin', 'vpsctl');
const ROOT = '/var/tmp/vpsctl-daemon-bench';
const TEMPLATES = path.join(process.env.VPSCTL_TEST_TEMPLATE_ROOT ?? '/var/cache/vpsctl/test-root', 'pool', 'templates');
const env = {
  PATH: process.env.PATH,
  HOME: process.env.HOME ?? '/root',
  VPSCTL_ROOT: ROOT,
  VPSCTL_RUN_DIR: '/run/vpsctl-daemon-bench',
  VPSCTL_CGROUP_PARENT: 'vpsctl-daemon-bench',
  VPSCTL_CONFIG: '/nonexistent',
  VPSCTL_IDMAP_BASE: '1900000000',
  VPSCTL_IDMAP_RANGES: String(N + 4),
  VPSCTL_DISK_OVERCOMMIT_RATIO: '100',
};
const vpsctl = (...args) => execFileSync(BIN, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const mib = (b) => `${(b / 1024 ** 2).toFixed(1)} MiB`;

function cleanup() {
  if (!fs.existsSync(path.join(ROOT, 'containers'))) return fs.rmSync(ROOT, { recursive: true, force: true });
  for (const id of fs.readdirSync(path.join(ROOT, 'containers'))) {
    try {
      vpsctl('destroy', id, '--force');
    } catch {
      /* gone already */
    }
  }
  try {
    execFileSync('umount', [path.join(ROOT, 'pool')], { stdio: 'ignore' });
  } catch {
    /* not mounted */
  }
}

if (!fs.existsSync(path.join(TEMPLATES, 'debian-12.img'))) throw new Error(`no cached debian-12 template in ${TEMPLATES} (bin/setup and the integration suite make it)`);
let daemon = null;
try {
  fs.mkdirSync(path.join(ROOT, 'pool', 'templates'), { recursive: true, mode: 0o700 });
  for (const f of ['debian-12.img', 'debian-12.yaml']) execFileSync('cp', ['--sparse=always', path.join(TEMPLATES, f), path.join(ROOT, 'pool', 'templates', f)]);
  vpsctl('pool', 'init', '--size', `${Math.max(16, N / 4 + 8)}G`);
  const t0 = performance.now();
  for (let i = 1; i <= N; i++) vpsctl('create', `m${i}`, '--template', 'debian-12', '--disk', '1G');
  console.log(`made ${N} containers in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  daemon = await startDaemon(BIN, env);
  const idle = rssBytes(daemon.child.pid);
  const listMs = [];
  for (let k = 0; k < 20; k++) {
    const t = performance.now();
    const r = await call(daemon.socket, 'GET', '/1.0/containers');
    listMs.push(performance.now() - t);
    if (JSON.parse(r.body).length !== N) throw new Error(`the list has ${JSON.parse(r.body).length} containers, not ${N}`);
  }
  const afterLists = rssBytes(daemon.child.pid);
  for (let k = 0; k < 20; k++) for (let i = 1; i <= N; i++) await call(daemon.socket, 'GET', `/1.0/containers/m${i}`);
  const afterStatus = rssBytes(daemon.child.pid);
  listMs.sort((a, b) => a - b);
  console.log(`daemon VmRSS: ${mib(idle)} idle, ${mib(afterLists)} after 20 lists of ${N} (median ${listMs[10].toFixed(0)} ms a list), ${mib(afterStatus)} after ${20 * N} status reads`);
} finally {
  await stopDaemon(daemon);
  try {
    cleanup();
  } finally {
    fs.rmSync(ROOT, { recursive: true, force: true });
    fs.rmSync(env.VPSCTL_RUN_DIR, { recursive: true, force: true });
  }
}
