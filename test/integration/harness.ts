/**
 * Integration harness: real containers, as root, on real loop devices and cgroups.
 * Each test file gets its own state root, run dir and cgroup parent, so runs never touch a
 * real installation; the Debian template is built once per machine into TEMPLATE_CACHE and
 * hard-linked into each root.
 */
import { execa } from 'execa';
import { existsSync, linkSync, copyFileSync, lstatSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

// an admin's own VPSCTL_* settings in the shell that runs the tests never reach the vpsctl
// they run (each test names its own root, bridge, ratios...): only VPSCTL_TEST_* are for us
for (const k of Object.keys(process.env)) if (k.startsWith('VPSCTL_') && !k.startsWith('VPSCTL_TEST_') && !k.startsWith('VPSCTL_GUEST_')) delete process.env[k];

/** Jest runs from the repository root (rootDir); globalSetup loads this file as CommonJS, so no import.meta here. */
export const REPO = process.cwd();
export const BIN = path.join(REPO, 'bin', 'vpsctl');
/** One template build per machine, reused by every run (CI included). */
export const TEMPLATE_CACHE = process.env.VPSCTL_TEST_TEMPLATE_ROOT || '/var/cache/vpsctl/test-root';
export const TEMPLATE = 'debian-12';
/** Built once per machine by the global setup: debian-12 for every test, 11 and 13 for the template tests. */
export const TEMPLATES = ['debian-12', 'debian-11', 'debian-13'];
/** Everything a test run makes lives under these, which the leak check scans. */
export const TEST_BASE = '/var/tmp/vpsctl-test';
export const TEST_RUN_BASE = '/run/vpsctl-test';
export const CGROUP_PARENT = 'vpsctl-test';
/** Test state roots take user-namespace ids from here up (64 roots of 64 ranges each). */
export const TEST_IDMAP_BASE = 1_000_000_000;

export interface Env {
  root: string;
  run: string;
  env: Record<string, string>;
}

/** A fresh state root with the cached template(s) linked into its pool. */
export function makeEnv(templates: string[] = [TEMPLATE]): Env {
  const tag = randomBytes(3).toString('hex');
  const root = path.join(TEST_BASE, tag);
  const run = path.join(TEST_RUN_BASE, tag);
  const tdir = path.join(root, 'pool', 'templates');
  mkdirSync(tdir, { recursive: true, mode: 0o700 });
  for (const f of templates.flatMap((t) => [`${t}.img`, `${t}.yaml`])) {
    const src = path.join(TEMPLATE_CACHE, 'pool', 'templates', f);
    try {
      linkSync(src, path.join(tdir, f));
    } catch {
      copyFileSync(src, path.join(tdir, f));
    }
  }
  return {
    root,
    run,
    env: {
      VPSCTL_ROOT: root,
      VPSCTL_RUN_DIR: run,
      VPSCTL_CGROUP_PARENT: CGROUP_PARENT,
      VPSCTL_CONFIG: path.join(root, 'no-host-config.yaml'),
      // an admin's hooks on this machine never run in tests; hooks.test.ts writes its own here
      VPSCTL_HOOKS_DIR: path.join(root, 'hooks.d'),
      // far from a real installation's ranges (default 1000000), so test containers never
      // share host ids with containers of the machine's own state root
      VPSCTL_IDMAP_BASE: String(TEST_IDMAP_BASE + (parseInt(tag, 16) % 64) * 64 * 65536),
      VPSCTL_IDMAP_RANGES: '64',
      // test containers' disks are sparse and nearly empty, and many test files share this
      // machine's disk: the space guard is shown with its defaults in storage.test.ts ("promises")
      VPSCTL_DISK_OVERCOMMIT_RATIO: '100',
    },
  };
}

export interface Result {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI, as a user would. Never throws on a non-zero exit. */
export async function vpsctl(e: Env, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
  const r = await execa(BIN, args, {
    env: { ...e.env },
    reject: false,
    input: opts.input,
    stdin: opts.input === undefined ? 'ignore' : undefined,
    timeout: opts.timeoutMs ?? 300_000,
    stripFinalNewline: false,
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** `sh -c SCRIPT` in a running container (vpsctl exec): its exit code and both outputs. */
export async function shIn(e: Env, id: string, script: string, opts: { timeoutMs?: number } = {}): Promise<{ exitCode: number; out: string }> {
  const r = await vpsctl(e, ['exec', id, '--', 'sh', '-c', script], opts);
  return { exitCode: r.exitCode, out: `${r.stdout}${r.stderr}` };
}

/** Runs the CLI and expects success; the failure message carries stderr. */
export async function ok(e: Env, args: string[], opts: { input?: string } = {}): Promise<string> {
  const r = await vpsctl(e, args, opts);
  if (r.exitCode !== 0) throw new Error(`vpsctl ${args.join(' ')} exited ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

export async function json<T = Record<string, unknown>>(e: Env, args: string[]): Promise<T> {
  return JSON.parse(await ok(e, [...args, '--json'])) as T;
}

/** Output of a command inside the container, trimmed. */
export async function inside(e: Env, id: string, cmd: string[]): Promise<string> {
  return (await ok(e, ['exec', id, '--', ...cmd])).trim();
}

/** A unique container id for this file. */
let n = 0;
export function newId(prefix = 't'): string {
  return `${prefix}-${process.pid % 10000}-${++n}`;
}

/** Loop devices whose backing file is under `dir`. */
export async function loopsUnder(dir: string): Promise<string[]> {
  const r = await execa('losetup', ['--noheadings', '--output', 'NAME,BACK-FILE', '--list'], { reject: false });
  return String(r.stdout)
    .split('\n')
    .filter((l) => l.includes(dir));
}

/** Mounts, in any process's mount namespace, whose path or source mentions `needle`. */
export function mountsMentioning(needle: string): string[] {
  const out = new Set<string>();
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let mi = '';
    try {
      mi = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
    } catch {
      continue;
    }
    for (const line of mi.split('\n')) if (line.includes(needle)) out.add(line.split(' ').slice(3, 5).join(' '));
  }
  return [...out];
}

/**
 * Where a systemd host keeps the test containers' scopes, `<parent>-<id>.scope`:
 * vpsctl.slice/vpsctl-test.slice, as src/limits/cgroups.ts systemdUnits names them (spelled
 * out here: the global setup loads this file as CommonJS, which cannot load src; a unit test
 * checks the two agree).
 */
export const TEST_SLICE = path.join('/sys/fs/cgroup', ...CGROUP_PARENT.split('-').map((_, i, a) => `${a.slice(0, i + 1).join('-')}.slice`));
export const testScope = (id: string): string => `${CGROUP_PARENT}-${id}.scope`;

/**
 * Container cgroups left under the test cgroup parent, in every hierarchy ('': a pure cgroup v2
 * root), and the containers' scopes in the test slice of a systemd host.
 */
export function cgroupsLeft(id?: string): string[] {
  const out: string[] = [];
  const under = (parent: string, name: (d: string) => boolean): void => {
    if (!existsSync(parent)) return;
    for (const d of readdirSync(parent, { withFileTypes: true })) if (d.isDirectory() && name(d.name)) out.push(path.join(parent, d.name));
  };
  for (const h of ['', ...readdirSync('/sys/fs/cgroup')]) under(path.join('/sys/fs/cgroup', h, CGROUP_PARENT), (d) => !id || d === id);
  under(TEST_SLICE, (d) => !id || d === testScope(id));
  return out;
}

/** Processes whose command line mentions `needle` (monitors of this run). */
export function processesMentioning(needle: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle) && Number(pid) !== process.pid) out.push(`${pid}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Every path under a root, with each file's size: equal listings prove nothing changed on disk. */
export function listingOf(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(d, n);
      const st = lstatSync(p);
      out.push(`${p} ${st.isFile() ? st.size : ''}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out.sort();
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits for a condition, polling; returns its last value. */
export async function until<T>(fn: () => Promise<T> | T, pred: (v: T) => boolean, timeoutMs = 60_000, stepMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (pred(v) || Date.now() > deadline) return v;
    await sleep(stepMs);
  }
}
