/*
 * The monitor's guard of the pool's free space (vps-spawn --space-low BYTES).
 *
 * A container's disk is a sparse image file: its writes take space in the pool only when
 * they reach it. Should the pool fill anyway (a thin pool, the host filling its own
 * filesystem), a write the container's quota allows would fail in the loop device, the
 * guest's journal would abort and its root would go read-only. So the monitor looks at the
 * pool's free space every second, and when it falls under BYTES it freezes the container's
 * filesystem (FIFREEZE, as vps-snap does for a snapshot): writers inside wait, as on a thin
 * LVM pool that queues IO when full, and nothing fails. When the free space is back over twice
 * BYTES, the filesystem is thawed and the writes go on. While frozen, RUN_DIR/space-frozen
 * says since when and with how much free (vpsctl status reads it), and monitor.log has a
 * "space-frozen" and a "space-thawed" event.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "console-proto.h"
#include "monitor.h"
#include "spawn.h"

#define SPACE_FILE "space-frozen"

static uint64_t free_bytes(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return UINT64_MAX; /* unknown: never freeze on a failed look */
	return (uint64_t)sf.f_bavail * (uint64_t)sf.f_bsize;
}

int space_guard_start(struct space_guard *g, const char *rootfs, uint64_t low)
{
	struct itimerspec every = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };

	g->low = low;
	g->frozen = false;
	g->root_fd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	g->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (g->img_fd < 0 || g->root_fd < 0 || g->timer_fd < 0 ||
	    timerfd_settime(g->timer_fd, 0, &every, NULL) < 0) {
		log_warn("the pool space guard is off: %s", strerror(errno));
		space_guard_stop(g);
		return -1;
	}
	return g->timer_fd;
}

static void note(struct space_guard *g, int run_fd, uint64_t avail)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "{\"since\":%lld,\"free\":%llu,\"low\":%llu}\n",
			 (long long)time(NULL), (unsigned long long)avail,
			 (unsigned long long)g->low);
	cleanup_fd int fd = openat(run_fd, SPACE_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
				   0644);

	if (fd < 0 || write_all(fd, buf, (size_t)n) < 0)
		log_warn("write %s: %s", SPACE_FILE, strerror(errno));
}

void space_guard_tick(struct space_guard *g, int run_fd)
{
	uint64_t ticks, avail;

	if (read(g->timer_fd, &ticks, sizeof(ticks)) < 0 && errno == EAGAIN)
		return;
	avail = free_bytes(g->img_fd);
	if (!g->frozen && avail < g->low) {
		/* EBUSY: vps-snap has it frozen for a snapshot; the next tick tries again */
		if (ioctl(g->root_fd, FIFREEZE, 0) < 0) {
			if (errno != EBUSY)
				log_warn("the pool has %llu bytes free, but freezing the container's "
					 "filesystem failed: %s", (unsigned long long)avail, strerror(errno));
			return;
		}
		g->frozen = true;
		note(g, run_fd, avail);
		log_event("{\"event\":\"space-frozen\",\"free\":%llu,\"low\":%llu}",
			  (unsigned long long)avail, (unsigned long long)g->low);
		event_emit("monitor", "writes-held", "{\"free\":%llu,\"low\":%llu}",
			   (unsigned long long)avail, (unsigned long long)g->low);
	} else if (g->frozen && avail != UINT64_MAX && avail >= 2 * g->low) {
		space_guard_thaw(g, run_fd);
		log_event("{\"event\":\"space-thawed\",\"free\":%llu}", (unsigned long long)avail);
		event_emit("monitor", "writes-resumed", "{\"free\":%llu}", (unsigned long long)avail);
	}
}

void space_guard_thaw(struct space_guard *g, int run_fd)
{
	if (!g->frozen)
		return;
	if (ioctl(g->root_fd, FITHAW, 0) < 0 && errno != EINVAL)
		log_warn("thaw the container's filesystem: %s", strerror(errno));
	g->frozen = false;
	if (run_fd >= 0)
		unlinkat(run_fd, SPACE_FILE, 0);
}

void space_guard_stop(struct space_guard *g)
{
	if (g->root_fd >= 0)
		close(g->root_fd);
	if (g->img_fd >= 0)
		close(g->img_fd);
	if (g->timer_fd >= 0)
		close(g->timer_fd);
	g->root_fd = g->img_fd = g->timer_fd = -1;
}
