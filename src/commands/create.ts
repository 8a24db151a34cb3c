import { Flags } from '@oclif/core';
import { VpsCommand } from '../cli/base.js';
import { bootFlags, bootFromFlags, deviceFlags, mountFlag, idArg, identityFlags, identityFromFlags, limitFlags, limitsFromFlags, networkFlags, networkFromFlags, sizeFlag, templateFlag } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import { details } from '../cli/render.js';
import type { ContainerStatus } from '../core/host.js';
import { validateHostname } from '../base/ids.js';
import { formatSize } from '../base/units.js';
import { applyDeviceFlags, parseFeatures } from '../base/devices.js';
import { applyMountFlags } from '../base/mounts.js';
import { describeLimits, describeNetwork } from '../cli/render.js';

export default class Create extends VpsCommand<ContainerStatus> {
  static override summary = 'Create a container from an OS template.';
  static override description =
    'Clones the template image into the pool, grows it to --disk, and writes the hostname and a fresh machine-id. Limits default to --memory 1G --pids 4096; the sum of memory limits is checked against the host (a warning, or a refusal with --strict). The container gets its own range of 65536 host ids for its user namespace (unprivileged), unless --privileged. Without --ipadd or --netmode it has only its loopback (as vzctl); with them it gets a veth (eth0 inside) on the host bridge, or routed host routes, and its OS gets the addresses, gateway and DNS in its own network files. A failed create leaves nothing behind.';
  static override examples = [
    '<%= config.bin %> create 101 --template debian-12 --ipadd 10.88.0.101',
    '<%= config.bin %> create 102 --template debian-12 --netmode routed --ipadd 203.0.113.7 --ipadd 2001:db8::7',
    '<%= config.bin %> create web-1 --template debian-12 --disk 20G --hostname web-1.example.net',
    '<%= config.bin %> create vpn-1 --template debian-12 --features tun',
    '<%= config.bin %> create ci-1 --template debian-12 --features fuse,keyctl',
    '<%= config.bin %> create ci-2 --template debian-12 --features keyctl,nesting',
    '<%= config.bin %> create web-2 --template debian-12 --mount /srv/www:/var/www --mount /srv/shared:/shared:ro',
  ];
  static override args = { id: idArg };
  static override flags = {
    template: templateFlag({ char: 't', required: true }),
    disk: sizeFlag({ description: 'disk size (K, M, G, T)', default: 10 * 1024 ** 3, defaultHelp: async () => '10G' }),
    hostname: Flags.string({ description: 'hostname inside the container [default: the id]', helpValue: 'NAME', parse: async (s) => validateHostname(s) }),
    privileged: Flags.boolean({ description: 'no user namespace: root inside is root on the host (NOT a security boundary)' }),
    'shift-ids': Flags.boolean({ description: "shift the image's ids into the container's range once, for kernels without idmapped mounts", exclusive: ['privileged'] }),
    ...limitFlags,
    ...identityFlags,
    ...networkFlags,
    ...bootFlags,
    ...deviceFlags,
    mount: mountFlag,
  };

  async run(): Promise<ContainerStatus> {
    const { args, flags } = await this.parse(Create);
    const st = await realHost(this.progress()).create(args.id, {
      template: flags.template,
      disk: flags.disk,
      hostname: flags.hostname,
      privileged: flags.privileged,
      shiftIds: flags['shift-ids'],
      limits: limitsFromFlags(flags),
      strict: flags.strict,
      identity: await identityFromFlags(flags),
      network: networkFromFlags(flags),
      ...bootFromFlags(flags),
      ...(flags.features !== undefined ? { features: parseFeatures(flags.features) } : {}),
      ...(flags.device?.length ? { devices: applyDeviceFlags(flags.device) } : {}),
      ...(flags.mount?.length ? { mounts: applyMountFlags(flags.mount) } : {}),
    });
    if (!this.jsonEnabled()) {
      this.log(`created container ${st.id}`);
      this.log(
        details([
          ['template', st.template],
          ['hostname', st.hostname],
          ['disk', formatSize(st.disk)],
          ['mode', st.idmap ? `${st.mode} (root is host uid ${st.idmap.uid})` : st.mode],
          ['limits', describeLimits(st.limits)],
          ['network', describeNetwork(st.network)],
          ...(st.features.length || st.devices.length ? [['features', [...st.features, ...st.devices].join(', ')] as [string, string]] : []),
          ...(st.mounts.length ? [['mounts', st.mounts.join(', ')] as [string, string]] : []),
          ['image', st.image],
        ]),
      );
    }
    return st;
  }
}
