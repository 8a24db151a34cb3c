#!/usr/bin/env node
/**
 * vpsctl benchmark: `npm run bench [-- --runs N --execs N --no-lxc --only lifecycle|storage --no-storage --json]`.
 *
 * Median of N runs (default 5) of the life of a container from the cached debian-12 template
 * (with --network each gets an address on a bridge of the bench's own: vpsctl `--ipadd`, its
 * veth made by the monitor and its nftables rules; LXC a veth on the same bridge with
 * `lxc.net.0.ipv4.address`, the bridge and the bench's nftables tables removed at the end):
 *   create  `vpsctl create bench-I --template debian-12 --disk 4G`
 *   start   `vpsctl start bench-I --wait` (returns once systemd says running or degraded)
 *   exec    `vpsctl exec bench-I -- /bin/true` (median of --execs calls per run)
 *   stop    `vpsctl stop bench-I` (clean shutdown)
 * and, when LXC is installed, the same steps with LXC on the same rootfs (the template image
 * mounted read-only and copied with `cp -a`, as LXC's dir backend does), plus a bare
 * `node -e 0` baseline, sampled alternately with `vpsctl exec` under the same load.
 *
 * Storage section (`--only storage` runs it alone, `--no-storage` skips it): a container
 * holding 1 GiB of random data (`head -c 1G /dev/urandom > /root/ballast` inside), then
 *   snapshot  `vpsctl snapshot create ID NAME --json` on the RUNNING container (frozen_ms
 *             from its JSON: FIFREEZE to FITHAW), the snapshot deleted after each run
 *   clone     `vpsctl clone ID ID-cK --json` (running source, frozen for the copy), the
 *             clone destroyed after each run
 *   helper    the same two operations by `helpers/vps-snap` directly (`snapshot --mount
 *             /proc/MONITOR/root/... --loop ... --src IMG --dst F` and `clone --src IMG
 *             --dst F`), i.e. without Node/oclif start-up (reported: `vpsctl --version`)
 *             and vpsctl's bookkeeping: the raw cost of the copy itself
 * on three stores:
 *   reflink   its own state root /var/tmp/vpsctl-bench/reflink-root whose pool is made an XFS pool with
 *             reflink by `vpsctl pool init --size 40G` (the template hard-linked into
 *             <root>/pool/templates first: pool init moves it into the pool); the pool is
 *             unmounted and its file removed at the end
 *   plain     the lifecycle's state root, no pool init: the pool is a plain directory on the
 *             host's filesystem under /var/tmp (ext4 here: no reflink, full sparse copies)
 *   LXC       when installed and not --no-lxc: a STOPPED container with the dir backend (the same template
 *             rootfs, `cp -a`) holding the same 1 GiB in rootfs/root/ballast, timed
 *             `lxc-snapshot -P LXCPATH -n NAME` (each snapshot removed with -d afterwards)
 *             and `lxc-copy -P LXCPATH -n NAME -N COPY` (the copy lxc-destroyed afterwards).
 *             Both are rsync copies of the rootfs; neither fsyncs, vps-snap fsyncs its copy.
 * `sync` runs between timed steps (untimed), so no step pays for the previous one's writeback.
 * --storage-runs N times the reflink store N times (default: --runs); --copy-runs N times the
 * stores that copy (plain, LXC), which take seconds each (default: the smaller of 3 and
 * --storage-runs).
 *
 * Speed is measured, never asserted: the bench exits 0 when a target is missed and says so.
 * It exits 1 when a step fails, 2 on bad usage, 130/143 when interrupted.
 *
 * Everything it makes lives under its own state root, run dir, cgroup parents and LXC path
 * (below); it removes all of it at the end, also on error and Ctrl-C, and checks that no
 * loop device, mount, cgroup or process of it is left behind.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { apiExecMs, call, rssBytes, startDaemon, stopDaemon } from './api-client.mjs';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.join(REPO, 'bin', 'vpsctl');
/** The REST daemon on the bench's run dir, while the lifecycle section runs. */
let daemon = null;
const TEMPLATE = 'debian-12';
/** The integration tests' per-machine template cache (same variable as test/integration/harness.ts). */
const TEMPLATE_CACHE = process.env.VPSCTL_TEST_TEMPLATE_ROOT || '/var/cache/vpsctl/test-root';

const BASE = '/var/tmp/vpsctl-bench';
const ROOT = `${BASE}/root`;
const LXCPATH = `${BASE}/lxc`;
const TPL_MNT = `${BASE}/template-rootfs`;
const RUN = '/run/vpsctl-bench';
const PIDFILE = '/run/vpsctl-bench.pid';
const CG_PARENT = 'vpsctl-bench';
const LXC_CG_PARENT = 'vpsctl-bench-lxc';
const CGROUP_FS = '/sys/fs/cgroup';
const VPS_ENV = {
  ...process.env,
  VPSCTL_ROOT: ROOT,
  VPSCTL_RUN_DIR: RUN,
  VPSCTL_CGROUP_PARENT: CG_PARENT,
  VPSCTL_CONFIG: `${BASE}/no-host-config.yaml`,
  // ids far from a real installation's and the tests' ranges
  VPSCTL_IDMAP_BASE: '3000000000',
  VPSCTL_IDMAP_RANGES: '64',
  // destroy removes the container's snapshot cron entry: never one in the host's /etc/cron.d
  VPSCTL_CRON_DIR: `${BASE}/cron.d`,
  // --network: a bridge, subnet and nftables tables of the bench's own; no NAT
  VPSCTL_BRIDGE: 'vpsbench0',
  VPSCTL_SUBNET: '10.89.0.1/24',
  VPSCTL_SUBNET6: 'fd00:89::1/64',
  VPSCTL_NAT: 'false',
  VPSCTL_NFT_TABLE: 'vpsctl_bench',
};
// the storage section's XFS pool: a state root of its own (under BASE, so that the leak checks
// and the last-resort cleanup cover it), its own run dir and id ranges after the lifecycle's
const REFLINK_ROOT = `${BASE}/reflink-root`;
const REFLINK_RUN = `${RUN}-reflink`;
const VPS_ENV_REFLINK = {
  ...VPS_ENV,
  VPSCTL_ROOT: REFLINK_ROOT,
  VPSCTL_RUN_DIR: REFLINK_RUN,
  VPSCTL_IDMAP_BASE: String(3000000000 + 64 * 65536),
};
const POOL_SIZE = '40G';
const BALLAST = '1G';
const BALLAST_BYTES = 1024 ** 3;
const VPS_SNAP = path.join(REPO, 'helpers', 'vps-snap');
const TARGET_SNAPSHOT_MS = 100;
const TARGET_FROZEN_MS = 10; // "a few milliseconds"
const DISK = '4G';
const POLL_MS = 100; // what `vpsctl start --wait` waits between two `systemctl is-system-running` (src/core/host.ts)
const TARGET_EXEC_VS_NODE = 1.5;
const TARGET_START_VS_LXC = 1.0;

// ---- command line --------------------------------------------------------------------------

const USAGE = `usage: npm run bench -- [--runs N] [--execs N] [--no-lxc] [--privileged] [--network]
                            [--only lifecycle|storage] [--no-storage]
                            [--storage-runs N] [--copy-runs N] [--json]

  --runs N      container lifecycles per tool; the figures are medians (default 5)
  --execs N     exec calls timed per run, alternating with \`node -e 0\` (default 10)
  --no-lxc      skip the LXC comparison
  --only S      run only one section: lifecycle (create/start/exec/stop) or storage
                (snapshot and clone of a container holding 1 GiB, on an XFS reflink pool,
                on a plain directory and with LXC's dir backend)
  --no-storage  skip the storage section (same as --only lifecycle)
  --storage-runs N  snapshots and clones timed on the reflink pool (default: --runs)
  --copy-runs N     snapshots and clones timed where they are full copies: the plain
                directory and LXC (default: the smaller of 3 and --storage-runs)
  --network     give every container of the lifecycle an address on the bench's own bridge
                (vpsctl --ipadd; LXC a veth with lxc.net.0.ipv4.address), so that start
                and stop include making and removing the network
  --privileged  create the vpsctl containers with --privileged, as the LXC ones are
                (default: vpsctl's default mode; the report says which it was)
  --json        print one JSON object on stdout instead of the table (progress stays on stderr;
                npm prints its own banner on stdout: use \`npm run --silent bench -- --json\`)
`;

