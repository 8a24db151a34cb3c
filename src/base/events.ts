import { invalid } from './errors.js';

/**
 * The host's events: one fact about a container each, as one JSON line of the event log
 * (src/sys/eventlog.ts; helpers/spawn-events.c writes the monitor's).
 */
export const EVENT_KINDS = [
  'created', // create, clone (details.from), import (details.imported)
  'started', // by the monitor at the first boot of a start
  'stopped', // by the monitor: details.reason stop | killed | poweroff | crashed | failed
  'rebooted', // by the monitor: init rebooted from inside
  'oom', // by the monitor: details.kills, details.total
  'limits-changed', // set: details.limits holds the new limits; set --disk: details.disk and .previous (bytes), .online
  'address-added',
  'address-removed',
  'snapshot-created',
  'snapshot-restored',
  'snapshot-deleted', // details.reason expired when pruned
  'destroyed',
  'hook-failed', // a post-* hook failed: details.hook, details.program, details.error
  'writes-held', // by the monitor: the pool ran short (details.free under details.low), its filesystem is frozen
  'writes-resumed', // by the monitor: the pool has room again (details.free), its writes go on
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** Who made the change: the CLI, the REST daemon, a container's monitor, a cron job. */
export const EVENT_SOURCES = ['cli', 'api', 'monitor', 'cron'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export interface VpsEvent {
  /** ISO 8601, UTC, milliseconds. */
  time: string;
  id: string;
  kind: EventKind;
  source: EventSource;
  details: Record<string, unknown>;
}

export interface EventFilter {
  ids?: string[];
  kinds?: string[];
  /** Only events at or after this time (ms since the epoch). */
  since?: number;
}

/** One line of the log for an event (JSON and a newline). */
export function eventLine(e: VpsEvent): string {
  return `${JSON.stringify({ time: e.time, id: e.id, kind: e.kind, source: e.source, details: e.details })}\n`;
}

/** An event from one line of the log, or undefined for a line that is not one (cut short, foreign). */
export function parseEvent(line: string): VpsEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const e = JSON.parse(line) as Partial<VpsEvent>;
    if (typeof e.time !== 'string' || typeof e.id !== 'string' || typeof e.kind !== 'string' || typeof e.source !== 'string') return undefined;
    return { time: e.time, id: e.id, kind: e.kind as EventKind, source: e.source as EventSource, details: e.details && typeof e.details === 'object' ? e.details : {} };
  } catch {
    return undefined;
  }
}

export function matches(e: VpsEvent, f: EventFilter): boolean {
  if (f.ids?.length && !f.ids.includes(e.id)) return false;
  if (f.kinds?.length && !f.kinds.includes(e.kind)) return false;
  if (f.since !== undefined && Date.parse(e.time) < f.since) return false;
  return true;
}

/** Checks `--kind` values against the kinds there are. */
export function validateKinds(kinds: string[]): string[] {
  for (const k of kinds) {
    if (!(EVENT_KINDS as readonly string[]).includes(k)) throw invalid(`unknown event kind ${JSON.stringify(k)}`, `kinds: ${EVENT_KINDS.join(', ')}`);
  }
  return kinds;
}

/**
 * `--since`: an ISO time (`2026-12-01T10:00:00Z`, `2026-12-01`) or an age (`30s`, `15m`,
 * `2h`, `7d`) before `now`. Milliseconds since the epoch.
 */
export function parseSince(text: string, now = Date.now()): number {
  const age = /^(\d{1,9})([smhd])$/.exec(text.trim());
  if (age) return now - Number(age[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as 's' | 'm' | 'h' | 'd'];
  const t = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim()) ? Date.parse(text.trim()) : NaN;
  if (Number.isNaN(t)) throw invalid(`invalid time ${JSON.stringify(text)}`, 'give an ISO time (2026-12-01T10:00:00Z) or an age (30s, 15m, 2h, 7d)');
  return t;
}
