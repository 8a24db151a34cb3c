/* vps-enter — run a command inside a running container.
 *
 *   vps-enter --pid INIT_HOST_PID [--cgroup HOSTDIR]... [--cwd DIR] [--env K=V]...
 *             [--user NAME|UID] [--pty] [--keyctl] (-- CMD [ARGS...] | --login)
 *
 * --keyctl says the container's init runs with the keyring calls allowed (its keyctl
 * feature: vpsctl reads it from the monitor's state.json), so the command gets the same
 * filter; without it an unprivileged container's command sees them as absent (ENOSYS), as
 * init does. A container without a user namespace is refused them (EPERM) either way.
 * --user runs the command as that user of the container's /etc/passwd (its uid, gid and
 * the groups /etc/group lists it in; HOME, USER, LOGNAME and SHELL set; the working
 * directory its home unless --cwd says otherwise). --login runs the user's shell (root's
 * without --user) as a login shell, as `vpsctl enter` does. --pty gives the command a new
 * terminal allocated in the container's own /dev/pts, so that `tty` names it and it is the
 * container's, never the caller's; its size is copied from our stdin (or stdout) and
 * follows SIGWINCH. Without --pty the command gets three new pipes. Either way we relay
 * between our stdin/stdout/stderr and them: a container process never holds a descriptor
 * of the host's (a terminal it could TIOCSTI into, a file it could reopen).
 *
 * 1. If /proc/self/exe is not a sealed memfd, copy ourselves into one and re-exec from it
 *    (R3, CVE-2019-5736: a container process must never get a writable handle on the
 *    host's helper binary through /proc/PID/exe of our forked child).
 * 2. PR_SET_DUMPABLE 0 (before any setns: a container process must never ptrace us; our
 *    mm belongs to the host's user namespace, so not even the container's root can);
 *    open /proc/PID/ns/{user,ipc,uts,net,cgroup,pid,mnt} up front and read the init's
 *    Seccomp mode and CapBnd from /proc/PID/status.
 * 3. Open the container's cgroup directories, setns(pid) (for the child to be born in).
 * 4. fork while still in the host's cgroups, so that a container at its pids limit stays
 *    reachable (moving a task into a full pids cgroup is allowed, forking in one is not);
 *    write the child's pid into each HOSTDIR/cgroup.procs as the host's root, then let it
 *    go. The parent never enters the container. The child: setsid() at once (no
 *    controlling terminal of the host's, CVE-2017-5226), its pipes on 0/1/2, signals
 *    unblocked (a tenant that stalls it can still be killed); when the
 *    container has its own user namespace, setns into it FIRST and become its root
 *    (setresgid/setgroups/setresuid 0: HOSTUID on the host), then setns ipc, uts, net,
 *    cgroup, mnt; read /etc/passwd and /etc/group below the container's root (never
 *    through NSS: that would load the tenant's libraries into us); open the cwd below the
 *    container's root with openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS), fchdir to it
 *    and check getcwd() (CVE-2024-21626: never keep a host cwd; a tenant's
 *    /root -> /proc/self/fd/N link is refused). With --pty it opens the container's
 *    /dev/pts/ptmx (checked: a devpts pty master, and again by the parent), hands the
 *    master to the parent (SCM_RIGHTS) and makes the peer its controlling terminal on
 *    0/1/2. Until then its 0/1/2 are pipes too, never our descriptors.
 *    Then it closes every fd above 2, gets a clean environment, takes the container
 *    init's confinement (confine.c: the same capability bounding set, R7, and the same
 *    seccomp filter when init has one, R6, the keyring calls as --keyctl says), becomes
 *    the user, and execvp()s CMD (127 not found, 126 cannot execute; 3 for a user not in
 *    /etc/passwd).
 * 5. The parent relays in one poll loop (the command's side is nonblocking; our stdout and
 *    stderr are written as they take it), puts a terminal on our stdin into raw mode for
 *    --pty (first thing, so no key reaches it cooked; an end of file read before is passed
 *    on as a Ctrl-D; a pipe's end is a Ctrl-D too, two after an unfinished line) and
 *    restores it (die() included), forwards SIGINT, SIGTERM, SIGHUP and SIGQUIT
 *    to the child's process group (a second SIGTERM or SIGHUP is a SIGKILL: for a command
 *    that ignores it, or one a tenant stopped), makes SIGWINCH a resize of the container's
 *    pty, and exits with the child's status, or 128+N when signal N killed it. A child that
 *    does not hand over its pty within 30 s (a tenant can stall it) is killed. After the
 *    child's end it passes on what the command left in the pipes or pty: what we hold and
 *    what was in them at its end in full, however slow our reader, and then until end of
 *    file, 100 ms of silence, or 2 s (a background process that keeps them open does not
 *    keep us).
 */
