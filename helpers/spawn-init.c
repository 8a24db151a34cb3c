/* spawn-init.c — the init child, and the boot that makes it (see vps-spawn.c). */
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
#include <sys/prctl.h>
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

static const char *const init_env[] = {
	"container=vpsctl",
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=linux",
	"container_ttys=",
	NULL,
};

/* Messages on the monitor <-> init sync socket (SOCK_SEQPACKET: one message per read). */
enum sync_type {
	SYNC_GO = 1,          /* monitor -> init: cgroups attached, build the container and exec */
	SYNC_ERROR = 2,       /* init -> monitor: setup failed; code + message; init then exits */
	SYNC_USERMAP_REQ = 3, /* init -> monitor: in my new user ns, please write my id maps */
	SYNC_USERMAP_ACK = 4, /* monitor -> init: uid_map and gid_map are written */
};

struct sync_msg {
	uint32_t type;
	int32_t code;
	char msg[VPS_ERRMSG_MAX];
};

static int child_sync_fd = -1; /* init child side */

/* ------------------------------------------------------------------ init child */

static void child_report(int code, const char *msg)
{
	struct sync_msg m = { .type = SYNC_ERROR, .code = code };

	snprintf(m.msg, sizeof(m.msg), "%s", msg);
	if (child_sync_fd >= 0)
		send(child_sync_fd, &m, sizeof(m), MSG_NOSIGNAL);
	_exit(code);
}

/* init must not inherit whatever limits the caller of vps-spawn happened to have:
 * give it what a booting PID 1 gets from systemd (NOFILE 1024:524288). */
static void reset_rlimits(void)
{
	struct rlimit nofile = { .rlim_cur = 1024, .rlim_max = 524288 };
	char buf[32];

	if (M.o->nofile) {
		/* the plan's open-files limit, soft and hard: refused if the host cannot give it */
		struct rlimit want = { .rlim_cur = M.o->nofile, .rlim_max = M.o->nofile };
		if (setrlimit(RLIMIT_NOFILE, &want) < 0) {
			getrlimit(RLIMIT_NOFILE, &nofile);
			die_code(VPS_EHOST,
				 "cannot set the open-files limit to %lu: %s (hard limit here: "
				 "%llu)",
				 M.o->nofile, strerror(errno), (unsigned long long)nofile.rlim_max);
		}
		return;
	}
	if (read_file_at(AT_FDCWD, "/proc/sys/fs/nr_open", buf, sizeof(buf)) > 0 &&
	    strtoull(buf, NULL, 10) < nofile.rlim_max)
		nofile.rlim_max = strtoull(buf, NULL, 10);
	if (setrlimit(RLIMIT_NOFILE, &nofile) == 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return;
	/* no CAP_SYS_RESOURCE to raise the hard limit: keep it, fix the soft one */
	nofile.rlim_cur = nofile.rlim_max < 1024 ? nofile.rlim_max : 1024;
	setrlimit(RLIMIT_NOFILE, &nofile);
}

/* Receive one sync message within timeout_ms (-1: no limit). The message length, 0 at
 * EOF (the peer exec'd or died), -1 with errno (ETIMEDOUT). */
static ssize_t sync_recv(int fd, struct sync_msg *m, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	do
		n = recv(fd, m, sizeof(*m), 0);
	while (n < 0 && errno == EINTR);
	return n;
}

/* init side: the next message must be `want`; a monitor gone means nobody to tell. */
static void child_expect(int sync_fd, uint32_t want, const char *name)
{
	struct sync_msg m;
	ssize_t n = sync_recv(sync_fd, &m, -1);

	if (n <= 0)
		_exit(VPS_EFAIL);
	if (n != sizeof(m) || m.type != want)
		die("sync: expected %s", name);
}

static noreturn_fn void init_child_main(int sync_fd)
{
	size_t hn_len;
	int c, r;

	child_sync_fd = sync_fd;
	set_die_sink(child_report);
	if (M.result_fd >= 0)
		close(M.result_fd); /* only the monitor may answer the parent */
	M.result_fd = -1;
	/* open the rootfs while our ids are still the host's root: the run dir above it may
	 * be 0700, and in userns mode we are about to become HOSTUID */
	int rootfs_fd = open(M.o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (rootfs_fd < 0)
		die_with_error("open rootfs %s", M.o->rootfs);

	if (M.o->userns) {
		struct sync_msg m = { .type = SYNC_USERMAP_REQ };
		if (send(sync_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
			_exit(VPS_EFAIL);
		child_expect(sync_fd, SYNC_USERMAP_ACK, "SYNC_USERMAP_ACK");
		/* root of the new namespace = HOSTUID:HOSTGID on the host; the capabilities we
		 * hold in this namespace stay (the old ids were not its root) */
		if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
			die_with_error("become root of the container's user namespace");
	}
	child_expect(sync_fd, SYNC_GO, "SYNC_GO");

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
	rootfs_build(M.o, rootfs_fd, M.pty_master, M.pty_slave);
	close(rootfs_fd);

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
	/* init dies with its monitor, as on a power cut: a container nobody holds, whose loop
	 * device, mounts and cgroups nobody tears down, must not go on running. Set here, after
	 * the last change of credentials (which would clear it), and kept across execve. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		die_with_error("PR_SET_PDEATHSIG");
	{ /* a monitor that died after SYNC_GO (before the line above) must not leave an orphan either */
		struct pollfd p = { .fd = sync_fd, .events = POLLIN };
		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLIN)))
			_exit(VPS_EFAIL);
	}

	/* last: a keyring of its own (R13), the R7 capability bounding set, then the R6
	 * filter, then execve */
	if ((r = confine_keyring()) < 0) {
		errno = -r;
		die_with_error("join a new session keyring");
	}
	if ((r = confine_caps(0)) < 0) {
		errno = -r;
		die_with_error("drop capabilities");
	}
	if (M.o->seccomp && (r = confine_seccomp(keyring_rule(M.o->userns, M.o->keyctl))) < 0) {
		errno = -r;
		die_code_with_error(VPS_EHOST, "load the seccomp filter");
	}
	char *argv[] = { (char *)M.o->init, NULL };
	execve(M.o->init, argv, (char *const *)init_env);
	die_code_with_error(errno == ENOENT ? VPS_ENOTFOUND : VPS_EFAIL, "exec %s", M.o->init);
}

