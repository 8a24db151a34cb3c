/**
 * The admin's hooks on a real container: a pre-start hook that fails stops the start with its
 * message and leaves nothing behind; a container's own post-stop hook runs after a poweroff
 * typed inside (the monitor runs it); a hook others could change is refused, never run.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { cgroupsLeft, json, loopsUnder, makeEnv, newId, ok, until, vpsctl, type Env } from './harness.js';

const e: Env = makeEnv();
const id = newId('hk');
const HOOKS = e.env.VPSCTL_HOOKS_DIR;
const OUT = path.join(e.root, 'hook-out');

/** A hook program (shell), root's and 0755 unless told. */
function program(file: string, body: string, mode = 0o755): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, mode);
  return file;
}

beforeAll(async () => {
  await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
}, 300_000);

afterAll(async () => {
  await vpsctl(e, ['destroy', id, '--force']);
});

describe('hooks', () => {
  it('a failing pre-start hook stops the start with its message, and nothing is left', async () => {
    const pre = program(path.join(HOOKS, 'pre-start', '10-billing'), 'echo "$VPSCTL_ID: invoice overdue" >&2; exit 1');
    const r = await vpsctl(e, ['start', id]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`pre-start hook ${pre} stopped the start of ${id}: exit 1: ${id}: invoice overdue`));
    expect((await json<{ state: string }>(e, ['status', id])).state).toBe('stopped');
    expect(await loopsUnder(e.root)).toEqual([]);
    expect(cgroupsLeft(id)).toEqual([]);
    expect(existsSync(path.join(e.run, id, 'state.json'))).toBe(false);
    expect(await json<{ kind: string }[]>(e, ['events', id, '--kind', 'started'])).toEqual([]);
    rmSync(pre);
  });

  it("a container's own post-stop hook runs after a poweroff inside, with the reason", async () => {
    const post = program(path.join(e.root, 'own-hooks', 'post-stop'), `echo "$VPSCTL_HOOK $VPSCTL_ID $VPSCTL_STOP_REASON" >> ${OUT}`);
    expect(await ok(e, ['set', id, '--hook', `post-stop=${post}`])).toContain(`hooks of ${id}: post-stop ${post}`);
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).toContain(`hooks:\n  post-stop: ${post}\n`);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    await vpsctl(e, ['exec', id, '--', 'systemctl', 'poweroff']);
    await until(() => json<{ state: string }>(e, ['status', id]), (s) => s.state === 'stopped', 90_000, 500);
    await until(() => (existsSync(OUT) ? readFileSync(OUT, 'utf8') : ''), (t) => t.length > 0, 30_000);
    expect(readFileSync(OUT, 'utf8')).toBe(`post-stop ${id} poweroff\n`);
    // and after a stop asked for, once, before stop returns
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    await ok(e, ['stop', id]);
    expect(readFileSync(OUT, 'utf8')).toBe(`post-stop ${id} poweroff\npost-stop ${id} stop\n`);
  }, 600_000);

  it('set --hook refuses an unknown event or a relative path, and EVENT=none removes it', async () => {
    const bad = await vpsctl(e, ['set', id, '--hook', 'pre-boot=/x']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/unknown event "pre-boot".*events: pre-create, post-create/s);
    expect((await vpsctl(e, ['set', id, '--hook', 'pre-start=relative/x'])).exitCode).toBe(2);
    await ok(e, ['set', id, '--hook', 'post-stop=none']);
    expect(readFileSync(path.join(e.root, 'containers', id, 'config.yaml'), 'utf8')).not.toContain('hooks:');
  });

  it('a hook that others could change is refused, never run', async () => {
    const marker = path.join(e.root, 'ran');
    const open = program(path.join(HOOKS, 'pre-start', '20-open'), `touch ${marker}`, 0o757);
    const r = await vpsctl(e, ['start', id]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/refused: .*20-open is writable by others \(mode 757\)/);
    expect(existsSync(marker)).toBe(false);
    expect((await json<{ state: string }>(e, ['status', id])).state).toBe('stopped');
    rmSync(open);
  });
});
