/** host check / host info and the template cache, on this real host. */
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { json, makeEnv, mountsMentioning, ok, vpsctl } from './harness.js';

const e = makeEnv();

describe('host', () => {
  it('check says the host is ready, with each check and how to fix it', async () => {
    const r = await vpsctl(e, ['host', 'check', '--json']);
    const j = JSON.parse(r.stdout) as { ok: boolean; cgroup_mode: string; checks: { name: string; status: string; hint?: string }[] };
    const missing = j.checks.filter((c) => c.status === 'missing');
    expect({ exitCode: r.exitCode, missing }).toEqual({ exitCode: 0, missing: [] });
    expect(j.cgroup_mode).toMatch(/^(v1|hybrid|v2)$/);
    for (const n of ['namespace pid', 'loop devices', 'cgroups', 'mkfs.ext4', 'debootstrap', 'helper vps-spawn', 'idmapped mounts']) {
      expect(j.checks.map((c) => c.name)).toContain(n);
    }
    expect(j.checks.every((c) => c.status === 'ok' || c.hint)).toBe(true);
    const table = await ok(e, ['host', 'check']);
    expect(table).toMatch(/^CHECK\s+STATUS\s+DETAIL/m);
  });

  it('check exits 6 and names the fix when something required is missing', async () => {
    // helpers not built, as in a clone where the build did not run
    const r = await vpsctl({ ...e, env: { ...e.env, VPSCTL_HELPERS_DIR: path.join(e.root, 'no-helpers') } }, ['host', 'check', '--json']);
    expect(r.exitCode).toBe(6);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.checks.find((c: { name: string }) => c.name === 'helper vps-spawn')).toMatchObject({ status: 'missing', hint: expect.stringContaining('npm run build') });
    const start = await vpsctl({ ...e, env: { ...e.env, VPSCTL_HELPERS_DIR: path.join(e.root, 'no-helpers') } }, ['host', 'check']);
    expect(start.stdout).toMatch(/host not ready/);
  });

  it('info describes CPUs, memory, the pool, and what the containers commit', async () => {
    const j = await json<Record<string, number | string>>(e, ['host', 'info']);
    expect(j.cpus).toBeGreaterThan(0);
    expect(j.memory_total).toBeGreaterThan(1024 ** 3);
    expect(j.pool_size).toBeGreaterThan(0);
    expect(j).toMatchObject({ containers: 0, running: 0, committed_disk: 0, cgroup_mode: expect.any(String) });
  });
});

describe('templates', () => {
  it('lists the cached template with its metadata', async () => {
    const list = await json<{ name: string; os: string; version: string; arch: string; source: string; size: number }[]>(e, ['template', 'list']);
    expect(list).toEqual([expect.objectContaining({ name: 'debian-12', os: 'debian', version: '12', arch: 'amd64', source: expect.stringMatching(/^debootstrap bookworm/) })]);
    expect(await ok(e, ['template', 'list'])).toMatch(/^debian-12\s+debian 12\s+amd64/m);
  });

  it('skips a second build unless --force', async () => {
    const r = await vpsctl(e, ['template', 'build', 'debian-12', '--json']);
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ built: false });
  });

  it('a failed rebuild leaves the cached template as it was and no build tree behind', async () => {
    const tdir = path.join(e.root, 'pool', 'templates');
    const img = path.join(tdir, 'debian-12.img');
    const before = statSync(img).mtimeMs;
    // a mirror nobody serves (loopback, closed port): debootstrap fails at once
    const r = await vpsctl(e, ['template', 'build', 'debian-12', '--force', '--mirror', 'http://127.0.0.1:9/debian']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/debootstrap failed/);
    expect(r.stderr).toMatch(/hint: check the mirror/);
    expect(statSync(img).mtimeMs).toBe(before);
    expect(readdirSync(tdir).sort()).toEqual(['debian-12.img', 'debian-12.yaml']);
  });

  it('the next build clears a build tree left by a killed build, mounts and all', async () => {
    const tdir = path.join(e.root, 'pool', 'templates');
    const stale = path.join(tdir, '.build-debian-12-killed', 'rootfs', 'proc');
    mkdirSync(stale, { recursive: true });
    await execa('mount', ['-t', 'proc', 'proc', stale]); // what debootstrap leaves when killed
    expect(mountsMentioning(stale).length).toBeGreaterThan(0);
    const r = await vpsctl(e, ['template', 'build', 'debian-12', '--force', '--mirror', 'http://127.0.0.1:9/debian']);
    expect(r.exitCode).toBe(1);
    expect(mountsMentioning(path.join(tdir, '.build-'))).toEqual([]);
    expect(readdirSync(tdir).sort()).toEqual(['debian-12.img', 'debian-12.yaml']);
  });

  it('refuses an unknown recipe and a bad mirror', async () => {
    const a = await vpsctl(e, ['template', 'build', 'no-such-os']);
    expect(a.exitCode).toBe(3);
    expect(a.stderr).toMatch(/no recipe for template no-such-os.*\n.*debian-12/);
    const b = await vpsctl(e, ['template', 'build', 'debian-12', '--mirror', 'ftp://x; rm -rf /']);
    expect(b.exitCode).toBe(2);
    expect(existsSync(path.join(e.root, 'pool', 'templates', 'debian-12.img'))).toBe(true);
  });
});
