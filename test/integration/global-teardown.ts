/**
 * After the whole suite: nothing of the run may be left on the host. No loop device, mount,
 * cgroup, monitor process, test bridge, veth or nftables table from it; then the test roots are removed.
 */
import { execa } from 'execa';
import { existsSync, readdirSync } from 'node:fs';
import { CGROUP_PARENT, TEST_BASE, TEST_RUN_BASE, TEST_SLICE, cgroupsLeft, loopsUnder, mountsMentioning, processesMentioning } from './harness';

export default async function globalTeardown(): Promise<void> {
  const leaks = [
    ...(await loopsUnder(TEST_BASE)).map((l) => `loop device: ${l}`),
    ...mountsMentioning(TEST_BASE).map((m) => `mount: ${m}`),
    ...mountsMentioning(TEST_RUN_BASE).map((m) => `mount: ${m}`),
    ...cgroupsLeft().map((c) => `cgroup: ${c}`),
    ...processesMentioning(TEST_RUN_BASE).map((p) => `process: ${p}`),
    // test bridges (vpt...) and the veths and ifb devices of test containers (ids from newId:
    // PREFIX-PID-N)
    ...readdirSync('/sys/class/net')
      .filter((n) => /^vpt[0-9a-z]+$/.test(n) || /^vpsi?-[a-z]+-\d+-\d+$/.test(n))
      .map((n) => `network interface: ${n}`),
    ...String((await execa('nft', ['list', 'tables'], { reject: false })).stdout)
      .split('\n')
      .filter((l) => / vpsctl_t[0-9a-z]+$/.test(l))
      .map((l) => `nftables ${l}`),
  ];
  if (leaks.length === 0) {
    await execa('rm', ['-rf', '--one-file-system', TEST_BASE, TEST_RUN_BASE], { reject: false });
    for (const h of ['', 'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'systemd', 'unified']) {
      await execa('rmdir', [`/sys/fs/cgroup/${h}/${CGROUP_PARENT}`], { reject: false });
    }
    // a systemd host: the test slice the containers' scopes lived in, now empty
    if (existsSync(TEST_SLICE)) await execa('systemctl', ['stop', `${CGROUP_PARENT}.slice`], { reject: false });
    return;
  }
  throw new Error(`the test run left these behind on the host:\n  ${leaks.join('\n  ')}`);
}
