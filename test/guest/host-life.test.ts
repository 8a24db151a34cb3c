/**
 * A host that reboots, on a systemd host (this guest): part 1 of 2, before the reboot.
 * `host setup` installs vpsctl.service; two onboot containers and one that is not; a container
 * started from an admin's login session survives the end of that session; files written and
 * not synced just before the reboot. This file runs last (test/guest/sequencer.cjs); then
 * in-guest.sh reboots the guest and host-life.after.ts checks what came back.
 */
import { execa } from 'execa';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { BIN, inside, json, ok, until } from '../integration/harness.js';
import { record, timed, whyNotUp } from './guest.js';
import { DIR, FIRST, FIRST_ADDR, OTHER, R, READY, SECOND, bootId, makeRoot, saveNotes } from './host-life.js';

interface Step {
  what: string;
  result: string;
}
interface Row {
  id: string;
  state: string;
  onboot: boolean;
  bootorder: number;
}
interface Status {
  state: string;
  monitor_pid: number | null;
}

const small = ['--disk', '2G', '--memory', '256M', '--pids', '500'];

beforeAll(() => {
  rmSync(DIR, { recursive: true, force: true });
  makeRoot();
});

describe('a host that reboots (1 of 2: before the reboot)', () => {
  it('host setup installs, enables and starts vpsctl.service with this state root; a second run changes nothing; the sysctls are in effect', async () => {
    const first = await json<Step[]>(R, ['host', 'setup', '--no-pool']);
    expect(first.find((s) => s.what === 'vpsctl.service')?.result).toBe('changed');
    const unit = readFileSync('/etc/systemd/system/vpsctl.service', 'utf8');
    expect(unit).toContain(`Environment=VPSCTL_ROOT=${R.root}`);
    expect(unit).toContain(`RequiresMountsFor=${R.root} ${BIN}`);
    expect((await execa('systemctl', ['is-enabled', 'vpsctl.service'], { reject: false })).stdout.trim()).toBe('enabled');
    expect(await until(async () => (await execa('systemctl', ['is-active', 'vpsctl.service'], { reject: false })).stdout.trim(), (s) => s === 'active', 180_000, 1000)).toBe('active');

    const second = await json<Step[]>(R, ['host', 'setup', '--no-pool']);
    expect(second.map((s) => [s.what, s.result])).toEqual(second.map((s) => [s.what, 'ok']));
    for (const line of readFileSync('/etc/sysctl.d/60-vpsctl.conf', 'utf8').split('\n')) {
      const m = /^([a-z0-9_.]+) = (\d+)$/.exec(line);
      if (!m) continue;
      const now = Number(readFileSync(`/proc/sys/${m[1].replace(/\./g, '/')}`, 'utf8'));
      expect([m[1], now >= Number(m[2])]).toEqual([m[1], true]);
    }
  });

  it('creates two onboot containers (boot order 20 and 10) and one that is not onboot', async () => {
    await timed('host-life: create', R, ['create', FIRST, '--template', 'debian-12', ...small, '--onboot', 'yes', '--bootorder', '20', '--ipadd', FIRST_ADDR]);
    await ok(R, ['create', SECOND, '--template', 'debian-12', ...small, '--onboot', 'yes', '--bootorder', '10']);
    await ok(R, ['create', OTHER, '--template', 'debian-12', ...small]);
    const rows = await json<Row[]>(R, ['list']);
    expect(rows.map((r) => [r.id, r.state, r.onboot, r.bootorder])).toEqual([
      [FIRST, 'stopped', true, 20],
      [SECOND, 'stopped', true, 10],
      [OTHER, 'stopped', false, 0],
    ]);
    const r = await timed('host-life: start --wait', R, ['start', FIRST, '--wait']);
    if (r.exitCode !== 0) throw new Error(`start ${FIRST} exited ${r.exitCode}: ${r.stderr}\n${await whyNotUp(R, FIRST)}`);
  });

  it('loginctl terminate-session of the session that started a container leaves the container running', async () => {
    // su opens a PAM session, so pam_systemd makes a login session, as an admin's ssh login would
    const envs = Object.entries(R.env).map(([k, v]) => `${k}=${v}`).join(' ');
    const su = execa('su', ['-l', 'root', '-c', `env ${envs} ${BIN} start ${OTHER} --wait && echo "session=$XDG_SESSION_ID" && exec sleep 1200`], { reject: false, stdin: 'ignore' });
    let out = '';
    su.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const session = await until(() => /^session=(\S*)$/m.exec(out)?.[1], (s) => s !== undefined || su.exitCode !== null, 600_000, 500);
    if (!session) throw new Error(`no login session: su exited ${su.exitCode}; its output: ${out}\n${await whyNotUp(R, OTHER)}`);
    const scope = (await execa('loginctl', ['show-session', session, '-p', 'Scope', '--value'])).stdout.trim();
    expect(scope).toBe(`session-${session}.scope`);

    // the monitor is not in the session's scope: it has a scope of its own under vpsctl's slice
    const st = await json<Status>(R, ['status', OTHER]);
    const monitorCgroup = readFileSync(`/proc/${st.monitor_pid}/cgroup`, 'utf8').trim();
    expect(monitorCgroup).not.toContain(scope);
    expect(monitorCgroup).toContain(`${R.env.VPSCTL_CGROUP_PARENT}-${OTHER}.scope`);

    await execa('loginctl', ['terminate-session', session]);
    await su;
    expect(await until(async () => (await execa('loginctl', ['show-session', session], { reject: false })).exitCode, (c) => c !== 0, 60_000, 500)).not.toBe(0);
    expect((await json<Status>(R, ['status', OTHER])).state).toBe('running');
    expect(await inside(R, OTHER, ['systemctl', 'is-system-running', '--wait'])).toBe('running');
  });

  it('writes files in two running containers, syncs nothing, and has the guest rebooted', async () => {
    const unsynced: Record<string, string> = {};
    for (const id of [FIRST, OTHER]) {
      const out = await inside(R, id, ['sh', '-c', 'head -c 4M /dev/urandom >/root/unsynced && sha256sum /root/unsynced']);
      unsynced[id] = out.split(' ')[0];
    }
    const firstBoots = (await inside(R, FIRST, ['journalctl', '--list-boots', '--no-pager', '-q'])).split('\n').filter(Boolean).length;
    saveNotes({ bootId: bootId(), unsynced, firstBoots });
    writeFileSync(READY, '');
    record(`host-life: ready for the reboot (${FIRST} and ${OTHER} running; ${FIRST} and ${SECOND} onboot)`);
  });
});