#define _GNU_SOURCE
#include "common.h"
#include "confine.h"
#include "enter.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef DEVPTS_SUPER_MAGIC
#define DEVPTS_SUPER_MAGIC 0x1cd1
#endif

#define MAX_GROUPS     64
#define DB_MAX         (4 * 1024 * 1024) /* /etc/passwd, /etc/group: read at most this */
#define RELAY_BUF      65536
#define DRAIN_IDLE     100   /* ms of silence after the child's end that ends the relay */
#define DRAIN_MAX      2000  /* ms after the child's end at most, beyond what it left */
#define MASTER_WAIT_MS 30000 /* ms the child may take to hand over its pty */
#define SELF_SEALS     (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

static const char *const ns_order[] = { "ipc", "uts", "net", "cgroup", "pid", "mnt" };
#define NS_PID 4 /* index of "pid" above */
#define N_NS   (sizeof(ns_order) / sizeof(ns_order[0]))

static const int fwd_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH };
#define N_FWD (sizeof(fwd_signals) / sizeof(fwd_signals[0]))

static volatile pid_t child_pid;
static volatile int pty_master = -1; /* the parent's end of the container's pty (--pty) */

/* What the container's init runs under; vps-enter's command gets the same. */
struct confinement {
	bool userns;                /* the container has its own user namespace */
	bool seccomp;               /* init runs under a seccomp filter */
	unsigned long long cap_bnd; /* init's capability bounding set */
};

/* The container's user the command runs as. */
struct user {
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	size_t n_groups;
	char name[256];
	char home[VPS_PATH_MAX];
	char shell[VPS_PATH_MAX];
};

