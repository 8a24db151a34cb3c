/** The admin's hooks (src/core/hooks.ts, src/sys/hooks.ts): real programs in a temp dir. */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parseHooks } from '../../src/base/hooks.js';
import { parseConfig, renderConfig } from '../../src/base/config.js';
import type { Store } from '../../src/core/context.js';
import { Hooks } from '../../src/core/hooks.js';
import { importPolicy } from '../../src/core/import-policy.js';
import { hookRefusal } from '../../src/sys/hooks.js';

let dir: string;
let warnings: string[];
let events: { id: string; kind: string; details?: Record<string, unknown> }[];
/** The container's own hooks, as its config.yaml would hold them. */
let own: Record<string, string>;
let hooks: Hooks;

const asRoot = process.getuid?.() === 0;
const itRoot = asRoot ? it : it.skip; // root-owned programs: the integration suite runs as root

/** A shell script hook at `file`, mode 0755 unless told. */
function program(file: string, body: string, mode = 0o755): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, mode);
  return file;
}

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vpsctl-hooks-'));
  warnings = [];
  events = [];
  own = {};
  const store = {
    settings: { hooksDir: path.join(dir, 'hooks.d'), hookTimeoutMs: 1000 },
    layout: { configFile: (id: string) => `/var/lib/vpsctl/containers/${id}/config.yaml` },
    config: async () => ({ hooks: own }),
    progress: { warn: (m: string) => warnings.push(m) },
    emit: (id: string, kind: string, details?: Record<string, unknown>) => events.push({ id, kind, details }),
  };
  hooks = new Hooks(store as unknown as Store);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('hooks in config.yaml', () => {
  it('takes known events with absolute paths, and refuses the rest', () => {
    expect(parseHooks({ 'pre-start': '/usr/local/sbin/check' }, 'f')).toEqual({ 'pre-start': '/usr/local/sbin/check' });
    expect(() => parseHooks({ 'pre-boot': '/x' }, 'f')).toThrow(/unknown hook event "pre-boot"/);
    for (const bad of ['relative/x', '/a/../etc/x', '/a\nb', 42]) expect(() => parseHooks({ 'post-stop': bad }, 'f')).toThrow(/absolute path/);
    expect(() => parseHooks(['/x'], 'f')).toThrow(/mapping/);
  });

  it('round-trips through config.yaml, and an import never takes them', () => {
    const cfg = parseConfig('id: "101"\ntemplate: debian-12\nhostname: a\ndisk: 2G\ncreated: x\ninit: /sbin/init\nprivileged: false\nidmap: {uid: 2000000000, gid: 2000000000, count: 65536}\nhooks:\n  pre-start: /usr/local/sbin/check\n', 'c.yaml', '101');
    expect(cfg.hooks).toEqual({ 'pre-start': '/usr/local/sbin/check' });
    expect(parseConfig(renderConfig(cfg), 'c.yaml', '101').hooks).toEqual(cfg.hooks);
    expect(importPolicy(cfg, {}).notices.join('\n')).toMatch(/hooks: the archive's pre-start hooks are not taken/);
  });
});

describe('running hooks', () => {
  itRoot('runs the host-wide programs in name order, then the container\'s own, with their environment', async () => {
    const log = path.join(dir, 'log');
    const line = `echo "$(basename "$0") $VPSCTL_ID $VPSCTL_HOOK $VPSCTL_CONFIG_FILE $VPSCTL_SNAPSHOT" >> ${log}`;
    program(path.join(dir, 'hooks.d', 'post-snapshot', '20-second'), line);
    program(path.join(dir, 'hooks.d', 'post-snapshot', '10-first'), line);
    program(path.join(dir, 'hooks.d', 'post-snapshot', '30-old.dpkg-old'), line); // as run-parts: not a hook
    own['post-snapshot'] = program(path.join(dir, 'own'), line);
    await hooks.post('post-snapshot', '101', { VPSCTL_SNAPSHOT: 'nightly' });
    expect(readFileSync(log, 'utf8')).toBe(
      ['10-first', '20-second', 'own'].map((n) => `${n} 101 post-snapshot /var/lib/vpsctl/containers/101/config.yaml nightly\n`).join(''),
    );
    expect(warnings).toEqual([]);
  });

  itRoot('a failing pre- hook stops the operation with its message; the next one never runs', async () => {
    const marker = path.join(dir, 'ran');
    program(path.join(dir, 'hooks.d', 'pre-start', '10-billing'), 'echo "tenant 101 has not paid" >&2; exit 3');
    program(path.join(dir, 'hooks.d', 'pre-start', '20-next'), `touch ${marker}`);
    await expect(hooks.pre('pre-start', '101')).rejects.toThrow(/pre-start hook .*10-billing stopped the start of 101: exit 3: tenant 101 has not paid/);
    expect(existsSync(marker)).toBe(false);
  });

  itRoot('a failing post- hook is a warning and a hook-failed event, and the others still run', async () => {
    const marker = path.join(dir, 'ran');
    program(path.join(dir, 'hooks.d', 'post-start', '10-broken'), 'echo oops; exit 1');
    program(path.join(dir, 'hooks.d', 'post-start', '20-fine'), `touch ${marker}`);
    await hooks.post('post-start', '101');
    expect(existsSync(marker)).toBe(true);
    expect(warnings.join('\n')).toMatch(/post-start hook .*10-broken of 101 failed: exit 1: oops/);
    expect(events).toMatchObject([{ id: '101', kind: 'hook-failed', details: { hook: 'post-start', error: 'exit 1: oops' } }]);
  });

  itRoot('kills a hook that outlives hook_timeout, and says so', async () => {
    program(path.join(dir, 'hooks.d', 'pre-stop', 'slow'), 'sleep 30');
    const t0 = Date.now();
    await expect(hooks.pre('pre-stop', '101')).rejects.toThrow(/timed out after 1s/);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  itRoot('refuses, never runs, a program others could change', async () => {
    const marker = path.join(dir, 'ran');
    const groupWritable = program(path.join(dir, 'gw'), `touch ${marker}`, 0o775);
    own['pre-destroy'] = groupWritable;
    await expect(hooks.pre('pre-destroy', '101')).rejects.toThrow(/refused: .*gw is writable by its group \(mode 775\)/);
    const openDir = path.join(dir, 'open');
    const inOpenDir = program(path.join(openDir, 'h'), `touch ${marker}`);
    chmodSync(openDir, 0o777);
    own['pre-destroy'] = inOpenDir;
    await expect(hooks.pre('pre-destroy', '101')).rejects.toThrow(/refused: its directory .*open is writable by others \(mode 777\)/);
    const sticky = path.join(dir, 'sticky');
    const inSticky = program(path.join(sticky, 'h'), 'exit 0');
    chmodSync(sticky, 0o1777); // as /var/tmp: only root moves a root-owned file
    expect(await hookRefusal(inSticky)).toBeUndefined();
    own['pre-destroy'] = path.join(dir, 'missing');
    await expect(hooks.pre('pre-destroy', '101')).rejects.toThrow(/refused: .*missing does not exist/);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('a hook that leaves a background child', () => {
  itRoot('is done at its own exit, with its exit status', async () => {
    const pidFile = path.join(dir, 'bg.pid');
    const h = program(path.join(dir, 'bg'), `sleep 20 & echo $! > ${pidFile}; echo started; exit 0`);
    const t0 = Date.now();
    own['pre-start'] = h;
    await hooks.pre('pre-start', '101');
    expect(Date.now() - t0).toBeLessThan(5000);
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL'); // ours to clean up
  });
});
