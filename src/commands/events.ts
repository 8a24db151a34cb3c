import { Args, Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { realHost } from '../cli/host.js';
import { EVENT_KINDS, parseSince, validateKinds, type EventFilter, type VpsEvent } from '../base/events.js';
import { validateId } from '../base/ids.js';

/** `2026-12-02T06:10:00.123Z  101  stopped  monitor  reason=poweroff signal=2` */
function line(e: VpsEvent): string {
  const details = Object.entries(e.details)
    .map(([k, v]) => `${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return `${e.time}  ${e.id}  ${e.kind}  ${e.source}${details ? `  ${details}` : ''}`;
}

export default class Events extends VpsCommand<VpsEvent[]> {
  static override summary = "The host's events: what happened to which container, when, and who did it.";
  static override description =
    `Every change and fact about a container, one line each, oldest first: ${EVENT_KINDS.join(', ')}. Each names its source: cli, api (the daemon), monitor (the container's own: a stop and its reason, a reboot or an OOM kill inside) or cron (a scheduled snapshot). The log is written whether or not anyone reads it, and rotated (4 MiB, 4 old files kept). --follow prints each new event as it comes until interrupted; with --json each is one JSON object on its own line.`;
  static override examples = ['<%= config.bin %> events', '<%= config.bin %> events 101 --since 1h', '<%= config.bin %> events --follow --kind stopped --kind oom --json'];
  static override strict = false;
  static override args = { id: Args.string({ description: 'only these containers (default: all)', parse: async (s) => validateId(s) }) };
  static override flags = {
    follow: Flags.boolean({ char: 'f', description: 'after what the log holds, print each new event as it comes, until interrupted' }),
    since: Flags.string({ description: 'only events from this time on: ISO (2026-12-01T10:00:00Z) or an age (30s, 15m, 2h, 7d)', helpValue: 'TIME' }),
    kind: Flags.string({ description: 'only events of this kind (repeatable)', multiple: true, helpValue: 'KIND' }),
  };

  async run(): Promise<VpsEvent[]> {
    const { argv, flags } = await this.parse(Events);
    const filter: EventFilter = {
      ids: (argv as string[]).map(validateId),
      kinds: validateKinds(flags.kind ?? []),
      ...(flags.since ? { since: parseSince(flags.since) } : {}),
    };
    const host = realHost(this.progress());
    if (!flags.follow) {
      const events = await host.readEvents(filter);
      if (!this.jsonEnabled()) for (const e of events) this.log(line(e));
      return events;
    }
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    const json = this.jsonEnabled();
    await host.readEvents(filter, { onEvent: (e) => process.stdout.write(json ? `${JSON.stringify(e)}\n` : `${line(e)}\n`), signal: stop.signal });
    return this.exit(0);
  }
}
