/**
 * The README's first command on the platform users run: `bin/setup` (here with the apt
 * packages already in the guest image, and no network) sets the host up and runs the main
 * job: the default Debian template, a container `demo` with an address on the host bridge,
 * booted to `running`, a command run in it. The template is the test template, put where
 * `template build` finds it built (the guest cannot download one).
 */
import { execa } from 'execa';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { REPO, TEMPLATE, TEMPLATE_CACHE } from '../integration/harness.js';

const ROOT = '/var/lib/vpsctl';
/** The default settings, as a newcomer has them: no VPSCTL_* of the test harness. */
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VPSCTL_'))) as Record<string, string>;

afterAll(async () => {
  await execa(path.join(REPO, 'bin', 'vpsctl'), ['destroy', 'demo', '--force'], { env, reject: false });
});

it('bin/setup sets the host up and boots the demo container to running', async () => {
  const tdir = path.join(ROOT, 'pool', 'templates');
  mkdirSync(tdir, { recursive: true, mode: 0o700 });
  for (const f of [`${TEMPLATE}.img`, `${TEMPLATE}.yaml`]) copyFileSync(path.join(TEMPLATE_CACHE, 'pool', 'templates', f), path.join(tdir, f));
  // the host's npm, staged beside the checkout by test/guest/run.sh
  if (!existsSync('/usr/local/bin/npm')) symlinkSync('/var/tmp/npm/bin/npm-cli.js', '/usr/local/bin/npm');
  const r = await execa(path.join(REPO, 'bin', 'setup'), [], { env, reject: false, all: true, timeout: 1_500_000 });
  if (r.exitCode !== 0) throw new Error(`bin/setup exited ${r.exitCode}:\n${String(r.all).slice(-4000)}`);
  expect(r.all).toMatch(/done: the container 'demo' runs/);
  const st = JSON.parse((await execa('vpsctl', ['status', 'demo', '--json'], { env })).stdout);
  expect(st).toMatchObject({ state: 'running' });
  expect((await execa('vpsctl', ['exec', 'demo', '--', 'systemctl', 'is-system-running'], { env })).stdout.trim()).toBe('running');
}, 1_800_000);