function parseCli(argv) {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        runs: { type: 'string', default: '5' },
        execs: { type: 'string', default: '10' },
        'no-lxc': { type: 'boolean', default: false },
        privileged: { type: 'boolean', default: false },
        network: { type: 'boolean', default: false },
        only: { type: 'string' },
        'no-storage': { type: 'boolean', default: false },
        'storage-runs': { type: 'string' },
        'copy-runs': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    process.stderr.write(`bench: ${e.message}\n${USAGE}`);
    process.exit(2);
  }
  if (v.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (name, s, max) => {
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > max) {
      process.stderr.write(`bench: --${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(s)}\n${USAGE}`);
      process.exit(2);
    }
    return Number(s);
  };
  if (v.only !== undefined && !['lifecycle', 'storage'].includes(v.only)) {
    process.stderr.write(`bench: --only takes lifecycle or storage, got ${JSON.stringify(v.only)}\n${USAGE}`);
    process.exit(2);
  }
  if (v.only === 'storage' && v['no-storage']) {
    process.stderr.write(`bench: --only storage and --no-storage leave nothing to run\n${USAGE}`);
    process.exit(2);
  }
  const runs = int('runs', v.runs, 100);
  const storageRuns = v['storage-runs'] === undefined ? runs : int('storage-runs', v['storage-runs'], 100);
  const copyRuns = v['copy-runs'] === undefined ? Math.min(3, storageRuns) : int('copy-runs', v['copy-runs'], 100);
  return {
    runs,
    execs: int('execs', v.execs, 1000),
    lxc: !v['no-lxc'],
    privileged: v.privileged,
    network: v.network,
    json: v.json,
    lifecycle: v.only !== 'storage',
    storage: v.only !== 'lifecycle' && !v['no-storage'],
    storageRuns,
    copyRuns,
  };
}

// ---- running things --------------------------------------------------------------------------

class Interrupted extends Error {}
class StepFailed extends Error {}

/** Children running now, so that Ctrl-C can stop exactly them (by pid). */
const active = new Set();
let interrupted = null;
let cleaning = false;

function say(s) {
  process.stderr.write(`${s}\n`);
}

function checkInterrupted() {
  if (interrupted) throw new Interrupted(`interrupted by ${interrupted}`);
}

/**
 * Runs a program and times it (wall clock, from spawn to exit). Children run in their own
 * process group, so that a Ctrl-C reaches the bench alone and it decides what to stop.
 */
function run(file, args, { env = process.env, timeoutMs = 120_000, inherit = false } = {}) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let child;
    try {
      child = spawn(file, args, { env, detached: true, stdio: ['ignore', inherit ? process.stderr : 'pipe', inherit ? process.stderr : 'pipe'] });
    } catch (e) {
      resolve({ code: 127, signal: null, stdout: '', stderr: String(e.message), ms: 0, timedOut: false });
      return;
    }
    active.add(child);
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      killChild(child, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      stderr += String(e.message);
    });
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      active.delete(child);
      resolve({ code: code ?? (signal ? 128 : 127), signal, stdout, stderr, ms, timedOut });
    });
  });
}

function killChild(child, sig) {
  try {
    if (child.pid) process.kill(child.pid, sig);
  } catch {
    /* gone */
  }
}

const tail = (s, n = 6) => String(s).trim().split('\n').filter(Boolean).slice(-n).join('\n    ');

