import { VpsCommand } from '../cli/base.js';
import { idArg } from '../cli/flags.js';
import { realHost } from '../cli/host.js';
import { describeLimits, describeNetwork, details } from '../cli/render.js';
import type { ContainerStatus } from '../core/host.js';
import { formatDuration, formatSize } from '../base/units.js';
import { keyringMode, type KeyringMode } from '../base/devices.js';

/** What its keyring calls (add_key, request_key, keyctl) get. */
const KEYRING: Record<KeyringMode, string> = {
  allowed: 'allowed (--features keyctl)',
  absent: 'absent, ENOSYS (--features keyctl allows them)',
  refused: 'refused, EPERM (privileged)',
};

/** The keyring calls as init has them; a change by set waits for the next start. */
function keyringLine(s: ContainerStatus): string {
  const next = keyringMode(s.mode === 'privileged', s.features);
  return s.state === 'running' && next !== s.keyring ? `${KEYRING[s.keyring]}; ${next} from its next start` : KEYRING[s.keyring];
}

export default class Status extends VpsCommand<ContainerStatus> {
  static override summary = 'Show a container: state, template, disk size and use, memory use, limits, network, features and devices, its keyring calls, init pid, uptime.';
  static override examples = ['<%= config.bin %> status 101', '<%= config.bin %> status 101 --json'];
  static override args = { id: idArg };

  async run(): Promise<ContainerStatus> {
    const { args } = await this.parse(Status);
    const s = await realHost(this.progress()).status(args.id);
    if (!this.jsonEnabled()) {
      const sz = (n: number | null): string => (n === null ? '-' : formatSize(n));
      this.log(
        details([
          ['id', s.id],
          ['state', s.state],
          ['mode', s.idmap ? `${s.mode} (host ids ${s.idmap.uid}-${s.idmap.uid + s.idmap.count - 1})` : `${s.mode} (not a security boundary)`],
          ['template', s.template],
          ['os', s.os ? `${s.os.family} ${s.os.version}` : '-'],
          ['hostname', s.hostname],
          ['disk', `${sz(s.disk_used)} used of ${formatSize(s.disk)}${s.space_frozen ? `; WRITES HELD since ${s.space_frozen.since}: the pool had ${formatSize(s.space_frozen.free)} free, under disk_freeze_free ${formatSize(s.space_frozen.low)} (they go on once the pool has twice that; see vpsctl pool info)` : ''}`],
          ['memory', s.memory_used === null ? '-' : `${sz(s.memory_used)} used${s.limits.memory ? ` of ${formatSize(s.limits.memory)}` : ''}`],
          ['limits', describeLimits(s.limits)],
          ['network', describeNetwork(s.network)],
          ['features', s.features.join(', ') || 'none'],
          ['keyring', keyringLine(s)],
          ['devices', s.devices.join(', ') || 'none'],
          ['mounts', s.mounts.join(', ') || 'none'],
          ['init pid', s.init_pid],
          ['uptime', s.uptime_s === null ? '-' : formatDuration(s.uptime_s * 1000)],
          ['onboot', `${s.onboot ? 'yes' : 'no'} (boot order ${s.bootorder})`],
          ['created', s.created],
        ]),
      );
    }
    return s;
  }
}
