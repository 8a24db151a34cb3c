import { classifyOs, detectOsIn, type OsInfo } from './detect.js';
import { validatePersonalityInput, type PersonalityInput } from './input.js';
import { newResult, PERSONALITIES, prepareTemplateTree, type Personality, type PersonalityResult } from './personality.js';
import { HostTree, StagedTree, type Tree } from './tree.js';

/**
 * Distro personalities: a container's identity (hostname, /etc/hosts, machine-id, SSH host
 * keys), DNS, passwords, SSH keys, network and container tweaks, written the way its OS
 * reads them, into a `Tree` (a stopped container's mounted tree from the host, or a running
 * container). The files:
 *
 * - tree.ts        the Tree interface, HostTree (host-side, never follows a symlink) and
 *                  StagedTree (holds every change until all of them are known to be possible)
 * - detect.ts      OS detection (os-release and older files) and the personality for an OS
 * - input.ts       PersonalityInput and its validation (exit 2 on a bad value)
 * - crypt.ts       SHA-512 crypt for /etc/shadow, in TypeScript
 * - network.ts     the network files of each OS (ifupdown, networkd, netplan, ifcfg, NM)
 * - personality.ts the steps and the personalities (debian, ubuntu, centos7, el9, generic)
 */

export { classifyOs, detectOsIn, parseOsRelease, parseRedhatRelease, type OsInfo, type PersonalityName } from './detect.js';
export {
  ipFamily,
  parseCidr,
  sshKeyId,
  validatePersonalityInput,
  type Cidr,
  type NetworkInput,
  type NetworkMode,
  type PersonalityInput,
} from './input.js';
export { cryptSha512, hashPassword, makeSalt, sha512Crypt, verifyPassword } from './crypt.js';
export { planNetwork, renderIfcfg, renderIfupdown, renderNetplan, renderNetworkd, renderNmKeyfile, type NetPlan } from './network.js';
export { PERSONALITIES, renderHosts, setShadowPassword, type Personality, type PersonalityResult } from './personality.js';
export { HostTree, StagedTree, type HostTreeOptions, type Tree } from './tree.js';

/** Detects the OS of a rootfs tree on the host. Never follows a symlink out of the tree. */
export function detectOs(root: string): Promise<OsInfo> {
  return detectOsIn(new HostTree(root));
}

/** The personality for an OS (`generic` for what none knows). */
export function personalityFor(os: OsInfo): Personality {
  return PERSONALITIES[classifyOs(os)];
}

export interface ApplyOptions {
  /** Work out every change but make none: the result lists what would be written. */
  dryRun?: boolean;
}

/**
 * Applies the personality of the tree's OS: validates the input (exit 2), then stages every
 * change, which finds a missing user (exit 3) or a symlink on the way to a file (exit 1)
 * before anything is written, then writes. The entry point for a running container's tree.
 */
export async function applyPersonalityTo(tree: Tree, input: PersonalityInput, opts: ApplyOptions = {}): Promise<PersonalityResult> {
  validatePersonalityInput(input);
  const os = await detectOsIn(tree);
  const p = personalityFor(os);
  const res = newResult(os, p.name);
  const staged = new StagedTree(tree);
  await p.apply({ tree: staged, input, os, res });
  if (!opts.dryRun) await staged.commit();
  return res;
}

/** The same on a stopped container's tree mounted at `root` (create, clone, import). */
export function applyPersonality(root: string, input: PersonalityInput, opts: ApplyOptions = {}): Promise<PersonalityResult> {
  return applyPersonalityTo(new HostTree(root), input, opts);
}

/** Makes an unpacked tree at `root` a template (template import); returns the OS it holds. */
export async function prepareTemplate(root: string): Promise<{ os: OsInfo; result: PersonalityResult }> {
  const tree = new HostTree(root);
  const os = await detectOsIn(tree);
  return { os, result: await prepareTemplateTree(tree, os) };
}
