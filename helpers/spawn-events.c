/*
 * The monitor's part of the host's event log (vps-spawn --events FILE --event-source SRC),
 * and its watch of the container's OOM kills.
 *
 * The event log is one file of JSON lines that the CLI, the daemon and every monitor append
 * to (docs/ARCHITECTURE.md, "Events"): {"time","id","kind","source","details"}. Each line
 * is one write(2) on an O_APPEND descriptor, so writers never interleave. A writer that
 * leaves the file over EVENTS_MAX bytes renames it to events-<UTC time>-<pid>.log (a name
 * of its own: two writers rotating at once each keep what they moved) and keeps the newest
 * EVENTS_KEEP of those; src/sys/eventlog.ts does the same from Node.
 *
 * The monitor writes what only it sees: the container started (at each boot), stopped and
 * why, rebooted from inside, and OOM kills. A stop that vpsctl asked for is told by the file
 * RUN_DIR/stop-request, which holds the asker's source (cli, api, cron).
 *
 * OOM kills: on cgroup v2 the container's memory.events (its oom_kill count covers the
 * whole tree) is polled for POLLPRI, which the kernel raises when the file changes (at the
 * kill too); on v1, whose oom_control eventfd fires when the OOM begins, before the kill is
 * counted, memory.oom_control is read once a second. Either way each rise of the oom_kill
 * count is one "oom" event.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "console-proto.h"
#include "monitor.h"

#define EVENTS_MAX  (4 << 20) /* bytes in the current file before it is rotated */
#define EVENTS_KEEP 4         /* rotated files kept */
#define EVENT_LINE  4096

static struct {
	int dir_fd;         /* the log's directory: the monitor's mounts may change under it */
	const char *name;   /* the current file's name in it */
	const char *source; /* of the first start: who asked for it */
	int oom_fd;         /* what poll watches: memory.events (v2) or a timer (v1) */
	int oom_file;       /* the file with the oom_kill count */
	unsigned long long oom_kills;
} E = { .dir_fd = -1, .oom_fd = -1, .oom_file = -1 };

void events_open(const char *file, const char *source)
{
	char dir[VPS_PATH_MAX];
	const char *slash = strrchr(file, '/');

	E.source = source ? source : "cli";
	if (!file || !slash || (size_t)(slash - file) >= sizeof(dir))
		return;
	memcpy(dir, file, (size_t)(slash - file));
	dir[slash - file] = 0;
	E.name = slash + 1;
	E.dir_fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (E.dir_fd < 0)
		log_warn("events are not logged: open %s: %s", dir, strerror(errno));
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_archive(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return strncmp(d->d_name, "events-", 7) == 0 && n > 11 &&
	       strcmp(d->d_name + n - 4, ".log") == 0;
}

/* Keeps the newest EVENTS_KEEP rotated files (their names sort by time). */
static void prune(void)
{
	struct dirent **list;
	char self[32];
	int n;

	snprintf(self, sizeof(self), "/proc/self/fd/%d", E.dir_fd);
	n = scandir(self, &list, is_archive, by_name);
	for (int i = 0; i < n; i++) {
		if (i < n - EVENTS_KEEP)
			unlinkat(E.dir_fd, list[i]->d_name, 0);
		free(list[i]);
	}
	if (n >= 0)
		free(list);
}

static void rotate(int fd)
{
	struct stat mine, now;
	struct timespec ts;
	struct tm tm;
	char stamp[32], name[96];

	if (fstat(fd, &mine) < 0 || mine.st_size <= EVENTS_MAX)
		return;
	if (fstatat(E.dir_fd, E.name, &now, AT_SYMLINK_NOFOLLOW) < 0 || now.st_ino != mine.st_ino)
		return; /* another writer rotated it already */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm);
	snprintf(name, sizeof(name), "events-%s.%03ldZ-%d.log", stamp, ts.tv_nsec / 1000000,
		 (int)getpid());
	if (renameat(E.dir_fd, E.name, E.dir_fd, name) == 0)
		prune();
}