/** Runs a measured step; a failure (or an interruption) ends the bench. */
async function step(what, file, args, opts) {
  checkInterrupted();
  const r = await run(file, args, opts);
  checkInterrupted();
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${Math.round((opts?.timeoutMs ?? 120_000) / 1000)}s` : `exited ${r.code}${r.signal ? ` (${r.signal})` : ''}`;
    throw new StepFailed(`${what}: ${[file, ...args].join(' ')} ${why}\n    ${tail(r.stderr + r.stdout)}`);
  }
  return r;
}

const vpsctl = (args, opts = {}) => run(BIN, args, { env: VPS_ENV, ...opts });
const vpsStep = (what, args, opts = {}) => step(what, BIN, args, { env: VPS_ENV, ...opts });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function which(cmd) {
  for (const d of (process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(d || '.', cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** `Startup finished in 1.2s (kernel) + 333ms (userspace)` -> the userspace part in ms. */
function parseSystemdAnalyze(text) {
  const m = /Startup finished in .*?([0-9][0-9a-z. ]*?) \(userspace\)/.exec(text);
  if (!m) return null;
  let ms = 0;
  for (const [, n, u] of m[1].matchAll(/([0-9.]+)(min|ms|us|s)/g)) ms += Number(n) * { min: 60_000, s: 1000, ms: 1, us: 0.001 }[u];
  return ms;
}

/**
 * How long PID 1 leaves an orphan a zombie. `vpsctl stop` waits until the container's
 * monitor (a daemon, so a child of PID 1) is gone, zombie included; a PID 1 that is not an
 * init (a VM agent, a container's shell) reaps late and that shows up in `stop`.
 */
async function orphanReapMs() {
  const out = [];
  for (let i = 0; i < 3; i++) {
    const r = await run('sh', ['-c', 'sleep 0.05 & echo $!'], { timeoutMs: 10_000 });
    const pid = Number(r.stdout.trim());
    if (!pid) return null;
    let zombieAt = null;
    const t0 = Date.now();
    for (;;) {
      const stat = readText(`/proc/${pid}/stat`);
      if (stat === undefined) break;
      if (zombieAt === null && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') zombieAt = process.hrtime.bigint();
      if (Date.now() - t0 > 5000) return 5000;
      await sleep(2);
    }
    out.push(zombieAt === null ? 0 : Number(process.hrtime.bigint() - zombieAt) / 1e6);
  }
  return median(out);
}

// ---- statistics and formatting ---------------------------------------------------------------

function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const r1 = (x) => (x === null || x === undefined ? null : Math.round(x * 10) / 10);
const r2 = (x) => (x === null || x === undefined ? null : Math.round(x * 100) / 100);
const ratio = (a, b) => (a === null || b === null || b === 0 ? null : a / b);

function fmtMs(ms) {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}
const fmtRatio = (x) => (x === null || x === undefined ? '-' : `${x.toFixed(2)}x`);

// ---- the host's view of what is ours ---------------------------------------------------------

function readText(p) {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

const OUR_DIRS = [BASE, RUN, REFLINK_RUN];
const ourPath = (p) => OUR_DIRS.some((d) => p === d || p.startsWith(`${d}/`));

/** Mount points of ours in our own mount namespace, deepest first. */
function ourMounts() {
  return (readText('/proc/self/mountinfo') ?? '')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m) => m && ourPath(m))
    .sort((a, b) => b.length - a.length);
}

/** Mounts, in any process's mount namespace, that mention the bench's paths. */
function mountsAnywhere() {
  const out = new Set();
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const mi = readText(`/proc/${pid}/mountinfo`);
    if (!mi) continue;
    for (const line of mi.split('\n')) {
      const f = line.split(' ');
      if (f[3] && f[4] && [f[3], f[4], ...f.slice(f.indexOf('-') + 2, f.indexOf('-') + 3)].some((x) => x && ourPath(x))) out.add(`${f[4]} (pid ${pid})`);
    }
  }
  return [...out];
}

async function loopsOfOurs() {
  const r = await run('losetup', ['--noheadings', '--raw', '--output', 'NAME,BACK-FILE', '--list'], { timeoutMs: 10_000 });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([dev, file]) => dev && file && ourPath(file.replace(/ \(deleted\)$/, '')))
    .map(([dev, file]) => ({ dev, file }));
}

/** Every cgroup directory under our two parents, deepest first. */
function ourCgroups() {
  const out = [];
  let hs = [];
  try {
    hs = fs.readdirSync(CGROUP_FS);
  } catch {
    return out;
  }
  const walk = (d) => {
    let ents = [];
    try {
      ents = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) if (e.isDirectory()) walk(path.join(d, e.name));
    out.push(d);
  };
  for (const h of hs) for (const p of [CG_PARENT, LXC_CG_PARENT]) if (fs.existsSync(path.join(CGROUP_FS, h, p))) walk(path.join(CGROUP_FS, h, p));
  // also a cgroup2 mounted at /sys/fs/cgroup itself
  for (const p of [CG_PARENT, LXC_CG_PARENT]) if (fs.existsSync(path.join(CGROUP_FS, p, 'cgroup.procs'))) walk(path.join(CGROUP_FS, p));
  return out.sort((a, b) => b.length - a.length);
}

function pidsIn(cgdir) {
  return (readText(path.join(cgdir, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).map(Number);
}

/**
 * The bench's own processes outside its cgroups: a command line that names the bench's paths
 * (container monitors, the LXC monitor, a `cp -a` of a killed bench), run by the bench itself
 * or orphaned (parent pid 1); never someone's shell that merely looks at those paths.
 */
function ourProcesses() {
  const out = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    const cmd = (readText(`/proc/${pid}/cmdline`) ?? '').replace(/\0/g, ' ');
    if (!OUR_DIRS.some((d) => cmd.includes(`${d}/`))) continue;
    const stat = readText(`/proc/${pid}/stat`) ?? '';
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === 1 || ppid === process.pid) out.push({ pid: Number(pid), cmd: cmd.trim() });
  }
  return out;
}

async function leaks() {
  return [
    ...(await loopsOfOurs()).map((l) => `loop device ${l.dev} on ${l.file}`),
    ...mountsAnywhere().map((m) => `mount ${m}`),
    ...ourCgroups().map((c) => `cgroup ${c}`),
    ...ourProcesses().map((p) => `process ${p.pid}: ${p.cmd}`),
  ];
}

// ---- cleanup -------------------------------------------------------------------------------

/** Removes everything of the bench; safe to run at any point and more than once. */
async function cleanup(lxcStop) {
  cleaning = true;
  const problems = [];
  // vpsctl containers, in both state roots: destroy --force kills a running one and tears its
  // mounts, loop, cgroups and snapshots down (in the reflink root it mounts the pool again if a
  // killed bench left it unmounted; the pool is unmounted below with the other mounts of ours)
  for (const [root, env] of [
    [ROOT, VPS_ENV],
    [REFLINK_ROOT, VPS_ENV_REFLINK],
  ]) {
    let ids = [];
    try {
      ids = fs.readdirSync(path.join(root, 'containers')).filter((n) => /^[a-z0-9-]+$/.test(n));
    } catch {
      /* none */
    }
    for (const id of ids) {
      const r = await run(BIN, ['destroy', id, '--force'], { env, timeoutMs: 60_000 });
      if (r.code !== 0) problems.push(`vpsctl destroy ${id} --force (root ${root}) exited ${r.code}: ${tail(r.stderr, 2)}`);
    }
  }
  // LXC containers: kill (no clean shutdown needed), then destroy
  let names = [];
  try {
    names = fs.readdirSync(LXCPATH).filter((n) => fs.existsSync(path.join(LXCPATH, n, 'config')));
  } catch {
    /* none */
  }
  for (const n of names) {
    if (lxcStop) {
      await run(lxcStop, ['-P', LXCPATH, '-n', n, '-k'], { timeoutMs: 30_000 });
      // -s: with its snapshots (the storage section's lxc-snapshot)
      const r = await run(lxcStop.replace(/lxc-stop$/, 'lxc-destroy'), ['-P', LXCPATH, '-n', n, '-s'], { timeoutMs: 120_000 });
      if (r.code !== 0 && fs.existsSync(path.join(LXCPATH, n))) problems.push(`lxc-destroy ${n} exited ${r.code}: ${tail(r.stderr, 2)}`);
    }
  }
  // what is still running now is the bench's own (a step of a killed bench, a start killed
  // half-way): processes working on the bench's paths or in its cgroups. Kill them by pid.
  for (let round = 0; round < 20; round++) {
    const pids = [...new Set([...ourProcesses().map((p) => p.pid), ...ourCgroups().flatMap(pidsIn)])];
    if (pids.length === 0) break;
    if (round === 0) problems.push(`killed leftover processes of the bench: ${pids.join(' ')}`);
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(100);
  }
  for (const m of ourMounts()) {
    const r = await run('umount', ['--', m], { timeoutMs: 30_000 });
    if (r.code !== 0) await run('umount', ['-l', '--', m], { timeoutMs: 30_000 });
  }
  for (let i = 0; i < 20; i++) {
    const loops = await loopsOfOurs();
    if (loops.length === 0) break;
    if (i < 19) {
      await sleep(100); // autoclear loops go shortly after their last mount
      continue;
    }
    for (const l of loops) await run('losetup', ['--detach', l.dev], { timeoutMs: 10_000 });
  }
  for (const d of ourCgroups()) {
    try {
      fs.rmdirSync(d);
    } catch (e) {
      if (e.code !== 'ENOENT') problems.push(`could not remove cgroup ${d}: ${e.code}`);
    }
  }
  if (ourMounts().length === 0) {
    await run('rm', ['-rf', '--one-file-system', '--', BASE, RUN, REFLINK_RUN], { timeoutMs: 120_000 });
  }
  // --network: the bench's bridge and nftables tables (the containers are gone by now)
  await run('ip', ['link', 'del', VPS_ENV.VPSCTL_BRIDGE], { timeoutMs: 10_000 });
  for (const f of ['bridge', 'inet']) await run('nft', ['delete', 'table', f, VPS_ENV.VPSCTL_NFT_TABLE], { timeoutMs: 10_000 });
  return problems;
}

// ---- the template ----------------------------------------------------------------------------

async function prepareTemplate() {
  const dir = path.join(ROOT, 'pool', 'templates');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cached = path.join(TEMPLATE_CACHE, 'pool', 'templates');
  const files = [`${TEMPLATE}.img`, `${TEMPLATE}.yaml`];
  if (files.every((f) => fs.existsSync(path.join(cached, f)))) {
    for (const f of files) {
      try {
        fs.linkSync(path.join(cached, f), path.join(dir, f));
      } catch {
        say(`  (cannot hard-link ${f} from the cache, copying it)`);
        const r = await run('cp', ['--reflink=auto', '--sparse=always', '--', path.join(cached, f), path.join(dir, f)], { timeoutMs: 300_000 });
        if (r.code !== 0) throw new StepFailed(`copying the template from ${cached}: ${tail(r.stderr)}`);
      }
    }
    return { source: 'cache', path: cached, build_ms: null };
  }
  say(`no cached ${TEMPLATE} template in ${cached}; building one into the bench root (1-3 min):`);
  const r = await vpsStep('template build', ['template', 'build', TEMPLATE], { inherit: true, timeoutMs: 1_800_000 });
  return { source: 'built', path: dir, build_ms: r.ms };
}

// ---- vpsctl ----------------------------------------------------------------------------------

async function vpsctlRun(i, opts, nodeBin) {
  const id = `bench-${i}`;
  const execs = opts.execs;
  const net = opts.network ? ['--ipadd', `10.89.0.${10 + i}`] : [];
  const create = await vpsStep('vpsctl create', ['create', id, '--template', TEMPLATE, '--disk', DISK, ...(opts.privileged ? ['--privileged'] : []), ...net]);
  await run('sync', [], { timeoutMs: 120_000 }); // the copy's writeback is not the next step's cost
  // untimed: which mode the container got (vpsctl without user namespaces reports none)
  const st = await vpsctl(['status', id, '--json'], { timeoutMs: 60_000 });
  let mode = null;
  try {
    mode = JSON.parse(st.stdout).mode ?? null;
  } catch {
    /* older output */
  }
  const start = await vpsStep('vpsctl start --wait', ['start', id, '--wait'], { timeoutMs: 180_000 });
  const boot = parseSystemdAnalyze((await vpsctl(['exec', id, '--', 'systemd-analyze'], { timeoutMs: 30_000 })).stdout); // untimed
  const execMs = [];
  const nodeMs = [];
  const apiMs = [];
  for (let k = 0; k < execs; k++) {
    nodeMs.push((await step('node -e 0', nodeBin, ['-e', '0'], { timeoutMs: 30_000 })).ms);
    execMs.push((await vpsStep('vpsctl exec', ['exec', id, '--', '/bin/true'], { timeoutMs: 30_000 })).ms);
    if (daemon) apiMs.push(await apiExecMs(daemon.socket, id));
  }
  const stop = await vpsStep('vpsctl stop', ['stop', id], { timeoutMs: 90_000 });
  await vpsStep('vpsctl destroy', ['destroy', id], { timeoutMs: 60_000 });
  await run('sync', [], { timeoutMs: 120_000 });
  const state = /system (\w+)/.exec(start.stdout)?.[1] ?? null;
  const how = /\((clean|killed)\)/.exec(stop.stdout)?.[1] ?? null;
  return { create: create.ms, start: start.ms, exec: median(execMs), stop: stop.ms, boot, exec_samples: execMs, node_samples: nodeMs, api_samples: apiMs, state, how, mode };
}

// ---- LXC on the same rootfs ------------------------------------------------------------------

function lxcTools() {
  const t = {};
  for (const n of ['lxc-start', 'lxc-attach', 'lxc-stop', 'lxc-destroy', 'lxc-info']) {
    t[n] = which(n);
    if (!t[n]) return null;
  }
  return t;
}

/** The hand-written LXC config: privileged, no network but lo (or with --network a veth on the bench's bridge), our own cgroup parent and log. */
function lxcConfig(name, rootfs, i, network) {
  const lines = ['# written by vpsctl test/bench/bench.mjs'];
  // debian.common.conf includes common.conf itself; including both would run its hooks twice
  if (fs.existsSync('/usr/share/lxc/config/debian.common.conf')) lines.push('lxc.include = /usr/share/lxc/config/debian.common.conf');
  else lines.push('lxc.include = /usr/share/lxc/config/common.conf');
  lines.push(
    `lxc.uts.name = ${name}`,
    `lxc.rootfs.path = dir:${rootfs}`,
    ...(network
      ? [
          '# a veth on the bench bridge (made by the vpsctl runs), as a vpsctl container with --ipadd',
          'lxc.net.0.type = veth',
          `lxc.net.0.link = ${VPS_ENV.VPSCTL_BRIDGE}`,
          'lxc.net.0.flags = up',
          `lxc.net.0.ipv4.address = 10.89.0.${100 + i}/24`,
          'lxc.net.0.ipv4.gateway = 10.89.0.1',
        ]
      : ['# only lo, as a vpsctl container without a network', 'lxc.net.0.type = empty']),
    `# cgroups under the bench's own parent (v1: every hierarchy), never at the root`,
    `lxc.cgroup.dir.monitor = ${LXC_CG_PARENT}/${name}.monitor`,
    `lxc.cgroup.dir.container = ${LXC_CG_PARENT}/${name}.payload`,
    `lxc.cgroup.dir.monitor.pivot = ${LXC_CG_PARENT}/pivot`,
    `lxc.log.file = ${path.join(LXCPATH, name, `${name}.log`)}`,
    'lxc.log.level = WARN',
  );
  if (!apparmorEnabled()) lines.push('# the host has no AppArmor', 'lxc.apparmor.profile = unconfined');
  return `${lines.join('\n')}\n`;
}

