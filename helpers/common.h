/* common.h — the small shared toolbox of the vpsctl helpers (libc + kernel headers only).
 *
 * One way to fail: die*() print ONE line "<prog>: message" on stderr and exit with a code
 * from exit-codes.h. A stage that must report elsewhere (vps-spawn's monitor writes to the
 * result pipe, the init child to its sync socket) installs a die sink first.
 * Reusable functions return -errno (or NULL/false) and let the caller die.
 */
#ifndef VPS_COMMON_H
#define VPS_COMMON_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "exit-codes.h"

#define noreturn_fn     __attribute__((noreturn))
#define printf_fn(a, b) __attribute__((format(printf, a, b)))

/* Caps on argv values; everything longer is a usage error. */
#define VPS_PATH_MAX   1024
#define VPS_ERRMSG_MAX 512

/* Name printed in front of every message ("vps-spawn"). Set once in main(). */
extern const char *prog_name;

/* A die sink gets the final message and exit code; it may report, roll back and exit
 * itself. If it returns, die prints "<prog>: msg" on stderr and _exit()s with the code. */
typedef void (*die_sink_fn)(int code, const char *msg);
void set_die_sink(die_sink_fn sink);

noreturn_fn printf_fn(2, 3) void die_code(int code, const char *fmt, ...);
noreturn_fn printf_fn(2, 3) void die_code_with_error(int code, const char *fmt, ...);
noreturn_fn printf_fn(1, 2) void die(const char *fmt, ...);
noreturn_fn printf_fn(1, 2) void die_with_error(const char *fmt, ...);
/* die_with_error, but the exit code follows errno (ENOENT -> 3, ENOSPC -> 7, ...). */
noreturn_fn printf_fn(1, 2) void die_errno_mapped(const char *fmt, ...);
int exit_code_for_errno(int err);

/* Warnings go to stderr (the monitor's log) and never stop anything. */
printf_fn(1, 2) void warn(const char *fmt, ...);

/* ---- cleanup by scope ---- */
void cleanup_fdp(int *fdp);
void cleanup_freep(void *p);
void cleanup_dirp(DIR **dp);
void cleanup_pipep(int (*pp)[2]);
#define cleanup_fd   __attribute__((cleanup(cleanup_fdp)))
#define cleanup_pipe __attribute__((cleanup(cleanup_pipep))) /* int p[2] = { -1, -1 } */
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_dir  __attribute__((cleanup(cleanup_dirp)))

static inline int steal_fd(int *fdp)
{
	int fd = *fdp;
	*fdp = -1;
	return fd;
}

static inline void *steal_pointer(void *pp)
{
	void **p = pp;
	void *v = *p;
	*p = NULL;
	return v;
}

/* ---- I/O ---- */
/* Write all of buf, retrying EINTR and short writes. 0 or -errno. */
int write_all(int fd, const void *buf, size_t len);
/* openat(dirfd, name, O_WRONLY|O_CLOEXEC|O_NOFOLLOW) + write_all. 0 or -errno. */
int write_file_at(int dirfd, const char *name, const char *s);
/* Read at most cap-1 bytes of dirfd/name (O_NOFOLLOW), NUL-terminate. Length or -errno. */
ssize_t read_file_at(int dirfd, const char *name, char *buf, size_t cap);
/* Read fd to its end, at most cap-1 bytes, NUL-terminate. Length or -errno. */
ssize_t read_all(int fd, char *buf, size_t cap);
/* CLOCK_MONOTONIC in milliseconds. */
long long mono_ms(void);
/* Append a \0-terminated copy of s to buf (cap bytes) with JSON string escaping. */
void json_escape(char *buf, size_t cap, const char *s);

/* ---- paths by directory fd ---- */
/* Open rel (relative) below root without ever leaving it (SECURITY.md R2):
 * openat2(RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS), or, where the kernel lacks openat2,
 * a component walk that refuses every symlink. O_CLOEXEC is added. fd or -1/errno. */
int open_in_root(int root, const char *rel, int flags);
/* For mount targets (R2): walk rel below root one component at a time with
 * openat(O_PATH|O_NOFOLLOW), refusing every symlink (ELOOP), a non-directory before the
 * last component (ENOTDIR), "." and ".." (EXDEV). Returns an O_PATH fd, or -1/errno with
 * the offending prefix of rel in bad[] (e.g. "proc" for "proc/sys"). */
int open_nofollow_in_root(int root, const char *rel, char *bad, size_t badcap);
/* rmdir every directory below dfd, depth-first (cgroup trees). 0 or the first -errno. */
int rmdir_children(int dfd);
/* Does the cgroup dfd, or any cgroup below it, hold a task? (read-only walk) */
bool cgroup_has_tasks(int dfd);

/* ---- validation (all capped) ---- */
bool valid_id(const char *s);        /* ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ */
bool valid_hostname(const char *s);  /* 1..253, labels 1..63 of [A-Za-z0-9-], no edge '-' */
bool valid_abs_path(const char *s);  /* absolute, < VPS_PATH_MAX, no "..", no ctrl chars */
bool valid_component(const char *s); /* one path component of [A-Za-z0-9_.,=-], not . or .. */
bool has_prefix(const char *s, const char *prefix);
/* Parse a decimal pid (1..INT_MAX). */
bool parse_pid(const char *s, pid_t *out);

/* ---- argv ---- */
/* For "--opt VALUE": return argv[*i + 1] and advance, or die with a usage error. */
const char *arg_value(int argc, char **argv, int *i);

/* ---- processes ---- */
/* Reset every signal to SIG_DFL and unblock all: call in a child before execve. */
void reset_signals(void);

#endif
