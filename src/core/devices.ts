import { FEATURE_DEVICES, UNPRIVILEGED_ONLY, deviceNodes, deviceRefusal, featureRefusal, type DevicePass, type Feature } from '../base/devices.js';
import { hostNotReady, invalid } from '../base/errors.js';
import { hostDevice } from '../sys/devices.js';

/**
 * Checks each node a container is to be given against the host: it must be there, a
 * character device, and none that reaches the host's memory, disks or kernel
 * (deviceRefusal); a feature's node must be open to all (an unprivileged container's root is
 * nobody to the host's node). Returns vps-spawn's `--device SRC:DEST:rw|ro` values, the node on the
 * same path inside. First of all, a feature the container's mode may not have (keyctl or
 * nesting in a privileged one) is refused: create, set and start all come this way.
 */
export async function checkDeviceNodes(features: readonly Feature[] = [], devices: readonly DevicePass[] = [], unprivileged = true): Promise<string[]> {
  const refusal = featureRefusal(features, !unprivileged);
  if (refusal) {
    const bad = features.filter((f) => UNPRIVILEGED_ONLY.includes(f));
    throw invalid(`--features: ${refusal}`, `leave ${bad.join(' and ')} out of --features (a privileged container that has it: vpsctl set ID --features ${bad.map((f) => `${f}=off`).join(',')}), or make the container unprivileged`);
  }
  const out: string[] = [];
  for (const d of deviceNodes(features, devices)) {
    const dev = await hostDevice(d.path);
    const feature = features.find((f) => FEATURE_DEVICES[f] === d.path);
    if (!dev) {
      if (feature) throw hostNotReady(`feature ${feature} needs ${d.path}, which this host does not have`, `modprobe ${feature}`);
      throw invalid(`${d.path} does not exist on this host`, 'give a device the host has (ls -l /dev), or drop it: vpsctl set ID --device PATH:off');
    }
    if (dev.block) throw invalid(`${d.path} is a block device: a container never gets one (its own disk is what it writes to)`);
    if (!dev.char) throw invalid(`${d.path} is not a character device`);
    if (!dev.real.startsWith('/dev/')) throw invalid(`${d.path} leads to ${dev.real}, outside /dev`);
    const why = deviceRefusal(dev.major, dev.minor, dev.name);
    if (why) throw invalid(`refusing to pass ${d.path} (${dev.major}:${dev.minor}) through: ${why}`);
    // the node keeps the host's owner and mode: an unprivileged container's root is nobody to
    // it, so a feature's node must be open to all, as the distributions' udev rules make it
    if (feature && unprivileged && (dev.mode & 0o666) !== 0o666) {
      throw hostNotReady(`feature ${feature}: ${d.path} is mode ${(dev.mode & 0o777).toString(8).padStart(4, '0')} on this host, so a container's root cannot open it`, `run vpsctl host setup (or chmod 0666 ${d.path}, as udev makes it)`);
    }
    out.push(`${dev.real}:${d.path.slice('/dev/'.length)}:${d.access}`);
  }
  return out;
}
