/**
 * The guest suite's own helpers, on top of the integration harness (test/integration/harness.ts,
 * which isolates each test file's state root, run dir and cgroup parent): timings that the
 * host prints after the run, and what the guest sees when a container does not come up.
 */
import { execa } from 'execa';
import { appendFileSync, existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { TEST_SLICE, vpsctl, type Env, type Result } from '../integration/harness.js';

/** Where vpsctl puts the test containers on the guest, a systemd host: their scopes in the test slice. */
export const PARENT_CGROUP = TEST_SLICE;

/** Adds a line to the timings the host prints after the run (results/timings.txt). */
export function record(line: string): void {
  const dir = process.env.VPSCTL_GUEST_RESULTS;
  if (dir) appendFileSync(path.join(dir, 'timings.txt'), `${line}\n`);
}

/** Runs the CLI as harness.vpsctl does, and records how long it took under `label`. */
export async function timed(label: string, e: Env, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<Result> {
  const t = performance.now();
  const r = await vpsctl(e, args, opts);
  record(`${label}: ${((performance.now() - t) / 1000).toFixed(1)} s (exit ${r.exitCode})`);
  return r;
}

const read = (f: string): string => {
  try {
    return readFileSync(f, 'utf8').trim();
  } catch (err) {
    return `(${(err as NodeJS.ErrnoException).code})`;
  }
};

const comm = (pid: string): string => read(`/proc/${pid}/comm`);

/** Every cgroup under `root`: its type, the controllers it enables for its children, its processes. */
export function cgroupTree(root = PARENT_CGROUP): string {
  if (!existsSync(root)) return `${root}: (none)`;
  const out: string[] = [];
  const walk = (dir: string): void => {
    const procs = read(path.join(dir, 'cgroup.procs')).split('\n').filter(Boolean);
    out.push(
      `${path.relative('/sys/fs/cgroup', dir)}  type=${read(path.join(dir, 'cgroup.type'))}` +
        `  subtree_control=[${read(path.join(dir, 'cgroup.subtree_control'))}]` +
        `  procs=[${procs.map((p) => `${p} ${comm(p)}`).join(', ')}]`,
    );
    for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) walk(path.join(dir, d.name));
  };
  walk(root);
  return out.join('\n');
}

// without the terminal's colours and cursor moves
const plain = (s: string): string => s.replace(/\x1b(\[[0-9;?]*[A-Za-z]|[A-Za-z])/g, '').replace(/\r/g, '');
const tail = (f: string, n: number): string => plain(read(f)).split('\n').slice(-n).join('\n');

/** A command inside the container's namespaces through nsenter, which joins no cgroup. */
async function nsenter(pid: number, cmd: string[]): Promise<string> {
  const r = await execa('nsenter', ['--all', '-t', String(pid), '--', ...cmd], { reject: false, timeout: 60_000 });
  return `${cmd.join(' ')} (exit ${r.exitCode}):\n${`${r.stdout}\n${r.stderr}`.trim()}`;
}

/** What the guest sees of a container that did not come up, for a failure message. */
export async function whyNotUp(e: Env, id: string): Promise<string> {
  const status = await vpsctl(e, ['status', id, '--json']);
  let st: { init_pid?: number | null; started?: string } = {};
  try {
    st = JSON.parse(status.stdout) as typeof st;
  } catch {
    /* status failed: shown below */
  }
  const initPid = st.init_pid;
  const run = path.join(e.run, id);
  const exec = await timed('exec, container not up', e, ['exec', id, '--', 'systemctl', 'is-system-running'], { timeoutMs: 120_000 });
  let quiet = '';
  try {
    const s = (statSync(path.join(run, 'console.log')).mtimeMs - Date.parse(st.started ?? '')) / 1000;
    if (Number.isFinite(s)) quiet = ` (last written ${s.toFixed(0)} s after the start)`;
  } catch {
    /* no console log */
  }
  return [
    `--- vpsctl status ${id} --json (exit ${status.exitCode}):\n${status.stdout.trim()}${status.stderr.trim()}`,
    `--- vpsctl exec ${id} -- systemctl is-system-running (exit ${exec.exitCode}):\n${`${exec.stdout}\n${exec.stderr}`.trim()}`,
    `--- /proc/self/cgroup (the test runner):\n${read('/proc/self/cgroup')}`,
    `--- /proc/${initPid}/cgroup (the container's init):\n${initPid ? read(`/proc/${initPid}/cgroup`) : '(no init pid)'}`,
    `--- /sys/fs/cgroup/cgroup.subtree_control: ${read('/sys/fs/cgroup/cgroup.subtree_control')}`,
    `--- the tree under ${PARENT_CGROUP}:\n${cgroupTree()}`,
    `--- ${run}/monitor.log (end):\n${tail(path.join(run, 'monitor.log'), 40)}`,
    `--- ${run}/console.log${quiet} (end):\n${tail(path.join(run, 'console.log'), 30)}`,
    ...(initPid
      ? [
          `--- inside, through nsenter (joins the namespaces, not the cgroup):`,
          await nsenter(initPid, ['systemctl', 'is-system-running']),
          await nsenter(initPid, ['systemctl', '--failed', '--no-legend', '--plain']),
          await nsenter(initPid, ['cat', '/proc/1/cgroup']),
        ]
      : []),
  ].join('\n');
}
