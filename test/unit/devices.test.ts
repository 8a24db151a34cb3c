/** Features and passed-through devices: the flags, the config, and which host devices are refused. */
import { parseConfig, renderConfig, type ContainerConfig } from '../../src/base/config.js';
import { applyDeviceFlags, deviceNodes, deviceRefusal, featureRefusal, keyringMode, parseDevice, parseFeatures } from '../../src/base/devices.js';
import { VpsError } from '../../src/base/errors.js';
import { usage } from './usage.js';
import { importPolicy } from '../../src/core/import-policy.js';


describe('--features', () => {
  it('a list turns each on; NAME=off, none and repeats work from what is there', () => {
    expect(parseFeatures('tun')).toEqual(['tun']);
    expect(parseFeatures('fuse,tun')).toEqual(['tun', 'fuse']);
    expect(parseFeatures('tun=off', ['tun', 'fuse'])).toEqual(['fuse']);
    expect(parseFeatures('fuse=on,tun=0', ['tun'])).toEqual(['fuse']);
    expect(parseFeatures('none', ['tun', 'fuse'])).toEqual([]);
    expect(parseFeatures('none,fuse', ['tun'])).toEqual(['fuse']);
  });

  it('keyctl: on, off, beside the others, in one order', () => {
    expect(parseFeatures('keyctl')).toEqual(['keyctl']);
    expect(parseFeatures('keyctl,tun')).toEqual(['tun', 'keyctl']);
    expect(parseFeatures('keyctl=1', ['fuse'])).toEqual(['fuse', 'keyctl']);
    expect(parseFeatures('keyctl=off', ['tun', 'keyctl'])).toEqual(['tun']);
    expect(parseFeatures('keyctl=no', [])).toEqual([]);
    expect(usage(() => parseFeatures('keyctl=maybe'))).toMatch(/is not NAME or NAME=on\|off/);
  });

  it('keyctl is for unprivileged containers only; it gives no device', () => {
    expect(featureRefusal(['keyctl'], true)).toMatch(/unprivileged containers only.*EPERM/);
    expect(featureRefusal(['tun', 'fuse', 'keyctl'], false)).toBeUndefined();
    expect(featureRefusal(['tun', 'fuse'], true)).toBeUndefined();
    expect(deviceNodes(['keyctl'])).toEqual([]);
    expect(deviceNodes(['keyctl', 'tun'])).toEqual([{ path: '/dev/net/tun', access: 'rw' }]);
  });

  it('nesting: on, off, beside the others; for unprivileged containers only; it gives no device', () => {
    expect(parseFeatures('nesting')).toEqual(['nesting']);
    expect(parseFeatures('nesting,tun,keyctl')).toEqual(['tun', 'keyctl', 'nesting']);
    expect(parseFeatures('nesting=off', ['fuse', 'nesting'])).toEqual(['fuse']);
    expect(featureRefusal(['nesting'], true)).toMatch(/nesting is for unprivileged containers only.*\/proc\/sys/);
    expect(featureRefusal(['tun', 'fuse', 'keyctl', 'nesting'], false)).toBeUndefined();
    expect(deviceNodes(['nesting'])).toEqual([]);
    expect(deviceNodes(['nesting', 'fuse'])).toEqual([{ path: '/dev/fuse', access: 'rw' }]);
  });

  it('what the keyring calls get: refused privileged, absent by default, allowed with keyctl; a running one as its init has them', () => {
    expect(keyringMode(true, ['keyctl'])).toBe('refused');
    expect(keyringMode(false, [])).toBe('absent');
    expect(keyringMode(false, ['keyctl'])).toBe('allowed');
    expect(keyringMode(false, ['keyctl'], { keyctl: false })).toBe('absent'); // set while running: the next start
    expect(keyringMode(false, [], { keyctl: true })).toBe('allowed');
    expect(keyringMode(false, [], {})).toBe('allowed'); // a monitor older than the feature allowed them
    expect(keyringMode(true, [], {})).toBe('refused');
  });

  it('refuses what it does not know, naming those it knows', () => {
    expect(usage(() => parseFeatures('vpn'))).toMatch(/unknown feature "vpn"/);
    expect(usage(() => parseFeatures('nest'))).toMatch(/unknown feature "nest"/);
    expect(usage(() => parseFeatures('tun=maybe'))).toMatch(/is not NAME or NAME=on\|off/);
  });
});