/* ------------------------------------------------------------------ monitor: boot */

/* Write "0 HOSTUID COUNT" / "0 HOSTGID COUNT" for pid's user namespace. As the host's
 * root we may map any range and leave /proc/PID/setgroups at "allow" (systemd needs it). */
static void write_id_maps(pid_t pid)
{
	static const char *const files[] = { "uid_map", "gid_map" };
	char path[64], map[64];

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		snprintf(map, sizeof(map), "0 %u %u\n", i ? M.o->host_gid : M.o->host_uid,
			 M.o->id_count);
		cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);
		int r = fd < 0 ? -errno : write_all(fd, map, strlen(map));
		if (r < 0) {
			errno = -r;
			die_with_error("write %s", path);
		}
	}
}

/* A user namespace with the container's mapping, for MOUNT_ATTR_IDMAP only: a child
 * that is born in it and waits; we write its maps, keep an fd to the namespace, and let
 * the child go. Made once; every boot's idmapped mount uses it. */
void idmap_userns_create(void)
{
	struct clone_args ca = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	char path[64], c;
	int p[2], err;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		die_errno_mapped("pipe");
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	if (pid < 0)
		die_code_with_error(VPS_EHOST, "create a user namespace for the idmapped mount");
	write_id_maps(pid);
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	M.idmap_userns = open(path, O_RDONLY | O_CLOEXEC);
	err = errno;
	close(p[1]);
	waitpid(pid, NULL, 0);
	if (M.idmap_userns < 0) {
		errno = err;
		die_with_error("open %s", path);
	}
}

/* Back from the stage into the monitor's own mount namespace (the stage dies with it). */
int stage_leave(void)
{
	if (!M.staged)
		return 0;
	M.staged = false;
	if (setns(M.home_mntns, CLONE_NEWNS) < 0 || chdir("/") < 0)
		return -errno;
	return 0;
}

static void open_home_mntns(void)
{
	if (M.home_mntns < 0) {
		M.home_mntns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
		if (M.home_mntns < 0)
			die_with_error("open /proc/self/ns/mnt");
	}
}

/* --bind: a clone of each host directory, made in the host's mount namespace (marked as
 * staged meanwhile, so that a rollback returns home before it unmounts anything). */
