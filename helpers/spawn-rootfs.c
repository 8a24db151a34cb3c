/* spawn-rootfs.c — vps-spawn's init child builds the container's filesystem (see spawn.h).
 *
 * Everything below runs in the init child, in its own mount namespace, before
 * pivot_root. The image's tree is the tenant's: every mount target in it is reached by
 * directory fd, one component at a time, refusing symlinks (R2), and mounted onto through
 * /proc/self/fd/N; the kernel-made trees (/proc, /sys, our /dev tmpfs) are walked the same
 * way. The R4 masks come last, after the console and the cgroup mounts. With --nesting a
 * clean proc and sysfs are mounted at /dev/.lxc/{proc,sys} before the masks, which never
 * reach them (they target /proc and /sys only).
 *
 * The host directories of --bind are not mounted here but by the monitor, before the init
 * child is cloned (bind_clone, bind_attach, at the end of this file): a clone of the host's
 * directory made in the host's own mount namespace, made idmapped, nosuid and nodev (and
 * read-only) as the host's root, and attached in the stage the child's namespace copies, so
 * in userns mode the kernel locks it with the rest (its flags cannot be cleared, it cannot
 * be unmounted to show what is below). The child then clones the rootfs with its binds.
 */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

#define MNT_NSNDNE (MS_NOSUID | MS_NODEV | MS_NOEXEC)

static noreturn_fn void die_target(const char *bad)
{
	if (errno == ELOOP)
		die("the image's /%s is a symbolic link; refusing to mount through it (make it a "
		    "real directory in the image)",
		    bad);
	if (errno == ENOTDIR)
		die("the image's /%s is not a directory; refusing to mount on it", bad);
	die_with_error("open /%s in rootfs", bad);
}

/* O_PATH fd of rel below root, never through a symlink (R2). mode != 0: a missing last
 * component is created as a directory of that mode and the result must be a directory.
 * optional: a missing rel gives -1 instead of dying. */
static int target(int root, const char *rel, mode_t mode, bool optional)
{
	char bad[VPS_PATH_MAX];
	struct stat st;
	int fd = open_nofollow_in_root(root, rel, bad, sizeof(bad));

	if (fd < 0 && errno == ENOENT && optional)
		return -1;
	if (fd < 0 && errno == ENOENT && mode && strcmp(bad, rel) == 0) {
		const char *slash = strrchr(rel, '/');
		char parent[VPS_PATH_MAX];
		cleanup_fd int pfd = -1;
		if (slash) {
			snprintf(parent, sizeof(parent), "%.*s", (int)(slash - rel), rel);
			pfd = open_nofollow_in_root(root, parent, bad, sizeof(bad));
			if (pfd < 0)
				die_target(bad);
		}
		if (mkdirat(slash ? pfd : root, slash ? slash + 1 : rel, mode) < 0 &&
		    errno != EEXIST)
			die_with_error("mkdir /%s in rootfs", rel);
		fd = open_nofollow_in_root(root, rel, bad, sizeof(bad));
	}
	if (fd < 0)
		die_target(bad);
	if (mode && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))) {
		errno = ENOTDIR;
		die_target(rel);
	}
	return fd;
}

static void mount_fd(int fd, const char *src, const char *fstype, unsigned long flags,
		     const char *data, const char *what)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (mount(src, path, fstype, flags, data) < 0)
		die_with_error("mount %s on %s", fstype ? fstype : src ? src : "(remount)", what);
}

/* Detached clone of the one mount at fd (not its children), with attributes set. */
static int clone_mount(int fd, uint64_t attr_set, const char *what)
{
	struct mount_attr a = { .attr_set = attr_set };
	int tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);

	if (tree < 0)
		die_with_error("clone mount of %s", what);
	if (attr_set && mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
		die_with_error("set attributes of %s", what);
	return tree;
}

