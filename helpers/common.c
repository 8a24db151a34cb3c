/* common.c — see common.h. */
#define _GNU_SOURCE
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>

const char *prog_name = "vps-helper";
static die_sink_fn die_sink;

void set_die_sink(die_sink_fn sink)
{
	die_sink = sink;
}

int exit_code_for_errno(int err)
{
	switch (err) {
	case ENOENT:
	case ESRCH:
		return VPS_ENOTFOUND;
	case ENOSPC:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case EAGAIN:
		return VPS_ENORES;
	case ENOSYS:
	case ENODEV:
	case ENOTTY:
		return VPS_EHOST;
	default:
		return VPS_EFAIL;
	}
}

static noreturn_fn void die_finish(int code, const char *msg)
{
	static bool dying;

	if (!dying && die_sink) {
		dying = true; /* a sink that dies again must not recurse */
		die_sink(code, msg);
	}
	fprintf(stderr, "%s: %s\n", prog_name, msg);
	fflush(stderr);
	_exit(code);
}

static noreturn_fn void vdie(int code, int err, const char *fmt, va_list ap)
{
	char msg[VPS_ERRMSG_MAX];
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0;
	if (err && (size_t)n < sizeof(msg))
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s", strerror(err));
	for (char *p = msg; *p; p++) /* one line, always */
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	die_finish(code, msg);
}

void die_code(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie(code, 0, fmt, ap);
}

void die_code_with_error(int code, const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vdie(code, err, fmt, ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vdie(VPS_EFAIL, 0, fmt, ap);
}

void die_with_error(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vdie(VPS_EFAIL, err, fmt, ap);
}

void die_errno_mapped(const char *fmt, ...)
{
	int err = errno;
	va_list ap;
	va_start(ap, fmt);
	vdie(exit_code_for_errno(err), err, fmt, ap);
}

void warn(const char *fmt, ...)
{
	char msg[VPS_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: warning: %s\n", prog_name, msg);
	fflush(stderr);
}

void cleanup_fdp(int *fdp)
{
	int saved = errno;
	if (*fdp >= 0)
		close(*fdp);
	errno = saved;
}

void cleanup_pipep(int (*pp)[2])
{
	cleanup_fdp(&(*pp)[0]);
	cleanup_fdp(&(*pp)[1]);
}

void cleanup_freep(void *p)
{
	free(*(void **)p);
}

void cleanup_dirp(DIR **dp)
{
	int saved = errno;
	if (*dp)
		closedir(*dp);
	errno = saved;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int write_file_at(int dirfd, const char *name, const char *s)
{
	cleanup_fd int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	return write_all(fd, s, strlen(s));
}

ssize_t read_file_at(int dirfd, const char *name, char *buf, size_t cap)
{
	cleanup_fd int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	return fd < 0 ? -errno : read_all(fd, buf, cap);
}

ssize_t read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (ssize_t)len;
}

long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void json_escape(char *buf, size_t cap, const char *s)
{
	size_t o = strlen(buf);

	for (; *s && o + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(buf + o, cap - o, "\\u%04x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o] = '\0';
}

bool valid_id(const char *s)
{
	size_t n = strnlen(s, 64);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && !(c == '-' && i > 0 && i < n - 1))
			return false;
	}
	return true;
}

bool valid_hostname(const char *s)
{
	size_t n = strnlen(s, 254), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') { /* end of a label: 1..63, no '-' at either end */
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
		label++;
	}
	return true;
}

bool valid_abs_path(const char *s)
{
	size_t n = strnlen(s, VPS_PATH_MAX);

	if (n == 0 || n >= VPS_PATH_MAX || s[0] != '/')
		return false;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
		if (p[0] == '/' && p[1] == '.' && p[2] == '.' && (p[3] == '/' || p[3] == '\0'))
			return false;
	}
	return true;
}

bool valid_component(const char *s)
{
	size_t n = strnlen(s, 256);

	if (n == 0 || n > 255 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.' || c == ',' || c == '=' || c == '-'))
			return false;
	}
	return true;
}

bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool parse_pid(const char *s, pid_t *out)
{
	char *end;
	long v;

	if (!*s || *s < '0' || *s > '9' || strnlen(s, 12) > 10)
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 1 || v > INT_MAX)
		return false;
	*out = (pid_t)v;
	return true;
}

