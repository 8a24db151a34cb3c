import { invalid } from './errors.js';

/**
 * The points where an admin's programs run on the host (as vzctl's action scripts and LXC's
 * hooks): a pre-* hook that fails stops the operation before it changes anything; a post-*
 * hook that fails is a warning and a "hook-failed" event.
 */
export const HOOK_EVENTS = ['pre-create', 'post-create', 'pre-start', 'post-start', 'pre-stop', 'post-stop', 'pre-destroy', 'post-snapshot'] as const;
export type HookEvent = (typeof HOOK_EVENTS)[number];

/** config.yaml's `hooks:` — one program per event (absolute path). */
export type HookMap = Partial<Record<HookEvent, string>>;

export const isHookEvent = (s: string): s is HookEvent => (HOOK_EVENTS as readonly string[]).includes(s);

/** Checks a `hooks:` mapping: known events, absolute paths without `..` or control characters. */
export function parseHooks(v: unknown, where: string): HookMap {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid(`${where}: hooks must be a mapping of event to program`);
  const out: HookMap = {};
  for (const [k, p] of Object.entries(v as Record<string, unknown>)) {
    if (!isHookEvent(k)) throw invalid(`${where}: unknown hook event ${JSON.stringify(k)}`, `events: ${HOOK_EVENTS.join(', ')}`);
    out[k] = hookPath(p, `${where}: hooks.${k}`);
  }
  return out;
}

export function hookPath(p: unknown, where: string): string {
  if (typeof p !== 'string' || !p.startsWith('/') || p.length > 1024 || /[\x00-\x1f\x7f]/.test(p) || p.split('/').includes('..')) {
    throw invalid(`${where} must be an absolute path to a program (no "..")`);
  }
  return p;
}
