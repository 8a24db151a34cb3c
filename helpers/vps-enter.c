/* vps-enter — run a command inside a running container.
 *
 *   vps-enter --pid INIT_HOST_PID [--cgroup HOSTDIR]... [--cwd DIR] [--env K=V]...
 *             -- CMD [ARGS...]
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
 *    go. The parent never enters the container. The child: when the container has its
 *    own user namespace, setns into it FIRST and become its root
 *    (setresgid/setgroups/setresuid 0: HOSTUID on the host), then setns ipc, uts, net,
 *    cgroup, mnt; open the cwd below the container's root with
 *    openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS), fchdir to it and check getcwd()
 *    (CVE-2024-21626: never keep a host cwd; a tenant's /root -> /proc/self/fd/N link
 *    is refused).
 *    Then it closes every fd above 2,
 *    gets a clean environment, takes the container init's confinement (confine.c: the
 *    same capability bounding set, R7, and the same seccomp filter when init has one,
 *    R6) and execvp()s CMD (127 not found, 126 cannot execute).
 *    The parent forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH sent to it by
 *    another process (terminal-generated ones already reach the child's process group)
 *    and exits with the child's status, or 128+N when signal N killed it.
 * stdin/stdout/stderr pass straight through.
 */
#define _GNU_SOURCE
#include "common.h"
#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#define MAX_CGROUPS 16
#define MAX_ENV     256
#define ENV_MAX_LEN (128 * 1024)
#define SELF_SEALS  (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

extern char **environ;

static const char *const ns_order[] = { "ipc", "uts", "net", "cgroup", "pid", "mnt" };
#define NS_PID 4 /* index of "pid" above */
#define N_NS   (sizeof(ns_order) / sizeof(ns_order[0]))

static const int fwd_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH };
#define N_FWD (sizeof(fwd_signals) / sizeof(fwd_signals[0]))

static volatile pid_t child_pid;

/* What the container's init runs under; vps-enter's command gets the same. */
struct confinement {
	bool userns;                /* the container has its own user namespace */
	bool seccomp;               /* init runs under a seccomp filter */
	unsigned long long cap_bnd; /* init's capability bounding set */
};

struct opts {
	pid_t pid;
	const char *cgroups[MAX_CGROUPS];
	size_t n_cg;
	const char *cwd;
	const char *env[MAX_ENV];
	size_t n_env;
	char **cmd;
};

static noreturn_fn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s --pid INIT_HOST_PID [--cgroup HOSTDIR]... [--cwd DIR] [--env K=V]... "
		"-- CMD [ARGS...]\n",
		prog_name);
	exit(code);
}

static bool valid_env(const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv || strnlen(kv, ENV_MAX_LEN) >= ENV_MAX_LEN)
		return false;
	for (const char *p = kv; p < eq; p++) {
		char c = *p;
		if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (p > kv && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

static void parse_args(struct opts *o, int argc, char **argv)
{
	int i;

	o->cwd = "/";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--pid") == 0) {
			if (!parse_pid(arg_value(argc, argv, &i), &o->pid))
				die_code(VPS_EUSAGE, "invalid --pid");
		} else if (strcmp(a, "--cgroup") == 0) {
			const char *d = arg_value(argc, argv, &i);
			if (o->n_cg >= MAX_CGROUPS)
				die_code(VPS_EUSAGE, "too many --cgroup (max %d)", MAX_CGROUPS);
			if (!valid_abs_path(d) || !has_prefix(d, "/sys/fs/cgroup/"))
				die_code(VPS_EUSAGE, "--cgroup %s: must be under /sys/fs/cgroup/",
					 d);
			o->cgroups[o->n_cg++] = d;
		} else if (strcmp(a, "--cwd") == 0) {
			o->cwd = arg_value(argc, argv, &i);
			if (!valid_abs_path(o->cwd))
				die_code(VPS_EUSAGE, "--cwd must be absolute, without '..'");
		} else if (strcmp(a, "--env") == 0) {
			const char *kv = arg_value(argc, argv, &i);
			if (o->n_env >= MAX_ENV)
				die_code(VPS_EUSAGE, "too many --env (max %d)", MAX_ENV);
			if (!valid_env(kv))
				die_code(VPS_EUSAGE, "--env wants NAME=VALUE");
			o->env[o->n_env++] = kv;
		} else if (strcmp(a, "--help") == 0) {
			usage(0);
		} else {
			die_code(VPS_EUSAGE, "unknown argument %.64s", a);
		}
	}
	if (o->pid == 0)
		die_code(VPS_EUSAGE, "--pid is required");
	if (i >= argc || !*argv[i])
		die_code(VPS_EUSAGE, "no command given after --");
	o->cmd = &argv[i];
}

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