function apparmorEnabled() {
  return (readText('/sys/module/apparmor/parameters/enabled') ?? '').trim() === 'Y';
}

async function lxcMountTemplate() {
  fs.mkdirSync(TPL_MNT, { recursive: true, mode: 0o700 });
  const img = path.join(ROOT, 'pool', 'templates', `${TEMPLATE}.img`);
  // noload: never replay a journal into the shared (hard-linked) cache image
  await step('mount the template', 'mount', ['-t', 'ext4', '-o', 'loop,ro,noload', '--', img, TPL_MNT], { timeoutMs: 60_000 });
}

async function lxcRun(i, execs, t, network) {
  const name = `bench-lxc-${i}`;
  const dir = path.join(LXCPATH, name);
  const rootfs = path.join(dir, 'rootfs');
  const P = ['-P', LXCPATH, '-n', name];

  // create: what `lxc-create -B dir` does for a local rootfs, then the identity vpsctl writes too
  const t0 = process.hrtime.bigint();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  await step('LXC create (cp -a)', 'cp', ['-a', '--', TPL_MNT, rootfs], { timeoutMs: 600_000 });
  fs.writeFileSync(path.join(rootfs, 'etc/hostname'), `${name}\n`);
  fs.rmSync(path.join(rootfs, 'etc/machine-id'), { force: true });
  fs.writeFileSync(path.join(rootfs, 'etc/machine-id'), `${randomBytes(16).toString('hex')}\n`, { mode: 0o444 });
  fs.writeFileSync(path.join(dir, 'config'), lxcConfig(name, rootfs, i, network), { mode: 0o600 });
  const create = Number(process.hrtime.bigint() - t0) / 1e6;
  await run('sync', [], { timeoutMs: 120_000 });

  // start: lxc-start -d, then the same wait as `vpsctl start --wait`
  checkInterrupted();
  const s0 = process.hrtime.bigint();
  await step('lxc-start', t['lxc-start'], [...P, '-d'], { timeoutMs: 60_000 });
  let last = 'unknown';
  for (;;) {
    const r = await run(t['lxc-attach'], [...P, '--', 'systemctl', 'is-system-running'], { timeoutMs: 30_000 });
    checkInterrupted();
    last = r.stdout.trim() || last;
    if (last === 'running' || last === 'degraded') break;
    if (Number(process.hrtime.bigint() - s0) / 1e6 > 120_000) {
      const log = readText(path.join(dir, `${name}.log`)) ?? '';
      throw new StepFailed(`LXC start: ${name} did not reach running in 120s (systemd says ${last})\n    ${tail(log)}\n    (run with --no-lxc to skip LXC)`);
    }
    await sleep(POLL_MS);
  }
  const start = Number(process.hrtime.bigint() - s0) / 1e6;
  const boot = parseSystemdAnalyze((await run(t['lxc-attach'], [...P, '--', 'systemd-analyze'], { timeoutMs: 30_000 })).stdout); // untimed

  const execMs = [];
  for (let k = 0; k < execs; k++) execMs.push((await step('lxc-attach', t['lxc-attach'], [...P, '--', '/bin/true'], { timeoutMs: 30_000 })).ms);
  const stop = await step('lxc-stop', t['lxc-stop'], P, { timeoutMs: 90_000 });
  const after = await run(t['lxc-info'], [...P, '-s', '-H'], { timeoutMs: 30_000 });
  await step('lxc-destroy', t['lxc-destroy'], P, { timeoutMs: 120_000 });
  await run('sync', [], { timeoutMs: 120_000 }); // the removal's discards and journal are not the next step's cost
  return { create, start, boot, exec: median(execMs), stop: stop.ms, exec_samples: execMs, state: last, how: after.stdout.trim().toLowerCase() || null };
}

// ---- storage: snapshots and clones of a container holding 1 GiB ------------------------------

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

function parseJson(what, text) {
  try {
    return JSON.parse(text);
  } catch {
    throw new StepFailed(`${what}: not JSON: ${tail(text, 3)}`);
  }
}

/** `filefrag FILE` -> its number of extents (what FICLONE's cost grows with), or null. */
async function extents(file) {
  const r = await run('filefrag', ['--', file], { timeoutMs: 60_000 });
  const m = /: (\d+) extents? found/.exec(r.stdout);
  return m ? Number(m[1]) : null;
}

const allocatedBytes = (file) => {
  try {
    return fs.statSync(file).blocks * 512;
  } catch {
    return null;
  }
};

/**
 * One vpsctl store (`reflink`: its own root, made an XFS pool by `pool init`; `plain`: the
 * lifecycle's root, a plain directory): a running container with 1 GiB of random data, then
 * timed snapshots and clones through vpsctl and through vps-snap directly. Everything it makes
 * is removed by explicit id and path in `finally`; cleanup() is the last resort.
 */
async function vpsctlStorage(kind, runs, progress) {
  const reflink = kind === 'reflink';
  const env = reflink ? VPS_ENV_REFLINK : VPS_ENV;
  const root = reflink ? REFLINK_ROOT : ROOT;
  const runDir = reflink ? REFLINK_RUN : RUN;
  const id = reflink ? 'stor-r' : 'stor-p';
  const poolDir = path.join(root, 'pool');
  const img = path.join(poolDir, 'images', `${id}.img`);
  const vs = (what, args, o = {}) => step(`${kind}: ${what}`, BIN, args, { env, ...o });
  const syncAll = () => run('sync', [], { timeoutMs: 300_000 });
  const made = new Set(); // container ids of ours in this root, for the finally
  const rawFiles = new Set();
  const out = { kind, runs, container: id, state: 'running', snapshot: [], frozen: [], methods: [], clone: [], helper_snapshot: [], helper_freeze: [], helper_frozen: [], helper_snapshot_methods: [], helper_clone: [], helper_clone_methods: [] };
  try {
    if (reflink) {
      // the template first: pool init moves what the pool directory holds into the new pool
      const tdir = path.join(poolDir, 'templates');
      fs.mkdirSync(tdir, { recursive: true, mode: 0o700 });
      for (const f of [`${TEMPLATE}.img`, `${TEMPLATE}.yaml`]) {
        const src = path.join(ROOT, 'pool', 'templates', f); // prepareTemplate() put it there
        try {
          fs.linkSync(src, path.join(tdir, f));
        } catch {
          await step('copy the template', 'cp', ['--reflink=auto', '--sparse=always', '--', src, path.join(tdir, f)], { timeoutMs: 300_000 });
        }
      }
      progress(`storage: vpsctl pool init --size ${POOL_SIZE} in ${root} ...`);
      const pi = await vs('pool init', ['pool', 'init', '--size', POOL_SIZE, '--json'], { timeoutMs: 600_000 });
      out.pool_init_ms = pi.ms;
    }
    const info = parseJson('pool info', (await vs('pool info', ['pool', 'info', '--json'], { timeoutMs: 60_000 })).stdout);
    out.pool = { path: info.path, fs: info.fs, reflink: info.reflink, managed: info.managed, source: info.source };
    if (reflink && !info.reflink) throw new StepFailed(`reflink: pool init made a pool that cannot reflink (${info.fs}); the kernel or xfsprogs lack it?`);

    progress(`storage: ${kind}: create and start ${id}, write ${BALLAST} of random data in it ...`);
    made.add(id);
    await vs('create', ['create', id, '--template', TEMPLATE, '--disk', DISK]);
    await vs('start --wait', ['start', id, '--wait'], { timeoutMs: 180_000 });
    const w = await vs('write the ballast', ['exec', id, '--', 'sh', '-c', `head -c ${BALLAST} /dev/urandom > /root/ballast && sync`], { timeoutMs: 600_000 });
    out.ballast_write_ms = w.ms;
    await syncAll();
    out.image = { size: fs.statSync(img).size, allocated: allocatedBytes(img), extents: await extents(img) };

    for (let k = 1; k <= runs; k++) {
      const name = `bench-${k}`;
      const r = await vs('snapshot create', ['snapshot', 'create', id, name, '--json'], { timeoutMs: 900_000 });
      const j = parseJson('snapshot create', r.stdout);
      out.snapshot.push(r.ms);
      out.frozen.push(typeof j.frozen_ms === 'number' ? j.frozen_ms : null);
      out.methods.push(j.method ?? null);
      await vs('snapshot delete', ['snapshot', 'delete', id, name], { timeoutMs: 120_000 });
      await syncAll();
      progress(`storage: ${kind}: snapshot ${k}/${runs} ${fmtMs(r.ms)} (${j.method}, frozen ${fmtMs(j.frozen_ms)})`);
    }
    for (let k = 1; k <= runs; k++) {
      const dst = `${id}-c${k}`;
      made.add(dst);
      const r = await vs('clone', ['clone', id, dst, '--json'], { timeoutMs: 900_000 });
      await vs('destroy the clone', ['destroy', dst], { timeoutMs: 120_000 });
      made.delete(dst);
      await syncAll();
      out.clone.push(r.ms);
      progress(`storage: ${kind}: clone ${k}/${runs} ${fmtMs(r.ms)}`);
    }

    // the same two copies by the helper alone: no Node, no oclif, no lock, no config
    const state = parseJson('state.json', readText(path.join(runDir, id, 'state.json')) ?? '');
    const mount = `/proc/${state.monitor_pid}/root${path.join(runDir, id, 'rootfs')}`;
    const marker = path.join(runDir, '.locks', `${id}.frozen`); // where vpsctl looks for a freeze to undo
    for (let k = 1; k <= runs; k++) {
      const dst = path.join(poolDir, `bench-raw-snapshot-${k}.img`);
      rawFiles.add(dst);
      const r = await step(`${kind}: vps-snap snapshot`, VPS_SNAP, ['snapshot', '--mount', mount, '--loop', state.loop, '--src', img, '--dst', dst, '--marker', marker], { timeoutMs: 900_000 });
      const j = parseJson('vps-snap snapshot', r.stdout);
      out.helper_snapshot.push(j.ms ?? r.ms);
      out.helper_freeze.push(j.freeze_ms ?? null);
      out.helper_frozen.push(j.frozen_ms ?? null);
      out.helper_snapshot_methods.push(j.method ?? null);
      fs.rmSync(dst, { force: true });
      rawFiles.delete(dst);
      await syncAll();
    }
    for (let k = 1; k <= runs; k++) {
      const dst = path.join(poolDir, `bench-raw-clone-${k}.img`);
      rawFiles.add(dst);
      const r = await step(`${kind}: vps-snap clone`, VPS_SNAP, ['clone', '--src', img, '--dst', dst], { timeoutMs: 900_000 });
      const j = parseJson('vps-snap clone', r.stdout);
      out.helper_clone.push(j.ms ?? r.ms);
      out.helper_clone_methods.push(j.method ?? null);
      fs.rmSync(dst, { force: true });
      rawFiles.delete(dst);
      await syncAll();
    }
    progress(`storage: ${kind}: vps-snap snapshot ${fmtMs(median(out.helper_snapshot))} (FIFREEZE ${fmtMs(median(out.helper_freeze.filter((x) => x !== null)))}, frozen ${fmtMs(median(out.helper_frozen))}), vps-snap clone ${fmtMs(median(out.helper_clone))}`);
    return out;
  } finally {
    // explicit teardown of what this store made; the bench's cleanup() is the safety net
    for (const f of rawFiles) fs.rmSync(f, { force: true });
    for (const c of [...made].reverse()) {
      const r = await run(BIN, ['destroy', c, '--force'], { env, timeoutMs: 120_000 });
      if (r.code !== 0) say(`  storage: vpsctl destroy ${c} --force exited ${r.code}: ${tail(r.stderr, 2)}`);
    }
    if (reflink) {
      if (ourMounts().includes(poolDir)) {
        const r = await run('umount', ['--', poolDir], { timeoutMs: 60_000 });
        if (r.code !== 0) say(`  storage: umount ${poolDir} exited ${r.code}: ${tail(r.stderr, 2)} (cleanup tries again)`);
      }
      if (!ourMounts().includes(poolDir)) {
        fs.rmSync(path.join(root, 'pool.xfs'), { force: true });
        fs.rmSync(path.join(root, 'pool.yaml'), { force: true });
      }
    }
  }
}

