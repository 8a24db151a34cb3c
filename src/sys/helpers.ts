import * as path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ExitCode, VpsError, type ExitCodeValue } from '../base/errors.js';
import type { Runner } from './exec.js';

/** The package root: dist/sys/helpers.js -> ../../ */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export type HelperName = 'vps-spawn' | 'vps-enter' | 'vps-snap' | 'vps-limit' | 'vps-net';

export function helperPath(name: HelperName, env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.VPSCTL_HELPERS_DIR || path.join(PACKAGE_ROOT, 'helpers');
  const p = path.join(dir, name);
  if (!existsSync(p)) {
    throw new VpsError(ExitCode.HOST_NOT_READY, `helper ${name} is not built (looked for ${p})`, {
      hint: 'run `npm run build` (needs make and gcc: apt-get install build-essential)',
    });
  }
  return p;
}

/** Maps a helper's exit code and its one stderr line to a VpsError. */
export function helperError(name: HelperName, exitCode: number, stderr: string): VpsError {
  const line = stderr.trim().split('\n').filter(Boolean).pop() ?? `${name} exited ${exitCode}`;
  const code = (exitCode >= 1 && exitCode <= 7 ? exitCode : 1) as ExitCodeValue;
  return new VpsError(code, line.replace(/^vps-[a-z]+: /, ''));
}

/** Runs a helper that prints one JSON object on success, directly or through `via` (a program and its arguments that exec the rest). */
export async function runHelperJson<T>(runner: Runner, name: HelperName, args: string[], via: string[] = []): Promise<T> {
  const argv = [...via, helperPath(name), ...args];
  const r = await runner.run(argv[0], argv.slice(1), { reject: false });
  if (r.exitCode !== 0) throw helperError(name, r.exitCode, r.stderr);
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
  } catch {
    throw new VpsError(ExitCode.FAILED, `${name} printed no result: ${r.stdout.slice(0, 200)}`);
  }
}
