/* vps-snap — instant, consistent snapshots of a container's disk image.
 *
 *   vps-snap clone    --src FILE --dst FILE [--method auto|reflink|copy] [--progress]
 *   vps-snap snapshot --mount DIR --loop /dev/loopN --src IMAGE --dst FILE
 *                     [--method auto|reflink|copy] [--max-frozen-ms N] [--marker FILE]
 *                     [--progress]
 *   vps-snap thaw     --mount DIR [--loop /dev/loopN] [--marker FILE]
 *   vps-snap usage    FILE...
 *   vps-snap union    FILE...
 *   vps-snap probe    DIR
 *
 * Every path must be absolute, without "..", shorter than VPS_PATH_MAX. Success prints ONE
 * line of JSON on stdout; failure prints one line "vps-snap: message" on stderr and exits
 * with a code of exit-codes.h: 2 bad usage, 3 not found, 4 already frozen, 5 DST exists,
 * 6 no reflink / cannot freeze, 7 out of space, 1 anything else.
 *
 * clone: copy SRC (a regular file) to DST, freezing nothing. DST is created O_EXCL, 0600.
 *   --method auto (default) tries FICLONE and falls back to a sparse copy when the pool
 *   cannot share extents (EOPNOTSUPP, EXDEV, EINVAL, ENOTTY, ENOSYS); reflink exits 6
 *   instead; copy never tries FICLONE. The sparse copy walks SRC with SEEK_DATA/SEEK_HOLE,
 *   copies each data range with copy_file_range (pread/pwrite in 1 MiB chunks, skipping
 *   zeroes, where that is refused) and leaves holes as holes. Note that copy_file_range
 *   may itself share extents on a reflink filesystem. DST and its directory are fsync()ed.
 *   On any failure (signals included) DST is removed. --progress writes "progress DONE
 *   TOTAL" lines (data bytes) on stderr at most every 250 ms and one at the end (none for a
 *   reflink: it is one ioctl).
 *   {"method":"reflink"|"copy","size":APPARENT,"copied":DATA_BYTES,"ms":ELAPSED}
 *   (copied is 0 for a reflink: nothing was copied.)
 *
 * snapshot: freeze the ext4 mounted at DIR (may be /proc/PID/root/...), clone IMAGE, thaw.
 *   Checks first: DIR's st_dev is LOOP's st_rdev ("DIR is not the filesystem on LOOP", 1);
 *   LOOP_GET_STATUS64 names IMAGE's st_dev/st_ino ("LOOP is not backed by IMAGE", 1); DST
 *   and the marker are not on the frozen filesystem (2). Then:
 *   1. create DST; fork the guardian (below); write the marker FILE (0600) with
 *      {"pid":P,"guardian":G,"mount":"DIR","loop":"LOOP","since":EPOCH_MS};
 *   2. syncfs(DIR), tell the guardian 'F', FIFREEZE (EBUSY: exit 4 "already frozen",
 *      EOPNOTSUPP: exit 6; either way the guardian is told 'T' and thaws nothing);
 *   3. clone as above (same --method rules) and fsync(DST); a sparse copy still running
 *      after --max-frozen-ms (default 30000) is abandoned;
 *   4. FITHAW; remove the marker; tell the guardian 'T' and reap it; fsync DST's directory.
 *   If FITHAW finds the fs already thawed (EINVAL: the guardian ran out of time), the copy
 *   is not consistent: DST is removed, exit 1. Any failure while frozen thaws FIRST, then
 *   removes DST and the marker, then exits. SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE,
 *   SIGALRM, SIGUSR1, SIGUSR2 do the same from an async-signal-safe handler (exit 128+N).
 *   The guardian ("vps-snap-guard") is a child in its own session (setsid: a kill of our
 *   process group misses it) holding only the DIR fd and one end of a socketpair, stdio on
 *   /dev/null. It thaws DIR (EINVAL is fine) and removes the marker when we die (EOF after
 *   'F'), when --max-frozen-ms + 1000 ms pass after 'F', or on SIGTERM, SIGINT, SIGHUP,
 *   SIGQUIT, SIGALRM, SIGUSR1, SIGUSR2; on 'T' it exits 0 and does nothing. Only SIGKILL
 *   of both processes while frozen leaves DIR frozen: `vps-snap thaw` recovers.
 *   {"method":M,"size":N,"copied":N,"freeze_ms":F,"frozen_ms":Z,"ms":TOTAL} (ms: 3 decimals,
 *   CLOCK_MONOTONIC; freeze_ms is FIFREEZE itself, frozen_ms FIFREEZE return to FITHAW).
 *   Test hook: VPS_SNAP_TEST_HOLD_FROZEN_MS=N (0..10000) sleeps N ms while frozen, after
 *   the clone and before the thaw, so tests can kill -9 us at the worst moment.
 *
 * thaw: FITHAW on DIR (with the DIR/LOOP check when --loop is given), remove the marker.
 *   {"thawed":true} if it was frozen, {"thawed":false} if not.
 *
 * union: what the FILEs hold together, a block shared among them counted once (their
 *   physical extents from FIEMAP, sorted and merged; what FIEMAP cannot place, and files
 *   without FIEMAP, count whole): {"files":N,"allocated":SUM,"union":BYTES}.
 * usage: FS_IOC_FIEMAP (FIEMAP_FLAG_SYNC, 256 extents a call) over each regular FILE;
 *   without FIEMAP, allocated = st_blocks * 512 and shared = 0.
 *   [{"path":P,"size":APPARENT,"allocated":N,"shared":N,"exclusive":N},...]
 *
 * probe: can DIR's filesystem reflink? Two O_TMPFILE files (else mkostemp'd
 *   ".vps-snap-probe.XXXXXX", unlinked at once), 64 KiB written and fsync()ed into the
 *   first, FICLONE into the second. Nothing is left behind.
 *   {"reflink":true|false,"fs":"xfs"|"btrfs"|"ext4"|"tmpfs"|"other:0xMAGIC"}
 */
