/**
 * Once per run: checks we are root, builds the helpers' test template once per machine
 * (reused by later runs), and clears leftovers of an earlier, killed run.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { BIN, TEMPLATE, TEMPLATE_CACHE, TEST_BASE, TEST_RUN_BASE } from './harness';

export default async function globalSetup(): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new Error('the integration tests run real containers and must run as root (sudo npm test)');
  }
  mkdirSync(TEST_BASE, { recursive: true, mode: 0o700 });
  mkdirSync(TEST_RUN_BASE, { recursive: true, mode: 0o700 });
  const img = path.join(TEMPLATE_CACHE, 'pool', 'templates', `${TEMPLATE}.img`);
  if (!existsSync(img)) {
    process.stderr.write(`\nbuilding the ${TEMPLATE} test template once for this machine into ${TEMPLATE_CACHE} ...\n`);
    const r = await execa(BIN, ['template', 'build', TEMPLATE], {
      env: { VPSCTL_ROOT: TEMPLATE_CACHE, VPSCTL_RUN_DIR: path.join(TEST_RUN_BASE, 'template-build') },
      stdio: ['ignore', 'inherit', 'inherit'],
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`could not build the ${TEMPLATE} test template (exit ${r.exitCode}); see above`);
  }
}
