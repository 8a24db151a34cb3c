import { hostNotReady } from '../base/errors.js';
import type { Recipe } from './recipe.js';

/**
 * The builders' command lines, kept apart from running them so that tests can check them.
 * A recipe names its mirror policy; the URL comes from `--mirror`, the host settings
 * (`mirror` for Debian, `mirrors: {os: URL}` for the others), the host's own apt sources
 * (Debian), or the builder's own default (debootstrap knows Debian's and Ubuntu's). No
 * mirror's host name is written into a recipe.
 */

export interface MirrorSources {
  /** `--mirror` of this build. */
  override?: string;
  /** Host settings `mirrors:` by OS (debian, ubuntu, centos, almalinux, rocky). */
  mirrors?: Record<string, string>;
  /** Host settings `mirror:` (Debian's). */
  settingsMirror?: string;
  /** The Debian mirror of the host's own apt sources. */
  hostDebian?: string;
}

/** The mirror URL for a recipe, or undefined for the builder's own default. */
export function resolveMirror(recipe: Recipe, src: MirrorSources): string | undefined {
  if (src.override) return src.override;
  const byOs = src.mirrors?.[recipe.os];
  if (byOs) return byOs;
  if (recipe.os === 'debian') {
    if (src.settingsMirror) return src.settingsMirror;
    if (recipe.debootstrap.mirror !== 'default') return src.hostDebian;
  }
  if (recipe.builder === 'dnf' && recipe.dnf?.mirror === 'required') {
    throw hostNotReady(`template ${recipe.name} needs a mirror of ${recipe.description}`, `give one with: vpsctl template build ${recipe.name} --mirror URL (the mirror's root, holding ${recipe.dnf.repos.map((r) => r.path).join(', ')}), or set mirrors: {${recipe.os}: URL} in /etc/vpsctl/vpsctl.yaml`);
  }
  return undefined;
}

/** debootstrap's argv for a recipe (Debian and Ubuntu). */
export function debootstrapArgv(recipe: Recipe, rootfs: string, mirror: string | undefined, cacheDir?: string): string[] {
  const d = recipe.debootstrap;
  return [
    `--variant=${d.variant}`,
    `--arch=${recipe.arch}`,
    `--components=${d.components.join(',')}`,
    ...(d.keyring ? [`--keyring=${d.keyring}`] : []),
    ...(recipe.packages.length ? [`--include=${recipe.packages.join(',')}`] : []),
    ...(cacheDir ? [`--cache-dir=${cacheDir}`] : []),
    d.suite,
    rootfs,
    ...(mirror ? [mirror] : []),
  ];
}

/**
 * dnf's argv for a recipe (the EL family): an install into `rootfs` from the recipe's repos
 * under the mirror, with GPG checks on and the distro's keys from that mirror, no host repos.
 */
export function dnfArgv(recipe: Recipe, rootfs: string, mirror: string, cacheDir?: string): string[] {
  const d = recipe.dnf;
  if (!d) throw new Error(`recipe ${recipe.name} has no dnf section`);
  const base = mirror.replace(/\/+$/, '');
  const keys = d.gpgKeys.map((k) => `${base}/${k}`).join(' ');
  return [
    '-y',
    `--installroot=${rootfs}`,
    `--releasever=${d.releasever}`,
    `--forcearch=${recipe.arch === 'amd64' ? 'x86_64' : recipe.arch}`,
    '--setopt=reposdir=/nonexistent',
    '--setopt=install_weak_deps=False',
    '--setopt=tsflags=nodocs',
    ...(cacheDir ? [`--setopt=cachedir=${cacheDir}`] : []),
    ...d.repos.flatMap((r) => [`--repofrompath=${r.id},${base}/${r.path}`, `--setopt=${r.id}.gpgcheck=1`, `--setopt=${r.id}.gpgkey=${keys}`]),
    'install',
    ...recipe.packages,
  ];
}