/** The storage tools of LXC, or null. */
function lxcStorageTools() {
  const t = {};
  for (const n of ['lxc-snapshot', 'lxc-copy', 'lxc-destroy']) {
    t[n] = which(n);
    if (!t[n]) return null;
  }
  return t;
}

/** Snapshot names `lxc-snapshot -L` lists (`snap0 (/path/snaps) 2026:11:22 ...`). */
async function lxcSnapshots(t, P) {
  const r = await run(t['lxc-snapshot'], [...P, '-L'], { timeoutMs: 30_000 });
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n && /^snap\d+$/.test(n));
}

/**
 * LXC's dir backend: a stopped container on the template's rootfs (cp -a, as lxcRun makes it)
 * with the same 1 GiB in it; lxc-snapshot and lxc-copy timed, each result removed afterwards.
 */
async function lxcStorage(t, runs, progress) {
  const name = 'stor-lxc';
  const dir = path.join(LXCPATH, name);
  const rootfs = path.join(dir, 'rootfs');
  const P = ['-P', LXCPATH, '-n', name];
  const syncAll = () => run('sync', [], { timeoutMs: 300_000 });
  const copies = new Set();
  const out = { runs, container: name, backend: 'dir', state: 'stopped', snapshot: [], copy: [] };
  let made = false;
  try {
    progress(`storage: LXC: make ${name} (dir backend) with ${BALLAST} of random data in its rootfs ...`);
    made = true;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    await step('LXC: cp -a the template rootfs', 'cp', ['-a', '--', TPL_MNT, rootfs], { timeoutMs: 600_000 });
    fs.writeFileSync(path.join(rootfs, 'etc/hostname'), `${name}\n`);
    fs.writeFileSync(path.join(dir, 'config'), lxcConfig(name, rootfs), { mode: 0o600 });
    const w = await step('LXC: write the ballast', 'sh', ['-c', `head -c ${BALLAST} /dev/urandom > "$1" && sync`, 'sh', path.join(rootfs, 'root', 'ballast')], { timeoutMs: 600_000 });
    out.ballast_write_ms = w.ms;
    await syncAll();
    const du = await run('du', ['-sb', '--', rootfs], { timeoutMs: 120_000 });
    out.rootfs_bytes = Number(du.stdout.split(/\s/)[0]) || null;

    for (let k = 1; k <= runs; k++) {
      const r = await step('lxc-snapshot', t['lxc-snapshot'], P, { timeoutMs: 900_000 });
      out.snapshot.push(r.ms);
      for (const s of await lxcSnapshots(t, P)) await step('lxc-snapshot -d', t['lxc-snapshot'], [...P, '-d', s], { timeoutMs: 300_000 });
      await syncAll();
      progress(`storage: LXC: lxc-snapshot ${k}/${runs} ${fmtMs(r.ms)}`);
    }
    for (let k = 1; k <= runs; k++) {
      const copy = `${name}-c${k}`;
      copies.add(copy);
      const r = await step('lxc-copy', t['lxc-copy'], [...P, '-N', copy], { timeoutMs: 900_000 });
      await step('lxc-destroy the copy', t['lxc-destroy'], ['-P', LXCPATH, '-n', copy], { timeoutMs: 300_000 });
      copies.delete(copy);
      await syncAll();
      out.copy.push(r.ms);
      progress(`storage: LXC: lxc-copy ${k}/${runs} ${fmtMs(r.ms)}`);
    }
    return out;
  } finally {
    for (const c of copies) {
      if (fs.existsSync(path.join(LXCPATH, c))) {
        const r = await run(t['lxc-destroy'], ['-P', LXCPATH, '-n', c, '-s'], { timeoutMs: 300_000 });
        if (r.code !== 0) say(`  storage: lxc-destroy ${c} exited ${r.code}: ${tail(r.stderr, 2)}`);
      }
    }
    if (made && fs.existsSync(path.join(dir, 'config'))) {
      const r = await run(t['lxc-destroy'], [...P, '-s'], { timeoutMs: 300_000 });
      if (r.code !== 0) say(`  storage: lxc-destroy ${name} -s exited ${r.code}: ${tail(r.stderr, 2)}`);
    }
    if (made && fs.existsSync(dir) && !fs.existsSync(path.join(dir, 'config'))) fs.rmSync(dir, { recursive: true, force: true }); // a half-made one
  }
}

/** `vpsctl --version`: what every vpsctl command pays before it does anything (Node + oclif). */
async function cliFloor(n = 5) {
  const xs = [];
  for (let i = 0; i < n; i++) xs.push((await step('vpsctl --version', BIN, ['--version'], { env: VPS_ENV, timeoutMs: 30_000 })).ms);
  return xs;
}

async function storageSection(opts, lxcT, progress) {
  const res = { ballast_bytes: BALLAST_BYTES, storage_runs: opts.storageRuns, copy_runs: opts.copyRuns };
  res.cli_floor_ms = await cliFloor();
  res.reflink = await vpsctlStorage('reflink', opts.storageRuns, progress);
  res.plain = await vpsctlStorage('plain', opts.copyRuns, progress);
  res.lxc = lxcT ? await lxcStorage(lxcT, opts.copyRuns, progress) : null;
  return res;
}

// ---- report ----------------------------------------------------------------------------------

const STEPS = [
  ['create', 'create (from the cached template)'],
  ['start', 'start until systemd is running'],
  ['exec', 'exec -- /bin/true'],
  ['stop', 'stop (clean)'],
];

function summarize(runs, key) {
  return runs.length ? median(runs.map((r) => r[key])) : null;
}

