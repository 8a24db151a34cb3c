/**
 * The unit `vpsctl host setup` installs on a systemd host (src/core/setup.ts): what it waits
 * for at boot and what it runs. The guest suite (test/guest/host-life.*) boots a host with it.
 */
import { unitText } from '../../src/core/setup.js';

describe('vpsctl.service', () => {
  const text = unitText('/opt/vpsctl/bin/vpsctl', { VPSCTL_ROOT: '/srv/vps', VPSCTL_BRIDGE: 'br9' }, '/srv/vps');
  const lines = text.split('\n');

  it('waits for the filesystems of the state root and of vpsctl itself, the network, nftables and lxcfs', () => {
    expect(lines).toContain('RequiresMountsFor=/srv/vps /opt/vpsctl/bin/vpsctl');
    expect(lines).toContain('After=network-online.target local-fs.target nftables.service lxcfs.service');
    expect(lines).toContain('Wants=network-online.target');
  });

  it('runs with the settings it was set up with, and starts the onboot containers and stops them all', () => {
    expect(lines.filter((l) => l.startsWith('Environment='))).toEqual(['Environment=VPSCTL_BRIDGE=br9', 'Environment=VPSCTL_ROOT=/srv/vps']);
    expect(lines).toContain('ExecStart=/opt/vpsctl/bin/vpsctl start --all --onboot');
    expect(lines).toContain('ExecStop=/opt/vpsctl/bin/vpsctl stop --all --timeout 60s');
    expect(lines).toContain('RemainAfterExit=yes');
    expect(lines).toContain('WantedBy=multi-user.target');
  });
});
