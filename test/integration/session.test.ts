/**
 * Sessions for admins, through real terminals (node-pty), on real containers: the console
 * the monitor serves, `enter`, and `exec` with pipes or a terminal.
 */
import { execa } from 'execa';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import * as path from 'node:path';
import { json, makeEnv, newId, ok, REPO, until, vpsctl, type Env } from './harness.js';
import { strip, Term } from './term.js';

const e: Env = makeEnv();
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const ATTACK = path.join(e.root, 'vps-attack');
const terms: Term[] = [];

/** A terminal running `vpsctl ARGS`, killed at the end of the file if a test left it. */
function term(args: string[], size = { cols: 100, rows: 30 }): Term {
  const t = Term.vpsctl(e, args, size);
  terms.push(t);
  return t;
}

interface StiReport {
  target: string;
  tty: string;
  pushed: number;
  error: string;
}

/**
 * bash on a terminal (the admin's) runs `cmd`, then echoes whatever reached the terminal's
 * input within 3 s. Returns that, and the TIOCSTI reports vps-attack printed.
 */
async function adminTerminal(cmd: string): Promise<{ got: string; reports: StiReport[] }> {
  const t = new Term('/bin/bash', ['--norc', '--noprofile', '-c', `${cmd}; read -r -t 3 line; echo "GOT[$line]"`], { ...e.env, PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' });
  terms.push(t);
  await t.exit(120_000);
  return { got: (t.screen.match(/GOT\[([^\]]*)\]/) ?? [])[1] ?? `no GOT line in: ${t.screen}`, reports: stiReports(t.screen) };
}

/** Every push landed, on fds 0-2 in a terminal of the container's /dev/pts (and /dev/tty is its controlling one). */
function expectContainerTerminal(reports: StiReport[]): void {
  expect(reports.map((r) => r.target)).toEqual(['fd0', 'fd1', 'fd2', '/dev/tty']);
  for (const r of reports) expect(r).toMatchObject({ tty: r.target === '/dev/tty' ? '/dev/tty' : expect.stringMatching(/^\/dev\/pts\/\d+$/), error: '', pushed: 'echo PWNED'.length + 1 });
}

function stiReports(screen: string): StiReport[] {
  return [...screen.matchAll(/\{"call":"TIOCSTI"[^\n]*\}/g)].map((m) => JSON.parse(m[0]) as StiReport);
}

async function running(id: string): Promise<string> {
  return (await json<{ state: string }>(e, ['status', id])).state;
}

// a test that failed half-way must not leave a console attached (it would be the typer)
afterEach(() => {
  for (const t of terms.splice(0)) t.kill();
});

describe('console, enter and exec of a booted container', () => {
  const id = newId('sess');

  beforeAll(async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--hostname', id, '--userpasswd', `root:${PASSWORD}`]);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    await ok(e, ['exec', id, '--', 'useradd', '--create-home', '--shell', '/bin/bash', '--groups', 'adm', 'alice']);
    await execa('gcc', ['-static', '-no-pie', '-O1', '-o', ATTACK, path.join(REPO, 'test/fixtures/attack.c')]);
    await ok(e, ['exec', id, '--', 'sh', '-c', 'cat > /usr/local/bin/vps-attack && chmod 755 /usr/local/bin/vps-attack'], { input: readFileSync(ATTACK) as unknown as string });
  });
  afterAll(async () => {
    await vpsctl(e, ['destroy', id, '--force']);
  });

  describe('console', () => {
    it('shows the login prompt; root logs in with the password given to create; the escape detaches and the container runs on', async () => {
      const t = term(['console', id]);
      await t.waitFor(/detach with Ctrl-\] then q/);
      t.write('\r');
      await t.waitFor(new RegExp(`${id} login: *$`, 'm'));
      t.write('root\r');
      await t.waitFor(/Password: *$/m);
      t.write(`${PASSWORD}\r`);
      await t.waitFor(/root@[^:]+:~# *$/m);
      t.write('hostname\r');
      await t.waitFor(new RegExp(`^${id}$`, 'm'));
      t.write('exit\r'); // log out again: the console is left at a login prompt
      await t.waitFor(/login: *$/m);
      t.write('\x1dq');
      expect((await t.exit()).exitCode).toBe(0);
      expect(t.screen).toMatch(/detached from .*; it keeps running/);
      expect(await running(id)).toBe('running');
    });

    // the getty echoes what is typed at "login:", ignores control keys, and Ctrl-U clears the line
    it('takes another escape key with --escape, and passes the default one through', async () => {
      const t = term(['console', id, '--escape', '^a']);
      await t.waitFor(/detach with Ctrl-A then q/);
      t.write('\r');
      await t.waitFor(/login: *$/m);
      t.write('\x1dq'); // Ctrl-] q is now just keys for the getty: it shows the q
      await t.waitFor(/q/);
      expect(t.screen).toMatch(/login: [^\n\w]*q/); // the getty may echo the Ctrl-] itself
      expect(t.screen).not.toMatch(/detached from/);
      t.write('\x15\x01q');
      expect((await t.exit()).exitCode).toBe(0);
      expect(await running(id)).toBe('running');
    });

    it('lets several admins watch while one types; the next one takes over when the typer leaves', async () => {
      const a = term(['console', id]);
      await a.waitFor(/you are typing/);
      const b = term(['console', id]);
      await b.waitFor(/watching: another admin is typing/);
      const w = term(['console', id, '--read-only']);
      await w.waitFor(/watching \(read-only\)/);
      b.write('ignoredb'); // a watcher's keys never reach the console
      w.write('ignoredw');
      a.write('\x15typedbya');
      for (const t of [a, b, w]) await t.waitFor(/typedbya/);
      a.write('\x15\x1dq');
      expect((await a.exit()).exitCode).toBe(0);
      await b.waitFor(/you are typing/);
      b.write('typedbyb');
      await w.waitFor(/typedbyb/);
      b.write('\x15');
      for (const t of [b, w]) {
        t.write('\x1dq');
        expect((await t.exit()).exitCode).toBe(0);
      }
      for (const t of [a, b, w]) expect(t.screen).not.toMatch(/ignored[bw]/);
      expect(await running(id)).toBe('running');
    });

    it('drops a client of the console socket that never says hello, so it cannot hold a slot', async () => {
      const sock = connect(path.join(e.run, id, 'console.sock'));
      const closed = new Promise<boolean>((resolve) => {
        sock.on('close', () => resolve(true));
        sock.on('error', () => undefined);
        setTimeout(() => resolve(false), 60_000);
      });
      expect(await closed).toBe(true);
      const t = term(['console', id]); // the console itself is unharmed
      await t.waitFor(/you are typing/);
      t.write('\x1dq');
      expect((await t.exit()).exitCode).toBe(0);
    });

    it('keeps what the console showed in a log that --log prints', async () => {
      const r = await vpsctl(e, ['console', id, '--log']);
      expect(r.exitCode).toBe(0);
      expect(r.stdout).toMatch(/Debian GNU\/Linux 12/);
      expect(r.stdout).toMatch(/login:/);
      const j = await json<{ log: string }>(e, ['console', id, '--log']);
      expect(j.log).toBe(r.stdout);
    });
  });

  describe('enter', () => {
    it('runs a login shell on a terminal of the container: tty, size, resize, Ctrl-C, exit status', async () => {
      const t = term(['enter', id], { cols: 111, rows: 33 });
      await t.waitFor(/root@[^:]+:~# *$/m);
      t.write('tty; stty size; echo "HOME=$HOME"\r');
      await t.waitFor(/^\/dev\/pts\/\d+$/m);
      await t.waitFor(/^33 111$/m);
      await t.waitFor(/^HOME=\/root$/m);
      t.resize(120, 40);
      t.write('stty size\r');
      await t.waitFor(/^40 120$/m);
      t.write('sleep 300\r');
      await t.waitFor(/sleep 300\n/);
      t.write('\x03');
      await t.waitFor(/root@[^:]+:~# *$/m);
      t.write('echo "status=$?"\r');
      await t.waitFor(/^status=130$/m);
      t.write('exit 7\r');
      expect((await t.exit()).exitCode).toBe(7);
    });

    it('ends the shell inside when the admin\'s terminal goes away', async () => {
      const t = term(['enter', id]);
      await t.waitFor(/root@[^:]+:~# *$/m);
      t.write('echo "$$" > /tmp/enter-shell.pid\r');
      await t.waitFor(/root@[^:]+:~# *$/m);
      const pid = (await ok(e, ['exec', id, '--', 'cat', '/tmp/enter-shell.pid'])).trim();
      expect((await vpsctl(e, ['exec', id, '--', 'kill', '-0', pid])).exitCode).toBe(0);
      t.kill(); // vpsctl dies (SIGKILL): the terminal it held hangs up
      const alive = await until(async () => (await vpsctl(e, ['exec', id, '--', 'kill', '-0', pid])).exitCode, (c) => c !== 0, 60_000);
      expect(alive).not.toBe(0);
    });

    it('enters as another user of the container', async () => {
      const t = term(['enter', id, '--user', 'alice']);
      await t.waitFor(/alice@[^:]+:~\$ *$/m);
      t.write('id -un; pwd; ls -l "$(tty)" | cut -d" " -f3\r');
      await t.waitFor(/^alice\n\/home\/alice\nalice$/m);
      t.write('exit\r');
      expect((await t.exit()).exitCode).toBe(0);
    });

    it('refuses a user the container does not have, saying so', async () => {
      const t = term(['enter', id, '--user', 'mallory']);
      expect((await t.exit()).exitCode).toBe(3);
      expect(t.screen).toMatch(/user mallory does not exist in the container/);
      const r = await vpsctl(e, ['exec', id, '--user', 'mallory', '--', 'id']);
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(/user mallory does not exist in the container/);
    });
  });

  describe('exec', () => {
    it('passes 10 MiB of binary stdin through unchanged', async () => {
      const data = randomBytes(10 * 1024 * 1024);
      const want = createHash('sha256').update(data).digest('hex');
      const r = await execa(path.join(REPO, 'bin', 'vpsctl'), ['exec', id, '--', 'sha256sum'], { env: e.env, input: data, reject: false });
      expect(r.exitCode).toBe(0);
      expect(String(r.stdout).split(' ')[0]).toBe(want);
      const back = await execa(path.join(REPO, 'bin', 'vpsctl'), ['exec', id, '--', 'cat'], { env: e.env, input: data, encoding: 'buffer', reject: false });
      expect(createHash('sha256').update(back.stdout as Uint8Array).digest('hex')).toBe(want);
    });

    it('passes on everything the command wrote, however slow the reader', async () => {
      // A reader at 32 KiB/s needs longer than vps-enter's 2 s drain for what is still in
      // the pipes when cat ends (up to 192 KiB): what cat left there must still arrive.
      // (It prints with process.stdout.write: console.log colours numbers under FORCE_COLOR.)
      const data = randomBytes(256 * 1024);
      const file = path.join(e.root, 'slow-reader.bin');
      writeFileSync(file, data);
      const reader = 'const fs=require("fs"),c=require("crypto").createHash("sha256"),b=Buffer.alloc(16384),w=new Int32Array(new SharedArrayBuffer(4));let n,t=0;' +
        'while((n=fs.readSync(0,b))>0){c.update(b.subarray(0,n));t+=n;Atomics.wait(w,0,0,500);}process.stdout.write(t+" "+c.digest("hex")+"\\n")';
      const r = await execa('sh', ['-c', '"$0" exec "$1" -- cat < "$2" | node -e "$3"', path.join(REPO, 'bin', 'vpsctl'), id, file, reader], { env: e.env, reject: false });
      expect(r.stdout.trim()).toBe(`${data.length} ${createHash('sha256').update(data).digest('hex')}`);
    });

    it('keeps stdout and stderr apart', async () => {
      const r = await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'echo to-out; echo to-err >&2; echo more-out']);
      expect(r).toEqual({ exitCode: 0, stdout: 'to-out\nmore-out\n', stderr: 'to-err\n' });
    });

    it('returns 128+N for a command killed by signal N', async () => {
      expect((await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'kill -TERM $$'])).exitCode).toBe(143);
      expect((await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'kill -KILL $$'])).exitCode).toBe(137);
      expect((await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'exit 42'])).exitCode).toBe(42);
    });

    it('passes SIGTERM sent to vpsctl on to the command', async () => {
      const p = execa(path.join(REPO, 'bin', 'vpsctl'), ['exec', id, '--', 'sh', '-c', 'trap "echo got-term; exit 9" TERM; echo ready; while :; do sleep 0.1; done'], { env: e.env, reject: false });
      await new Promise<void>((resolve) => p.stdout?.on('data', (d: Buffer) => String(d).includes('ready') && resolve()));
      p.kill('SIGTERM');
      const r = await p;
      expect(r.exitCode).toBe(9);
      expect(String(r.stdout)).toContain('got-term');
    });

    it('gives the command only pipes: no terminal, none of the host files', async () => {
      const r = await vpsctl(e, ['exec', id, '--', 'sh', '-c', 'tty; for f in 0 1 2; do readlink /proc/self/fd/$f; done']);
      expect(r.stdout).toMatch(/^not a tty\npipe:\[\d+\]\npipe:\[\d+\]\npipe:\[\d+\]\n$/);
    });

    it('reads no stdin from a terminal without -i, and a terminal\'s lines with -i', async () => {
      const t = term(['exec', id, '--', 'sh', '-c', 'cat; echo "cat-ended"']);
      await t.waitFor(/cat-ended/);
      expect((await t.exit()).exitCode).toBe(0);
      const i = term(['exec', '-i', id, '--', 'sh', '-c', 'read -r l; echo "read:$l"']);
      i.write('hello\r');
      await i.waitFor(/read:hello/);
      expect((await i.exit()).exitCode).toBe(0);
    });

    it('runs a command on a terminal of the container with -t, and its exit status comes back', async () => {
      const t = term(['exec', '-t', id, '--', 'sh', '-c', 'tty; stty size; exit 5'], { cols: 90, rows: 20 });
      await t.waitFor(/^\/dev\/pts\/\d+$/m);
      await t.waitFor(/^20 90$/m);
      expect((await t.exit()).exitCode).toBe(5);
      // piped input on a terminal: its end is the command's end of file, after an
      // unfinished last line too (CI once had it arrive cooked on vpsctl's own terminal,
      // where the ends turned into NUL bytes and cat never ended)
      // od shows what the command read before its end of file: the bytes, no NUL
      const cases: [string, RegExp][] = [
        ['abc\ndef', / +a +b +c +\\n +d +e +f\r?\ncat-done/],
        ['abc\ndef\n', / +a +b +c +\\n +d +e +f +\\n\r?\ncat-done/],
        ['', /^\/dev\/pts\/\d+\r?\ncat-done/m],
      ];
      for (const [input, seen] of cases) {
        const piped = await vpsctl(e, ['exec', '-t', id, '--', 'sh', '-c', 'tty; od -An -c; echo "cat-done"'], { input, timeoutMs: 60_000 });
        expect({ input, exitCode: piped.exitCode, stdout: piped.stdout }).toEqual({ input, exitCode: 0, stdout: expect.stringMatching(seen) });
        expect(piped.stdout).toMatch(/\/dev\/pts\/\d+\r?$/m);
      }
      const json_ = await vpsctl(e, ['exec', '-t', id, '--json', '--', 'true']);
      expect(json_.exitCode).toBe(2);
    });

    it('runs as --user in --cwd with --env', async () => {
      const r = await vpsctl(e, ['exec', id, '--user', 'alice', '--env', 'GREETING=hi there', '--', 'sh', '-c', 'id -un; id -Gn; pwd; echo "$HOME|$GREETING"']);
      expect(r.stdout).toBe('alice\nalice adm\n/home/alice\n/home/alice|hi there\n');
      expect((await vpsctl(e, ['exec', id, '--user', 'alice', '--cwd', '/tmp', '--', 'pwd'])).stdout).toBe('/tmp\n');
    });

    it('says what is missing for a command that does not exist (127)', async () => {
      const r = await vpsctl(e, ['exec', id, '--', 'no-such-command', '--flag']);
      expect(r.exitCode).toBe(127);
      expect(r.stderr).toMatch(/no-such-command: not found/);
    });
  });

  describe('TIOCSTI', () => {
    // vps-attack pushes "echo PWNED" into every terminal it can reach (fds 0-2, /dev/tty) and
    // reports each; bash on the admin's terminal then reads what arrived there. The run on
    // the host is the control: there the push arrives.
    const attack = 'vps-attack tiocsti "echo PWNED"';
    const vpsctlBin = path.join(REPO, 'bin', 'vpsctl');

    it('reaches the admin\'s terminal when run on the host (the control)', async () => {
      const { got, reports } = await adminTerminal(`${ATTACK} tiocsti "echo PWNED" >/dev/null; ${ATTACK} tiocsti x`);
      expect(got).toBe('echo PWNED');
      expect(reports.find((r) => r.target === 'fd0')).toMatchObject({ tty: expect.stringMatching(/^\/dev\/pts\/\d+$/), error: '' });
    });

    it.each([
      ['exec', []],
      ['exec -i', ['-i']],
    ])('finds no terminal at all from %s: pipes, and no controlling terminal', async (_name, flags) => {
      const { got, reports } = await adminTerminal(`${vpsctlBin} exec ${flags.join(' ')} ${id} -- ${attack}`);
      expect(got).toBe('');
      expect(reports.map((r) => r.target)).toEqual(['fd0', 'fd1', 'fd2', '/dev/tty']);
      for (const r of reports) expect(r).toMatchObject({ tty: '', pushed: 0, error: expect.stringMatching(/.+/) });
    });

    // with a terminal the push works, but into the container's own terminal (ttyname resolves
    // it in the container's /dev/pts, which a terminal of the host's would not), never the admin's
    it.each([
      ['exec -t', ['-t']],
      ['exec -ti --user alice', ['-t', '-i', '--user', 'alice']],
    ])('types only into the container\'s own terminal from %s', async (_name, flags) => {
      const { got, reports } = await adminTerminal(`${vpsctlBin} exec ${flags.join(' ')} ${id} -- ${attack}`);
      expect(got).toBe('');
      expect(reports.map((r) => r.target)).toEqual(['fd0', 'fd1', 'fd2', '/dev/tty']);
      expectContainerTerminal(reports);
    });

    it('types only into the container\'s own terminal from a shell of enter', async () => {
      const t = new Term('/bin/bash', ['--norc', '--noprofile', '-c', `${vpsctlBin} enter ${id}; read -r -t 3 line; echo "GOT[$line]"`], { ...e.env, PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm' });
      terms.push(t);
      await t.waitFor(/root@[^:]+:~# *$/m);
      t.write(`${attack}; exit\r`);
      await t.exit(120_000);
      expect(t.screen).toMatch(/GOT\[\]/);
      expectContainerTerminal(stiReports(t.screen));
    });
  });

  describe('bad input', () => {
    it('refuses a bad escape key, JSON for an attached console or a shell, and a shell without a terminal', async () => {
      for (const args of [['console', id, '--escape', 'qq'], ['console', id, '--json'], ['enter', id, '--json'], ['enter', id], ['exec', id, '--env', 'not-a-pair', '--', 'true'], ['exec', id, '--user', '-x', '--', 'true']]) {
        const r = await vpsctl(e, args);
        expect({ args, exitCode: r.exitCode }).toEqual({ args, exitCode: 2 });
      }
    });

    it('refuses a container that does not exist (3)', async () => {
      for (const args of [['console', 'no-such-ct'], ['console', 'no-such-ct', '--log'], ['enter', 'no-such-ct'], ['exec', 'no-such-ct', '--', 'true']]) {
        const r = await vpsctl(e, args);
        expect({ args, exitCode: r.exitCode, stderr: r.stderr }).toEqual({ args, exitCode: 3, stderr: expect.stringMatching(/container no-such-ct does not exist/) });
      }
    });
  });

  describe('a console flood', () => {
    it('does not block stop, with a console attached and one that never reads', async () => {
      await ok(e, ['exec', id, '--', 'sh', '-c', 'nohup sh -c "yes flood-flood-flood > /dev/console" >/dev/null 2>&1 &']);
      const t = term(['console', id]);
      await t.waitFor(/flood-flood-flood/);
      // a client that says hello and then never reads a byte
      const sock = connect(path.join(e.run, id, 'console.sock'));
      await new Promise((resolve) => sock.on('connect', resolve));
      sock.write(Buffer.from([0x48, 0, 1, 0x72]));
      sock.pause();
      const log = path.join(e.run, id, 'console.log');
      await until(() => existsSync(`${log}.1`), (x) => x, 120_000);
      const stop = await json<{ how: string }>(e, ['stop', id, '--timeout', '120s']);
      // not clean: what the console said besides the flood tells what systemd waited for
      const said = (): string[] => [`${log}.1`, log].flatMap((f) => (existsSync(f) ? readFileSync(f, 'latin1').split(/\r?\n/) : [])).filter((l) => !/^(?:f?l?o?o?d?-?)+$/.test(l)).slice(-40);
      expect({ how: stop.how, console: stop.how === 'clean' ? [] : said() }).toEqual({ how: 'clean', console: [] });
      expect((await t.exit()).exitCode).toBe(0);
      expect(t.screen).toMatch(/the console of .* closed: the container stopped/);
      sock.destroy();
      // the log is capped: two files of at most 1 MiB each
      for (const f of [log, `${log}.1`]) expect(statSync(f).size).toBeLessThanOrEqual(1024 * 1024);
      expect(existsSync(path.join(e.run, id, 'console.sock'))).toBe(false);
    });

    it('console of the stopped container: a clear error (5), and --log still prints the log', async () => {
      const r = await vpsctl(e, ['console', id]);
      expect(r.exitCode).toBe(5);
      expect(r.stderr).toMatch(/container .* is not running/);
      expect(r.stderr).toMatch(/--log/);
      const log = await vpsctl(e, ['console', id, '--log']);
      expect(log.exitCode).toBe(0);
      expect(strip(log.stdout)).toMatch(/flood-flood-flood/);
      for (const args of [['enter', id], ['exec', id, '--', 'true']]) expect((await vpsctl(e, args)).exitCode).toBe(5);
    });
  });
});