#define _GNU_SOURCE
#include "snap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

#define COPY_CHUNK      (64LL << 20) /* per copy_file_range call: progress, deadline */
#define RW_CHUNK        (1 << 20)
#define PROGRESS_NS     250000000LL
#define PROBE_BYTES     (64 * 1024)
#define MAX_FROZEN_MS   30000L
#define GUARD_SLACK_MS  1000L
#define GUARD_TIMED_OUT 3 /* the guardian's exit status after a timeout thaw */
#define MAX_FILES       65536
#define MIN(a, b)       ((a) < (b) ? (a) : (b))

enum method { METHOD_AUTO, METHOD_REFLINK, METHOD_COPY };
static const char *const method_names[] = { "auto", "reflink", "copy" };

enum {
	OPT_MOUNT = 1 << 0,
	OPT_LOOP = 1 << 1,
	OPT_SRC = 1 << 2,
	OPT_DST = 1 << 3,
	OPT_MARKER = 1 << 4,
	OPT_METHOD = 1 << 5,
	OPT_MAXF = 1 << 6,
	OPT_PROGRESS = 1 << 7,
};
static const struct {
	const char *name;
	unsigned bit;
} opt_names[] = {
	{ "--mount", OPT_MOUNT },
	{ "--loop", OPT_LOOP },
	{ "--src", OPT_SRC },
	{ "--dst", OPT_DST },
	{ "--marker", OPT_MARKER },
	{ "--method", OPT_METHOD },
	{ "--max-frozen-ms", OPT_MAXF },
	{ "--progress", OPT_PROGRESS },
};

struct opts {
	const char *mount, *loop, *src, *dst, *marker;
	enum method method;
	long max_frozen_ms;
	bool progress;
};

/* One clone: SRC -> DST, with progress and the frozen-time budget. */
struct copier {
	int src, dst;
	const char *src_path, *dst_path;
	bool progress, reflinked;
	off_t size, total, done;
	int64_t last_report, deadline; /* CLOCK_MONOTONIC ns; deadline 0 = none */
	long max_ms;
};

static const int fatal_signals[] = { SIGTERM, SIGINT,  SIGHUP,  SIGQUIT,
				     SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2 };
#define N_FATAL (sizeof(fatal_signals) / sizeof(fatal_signals[0]))

/* What a signal handler or the die sink must undo. Paths are copied in beforehand. */
static volatile int g_dirfd = -1;
static volatile sig_atomic_t g_frozen, g_dst_made, g_marker_made, g_armed;
static char g_dst[VPS_PATH_MAX], g_marker[VPS_PATH_MAX];

static noreturn_fn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s clone --src FILE --dst FILE [--method auto|reflink|copy] [--progress]\n"
		"       %s snapshot --mount DIR --loop /dev/loopN --src IMAGE --dst FILE\n"
		"                [--method auto|reflink|copy] [--max-frozen-ms N] [--marker FILE]"
		" [--progress]\n"
		"       %s thaw --mount DIR [--loop /dev/loopN] [--marker FILE]\n"
		"       %s usage FILE...\n"
		"       %s union FILE...\n"
		"       %s probe DIR\n",
		prog_name, prog_name, prog_name, prog_name, prog_name, prog_name);
	exit(code);
}

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double ms_since(int64_t t0, int64_t t1)
{
	return (double)(t1 - t0) / 1e6;
}