const char *arg_value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		die_code(VPS_EUSAGE, "%s needs a value", argv[*i]);
	*i += 1;
	return argv[*i];
}

void reset_signals(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &sa, NULL); /* SIGKILL/SIGSTOP and holes fail: fine */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* A directory stream on its own fd for dfd (dfd stays open). NULL with errno set. */
static DIR *opendir_at(int dfd)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		int e = errno;
		close(fd);
		errno = e;
	}
	return d;
}

/* The name of the next subdirectory in d (never . or ..), or NULL at the end. */
static const char *next_subdir(DIR *d)
{
	struct dirent *de;

	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			return de->d_name;
	return NULL;
}

/* rmdir every directory below dfd, depth-first. 0 or the first -errno. */
int rmdir_children(int dfd)
{
	cleanup_dir DIR *d = opendir_at(dfd);
	const char *name;
	int ret = 0;

	if (!d)
		return -errno;
	while ((name = next_subdir(d))) {
		cleanup_fd int c =
			openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (c >= 0) {
			int r = rmdir_children(c);
			if (r < 0 && !ret)
				ret = r;
		}
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && !ret)
			ret = -errno;
	}
	return ret;
}

/* Does dfd or any cgroup below it hold a task? (read-only walk) */
bool cgroup_has_tasks(int dfd)
{
	char procs[64];
	const char *name;

	if (read_file_at(dfd, "cgroup.procs", procs, sizeof(procs)) != 0)
		return true; /* tasks, or unreadable: assume busy */
	cleanup_dir DIR *d = opendir_at(dfd);
	if (!d)
		return true;
	while ((name = next_subdir(d))) {
		cleanup_fd int c =
			openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (c >= 0 && cgroup_has_tasks(c))
			return true;
	}
	return false;
}

/* Open rel below root without ever leaving it (R2): openat2(RESOLVE_IN_ROOT) where the
 * kernel has it, else a component walk that refuses every symlink. */
int open_in_root(int root, const char *rel, int flags)
{
	static bool no_openat2;
	char buf[VPS_PATH_MAX], *save = NULL, *part, *next;

	if (!no_openat2) {
		struct open_how how = {
			.flags = (uint64_t)(flags | O_CLOEXEC),
			.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
		};
		int fd = (int)syscall(SYS_openat2, root, rel, &how, sizeof(how));
		if (fd >= 0 || errno != ENOSYS)
			return fd;
		no_openat2 = true;
	}
	snprintf(buf, sizeof(buf), "%s", rel);
	cleanup_fd int cur = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (part = strtok_r(buf, "/", &save); part && cur >= 0; part = next) {
		next = strtok_r(NULL, "/", &save);
		int fl = next ? O_PATH | O_DIRECTORY : flags;
		int fd = -1;
		if (strcmp(part, "..") == 0)
			errno = EXDEV; /* never walk up and out of root */
		else
			fd = openat(cur, part, fl | O_NOFOLLOW | O_CLOEXEC);
		close(cur);
		cur = fd;
	}
	return steal_fd(&cur);
}

int open_nofollow_in_root(int root, const char *rel, char *bad, size_t badcap)
{
	char buf[VPS_PATH_MAX], *save = NULL, *part;
	size_t done = 0;
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", rel);
	snprintf(bad, badcap, "%s", rel);
	cleanup_fd int cur = openat(root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	for (part = strtok_r(buf, "/", &save); part && cur >= 0;
	     part = strtok_r(NULL, "/", &save)) {
		int fd = -1, err = 0;
		/* bad = rel up to and including this component */
		done = (size_t)(part - buf) + strlen(part);
		snprintf(bad, badcap, "%.*s", (int)done, rel);
		if (strcmp(part, ".") == 0 || strcmp(part, "..") == 0)
			err = EXDEV;
		else if ((fd = openat(cur, part, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0)
			err = errno;
		else if (fstat(fd, &st) < 0)
			err = errno;
		else if (S_ISLNK(st.st_mode))
			err = ELOOP;
		else if (!S_ISDIR(st.st_mode) && save && *save)
			err = ENOTDIR;
		close(cur);
		cur = fd;
		if (err) {
			close(cur);
			cur = -1;
			errno = err;
			return -1;
		}
	}
	return steal_fd(&cur);
}