void event_emit(const char *source, const char *kind, const char *details_fmt, ...)
{
	char details[EVENT_LINE / 2], line[EVENT_LINE], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	if (E.dir_fd < 0)
		return;
	va_start(ap, details_fmt);
	vsnprintf(details, sizeof(details), details_fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line),
		     "{\"time\":\"%s.%03ldZ\",\"id\":\"%s\",\"kind\":\"%s\",\"source\":\"%s\","
		     "\"details\":%s}\n",
		     stamp, ts.tv_nsec / 1000000, M.o->id, kind, source ? source : E.source,
		     details);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	cleanup_fd int fd = openat(E.dir_fd, E.name,
				   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0 || write(fd, line, (size_t)n) != n) {
		log_warn("event %s not logged: %s", kind, strerror(errno));
		return;
	}
	rotate(fd);
}

/* Who asked for this stop (RUN_DIR/stop-request), into buf; false when nobody did. */
bool stop_requested(char *buf, size_t cap)
{
	cleanup_fd int fd = openat(M.run_fd, "stop-request", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, cap - 1);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
	/* a source is a short word; anything else is not ours to repeat */
	if (!*buf || strspn(buf, "abcdefghijklmnopqrstuvwxyz") != strlen(buf))
		snprintf(buf, cap, "cli");
	unlinkat(M.run_fd, "stop-request", 0);
	return true;
}

/* ------------------------------------------------------------------ OOM kills */

static bool read_oom_kills(unsigned long long *v)
{
	char buf[1024], *p;
	ssize_t n = pread(E.oom_file, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return false;
	buf[n] = 0;
	for (p = buf; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, "oom_kill ", 9) == 0)
			return sscanf(p + 9, "%llu", v) == 1;
	return false;
}

static void on_oom(int fd, short revents)
{
	unsigned long long now, ev;

	if (fd != E.oom_file) /* v1: the timer */
		(void)!read(fd, &ev, sizeof(ev));
	else if (!(revents & (POLLPRI | POLLERR)))
		return;
	if (!read_oom_kills(&now) || now <= E.oom_kills)
		return;
	event_emit("monitor", "oom", "{\"kills\":%llu,\"total\":%llu}", now - E.oom_kills, now);
	E.oom_kills = now;
}

static int open_v1(const char *dir)
{
	struct itimerspec every = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	char path[VPS_PATH_MAX + 32];
	int tfd;

	snprintf(path, sizeof(path), "%s/memory.oom_control", dir);
	E.oom_file = open(path, O_RDONLY | O_CLOEXEC);
	if (E.oom_file < 0)
		return -1;
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (tfd < 0 || timerfd_settime(tfd, 0, &every, NULL) < 0) {
		if (tfd >= 0)
			close(tfd);
		return -1;
	}
	watch_add(tfd, POLLIN, on_oom);
	return tfd;
}

void oom_watch_start(void)
{
	char path[VPS_PATH_MAX + 32];

	if (E.dir_fd < 0)
		return; /* nowhere to tell */
	for (size_t i = 0; i < M.o->n_cg && E.oom_fd < 0; i++) {
		const struct cgroup_arg *c = &M.o->cg[i];
		if (c->v2) {
			snprintf(path, sizeof(path), "%s/memory.events", c->hostdir);
			E.oom_file = open(path, O_RDONLY | O_CLOEXEC);
			if (E.oom_file >= 0) {
				E.oom_fd = E.oom_file;
				watch_add(E.oom_fd, POLLPRI, on_oom);
			}
		} else if (strstr(c->options, "memory")) {
			E.oom_fd = open_v1(c->hostdir);
		}
	}
	if (E.oom_fd < 0) {
		if (E.oom_file >= 0)
			close(E.oom_file);
		E.oom_file = -1;
		log_warn("OOM kills are not watched: no memory cgroup file to watch");
		return;
	}
	if (!read_oom_kills(&E.oom_kills))
		E.oom_kills = 0;
}
