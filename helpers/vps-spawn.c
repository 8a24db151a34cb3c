/* vps-spawn — start one full-system container and stay on as its monitor.
 *
 *   vps-spawn --id ID --image /abs/ID.img --rootfs /run/vpsctl/ID/rootfs
 *             --run-dir /run/vpsctl/ID --hostname NAME
 *             [--cgroup MOUNTNAME:OPTIONS:HOSTDIR]... [--init /sbin/init] [--readonly-image]
 *
 * Three processes, three stages (compare runc's nsexec.c):
 *
 *  PARENT   (what TypeScript runs; exits as soon as it knows the outcome)
 *    validates argv, opens the RESULT pipe, forks the monitor and reads ONE line:
 *      RESULT_OK  "ok INIT_PID /dev/loopN"  -> prints {"monitor_pid","init_pid","loop"}, exit 0
 *      RESULT_ERR "err CODE MESSAGE"        -> prints "vps-spawn: MESSAGE", exit CODE
 *      EOF / timeout                        -> exit 1 (the monitor died or hung)
 *
 *  MONITOR  (daemon for the container's whole life; outside every container cgroup)
 *    setsid, stdio -> /dev/null + <run-dir>/monitor.log, close other fds;
 *    unshare(CLONE_NEWNS) + "/" rslave: the rootfs mount exists only in the monitor's and
 *    the container's mount namespaces, so when both die the kernel unmounts it and the
 *    LO_FLAGS_AUTOCLEAR loop device detaches itself (SECURITY.md R10);
 *    loop-attach the image (refusing one already attached: R8), mount it -t ext4, create
 *    the cgroups (an existing idle leaf is reused with its settings, so TS may pre-set
 *    limits; stale sub-cgroups are removed; a leaf with tasks = ESTATE), open the console
 *    pty, then for each boot:
 *      clone3(NEWPID|NEWNS|NEWUTS|NEWIPC|NEWNET) the INIT child
 *      write the child's pid into every HOSTDIR/cgroup.procs
 *      SYNC_GO  ---------------------------------------------------------> child
 *      <---------- SYNC_ERROR {code, message}  or  EOF of the CLOEXEC sync socket (= exec'd)
 *    writes state.json (tmp + rename), sends RESULT_OK (if the parent is gone by then,
 *    nobody knows the container: roll back instead), then serves the event loop:
 *    signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP) + console pty master -> console.log.
 *    init killed by SIGHUP (reboot(2) in a pid ns) -> boot again on the same mount;
 *    any other end of init -> remove cgroups, unmount, remove state.json, exit 0.
 *    SIGTERM/SIGINT to the monitor = emergency stop (SIGKILL init).
 *    Any setup error rolls back everything this run made before RESULT_ERR is sent.
 *
 *  INIT     (becomes the container's PID 1)
 *    waits for SYNC_GO;
 *    [slot: --userns stage: unshare(NEWUSER), SYNC_USERMAP_REQ -> monitor writes the maps
 *     -> SYNC_USERMAP_ACK; not implemented yet]
 *    unshare(CLONE_NEWCGROUP) (it already sits in the container's cgroups, so they become
 *    its cgroup-ns root), "/" rprivate, sethostname, builds /proc /sys /sys/fs/cgroup /dev
 *    inside the rootfs by directory fd (R2), [slot: confinement stage — masks R4, caps R7,
 *    seccomp R6], pivot_root, console as ctty on 0/1/2, fds > 2 CLOEXEC, default signals,
 *    NOFILE 1024:524288, clean environment; if the monitor died meanwhile (HUP on the sync
 *    socket) exit instead of becoming an orphan container; execve(init).
 *
 * The monitor's stderr is <run-dir>/monitor.log, one JSON object per line:
 * {"event":"started"|"init-exited"|"rebooting"|"emergency-stop"|"warning"|"error"|
 *  "stopped", ...}.
 */
#define _GNU_SOURCE
#include "common.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#define MAX_CGROUPS        16
#define MAX_WATCHES        8
#define CONSOLE_LOG_MAX    (1024 * 1024)
#define INIT_START_TIMEOUT 30000 /* ms: clone -> exec of init */
#define PARENT_TIMEOUT     90000 /* ms: parent waits this long for RESULT_* */
#define CGROUP_DRAIN_MS    10000 /* ms: tasks must leave the cgroups within this */
#define LOOP_RETRIES       8

static const char *const init_env[] = {
	"container=vpsctl",
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=linux",
	"container_ttys=",
	NULL,
};

struct cgroup_arg {
	const char *mountname; /* "" = cgroup2 directly on /sys/fs/cgroup */
	char options[128];     /* v1 mount data, or "cgroup2" */
	const char *hostdir;
	bool v2;
	bool cpuset;
	bool owned; /* ours to remove on rollback (created by this run, or after RESULT_OK) */
};

struct opts {
	const char *id, *image, *rootfs, *run_dir, *hostname, *init;
	bool readonly;
	struct cgroup_arg cg[MAX_CGROUPS];
	size_t n_cg;
};

