/**
 * The C helpers' unit tests (`make -C helpers check`, TAP, one plan per test binary after a
 * "# test/check-NAME" line): common.c (validators, JSON escaping, pid parsing, errno -> exit
 * code, the symlink-refusing walk mounts go through) and the helpers' argument and spec
 * parsing (vps-spawn, vps-enter, vps-limit, vps-net), and the seccomp filter's keyring calls
 * loaded for real (EPERM privileged, ENOSYS unprivileged, allowed with the keyctl feature).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

interface Tap { name: string; plan: number; ok: number; notOk: string[] }

/** Splits make's output at the "# test/check-NAME" lines into one TAP stream each. */
function streams(out: string): Tap[] {
  const all: Tap[] = [];
  for (const line of out.split('\n')) {
    const head = /^# (test\/check-[\w-]+)$/.exec(line);
    if (head) all.push({ name: head[1], plan: -1, ok: 0, notOk: [] });
    const t = all[all.length - 1];
    if (!t) continue;
    const plan = /^1\.\.(\d+)$/.exec(line);
    if (plan) t.plan = Number(plan[1]);
    if (/^ok \d+ /.test(line)) t.ok++;
    if (line.startsWith('not ok')) t.notOk.push(line);
  }
  return all;
}

const BINARIES = ['test/check-common', 'test/check-spawn-args', 'test/check-enter-args', 'test/check-confine', 'test/check-limit-args', 'test/check-net-spec'];
const r = spawnSync('make', ['-s', '-C', path.join(process.cwd(), 'helpers'), 'check'], { encoding: 'utf8' });
const taps = streams(r.stdout);

it('make -C helpers check exits 0 and runs every test binary', () => {
  expect([r.status, r.stderr]).toEqual([0, '']);
  expect(taps.map((t) => t.name)).toEqual(BINARIES);
});

describe.each(BINARIES)('%s', (name) => {
  it('passes every TAP test it plans', () => {
    const t = taps.find((x) => x.name === name);
    expect(t?.notOk).toEqual([]);
    expect(t?.plan).toBeGreaterThanOrEqual(10);
    expect(t?.ok).toBe(t?.plan);
  });
});
