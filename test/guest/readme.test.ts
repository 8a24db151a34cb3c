/**
 * The README's first command on the platform users run: `bin/setup`, as a newcomer runs it
 * (no VPSCTL_* settings: the default state root, bridge and slice), on a systemd host with a
 * pure cgroup v2 tree. The guest has no network: its image holds every apt package bin/setup
 * asks for (bin/apt-packages and bin/apt-packages-tests), the checkout comes built, and the
 * debian-12 template is put where the state root's pool keeps it (the guest cannot run
 * debootstrap), so `template build debian-12` finds it built. bin/setup must find all that
 * done (no apt-get, no npm), set the host up (the reflink pool moves the template into
 * it), and boot the demo container to running. The guest's root disk (8G) is too small for
 * the demo's 10G disk, which vpsctl does not promise past the space under its pool (exit 7):
 * /var/lib/vpsctl is a bind of a directory on the run disk, as on a host whose /var/lib is a
 * disk of its own.
 */
import { execa } from 'execa';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { REPO, TEMPLATE, TEMPLATE_CACHE } from '../integration/harness.js';
import { record } from './guest.js';

const ROOT = '/var/lib/vpsctl';
const ROOT_DISK = '/var/tmp/var-lib-vpsctl'; // on the run disk
const UNITS = ['vpsctl-api.service', 'vpsctl.service'];
/** The default settings, as a newcomer has them: none of the test harness's VPSCTL_*. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VPSCTL_'))) as Record<string, string>;
const vpsctl = (args: string[]) => execa(path.join(REPO, 'bin', 'vpsctl'), args, { env, extendEnv: false, reject: false });

afterAll(async () => {
  await vpsctl(['destroy', 'demo', '--force']);
  // the units `host setup` installed with the default root: the host-life test installs its own
  await execa('systemctl', ['disable', '--now', ...UNITS], { reject: false });
  for (const u of UNITS) rmSync(`/etc/systemd/system/${u}`, { force: true });
  await execa('systemctl', ['daemon-reload'], { reject: false });
  for (const m of [path.join(ROOT, 'pool'), ROOT]) await execa('umount', [m], { reject: false });
  rmSync(ROOT_DISK, { recursive: true, force: true });
}, 300_000);

it('bin/setup finds the packages and the build in place, sets the host up and boots the demo container to running', async () => {
  mkdirSync(ROOT_DISK, { recursive: true, mode: 0o700 });
  mkdirSync(ROOT, { recursive: true, mode: 0o700 });
  await execa('mount', ['--bind', ROOT_DISK, ROOT]);
  const tdir = path.join(ROOT, 'pool', 'templates');
  mkdirSync(tdir, { recursive: true, mode: 0o700 });
  for (const f of [`${TEMPLATE}.img`, `${TEMPLATE}.yaml`]) copyFileSync(path.join(TEMPLATE_CACHE, 'pool', 'templates', f), path.join(tdir, f));

  const t = performance.now();
  const r = await execa(path.join(REPO, 'bin', 'setup'), [], { env, extendEnv: false, reject: false, all: true, timeout: 1_200_000 });
  record(`readme: bin/setup with the demo: ${((performance.now() - t) / 1000).toFixed(1)} s (exit ${r.exitCode})`);
  const out = String(r.all);
  for (const step of out.match(/^==> \[ *\d+s\] .*$/gm) ?? []) record(`readme:   ${step}`);
  if (r.exitCode !== 0) throw new Error(`bin/setup exited ${r.exitCode}:\n${out.slice(-4000)}`);
  // nothing to install and nothing to build: the guest could not have
  expect(out).not.toMatch(/installing host packages|installing packages the tests need|installing npm dependencies|\] building \(/);
  expect(out).toMatch(/npm dependencies and the build are up to date/);
  expect(out).toMatch(/done: the container 'demo' runs/);

  // the host check bin/setup ran (it stops at a failing one) saw cgroup v2
  expect(out).toMatch(/cgroups\s+ok\s+mode v2 \(owned by systemd\)/);
  const st = JSON.parse((await vpsctl(['status', 'demo', '--json'])).stdout) as { state: string; ip?: string[] };
  expect(st).toMatchObject({ state: 'running' });
  expect((await vpsctl(['exec', 'demo', '--', 'systemctl', 'is-system-running'])).stdout.trim()).toBe('running');
  // the demo's cgroup is in vpsctl's own delegated slice, not the test harness's
  const cg = (await execa('systemctl', ['show', '-P', 'ControlGroup', 'vpsctl-demo.scope'], { reject: false })).stdout.trim();
  expect(cg).toMatch(/^\/vpsctl\.slice\/vpsctl-demo\.scope$/);
}, 1_500_000);