/* Messages on the monitor <-> init sync socket (SOCK_SEQPACKET: one message per read). */
enum sync_type {
	SYNC_GO = 1,    /* monitor -> init: cgroups attached, build the container and exec */
	SYNC_ERROR = 2, /* init -> monitor: setup failed; code + message; init then exits */
	/* reserved for the --userns stage: SYNC_USERMAP_REQ = 3, SYNC_USERMAP_ACK = 4 */
};

struct sync_msg {
	uint32_t type;
	int32_t code;
	char msg[VPS_ERRMSG_MAX];
};

typedef void (*watch_fn)(short revents);

/* Everything the monitor owns; global so the die sink can roll it back. */
static struct {
	struct opts *o;
	int result_fd; /* to the parent until RESULT_* is sent */
	int run_fd;
	bool log_ready;
	int loop_fd, loop_nr;
	char loop_path[32];
	bool mounted;
	int pty_master, pty_slave;
	int console_fd;
	off_t console_size;
	int sig_fd;
	pid_t init_pid;
	int sync_fd;
	bool stopping;
	bool state_written; /* state.json is ours to remove */
	long long starttime;
	struct pollfd pfd[MAX_WATCHES];
	watch_fn fn[MAX_WATCHES];
} M = {
	.result_fd = -1,
	.run_fd = -1,
	.loop_fd = -1,
	.loop_nr = -1,
	.pty_master = -1,
	.pty_slave = -1,
	.console_fd = -1,
	.sig_fd = -1,
	.init_pid = -1,
	.sync_fd = -1,
};

static int child_sync_fd = -1; /* init child side */

static noreturn_fn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s --id ID --image /abs/ID.img --rootfs DIR --run-dir DIR --hostname NAME\n"
		"       [--cgroup MOUNTNAME:OPTIONS:HOSTDIR]... [--init /sbin/init] "
		"[--readonly-image]\n",
		prog_name);
	exit(code);
}

/* ------------------------------------------------------------------ argv */

