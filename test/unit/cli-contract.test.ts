/**
 * The CLI surface is a contract: every command and flag in --help (the oclif manifest) is in
 * man/vpsctl.8, every command has --json, and the exit codes in the man page are the ones
 * the code and the helpers use.
 */
import { readFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { ExitCode } from '../../src/base/errors.js';

const root = path.resolve('.');
const manifestFile = path.join(root, 'oclif.manifest.json');
const man = readFileSync(path.join(root, 'man', 'vpsctl.8'), 'utf8').replace(/\\-/g, '-').replace(/\\f[BIPR]/g, '');

interface ManifestCommand {
  id: string;
  flags: Record<string, { name: string; char?: string }>;
}

describe('CLI contract', () => {
  it('has a manifest (npm run build makes it)', () => expect(existsSync(manifestFile)).toBe(true));
  const commands: ManifestCommand[] = existsSync(manifestFile) ? Object.values(JSON.parse(readFileSync(manifestFile, 'utf8')).commands) : [];
  const ids = commands.map((c) => c.id.replace(/:/g, ' '));

  it('covers the spine commands', () => {
    for (const c of ['create', 'start', 'stop', 'restart', 'destroy', 'list', 'status', 'exec', 'template build', 'template list', 'host check', 'host info']) {
      expect(ids).toContain(c);
    }
  });

  it.each(commands.map((c) => [c.id.replace(/:/g, ' '), c] as const))('%s: documented in man/vpsctl.8 with each flag, and takes --json', (name, cmd) => {
    expect(man).toMatch(new RegExp(`^\\.SS "${name}\\b`, 'm'));
    expect(Object.keys(cmd.flags)).toContain('json');
    const section = man.split(/^\.SS /m).find((s) => s.startsWith(`"${name}`)) ?? '';
    for (const f of Object.values(cmd.flags)) {
      if (f.name === 'json') continue;
      expect(section).toContain(`--${f.name}`);
      if (f.char) expect(section).toContain(`-${f.char}`);
    }
  });

  it('documents every exit code the code uses', () => {
    const exitSection = man.split('.SH EXIT STATUS')[1].split('.SH ')[0];
    for (const code of Object.values(ExitCode)) expect(exitSection).toMatch(new RegExp(`^\\.B ${code}$`, 'm'));
  });

  it('agrees with helpers/exit-codes.h', () => {
    const h = readFileSync(path.join(root, 'helpers', 'exit-codes.h'), 'utf8');
    const defs = Object.fromEntries([...h.matchAll(/#define\s+VPS_(\w+)\s+(\d+)/g)].map((m) => [m[1], Number(m[2])]));
    expect(Object.values(defs).sort()).toEqual(Object.values(ExitCode).sort());
  });
});
