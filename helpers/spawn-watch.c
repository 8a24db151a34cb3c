/* spawn-watch.c — the monitor's event loop: one poll(2) over M.pfd, where each watch has its
 * own event mask (watch_events changes it, e.g. POLLOUT while a console client has output
 * queued) and a callback that gets the fd and revents. Adding or removing a watch clears its
 * revents, so a callback never sees another fd's. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>

#include "common.h"
#include "console-proto.h"
#include "monitor.h"

void watch_add(int fd, short events, watch_fn fn)
{
	for (size_t i = 0; i < MAX_WATCHES; i++) {
		if (M.fn[i])
			continue;
		M.pfd[i] = (struct pollfd){ .fd = fd, .events = events };
		M.fn[i] = fn;
		return;
	}
	die("too many watched fds");
}

void watch_events(int fd, short events)
{
	for (size_t i = 0; i < MAX_WATCHES; i++)
		if (M.fn[i] && M.pfd[i].fd == fd)
			M.pfd[i].events = events;
}

void watch_del(int fd)
{
	for (size_t i = 0; i < MAX_WATCHES; i++) {
		if (M.fn[i] && M.pfd[i].fd == fd) {
			M.fn[i] = NULL;
			M.pfd[i] = (struct pollfd){ .fd = -1 };
		}
	}
}

/* Serve the watches for ever (the console's timers set poll's timeout); the monitor ends
 * from a callback (init's end, a die). */
void watch_run(void)
{
	for (;;) {
		if (poll(M.pfd, MAX_WATCHES, console_timers()) < 0) {
			if (errno == EINTR)
				continue;
			die_with_error("poll");
		}
		for (size_t i = 0; i < MAX_WATCHES; i++)
			if (M.fn[i] && M.pfd[i].revents)
				M.fn[i](M.pfd[i].fd, M.pfd[i].revents);
	}
}