function buildReport(ctx) {
  const { opts, template, lxcInfo, leftovers } = ctx;
  const life = opts.lifecycle ? buildLifecycle(ctx) : { vpsctl: null, lxc: null, baseline: null, ratios: null, targets: null };
  return {
    bench: 'vpsctl',
    sections: { lifecycle: opts.lifecycle, storage: opts.storage },
    runs: opts.lifecycle ? opts.runs : null,
    execs_per_run: opts.lifecycle ? opts.execs : null,
    template: { name: TEMPLATE, ...template, build_ms: r1(template.build_ms) },
    host: {
      kernel: os.release(),
      cpus: os.cpus().length,
      loadavg_at_start: ctx.loadStart.map(r2),
      loadavg_at_end: os.loadavg().map(r2),
      node: ctx.nodeVersion,
      node_path: ctx.nodeBin,
      cgroups: cgroupMode(),
      pid1: (readText('/proc/1/comm') ?? '?').trim(),
      orphan_reap_ms: r1(ctx.reapMs),
      lxc: lxcInfo,
    },
    ...life,
    storage: ctx.storage ? buildStorage(ctx.storage, lxcInfo) : null,
    leftovers,
  };
}

/** A list of timings -> { median_ms, runs_ms }. */
const timing = (xs) => ({ median_ms: r1(median(xs.filter((x) => x !== null))), runs_ms: xs.map(r1) });
const r3 = (x) => (x === null || x === undefined ? null : Math.round(x * 1000) / 1000);

function buildStorage(st, lxcInfo) {
  const vstore = (v) => ({
    container: v.container,
    state: v.state,
    runs: v.runs,
    pool: v.pool,
    ...(v.pool_init_ms !== undefined ? { pool_init_ms: r1(v.pool_init_ms) } : {}),
    ballast_write_ms: r1(v.ballast_write_ms),
    image: v.image,
    snapshot: { ...timing(v.snapshot), methods: v.methods, frozen_ms: { median_ms: r3(median(v.frozen.filter((x) => x !== null))), runs_ms: v.frozen.map(r3) } },
    clone: { ...timing(v.clone) },
    helper: {
      snapshot: {
        ...timing(v.helper_snapshot),
        methods: v.helper_snapshot_methods,
        // FIFREEZE itself: new writes inside already wait while it flushes the filesystem
        freeze_ms: { median_ms: r3(median(v.helper_freeze.filter((x) => x !== null))), runs_ms: v.helper_freeze.map(r3) },
        frozen_ms: { median_ms: r3(median(v.helper_frozen.filter((x) => x !== null))), runs_ms: v.helper_frozen.map(r3) },
      },
      clone: { ...timing(v.helper_clone), methods: v.helper_clone_methods },
    },
  });
  const reflink = vstore(st.reflink);
  const plain = vstore(st.plain);
  const lxc = st.lxc
    ? {
        container: st.lxc.container,
        backend: st.lxc.backend,
        state: st.lxc.state,
        runs: st.lxc.runs,
        rootfs_bytes: st.lxc.rootfs_bytes,
        ballast_write_ms: r1(st.lxc.ballast_write_ms),
        snapshot: timing(st.lxc.snapshot),
        copy: timing(st.lxc.copy),
      }
    : null;
  const rat = (a, b) => r2(ratio(a, b));
  const snapWall = reflink.snapshot.median_ms;
  const snapHelper = reflink.helper.snapshot.median_ms;
  const frozen = reflink.snapshot.frozen_ms.median_ms;
  return {
    ballast_bytes: st.ballast_bytes,
    cli_floor: { what: 'vpsctl --version: Node + oclif start-up, paid by every vpsctl command', ...timing(st.cli_floor_ms) },
    vpsctl_reflink: reflink,
    vpsctl_plain: plain,
    lxc,
    ...(lxc ? {} : { lxc_skipped: lxcInfo.skipped ?? 'LXC has no lxc-snapshot/lxc-copy here' }),
    ratios: {
      snapshot_lxc_vs_vpsctl_reflink: lxc ? rat(lxc.snapshot.median_ms, reflink.snapshot.median_ms) : null,
      snapshot_lxc_vs_vpsctl_plain: lxc ? rat(lxc.snapshot.median_ms, plain.snapshot.median_ms) : null,
      clone_lxc_vs_vpsctl_reflink: lxc ? rat(lxc.copy.median_ms, reflink.clone.median_ms) : null,
      clone_lxc_vs_vpsctl_plain: lxc ? rat(lxc.copy.median_ms, plain.clone.median_ms) : null,
      snapshot_vpsctl_plain_vs_reflink: rat(plain.snapshot.median_ms, reflink.snapshot.median_ms),
      clone_vpsctl_plain_vs_reflink: rat(plain.clone.median_ms, reflink.clone.median_ms),
    },
    targets: {
      snapshot_reflink_under_100ms_wall: { target: `< ${TARGET_SNAPSHOT_MS} ms (vpsctl snapshot create, whole command)`, value: snapWall, met: snapWall === null ? null : snapWall < TARGET_SNAPSHOT_MS },
      snapshot_reflink_under_100ms_helper: { target: `< ${TARGET_SNAPSHOT_MS} ms (vps-snap snapshot: syncfs, freeze, FICLONE, thaw, fsync)`, value: snapHelper, met: snapHelper === null ? null : snapHelper < TARGET_SNAPSHOT_MS },
      frozen_few_ms_reflink: { target: `<= ${TARGET_FROZEN_MS} ms (frozen_ms of vpsctl snapshot create)`, value: frozen, met: frozen === null ? null : frozen <= TARGET_FROZEN_MS },
    },
  };
}

function buildLifecycle(ctx) {
  const { vruns, lruns, lxcInfo } = ctx;
  const vps = {};
  const lxc = ctx.lxcUsed ? {} : null;
  const ratios = {};
  for (const [k] of STEPS) {
    vps[k] = { median_ms: r1(summarize(vruns, k)), runs_ms: vruns.map((r) => r1(r[k])) };
    if (lxc) lxc[k] = { median_ms: r1(summarize(lruns, k)), runs_ms: lruns.map((r) => r1(r[k])) };
    ratios[`${k}_vpsctl_vs_lxc`] = lxc ? r2(ratio(vps[k].median_ms, lxc[k].median_ms)) : null;
  }
  vps.start.system_states = vruns.map((r) => r.state);
  vps.stop.how = vruns.map((r) => r.how);
  if (lxc) {
    lxc.start.system_states = lruns.map((r) => r.state);
    lxc.stop.how = lruns.map((r) => r.how);
  }
  vps.start.systemd_userspace_boot_median_ms = r1(median(vruns.map((r) => r.boot).filter((x) => x !== null)));
  if (lxc) lxc.start.systemd_userspace_boot_median_ms = r1(median(lruns.map((r) => r.boot).filter((x) => x !== null)));
  vps.exec.samples_ms = vruns.flatMap((r) => r.exec_samples.map(r1));
  const modes = [...new Set(vruns.map((r) => r.mode ?? 'privileged'))];
  vps.mode = modes.length === 1 ? modes[0] : modes.join('+');
  // --network: each container had an address on the bench's bridge (its veth made at start)
  vps.network = !!ctx.opts?.network;
  if (lxc) lxc.network = vps.network;
  if (lxc) lxc.mode = 'privileged';
  if (lxc) lxc.exec.samples_ms = lruns.flatMap((r) => r.exec_samples.map(r1));
  const nodeSamples = vruns.flatMap((r) => r.node_samples);
  const nodeMedian = median(nodeSamples);
  const execAll = median(vruns.flatMap((r) => r.exec_samples));
  // exec through the REST daemon (a request over its socket), against the CLI and lxc-attach
  const apiAll = median(vruns.flatMap((r) => r.api_samples));
  vps.exec_api = { median_ms: r1(apiAll), samples_ms: vruns.flatMap((r) => r.api_samples.map(r1)), daemon_rss_bytes: ctx.daemonRss ?? null };
  ratios.exec_api_vs_cli = r2(ratio(apiAll, execAll));
  ratios.exec_api_vs_lxc = lxc ? r2(ratio(apiAll, lxc.exec.median_ms)) : null;
  // exec against node: both over all their samples, taken alternately under the same load
  ratios.exec_vpsctl_vs_node = r2(ratio(execAll, nodeMedian));
  const execTarget = ratios.exec_vpsctl_vs_node;
  const startTarget = ratios.start_vpsctl_vs_lxc;
  return {
    vpsctl: vps,
    lxc,
    baseline: { node_e_0: { median_ms: r1(nodeMedian), samples_ms: nodeSamples.map(r1) }, vpsctl_exec_all_samples_median_ms: r1(execAll) },
    ratios,
    targets: {
      exec_within_1_5x_of_node: { target: `<= ${TARGET_EXEC_VS_NODE}`, value: execTarget, met: execTarget === null ? null : execTarget <= TARGET_EXEC_VS_NODE },
      start_no_slower_than_lxc: {
        target: `<= ${TARGET_START_VS_LXC}`,
        value: startTarget,
        met: startTarget === null ? null : startTarget <= TARGET_START_VS_LXC,
        ...(startTarget === null ? { why_not_measured: lxcInfo.skipped } : {}),
      },
    },
  };
}

function cgroupMode() {
  const mi = readText('/proc/self/mountinfo') ?? '';
  const v1 = / - cgroup /.test(mi);
  const v2 = / - cgroup2 /.test(mi);
  return v1 && v2 ? 'hybrid' : v1 ? 'v1' : v2 ? 'v2' : 'none';
}

