/**
 * A host that reboots, on a systemd host (this guest): part 2 of 2, after the reboot that
 * in-guest.sh made once host-life.test.ts was done. At the shutdown vpsctl.service stopped
 * every container cleanly; at the boot it started the onboot ones, in boot order; the other
 * stayed stopped; what was written and not synced is on disk; nothing is left at the end.
 */
import { execa } from 'execa';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { inside, json, loopsUnder, mountsMentioning, ok, processesMentioning, until } from '../integration/harness.js';
import { timed, whyNotUp } from './guest.js';
import { CGROUP_PARENT, DIR, FIRST, FIRST_ADDR, OTHER, R, SECOND, bootId, loadNotes, startTicks } from './host-life.js';

interface Row {
  id: string;
  state: string;
  init_pid: number | null;
}

const notes = loadNotes();
const sha256 = async (id: string): Promise<string> => (await inside(R, id, ['sha256sum', '/root/unsynced'])).split(' ')[0];
/** The last lines of the container's journal of its boot before this one. */
const lastBoot = async (id: string): Promise<string> => inside(R, id, ['journalctl', '-b', '-1', '-n', '4', '-o', 'cat', '--no-pager']);

describe('a host that reboots (2 of 2: after the reboot)', () => {
  it('the REST daemon came back with the host: vpsctl-api.service answers on its socket', async () => {
    expect(await until(async () => (await execa('systemctl', ['is-active', 'vpsctl-api.service'], { reject: false })).stdout.trim(), (s) => s === 'active', 60_000, 1000)).toBe('active');
    const r = await until(() => execa('curl', ['-s', '--unix-socket', path.join(R.run, 'api.sock'), 'http://vpsctl/1.0/containers'], { reject: false }), (x) => x.exitCode === 0 && x.stdout.startsWith('['), 30_000, 500);
    expect((JSON.parse(r.stdout) as { id: string }[]).map((c) => c.id).sort()).toEqual([FIRST, OTHER, SECOND].sort());
  });

  it('the guest booted again, and vpsctl.service with it', async () => {
    expect(bootId()).not.toBe(notes.bootId);
    expect((await execa('systemctl', ['is-active', 'vpsctl.service'], { reject: false })).stdout.trim()).toBe('active');
  });

  it('the onboot containers are running again, the other one stays stopped', async () => {
    const rows = await json<Row[]>(R, ['list']);
    expect(rows.map((r) => [r.id, r.state])).toEqual([
      [FIRST, 'running'],
      [SECOND, 'running'],
      [OTHER, 'stopped'],
    ]);
    for (const id of [FIRST, SECOND]) {
      const state = await inside(R, id, ['systemctl', 'is-system-running', '--wait']).catch(async (e: Error) => `${e.message}\n${await whyNotUp(R, id)}`);
      expect([id, state]).toEqual([id, 'running']);
    }
  });

  it('in boot order: the one of order 20 started before the one of order 10', async () => {
    const rows = await json<Row[]>(R, ['list']);
    const init = (id: string): number => rows.find((r) => r.id === id)!.init_pid!;
    expect(startTicks(init(FIRST))).toBeLessThan(startTicks(init(SECOND)));
    const boot = (await execa('journalctl', ['-b', '0', '-u', 'vpsctl.service', '-o', 'cat', '--no-pager'])).stdout;
    expect(boot).toMatch(new RegExp(`^${FIRST}\\s+ok\\s[^\\n]*\\n${SECOND}\\s+ok\\s`, 'm'));
  });

  it('at the shutdown vpsctl.service stopped each running container cleanly: its own systemd shut down, its journal ends with "Journal stopped"', async () => {
    const shutdown = (await execa('journalctl', ['-b', '-1', '-u', 'vpsctl.service', '-o', 'cat', '--no-pager'])).stdout;
    expect(shutdown).toMatch(new RegExp(`^${OTHER}\\s+ok\\s+clean`, 'm'));
    expect(shutdown).toMatch(new RegExp(`^${FIRST}\\s+ok\\s+clean`, 'm'));
    const boots = (await inside(R, FIRST, ['journalctl', '--list-boots', '--no-pager', '-q'])).split('\n').filter(Boolean).length;
    expect(boots).toBe(notes.firstBoots + 1);
    const last = await lastBoot(FIRST);
    expect(last).toMatch(/Shutting down\./);
    expect(last).toMatch(/Journal stopped$/);
  });

  it('files written and not synced just before the reboot are whole after it', async () => {
    expect(await sha256(FIRST)).toBe(notes.unsynced[FIRST]);
    const r = await timed('host-life: start --wait after the reboot', R, ['start', OTHER, '--wait']);
    if (r.exitCode !== 0) throw new Error(`start ${OTHER} exited ${r.exitCode}: ${r.stderr}\n${await whyNotUp(R, OTHER)}`);
    expect(await sha256(OTHER)).toBe(notes.unsynced[OTHER]);
    const last = await lastBoot(OTHER);
    expect(last).toMatch(/Shutting down\./);
    expect(last).toMatch(/Journal stopped$/);
  });

  it('the onboot container with an address is on the network again: the guest pings it', async () => {
    expect((await execa('ping', ['-c', '3', '-W', '5', FIRST_ADDR], { reject: false })).exitCode).toBe(0);
  });

  it('destroy of all three leaves no loop device, mount, scope or process', async () => {
    for (const id of [FIRST, SECOND, OTHER]) await ok(R, ['destroy', id, '--force']);
    expect(await loopsUnder(DIR)).toEqual([]);
    expect(mountsMentioning(DIR)).toEqual([]);
    expect(processesMentioning(R.run)).toEqual([]);
    const slice = path.join('/sys/fs/cgroup/vpsctl.slice', `${CGROUP_PARENT}.slice`);
    expect(existsSync(slice) ? readdirSync(slice).filter((d) => d.endsWith('.scope')) : []).toEqual([]);
    await execa('systemctl', ['disable', '--now', 'vpsctl.service', 'vpsctl-api.service'], { reject: false });
    rmSync(DIR, { recursive: true, force: true });
  });
});
