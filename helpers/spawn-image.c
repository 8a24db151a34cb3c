/* spawn-image.c — the monitor's image: checked, on its own loop device, mounted (see vps-spawn.c). */
#define _GNU_SOURCE
#include "confine.h"
#include "console-proto.h"
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/loop.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include "monitor.h"

/* ------------------------------------------------------------------ monitor: image + loop */

/* R8/R10: the image must be a root-owned regular file with exactly one name, not group or
 * other writable. It is looked at through an O_PATH fd first (a FIFO or device is never
 * opened, a symlink is seen as such), then reopened through that very fd. */
int image_open(void)
{
	const char *img = M.o->image;
	struct stat st, st2;
	uint16_t magic = 0;
	char self[32];
	int fd;

	cleanup_fd int pfd = open(img, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0 && errno == ENOENT)
		die_code(VPS_ENOTFOUND, "image %s: not found", img);
	if (pfd < 0)
		die_errno_mapped("open image %s", img);
	if (fstat(pfd, &st) < 0)
		die_with_error("stat image %s", img);
	if (S_ISLNK(st.st_mode))
		die("image %s is a symbolic link; refusing it (pass the real file)", img);
	if (!S_ISREG(st.st_mode))
		die("image %s is not a regular file (%s); refusing it", img,
		    S_ISFIFO(st.st_mode)   ? "a FIFO"
		    : S_ISDIR(st.st_mode)  ? "a directory"
		    : S_ISBLK(st.st_mode)  ? "a block device"
		    : S_ISCHR(st.st_mode)  ? "a character device"
		    : S_ISSOCK(st.st_mode) ? "a socket"
					   : "unknown type");
	if (st.st_nlink != 1)
		die("image %s has %lu hard links; refusing an image reachable by another name", img,
		    (unsigned long)st.st_nlink);
	if (st.st_uid != 0)
		die("image %s is owned by uid %u, not root; refusing it", img, (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		die("image %s is writable by group or others (mode %04o); refusing it", img,
		    (unsigned)(st.st_mode & 07777));
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, (M.o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		die_errno_mapped("open image %s", img);
	if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
		die("image %s changed while being opened", img);
	/* ext2/3/4 superblock at 1024, s_magic at +56 (little endian 0xEF53) */
	if (pread(fd, &magic, sizeof(magic), 1024 + 56) != sizeof(magic) ||
	    le16toh(magic) != 0xEF53)
		die("image %s: not an ext4 filesystem", M.o->image);

	/* R8: one writer per image. Refuse an image some loop device already serves. */
	cleanup_dir DIR *d = opendir("/sys/block");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct loop_info64 li;
		char path[300];
		if (!has_prefix(de->d_name, "loop"))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		cleanup_fd int lfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (lfd < 0 || ioctl(lfd, LOOP_GET_STATUS64, &li) < 0)
			continue; /* unbound (ENXIO) or gone */
		if (li.lo_device == (uint64_t)st.st_dev && li.lo_inode == (uint64_t)st.st_ino)
			die_code(VPS_ELOCKED, "image %s is already attached to %s", M.o->image,
				 path);
	}
	return fd;
}

void loop_attach(int img_fd)
{
	cleanup_fd int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	struct loop_config cfg;

	if (ctl < 0)
		die_code_with_error(VPS_EHOST, "open /dev/loop-control");
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)img_fd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (M.o->readonly ? LO_FLAGS_READ_ONLY : 0);
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", M.o->image);

	for (int attempt = 0; attempt < LOOP_RETRIES; attempt++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0)
			die_code(VPS_ENORES, "no free loop device: %s", strerror(errno));
		snprintf(M.loop_path, sizeof(M.loop_path), "/dev/loop%d", nr);
		cleanup_fd int lfd =
			open(M.loop_path, (M.o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (lfd < 0) {
			if (errno == ENOENT || errno == ENXIO) { /* node not there yet */
				usleep(20000);
				continue;
			}
			die_errno_mapped("open %s", M.loop_path);
		}
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			M.loop_fd = steal_fd(&lfd);
			M.loop_nr = nr;
			return;
		}
		if (errno == EBUSY) /* another attacher won the race for this device */
			continue;
		die_code_with_error(errno == EINVAL || errno == ENOTTY ? VPS_EHOST : VPS_EFAIL,
				    "LOOP_CONFIGURE %s", M.loop_path);
	}
	M.loop_path[0] = '\0';
	die_code(VPS_ENORES, "no free loop device (lost the race %d times)", LOOP_RETRIES);
}

/* Undo "\ooo" escapes of a mountinfo field in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Our mount namespace is a copy of the host's, and where the host's mounts are private (no
 * systemd to make "/" shared) the copy is not a slave of anything: every loop-backed mount
 * the host had at this moment (another container's image mounted for a create, a mounted
 * snapshot, the pool) would stay mounted in here after the host unmounts it, keeping its
 * loop device attached and the image busy for as long as this container runs. Detach them
 * all from our namespace; only our own image's mount stays. */
void drop_foreign_loop_mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f) {
		log_warn("read mountinfo: %s", strerror(errno));
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");
		char mnt[VPS_PATH_MAX], src[64];

		if (!sep || sscanf(sep + 3, "%*s %63s", src) != 1 ||
		    !has_prefix(src, "/dev/loop") || strcmp(src, M.loop_path) == 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
			continue;
		unescape_octal(mnt);
		/* never a parent of our own mount ("/" or the run dir on a loop-backed host) */
		size_t n = strlen(mnt);
		if (strcmp(mnt, "/") == 0 ||
		    (strncmp(M.o->rootfs, mnt, n) == 0 && M.o->rootfs[n] == '/'))
			continue;
		if (umount2(mnt, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			log_warn("detach %s (%s) from the monitor's namespace: %s", mnt, src,
				 strerror(errno));
	}
	free(line);
	fclose(f);
}

void rootfs_mount(void)
{
	char target[32];

	if (mkdir(M.o->rootfs, 0755) < 0 && errno != EEXIST)
		die_errno_mapped("mkdir %s", M.o->rootfs);
	cleanup_fd int t = open(M.o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (t < 0)
		die_errno_mapped("open %s", M.o->rootfs);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", t);
	/* the host-side view: nosuid,nodev; the container gets its own clone (stage_root) */
	if (mount(M.loop_path, target, "ext4",
		  MS_NOSUID | MS_NODEV | (M.o->readonly ? MS_RDONLY : 0), "errors=remount-ro") < 0)
		die_with_error("mount %s (%s) as ext4 on %s", M.loop_path, M.o->image, M.o->rootfs);
	M.mounted = true;
	close(M.loop_fd); /* the mount holds the device now; autoclear on unmount */
	M.loop_fd = -1;
}

/* Wait until the kernel has detached our loop device (autoclear), up to ~5 s. */
static void loop_wait_detached(void)
{
	char path[96];

	if (M.loop_nr < 0)
		return;
	snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", M.loop_nr);
	for (int i = 0; i < 250 && access(path, F_OK) == 0; i++)
		usleep(20000);
	if (access(path, F_OK) == 0)
		log_warn("%s still attached after unmount", M.loop_path);
}

void rootfs_unmount(void)
{
	if (M.loop_fd >= 0) {
		close(M.loop_fd);
		M.loop_fd = -1;
	}
	if (M.mounted) {
		if (umount2(M.o->rootfs, 0) < 0 && umount2(M.o->rootfs, MNT_DETACH) < 0)
			log_warn("umount %s: %s", M.o->rootfs, strerror(errno));
		M.mounted = false;
	}
	loop_wait_detached();
}
