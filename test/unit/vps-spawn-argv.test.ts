/** The typed client of helpers/vps-spawn: one SpawnSpec makes the whole argv, and the scope's systemd-run. */
import type { RunOptions, RunResult, Runner } from '../../src/sys/exec.js';
import { runSpawn, scopeArgv, spawnArgv, type SpawnSpec } from '../../src/sys/vps-spawn.js';

const base: SpawnSpec = { id: '101', image: '/p/images/101.img', rootfs: '/run/v/101/rootfs', runDir: '/run/v/101', hostname: 'web', init: '/sbin/init', cgroups: [':cgroup2:/sys/fs/cgroup/vpsctl/101'] };

describe('vps-spawn argv', () => {
  it('a minimal privileged start: identity, paths, cgroups', () => {
    expect(spawnArgv(base)).toEqual(['--id', '101', '--image', '/p/images/101.img', '--rootfs', '/run/v/101/rootfs', '--run-dir', '/run/v/101', '--hostname', 'web', '--init', '/sbin/init', '--cgroup', ':cgroup2:/sys/fs/cgroup/vpsctl/101']);
  });

  it('every part of a full spec, each flag once and in the helper\'s terms', () => {
    const argv = spawnArgv({
      ...base,
      userns: { uid: 1000000, gid: 1000000, count: 65536, shifted: true },
      limits: { helper: '/h/vps-limit', args: ['apply', '--id', '101', '--memory', '1073741824', '--io-read-bps', '1000'], ioDevice: true },
      net: { helper: '/h/vps-net', spec: '/run/v/101/net.spec' },
      spaceLow: 268435456,
      nofile: 4096,
      lxcfs: '/var/lib/lxcfs',
      allowMissing: ['seccomp'],
      devices: ['/dev/net/tun:net/tun:rw', '/dev/ttyS1:ttyS1:ro'],
      binds: ['/srv/data:/data:rw', '/srv/www:/var/www:ro'],
    });
    const after = (flag: string): string[] => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
    expect(after('--userns')).toEqual(['1000000:1000000:65536']);
    expect(argv).toContain('--no-idmap');
    expect(after('--limit-helper')).toEqual(['/h/vps-limit']);
    expect(after('--limit')).toEqual(['apply', '--id', '101', '--memory', '1073741824', '--io-read-bps', '1000']);
    expect(argv).toContain('--limit-io-device');
    expect([after('--net-helper'), after('--net-spec')]).toEqual([['/h/vps-net'], ['/run/v/101/net.spec']]);
    expect([after('--space-low'), after('--nofile'), after('--lxcfs'), after('--unsafe-allow-missing')]).toEqual([['268435456'], ['4096'], ['/var/lib/lxcfs'], ['seccomp']]);
    expect(after('--device')).toEqual(['/dev/net/tun:net/tun:rw', '/dev/ttyS1:ttyS1:ro']);
    expect(after('--bind')).toEqual(['/srv/data:/data:rw', '/srv/www:/var/www:ro']);
  });

  it('keyctl: --keyctl right after the user namespace, and never without one', () => {
    const userns = { uid: 1000000, gid: 1000000, count: 65536 };
    expect(spawnArgv({ ...base, userns, keyctl: true }).slice(14, 17)).toEqual(['--userns', '1000000:1000000:65536', '--keyctl']);
    expect(spawnArgv({ ...base, userns })).not.toContain('--keyctl');
    expect(spawnArgv({ ...base, keyctl: true })).not.toContain('--keyctl'); // privileged: vps-spawn would refuse it
  });

  it('nesting: --nesting within the user namespace group, and never without one', () => {
    const userns = { uid: 1000000, gid: 1000000, count: 65536 };
    expect(spawnArgv({ ...base, userns, nesting: true }).slice(14, 17)).toEqual(['--userns', '1000000:1000000:65536', '--nesting']);
    expect(spawnArgv({ ...base, userns, keyctl: true, nesting: true }).slice(14, 18)).toEqual(['--userns', '1000000:1000000:65536', '--keyctl', '--nesting']);
    expect(spawnArgv({ ...base, userns })).not.toContain('--nesting');
    expect(spawnArgv({ ...base, nesting: true })).not.toContain('--nesting'); // privileged: vps-spawn would refuse it
  });

  it('on a systemd host: a delegated scope ordered before vpsctl.service, the monitor in its leaf', async () => {
    const calls: string[][] = [];
    const run: Runner = {
      async run(file: string, args: readonly string[], _o?: RunOptions): Promise<RunResult> {
        calls.push([file, ...args]);
        return { exitCode: 0, stdout: '{"monitor_pid":2,"init_pid":3,"loop":"/dev/loop0","limits":null}\n', stderr: '' };
      },
    };
    const scope = { slice: 'vpsctl.slice', scope: 'vpsctl-101.scope', monitorCgroup: '/sys/fs/cgroup/vpsctl.slice/vpsctl-101.scope/.monitor', before: 'vpsctl.service' };
    expect(scopeArgv('101', scope)).toEqual(['systemd-run', '--scope', '--quiet', '--collect', '--unit=vpsctl-101.scope', '--slice=vpsctl.slice', '--property=Delegate=yes', '--property=Before=vpsctl.service', '--description=vpsctl container 101', '--']);
    const r = await runSpawn(run, base, scope);
    expect(r).toEqual({ monitor_pid: 2, init_pid: 3, loop: '/dev/loop0', limits: null });
    expect(calls[0].slice(0, 10)).toEqual(scopeArgv('101', scope));
    expect(calls[0][10]).toMatch(/\/vps-spawn$/);
    expect(calls[0].slice(11)).toEqual(spawnArgv({ ...base, monitorCgroup: scope.monitorCgroup }));
  });
});
