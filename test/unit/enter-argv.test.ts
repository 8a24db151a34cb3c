/** The argv of helpers/vps-enter: a running container's init and cgroups, and init's keyring calls for the command too. */
import type { RuntimeState } from '../../src/base/types.js';
import { enterArgv } from '../../src/runtime/enter.js';

const st: RuntimeState = { id: '101', monitor_pid: 10, monitor_starttime: 1, init_pid: 11, loop: '/dev/loop0', started: 1 };

describe('vps-enter argv', () => {
  it('a command: --pid, the cgroups, the options, then -- and the command', () => {
    const { file, args } = enterArgv({ ...st, keyctl: false }, ['/sys/fs/cgroup/vpsctl/101/enter'], ['ls', '-l'], { cwd: '/srv', user: 'www-data', env: ['A=1'] });
    expect(file).toMatch(/\/vps-enter$/);
    expect(args).toEqual(['--pid', '11', '--cgroup', '/sys/fs/cgroup/vpsctl/101/enter', '--cwd', '/srv', '--user', 'www-data', '--env', 'A=1', '--', 'ls', '-l']);
  });

  it('no command: a login shell', () => {
    expect(enterArgv({ ...st, keyctl: false }, [], [], { pty: true }).args).toEqual(['--pid', '11', '--pty', '--login']);
  });

  it("keyctl: --keyctl exactly when init has the keyring calls (the monitor's state says so)", () => {
    expect(enterArgv({ ...st, keyctl: true }, [], ['true']).args).toEqual(['--pid', '11', '--keyctl', '--', 'true']);
    expect(enterArgv({ ...st, keyctl: false }, [], ['true']).args).not.toContain('--keyctl');
  });

  it('a monitor older than the feature (no keyctl in its state) gave its unprivileged init the keyring calls: so does the command', () => {
    expect(enterArgv(st, [], ['true']).args).toContain('--keyctl');
  });
});
