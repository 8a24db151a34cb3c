import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { cgroupParentOf, containerCgroupDirs, detectCgroups, enterCgroupDirs, removeCgroupTree, spawnCgroupSpecs, systemdUnits } from '../../src/limits/cgroups.js';

const mi = (lines: string[]): string => lines.map((l, i) => `${30 + i} 23 0:${28 + i} / ${l}`).join('\n');

describe('cgroup layout from mountinfo', () => {
  const hybrid = mi([
    '/sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
    '/sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
    '/sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
    '/sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
    '/sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd,release_agent=/x',
    '/sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate',
    '/proc rw - proc proc rw',
  ]);

  it('finds a hybrid host and each hierarchy with its exact mount options', () => {
    const l = detectCgroups(hybrid);
    expect(l.mode).toBe('hybrid');
    expect(l.hierarchies.map((h) => [h.name, h.options, h.version])).toEqual([
      ['cpu', 'cpu', 1],
      ['cpu,cpuacct', 'cpu,cpuacct', 1],
      ['memory', 'memory', 1],
      ['systemd', 'name=systemd', 1],
      ['unified', 'cgroup2', 2],
    ]);
    expect(l.hierarchies[3].controllers).toEqual([]);
  });

  it('finds a pure v2 host, mounted at the cgroup root', () => {
    const l = detectCgroups(mi(['/sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate']), 'init');
    expect(l.mode).toBe('v2');
    expect(spawnCgroupSpecs(l, 'vpsctl', '101')).toEqual([':cgroup2:/sys/fs/cgroup/vpsctl/101']);
  });

  it('puts each container in a delegated scope of its own where systemd owns a pure v2 tree', () => {
    const v2 = mi(['/sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate']);
    const l = detectCgroups(v2, 'systemd');
    expect(l.systemd).toBe(true);
    expect(detectCgroups(v2, 'init').systemd).toBe(false);
    expect(detectCgroups(hybrid, 'systemd').systemd).toBe(false); // only a pure v2 tree
    expect(cgroupParentOf(l, 'vpsctl', '101')).toBe('vpsctl.slice/vpsctl-101.scope');
    expect(spawnCgroupSpecs(l, 'vpsctl', '101')).toEqual([':cgroup2:/sys/fs/cgroup/vpsctl.slice/vpsctl-101.scope/101']);
    // a '-' nests slices, as systemd reads the name
    expect(systemdUnits('vpsctl-test', 'web-1')).toEqual({
      slice: 'vpsctl-test.slice',
      slicePath: 'vpsctl.slice/vpsctl-test.slice',
      scope: 'vpsctl-test-web-1.scope',
      monitorCgroup: '/sys/fs/cgroup/vpsctl.slice/vpsctl-test.slice/vpsctl-test-web-1.scope/.monitor',
    });
  });

  it('names the test slice and scopes as the integration harness spells them out', async () => {
    const { TEST_SLICE, CGROUP_PARENT, testScope } = await import('../integration/harness.js');
    const u = systemdUnits(CGROUP_PARENT, 'web-1');
    expect(TEST_SLICE).toBe(`/sys/fs/cgroup/${u.slicePath}`);
    expect(testScope('web-1')).toBe(u.scope);
  });

  it('sends exec and enter to the container\'s enter leaf on v2, to its own cgroup on v1', () => {
    expect(enterCgroupDirs(detectCgroups(mi(['/sys/fs/cgroup rw - cgroup2 cgroup2 rw']), 'init'), 'vpsctl', '7')).toEqual(['/sys/fs/cgroup/vpsctl/7/enter']);
    const dirs = enterCgroupDirs(detectCgroups(hybrid, 'init'), 'p', 'x');
    expect(dirs).toContain('/sys/fs/cgroup/memory/p/x');
    expect(dirs).toContain('/sys/fs/cgroup/unified/p/x/enter');
  });

  it('finds none', () => expect(detectCgroups(mi(['/proc rw - proc proc rw'])).mode).toBe('none'));

  it('builds the spawn arguments and container dirs under the parent', () => {
    const l = detectCgroups(hybrid);
    expect(spawnCgroupSpecs(l, 'vpsctl', 'web-1').slice(0, 2)).toEqual(['cpu:cpu:/sys/fs/cgroup/cpu/vpsctl/web-1', 'cpu,cpuacct:cpu,cpuacct:/sys/fs/cgroup/cpu,cpuacct/vpsctl/web-1']);
    expect(containerCgroupDirs(l, 'p', 'x').map((c) => c.dir)).toContain('/sys/fs/cgroup/unified/p/x');
  });

  it('removes a cgroup tree depth-first, directories only', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'cg-'));
    mkdirSync(path.join(root, 'c', 'system.slice', 'ssh.service'), { recursive: true });
    mkdirSync(path.join(root, 'c', 'init.scope'));
    await expect(removeCgroupTree(path.join(root, 'c'))).resolves.toBeUndefined();
    expect(existsSync(path.join(root, 'c'))).toBe(false);
    // a real cgroupfs has no plain files to unlink; a plain file here makes rmdir fail loudly
    mkdirSync(path.join(root, 'd'));
    writeFileSync(path.join(root, 'd', 'tasks'), '');
    await expect(removeCgroupTree(path.join(root, 'd'))).rejects.toThrow(/ENOTEMPTY/);
  });
});