/* ---- signals: async-signal-safe rollback ---- */

static void append(char *buf, size_t *n, size_t cap, const char *s)
{
	while (*s && *n + 1 < cap)
		buf[(*n)++] = *s++;
}

static void append_num(char *buf, size_t *n, size_t cap, int v)
{
	char digits[12];
	size_t k = 0;

	do
		digits[k++] = (char)('0' + v % 10);
	while ((v /= 10) > 0 && k < sizeof(digits));
	while (k > 0 && *n + 1 < cap)
		buf[(*n)++] = digits[--k];
}

static void on_fatal_signal(int sig)
{
	bool was_frozen = g_frozen;
	char msg[160];
	size_t n = 0;
	ssize_t r;

	if (was_frozen && g_dirfd >= 0)
		ioctl(g_dirfd, FITHAW, 0);
	if (g_dst_made)
		unlink(g_dst);
	if (g_marker_made)
		unlink(g_marker);
	append(msg, &n, sizeof(msg), "vps-snap: killed by signal ");
	append_num(msg, &n, sizeof(msg), sig);
	append(msg, &n, sizeof(msg), was_frozen ? "; thawed the filesystem" : "");
	append(msg, &n, sizeof(msg), g_dst_made ? "; removed the partial copy\n" : "\n");
	r = write(STDERR_FILENO, msg, n);
	(void)r;
	_exit(128 + sig);
}

static void install_handlers(void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_FATAL; i++)
		sigaddset(&sa.sa_mask, fatal_signals[i]);
	for (size_t i = 0; i < N_FATAL; i++)
		sigaction(fatal_signals[i], &sa, NULL);
}

