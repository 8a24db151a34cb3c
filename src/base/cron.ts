import { invalid } from './errors.js';

const MACROS = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);
/** minute, hour, day of month, month, day of week: ranges and the names cron accepts. */
const FIELDS: { name: string; min: number; max: number; names?: string[] }[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] },
  { name: 'day of week', min: 0, max: 7, names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] },
];

/**
 * Checks a cron schedule (`@daily`, or five fields such as `30 2 * * 1-5`) before it goes into
 * a file cron reads as root: only the characters and values cron itself accepts.
 */
export function validateCron(expr: string): string {
  const text = String(expr).trim().replace(/\s+/g, ' ');
  const bad = (why: string): never => {
    throw invalid(`invalid schedule ${JSON.stringify(expr)}: ${why}`, "use @hourly, @daily, @weekly, @monthly, or five cron fields such as '30 2 * * *'");
  };
  if (text.startsWith('@')) {
    if (!MACROS.has(text)) bad('unknown @ word');
    return text;
  }
  const parts = text.split(' ');
  if (parts.length !== 5) bad(`${parts.length} fields, cron needs 5 (minute hour day month weekday)`);
  parts.forEach((part, i) => {
    const f = FIELDS[i];
    const value = (v: string): number => {
      const named = f.names?.indexOf(v.toLowerCase()) ?? -1;
      const n = named >= 0 ? named + (f.min === 1 ? 1 : 0) : /^\d{1,2}$/.test(v) ? Number(v) : NaN;
      if (Number.isNaN(n) || n < f.min || n > f.max) bad(`${f.name} ${JSON.stringify(v)} is not in ${f.min}-${f.max}`);
      return n;
    };
    for (const item of part.split(',')) {
      const m = /^(\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:\/(\d{1,2}))?$/.exec(item);
      if (!m) bad(`${f.name} ${JSON.stringify(item)} is not a value, range or step`);
      const [, range, step] = m as RegExpExecArray;
      if (step !== undefined && (Number(step) < 1 || Number(step) > f.max)) bad(`step ${step} out of range`);
      if (range === '*') continue;
      const [a, b] = range.split('-');
      const lo = value(a);
      if (b !== undefined && value(b) < lo) bad(`range ${range} runs backwards`);
    }
  });
  return text;
}

/** `<cron_dir>/vpsctl-snapshot-<id>`: cron skips names with dots, and ids have none. */
export function cronFile(s: { cronDir: string }, id: string): string {
  return `${s.cronDir}/vpsctl-snapshot-${id}`;
}
