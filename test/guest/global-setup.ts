/**
 * Once per guest run: the guest suite runs only inside the test guest that test/guest/run.sh
 * boots (a pure cgroup v2 kernel with systemd as PID 1), as root, with the test template
 * staged by the host; anywhere else it fails and says how to run it.
 */
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { TEMPLATE, TEMPLATE_CACHE, TEST_BASE, TEST_RUN_BASE } from '../integration/harness';

export default async function globalSetup(): Promise<void> {
  if (!existsSync('/etc/vpsctl-guest')) {
    throw new Error('the guest suite runs only inside the test guest: sudo npm run test:guest');
  }
  if (process.getuid?.() !== 0) throw new Error('the guest suite must run as root');
  const img = path.join(TEMPLATE_CACHE, 'pool', 'templates', `${TEMPLATE}.img`);
  if (!existsSync(img)) throw new Error(`${img} is missing: test/guest/run.sh stages it from the host's test template cache`);
  mkdirSync(TEST_BASE, { recursive: true, mode: 0o700 });
  mkdirSync(TEST_RUN_BASE, { recursive: true, mode: 0o700 });
}
