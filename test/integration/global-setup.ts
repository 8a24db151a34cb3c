/**
 * Once per run: checks we are root, builds the helpers' test template once per machine
 * (reused by later runs), clears leftovers of an earlier, killed run, and opens the tun and
 * fuse nodes to all as host setup does.
 */
import { execa } from 'execa';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { BIN, TEMPLATES, TEMPLATE_CACHE, TEST_BASE, TEST_RUN_BASE } from './harness';

export default async function globalSetup(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('the integration tests run real containers and must run as root (sudo npm test)');
  }
  mkdirSync(TEST_BASE, { recursive: true, mode: 0o700 });
  mkdirSync(TEST_RUN_BASE, { recursive: true, mode: 0o700 });
  // Debian 12 is every test's template; 11 and 13 are booted by templates.test.ts
  for (const name of TEMPLATES) {
    const img = path.join(TEMPLATE_CACHE, 'pool', 'templates', `${name}.img`);
    if (existsSync(img)) continue;
    process.stderr.write(`\nbuilding the ${name} test template once for this machine into ${TEMPLATE_CACHE} ...\n`);
    const r = await execa(BIN, ['template', 'build', name], {
      env: { VPSCTL_ROOT: TEMPLATE_CACHE, VPSCTL_RUN_DIR: path.join(TEST_RUN_BASE, 'template-build') },
      stdio: ['ignore', 'inherit', 'inherit'],
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`could not build the ${name} test template (exit ${r.exitCode}); see above`);
  }
  // --features tun,fuse (features and adversarial tests) need the host's nodes loaded and open
  // to all, as `vpsctl host setup` (bin/setup) and udev make them; a test host may have neither
  for (const [mod, node] of [['tun', '/dev/net/tun'], ['fuse', '/dev/fuse']]) {
    if (!existsSync(node)) await execa('modprobe', [mod], { reject: false });
    if (!existsSync(node)) throw new Error(`${node} is missing and modprobe ${mod} failed: the features tests need it`);
    chmodSync(node, 0o666);
  }
}