/* R3: run from a sealed memfd copy so /proc/<our child>/exe never leads to the host file. */
static void reexec_sealed_copy(char **argv)
{
	cleanup_fd int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct stat st;
	int mfd, seals;

	if (self < 0)
		die_code_with_error(VPS_EHOST, "open /proc/self/exe");
	seals = fcntl(self, F_GET_SEALS);
	if (seals >= 0 && (seals & SELF_SEALS) == SELF_SEALS)
		return; /* already running from the sealed copy */
	if (fstat(self, &st) < 0)
		die_with_error("stat /proc/self/exe");
	mfd = memfd_create("vps-enter", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
	if (mfd < 0 && errno == EINVAL) /* kernel before 6.3 */
		mfd = memfd_create("vps-enter", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		die_errno_mapped("memfd_create");
	for (off_t left = st.st_size; left > 0;) {
		ssize_t n = sendfile(mfd, self, NULL, (size_t)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die_with_error("copy self to memfd");
		left -= n;
	}
	if (fcntl(mfd, F_ADD_SEALS, SELF_SEALS) < 0)
		die_with_error("seal memfd");
	fexecve(mfd, argv, environ);
	die_with_error("re-exec from memfd");
}

/* Read init's Seccomp mode and CapBnd from /proc/PID/status, and whether its user ns is
 * another than ours. */
static void read_confinement(int proc, int user_fd, struct confinement *c)
{
	char buf[8192], *p;
	struct stat a, b;

	if (fstat(user_fd, &a) < 0 || stat("/proc/self/ns/user", &b) < 0)
		die_with_error("stat user namespaces");
	c->userns = a.st_dev != b.st_dev || a.st_ino != b.st_ino;
	if (read_file_at(proc, "status", buf, sizeof(buf)) < 0)
		die_errno_mapped("read /proc/PID/status");
	p = strstr(buf, "\nSeccomp:");
	c->seccomp = p && strtol(p + 9, NULL, 10) == 2;
	p = strstr(buf, "\nCapBnd:");
	if (!p)
		die("no CapBnd in /proc/PID/status");
	c->cap_bnd = strtoull(p + 8, NULL, 16);
}

/* ------------------------------------------------------------------ child: the user */

/* Read a small regular file below the container's root (never a FIFO or a device a
 * tenant put there). Returns a malloc'd NUL-terminated buffer, or NULL with errno. */
static char *read_db(int root, const char *rel)
{
	cleanup_fd int fd = open_in_root(root, rel, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	char *buf;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		return NULL;
	if (!S_ISREG(st.st_mode) || st.st_size > DB_MAX) {
		errno = EINVAL;
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf && read_all(fd, buf, (size_t)st.st_size + 1) < 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Split line at ':' into at most max fields (the last keeps the rest). Field count. */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;

	f[n++] = line;
	for (char *p = line; *p && n < max; p++)
		if (*p == ':') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n;
}

static bool parse_id(const char *s, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= 0xffffffffUL)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool member_of(char *members, const char *name)
{
	char *save = NULL;

	for (char *m = strtok_r(members, ",", &save); m; m = strtok_r(NULL, ",", &save))
		if (strcmp(m, name) == 0)
			return true;
	return false;
}

/* Look spec (a name or a uid) up in the container's /etc/passwd, and its groups in
 * /etc/group. Runs in the child, inside the container, as the container's root. */
static void lookup_user(int root, const char *spec, struct user *u)
{
	cleanup_free char *pw = read_db(root, "etc/passwd");
	cleanup_free char *gr = NULL;
	char *save = NULL, *f[7];
	unsigned want = 0, id;
	bool by_id = parse_id(spec, &want), found = false;

	if (!pw)
		die_code_with_error(VPS_ENOTFOUND, "cannot read the container's /etc/passwd");
	for (char *l = strtok_r(pw, "\n", &save); l && !found; l = strtok_r(NULL, "\n", &save)) {
		if (split_fields(l, f, 7) != 7 || !parse_id(f[2], &id))
			continue;
		if (by_id ? id != want : strcmp(f[0], spec) != 0)
			continue;
		found = true;
		u->uid = id;
		if (!parse_id(f[3], &id))
			die_code(VPS_EFAIL, "user %s has an invalid gid in /etc/passwd", spec);
		u->gid = id;
		snprintf(u->name, sizeof(u->name), "%s", f[0]);
		snprintf(u->home, sizeof(u->home), "%s", f[5][0] == '/' ? f[5] : "/");
		snprintf(u->shell, sizeof(u->shell), "%s", f[6][0] == '/' ? f[6] : "/bin/sh");
	}
	if (!found)
		die_code(VPS_ENOTFOUND,
			 "user %s does not exist in the container (not in /etc/passwd)", spec);
	u->groups[u->n_groups++] = u->gid;
	gr = read_db(root, "etc/group"); /* no /etc/group: the primary group only */
	save = NULL;
	for (char *l = gr ? strtok_r(gr, "\n", &save) : NULL; l && u->n_groups < MAX_GROUPS;
	     l = strtok_r(NULL, "\n", &save)) {
		if (split_fields(l, f, 4) == 4 && parse_id(f[2], &id) && id != u->gid &&
		    member_of(f[3], u->name))
			u->groups[u->n_groups++] = id;
	}
}

/* ------------------------------------------------------------------ child: the way in */

/* The child, once it is in the container's cgroups: the user namespace first (the others
 * belong to it), then ipc, uts, net, cgroup, mnt (pid: born in it). */
static void enter_namespaces(const struct confinement *conf, int user_fd, int ns_fd[N_NS])
{
	if (conf->userns) {
		if (setns(user_fd, CLONE_NEWUSER) < 0)
			die_code_with_error(errno == EINVAL ? VPS_ENOTFOUND : VPS_EFAIL,
					    "setns user");
		if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
			die_with_error("become root of the container's user namespace");
		/* a uid change resets "dumpable" to fs.suid_dumpable: never let the container's
		 * root ptrace us while we still hold host fds and the host's root and cwd */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
			die_with_error("PR_SET_DUMPABLE");
	}
	for (size_t i = 0; i < N_NS; i++) {
		if (i == NS_PID)
			continue;
		if (setns(ns_fd[i], 0) < 0)
			die_code_with_error(errno == EINVAL ? VPS_ENOTFOUND : VPS_EFAIL, "setns %s",
					    ns_order[i]);
	}
}

/* setns(mnt) put us at the container's root: resolve the cwd strictly below it. A home
 * that is missing is "/", as login does; an explicit --cwd that is missing is an error. */
static void enter_cwd(int root, const char *dir, bool is_home)
{
	char buf[VPS_PATH_MAX];
	cleanup_fd int cwd = open_in_root(root, dir[1] ? dir + 1 : ".", O_PATH | O_DIRECTORY);

	if (cwd < 0 && is_home)
		cwd = open_in_root(root, ".", O_PATH | O_DIRECTORY);
	if (cwd < 0 || fchdir(cwd) < 0)
		die_code_with_error(errno == ENOENT ? VPS_ENOTFOUND : VPS_EFAIL, "chdir %s", dir);
	if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
		die("working directory is outside the container");
}

static void send_fd(int sock, int fd)
{
	char data = 'm', ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	memset(ctl, 0, sizeof(ctl));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1)
		die_with_error("hand the terminal to vps-enter");
}

/* --pty: a new terminal in the container's own devpts, its master for the parent, its
 * peer our controlling terminal on 0/1/2. */
static void pty_setup(int root, int sock, const struct winsize *ws, uid_t owner)
{
	cleanup_fd int m = open_in_root(root, "dev/pts/ptmx", O_RDWR | O_NOCTTY);
	struct statfs sfs;
	int n, unlock = 0, s;

	if (m < 0)
		die_with_error("open the container's /dev/pts/ptmx");
	if (fstatfs(m, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC || ioctl(m, TIOCGPTN, &n) < 0)
		die("the container's /dev/pts/ptmx is not a terminal multiplexer");
	if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
		die_with_error("unlock the terminal");
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (s < 0)
		die_with_error("open the terminal's peer");
	ioctl(m, TIOCSWINSZ, ws);
	if (owner != 0 && fchown(s, owner, (gid_t)-1) < 0)
		die_with_error("give the terminal to its user");
	send_fd(sock, m);
	if (ioctl(s, TIOCSCTTY, 0) < 0)
		die_with_error("TIOCSCTTY");
	for (int fd = 0; fd < 3; fd++)
		if (dup2(s, fd) < 0)
			die_with_error("dup2 terminal");
	if (s > 2)
		close(s);
}

static noreturn_fn void run_child(const struct opts *o, const struct confinement *c,
				  const struct user *u)
{
	bool have_term = false;
	const char *shell_base;
	char argv0[VPS_PATH_MAX + 1];
	int r;

	reset_signals();
	if (close_range(3, ~0U, 0) < 0)
		die_code_with_error(VPS_EHOST, "close_range");
	if (clearenv() != 0)
		die("clearenv failed");
	setenv("PATH",
	       u->uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
			   : "/usr/local/bin:/usr/bin:/bin",
	       1);
	setenv("HOME", u->home, 1);
	if (o->user || o->login) {
		setenv("USER", u->name, 1);
		setenv("LOGNAME", u->name, 1);
		setenv("SHELL", u->shell, 1);
	}
	for (size_t i = 0; i < o->n_env; i++) {
		const char *kv = o->env[i];
		size_t klen = (size_t)(strchr(kv, '=') - kv);
		char key[256];
		if (klen >= sizeof(key))
			die_code(VPS_EUSAGE, "--env name too long");
		memcpy(key, kv, klen);
		key[klen] = '\0';
		if (setenv(key, kv + klen + 1, 1) < 0)
			die_with_error("setenv %s", key);
		have_term |= strcmp(key, "TERM") == 0;
	}
	if (!have_term)
		setenv("TERM", o->pty ? "xterm" : "dumb", 1);

	/* none of the admin's keyrings (R13), init's bounding set (R7), then init's filter
	 * (R6), then the user */
	if ((r = confine_keyring()) < 0) {
		errno = -r;
		die_with_error("join a new session keyring");
	}
	if ((r = confine_caps(~c->cap_bnd)) < 0) {
		errno = -r;
		die_with_error("drop capabilities");
	}
	if (c->seccomp && (r = confine_seccomp(keyring_rule(c->userns, o->keyctl))) < 0) {
		errno = -r;
		die_code_with_error(VPS_EHOST, "load the seccomp filter");
	}
	if (u->uid != 0 || u->gid != 0 || u->n_groups > 1) {
		if (setgroups(u->n_groups, u->groups) < 0 ||
		    setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0)
			die_with_error("become user %s", u->name);
	}
	if (o->login) {
		shell_base = strrchr(u->shell, '/');
		snprintf(argv0, sizeof(argv0), "-%s", shell_base ? shell_base + 1 : u->shell);
		execl(u->shell, argv0, (char *)NULL);
		die_code_with_error(errno == ENOENT ? 127 : 126, "%s", u->shell);
	}
	execvp(o->cmd[0], o->cmd);
	if (errno == ENOENT)
		die_code(127, "%s: not found", o->cmd[0]);
	die_code_with_error(126, "%s", o->cmd[0]);
}

/* The child from its release on: into the container, the user, the cwd, the terminal. */
static noreturn_fn void child_main(const struct opts *o, const struct confinement *conf,
				   int user_fd, int ns_fd[N_NS], int pty_sock,
				   const struct winsize *ws)
{
	struct user u = { .uid = 0, .gid = 0, .name = "root", .home = "/root", .shell = "/bin/sh" };
	cleanup_fd int root = -1;

	enter_namespaces(conf, user_fd, ns_fd);
	root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		die_with_error("open the container's root");
	if (o->user || o->login)
		lookup_user(root, o->user ? o->user : "root", &u);
	else
		u.n_groups = 1;
	enter_cwd(root, o->cwd ? o->cwd : (o->user || o->login) ? u.home : "/", !o->cwd);
	if (o->pty)
		pty_setup(root, pty_sock, ws, u.uid);
	run_child(o, conf, &u);
}

/* ------------------------------------------------------------------ parent: the relay */

static void forward_signal(int sig)
{
	static int asked; /* SIGTERM/SIGHUP so far: the second one is a SIGKILL */
	int saved = errno;
	struct winsize ws;

	if ((sig == SIGTERM || sig == SIGHUP) && ++asked > 1)
		sig = SIGKILL; /* a command that ignores it, or one a tenant stopped */
	if (sig == SIGWINCH) { /* our terminal was resized: so is the container's */
		if (pty_master >= 0 &&
		    (ioctl(0, TIOCGWINSZ, &ws) == 0 || ioctl(1, TIOCGWINSZ, &ws) == 0))
			ioctl(pty_master, TIOCSWINSZ, &ws);
	} else if (child_pid > 0 && kill(-child_pid, sig) < 0) {
		kill(child_pid, sig); /* not yet its own process group */
	}
	errno = saved;
}

static int recv_fd(int sock)
{
	char data, ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = &data, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	struct cmsghdr *c;
	int fd = -1;
	ssize_t n;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	c = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd; /* -1: the child failed before (it says why on stderr) */
}

/* The child's pty master, once it sends it: -1 when the child ended first or took longer
 * than MASTER_WAIT_MS (a tenant can stall it, e.g. with a FUSE mount on /etc or /dev/pts:
 * then it is killed). The fd is checked to be a devpts pty master here too. */
static int recv_master(int sock, int pidfd)
{
	struct pollfd p[2] = { { .fd = sock, .events = POLLIN },
			       { .fd = pidfd, .events = POLLIN } };
	struct statfs sfs;
	int r, n, fd;

	do
		r = poll(p, 2, MASTER_WAIT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		kill(child_pid, SIGKILL);
		warn("the container did not set up the terminal within %d s: gave up",
		     MASTER_WAIT_MS / 1000);
		return -1;
	}
	if (!(p[0].revents & POLLIN))
		return -1;
	fd = recv_fd(sock);
	if (fd >= 0 && (fstatfs(fd, &sfs) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC ||
			ioctl(fd, TIOCGPTN, &n) < 0)) {
		close(fd);
		kill(child_pid, SIGKILL);
		warn("the container handed over something else than a terminal");
		return -1;
	}
	return fd;
}

/* One direction of the relay: src -> buffer -> dst. */
struct chan {
	int src, dst;
	bool output;    /* from the command (ends the relay), not to it */
	bool close_dst; /* at src's end of file, close dst (the command's stdin pipe) */
	bool close_src; /* when dst is gone, close src (the command's pipe: it gets EPIPE) */
	bool veof;      /* dst is a terminal: src's end of file is passed on as a Ctrl-D (src a
			 * terminal: a cooked Ctrl-D, unless the second in a row, a hangup: the
			 * end), or two when it ends an unfinished line (src a pipe) */
	bool eof_sent;  /* the last read was such an end of file */
	char last;      /* the last byte read from src */
	bool done;
	size_t owed;    /* bytes the command left in src when it ended: passed on in full */
	size_t off, len;
	char buf[RELAY_BUF];
};

static void chan_finish(struct chan *c)
{
	c->done = true;
	c->len = 0;
	if (c->close_dst && c->dst >= 0) {
		close(c->dst);
		c->dst = -1;
	}
	if (c->close_src && c->src >= 0) { /* the reader is gone: the command gets EPIPE */
		close(c->src);
		c->src = -1;
	}
}

static void chan_read(struct chan *c)
{
	ssize_t n = read(c->src, c->buf, sizeof(c->buf));

	if (n > 0) {
		c->off = 0;
		c->len = (size_t)n;
		c->eof_sent = false;
		c->last = c->buf[n - 1];
		c->owed -= (size_t)n < c->owed ? (size_t)n : c->owed;
	} else if (n == 0 && c->veof && !c->eof_sent) {
		/* VEOF: the first hands over an unfinished line, one on an empty line is the end */
		bool unfinished = c->last && c->last != '\n' && !isatty(c->src);
		c->buf[0] = c->buf[1] = 4;
		c->off = 0;
		c->len = unfinished ? 2 : 1;
		c->eof_sent = true;
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		chan_finish(c); /* EIO: a pty master whose peer is closed everywhere */
	}
}

static void chan_write(struct chan *c)
{
	ssize_t n = write(c->dst, c->buf + c->off, c->len);

	if (n > 0) {
		c->off += (size_t)n;
		c->len -= (size_t)n;
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		if (!c->output) /* the command closed its stdin: stop reading ours */
			c->src = -1;
		chan_finish(c);
	}
}

/* Our stdin's settings while it is raw (--pty): put back at the end, and by die(). */
static const struct termios *raw_tio;

static void restore_tty(int code, const char *msg)
{
	(void)code;
	(void)msg;
	if (raw_tio)
		tcsetattr(0, TCSANOW, raw_tio);
	raw_tio = NULL;
}

/* At the child's end: what it left in each output pipe (or pty) is owed to our reader. */
static void count_left(struct chan *ch, size_t n_ch)
{
	for (size_t i = 0; i < n_ch; i++) {
		int left = 0;
		if (ch[i].output && !ch[i].done && ioctl(ch[i].src, FIONREAD, &left) == 0 &&
		    left > 0)
			ch[i].owed = (size_t)left;
	}
}

/* Relay until the child has ended and its output is passed on. Returns its wait status. */
static int relay(struct chan *ch, size_t n_ch, int pidfd)
{
	struct pollfd pfd[4];
	struct chan *who[4];
	long long ended = 0;
	int st = 0;

	for (;;) {
		size_t n = 0;
		bool pending = false, buffered = false;
		int timeout = -1;

		if (!ended)
			pfd[n++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		for (size_t i = 0; i < n_ch; i++) {
			struct chan *c = &ch[i];
			if (c->done || (ended && !c->output))
				continue;
			pending |= c->output;
			buffered |= c->output && (c->len || c->owed);
			who[n] = c;
			pfd[n++] = c->len ? (struct pollfd){ .fd = c->dst, .events = POLLOUT }
					  : (struct pollfd){ .fd = c->src, .events = POLLIN };
		}
		if (ended) {
			long long left = ended + DRAIN_MAX - mono_ms();
			if (!pending || (left <= 0 && !buffered))
				return st;
			/* what we hold goes out however slow the reader; silence ends the rest */
			timeout = buffered ? -1 : left < DRAIN_IDLE ? (int)left : DRAIN_IDLE;
		}
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die_with_error("poll");
		if (r == 0 && ended)
			return st; /* silence after the end: a background process holds the output
				    */
		for (size_t i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == pidfd && !ended) {
				sigset_t all, prev;
				sigfillset(&all);
				sigprocmask(SIG_BLOCK, &all, &prev);
				while (waitpid(child_pid, &st, 0) < 0)
					if (errno != EINTR)
						die_with_error("waitpid");
				child_pid = 0; /* reaped: its pid may be reused, never signal it
						  again */
				sigprocmask(SIG_SETMASK, &prev, NULL);
				ended = mono_ms();
				count_left(ch, n_ch);
			} else if (who[i]->len) {
				chan_write(who[i]);
			} else {
				chan_read(who[i]);
			}
		}
	}
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct confinement conf;
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	static struct termios saved_tio;
	int ns_fd[N_NS], io[3][2], pty_sock[2] = { -1, -1 }, go[2];
	char buf[VPS_PATH_MAX + 64], pidbuf[24];
	struct sigaction sa;
	sigset_t fwd, old;
	int st;

	prog_name = "vps-enter";
	set_die_sink(restore_tty); /* returns: die() then prints and exits as usual */
	memset(&o, 0, sizeof(o));
	parse_args(&o, argc, argv);
	/* --pty: our stdin's terminal goes raw at once, before any key can reach it cooked
	 * (a Ctrl-D typed or piped early would end our input instead of the command's) */
	if (o.pty && isatty(0) && tcgetattr(0, &saved_tio) == 0) {
		struct termios t = saved_tio;
		cfmakeraw(&t);
		if (tcsetattr(0, TCSANOW, &t) == 0)
			raw_tio = &saved_tio;
	}
	reexec_sealed_copy(argv);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		die_with_error("PR_SET_DUMPABLE");

	snprintf(buf, sizeof(buf), "/proc/%d", o.pid);
	cleanup_fd int proc = open(buf, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (proc < 0 && errno == ENOENT)
		die_code(VPS_ENOTFOUND, "no such process %d", o.pid);
	if (proc < 0)
		die_errno_mapped("open %s", buf);
	cleanup_fd int user_fd = openat(proc, "ns/user", O_RDONLY | O_CLOEXEC);
	if (user_fd < 0 && (errno == ENOENT || errno == ESRCH))
		die_code(VPS_ENOTFOUND, "no such process %d", o.pid);
	if (user_fd < 0)
		die_errno_mapped("open /proc/%d/ns/user", o.pid);
	for (size_t i = 0; i < N_NS; i++) {
		snprintf(buf, sizeof(buf), "ns/%s", ns_order[i]);
		ns_fd[i] = openat(proc, buf, O_RDONLY | O_CLOEXEC);
		if (ns_fd[i] < 0 && (errno == ENOENT || errno == ESRCH))
			die_code(VPS_ENOTFOUND, "no such process %d", o.pid);
		if (ns_fd[i] < 0)
			die_errno_mapped("open /proc/%d/ns/%s", o.pid, ns_order[i]);
	}
	read_confinement(proc, user_fd, &conf);

	/* opened now, as the host's root in the host's namespaces: the child is moved into
	 * them through these (cgroupfs checks the opener's credentials and namespace) */
	int cg_fd[MAX_CGROUPS];
	for (size_t i = 0; i < o.n_cg; i++) {
		cg_fd[i] = open(o.cgroups[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (cg_fd[i] < 0)
			die_errno_mapped("open cgroup %s", o.cgroups[i]);
	}

	/* the pid namespace applies to children only: the child is born in it */
	if (setns(ns_fd[NS_PID], CLONE_NEWPID) < 0)
		die_code_with_error(errno == EINVAL ? VPS_ENOTFOUND : VPS_EFAIL, "setns pid");

	/* the command's own descriptors: a pty it makes inside, or pipes made here */
	if (o.pty) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pty_sock) < 0)
			die_with_error("socketpair");
		if (ioctl(0, TIOCGWINSZ, &ws) < 0 && ioctl(1, TIOCGWINSZ, &ws) < 0)
			ws = (struct winsize){ .ws_row = 24, .ws_col = 80 };
	}
	/* with --pty, the pipes carry only what the child says before its terminal is up */
	for (int i = 0; i < 3; i++)
		if (pipe2(io[i], O_CLOEXEC) < 0)
			die_with_error("pipe");

	/* block the forwarded signals until child_pid is known */
	sigemptyset(&fwd);
	for (size_t i = 0; i < N_FWD; i++)
		sigaddset(&fwd, fwd_signals[i]);
	sigprocmask(SIG_BLOCK, &fwd, &old);
	fflush(NULL);
	/* fork while still in the host's cgroups: a container at its pids limit (a fork bomb)
	 * stays reachable, since moving a task into a full pids cgroup is allowed, forking
	 * inside one is not. The child waits until it has been moved. */
	if (pipe2(go, O_CLOEXEC) < 0)
		die_with_error("pipe");
	child_pid = fork();
	if (child_pid < 0)
		die_errno_mapped("fork");
	if (child_pid == 0) {
		char c;
		/* its own session at once: no controlling terminal of the host's to TIOCSTI
		 * into or reopen as /dev/tty (CVE-2017-5226) */
		if (setsid() < 0)
			die_with_error("setsid");
		/* none of our descriptors inside: from here even our messages go through the relay
		 */
		if (dup2(io[0][0], 0) < 0 || dup2(io[1][1], 1) < 0 || dup2(io[2][1], 2) < 0)
			_exit(VPS_EFAIL);
		sigprocmask(SIG_SETMASK, &old,
			    NULL); /* a tenant's stall must not make us unkillable */
		close(go[1]);
		/* the child needs none of the host-side handles: only the namespaces' */
		for (size_t i = 0; i < o.n_cg; i++)
			close(cg_fd[i]);
		close(proc);
		if (read(go[0], &c, 1) != 1)
			_exit(VPS_EFAIL); /* the parent could not move us: it reports why */
		child_main(&o, &conf, user_fd, ns_fd, pty_sock[1], &ws);
	}
	close(go[0]);
	snprintf(pidbuf, sizeof(pidbuf), "%d", child_pid);
	for (size_t i = 0; i < o.n_cg; i++) {
		int r = write_file_at(cg_fd[i], "cgroup.procs", pidbuf);
		if (r < 0) {
			kill(child_pid, SIGKILL);
			errno = -r;
			die_errno_mapped("join cgroup %s", o.cgroups[i]);
		}
		close(cg_fd[i]);
	}
	cleanup_fd int pidfd = (int)syscall(SYS_pidfd_open, child_pid, 0);
	if (pidfd < 0) {
		kill(child_pid, SIGKILL);
		die_code_with_error(VPS_EHOST, "pidfd_open");
	}
	signal(SIGPIPE, SIG_IGN); /* a child or reader that died already is reported, not a kill */
	if (write(go[1], "g", 1) != 1)
		die_with_error("start the command");
	close(go[1]);
	for (size_t i = 0; i < N_NS; i++)
		close(ns_fd[i]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = forward_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_FWD; i++)
		sigaction(fwd_signals[i], &sa, NULL);

	static struct chan ch[3];
	size_t n_ch = 3;
	close(io[0][0]);
	close(io[1][1]);
	close(io[2][1]);
	for (int i = 0; i < 3; i++)
		set_nonblock(io[i][i ? 0 : 1]);
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (o.pty) {
		close(pty_sock[1]);
		int m = recv_master(pty_sock[0], pidfd);
		close(pty_sock[0]);
		if (m >= 0) {
			set_nonblock(m);
			pty_master = m;
		}
		/* the terminal instead of stdin and stdout; stderr's pipe ends with the setup */
		ch[0] = (struct chan){ .src = 0, .dst = m, .done = m < 0, .veof = true };
		ch[1] = (struct chan){ .src = m, .dst = 1, .output = true, .done = m < 0 };
		close(io[0][1]);
		close(io[1][0]);
	} else {
		ch[0] = (struct chan){ .src = 0, .dst = io[0][1], .close_dst = true };
		ch[1] = (struct chan){
			.src = io[1][0], .dst = 1, .output = true, .close_src = true
		};
	}
	ch[2] = (struct chan){ .src = io[2][0], .dst = 2, .output = true, .close_src = true };
	st = relay(ch, n_ch, pidfd);
	restore_tty(0, NULL);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
