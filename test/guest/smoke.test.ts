/**
 * The smoke spine on the platform users run: a Debian 12 guest kernel with systemd as PID 1 on
 * a pure cgroup v2 tree. host check, create, start --wait, exec, stop, destroy, and nothing
 * left behind. The steps run in order on one container; a step that needs a running
 * container fails with that reason when start --wait did not bring it up.
 */
import { readFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { cgroupsLeft, json, loopsUnder, makeEnv, mountsMentioning, newId, ok, processesMentioning, vpsctl, type Env } from '../integration/harness.js';
import { cgroupTree, timed, whyNotUp } from './guest.js';

const e: Env = makeEnv();
const id = newId('smoke');
let up = false;

function needUp(): void {
  if (!up) throw new Error('not run: the container did not come up (see the start --wait failure above)');
}

afterAll(async () => {
  await vpsctl(e, ['destroy', id, '--force']);
});

describe('the smoke spine on pure cgroup v2', () => {
  it('runs in a guest with systemd as PID 1 on a pure cgroup v2 tree', () => {
    expect(readFileSync('/proc/1/comm', 'utf8').trim()).toBe('systemd');
    const cgroupMounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .filter((l) => / cgroup2? /.test(l))
      .map((l) => l.split(' ').slice(1, 3).join(' '));
    expect(cgroupMounts).toEqual(['/sys/fs/cgroup cgroup2']);
  });

  it('host check reports cgroup v2 and a ready host', async () => {
    const r = await vpsctl(e, ['host', 'check', '--json']);
    const j = JSON.parse(r.stdout) as { cgroup_mode: string; checks: { name: string; status: string; detail?: string; hint?: string }[] };
    expect(j.cgroup_mode).toBe('v2');
    expect({ exitCode: r.exitCode, missing: j.checks.filter((c) => c.status === 'missing') }).toEqual({ exitCode: 0, missing: [] });
  });

  it('creates a container from debian-12', async () => {
    const r = await timed('create', e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    expect(r).toMatchObject({ exitCode: 0 });
  });

  it('start --wait returns once systemd inside is running', async () => {
    const r = await timed('start --wait', e, ['start', id, '--wait', '--timeout', '300s', '--json'], { timeoutMs: 400_000 });
    if (r.exitCode !== 0) {
      throw new Error(`vpsctl start ${id} --wait exited ${r.exitCode}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}\n\n${await whyNotUp(e, id)}`);
    }
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'running', system_state: 'running' });
    up = true;
    const state = await timed('exec systemctl is-system-running', e, ['exec', id, '--', 'systemctl', 'is-system-running']);
    expect(state).toMatchObject({ exitCode: 0, stdout: 'running\n' });
  });

  it('exec passes stdin, stdout, stderr and the exit code through', async () => {
    needUp();
    const data = randomBytes(32).toString('hex');
    expect(await vpsctl(e, ['exec', id, '--', 'cat'], { input: data })).toMatchObject({ exitCode: 0, stdout: data });
    expect(await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'echo out; echo err >&2; exit 7'])).toEqual({ exitCode: 7, stdout: 'out\n', stderr: 'err\n' });
    expect((await vpsctl(e, ['exec', id, '--', 'no-such-command'])).exitCode).toBe(127);
    for (let i = 0; i < 3; i++) expect((await timed('exec true', e, ['exec', id, '--', 'true'])).exitCode).toBe(0);
  });

  it('stop shuts systemd down cleanly', async () => {
    needUp();
    const r = await timed('stop', e, ['stop', id, '--json']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ how: 'clean' });
    expect(await json<{ state: string }>(e, ['status', id])).toMatchObject({ state: 'stopped' });
  });

  it('destroy leaves nothing behind: no cgroup, loop device, mount or process', async () => {
    await ok(e, ['destroy', id, '--force']);
    expect(existsSync(path.join(e.root, 'containers', id))).toBe(false);
    const left = {
      cgroups: cgroupsLeft(),
      loops: await loopsUnder(e.root),
      mounts: [...mountsMentioning(e.root), ...mountsMentioning(e.run)],
      processes: processesMentioning(e.run),
    };
    if (left.cgroups.length) left.cgroups.push(cgroupTree());
    expect(left).toEqual({ cgroups: [], loops: [], mounts: [], processes: [] });
  });
});
