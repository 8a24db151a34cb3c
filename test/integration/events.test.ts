/**
 * The host's event log, as a control panel or an admin reads it: `vpsctl events --follow`
 * runs while a container is made, started, changed, OOM-killed inside, powered off from
 * inside, started and stopped again, snapshotted by its cron entry and destroyed. Each fact
 * comes once, in order, with the source that caused it; the monitor's own line rotates the
 * log, and neither the follower nor `events` loses anything across it.
 */
import { execa, type ResultPromise } from 'execa';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { BIN, json, makeEnv, newId, ok, until, vpsctl, type Env } from './harness.js';

const e: Env = makeEnv();
const id = newId('ev');
const LOG_DIR = path.join(e.root, 'events');

interface Ev {
  id: string;
  kind: string;
  source: string;
  details: Record<string, unknown>;
}

let follower: ResultPromise<{ env: Record<string, string>; reject: false; buffer: true }>;
let followed = '';

beforeAll(() => {
  follower = execa(BIN, ['events', '--follow', '--json', id], { env: e.env, reject: false, buffer: true });
  follower.stdout.on('data', (b: Buffer) => (followed += b.toString()));
});

afterAll(async () => {
  follower.kill('SIGKILL');
  await vpsctl(e, ['destroy', id, '--force']);
});

const seen = (): Ev[] => followed.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Ev);
const brief = (evs: Ev[]): string[] => evs.map((v) => `${v.kind}/${v.source}${v.details.reason ? `/${v.details.reason}` : ''}`);