function table(rep) {
  const out = [];
  const h = rep.host;
  const tpl = `template ${rep.template.name} (${rep.template.source === 'cache' ? `hard-linked from ${rep.template.path}` : `built in ${fmtMs(rep.template.build_ms)}`})`;
  if (rep.sections.lifecycle) out.push(`vpsctl bench: median of ${rep.runs} run${rep.runs > 1 ? 's' : ''} (exec: ${rep.execs_per_run} calls per run), ${tpl}`);
  else out.push(`vpsctl bench (storage only), ${tpl}`);
  out.push(`host: Linux ${h.kernel}, ${h.cpus} CPUs, cgroups ${h.cgroups}, node ${h.node}, ${h.lxc.version ? `LXC ${h.lxc.version}` : 'no LXC'}; load ${h.loadavg_at_start[0]} at start, ${h.loadavg_at_end[0]} at end`);
  if (rep.sections.lifecycle) lifecycleTable(rep, out);
  if (rep.storage) storageTable(rep.storage, out);
  if (rep.leftovers.length) {
    out.push('');
    out.push('LEFT BEHIND on the host (remove by hand):');
    for (const l of rep.leftovers) out.push(`  ${l}`);
  }
  return `${out.join('\n')}\n`;
}

/** Rows of strings -> aligned lines: the first column left, the others right. */
function grid(rows, out) {
  const w = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r) => r.map((c, j) => (j === 0 ? c.padEnd(w[j]) : c.padStart(w[j]))).join('   ').trimEnd();
  out.push(line(rows[0]));
  out.push(w.map((n) => '-'.repeat(n)).join('   '));
  for (const r of rows.slice(1)) out.push(line(r));
}

const verdict = (x) => (x.met === null ? 'not measured' : x.met ? 'MET' : 'MISSED');

function lifecycleTable(rep, out) {
  const lxc = rep.lxc;
  const h = rep.host;
  out.push(`containers: vpsctl ${rep.vpsctl.mode}${lxc ? `, LXC ${lxc.mode}` : ''}${lxc && lxc.mode !== rep.vpsctl.mode ? ' (not the same mode: see --privileged)' : ''}`);
  out.push(`network: ${rep.vpsctl.network ? 'an IPv4 address on a bridged veth each (--network)' : 'loopback only (--network gives each an address on a bridge)'}`);
  out.push('');
  const rows = [['step', 'vpsctl', ...(lxc ? ['LXC', 'vpsctl/LXC'] : [])]];
  for (const [k, label] of STEPS) {
    rows.push([label, fmtMs(rep.vpsctl[k].median_ms), ...(lxc ? [fmtMs(lxc[k].median_ms), fmtRatio(rep.ratios[`${k}_vpsctl_vs_lxc`])] : [])]);
    if (k === 'start') {
      const b = (x) => fmtMs(x.start.systemd_userspace_boot_median_ms);
      rows.push(['  of which systemd boot (systemd-analyze)', b(rep.vpsctl), ...(lxc ? [b(lxc), ''] : [])]);
    }
  }
  grid(rows, out);
  out.push('');
  out.push(`baseline: node -e 0                   ${fmtMs(rep.baseline.node_e_0.median_ms)}`);
  out.push(`vpsctl exec (all samples) / node -e 0  ${fmtRatio(rep.ratios.exec_vpsctl_vs_node)}   (${fmtMs(rep.baseline.vpsctl_exec_all_samples_median_ms)} / ${fmtMs(rep.baseline.node_e_0.median_ms)})`);
  const api = rep.vpsctl.exec_api;
  if (api?.median_ms !== null && api?.median_ms !== undefined) {
    out.push(`exec -- /bin/true through the REST API  ${fmtMs(api.median_ms)}: ${fmtRatio(rep.ratios.exec_api_vs_cli)} of vpsctl exec${lxc ? `, ${fmtRatio(rep.ratios.exec_api_vs_lxc)} of lxc-attach` : ''}`);
    const rss = api.daemon_rss_bytes;
    if (rss) out.push(`the daemon's memory (VmRSS): ${fmtBytes(rss.idle)} idle, ${fmtBytes(rss.after_lists)} after ${rss.lists} lists of ${rss.containers} containers`);
  }
  if (!lxc) out.push(`LXC: ${h.lxc.skipped}`);
  if (h.orphan_reap_ms !== null && h.orphan_reap_ms > 50) {
    out.push(`note: PID 1 here (${h.pid1}) leaves orphans as zombies for ~${fmtMs(h.orphan_reap_ms)}; \`vpsctl stop\` waits for its monitor (a child of PID 1) to be gone, so up to that much of its stop time is the host's, not vpsctl's`);
  }
  out.push('');
  out.push('targets (measured, not asserted):');
  const t = rep.targets;
  out.push(`  exec within ${TARGET_EXEC_VS_NODE}x of bare node:       ${verdict(t.exec_within_1_5x_of_node).padEnd(12)} (${fmtRatio(t.exec_within_1_5x_of_node.value)})`);
  out.push(
    `  start-to-running no slower than LXC: ${verdict(t.start_no_slower_than_lxc).padEnd(12)} (${t.start_no_slower_than_lxc.value === null ? h.lxc.skipped : fmtRatio(t.start_no_slower_than_lxc.value)})`,
  );
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '?';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i && n < 10 ? 1 : 0)} ${u[i]}`;
}

function storageTable(st, out) {
  const R = st.vpsctl_reflink;
  const Pl = st.vpsctl_plain;
  const L = st.lxc;
  out.push('');
  out.push(`storage: snapshot and clone of a container holding ${fmtBytes(st.ballast_bytes)} of random data; medians of ${R.runs} (reflink), ${Pl.runs} (plain)${L ? `, ${L.runs} (LXC)` : ''} runs`);
  out.push(`  vpsctl reflink: ${R.pool.fs}${R.pool.reflink ? ' with reflink' : ' WITHOUT reflink'} (vpsctl pool init --size ${POOL_SIZE} in ${fmtMs(R.pool_init_ms)}), image ${fmtBytes(R.image.size)}, ${fmtBytes(R.image.allocated)} allocated in ${R.image.extents ?? '?'} extents`);
  out.push(`  vpsctl plain:   the pool directory on ${Pl.pool.fs}${Pl.pool.reflink ? ' with reflink' : ' (no reflink: sparse copies)'}, image ${fmtBytes(Pl.image.size)}, ${fmtBytes(Pl.image.allocated)} allocated in ${Pl.image.extents ?? '?'} extents`);
  out.push(`  vpsctl containers RUNNING (snapshot and clone freeze their filesystem)${L ? `; LXC ${L.backend} backend, container STOPPED (rootfs ${fmtBytes(L.rootfs_bytes)})` : `; LXC: ${st.lxc_skipped}`}`);
  out.push('');
  const ra = st.ratios;
  const dash = '-';
  const rows = [['operation', 'vpsctl reflink', 'vpsctl plain', 'LXC', 'LXC/reflink', 'LXC/plain']];
  const rr = (l, a, b) => (l === null || l === undefined ? [dash, dash] : [fmtRatio(ratio(l, a)), fmtRatio(ratio(l, b))]);
  rows.push(['snapshot (snapshot create | lxc-snapshot)', fmtMs(R.snapshot.median_ms), fmtMs(Pl.snapshot.median_ms), L ? fmtMs(L.snapshot.median_ms) : dash, L ? fmtRatio(ra.snapshot_lxc_vs_vpsctl_reflink) : dash, L ? fmtRatio(ra.snapshot_lxc_vs_vpsctl_plain) : dash]);
  rows.push(['  frozen_ms (FIFREEZE to FITHAW)', fmtMs(R.snapshot.frozen_ms.median_ms), fmtMs(Pl.snapshot.frozen_ms.median_ms), L ? 'stopped' : dash, '', '']);
  rows.push(['  vps-snap snapshot alone (no Node/oclif)', fmtMs(R.helper.snapshot.median_ms), fmtMs(Pl.helper.snapshot.median_ms), '', ...rr(L?.snapshot.median_ms, R.helper.snapshot.median_ms, Pl.helper.snapshot.median_ms)]);
  rows.push(['    of which FIFREEZE (writes wait already)', fmtMs(R.helper.snapshot.freeze_ms.median_ms), fmtMs(Pl.helper.snapshot.freeze_ms.median_ms), '', '', '']);
  rows.push(['    of which frozen (FIFREEZE to FITHAW)', fmtMs(R.helper.snapshot.frozen_ms.median_ms), fmtMs(Pl.helper.snapshot.frozen_ms.median_ms), '', '', '']);
  rows.push(['clone (vpsctl clone | lxc-copy)', fmtMs(R.clone.median_ms), fmtMs(Pl.clone.median_ms), L ? fmtMs(L.copy.median_ms) : dash, L ? fmtRatio(ra.clone_lxc_vs_vpsctl_reflink) : dash, L ? fmtRatio(ra.clone_lxc_vs_vpsctl_plain) : dash]);
  rows.push(['  vps-snap clone alone (the copy itself)', fmtMs(R.helper.clone.median_ms), fmtMs(Pl.helper.clone.median_ms), '', ...rr(L?.copy.median_ms, R.helper.clone.median_ms, Pl.helper.clone.median_ms)]);
  grid(rows, out);
  out.push('');
  out.push(`vpsctl --version (Node + oclif start-up, in every vpsctl command): ${fmtMs(st.cli_floor.median_ms)}`);
  const stall = R.helper.snapshot.freeze_ms.median_ms === null ? null : R.helper.snapshot.freeze_ms.median_ms + R.helper.snapshot.frozen_ms.median_ms;
  out.push(`note: frozen_ms counts from FIFREEZE's return, but writes inside wait from its start (it flushes the filesystem first): on the reflink pool the guest's writes stall ~${fmtMs(stall)} (vps-snap: FIFREEZE + frozen)`);
  out.push(`copy methods: snapshot ${[...new Set(R.snapshot.methods)].join('/')} (reflink pool), ${[...new Set(Pl.snapshot.methods)].join('/')} (plain); vps-snap fsyncs its copy, LXC's rsync does not`);
  out.push('');
  out.push('storage targets (measured, not asserted):');
  const t = st.targets;
  out.push(`  snapshot on a reflink pool < ${TARGET_SNAPSHOT_MS} ms, whole vpsctl command: ${verdict(t.snapshot_reflink_under_100ms_wall).padEnd(12)} (${fmtMs(t.snapshot_reflink_under_100ms_wall.value)})`);
  out.push(`  snapshot on a reflink pool < ${TARGET_SNAPSHOT_MS} ms, vps-snap alone:        ${verdict(t.snapshot_reflink_under_100ms_helper).padEnd(12)} (${fmtMs(t.snapshot_reflink_under_100ms_helper.value)})`);
  out.push(`  container frozen <= ${TARGET_FROZEN_MS} ms (reflink pool):                  ${verdict(t.frozen_few_ms_reflink).padEnd(12)} (${fmtMs(t.frozen_few_ms_reflink.value)})`);
}

