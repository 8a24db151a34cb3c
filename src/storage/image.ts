import { promises as fsp } from 'node:fs';
import { ExitCode, VpsError } from '../base/errors.js';
import type { Runner } from '../sys/exec.js';

/** What an ext4 image's superblock says (read without mounting). */
export interface ImageFsInfo {
  blockSize: number;
  blockCount: number;
  freeBlocks: number;
  /** Filesystem size in bytes. */
  size: number;
  /** Bytes in use inside the filesystem. */
  used: number;
  clean: boolean;
}

/** Out of disk space is exit 7 (out of resources), with what to do; anything else exit 1. */
function spaceOr(message: string, stderr: string): VpsError {
  if (/No space left|ENOSPC|File too large/i.test(stderr)) {
    return new VpsError(ExitCode.NO_RESOURCES, `out of disk space in the pool: ${message}`, { hint: 'free space in the pool (vpsctl host info shows it) or use a smaller --disk' });
  }
  return new VpsError(ExitCode.FAILED, message);
}

/** Per-container ext4 images: grow, check, pack, mount (copies go through vps-snap). Talks to the system through a Runner. */
export class ImageStore {
  constructor(private readonly run: Runner) {}

  /**
   * An image must be a plain root-owned file of its own before anything mounts it (R8, R10):
   * not a symlink, FIFO or device, and not hard-linked to another container's image.
   */
  async assertPlainImage(img: string): Promise<void> {
    const st = await fsp.lstat(img);
    const what = st.isSymbolicLink() ? 'a symbolic link' : st.isFIFO() ? 'a FIFO' : !st.isFile() ? 'not a regular file' : st.nlink !== 1 ? `hard-linked (${st.nlink} names)` : st.uid !== 0 ? `owned by uid ${st.uid}` : (st.mode & 0o077) !== 0 ? `readable or writable by others (mode ${(st.mode & 0o777).toString(8)})` : '';
    if (what) {
      throw new VpsError(ExitCode.FAILED, `refusing to use the disk image ${img}: it is ${what}`, {
        hint: 'a container image must be a root-owned regular file of its own (mode 0600); restore it from a snapshot or backup',
      });
    }
  }

  /** Grows the file and the filesystem in it to `bytes` (the image is not mounted). */
  async grow(img: string, bytes: number): Promise<void> {
    await this.check(img, true);
    await fsp.truncate(img, bytes);
    const r = await this.run.run('resize2fs', [img], { reject: false });
    if (r.exitCode !== 0) throw spaceOr(`could not grow the filesystem in ${img}: ${r.stderr.trim().split('\n').pop()}`, r.stderr);
  }

  /**
   * e2fsck in preen mode: replays the journal after an unclean stop and fixes what is safe.
   * `force` checks even a clean filesystem (before resize2fs, which insists).
   */
  async check(img: string, force = false): Promise<void> {
    const r = await this.run.run('e2fsck', [force ? '-fp' : '-p', img], { reject: false });
    // 0 clean, 1 errors corrected, 2 corrected (reboot: irrelevant for an image)
    if (r.exitCode > 2) {
      throw new VpsError(ExitCode.FAILED, `filesystem check of ${img} failed (e2fsck exit ${r.exitCode}): ${(r.stdout + r.stderr).trim().split('\n').slice(-3).join('; ')}`, {
        hint: `repair it by hand with: e2fsck -f ${img}`,
      });
    }
  }

  /** Makes an ext4 image of `bytes` from a directory tree, without mounting anything. */
  async mkfsFromDir(dir: string, img: string, bytes: number, label = 'vpsroot'): Promise<void> {
    await this.run.run('mkfs.ext4', ['-q', '-F', '-t', 'ext4', '-L', label, '-d', dir, img, `${Math.ceil(bytes / 1024)}k`]);
    await fsp.chmod(img, 0o600);
  }

  async info(img: string): Promise<ImageFsInfo> {
    const r = await this.run.run('dumpe2fs', ['-h', img], { reject: false });
    if (r.exitCode !== 0) throw new VpsError(ExitCode.FAILED, `${img} is not a readable ext4 image: ${r.stderr.trim().split('\n').pop()}`);
    const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(r.stdout)?.[1]?.trim() ?? '';
    const blockSize = Number(field('Block size'));
    const blockCount = Number(field('Block count'));
    const freeBlocks = Number(field('Free blocks'));
    return {
      blockSize,
      blockCount,
      freeBlocks,
      size: blockSize * blockCount,
      used: blockSize * (blockCount - freeBlocks),
      clean: /clean/.test(field('Filesystem state')),
    };
  }

  /** Mounts an image on the host for a short host-side edit (create). Always `-t ext4`. */
  async mount(img: string, dir: string): Promise<void> {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
    await this.run.run('mount', ['-t', 'ext4', '-o', 'loop,nodev,nosuid,errors=remount-ro', '--', img, dir]);
  }

  async umount(dir: string): Promise<void> {
    await this.run.run('umount', ['--', dir]);
  }

  /** Loop devices the kernel has attached to `img` (leftovers show up here). */
  async loopDevices(img: string): Promise<string[]> {
    const r = await this.run.run('losetup', ['--noheadings', '--output', 'NAME', '--associated', img], { reject: false });
    return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  }

  async detach(dev: string): Promise<void> {
    await this.run.run('losetup', ['--detach', dev], { reject: false });
  }
}