static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* SI_KERNEL = generated by the terminal for the whole foreground group: the child
	 * got it already. Forward only what a process sent to us alone. */
	if (child_pid > 0 && si->si_code != SI_KERNEL)
		kill(child_pid, sig);
}

static noreturn_fn void run_child(struct opts *o, const struct confinement *c)
{
	bool have_term = false;
	int r;

	reset_signals();
	if (close_range(3, ~0U, 0) < 0)
		die_code_with_error(VPS_EHOST, "close_range");
	if (clearenv() != 0)
		die("clearenv failed");
	setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", 1);
	setenv("HOME", "/root", 1);
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
		setenv("TERM", "linux", 1);

	/* last: init's bounding set (R7), then init's filter (R6) */
	if ((r = confine_caps(~c->cap_bnd)) < 0) {
		errno = -r;
		die_with_error("drop capabilities");
	}
	if (c->seccomp && (r = confine_seccomp(!c->userns)) < 0) {
		errno = -r;
		die_code_with_error(VPS_EHOST, "load the seccomp filter");
	}
	execvp(o->cmd[0], o->cmd);
	if (errno == ENOENT)
		die_code(127, "%s: not found", o->cmd[0]);
	die_code_with_error(126, "%s", o->cmd[0]);
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

/* The child, once it is in the container's cgroups: the user namespace first (the others
 * belong to it), then ipc, uts, net, cgroup, mnt (pid: born in it); the cwd strictly below
 * the container's root. */
static void enter_namespaces(const struct opts *o, const struct confinement *conf, int user_fd,
			     int ns_fd[N_NS])
{
	char buf[VPS_PATH_MAX];

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
	/* setns(mnt) put us at the container's root; resolve the cwd strictly below it */
	{
		cleanup_fd int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		const char *rel = o->cwd[1] ? o->cwd + 1 : ".";
		cleanup_fd int cwd = root < 0 ? -1 : open_in_root(root, rel, O_PATH | O_DIRECTORY);
		if (cwd < 0 || fchdir(cwd) < 0)
			die_code_with_error(errno == ENOENT ? VPS_ENOTFOUND : VPS_EFAIL, "chdir %s",
					    o->cwd);
	}
	if (!getcwd(buf, sizeof(buf)) || buf[0] != '/')
		die("working directory is outside the container");
}

int main(int argc, char **argv)
{
	struct opts o;
	struct confinement conf;
	int ns_fd[N_NS];
	char buf[VPS_PATH_MAX + 64], pidbuf[24];
	struct sigaction sa;
	sigset_t fwd, old;
	int st;

	prog_name = "vps-enter";
	memset(&o, 0, sizeof(o));
	parse_args(&o, argc, argv);
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

	/* block the forwarded signals until child_pid is known */
	sigemptyset(&fwd);
	for (size_t i = 0; i < N_FWD; i++)
		sigaddset(&fwd, fwd_signals[i]);
	sigprocmask(SIG_BLOCK, &fwd, &old);
	fflush(NULL);
	/* fork while still in the host's cgroups: a container at its pids limit (a fork bomb)
	 * stays reachable, since moving a task into a full pids cgroup is allowed, forking
	 * inside one is not. The child waits until it has been moved. */
	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0)
		die_with_error("pipe");
	child_pid = fork();
	if (child_pid < 0)
		die_errno_mapped("fork");
	if (child_pid == 0) {
		char c;
		close(go[1]);
		/* the child needs none of the host-side handles: only the namespaces' */
		for (size_t i = 0; i < o.n_cg; i++)
			close(cg_fd[i]);
		close(proc);
		if (read(go[0], &c, 1) != 1)
			_exit(VPS_EFAIL); /* the parent could not move us: it reports why */
		enter_namespaces(&o, &conf, user_fd, ns_fd);
		run_child(&o, &conf);
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
	signal(SIGPIPE, SIG_IGN); /* a child that died already is reported, not a silent kill */
	if (write(go[1], "g", 1) != 1)
		die_with_error("start the command");
	close(go[1]);
	for (size_t i = 0; i < N_NS; i++)
		close(ns_fd[i]);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_FWD; i++)
		sigaction(fwd_signals[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);

	while (waitpid(child_pid, &st, 0) < 0)
		if (errno != EINTR)
			die_with_error("waitpid");
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}