// ---- main ------------------------------------------------------------------------------------

function takePidfile() {
  for (let i = 0; i < 2; i++) {
    try {
      fs.writeFileSync(PIDFILE, `${process.pid}\n`, { flag: 'wx', mode: 0o644 });
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const pid = Number((readText(PIDFILE) ?? '').trim());
      const cmd = pid ? (readText(`/proc/${pid}/cmdline`) ?? '') : '';
      if (pid && cmd.includes('bench.mjs')) {
        say(`bench: another bench is running (pid ${pid}); wait for it to finish`);
        process.exit(1);
      }
      fs.rmSync(PIDFILE, { force: true }); // stale, from a killed run
    }
  }
}

async function main() {
  const opts = parseCli(process.argv.slice(2));
  if (process.getuid?.() !== 0) {
    say('bench: vpsctl runs real containers (loop devices, cgroups, namespaces): run it as root');
    process.exit(1);
  }
  // what bin/vpsctl loads (its exec fast path) and what the storage section runs directly
  if (!['dist/index.js', 'dist/core/quick-exec.js', 'oclif.manifest.json', 'helpers/vps-snap'].every((f) => fs.existsSync(path.join(REPO, f)))) {
    say('bench: vpsctl is not built: run `npm run build` (or use `npm run bench`, which builds first)');
    process.exit(1);
  }
  if (opts.privileged) {
    let flags = {};
    try {
      flags = JSON.parse(fs.readFileSync(path.join(REPO, 'oclif.manifest.json'), 'utf8')).commands.create.flags;
    } catch {
      /* no manifest: let create say it */
    }
    if (!('privileged' in flags)) {
      say('bench: this vpsctl has no `create --privileged` (its containers are all privileged): run without --privileged');
      process.exit(2);
    }
  }
  const nodeBin = which('node') ?? process.execPath; // what bin/vpsctl's `#!/usr/bin/env node` runs
  const lxcT = opts.lxc ? lxcTools() : null;
  let lxcInfo;
  if (!opts.lxc) lxcInfo = { version: null, skipped: 'skipped (--no-lxc)' };
  else if (!lxcT) {
    lxcInfo = { version: null, skipped: 'LXC not installed: apt-get install lxc (or bin/setup --bench)' };
    say(lxcInfo.skipped);
  } else {
    const v = await run(lxcT['lxc-start'], ['--version'], { timeoutMs: 10_000 });
    lxcInfo = { version: v.stdout.trim() || null, skipped: null };
  }
  const lxcStopTool = lxcT?.['lxc-stop'] ?? which('lxc-stop');

  takePidfile();
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      if (cleaning) {
        say(`bench: ${sig}: still cleaning up, please wait`);
        return;
      }
      if (!interrupted) say(`\nbench: ${sig}: stopping and cleaning up...`);
      interrupted = interrupted ?? sig;
      for (const c of active) killChild(c, 'SIGTERM');
    });
  }

  let exitCode = 0;
  let report = null;
  try {
    if (fs.existsSync(BASE) || fs.existsSync(RUN) || fs.existsSync(REFLINK_RUN) || ourCgroups().length) {
      say('cleaning up what an earlier, interrupted bench left ...');
      for (const p of await cleanup(lxcStopTool)) say(`  ${p}`);
      cleaning = false;
      checkInterrupted();
    }
    fs.mkdirSync(BASE, { recursive: true, mode: 0o700 });
    const loadStart = os.loadavg();
    const nodeVersion = (await run(nodeBin, ['--version'], { timeoutMs: 10_000 })).stdout.trim();
    say(`template ${TEMPLATE} ...`);
    const template = await prepareTemplate();
    say(`  ${template.source === 'cache' ? `hard-linked from ${template.path}` : `built in ${fmtMs(template.build_ms)}`}`);
    checkInterrupted();
    if (lxcT) await lxcMountTemplate();

    const vruns = [];
    const lruns = [];
    let daemonRss = null;
    if (opts.lifecycle) {
      daemon = await startDaemon(BIN, VPS_ENV);
      daemonRss = { idle: rssBytes(daemon.child.pid) };
    }
    for (let i = 1; opts.lifecycle && i <= opts.runs; i++) {
      // alternate which goes first, so that neither always runs on a warmer (or busier) host
      const order = lxcT && i % 2 === 0 ? ['lxc', 'vpsctl'] : ['vpsctl', 'lxc'];
      for (const which_ of order) {
        if (which_ === 'vpsctl') {
          const r = await vpsctlRun(i, opts, nodeBin);
          vruns.push(r);
          say(`run ${i}/${opts.runs} vpsctl: create ${fmtMs(r.create)}, start ${fmtMs(r.start)} (boot ${fmtMs(r.boot)}), exec ${fmtMs(r.exec)} (node -e 0 ${fmtMs(median(r.node_samples))}), stop ${fmtMs(r.stop)}`);
        } else if (lxcT) {
          const r = await lxcRun(i, opts.execs, lxcT, opts.network);
          lruns.push(r);
          say(`run ${i}/${opts.runs} LXC:    create ${fmtMs(r.create)}, start ${fmtMs(r.start)} (boot ${fmtMs(r.boot)}), exec ${fmtMs(r.exec)}, stop ${fmtMs(r.stop)}`);
        }
      }
    }
    if (daemon) {
      const lists = 20;
      let containers = 0;
      for (let k = 0; k < lists; k++) containers = JSON.parse((await call(daemon.socket, 'GET', '/1.0/containers')).body).length;
      Object.assign(daemonRss, { after_lists: rssBytes(daemon.child.pid), lists, containers });
      await stopDaemon(daemon);
      daemon = null;
    }
    const reapMs = opts.lifecycle ? await orphanReapMs() : null;
    let storage = null;
    if (opts.storage) {
      const lxcS = lxcT ? lxcStorageTools() : null;
      if (lxcT && !lxcS) say('storage: this LXC has no lxc-snapshot or lxc-copy: the storage section runs without LXC');
      storage = await storageSection(opts, lxcS, say);
    }
    report = { opts, template, vruns, lruns, lxcInfo, lxcUsed: !!lxcT, loadStart, nodeVersion, nodeBin, reapMs, storage, daemonRss };
  } catch (e) {
    if (e instanceof Interrupted) {
      exitCode = interrupted === 'SIGINT' ? 130 : interrupted === 'SIGHUP' ? 129 : 143;
    } else {
      exitCode = 1;
      say(`bench: ${e instanceof StepFailed ? e.message : e.stack}`);
    }
  } finally {
    say('cleaning up ...');
    await stopDaemon(daemon); // by its pid, before the containers it could still be serving go
    const problems = await cleanup(lxcStopTool);
    for (const p of problems) say(`  ${p}`);
    const left = await leaks();
    if (left.length) {
      say('bench: these were left behind on the host:');
      for (const l of left) say(`  ${l}`);
      if (exitCode === 0) exitCode = 1;
    }
    fs.rmSync(PIDFILE, { force: true });
    if (report) {
      const rep = buildReport({ ...report, leftovers: left });
      process.stdout.write(opts.json ? `${JSON.stringify(rep, null, 2)}\n` : `\n${table(rep)}`);
    }
  }
  process.exit(exitCode);
}

await main();