static void block_fatal(bool block)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < N_FATAL; i++)
		sigaddset(&set, fatal_signals[i]);
	sigprocmask(block ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* The die sink: thaw FIRST, then remove DST and the marker; die prints and exits. */
static void rollback(int code, const char *msg)
{
	(void)code;
	(void)msg;
	block_fatal(true);
	if (g_frozen && ioctl(g_dirfd, FITHAW, 0) == 0)
		g_frozen = 0; /* if it failed, the guardian retries when we are gone */
	if (g_dst_made)
		unlink(g_dst);
	if (g_marker_made)
		unlink(g_marker);
	g_dst_made = g_marker_made = 0;
}

/* ---- the guardian ---- */

static noreturn_fn void guard_finish(int code)
{
	if (g_armed)
		ioctl(g_dirfd, FITHAW, 0); /* EINVAL: not frozen (any more): fine */
	if (g_marker[0])
		unlink(g_marker);
	_exit(code);
}

static void on_guard_signal(int sig)
{
	guard_finish(128 + sig);
}

/* Runs in the child: thaw dir unless told 'T' (see the header). Never returns. */
static noreturn_fn void guardian(int dir, int sock, long max_ms)
{
	int64_t deadline = 0;
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int lo = MIN(dir, sock), hi = dir > sock ? dir : sock;

	set_die_sink(NULL);
	g_dirfd = dir;
	g_dst_made = g_marker_made = 0;
	install_handlers(on_guard_signal);
	signal(SIGPIPE, SIG_IGN);
	setsid();
	prctl(PR_SET_NAME, "vps-snap-guard", 0, 0, 0);
	for (int fd = 0; null >= 0 && fd <= 2; fd++)
		dup2(null, fd);
	if (lo > 3)
		close_range(3, (unsigned)lo - 1, 0);
	if (hi > lo + 1)
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
	close_range((unsigned)hi + 1, ~0U, 0);
	block_fatal(false);

	for (;;) {
		struct pollfd p = { .fd = sock, .events = POLLIN };
		int timeout = -1, r;
		char c;

		if (deadline) {
			int64_t left = deadline - now_ns(CLOCK_MONOTONIC);
			if (left <= 0)
				guard_finish(GUARD_TIMED_OUT);
			timeout = (int)(left / 1000000 + 1);
		}
		r = poll(&p, 1, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			guard_finish(1);
		if (r == 0)
			continue;
		ssize_t n = read(sock, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			guard_finish(2); /* our parent is gone */
		if (c == 'T')
			_exit(0);
		if (c == 'F' && !g_armed) {
			g_armed = 1;
			deadline = now_ns(CLOCK_MONOTONIC) + (max_ms + GUARD_SLACK_MS) * 1000000LL;
		}
	}
}

static int tell_guardian(int sock, char c)
{
	for (;;) {
		ssize_t n = send(sock, &c, 1, MSG_NOSIGNAL);
		if (n == 1)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* ---- files ---- */

/* Open a regular file read-only without following a link or blocking on a FIFO. */
int open_regular(const char *path, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0 && errno == ELOOP)
		die_code(VPS_EUSAGE, "%s is a symbolic link", path);
	if (fd < 0)
		die_errno_mapped("open %s", path);
	if (fstat(fd, st) < 0)
		die_with_error("stat %s", path);
	if (!S_ISREG(st->st_mode))
		die_code(VPS_EUSAGE, "%s is not a regular file", path);
	if (fcntl(fd, F_SETFL, 0) < 0)
		die_with_error("fcntl %s", path);
	return fd;
}

/* Create DST (O_EXCL, 0600); from here on every failure removes it. */
static int create_dst(const char *path)
{
	int fd;

	snprintf(g_dst, sizeof(g_dst), "%s", path);
	block_fatal(true);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		g_dst_made = 1;
	block_fatal(false);
	if (fd < 0 && errno == EEXIST)
		die_code(VPS_ESTATE, "%s already exists", path);
	if (fd < 0)
		die_errno_mapped("create %s", path);
	return fd;
}

/* fsync the directory holding path, so the new name survives a crash. */
static void sync_parent(const char *path)
{
	char dir[VPS_PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	cleanup_fd int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		die_errno_mapped("fsync %s", dir);
}

static int open_mount(const char *mount, struct stat *st)
{
	int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die_errno_mapped("open %s", mount);
	if (fstat(fd, st) < 0)
		die_with_error("stat %s", mount);
	return fd;
}

/* Open LOOP (a block device) and check that the filesystem of mount lives on it. */
static int open_loop(const char *loop, const char *mount, dev_t fsdev)
{
	struct stat st;
	int fd = open(loop, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		die_errno_mapped("open %s", loop);
	if (fstat(fd, &st) < 0)
		die_with_error("stat %s", loop);
	if (!S_ISBLK(st.st_mode))
		die_code(VPS_EUSAGE, "%s is not a block device", loop);
	if (st.st_rdev != fsdev)
		die("%s is not the filesystem on %s", mount, loop);
	return fd;
}

/* ---- cloning ---- */

static noreturn_fn void copy_failed(struct copier *c, int err)
{
	errno = err;
	if (err == ENOSPC || err == EDQUOT)
		die_code_with_error(VPS_ENORES, "out of space in the pool while copying %s to %s",
				    c->src_path, c->dst_path);
	die_errno_mapped("copy %s to %s", c->src_path, c->dst_path);
}

static bool cannot_share(int err)
{
	return err == EOPNOTSUPP || err == EXDEV || err == EINVAL || err == ENOTTY || err == ENOSYS;
}

static void report(struct copier *c, bool last)
{
	int64_t now;

	if (!c->progress)
		return;
	now = now_ns(CLOCK_MONOTONIC);
	if (!last && c->last_report && now - c->last_report < PROGRESS_NS)
		return;
	c->last_report = now;
	fprintf(stderr, "progress %lld %lld\n", (long long)c->done, (long long)c->total);
}

static void copied(struct copier *c, off_t n)
{
	c->done += n;
	report(c, false);
	if (c->deadline && now_ns(CLOCK_MONOTONIC) > c->deadline)
		die("the copy took longer than --max-frozen-ms (%ld ms); thawed, no snapshot made",
		    c->max_ms);
}

/* The next data range [*start, *end) of SRC at or after pos; false at the end. */
static bool next_data(struct copier *c, off_t pos, off_t *start, off_t *end)
{
	off_t d, h;

	if (pos >= c->size)
		return false;
	d = lseek(c->src, pos, SEEK_DATA);
	if (d < 0 && errno == ENXIO)
		return false;
	if (d < 0 && errno == EINVAL) { /* no SEEK_DATA here: all of it is data */
		*start = pos;
		*end = c->size;
		return true;
	}
	if (d < 0 || (h = lseek(c->src, d, SEEK_HOLE)) < 0)
		die_errno_mapped("seek in %s", c->src_path);
	if (d >= c->size)
		return false;
	*start = d;
	*end = MIN(h, c->size);
	return true;
}

static bool all_zero(const char *buf, size_t n)
{
	return n == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, n - 1) == 0);
}

/* pread/pwrite [off, end); zero chunks are skipped (DST was sized, they read as zero). */
static void copy_rw(struct copier *c, off_t off, off_t end)
{
	cleanup_free char *buf = malloc(RW_CHUNK);

	if (!buf)
		copy_failed(c, ENOMEM);
	while (off < end) {
		ssize_t n = pread(c->src, buf, (size_t)MIN(end - off, RW_CHUNK), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			copy_failed(c, errno);
		if (n == 0)
			return; /* SRC shrank */
		for (ssize_t w = 0; !all_zero(buf, (size_t)n) && w < n;) {
			ssize_t k = pwrite(c->dst, buf + w, (size_t)(n - w), off + w);
			if (k < 0 && errno != EINTR)
				copy_failed(c, errno);
			w += k > 0 ? k : 0;
		}
		off += n;
		copied(c, n);
	}
}

static void copy_range(struct copier *c, off_t start, off_t end, bool *no_cfr)
{
	loff_t in = start, out = start;

	while (!*no_cfr && in < end) {
		ssize_t n = copy_file_range(c->src, &in, c->dst, &out,
					    (size_t)MIN(end - in, COPY_CHUNK), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 &&
		    (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
			*no_cfr = true;
		else if (n < 0)
			copy_failed(c, errno);
		else if (n == 0)
			return; /* SRC shrank */
		else
			copied(c, n);
	}
	if (in < end)
		copy_rw(c, in, end);
}

static void sparse_copy(struct copier *c)
{
	bool no_cfr = false;
	off_t pos, s, e;

	if (ftruncate(c->dst, c->size) < 0)
		copy_failed(c, errno);
	for (pos = 0; next_data(c, pos, &s, &e); pos = e)
		c->total += e - s;
	report(c, false);
	for (pos = 0; next_data(c, pos, &s, &e); pos = e)
		copy_range(c, s, e, &no_cfr);
	report(c, true);
}

static void clone_file(struct copier *c, enum method m)
{
	struct stat st;

	if (fstat(c->src, &st) < 0)
		die_with_error("stat %s", c->src_path);
	c->size = st.st_size;
	if (m != METHOD_COPY) {
		if (ioctl(c->dst, FICLONE, c->src) == 0) {
			c->reflinked = true;
			return;
		}
		if (!cannot_share(errno))
			copy_failed(c, errno);
		if (m == METHOD_REFLINK)
			die_code_with_error(VPS_EHOST, "the pool cannot share extents (reflink)");
	}
	sparse_copy(c);
}

/* ---- commands ---- */

void finish_output(void)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		die_with_error("write the result");
}

static int cmd_clone(const struct opts *o)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	struct stat st;
	cleanup_fd int src = open_regular(o->src, &st);
	cleanup_fd int dst = create_dst(o->dst);
	struct copier c = { .src = src, .dst = dst, .src_path = o->src, .dst_path = o->dst };

	c.progress = o->progress;
	clone_file(&c, o->method);
	if (fsync(dst) < 0)
		copy_failed(&c, errno);
	sync_parent(o->dst);
	printf("{\"method\":\"%s\",\"size\":%lld,\"copied\":%lld,\"ms\":%.3f}\n",
	       c.reflinked ? "reflink" : "copy", (long long)c.size, (long long)c.done,
	       ms_since(t0, now_ns(CLOCK_MONOTONIC)));
	finish_output();
	g_dst_made = 0;
	return 0;
}

static long hold_ms_from_env(void)
{
	const char *s = getenv("VPS_SNAP_TEST_HOLD_FROZEN_MS");
	char *end;
	long v;

	if (!s)
		return 0;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || !*s || *end || v < 0 || v > 10000)
		die_code(VPS_EUSAGE, "VPS_SNAP_TEST_HOLD_FROZEN_MS must be 0..10000");
	return v;
}

static void write_marker(const struct opts *o, pid_t guard, dev_t fsdev)
{
	char mnt[6 * VPS_PATH_MAX] = "", loop[6 * VPS_PATH_MAX] = "";
	char line[sizeof(mnt) + sizeof(loop) + 128];
	struct stat st;
	int r;

	json_escape(mnt, sizeof(mnt), o->mount);
	json_escape(loop, sizeof(loop), o->loop);
	snprintf(line, sizeof(line),
		 "{\"pid\":%d,\"guardian\":%d,\"mount\":\"%s\",\"loop\":\"%s\",\"since\":%lld}\n",
		 getpid(), guard, mnt, loop, (long long)(now_ns(CLOCK_REALTIME) / 1000000));
	block_fatal(true);
	cleanup_fd int fd =
		open(o->marker, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		g_marker_made = 1;
	block_fatal(false);
	if (fd < 0)
		die_errno_mapped("write the marker %s", o->marker);
	if (fstat(fd, &st) < 0)
		die_with_error("stat %s", o->marker);
	if (st.st_dev == fsdev)
		die_code(VPS_EUSAGE, "--marker must not be on the filesystem being frozen");
	if ((r = write_all(fd, line, strlen(line))) < 0) {
		errno = -r;
		die_errno_mapped("write the marker %s", o->marker);
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int cmd_snapshot(const struct opts *o)
{
	int64_t t_start = now_ns(CLOCK_MONOTONIC), t0, t1, t2;
	long hold = hold_ms_from_env();
	struct stat dir_st, img_st, dst_st;
	struct loop_info64 li;
	int sv[2], status, r;
	pid_t guard;

	cleanup_fd int dir = open_mount(o->mount, &dir_st);
	cleanup_fd int loop = open_loop(o->loop, o->mount, dir_st.st_dev);
	cleanup_fd int img = open_regular(o->src, &img_st);
	memset(&li, 0, sizeof(li));
	if (ioctl(loop, LOOP_GET_STATUS64, &li) < 0) {
		if (errno == ENXIO)
			die("%s is not attached", o->loop);
		die_errno_mapped("LOOP_GET_STATUS64 %s", o->loop);
	}
	if (li.lo_device != (uint64_t)img_st.st_dev || li.lo_inode != (uint64_t)img_st.st_ino)
		die("%s is not backed by %s", o->loop, o->src);
	if (o->marker)
		snprintf(g_marker, sizeof(g_marker), "%s", o->marker);
	cleanup_fd int dst = create_dst(o->dst);
	if (fstat(dst, &dst_st) < 0)
		die_with_error("stat %s", o->dst);
	if (dst_st.st_dev == dir_st.st_dev)
		die_code(VPS_EUSAGE, "--dst must not be on the filesystem being frozen");
	struct copier c = { .src = img, .dst = dst, .src_path = o->src, .dst_path = o->dst };
	c.progress = o->progress;
	c.max_ms = o->max_frozen_ms;

	/* the guardian: forked with our signals blocked, it installs its own handlers */
	block_fatal(true);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die_errno_mapped("socketpair");
	fflush(NULL);
	guard = fork();
	if (guard < 0)
		die_errno_mapped("fork the guardian");
	if (guard == 0) {
		close(sv[0]);
		guardian(dir, sv[1], o->max_frozen_ms);
	}
	close(sv[1]);
	cleanup_fd int sock = sv[0];
	g_dirfd = dir;
	block_fatal(false);
	if (o->marker)
		write_marker(o, guard, dir_st.st_dev);

	if (syncfs(dir) < 0)
		die_errno_mapped("syncfs %s", o->mount);
	if ((r = tell_guardian(sock, 'F')) < 0) {
		errno = -r;
		die_with_error("the guardian is gone; nothing frozen");
	}
	t0 = now_ns(CLOCK_MONOTONIC);
	block_fatal(true);
	if (ioctl(dir, FIFREEZE, 0) < 0) {
		int err = errno;
		tell_guardian(sock, 'T'); /* not ours to thaw */
		errno = err;
		if (err == EBUSY)
			die_code(VPS_ELOCKED, "%s is already frozen", o->mount);
		if (err == EOPNOTSUPP)
			die_code_with_error(VPS_EHOST, "cannot freeze %s", o->mount);
		die_errno_mapped("freeze %s", o->mount);
	}
	g_frozen = 1;
	block_fatal(false);
	t1 = now_ns(CLOCK_MONOTONIC);
	c.deadline = t0 + o->max_frozen_ms * 1000000LL;

	clone_file(&c, o->method);
	if (hold)
		sleep_ms(hold);
	if (fsync(dst) < 0)
		copy_failed(&c, errno);

	block_fatal(true);
	r = ioctl(dir, FITHAW, 0) < 0 ? -errno : 0;
	if (r < 0 && r != -EINVAL) {
		errno = -r;
		die_with_error("thaw %s", o->mount); /* the sink and the guardian retry */
	}
	g_frozen = 0; /* EINVAL: someone thawed it before us */
	block_fatal(false);
	t2 = now_ns(CLOCK_MONOTONIC);
	if (g_marker_made && unlink(o->marker) == 0)
		g_marker_made = 0;
	tell_guardian(sock, 'T');
	while (waitpid(guard, &status, 0) < 0)
		if (errno != EINTR)
			die_with_error("waitpid the guardian");
	if (WIFEXITED(status) && WEXITSTATUS(status) == GUARD_TIMED_OUT)
		die("the filesystem was thawed before the copy finished (took longer than "
		    "--max-frozen-ms); no snapshot made");
	if (r < 0)
		die("the filesystem was thawed before the copy finished (the guardian was "
		    "signalled, or another process thawed it); no snapshot made");
	sync_parent(o->dst);

	printf("{\"method\":\"%s\",\"size\":%lld,\"copied\":%lld,\"freeze_ms\":%.3f,"
	       "\"frozen_ms\":%.3f,\"ms\":%.3f}\n",
	       c.reflinked ? "reflink" : "copy", (long long)c.size, (long long)c.done,
	       ms_since(t0, t1), ms_since(t1, t2), ms_since(t_start, now_ns(CLOCK_MONOTONIC)));
	finish_output();
	g_dst_made = 0;
	return 0;
}

static int cmd_thaw(const struct opts *o)
{
	struct stat st;
	bool thawed = true;

	cleanup_fd int dir = open_mount(o->mount, &st);
	cleanup_fd int loop = o->loop ? open_loop(o->loop, o->mount, st.st_dev) : -1;
	if (ioctl(dir, FITHAW, 0) < 0) {
		if (errno != EINVAL && errno != EOPNOTSUPP)
			die_errno_mapped("thaw %s", o->mount);
		thawed = false; /* was not frozen; EOPNOTSUPP: cannot even be */
	}
	if (o->marker && unlink(o->marker) < 0 && errno != ENOENT)
		die_errno_mapped("remove %s", o->marker);
	printf("{\"thawed\":%s}\n", thawed ? "true" : "false");
	finish_output();
	return 0;
}

/* A nameless file in dir: O_TMPFILE, else a mkostemp name unlinked at once. */
static int probe_file(const char *path, int dir)
{
	char tmpl[VPS_PATH_MAX + 32];
	int fd = openat(dir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	snprintf(tmpl, sizeof(tmpl), "%s/.vps-snap-probe.XXXXXX", path);
	fd = mkostemp(tmpl, O_CLOEXEC);
	if (fd >= 0)
		unlink(tmpl);
	return fd;
}

static const struct {
	unsigned long magic;
	const char *name;
} fs_names[] = {
	{ XFS_SUPER_MAGIC, "xfs" },
	{ BTRFS_SUPER_MAGIC, "btrfs" },
	{ EXT4_SUPER_MAGIC, "ext4" },
	{ TMPFS_MAGIC, "tmpfs" },
};

static int cmd_probe(const char *path)
{
	static char buf[PROBE_BYTES];
	char fs[32];
	struct statfs sfs;
	bool reflink;
	int r;

	cleanup_fd int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		die_errno_mapped("open %s", path);
	if (fstatfs(dir, &sfs) < 0)
		die_with_error("statfs %s", path);
	cleanup_fd int a = probe_file(path, dir);
	cleanup_fd int b = a < 0 ? -1 : probe_file(path, dir);
	if (a < 0 || b < 0)
		die_errno_mapped("create a file in %s", path);
	memset(buf, 0x5a, sizeof(buf));
	if ((r = write_all(a, buf, sizeof(buf))) < 0 || (r = fsync(a) < 0 ? -errno : 0) < 0) {
		errno = -r;
		die_errno_mapped("write a file in %s", path);
	}
	reflink = ioctl(b, FICLONE, a) == 0;
	snprintf(fs, sizeof(fs), "other:0x%lx", (unsigned long)sfs.f_type);
	for (size_t i = 0; i < sizeof(fs_names) / sizeof(fs_names[0]); i++)
		if ((unsigned long)sfs.f_type == fs_names[i].magic)
			snprintf(fs, sizeof(fs), "%s", fs_names[i].name);
	printf("{\"reflink\":%s,\"fs\":\"%s\"}\n", reflink ? "true" : "false", fs);
	finish_output();
	return 0;
}

/* ---- argv ---- */

static const char *path_arg(const char *opt, const char *v)
{
	if (strnlen(v, VPS_PATH_MAX) >= VPS_PATH_MAX)
		die_code(VPS_EUSAGE, "%s: path longer than %d bytes", opt, VPS_PATH_MAX - 1);
	if (!valid_abs_path(v))
		die_code(VPS_EUSAGE, "%s wants an absolute path without '..': %.64s", opt, v);
	return v;
}

static void parse_opts(int argc, char **argv, unsigned allowed, struct opts *o)
{
	unsigned seen = 0;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v;
		unsigned bit = 0;
		char *end;

		for (size_t k = 0; k < sizeof(opt_names) / sizeof(opt_names[0]); k++)
			if (strcmp(a, opt_names[k].name) == 0)
				bit = opt_names[k].bit;
		if (!(bit & allowed))
			die_code(VPS_EUSAGE, "%s: unknown argument %.64s", argv[1], a);
		if (seen & bit)
			die_code(VPS_EUSAGE, "%s given twice", a);
		seen |= bit;
		if (bit == OPT_PROGRESS) {
			o->progress = true;
			continue;
		}
		v = arg_value(argc, argv, &i);
		switch (bit) {
		case OPT_METHOD:
			for (o->method = METHOD_AUTO; o->method <= METHOD_COPY; o->method++)
				if (strcmp(v, method_names[o->method]) == 0)
					break;
			if (o->method > METHOD_COPY)
				die_code(VPS_EUSAGE, "--method wants auto, reflink or copy");
			break;
		case OPT_MAXF:
			errno = 0;
			o->max_frozen_ms = strtol(v, &end, 10);
			if (errno || !*v || *end || o->max_frozen_ms < 1 ||
			    o->max_frozen_ms > 3600000)
				die_code(VPS_EUSAGE, "--max-frozen-ms wants 1..3600000");
			break;
		case OPT_MOUNT:
			o->mount = path_arg(a, v);
			break;
		case OPT_LOOP:
			o->loop = path_arg(a, v);
			break;
		case OPT_SRC:
			o->src = path_arg(a, v);
			break;
		case OPT_DST:
			o->dst = path_arg(a, v);
			break;
		default:
			o->marker = path_arg(a, v);
		}
	}
	for (size_t k = 0; k < sizeof(opt_names) / sizeof(opt_names[0]); k++) {
		unsigned bit = opt_names[k].bit;
		bool required = bit & (OPT_MOUNT | OPT_SRC | OPT_DST) ||
				(bit == OPT_LOOP && strcmp(argv[1], "snapshot") == 0);
		if ((allowed & bit) && required && !(seen & bit))
			die_code(VPS_EUSAGE, "%s: %s is required", argv[1], opt_names[k].name);
	}
}

/* Every later open() must get a fd above 2, never stdin/stdout/stderr. */
static void ensure_std_fds(void)
{
	for (;;) {
		int fd = open("/dev/null", O_RDWR);
		if (fd < 0)
			return;
		if (fd > 2) {
			close(fd);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	const char *cmd = argc > 1 ? argv[1] : "";

	prog_name = "vps-snap";
	ensure_std_fds();
	memset(&o, 0, sizeof(o));
	o.max_frozen_ms = MAX_FROZEN_MS;
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
		usage(0);
	install_handlers(on_fatal_signal);
	set_die_sink(rollback);

	if (strcmp(cmd, "clone") == 0) {
		parse_opts(argc, argv, OPT_SRC | OPT_DST | OPT_METHOD | OPT_PROGRESS, &o);
		return cmd_clone(&o);
	}
	if (strcmp(cmd, "snapshot") == 0) {
		parse_opts(argc, argv,
			   OPT_MOUNT | OPT_LOOP | OPT_SRC | OPT_DST | OPT_METHOD | OPT_MAXF |
				   OPT_MARKER | OPT_PROGRESS,
			   &o);
		return cmd_snapshot(&o);
	}
	if (strcmp(cmd, "thaw") == 0) {
		parse_opts(argc, argv, OPT_MOUNT | OPT_LOOP | OPT_MARKER, &o);
		return cmd_thaw(&o);
	}
	if (strcmp(cmd, "usage") == 0 || strcmp(cmd, "probe") == 0 || strcmp(cmd, "union") == 0) {
		bool probe = cmd[0] == 'p';
		if (probe && argc != 3)
			die_code(VPS_EUSAGE, "probe wants one DIR");
		if (argc < 3 || argc - 2 > MAX_FILES)
			die_code(VPS_EUSAGE, "%s wants 1..%d FILEs", cmd, MAX_FILES);
		for (int i = 2; i < argc; i++)
			path_arg(probe ? "DIR" : "FILE", argv[i]);
		if (probe)
			return cmd_probe(argv[2]);
		return cmd[1] == 'n' ? snap_union(argc - 2, argv + 2) : snap_usage(argc - 2, argv + 2);
	}
	if (argc < 2)
		usage(VPS_EUSAGE);
	die_code(VPS_EUSAGE, "unknown command %.64s (clone, snapshot, thaw, usage, union, probe)", cmd);
}
