// The guest suite's jest config: the third project, "guest", kept out of package.json's
// projects so that `npm test` on a host never runs it. Its tests run only inside the test
// guest (test/guest/run.sh boots it); they reuse the integration suite's harness and its
// leak check, and the unit project's transform.
//
// Two phases (test/guest/in-guest.sh): the first boot runs *.test.ts, the host-life test
// last (its containers must see the reboot right after it writes its unsynced files); after
// the guest reboots, VPSCTL_GUEST_PHASE=after-reboot runs *.after.ts.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));
const unit = pkg.jest.projects.find((p) => p.displayName === 'unit');
const afterReboot = process.env.VPSCTL_GUEST_PHASE === 'after-reboot';

export default {
  rootDir: repo,
  testTimeout: pkg.jest.testTimeout,
  reporters: pkg.jest.reporters,
  testSequencer: '<rootDir>/test/guest/sequencer.cjs',
  projects: [
    {
      ...unit,
      rootDir: repo,
      displayName: 'guest',
      testMatch: [afterReboot ? '<rootDir>/test/guest/*.after.ts' : '<rootDir>/test/guest/*.test.ts'],
      globalSetup: '<rootDir>/test/guest/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
  ],
};