static void move_onto(int tree, int fd, const char *what)
{
	if (move_mount(tree, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		die_with_error("mount on %s", what);
}

/* Make an empty file name in our own /dev tmpfs and bind src onto it. */
static void dev_bind(int dev, const char *name, const char *src)
{
	char what[64];
	int f = openat(dev, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);

	if (f < 0)
		die_with_error("create /dev/%s", name);
	close(f);
	cleanup_fd int t = openat(dev, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (t < 0)
		die_with_error("open /dev/%s", name);
	snprintf(what, sizeof(what), "/dev/%s", name);
	mount_fd(t, src, NULL, MS_BIND, NULL, what);
}

static void setup_cgroupfs(const struct opts *o, int root)
{
	if (o->n_cg == 0)
		return;
	cleanup_fd int mp = target(root, "sys/fs/cgroup", 0555, false);
	if (!*o->cg[0].mountname) { /* pure cgroup2 host */
		mount_fd(mp, "cgroup2", "cgroup2", MNT_NSNDNE, NULL, "/sys/fs/cgroup");
		return;
	}
	mount_fd(mp, "tmpfs", "tmpfs", MNT_NSNDNE, "mode=0755,size=1m", "/sys/fs/cgroup");
	cleanup_fd int tmp = target(root, "sys/fs/cgroup", 0555, false); /* the new tmpfs */
	for (size_t i = 0; i < o->n_cg; i++) {
		const struct cgroup_arg *cg = &o->cg[i];
		char what[300], opts[sizeof(cg->options)], *save = NULL;
		snprintf(what, sizeof(what), "/sys/fs/cgroup/%s", cg->mountname);
		if (mkdirat(tmp, cg->mountname, 0755) < 0)
			die_with_error("mkdir %s", what);
		cleanup_fd int d =
			openat(tmp, cg->mountname, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d < 0)
			die_with_error("open %s", what);
		if (cg->v2)
			mount_fd(d, "cgroup2", "cgroup2", MNT_NSNDNE, NULL, what);
		else
			mount_fd(d, "cgroup", "cgroup", MNT_NSNDNE, cg->options, what);
		/* co-mounted controllers get the usual aliases: cpu -> cpu,cpuacct */
		snprintf(opts, sizeof(opts), "%s", cg->options);
		for (char *t = strtok_r(opts, ",", &save); t && strchr(cg->mountname, ',');
		     t = strtok_r(NULL, ",", &save))
			if (!strchr(t, '=') && strcmp(t, cg->mountname) != 0 &&
			    symlinkat(cg->mountname, tmp, t) < 0 && errno != EEXIST)
				die_with_error("symlink /sys/fs/cgroup/%s", t);
	}
	mount_fd(tmp, NULL, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MNT_NSNDNE, NULL,
		 "/sys/fs/cgroup (read-only remount)");
}

/* The devices passed through (--device): SRC bound on /dev/DEST, DEST's directories made
 * in our own /dev tmpfs first (nothing of the tenant's is in it yet). */
static void setup_passed_devices(const struct opts *o, int dev)
{
	for (size_t i = 0; i < o->n_dev; i++) {
		char dir[sizeof(o->dev[i].dest)];
		snprintf(dir, sizeof(dir), "%s", o->dev[i].dest);
		for (char *s = strchr(dir, '/'); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			if (mkdirat(dev, dir, 0755) < 0 && errno != EEXIST)
				die_with_error("mkdir /dev/%s", dir);
			*s = '/';
		}
		dev_bind(dev, o->dev[i].dest, o->dev[i].src);
	}
}

static void setup_dev(const struct opts *o, int root, int pty_master, int pty_slave)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" },          { "/proc/self/fd", "fd" },
		{ "/proc/self/fd/0", "stdin" },  { "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" },
	};
	char src[64];

	cleanup_fd int mp = target(root, "dev", 0755, false);
	mount_fd(mp, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536k", "/dev");
	cleanup_fd int dev = target(root, "dev", 0755, false); /* the new tmpfs */
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		dev_bind(dev, nodes[i], src);
	}
	if (mkdirat(dev, "pts", 0755) < 0)
		die_with_error("mkdir /dev/pts");
	cleanup_fd int pts = openat(dev, "pts", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (pts < 0)
		die_with_error("open /dev/pts");
	mount_fd(pts, "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
		 "newinstance,ptmxmode=0666,mode=0620,gid=5", "/dev/pts");
	/* A bind source must live in our own mount ns: reopen the slave by its path here
	 * (a host path: nothing of the tenant's is visible yet) and check it is the same. */
	{
		struct stat a, b;
		char name[64];
		if (ptsname_r(pty_master, name, sizeof(name)) != 0)
			die_with_error("ptsname");
		cleanup_fd int s = open(name, O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0 || fstat(s, &a) < 0 || fstat(pty_slave, &b) < 0 || a.st_rdev != b.st_rdev)
			die("cannot reopen console pty %s: %s", name, strerror(errno));
		snprintf(src, sizeof(src), "/proc/self/fd/%d", s);
		dev_bind(dev, "console", src);
	}

	if (mkdirat(dev, "shm", 01777) < 0)
		die_with_error("mkdir /dev/shm");
	cleanup_fd int shm = openat(dev, "shm", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (shm < 0)
		die_with_error("open /dev/shm");
	mount_fd(shm, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", "/dev/shm");

	if (mkdirat(dev, "mqueue", 0755) == 0) {
		cleanup_fd int mq =
			openat(dev, "mqueue", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		snprintf(src, sizeof(src), "/proc/self/fd/%d", mq);
		if (mq < 0 || mount("mqueue", src, "mqueue", MNT_NSNDNE, NULL) < 0)
			log_warn("mount mqueue on /dev/mqueue: %s", strerror(errno));
	}
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlinkat(links[i][0], dev, links[i][1]) < 0)
			die_with_error("symlink /dev/%s", links[i][1]);
	setup_passed_devices(o, dev);
}

/* --nesting (userns mode only): a clean procfs and a read-write sysfs at /dev/.lxc/proc and
 * /dev/.lxc/sys, with nothing mounted on or under them, in a /dev/.lxc of mode 0700 in our
 * own /dev tmpfs (no path of the tenant's is walked). The kernel lets a nested user
 * namespace mount proc or sysfs only when its mount namespace shows one that is fully
 * visible (mount_too_revealing); lxcfs's files and the R4 masks on /proc, and the mask on
 * /sys/firmware, become locked covers in a nested namespace's copy, so /proc and /sys never
 * count. As LXC's nesting.conf, Incus's security.nesting and Proxmox's nesting=1. */
static void setup_nesting(int root)
{
	cleanup_fd int dev = target(root, "dev", 0755, false); /* our tmpfs */
	if (mkdirat(dev, ".lxc", 0700) < 0)
		die_with_error("mkdir /dev/.lxc");
	cleanup_fd int lxc = openat(dev, ".lxc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (lxc < 0)
		die_with_error("open /dev/.lxc");
	if (mkdirat(lxc, "proc", 0555) < 0 || mkdirat(lxc, "sys", 0555) < 0)
		die_with_error("mkdir /dev/.lxc/proc and /dev/.lxc/sys");
	cleanup_fd int p = openat(lxc, "proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (p < 0)
		die_with_error("open /dev/.lxc/proc");
	cleanup_fd int s = openat(lxc, "sys", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s < 0)
		die_with_error("open /dev/.lxc/sys");
	mount_fd(p, "proc", "proc", MNT_NSNDNE, NULL, "/dev/.lxc/proc (nesting)");
	mount_fd(s, "sysfs", "sysfs", MNT_NSNDNE, NULL, "/dev/.lxc/sys (nesting)");
}

/* /sys, read-only. Without --nesting the sysfs superblock is made read-only: no read-write
 * sysfs can be mounted in the container's network namespace at all. With it the superblock is
 * read-write (/dev/.lxc/sys, and a nested runtime's sysfs, need one) and /sys is made
 * read-only per mount, by a bind remount of the new mount (reopened: the fd taken before the
 * mount is the directory underneath). */
static void setup_sysfs(const struct opts *o, int root)
{
	cleanup_fd int sys = target(root, "sys", 0555, false);
	if (!o->nesting) {
		mount_fd(sys, "sysfs", "sysfs", MS_RDONLY | MNT_NSNDNE, NULL, "/sys");
		return;
	}
	mount_fd(sys, "sysfs", "sysfs", MNT_NSNDNE, NULL, "/sys");
	cleanup_fd int sysfs = target(root, "sys", 0555, false); /* the new sysfs */
	mount_fd(sysfs, NULL, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MNT_NSNDNE, NULL,
		 "/sys (read-only remount)");
}

/* R4, after every other mount. In userns mode the kernel refuses most of these by itself
 * (files owned by the host's root, CAP_SYS_RAWIO for kcore, ...); the masks make privileged
 * mode match and give one answer in both. Missing entries (kernel config) are skipped. */
static void apply_masks(int root)
{
	static const char *const ro[] = { "proc/sysrq-trigger", "proc/bus", "proc/fs", "proc/irq" };
	static const char *const null_files[] = { "proc/kcore",       "proc/keys",
						  "proc/kallsyms",    "proc/timer_list",
						  "proc/sched_debug", "proc/latency_stats",
						  "proc/timer_stats" };
	static const char *const empty_dirs[] = { "proc/acpi", "proc/scsi", "sys/firmware",
						  "sys/devices/virtual/powercap" };
	const uint64_t ro_attrs =
		MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;

	/* /proc/sys read-only, /proc/sys/net (per network namespace) read-write on top:
	 * take the rw clone of net before /proc/sys turns read-only */
	{
		cleanup_fd int net = target(root, "proc/sys/net", 0, true);
		cleanup_fd int net_tree = net >= 0 ? clone_mount(net, 0, "/proc/sys/net") : -1;
		cleanup_fd int sys = target(root, "proc/sys", 0, false);
		cleanup_fd int sys_tree = clone_mount(sys, ro_attrs, "/proc/sys");
		move_onto(sys_tree, sys, "/proc/sys");
		if (net_tree >= 0) {
			cleanup_fd int net2 = target(root, "proc/sys/net", 0, false);
			move_onto(net_tree, net2, "/proc/sys/net");
		}
	}
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		cleanup_fd int fd = target(root, ro[i], 0, true);
		if (fd < 0)
			continue;
		cleanup_fd int tree = clone_mount(fd, ro_attrs, ro[i]);
		move_onto(tree, fd, ro[i]);
	}
	cleanup_fd int null = target(root, "dev/null", 0, false);
	for (size_t i = 0; i < sizeof(null_files) / sizeof(null_files[0]); i++) {
		cleanup_fd int fd = target(root, null_files[i], 0, true);
		if (fd < 0)
			continue;
		/* read-only, but not nodev: reads give EOF like runc's masked paths */
		cleanup_fd int tree =
			clone_mount(null, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
				    "/dev/null");
		move_onto(tree, fd, null_files[i]);
	}
	for (size_t i = 0; i < sizeof(empty_dirs) / sizeof(empty_dirs[0]); i++) {
		cleanup_fd int fd = target(root, empty_dirs[i], 0, true);
		if (fd >= 0)
			mount_fd(fd, "tmpfs", "tmpfs", MS_RDONLY | MNT_NSNDNE, "mode=0555,size=4k",
				 empty_dirs[i]);
	}
}

/* lxcfs's per-container views of /proc (meminfo with the cgroup's memory limit, ...), bound
 * read-only over the container's own files before the masks. The source is a host path,
 * reachable because we have not pivoted yet; a file lxcfs does not serve is skipped. */
static void setup_lxcfs(const struct opts *o, int root)
{
	static const char *const files[] = { "meminfo", "cpuinfo",   "stat", "uptime",
					     "loadavg", "diskstats", "swaps" };
	char src[VPS_PATH_MAX + 32], what[64];

	for (size_t i = 0; o->lxcfs && i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(src, sizeof(src), "%s/proc/%s", o->lxcfs, files[i]);
		cleanup_fd int s = open(src, O_PATH | O_CLOEXEC | O_NOFOLLOW);
		if (s < 0) {
			log_warn("lxcfs: %s: %s", src, strerror(errno));
			continue;
		}
		snprintf(what, sizeof(what), "proc/%s", files[i]);
		cleanup_fd int fd = target(root, what, 0, true);
		if (fd < 0)
			continue;
		cleanup_fd int tree = clone_mount(s,
						  MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
							  MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
						  src);
		move_onto(tree, fd, what);
	}
}

void rootfs_build(const struct opts *o, int rootfs_fd, int pty_master, int pty_slave)
{
	char bad[VPS_PATH_MAX];

	/* pivot_root refuses a locked new root, and in userns mode the whole tree copied
	 * from the stage is locked: put a clone of the rootfs on top of itself, a mount of our
	 * own that keeps the stage clone's idmap and its locked nodev/ro; from here on, root
	 * is that mount (its fd works as the walk's starting point and for fchdir) */
	cleanup_fd int root = -1;
	if (o->n_bind == 0) {
		root = clone_mount(rootfs_fd, 0, "the rootfs");
	} else {
		/* with the binds the monitor put below it (locked to it in userns mode, so
		 * only a recursive clone may take it) */
		root = open_tree(rootfs_fd, "",
				 OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
		if (root < 0)
			die_with_error("clone mount of the rootfs and its binds");
	}
	move_onto(root, rootfs_fd, "the rootfs");
	/* we mount nothing on /run, systemd does; a symlinked /run is refused all the same */
	{
		cleanup_fd int run = open_nofollow_in_root(root, "run", bad, sizeof(bad));
		if (run < 0 && errno != ENOENT)
			die_target(bad);
	}

	cleanup_fd int proc = target(root, "proc", 0555, false);
	mount_fd(proc, "proc", "proc", MNT_NSNDNE, NULL, "/proc");
	setup_lxcfs(o, root);
	setup_sysfs(o, root);
	setup_cgroupfs(o, root);
	setup_dev(o, root, pty_master, pty_slave);
	if (o->nesting)
		setup_nesting(root);
	apply_masks(root);

	if (fchdir(root) < 0)
		die_with_error("chdir rootfs");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die_with_error("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		die_with_error("detach old root");
	if (chdir("/") < 0)
		die_with_error("chdir /");
}

/* ------------------------------------------------------------------ --bind (monitor) */

int bind_clone(const struct bind_arg *b)
{
	char bad[VPS_PATH_MAX];
	struct stat st;
	cleanup_fd int host_root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	cleanup_fd int fd = -1;

	if (host_root < 0)
		die_with_error("open the host's /");
	fd = open_nofollow_in_root(host_root, b->src + 1, bad, sizeof(bad));
	if (fd < 0 && errno == ELOOP)
		die_code(VPS_EUSAGE, "--bind %s: /%s is a symbolic link on the host; refusing (name "
				     "the real directory)", b->src, bad);
	if (fd < 0)
		die_code_with_error(errno == ENOENT ? VPS_ENOTFOUND : VPS_EFAIL,
				    "--bind %s: host directory /%s", b->src, bad);
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
		die_code(VPS_EUSAGE, "--bind %s: not a directory on the host", b->src);
	int tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
	if (tree < 0)
		die_code_with_error(errno == ENOSYS ? VPS_EHOST : VPS_EFAIL,
				    "--bind %s: clone the host directory's mount", b->src);
	return tree;
}

/* rel below root, never out of it: a symlink is followed as if root were / (RESOLVE_IN_ROOT),
 * never a magic link, never into another mount (an earlier bind) */
static int open_in_rootfs(int root, const char *rel, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	if (!*rel)
		return openat(root, ".", flags | O_CLOEXEC);
	return (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
}

static noreturn_fn void die_bind_target(const struct bind_arg *b, const char *rel, int err)
{
	errno = err;
	if (err == ENOENT)
		die("--bind %s: the container's /%s is a dangling symbolic link; refusing", b->dest,
		    rel);
	if (err == ENOTDIR)
		die("--bind %s: the container's /%s is not a directory; refusing to mount on it",
		    b->dest, rel);
	if (err == EXDEV)
		die("--bind %s: the container's /%s leads into another mount; refusing", b->dest,
		    rel);
	die_with_error("--bind %s: open the container's /%s", b->dest, rel);
}

/* The directory b->dest inside root, each missing component made (0755) as uid:gid. */
static int bind_target(const struct bind_arg *b, int root, uid_t uid, gid_t gid)
{
	char rel[VPS_PATH_MAX];
	const char *dest = b->dest + 1;
	size_t n = strlen(dest);
	int fd = -1;

	for (size_t end = 1; end <= n; end++) {
		if (dest[end] != '/' && dest[end] != '\0')
			continue;
		snprintf(rel, sizeof(rel), "%.*s", (int)end, dest);
		if (fd >= 0)
			close(fd);
		fd = open_in_rootfs(root, rel, O_PATH | O_DIRECTORY);
		if (fd < 0 && errno == ENOSYS)
			die_code(VPS_EHOST, "--bind needs openat2 (Linux 5.6)");
		if (fd < 0 && errno == ENOENT) {
			char *slash = strrchr(rel, '/');
			const char *name = slash ? slash + 1 : rel;
			if (slash)
				*slash = '\0';
			cleanup_fd int parent =
				open_in_rootfs(root, slash ? rel : "", O_PATH | O_DIRECTORY);
			if (parent < 0)
				die_bind_target(b, rel, errno);
			/* as the container's root: through the idmapped rootfs that is uid 0 on
			 * disk; the host's root cannot write there at all (EOVERFLOW) */
			setfsgid(gid);
			setfsuid(uid);
			int r = mkdirat(parent, name, 0755), err = errno;
			setfsuid(0);
			setfsgid(0);
			if (slash)
				*slash = '/';
			if (r < 0 && err != EEXIST)
				die_code(exit_code_for_errno(err),
					 "--bind %s: make the container's /%s: %s", b->dest, rel,
					 strerror(err));
			fd = open_in_rootfs(root, rel, O_PATH | O_DIRECTORY);
		}
		if (fd < 0)
			die_bind_target(b, rel, errno);
	}
	struct stat a, r;
	if (fstat(fd, &a) < 0 || fstat(root, &r) < 0)
		die_with_error("--bind %s: stat", b->dest);
	if (a.st_dev == r.st_dev && a.st_ino == r.st_ino)
		die("--bind %s: the container's %s leads to its own /; refusing to cover it",
		    b->dest, b->dest);
	return fd;
}

void bind_attach(const struct bind_arg *b, int root, int tree, int userns_fd, bool idmap_waived,
		 uid_t uid, gid_t gid)
{
	struct mount_attr a = {
		.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (b->ro ? MOUNT_ATTR_RDONLY : 0),
		.propagation = MS_PRIVATE,
	};

	if (userns_fd >= 0) {
		a.attr_set |= MOUNT_ATTR_IDMAP;
		a.userns_fd = (uint64_t)userns_fd;
	}
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		int err = errno;
		if (userns_fd < 0 || (err != EINVAL && err != EPERM && err != EOPNOTSUPP))
			die_with_error("--bind %s: set nosuid,nodev%s", b->src, b->ro ? ",ro" : "");
		if (!idmap_waived)
			die_code(VPS_EHOST,
				 "--bind %s: the kernel refused an idmapped mount of it: %s (its "
				 "filesystem must support idmapped mounts: ext4, xfs, btrfs, tmpfs "
				 "6.3+ do; --unsafe-allow-missing idmap binds it plain)",
				 b->src, strerror(err));
		log_warn("unsafe: --bind %s: idmapped mount refused (%s); bound plain", b->src,
			 strerror(err));
		a.attr_set &= ~(uint64_t)MOUNT_ATTR_IDMAP;
		a.userns_fd = 0;
		if (mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
			die_with_error("--bind %s: set nosuid,nodev%s", b->src, b->ro ? ",ro" : "");
	}
	cleanup_fd int t = bind_target(b, root, uid, gid);
	if (move_mount(tree, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		die_with_error("--bind: mount %s on the container's %s", b->src, b->dest);
}
