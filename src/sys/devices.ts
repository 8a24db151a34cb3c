import { promises as fsp } from 'node:fs';

/** A host device node as the kernel knows it. */
export interface HostDevice {
  /** The node the path leads to (symlinks such as /dev/serial/by-id/... followed). */
  real: string;
  char: boolean;
  block: boolean;
  major: number;
  minor: number;
  /** The kernel's name for it (uevent DEVNAME), '' when sysfs does not say. */
  name: string;
  /** Its permission bits. */
  mode: number;
}

/** The node at `p` on the host; undefined when there is none. */
export async function hostDevice(p: string): Promise<HostDevice | undefined> {
  const real = await fsp.realpath(p).catch(() => undefined);
  if (!real) return undefined;
  const st = await fsp.stat(real, { bigint: true });
  const rdev = st.rdev;
  // glibc's encoding of dev_t (gnu_dev_major / gnu_dev_minor)
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  const char = st.isCharacterDevice();
  const uevent = char ? await fsp.readFile(`/sys/dev/char/${major}:${minor}/uevent`, 'utf8').catch(() => '') : '';
  return { real, char, block: st.isBlockDevice(), major, minor, name: /^DEVNAME=(.*)$/m.exec(uevent)?.[1] ?? '', mode: Number(st.mode & 0o7777n) };
}
