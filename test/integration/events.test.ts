/**
 * The host's event log, as a control panel or an admin reads it: `vpsctl events --follow`
 * runs while a container is made, started, changed, OOM-killed inside, powered off from
 * inside, started and stopped again, snapshotted by its cron entry and destroyed. Each fact
 * comes once, in order, with the source that caused it; the monitor's own line rotates the
 * log, and neither the follower nor `events` loses anything across it.
 */
import { execa, type ResultPromise } from 'execa';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