static void parse_cgroup(struct opts *o, const char *spec)
{
	struct cgroup_arg *cg;
	const char *c1, *c2;
	size_t len;

	if (o->n_cg >= MAX_CGROUPS)
		die_code(VPS_EUSAGE, "too many --cgroup (max %d)", MAX_CGROUPS);
	cg = &o->cg[o->n_cg++];
	c1 = strchr(spec, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		die_code(VPS_EUSAGE, "--cgroup %s: want MOUNTNAME:OPTIONS:HOSTDIR", spec);
	len = (size_t)(c2 - c1 - 1);
	if (len == 0 || len >= sizeof(cg->options))
		die_code(VPS_EUSAGE, "--cgroup %s: bad OPTIONS", spec);
	memcpy(cg->options, c1 + 1, len);
	cg->options[len] = '\0';
	cg->mountname = strndup(spec, (size_t)(c1 - spec));
	cg->hostdir = c2 + 1;
	if (!cg->mountname)
		die_code(VPS_ENORES, "out of memory");
	if (*cg->mountname && !valid_component(cg->mountname))
		die_code(VPS_EUSAGE, "--cgroup %s: bad MOUNTNAME", spec);
	for (const char *p = cg->options; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_,=.-", *p))
			die_code(VPS_EUSAGE, "--cgroup %s: bad OPTIONS", spec);
	cg->v2 = strcmp(cg->options, "cgroup2") == 0;
	cg->cpuset =
		!cg->v2 && (strcmp(cg->options, "cpuset") == 0 ||
			    has_prefix(cg->options, "cpuset,") || strstr(cg->options, ",cpuset"));
	if (!*cg->mountname && !cg->v2)
		die_code(VPS_EUSAGE, "--cgroup %s: empty MOUNTNAME needs cgroup2", spec);
	if (!valid_abs_path(cg->hostdir) || !has_prefix(cg->hostdir, "/sys/fs/cgroup/"))
		die_code(VPS_EUSAGE, "--cgroup %s: HOSTDIR must be under /sys/fs/cgroup/", spec);
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	o->init = "/sbin/init";
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--id") == 0)
			o->id = arg_value(argc, argv, &i);
		else if (strcmp(a, "--image") == 0)
			o->image = arg_value(argc, argv, &i);
		else if (strcmp(a, "--rootfs") == 0)
			o->rootfs = arg_value(argc, argv, &i);
		else if (strcmp(a, "--run-dir") == 0)
			o->run_dir = arg_value(argc, argv, &i);
		else if (strcmp(a, "--hostname") == 0)
			o->hostname = arg_value(argc, argv, &i);
		else if (strcmp(a, "--init") == 0)
			o->init = arg_value(argc, argv, &i);
		else if (strcmp(a, "--cgroup") == 0)
			parse_cgroup(o, arg_value(argc, argv, &i));
		else if (strcmp(a, "--readonly-image") == 0)
			o->readonly = true;
		else if (strcmp(a, "--help") == 0)
			usage(0);
		else
			die_code(VPS_EUSAGE, "unknown argument %.64s", a);
	}
	if (!o->id || !o->image || !o->rootfs || !o->run_dir || !o->hostname)
		die_code(VPS_EUSAGE,
			 "--id, --image, --rootfs, --run-dir and --hostname are required");
	if (!valid_id(o->id))
		die_code(VPS_EUSAGE, "invalid --id");
	if (!valid_hostname(o->hostname))
		die_code(VPS_EUSAGE, "invalid --hostname");
	if (!valid_abs_path(o->image) || !valid_abs_path(o->rootfs) ||
	    !valid_abs_path(o->run_dir) || !valid_abs_path(o->init) ||
	    strcmp(o->rootfs, "/") == 0 || strcmp(o->run_dir, "/") == 0)
		die_code(VPS_EUSAGE, "paths must be absolute, without '..', under %d bytes",
			 VPS_PATH_MAX);
	for (size_t i = 0; i < o->n_cg; i++) {
		const char *leaf = strrchr(o->cg[i].hostdir, '/') + 1;
		if (strcmp(leaf, o->id) != 0)
			die_code(VPS_EUSAGE, "--cgroup HOSTDIR %s must end in /%s",
				 o->cg[i].hostdir, o->id);
		if (!*o->cg[i].mountname && o->n_cg != 1)
			die_code(VPS_EUSAGE, "an empty MOUNTNAME must be the only --cgroup");
		for (size_t j = 0; j < i; j++)
			if (strcmp(o->cg[i].mountname, o->cg[j].mountname) == 0)
				die_code(VPS_EUSAGE, "--cgroup MOUNTNAME %s given twice",
					 o->cg[i].mountname);
	}
}

/* ------------------------------------------------------------------ monitor: log + state */

static printf_fn(1, 2) void log_event(const char *fmt, ...)
{
	char line[VPS_ERRMSG_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}

static printf_fn(1, 2) void log_warn(const char *fmt, ...)
{
	char msg[VPS_ERRMSG_MAX], esc[VPS_ERRMSG_MAX * 2] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_escape(esc, sizeof(esc), msg);
	log_event("{\"event\":\"warning\",\"message\":\"%s\"}", esc);
}

static void log_error_event(int code, const char *msg)
{
	char esc[VPS_ERRMSG_MAX * 2] = "";

	json_escape(esc, sizeof(esc), msg);
	log_event("{\"event\":\"error\",\"code\":%d,\"message\":\"%s\"}", code, esc);
}

static long long proc_self_starttime(void)
{
	char buf[1024];
	char *p;

	if (read_file_at(AT_FDCWD, "/proc/self/stat", buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')'); /* comm may contain spaces and parens */
	if (!p)
		return -1;
	for (int field = 2; field < 22 && p; field++) /* p points before field 3 after 1st */
		p = strchr(p + 1, ' ');
	return p ? strtoll(p + 1, NULL, 10) : -1;
}

static void write_state(void)
{
	char buf[1024];
	int n, r;

	n = snprintf(buf, sizeof(buf),
		     "{\"id\":\"%s\",\"monitor_pid\":%d,\"monitor_starttime\":%lld,"
		     "\"init_pid\":%d,\"loop\":\"%s\",\"started\":%lld}\n",
		     M.o->id, getpid(), M.starttime, M.init_pid, M.loop_path,
		     (long long)time(NULL));
	cleanup_fd int fd = openat(M.run_fd, "state.json.tmp",
				   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		die_with_error("create state.json.tmp");
	r = write_all(fd, buf, (size_t)n);
	if (r < 0) {
		unlinkat(M.run_fd, "state.json.tmp", 0);
		errno = -r;
		die_with_error("write state.json.tmp");
	}
	if (renameat(M.run_fd, "state.json.tmp", M.run_fd, "state.json") < 0)
		die_with_error("rename state.json");
	M.state_written = true;
}

/* ------------------------------------------------------------------ monitor: image + loop */

static int image_open(void)
{
	struct stat st;
	uint16_t magic = 0;
	int fd;

	fd = open(M.o->image, (M.o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		die_code(VPS_ENOTFOUND, "image %s: not found", M.o->image);
	if (fd < 0)
		die_errno_mapped("open image %s", M.o->image);
	if (fstat(fd, &st) < 0)
		die_with_error("stat image %s", M.o->image);
	if (!S_ISREG(st.st_mode))
		die_code(VPS_EUSAGE, "image %s: not a regular file", M.o->image);
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

static void loop_attach(int img_fd)
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

static void rootfs_mount(void)
{
	char target[32];

	if (mkdir(M.o->rootfs, 0755) < 0 && errno != EEXIST)
		die_errno_mapped("mkdir %s", M.o->rootfs);
	cleanup_fd int t = open(M.o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (t < 0)
		die_errno_mapped("open %s", M.o->rootfs);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", t);
	if (mount(M.loop_path, target, "ext4", MS_NODEV | (M.o->readonly ? MS_RDONLY : 0),
		  "errors=remount-ro") < 0)
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

static void rootfs_unmount(void)
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

/* ------------------------------------------------------------------ monitor: cgroups */

/* Remove hostdir and everything below it; tolerate a missing dir. 0 or -errno. */
static int cgroup_rmtree(const char *hostdir)
{
	cleanup_fd int fd = open(hostdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int r;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = rmdir_children(fd);
	if (r < 0)
		return r;
	if (rmdir(hostdir) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Remove the owned cgroups, retrying EBUSY (tasks still leaving) for CGROUP_DRAIN_MS. */
static void cgroups_remove(bool all)
{
	for (int waited = 0;; waited += 50) {
		int busy = 0, last = 0;
		for (size_t i = 0; i < M.o->n_cg; i++) {
			struct cgroup_arg *cg = &M.o->cg[i];
			int r;
			if (!cg->owned && !all)
				continue;
			r = cgroup_rmtree(cg->hostdir);
			if (r == 0)
				cg->owned = false;
			else if (r == -EBUSY)
				busy++;
			else
				log_warn("remove cgroup %s: %s", cg->hostdir, strerror(-r));
			if (r)
				last = (int)i;
		}
		if (!busy)
			return;
		if (waited >= CGROUP_DRAIN_MS) {
			log_warn("cgroup %s still busy after %d ms; left behind",
				 M.o->cg[last].hostdir, CGROUP_DRAIN_MS);
			return;
		}
		usleep(50000);
	}
}

static void cpuset_fill(int dfd, int parent_fd)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char cur[4096], par[4096];

	for (size_t i = 0; i < 2; i++) {
		ssize_t n = read_file_at(dfd, files[i], cur, sizeof(cur));
		if (n < 0)
			die_with_error("read cgroup %s", files[i]);
		if (n > 0 && cur[0] != '\n')
			continue;
		if (read_file_at(parent_fd, files[i], par, sizeof(par)) < 0)
			die_with_error("read parent cgroup %s", files[i]);
		int r = write_file_at(dfd, files[i], par);
		if (r < 0) {
			errno = -r;
			die_with_error("write cgroup %s", files[i]);
		}
	}
	if (write_file_at(dfd, "cgroup.clone_children", "1") < 0)
		log_warn("cannot set cgroup.clone_children");
}

static void cgroup_create(struct cgroup_arg *cg)
{
	char parent[VPS_PATH_MAX];
	const char *leaf;
	int r;

	snprintf(parent, sizeof(parent), "%s", cg->hostdir);
	*strrchr(parent, '/') = '\0';
	leaf = strrchr(cg->hostdir, '/') + 1;
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		die_code_with_error(errno == ENOENT ? VPS_EHOST : VPS_EFAIL, "mkdir cgroup %s",
				    parent);
	cleanup_fd int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (pfd < 0)
		die_with_error("open cgroup %s", parent);
	if (cg->cpuset) {
		char grand[VPS_PATH_MAX];
		snprintf(grand, sizeof(grand), "%s", parent);
		*strrchr(grand, '/') = '\0';
		cleanup_fd int gfd = open(grand, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (gfd < 0)
			die_with_error("open cgroup %s", grand);
		cpuset_fill(pfd, gfd);
	}
	if (mkdirat(pfd, leaf, 0755) == 0) {
		cg->owned = true;
	} else if (errno == EEXIST) {
		/* Made by TS (limits pre-set) or left by a crash: reuse it if it is idle. */
		cleanup_fd int lfd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lfd < 0)
			die_with_error("open cgroup %s", cg->hostdir);
		if (cgroup_has_tasks(lfd))
			die_code(VPS_ESTATE, "cgroup %s has tasks: container already running?",
				 cg->hostdir);
		r = rmdir_children(lfd);
		if (r < 0)
			die_code(VPS_ESTATE, "cgroup %s: stale sub-cgroup in use (%s)", cg->hostdir,
				 strerror(-r));
	} else {
		die_errno_mapped("mkdir cgroup %s", cg->hostdir);
	}
	if (cg->cpuset) {
		cleanup_fd int lfd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lfd < 0)
			die_with_error("open cgroup %s", cg->hostdir);
		cpuset_fill(lfd, pfd);
	}
}

static void cgroups_attach(pid_t pid)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%d", pid);
	for (size_t i = 0; i < M.o->n_cg; i++) {
		cleanup_fd int fd =
			open(M.o->cg[i].hostdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		int r = fd < 0 ? -errno : write_file_at(fd, "cgroup.procs", buf);
		if (r < 0) {
			errno = -r;
			die_errno_mapped("attach init to cgroup %s", M.o->cg[i].hostdir);
		}
	}
}

/* ------------------------------------------------------------------ monitor: event loop */

static void watch_add(int fd, watch_fn fn)
{
	for (size_t i = 0; i < MAX_WATCHES; i++) {
		if (M.fn[i])
			continue;
		M.pfd[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
		M.fn[i] = fn;
		return;
	}
	die("too many watched fds");
}

static void watch_del(int fd)
{
	for (size_t i = 0; i < MAX_WATCHES; i++) {
		if (M.fn[i] && M.pfd[i].fd == fd) {
			M.fn[i] = NULL;
			M.pfd[i].fd = -1;
		}
	}
}

/* ------------------------------------------------------------------ monitor: console */

static void console_open(void)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	struct termios t;
	struct stat st;

	M.pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (M.pty_master < 0 || grantpt(M.pty_master) < 0 || unlockpt(M.pty_master) < 0)
		die_errno_mapped("allocate console pty");
	/* TIOCGPTPEER opens the very slave of this master, never a look-alike path */
	M.pty_slave = ioctl(M.pty_master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (M.pty_slave < 0)
		die_errno_mapped("open console pty peer");
	if (tcgetattr(M.pty_slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(M.pty_slave, TCSANOW, &t);
	}
	ioctl(M.pty_master, TIOCSWINSZ, &ws);
	fcntl(M.pty_master, F_SETFL, fcntl(M.pty_master, F_GETFL) | O_NONBLOCK);

	M.console_fd = openat(M.run_fd, "console.log",
			      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (M.console_fd < 0)
		die_with_error("open console.log");
	M.console_size = fstat(M.console_fd, &st) == 0 ? st.st_size : 0;
}

static void console_log_append(const char *buf, size_t n)
{
	if (M.console_size + (off_t)n > CONSOLE_LOG_MAX) {
		if (ftruncate(M.console_fd, 0) == 0)
			M.console_size = 0;
	}
	if (write_all(M.console_fd, buf, n) == 0)
		M.console_size += (off_t)n;
}

/* Drain the master completely: systemd blocks on console writes otherwise.
 * Returns -EIO when no slave is open (cannot happen while we hold pty_slave). */
static int console_drain(void)
{
	char buf[8192];

	for (;;) {
		ssize_t n = read(M.pty_master, buf, sizeof(buf));
		if (n > 0) {
			console_log_append(buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n < 0 && errno == EIO ? -EIO : 0;
	}
}

static bool console_watched;

static void on_console(short revents)
{
	if (console_drain() == -EIO && (revents & (POLLHUP | POLLERR))) {
		watch_del(M.pty_master); /* do not spin on a hung-up master */
		console_watched = false;
	}
}

static void console_watch(void)
{
	if (!console_watched) {
		watch_add(M.pty_master, on_console);
		console_watched = true;
	}
}

/* ------------------------------------------------------------------ init child */

static void child_report(int code, const char *msg)
{
	struct sync_msg m = { .type = SYNC_ERROR, .code = code };

	snprintf(m.msg, sizeof(m.msg), "%s", msg);
	if (child_sync_fd >= 0)
		send(child_sync_fd, &m, sizeof(m), MSG_NOSIGNAL);
	_exit(code);
}

/* mkdir rel below root (parent must exist), return an O_PATH fd to mount onto. */
static int mkdir_in_root(int root, const char *rel, mode_t mode)
{
	char parent[VPS_PATH_MAX];
	const char *leaf = rel;
	char *slash;

	snprintf(parent, sizeof(parent), "%s", rel);
	slash = strrchr(parent, '/');
	if (slash) {
		*slash = '\0';
		leaf = rel + (slash + 1 - parent);
	} else {
		snprintf(parent, sizeof(parent), ".");
	}
	cleanup_fd int pfd = open_in_root(root, parent, O_PATH | O_DIRECTORY);
	if (pfd < 0)
		die_with_error("open /%s in rootfs", parent);
	if (mkdirat(pfd, leaf, mode) < 0 && errno != EEXIST)
		die_with_error("mkdir /%s in rootfs", rel);
	int fd = open_in_root(root, rel, O_PATH | O_DIRECTORY);
	if (fd < 0)
		die_with_error("open /%s in rootfs", rel);
	return fd;
}

static void mount_fd(int fd, const char *src, const char *fstype, unsigned long flags,
		     const char *data, const char *what)
{
	char target[32];

	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(src, target, fstype, flags, data) < 0)
		die_with_error("mount %s on %s", fstype ? fstype : src, what);
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

#define MNT_NSNDNE (MS_NOSUID | MS_NODEV | MS_NOEXEC)

static void setup_cgroupfs(int root)
{
	struct opts *o = M.o;

	if (o->n_cg == 0)
		return;
	cleanup_fd int mp = open_in_root(root, "sys/fs/cgroup", O_PATH | O_DIRECTORY);
	if (mp < 0)
		die_with_error("open /sys/fs/cgroup in rootfs");
	if (!*o->cg[0].mountname) { /* pure cgroup2 host */
		mount_fd(mp, "cgroup2", "cgroup2", MNT_NSNDNE, NULL, "/sys/fs/cgroup");
		return;
	}
	mount_fd(mp, "tmpfs", "tmpfs", MNT_NSNDNE, "mode=0755,size=1m", "/sys/fs/cgroup");
	cleanup_fd int tmp = open_in_root(root, "sys/fs/cgroup", O_RDONLY | O_DIRECTORY);
	if (tmp < 0)
		die_with_error("open /sys/fs/cgroup tmpfs");
	for (size_t i = 0; i < o->n_cg; i++) {
		struct cgroup_arg *cg = &o->cg[i];
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

static void setup_dev(int root)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "pts/ptmx", "ptmx" },          { "/proc/self/fd", "fd" },
		{ "/proc/self/fd/0", "stdin" },  { "/proc/self/fd/1", "stdout" },
		{ "/proc/self/fd/2", "stderr" },
	};
	char src[64];

	cleanup_fd int mp = mkdir_in_root(root, "dev", 0755);
	mount_fd(mp, "tmpfs", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536k", "/dev");
	cleanup_fd int dev = open_in_root(root, "dev", O_RDONLY | O_DIRECTORY);
	if (dev < 0)
		die_with_error("open /dev tmpfs");
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
		if (ptsname_r(M.pty_master, name, sizeof(name)) != 0)
			die_with_error("ptsname");
		cleanup_fd int s = open(name, O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0 || fstat(s, &a) < 0 || fstat(M.pty_slave, &b) < 0 ||
		    a.st_rdev != b.st_rdev)
			die("cannot reopen console pty %s", name);
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
}

static void setup_rootfs(void)
{
	cleanup_fd int root = open(M.o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (root < 0)
		die_with_error("open rootfs %s", M.o->rootfs);

	cleanup_fd int proc = mkdir_in_root(root, "proc", 0555);
	mount_fd(proc, "proc", "proc", MNT_NSNDNE, NULL, "/proc");
	cleanup_fd int sys = mkdir_in_root(root, "sys", 0555);
	mount_fd(sys, "sysfs", "sysfs", MS_RDONLY | MNT_NSNDNE, NULL, "/sys");
	setup_cgroupfs(root);
	setup_dev(root);

	/* [slot: confinement stage — R4 masks after every bind mount, R7 caps, R6 seccomp] */

	if (fchdir(root) < 0)
		die_with_error("chdir rootfs");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		die_with_error("pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		die_with_error("detach old root");
	if (chdir("/") < 0)
		die_with_error("chdir /");
}

/* init must not inherit whatever limits the caller of vps-spawn happened to have:
 * give it what a booting PID 1 gets from systemd (NOFILE 1024:524288). */
static void reset_rlimits(void)
{
	struct rlimit nofile = { .rlim_cur = 1024, .rlim_max = 524288 };
	char buf[32];

	if (read_file_at(AT_FDCWD, "/proc/sys/fs/nr_open", buf, sizeof(buf)) > 0 &&
	    strtoull(buf, NULL, 10) < nofile.rlim_max)
		nofile.rlim_max = strtoull(buf, NULL, 10);
	if (setrlimit(RLIMIT_NOFILE, &nofile) == 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return;
	/* no CAP_SYS_RESOURCE to raise the hard limit: keep it, fix the soft one */
	nofile.rlim_cur = nofile.rlim_max < 1024 ? nofile.rlim_max : 1024;
	setrlimit(RLIMIT_NOFILE, &nofile);
}

static noreturn_fn void init_child_main(int sync_fd)
{
	struct sync_msg m;
	size_t hn_len;
	ssize_t n;
	int c;

	child_sync_fd = sync_fd;
	set_die_sink(child_report);
	if (M.result_fd >= 0)
		close(M.result_fd); /* only the monitor may answer the parent */
	M.result_fd = -1;

	do
		n = recv(sync_fd, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		_exit(VPS_EFAIL); /* monitor gone: nobody to tell */
	if (n != sizeof(m) || m.type != SYNC_GO)
		die("sync: expected SYNC_GO");

	/* [slot: --userns stage: unshare(CLONE_NEWUSER), SYNC_USERMAP_REQ/ACK] */

	if (unshare(CLONE_NEWCGROUP) < 0)
		die_code_with_error(VPS_EHOST, "unshare cgroup namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die_with_error("make / rprivate");
	/* the kernel keeps 64 bytes: a longer FQDN is set by its first label */
	hn_len = strlen(M.o->hostname);
	if (hn_len > HOST_NAME_MAX)
		hn_len = strcspn(M.o->hostname, ".");
	if (sethostname(M.o->hostname, hn_len) < 0)
		die_with_error("sethostname");
	setup_rootfs();

	if (setsid() < 0)
		die_with_error("setsid");
	c = open("/dev/console", O_RDWR | O_NOCTTY);
	if (c < 0)
		die_with_error("open /dev/console");
	if (ioctl(c, TIOCSCTTY, 1) < 0)
		die_with_error("TIOCSCTTY /dev/console");
	if (dup2(c, 0) < 0 || dup2(c, 1) < 0 || dup2(c, 2) < 0)
		die_with_error("dup2 console");
	/* from here stderr is the console; errors still reach the monitor via sync_fd */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		die_code_with_error(VPS_EHOST, "close_range");
	reset_signals();
	reset_rlimits();
	{ /* a monitor that died after SYNC_GO must not leave an orphan container behind */
		struct pollfd p = { .fd = sync_fd, .events = POLLIN };
		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLIN)))
			_exit(VPS_EFAIL);
	}

	char *argv[] = { (char *)M.o->init, NULL };
	execve(M.o->init, argv, (char *const *)init_env);
	die_code_with_error(errno == ENOENT ? VPS_ENOTFOUND : VPS_EFAIL, "exec %s", M.o->init);
}

/* ------------------------------------------------------------------ monitor: boot */

/* Clone init, attach it to the cgroups, SYNC_GO, wait for exec (EOF) or SYNC_ERROR. */
static void start_init(void)
{
	struct clone_args ca = {
		.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET,
		.exit_signal = SIGCHLD,
	};
	struct sync_msg m = { .type = SYNC_GO };
	struct pollfd p;
	int sv[2], st;
	pid_t pid;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die_errno_mapped("socketpair");
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid < 0)
		die_errno_mapped("clone init");
	if (pid == 0) {
		close(sv[0]);
		init_child_main(sv[1]);
	}
	close(sv[1]);
	M.init_pid = pid;
	M.sync_fd = sv[0];

	cgroups_attach(pid);
	if (send(M.sync_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
		die_with_error("sync: send SYNC_GO");

	p = (struct pollfd){ .fd = M.sync_fd, .events = POLLIN };
	n = poll(&p, 1, INIT_START_TIMEOUT);
	if (n == 0)
		die("init did not exec within %d s", INIT_START_TIMEOUT / 1000);
	do
		n = recv(M.sync_fd, &m, sizeof(m), 0);
	while (n < 0 && errno == EINTR);
	close(M.sync_fd);
	M.sync_fd = -1;
	if (n == sizeof(m) && m.type == SYNC_ERROR) {
		m.msg[sizeof(m.msg) - 1] = '\0';
		die_code(m.code > 0 && m.code < 126 ? m.code : VPS_EFAIL, "%s", m.msg);
	}
	if (n != 0)
		die("sync: unexpected message from init");
	/* EOF: exec'd, or died before saying anything */
	if (waitpid(pid, &st, WNOHANG) == pid) {
		M.init_pid = -1;
		die("init exited during startup (status 0x%x)", st);
	}
	console_drain();
}

/* ------------------------------------------------------------------ monitor: teardown */

static void teardown(bool all_cgroups)
{
	if (M.init_pid > 0) {
		kill(M.init_pid, SIGKILL);
		waitpid(M.init_pid, NULL, 0);
		M.init_pid = -1;
	}
	if (M.pty_master >= 0)
		console_drain();
	cgroups_remove(all_cgroups);
	rootfs_unmount();
	if (M.run_fd >= 0 && M.state_written) {
		unlinkat(M.run_fd, "state.json", 0);
		M.state_written = false;
	}
}

/* die sink of the monitor: roll back, then tell the parent (setup) or the log (runtime). */
static void monitor_failed(int code, const char *msg)
{
	bool setup = M.result_fd >= 0;

	if (M.log_ready)
		log_error_event(code, msg);
	teardown(!setup);
	if (setup)
		dprintf(M.result_fd, "err %d %s\n", code, msg);
	else
		log_event("{\"event\":\"stopped\"}");
	_exit(code);
}

static noreturn_fn void shutdown_and_exit(void)
{
	teardown(true);
	log_event("{\"event\":\"stopped\"}");
	_exit(VPS_OK);
}

static void on_init_exit(int status)
{
	M.init_pid = -1;
	console_drain();
	if (WIFSIGNALED(status))
		log_event("{\"event\":\"init-exited\",\"signal\":%d}", WTERMSIG(status));
	else
		log_event("{\"event\":\"init-exited\",\"code\":%d}", WEXITSTATUS(status));

	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGHUP || M.stopping)
		shutdown_and_exit();

	/* reboot(2) inside the pid ns: fresh namespaces, same mount, same cgroups */
	log_event("{\"event\":\"rebooting\"}");
	for (size_t i = 0; i < M.o->n_cg; i++) {
		cleanup_fd int fd =
			open(M.o->cg[i].hostdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		int r = fd < 0 ? -errno : rmdir_children(fd);
		if (r < 0)
			log_warn("clear sub-cgroups of %s: %s", M.o->cg[i].hostdir, strerror(-r));
	}
	start_init();
	write_state();
	console_watch();
	log_event("{\"event\":\"started\",\"init_pid\":%d}", M.init_pid);
}

static void on_signal(short revents)
{
	struct signalfd_siginfo si;
	int st;
	pid_t p;

	(void)revents;
	while (read(M.sig_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			while ((p = waitpid(-1, &st, WNOHANG)) > 0)
				if (p == M.init_pid)
					on_init_exit(st);
			break;
		case SIGTERM:
		case SIGINT:
			log_event("{\"event\":\"emergency-stop\",\"signal\":%u}", si.ssi_signo);
			M.stopping = true;
			if (M.init_pid > 0)
				kill(M.init_pid, SIGKILL);
			break;
		default: /* SIGHUP: a daemon has no terminal to lose */
			break;
		}
	}
}

/* ------------------------------------------------------------------ monitor: main */

static noreturn_fn void monitor_main(struct opts *o, int result_fd)
{
	sigset_t mask;
	int fd;

	M.o = o;
	if (result_fd != 3) {
		if (dup3(result_fd, 3, O_CLOEXEC) < 0)
			_exit(VPS_EFAIL);
		close(result_fd);
	}
	M.result_fd = 3;
	set_die_sink(monitor_failed);

	if (setsid() < 0)
		die_with_error("setsid");
	if (close_range(4, ~0U, 0) < 0)
		die_code_with_error(VPS_EHOST, "close_range");
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (chdir("/") < 0)
		die_with_error("chdir /");
	umask(022);

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		die_with_error("/dev/null");
	close(fd);
	if (mkdir(o->run_dir, 0755) < 0 && errno != EEXIST)
		die_errno_mapped("mkdir %s", o->run_dir);
	M.run_fd = open(o->run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (M.run_fd < 0)
		die_errno_mapped("open %s", o->run_dir);
	fd = openat(M.run_fd, "monitor.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0640);
	if (fd < 0 || dup2(fd, 2) < 0)
		die_with_error("open monitor.log");
	close(fd);
	M.log_ready = true;
	M.starttime = proc_self_starttime();

	if (unshare(CLONE_NEWNS) < 0)
		die_code_with_error(VPS_EHOST, "unshare mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		die_with_error("make / rslave");

	{
		cleanup_fd int img = image_open();
		loop_attach(img);
	}
	rootfs_mount();
	for (size_t i = 0; i < o->n_cg; i++)
		cgroup_create(&o->cg[i]);
	console_open();
	M.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (M.sig_fd < 0)
		die_errno_mapped("signalfd");

	start_init();
	write_state();
	log_event("{\"event\":\"started\",\"init_pid\":%d}", M.init_pid);

	/* RESULT_OK: from now on the container is ours to tear down completely */
	if (dprintf(M.result_fd, "ok %d %s\n", M.init_pid, M.loop_path) < 0) {
		/* the parent is gone (EPIPE): nobody knows about this container, undo it */
		for (size_t i = 0; i < o->n_cg; i++)
			o->cg[i].owned = true;
		die("parent went away before RESULT_OK: %s", strerror(errno));
	}
	close(M.result_fd);
	M.result_fd = -1;
	for (size_t i = 0; i < o->n_cg; i++)
		o->cg[i].owned = true;

	watch_add(M.sig_fd, on_signal);
	console_watch();
	/* [slot: console.sock listener — watch_add(listen_fd, on_console_client)] */
	for (;;) {
		if (poll(M.pfd, MAX_WATCHES, -1) < 0) {
			if (errno == EINTR)
				continue;
			die_with_error("poll");
		}
		for (size_t i = 0; i < MAX_WATCHES; i++)
			if (M.fn[i] && M.pfd[i].revents)
				M.fn[i](M.pfd[i].revents);
	}
}

/* ------------------------------------------------------------------ parent */

static noreturn_fn void parent_main(struct opts *o)
{
	char buf[VPS_ERRMSG_MAX + 64];
	size_t len = 0;
	int p[2], st, code;
	pid_t pid;

	while ((code = open("/dev/null", O_RDWR)) >= 0 && code < 3)
		; /* make sure 0..2 are taken, so our pipe is not somebody's stdio */
	if (code >= 3)
		close(code);
	if (pipe2(p, O_CLOEXEC) < 0)
		die_errno_mapped("pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die_errno_mapped("fork monitor");
	if (pid == 0) {
		close(p[0]);
		monitor_main(o, p[1]);
	}
	close(p[1]);

	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		ssize_t n;
		int r = poll(&pf, 1, PARENT_TIMEOUT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			die("monitor did not report within %d s; killed it", PARENT_TIMEOUT / 1000);
		}
		n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n') || len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (strchr(buf, '\n'))
		*strchr(buf, '\n') = '\0';

	if (has_prefix(buf, "ok ")) {
		int init_pid;
		char loop[32];
		if (sscanf(buf, "ok %d %31s", &init_pid, loop) == 2) {
			printf("{\"monitor_pid\":%d,\"init_pid\":%d,\"loop\":\"%s\"}\n", pid,
			       init_pid, loop);
			if (fflush(stdout) == 0)
				exit(VPS_OK);
		}
	}
	waitpid(pid, &st, 0);
	if (has_prefix(buf, "err ")) {
		char *msg = NULL;
		code = (int)strtol(buf + 4, &msg, 10);
		if (code <= 0 || code > 125)
			code = VPS_EFAIL;
		die_code(code, "%s", *msg == ' ' ? msg + 1 : msg);
	}
	if (WIFSIGNALED(st))
		die("monitor was killed by signal %d before reporting", WTERMSIG(st));
	die("monitor exited (status %d) without reporting", WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
	static struct opts o;

	prog_name = "vps-spawn";
	parse_args(&o, argc, argv);
	if (geteuid() != 0)
		die_code(VPS_EHOST, "must run as root");
	parent_main(&o);
}
