/**
 * OS templates and personalities on real containers: Debian 11, 12 and 13 boot with the
 * hostname, root password, DNS and SSH key given to create; set changes them stopped and
 * running; a tenant's symlinked /etc/hostname never makes the host write outside the tree.
 */
import { execa } from 'execa';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TEST_BASE, inside, json, makeEnv, newId, ok, vpsctl, type Env } from './harness.js';

const e: Env = makeEnv(['debian-11', 'debian-12', 'debian-13']);
const keyDir = path.join(TEST_BASE, `keys-${process.pid}`);
let pub = '';

/** What openssl makes of the password with the salt of the hash in /etc/shadow. */
async function opensslHash(password: string, hash: string): Promise<string> {
  const salt = hash.split('$')[2];
  return (await execa('openssl', ['passwd', '-6', '-salt', salt, password])).stdout.trim();
}

beforeAll(async () => {
  mkdirSync(keyDir, { recursive: true });
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'admin@test', '-f', path.join(keyDir, 'id')]);
  pub = readFileSync(path.join(keyDir, 'id.pub'), 'utf8').trim();
});
afterAll(async () => {
  const dir = path.join(e.root, 'containers');
  for (const c of existsSync(dir) ? readdirSync(dir) : []) await vpsctl(e, ['destroy', c, '--force']);
});

describe.each(['debian-11', 'debian-12', 'debian-13'])('%s', (template) => {
  const id = newId(template.replace('.', ''));
  const hostname = `${id}.vps.example`;

  it('boots to systemd running with the hostname, password, DNS and key given to create', async () => {
    await ok(e, ['create', id, '--template', template, '--disk', '2G', '--hostname', hostname, '--userpasswd', 'root:S3cret pass', '--nameserver', '192.0.2.53', '--nameserver', '2001:db8::53', '--searchdomain', 'vps.example', '--ssh-key', path.join(keyDir, 'id.pub')]);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    expect(await inside(e, id, ['systemctl', 'is-system-running'])).toBe('running');
    expect(await inside(e, id, ['hostname'])).toBe(hostname);
    const hash = (await inside(e, id, ['sh', '-c', 'grep ^root: /etc/shadow'])).split(':')[1];
    expect(hash).toMatch(/^\$6\$/);
    expect(await opensslHash('S3cret pass', hash)).toBe(hash);
    expect(await opensslHash('wrong', hash)).not.toBe(hash);
    const resolv = await inside(e, id, ['cat', '/etc/resolv.conf']);
    expect(resolv).toMatch(/^nameserver 192\.0\.2\.53$/m);
    expect(resolv).toMatch(/^nameserver 2001:db8::53$/m);
    expect(resolv).toMatch(/^search vps\.example$/m);
    expect(await inside(e, id, ['cat', '/root/.ssh/authorized_keys'])).toContain(pub);
    expect(await inside(e, id, ['stat', '-c', '%a %U', '/root/.ssh', '/root/.ssh/authorized_keys'])).toBe('700 root\n600 root');
  }, 240_000);

  it('set changes hostname and password in the running container (hostname live), and again stopped', async () => {
    await ok(e, ['set', id, '--hostname', `live-${id}`, '--userpasswd', 'root:second']);
    expect(await inside(e, id, ['hostname'])).toBe(`live-${id}`);
    expect(await inside(e, id, ['cat', '/etc/hostname'])).toBe(`live-${id}`);
    const h2 = (await inside(e, id, ['sh', '-c', 'grep ^root: /etc/shadow'])).split(':')[1];
    expect(await opensslHash('second', h2)).toBe(h2);
    const mid = await inside(e, id, ['cat', '/etc/machine-id']);
    await ok(e, ['stop', id]);
    await ok(e, ['set', id, '--hostname', hostname, '--nameserver', '198.51.100.1']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    expect(await inside(e, id, ['hostname'])).toBe(hostname);
    expect(await inside(e, id, ['cat', '/etc/resolv.conf'])).toMatch(/^nameserver 198\.51\.100\.1$/m);
    expect(await inside(e, id, ['cat', '/etc/machine-id'])).toBe(mid); // set keeps the identity of the machine
    expect((await json<{ hostname: string }>(e, ['status', id])).hostname).toBe(hostname);
    await ok(e, ['destroy', id, '--force']);
  }, 240_000);
});

describe('a hostile tree', () => {
  const id = newId('evil');
  const outside = path.join(TEST_BASE, `outside-${process.pid}`);

  it('a symlinked /etc/hostname pointing out of the tree: set --hostname never writes outside', async () => {
    writeFileSync(outside, 'host file\n');
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    await ok(e, ['exec', id, '--', 'sh', '-c', `ln -sf ${outside} /etc/hostname && mkdir -p /x && ln -sfn /etc /x/etc`]);
    // running: the write happens inside, where the link points at the container's own path
    await ok(e, ['set', id, '--hostname', 'renamed-live']);
    expect(readFileSync(outside, 'utf8')).toBe('host file\n');
    expect(await inside(e, id, ['cat', '/etc/hostname'])).toBe('renamed-live');
    // stopped: the image is mounted on the host: the link is replaced, never followed
    await ok(e, ['exec', id, '--', 'sh', '-c', `ln -sf ${outside} /etc/hostname`]);
    await ok(e, ['stop', id]);
    await ok(e, ['set', id, '--hostname', 'renamed-stopped']);
    expect(readFileSync(outside, 'utf8')).toBe('host file\n');
    const st = await json<{ hostname: string }>(e, ['status', id]);
    expect(st.hostname).toBe('renamed-stopped');
    // a missing user is a clear error, and nothing changed
    const r = await vpsctl(e, ['set', id, '--userpasswd', 'nobody-here:x']);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toMatch(/nobody-here/);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    expect(await inside(e, id, ['hostname'])).toBe('renamed-stopped');
    await ok(e, ['destroy', id, '--force']);
  }, 240_000);
});