describe('events of one container through its life', () => {
  it('each fact once, in order, with its source; the follower and the log agree', async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    // a log just over its 4 MiB: the monitor's "started" line is what rotates it
    const filler = `${JSON.stringify({ time: '2026-01-01T00:00:00.000Z', id: 'filler', kind: 'started', source: 'cli', details: { pad: 'x'.repeat(1000) } })}\n`;
    writeFileSync(path.join(LOG_DIR, 'events.log'), readFileSync(path.join(LOG_DIR, 'events.log'), 'utf8') + filler.repeat(4200));

    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    const archives = readdirSync(LOG_DIR).filter((f) => /^events-.+\.log$/.test(f));
    expect(archives).toHaveLength(1);
    const rotated = readFileSync(path.join(LOG_DIR, archives[0]), 'utf8').trimEnd().split('\n');
    expect(JSON.parse(rotated[rotated.length - 1])).toMatchObject({ id, kind: 'started', source: 'cli' });

    await ok(e, ['set', id, '--memory', '96M', '--swap', '0']);
    // a process that outgrows the limit: the kernel kills it inside, and the monitor says so
    const hog = await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'head -c 400M /dev/zero | tail']);
    expect(hog.exitCode).toBe(137);
    await until(() => seen(), (s) => s.some((v) => v.kind === 'oom'), 20_000); // (no throw: the list below says what is missing)

    // the tenant powers the container off from inside
    await vpsctl(e, ['exec', id, '--', 'systemctl', 'poweroff']);
    await until(() => json<{ state: string }>(e, ['status', id]), (s) => s.state === 'stopped', 90_000, 500);

    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    await ok(e, ['stop', id]);
    await ok(e, ['snapshot', 'create', id, 'nightly', '--scheduled']);
    await ok(e, ['destroy', id]);

    const want = ['created/cli', 'started/cli', 'limits-changed/cli', 'oom/monitor', 'stopped/monitor/poweroff', 'started/cli', 'stopped/cli/stop', 'snapshot-created/cron', 'destroyed/cli'];
    await until(() => seen(), (s) => s.length >= want.length, 10_000);
    expect(brief(seen())).toEqual(want);
    const oom = seen().find((v) => v.kind === 'oom')!;
    expect(oom.details).toMatchObject({ kills: 1, total: 1 });
    expect(seen().find((v) => v.kind === 'limits-changed')!.details).toMatchObject({ limits: { memory: 96 * 1024 ** 2 }, live: true });
    expect(seen().find((v) => v.kind === 'snapshot-created')!.details).toMatchObject({ name: 'nightly', scheduled: true });

    // what the log holds says the same, and the filters work on it
    const logged = await json<Ev[]>(e, ['events', id]);
    expect(brief(logged)).toEqual(want);
    expect(brief(await json<Ev[]>(e, ['events', id, '--kind', 'stopped']))).toEqual(['stopped/monitor/poweroff', 'stopped/cli/stop']);
    expect(await json<Ev[]>(e, ['events', id, '--since', '2099-01-01'])).toEqual([]);
    expect((await json<Ev[]>(e, ['events', 'filler'])).length).toBe(4200);

    // the follower ends cleanly on an interrupt
    follower.kill('SIGINT');
    expect((await follower).exitCode).toBe(0);
  }, 600_000);

  it('with the daemon up, its stream says what the CLI says: addresses, a reboot inside, a kill, snapshots restored and deleted', async () => {
    // a network of this test's own for the addresses (the same state root, so the same log)
    const N = 10 + (process.pid % 200);
    const tag = (process.pid % 100000).toString(36);
    const net: Env = { ...e, env: { ...e.env, VPSCTL_BRIDGE: `vpe${tag}`, VPSCTL_SUBNET: `10.238.${N}.1/24`, VPSCTL_SUBNET6: `fd00:238:${N.toString(16)}::1/64`, VPSCTL_NAT: 'false', VPSCTL_NFT_TABLE: `vpsctl_e${tag}` } };
    const other = newId('ev');
    const sock = path.join(e.run, 'api.sock');
    const daemon = execa(BIN, ['daemon'], { env: net.env, reject: false });
    let sse = '';
    let stream: ResultPromise | undefined;
    try {
      await until(() => existsSync(sock), (x) => x, 30_000);
      stream = execa('curl', ['-sN', '--unix-socket', sock, `http://vpsctl/1.0/events?follow=true&id=${other}`], { reject: false, buffer: false });
      stream.stdout!.on('data', (b: Buffer) => (sse += b.toString()));
      await until(() => sse, (g) => g.startsWith(': vpsctl events'), 10_000, 50);
      const streamed = (): Ev[] => [...sse.matchAll(/^data: (.*)$/gm)].map((m) => JSON.parse(m[1]) as Ev);

      await ok(net, ['create', other, '--template', 'debian-12', '--disk', '2G', '--ipadd', `10.238.${N}.10`]);
      await ok(net, ['start', other, '--wait', '--timeout', '180s']);
      await ok(net, ['set', other, '--ipadd', `10.238.${N}.11`]);
      await ok(net, ['set', other, '--ipdel', `10.238.${N}.11`]);
      const pid0 = (await json<{ init_pid: number }>(net, ['status', other])).init_pid;
      await vpsctl(net, ['exec', other, '--', 'systemctl', 'reboot']);
      await until(() => json<{ state: string; init_pid: number | null }>(net, ['status', other]), (st) => st.state === 'running' && st.init_pid !== null && st.init_pid !== pid0, 180_000, 500);
      // killed from outside: the host's root kills its init
      const pid = (await json<{ init_pid: number }>(net, ['status', other])).init_pid;
      process.kill(pid, 'SIGKILL');
      await until(() => json<{ state: string }>(net, ['status', other]), (st) => st.state === 'stopped', 60_000, 500);
      await ok(net, ['snapshot', 'create', other, 'before']);
      await ok(net, ['snapshot', 'restore', other, 'before']);
      await ok(net, ['snapshot', 'delete', other, 'before']);
      await ok(net, ['destroy', other]);

      const want = [
        'created/cli',
        'started/cli',
        'address-added/cli',
        'address-removed/cli',
        'rebooted/monitor',
        'stopped/monitor/killed',
        'snapshot-created/cli',
        'snapshot-restored/cli',
        'snapshot-deleted/cli',
        'destroyed/cli',
      ];
      await until(() => streamed(), (x) => x.length >= want.length, 15_000, 100);
      expect(brief(streamed())).toEqual(want);
      expect(brief(await json<Ev[]>(net, ['events', other]))).toEqual(want);
      expect(streamed().find((v) => v.kind === 'address-added')!.details).toMatchObject({ address: `10.238.${N}.11/24` });
    } finally {
      stream?.kill('SIGTERM');
      await stream;
      daemon.kill('SIGTERM');
      await daemon;
      await vpsctl(net, ['destroy', other, '--force']);
      await execa('ip', ['link', 'del', `vpe${tag}`], { reject: false });
      for (const f of ['bridge', 'inet']) await execa('nft', ['delete', 'table', f, `vpsctl_e${tag}`], { reject: false });
    }
  }, 600_000);

  it('bad filters are exit 2 with what to give instead', async () => {
    const kind = await vpsctl(e, ['events', '--kind', 'exploded']);
    expect(kind.exitCode).toBe(2);
    expect(kind.stderr).toMatch(/unknown event kind "exploded".*kinds: created, started/s);
    const since = await vpsctl(e, ['events', '--since', 'last tuesday']);
    expect(since.exitCode).toBe(2);
    expect(since.stderr).toMatch(/invalid time "last tuesday".*30s, 15m, 2h, 7d/s);
    expect((await vpsctl(e, ['events', '../x'])).exitCode).toBe(2);
  });
});
