/**
 * After the whole suite: nothing of the run may be left on the host. No loop device, mount,
 * cgroup or monitor process from it; then the test roots are removed.
 */
import { execa } from 'execa';
import { CGROUP_PARENT, TEST_BASE, TEST_RUN_BASE, cgroupsLeft, loopsUnder, mountsMentioning, processesMentioning } from './harness';

export default async function globalTeardown(): Promise<void> {
  const leaks = [
    ...(await loopsUnder(TEST_BASE)).map((l) => `loop device: ${l}`),
    ...mountsMentioning(TEST_BASE).map((m) => `mount: ${m}`),
    ...mountsMentioning(TEST_RUN_BASE).map((m) => `mount: ${m}`),
    ...cgroupsLeft().map((c) => `cgroup: ${c}`),
    ...processesMentioning(TEST_RUN_BASE).map((p) => `process: ${p}`),
  ];
  if (leaks.length === 0) {
    await execa('rm', ['-rf', '--one-file-system', TEST_BASE, TEST_RUN_BASE], { reject: false });
    for (const h of ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified']) {
      await execa('rmdir', [`/sys/fs/cgroup/${h}/${CGROUP_PARENT}`], { reject: false });
    }
    return;
  }
  throw new Error(`the test run left these behind on the host:\n  ${leaks.join('\n  ')}`);
}
