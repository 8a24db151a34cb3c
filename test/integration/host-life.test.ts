/**
 * What a host's life does to containers: a monitor killed with SIGKILL (the OOM killer, an
 * admin's kill -9, a crash) takes its container down with it, as a power cut would, and
 * leaves nothing vpsctl cannot see or clean: status says stopped, start, stop and destroy
 * work, and no loop device, cgroup, veth or nftables rule of it remains.
 */
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { cgroupsLeft, json, loopsUnder, makeEnv, newId, ok, until, vpsctl, type Env } from './harness.js';

interface Status {
  state: string;
  init_pid: number | null;
  monitor_pid: number | null;
  network: { host_if?: string } | null;
}

const N = 10 + (process.pid % 200);
const tag = (process.pid % 100000).toString(36);
const BR = `vph${tag}`;
const TABLE = `vpsctl_h${tag}`;
const base = makeEnv();
const e: Env = {
  ...base,
  env: { ...base.env, VPSCTL_BRIDGE: BR, VPSCTL_SUBNET: `10.233.${N}.1/24`, VPSCTL_SUBNET6: `fd00:233:${N.toString(16)}::1/64`, VPSCTL_NAT: 'false', VPSCTL_NFT_TABLE: TABLE },
};
const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
const rules = async (): Promise<string> => (await execa('nft', ['list', 'table', 'bridge', TABLE], { reject: false })).stdout;

afterAll(async () => {
  await execa('ip', ['link', 'del', BR], { reject: false });
  await execa('nft', ['delete', 'table', 'bridge', TABLE], { reject: false });
  await execa('nft', ['delete', 'table', 'inet', TABLE], { reject: false });
});

describe('a monitor killed with SIGKILL', () => {
  const id = newId('kill');
  afterAll(async () => {
    await vpsctl(e, ['destroy', id, '--force']);
  });

  it('takes its container down as a power cut would; status, start, stop and destroy work and nothing is left', async () => {
    await ok(e, ['create', id, '--template', 'debian-12', '--disk', '2G', '--ipadd', `10.233.${N}.20`]);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    const st = await json<Status>(e, ['status', id]);
    const veth = st.network?.host_if;
    expect(veth).toBeTruthy();
    expect(await rules()).toContain(`10.233.${N}.20`);
    process.kill(st.monitor_pid!, 'SIGKILL');
    // init follows its monitor: nothing of the container keeps running unheld
    await until(() => alive(st.init_pid!), (a) => !a, 30_000);
    expect(alive(st.init_pid!)).toBe(false);
    expect((await json<Status>(e, ['status', id])).state).toBe('stopped');
    await until(() => loopsUnder(path.join(e.root, 'pool', 'images', `${id}.img`)), (l) => l.length === 0, 30_000);
    expect(await loopsUnder(path.join(e.root, 'pool', 'images', `${id}.img`))).toEqual([]);
    // the veth went with the container's network namespace
    expect((await execa('ip', ['link', 'show', veth!], { reject: false })).exitCode).not.toBe(0);
    // a stop says it is not running; a start cleans what the monitor left and boots it again
    expect((await vpsctl(e, ['stop', id])).exitCode).toBe(5);
    await ok(e, ['start', id, '--wait', '--timeout', '180s']);
    expect((await json<Status>(e, ['status', id])).state).toBe('running');
    await ok(e, ['stop', id]);
    await ok(e, ['destroy', id]);
    expect(cgroupsLeft(id)).toEqual([]);
    expect(await rules()).not.toContain(`10.233.${N}.20`);
    expect(await loopsUnder(path.join(e.root, 'pool'))).toEqual([]);
  }, 600_000);

  it('destroy --force right after the kill leaves nothing either', async () => {
    const other = newId('kill');
    await ok(e, ['create', other, '--template', 'debian-12', '--disk', '2G']);
    await ok(e, ['start', other, '--wait', '--timeout', '180s']);
    const st = await json<Status>(e, ['status', other]);
    process.kill(st.monitor_pid!, 'SIGKILL');
    await ok(e, ['destroy', other, '--force']);
    expect((await vpsctl(e, ['status', other])).exitCode).toBe(3);
    await until(() => cgroupsLeft(other), (c) => c.length === 0, 30_000);
    expect(cgroupsLeft(other)).toEqual([]);
    expect(alive(st.init_pid!)).toBe(false);
  }, 600_000);
});