static void binds_clone(int trees[MAX_BINDS])
{
	int r;

	if (!M.o->n_bind)
		return;
	open_home_mntns();
	M.staged = true;
	if (setns(M.host_mntns, CLONE_NEWNS) < 0)
		die_with_error("enter the host's mount namespace");
	for (size_t i = 0; i < M.o->n_bind; i++)
		trees[i] = bind_clone(&M.o->bind[i]);
	if ((r = stage_leave()) < 0) {
		errno = -r;
		die_with_error("return to the monitor's mount namespace");
	}
}

/* --bind, in the stage over the rootfs just put there: each clone onto its target. */
static void binds_attach(int trees[MAX_BINDS])
{
	bool userns = M.o->userns;

	if (!M.o->n_bind)
		return;
	cleanup_fd int root = open(M.o->rootfs, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root < 0)
		die_with_error("open %s in the stage", M.o->rootfs);
	for (size_t i = 0; i < M.o->n_bind; i++) {
		bind_attach(&M.o->bind[i], root, trees[i], userns ? M.idmap_userns : -1,
			    M.o->allow_missing & FEAT_IDMAP, userns ? M.o->host_uid : 0,
			    userns ? M.o->host_gid : 0);
		close(trees[i]);
		trees[i] = -1;
	}
}

/* The mount namespace the init child will copy: a throw-away one where a clone of the
 * host-side mount sits over <rootfs> with suid allowed (nodev kept), idmapped to the
 * container's ids in idmap mode. In userns mode the child's copy belongs to its new user
 * namespace, so the kernel locks all of it: nodev/ro cannot be cleared from inside. */
