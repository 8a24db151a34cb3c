/**
 * The layering of docs/ARCHITECTURE.md is checked by dependency-cruiser (`npm run lint`,
 * .dependency-cruiser.cjs). Here: the tree passes, and each rule catches what it is there for
 * in a small tree planted for it.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const REPO = process.cwd();
const DEPCRUISE = path.join(REPO, 'node_modules', '.bin', 'depcruise');

function stripAnsi(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}

function cruise(cwd: string): { status: number | null; out: string } {
  // CI may ask for colour (FORCE_COLOR, a terminal): ask for none, and strip any that comes anyway.
  const env = { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' };
  const r = spawnSync(DEPCRUISE, ['src', '--config', '.dependency-cruiser.cjs', '--output-type', 'err'], { cwd, env, encoding: 'utf8' });
  return { status: r.status, out: stripAnsi(`${r.stdout}${r.stderr}`) };
}

describe('the layering', () => {
  it('holds for the whole tree', () => {
    const r = cruise(REPO);
    expect([r.status, r.out]).toEqual([0, expect.stringMatching(/no dependency violations found/)]);
  });

  const cases: [string, Record<string, string>, RegExp][] = [
    ['a command reaching past the Host into a subsystem', { 'src/commands/x.ts': "import { pool } from '../storage/pool.js';\nexport const x = pool;\n", 'src/storage/pool.ts': 'export const pool = 1;\n' }, /commands-are-thin: src\/commands\/x\.ts → src\/storage\/pool\.ts/],
    ['a subsystem importing another sideways', { 'src/storage/a.ts': "import { b } from '../runtime/b.js';\nexport const a = b;\n", 'src/runtime/b.ts': 'export const b = 1;\n' }, /subsystems-not-sideways: src\/storage\/a\.ts → src\/runtime\/b\.ts/],
    ['src/base importing anything of ours', { 'src/base/a.ts': "import { b } from '../sys/b.js';\nexport const a = b;\n", 'src/sys/b.ts': 'export const b = 1;\n' }, /base-is-the-bottom: src\/base\/a\.ts → src\/sys\/b\.ts/],
    ['a program run outside src/sys', { 'src/core/a.ts': "import { spawnSync } from 'node:child_process';\nexport const a = spawnSync;\n" }, /only-sys-runs-programs: src\/core\/a\.ts → (node:)?child_process/],
    ['the REST API reaching past the Host into a service', { 'src/api/a.ts': "import { b } from '../core/lifecycle.js';\nexport const a = b;\n", 'src/core/lifecycle.ts': 'export const b = 1;\n' }, /api-over-host: src\/api\/a\.ts → src\/core\/lifecycle\.ts/],
    ['the library importing the REST API', { 'src/core/a.ts': "import { b } from '../api/b.js';\nexport const a = b;\n", 'src/api/b.ts': 'export const b = 1;\n' }, /nothing-imports-the-cli: src\/core\/a\.ts → src\/api\/b\.ts/],
    ['an import cycle', { 'src/core/a.ts': "import { b } from './b.js';\nexport const a = (): number => b();\n", 'src/core/b.ts': "import { a } from './a.js';\nexport const b = (): number => a();\n" }, /no-cycle: src\/core\/(a|b)\.ts → /],
  ];

  it.each(cases)('fails on %s', (_name, files, violation) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vpsctl-layering-'));
    try {
      cpSync(path.join(REPO, '.dependency-cruiser.cjs'), path.join(dir, '.dependency-cruiser.cjs'));
      writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
      for (const [f, text] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        writeFileSync(path.join(dir, f), text);
      }
      const r = cruise(dir);
      expect(r.status).not.toBe(0);
      expect(r.out).toMatch(violation);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