describe('--device', () => {
  it('PATH[:rw|ro] under /dev, read-write by default', () => {
    expect(parseDevice('/dev/ttyUSB0')).toEqual({ path: '/dev/ttyUSB0', access: 'rw' });
    expect(parseDevice('/dev/serial/by-id/usb-x:ro')).toEqual({ path: '/dev/serial/by-id/usb-x', access: 'ro' });
  });

  it.each(['ttyUSB0', '/etc/passwd', '/dev/../etc/shadow', '/dev/./x', '/dev/', '/dev//x', '/dev/null', '/dev/pts/0', '/dev/shm/x', '/dev/x:rwx', '/dev/a b'])('refuses %s', (spec) => {
    expect(usage(() => parseDevice(spec))).toMatch(/--device/);
  });

  it('set: adds, changes, takes away (PATH:off, none)', () => {
    const cur = [{ path: '/dev/ttyS1', access: 'rw' as const }];
    expect(applyDeviceFlags(['/dev/ttyS1:ro', '/dev/ttyS2'], cur)).toEqual([{ path: '/dev/ttyS1', access: 'ro' }, { path: '/dev/ttyS2', access: 'rw' }]);
    expect(applyDeviceFlags(['/dev/ttyS1:off'], cur)).toEqual([]);
    expect(applyDeviceFlags(['none', '/dev/ttyS3'], cur)).toEqual([{ path: '/dev/ttyS3', access: 'rw' }]);
    expect(usage(() => applyDeviceFlags(['/dev/ttyS9:off'], cur))).toMatch(/not passed through/);
    expect(usage(() => applyDeviceFlags(Array.from({ length: 15 }, (_, i) => `/dev/ttyS${i}`)))).toMatch(/at most 14/);
  });

  it('the nodes a container gets: its features\' and its own, once each', () => {
    expect(deviceNodes(['tun', 'fuse'], [{ path: '/dev/net/tun', access: 'ro' }, { path: '/dev/ttyS1', access: 'rw' }])).toEqual([
      { path: '/dev/net/tun', access: 'ro' },
      { path: '/dev/fuse', access: 'rw' },
      { path: '/dev/ttyS1', access: 'rw' },
    ]);
  });
});

describe('host devices that are never passed through', () => {
  it.each([
    [1, 1, '', /memory/],
    [1, 2, '', /kmem/],
    [1, 3, '', /memory devices/],
    [10, 231, '', /snapshot/],
    [10, 237, '', /loop-control/],
    [10, 236, '', /mapper\/control/],
    [10, 130, '', /watchdog/],
    [4, 1, '', /terminals/],
    [5, 1, '', /terminals/],
    [7, 0, '', /terminals/],
    [136, 3, '', /terminals/],
    [29, 0, '', /framebuffer/],
    [202, 0, '', /registers/],
    [21, 0, '', /disks/],
    [242, 0, 'ng0n1', /ng0n1/],
    [249, 0, 'nvme0', /nvme0/],
    [250, 0, 'bsg/0:0:0:0', /bsg/],
    [240, 0, 'vfio/vfio', /vfio/],
  ])('%i:%i %s', (maj, min, name, re) => {
    expect(deviceRefusal(maj, min, name)).toMatch(re);
  });

  it.each([
    [10, 200, 'net/tun'],
    [10, 229, 'fuse'],
    [188, 0, 'ttyUSB0'],
    [166, 0, 'ttyACM0'],
    [226, 128, 'dri/renderD128'],
    [10, 183, 'hwrng'],
    [4, 64, 'ttyS0'],
  ])('%i:%i %s is fine', (maj, min, name) => {
    expect(deviceRefusal(maj, min, name)).toBeUndefined();
  });
});

describe('config.yaml', () => {
  const cfg: ContainerConfig = { id: '101', template: 'debian-12', hostname: 'h', disk: 1024 ** 3, created: 'now', init: '/sbin/init', privileged: true, features: ['tun', 'fuse'], devices: [{ path: '/dev/ttyS1', access: 'ro' }] };

  it('keeps features and devices, and refuses what it does not know (exit 1)', () => {
    const text = renderConfig(cfg);
    expect(text).toMatch(/features:\n {2}- tun\n {2}- fuse\n/);
    expect(text).toMatch(/devices:\n {2}- \/dev\/ttyS1:ro\n/);
    expect(parseConfig(text, 'c.yaml', '101')).toMatchObject({ features: ['tun', 'fuse'], devices: [{ path: '/dev/ttyS1', access: 'ro' }] });
    for (const [bad, re] of [['features: [vpn]', /unknown feature "vpn"/], ['devices: [/etc/passwd]', /--device/], ['features: tun', /features must be a list/]] as const) {
      try {
        parseConfig(text.replace(/features:[\s\S]*$/, bad), 'c.yaml', '101');
        throw new Error('parsed');
      } catch (e) {
        expect((e as VpsError).exitCode).toBe(1);
        expect((e as VpsError).message).toMatch(re);
      }
    }
  });

  it('keeps keyctl, and reads it in the one order whatever the file says; a privileged one that has it still parses (start refuses it, set takes it away)', () => {
    const text = renderConfig({ ...cfg, features: ['keyctl', 'tun'] });
    expect(text).toMatch(/features:\n {2}- keyctl\n {2}- tun\n|features:\n {2}- tun\n {2}- keyctl\n/);
    expect(parseConfig(text, 'c.yaml', '101')).toMatchObject({ privileged: true, features: ['tun', 'keyctl'] });
  });

  it('an import never takes keyctl either', () => {
    expect(importPolicy({ ...cfg, privileged: false, features: ['keyctl'], devices: [] }, {}).notices.join('\n')).toMatch(/features keyctl: not taken/);
    expect(importPolicy({ ...cfg, privileged: false, features: ['nesting'], devices: [] }, {}).notices.join('\n')).toMatch(/features nesting: not taken/);
  });

  it('an import never takes them: a notice says so', () => {
    const d = importPolicy(cfg, {});
    expect(d.notices.join('\n')).toMatch(/features tun, fuse; devices \/dev\/ttyS1: not taken/);
  });
});
