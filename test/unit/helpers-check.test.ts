/**
 * The C helpers' unit tests (`make -C helpers check`, TAP): validators, JSON escaping, pid
 * parsing, errno -> exit code, and the symlink-refusing walk mounts go through.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

it('make -C helpers check passes every TAP test', () => {
  const r = spawnSync('make', ['-s', '-C', path.join(process.cwd(), 'helpers'), 'check'], { encoding: 'utf8' });
  const lines = r.stdout.split('\n');
  const plan = /^1\.\.(\d+)$/m.exec(r.stdout);
  expect([r.status, lines.filter((l) => l.startsWith('not ok'))]).toEqual([0, []]);
  expect(Number(plan?.[1])).toBeGreaterThanOrEqual(20);
  expect(lines.filter((l) => /^ok \d+ /.test(l))).toHaveLength(Number(plan?.[1]));
});
