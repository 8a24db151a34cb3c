/** The host's event log: its lines (src/base/events.ts) and the file (src/sys/eventlog.ts). */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { eventLine, matches, parseEvent, parseSince, validateKinds, type VpsEvent } from '../../src/base/events.js';
import { EventLog, EVENTS_KEEP, EVENTS_MAX } from '../../src/sys/eventlog.js';

const ev = (n: number, kind: VpsEvent['kind'] = 'started', id = '101'): VpsEvent => ({ time: new Date(Date.UTC(2026, 11, 1, 0, 0, n)).toISOString(), id, kind, source: 'cli', details: { n } });

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vpsctl-events-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('event lines', () => {
  it('round-trips an event, and skips what is not one', () => {
    const e = ev(1, 'oom');
    expect(eventLine(e).endsWith('\n')).toBe(true);
    expect(parseEvent(eventLine(e).trim())).toEqual(e);
    expect(parseEvent('{"time":"x","id":"1"')).toBeUndefined(); // cut short
    expect(parseEvent('{"time":"x","id":"1","kind":"started"}')).toBeUndefined(); // no source
    expect(parseEvent('not json')).toBeUndefined();
  });

  it('filters by container, kind and time', () => {
    expect(matches(ev(5), { ids: ['101'], kinds: ['started'], since: Date.parse(ev(5).time) })).toBe(true);
    expect(matches(ev(5), { ids: ['102'] })).toBe(false);
    expect(matches(ev(5), { kinds: ['stopped'] })).toBe(false);
    expect(matches(ev(5), { since: Date.parse(ev(6).time) })).toBe(false);
  });

  it('reads --since as an ISO time or an age, and refuses anything else', () => {
    const now = Date.UTC(2026, 11, 2, 12, 0, 0);
    expect(parseSince('2h', now)).toBe(now - 2 * 3_600_000);
    expect(parseSince('30s', now)).toBe(now - 30_000);
    expect(parseSince('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseSince('2026-12-01T10:00:00Z', now)).toBe(Date.UTC(2026, 11, 1, 10));
    expect(parseSince('2026-12-01', now)).toBe(Date.UTC(2026, 11, 1));
    for (const bad of ['yesterday', '2h ago', '-1h', '2026-13-45', '']) expect(() => parseSince(bad, now)).toThrow(/invalid time/);
    expect(() => validateKinds(['started', 'exploded'])).toThrow(/unknown event kind "exploded"/);
  });
});

describe('EventLog', () => {
  it('appends lines that read back in order, with the filter', async () => {
    const log = new EventLog(path.join(dir, 'events', 'events.log'));
    for (let i = 0; i < 5; i++) log.append(ev(i, i % 2 ? 'stopped' : 'started', i < 3 ? '101' : '102'));
    expect((await log.read()).map((e) => e.details.n)).toEqual([0, 1, 2, 3, 4]);
    expect((await log.read({ ids: ['102'] })).map((e) => e.details.n)).toEqual([3, 4]);
    expect((await log.read({ kinds: ['stopped'] })).map((e) => e.details.n)).toEqual([1, 3]);
    expect(statSync(log.file).mode & 0o777).toBe(0o640);
  });

  it('a line cut short (a writer killed mid-write) is skipped, not an error', async () => {
    const log = new EventLog(path.join(dir, 'events.log'));
    log.append(ev(1));
    appendFileSync(log.file, '{"time":"2026-12-01T00:00:02.000Z","id":"1');
    appendFileSync(log.file, '\n');
    log.append(ev(3));
    expect((await log.read()).map((e) => e.details.n)).toEqual([1, 3]);
  });

  it('rotates past EVENTS_MAX to a file of its own, keeps EVENTS_KEEP of them, and reads across them', async () => {
    const log = new EventLog(path.join(dir, 'events.log'));
    const filler = `{"time":"2026-11-30T00:00:00.000Z","id":"old","kind":"started","source":"cli","details":{"pad":"${'x'.repeat(1000)}"}}\n`;
    let n = 0;
    for (let round = 0; round < EVENTS_KEEP + 2; round++) {
      writeFileSync(log.file, filler.repeat(Math.ceil(EVENTS_MAX / filler.length) + 1));
      log.append(ev(n++)); // over the limit: this writer rotates
      await new Promise((r) => setTimeout(r, 5)); // names carry the time in ms
    }
    const archives = readdirSync(dir).filter((f) => f.startsWith('events-'));
    expect(archives).toHaveLength(EVENTS_KEEP);
    expect(readdirSync(dir)).not.toContain('events.log'); // the last append rotated it
    log.append(ev(n++));
    const got = (await log.read({ ids: ['101'] })).map((e) => e.details.n);
    // the oldest rotated files are gone with their events; the rest read oldest first
    expect(got).toEqual([2, 3, 4, 5, 6]);
    expect(readFileSync(log.file, 'utf8')).toBe(eventLine(ev(6)));
  });

  it('follows new events, across a rotation, none missed or given twice', async () => {
    const log = new EventLog(path.join(dir, 'events.log'));
    log.append(ev(0));
    const seen: number[] = [];
    const stop = new AbortController();
    const done = log.follow({}, (e) => seen.push(e.details.n as number), stop.signal, { past: true, everyMs: 20 });
    await new Promise((r) => setTimeout(r, 60));
    log.append(ev(1));
    // the next append leaves the file over the limit and moves it away, before the follower looks
    appendFileSync(log.file, `{"pad":"${'x'.repeat(EVENTS_MAX)}"}\n`);
    log.append(ev(2));
    log.append(ev(3));
    for (let i = 0; i < 100 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
    stop.abort();
    await done;
    expect(seen).toEqual([0, 1, 2, 3]);
  });
});