void stage_root(void)
{
	struct mount_attr a = {
		.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV,
		.attr_clr = MOUNT_ATTR_NOSUID,
		.userns_fd = (uint64_t)M.idmap_userns,
	};

	open_home_mntns();
	if (unshare(CLONE_NEWNS) < 0)
		die_code_with_error(VPS_EHOST, "unshare the stage mount namespace");
	M.staged = true;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die_with_error("make the stage rprivate");
	cleanup_fd int tree = open_tree(AT_FDCWD, M.o->rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		die_code_with_error(errno == ENOSYS ? VPS_EHOST : VPS_EFAIL, "open_tree %s",
				    M.o->rootfs);
	if (M.o->idmap && mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		int err = errno;
		if (err != EINVAL && err != ENOSYS && err != EOPNOTSUPP)
			die_with_error("idmap the rootfs clone");
		if (!(M.o->allow_missing & FEAT_IDMAP))
			die_code(VPS_EHOST,
				 "idmap is missing: the kernel refused an idmapped ext4 mount: %s "
				 "(start with --unsafe-allow-missing idmap to run without it; "
				 "--no-idmap is for images whose ids were shifted)",
				 strerror(err));
		log_warn("unsafe: idmap is missing: idmapped mount refused (%s); running without "
			 "it (--unsafe-allow-missing idmap)",
			 strerror(err));
		M.o->idmap = false;
	}
	if (move_mount(tree, "", AT_FDCWD, M.o->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		die_with_error("move the rootfs clone onto %s", M.o->rootfs);
	/* without idmap: the same per-mount flags by a bind remount (any kernel with
	 * open_tree, 5.2+); the host-side view below keeps nosuid */
	if (!M.o->idmap &&
	    mount(NULL, M.o->rootfs, NULL,
		  MS_REMOUNT | MS_BIND | MS_NODEV | (M.o->readonly ? MS_RDONLY : 0), NULL) < 0)
		die_with_error("allow suid on the rootfs clone");
}

/* init's answer to a request: die with its SYNC_ERROR, or when it died or hung. */
static void init_answer(ssize_t n, struct sync_msg *m, const char *waiting_for)
{
	if (n < 0 && errno == ETIMEDOUT)
		die("init did not %s within %d s", waiting_for, INIT_START_TIMEOUT / 1000);
	if (n == sizeof(*m) && m->type == SYNC_ERROR) {
		m->msg[sizeof(m->msg) - 1] = '\0';
		die_code(m->code > 0 && m->code < 126 ? m->code : VPS_EFAIL, "%s", m->msg);
	}
	if (n < 0)
		die_with_error("sync: recv");
}

#define NET_HELPER_TIMEOUT 20000 /* ms */

/* The container's network for this boot: `vps-net up --pid PID --spec FILE`, run by the
 * monitor (the host's root, in the host's network namespace) while init waits for SYNC_GO.
 * Its last stderr line and exit code become the boot's error. */
static void net_up(pid_t pid)
{
	char pidbuf[16];

	if (!M.o->net_helper)
		return;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	char *const argv[] = { (char *)"vps-net", (char *)"up",	  (char *)"--pid", pidbuf,
			       (char *)"--spec",  (char *)M.o->net_spec, NULL };
	run_helper(M.o->net_helper, argv, NULL, 0, NET_HELPER_TIMEOUT, "network");
}

/* The container's limits into its cgroups before init is born (R12): vps-limit apply with
 * the arguments vpsctl gave, plus the loop device for IO throttles. Its JSON result goes
 * back to vpsctl with RESULT_OK (the limits it had to skip, and why). */
void limits_apply(void)
{
	char *argv[MAX_LIMIT_ARGS + 4], dev[32];
	size_t n = 0;
	struct stat st;

	if (!M.o->limit_helper)
		return;
	argv[n++] = (char *)"vps-limit";
	for (size_t i = 0; i < M.o->n_limit_args; i++)
		argv[n++] = (char *)M.o->limit_args[i];
	if (M.o->limit_io_device) {
		/* the loop fd is closed once mounted (the mount holds the device): by its path */
		if (stat(M.loop_path, &st) < 0 || !S_ISBLK(st.st_mode))
			die_errno_mapped("stat %s", M.loop_path);
		snprintf(dev, sizeof(dev), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
		argv[n++] = (char *)"--io-device";
		argv[n++] = dev;
	}
	argv[n] = NULL;
	run_helper(M.o->limit_helper, argv, M.limits_json, sizeof(M.limits_json),
		   NET_HELPER_TIMEOUT, "limits");
	M.limits_json[strcspn(M.limits_json, "\n")] = '\0';
	if (M.limits_json[0] != '{' || M.limits_json[strlen(M.limits_json) - 1] != '}')
		M.limits_json[0] = '\0'; /* not one whole JSON object: nothing to pass on */
}

/* Stage, clone init, (userns) write its id maps, attach it to the cgroups, SYNC_GO, wait
 * for exec (EOF) or SYNC_ERROR. */
void start_init(void)
{
	struct clone_args ca = {
		.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
			 (M.o->userns ? CLONE_NEWUSER : 0),
		.exit_signal = SIGCHLD,
	};
	struct sync_msg m;
	int sv[2], st, err, r;
	pid_t pid;
	ssize_t n;

	int trees[MAX_BINDS];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die_errno_mapped("socketpair");
	binds_clone(trees);
	stage_root();
	binds_attach(trees);
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(sv[0]);
		init_child_main(sv[1]);
	}
	err = errno;
	close(sv[1]);
	if ((r = stage_leave()) < 0) {
		errno = -r;
		die_with_error("return to the monitor's mount namespace");
	}
	if (pid < 0) {
		errno = err;
		die_errno_mapped("clone init");
	}
	M.init_pid = pid;
	M.sync_fd = sv[0];

	if (M.o->userns) {
		n = sync_recv(M.sync_fd, &m, INIT_START_TIMEOUT);
		init_answer(n, &m, "ask for its id maps");
		if (n != sizeof(m) || m.type != SYNC_USERMAP_REQ)
			die("sync: expected SYNC_USERMAP_REQ from init");
		write_id_maps(pid);
		m = (struct sync_msg){ .type = SYNC_USERMAP_ACK };
		if (send(M.sync_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
			die_with_error("sync: send SYNC_USERMAP_ACK");
	}
	cgroups_attach(M.o, pid);
	net_up(pid);
	m = (struct sync_msg){ .type = SYNC_GO };
	if (send(M.sync_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
		die_with_error("sync: send SYNC_GO");

	n = sync_recv(M.sync_fd, &m, INIT_START_TIMEOUT);
	close(M.sync_fd);
	M.sync_fd = -1;
	init_answer(n, &m, "exec");
	if (n != 0)
		die("sync: unexpected message from init");
	/* EOF: exec'd, or died before saying anything */
	if (waitpid(pid, &st, WNOHANG) == pid) {
		M.init_pid = -1;
		die("init exited during startup (status 0x%x)", st);
	}
	console_drain(false);
}
