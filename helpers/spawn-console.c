/* spawn-console.c — the monitor's console: the pty, console.log and the clients of console.sock (see vps-spawn.c). */
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

/* ------------------------------------------------------------------ monitor: console rate */

/* The console is read at CONSOLE_RATE at most (a budget refilled with time, one second's
 * worth at most): a tenant flooding it costs the monitor, which runs outside the
 * container's cgroups, little CPU, and its writers wait in the pty as on a slow serial
 * line. The teardown and boot drains are not limited. */
static struct {
	long long at;   /* ms of the last refill */
	size_t budget;  /* bytes that may be read now */
	bool throttled; /* the master is not polled for input until the budget refills */
} CR;

static size_t console_budget(void)
{
	long long now = mono_ms();
	size_t add;

	if (!CR.at) {
		CR.at = now;
		CR.budget = CONSOLE_RATE;
	}
	add = (size_t)((now - CR.at) * CONSOLE_RATE / 1000);
	if (add) {
		CR.budget = CR.budget + add > CONSOLE_RATE ? CONSOLE_RATE : CR.budget + add;
		CR.at = now;
	}
	return CR.budget;
}

/* What the pty master is polled for (kbd_pending: the typer has keystrokes waiting). */
static short console_events(bool kbd_pending)
{
	return (short)((CR.throttled ? 0 : POLLIN) | (kbd_pending ? POLLOUT : 0));
}

/* ------------------------------------------------------------------ monitor: console clients */

/* The clients of console.sock (see the header comment and console-proto.h). Only
 * client_flush sends to a client, and a client is dropped only where client_flush or a
 * read says it is gone or misbehaves; the rest just queues (and client_drop only marks the
 * next typer's 'S' as owed), so nothing recurses. */

struct client {
	int fd;                            /* -1: a free slot */
	bool hello, wants_type, state_due; /* state_due: an 'S' frame is owed */
	unsigned long long since;          /* attach order, for the typer's succession */
	long long hello_by;                /* ms: dropped if it has not said hello by then */
	uint64_t lost;                     /* output dropped and not yet reported ('L') */
	size_t in_len, out_off, out_len;   /* out[out_off ..] is queued */
	uint8_t in[CONSOLE_HDR + CONSOLE_FRAME_MAX];
	uint8_t out[CONSOLE_CLIENT_BUF];
};

static struct {
	struct client c[CONSOLE_MAX_CLIENT];
	struct client *typer;
	long long accept_at;         /* ms: accept() failed for lack of fds or memory; retry then */
	unsigned long long attached; /* clients accepted so far */
	uint8_t kbd[CONSOLE_FRAME_MAX]; /* the typer's keystrokes the pty has not taken yet */
	size_t kbd_off, kbd_len;
} CS;

static struct client *client_of(int fd)
{
	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++)
		if (CS.c[i].fd == fd)
			return &CS.c[i];
	return NULL;
}

/* The typer is not read while its keystrokes wait for the pty. */
static bool client_paused(const struct client *c)
{
	return c == CS.typer && CS.kbd_len;
}

static short client_events(const struct client *c)
{
	return (short)((client_paused(c) ? 0 : POLLIN) |
		       (c->out_len || c->state_due || c->lost ? POLLOUT : 0));
}

/* Append one frame to c's output buffer; false (nothing queued) when it does not fit. */
static bool client_queue(struct client *c, uint8_t type, const void *p, size_t len)
{
	uint8_t *f;

	if (CONSOLE_CLIENT_BUF - c->out_len < CONSOLE_HDR + len)
		return false;
	if (CONSOLE_CLIENT_BUF - c->out_off - c->out_len < CONSOLE_HDR + len) {
		memmove(c->out, c->out + c->out_off, c->out_len);
		c->out_off = 0;
	}
	f = c->out + c->out_off + c->out_len;
	f[0] = type;
	f[1] = (uint8_t)(len >> 8);
	f[2] = (uint8_t)len;
	memcpy(f + CONSOLE_HDR, p, len);
	c->out_len += CONSOLE_HDR + len;
	return true;
}

/* Queue what c is owed ('S', then 'L') as far as it fits; true when nothing is left.
 * After a loss, output resumes only once the buffer is half empty (no 'L' per read). */
static bool client_owed(struct client *c)
{
	if (c->state_due) {
		uint8_t s = c == CS.typer ? 'w' : 'r';
		if (!client_queue(c, CF_STATE, &s, 1))
			return false;
		c->state_due = false;
	}
	if (c->lost) {
		if (c->out_len > CONSOLE_CLIENT_BUF / 2)
			return false;
		uint32_t n = c->lost > UINT32_MAX ? UINT32_MAX : (uint32_t)c->lost;
		uint32_t be = htobe32(n);
		if (!client_queue(c, CF_LOST, &be, sizeof(be)))
			return false;
		c->lost -= n;
	}
	return !c->lost;
}

/* Send what the socket takes now, and poll for POLLOUT while anything is left.
 * False: the client is gone. */
static bool client_flush(struct client *c)
{
	for (;;) {
		client_owed(c);
		if (!c->out_len)
			break;
		ssize_t n =
			send(c->fd, c->out + c->out_off, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		c->out_off += (size_t)n;
		c->out_len -= (size_t)n;
		if (c->out_len) /* the socket is full */
			break;
	}
	if (!c->out_len)
		c->out_off = 0;
	watch_events(c->fd, client_events(c));
	return true;
}

/* Give the pty master what it takes of the pending keystrokes (nonblocking). */
static void kbd_write(void)
{
	while (CS.kbd_len) {
		ssize_t n = write(M.pty_master, CS.kbd + CS.kbd_off, CS.kbd_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == EAGAIN))
			break;
		if (n < 0) /* EIO: no slave open, nobody to type to */
			n = (ssize_t)CS.kbd_len;
		CS.kbd_off += (size_t)n;
		CS.kbd_len -= (size_t)n;
	}
	watch_events(M.pty_master, console_events(CS.kbd_len));
}

/* Forget c; if it typed, the longest-attached client that asked to type takes over. */
static void client_drop(struct client *c)
{
	struct client *next = NULL;

	watch_del(c->fd);
	close(c->fd);
	c->fd = -1;
	if (c != CS.typer)
		return;
	CS.kbd_len = 0; /* its last keystrokes go with it */
	kbd_write();
	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++) {
		struct client *o = &CS.c[i];
		if (o->fd >= 0 && o->hello && o->wants_type && (!next || o->since < next->since))
			next = o;
	}
	CS.typer = next;
	if (next) {
		next->state_due = true;
		watch_events(next->fd, client_events(next));
	}
}

/* One frame from c. False: protocol error. */
static bool client_frame(struct client *c, uint8_t type, const uint8_t *p, size_t len)
{
	struct winsize ws;

	if (!c->hello) { /* the first frame says hello: 'w' wants to type, 'r' watches */
		if (type != CF_HELLO || len != 1 || (p[0] != 'w' && p[0] != 'r'))
			return false;
		c->hello = c->state_due = true;
		c->wants_type = p[0] == 'w';
		if (c->wants_type && !CS.typer)
			CS.typer = c;
		return true;
	}
	switch (type) {
	case CF_DATA: /* a watcher's keystrokes are ignored */
		if (c == CS.typer && len) {
			memcpy(CS.kbd, p, len);
			CS.kbd_off = 0;
			CS.kbd_len = len;
			kbd_write();
		}
		return true;
	case CF_WINSZ:
		if (len != 4)
			return false;
		ws = (struct winsize){ .ws_row = (unsigned short)(p[0] << 8 | p[1]),
				       .ws_col = (unsigned short)(p[2] << 8 | p[3]) };
		if (c == CS.typer && ws.ws_row && ws.ws_col)
			ioctl(M.pty_master, TIOCSWINSZ, &ws);
		return true;
	default:
		return false;
	}
}

/* Handle the complete frames in c->in, stopping while c's keystrokes wait for the pty (the
 * rest stays buffered). False: protocol error. */
static bool client_frames(struct client *c)
{
	size_t off = 0, len;

	while (!client_paused(c) && c->in_len - off >= CONSOLE_HDR) {
		const uint8_t *f = c->in + off;
		len = (size_t)f[1] << 8 | f[2];
		if (len > CONSOLE_FRAME_MAX)
			return false;
		if (c->in_len - off < CONSOLE_HDR + len)
			break;
		if (!client_frame(c, f[0], f + CONSOLE_HDR, len))
			return false;
		off += CONSOLE_HDR + len;
	}
	c->in_len -= off;
	memmove(c->in, c->in + off, c->in_len);
	return true;
}

/* The pty master can take more: write the pending keystrokes; once all are taken, go on
 * with the frames the typer sent meanwhile, and read it again. */
static void kbd_flush(void)
{
	struct client *c = CS.typer;

	kbd_write();
	if (CS.kbd_len || !c)
		return;
	if (!client_frames(c) || !client_flush(c))
		client_drop(c);
}

static void on_console_client(int fd, short revents)
{
	struct client *c = client_of(fd);
	bool ok = true;
	ssize_t n;

	if (!c)
		return;
	if (client_paused(c)) {
		ok = !(revents & (POLLHUP | POLLERR)); /* gone before the pty took its keystrokes */
	} else if (revents & (POLLIN | POLLHUP | POLLERR)) {
		n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n > 0)
			c->in_len += (size_t)n;
		ok = n > 0 ? client_frames(c) : n < 0 && (errno == EAGAIN || errno == EINTR);
	}
	if (!ok || !client_flush(c))
		client_drop(c);
}

/* Console output, as 'D' frames, to every client that said hello. A frame that does not
 * fit in a client's buffer is dropped and counted; nothing here waits for a client. */
static void console_broadcast(const char *buf, size_t n)
{
	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++) {
		struct client *c = &CS.c[i];
		bool idle = !c->out_len; /* else POLLOUT is on already */

		if (c->fd < 0 || !c->hello)
			continue;
		for (size_t off = 0, len; off < n; off += len) {
			len = n - off < CONSOLE_FRAME_MAX ? n - off : CONSOLE_FRAME_MAX;
			if (!client_owed(c) || !client_queue(c, CF_DATA, buf + off, len))
				c->lost += len;
		}
		if (idle && !client_flush(c))
			client_drop(c);
	}
}

void on_console_listen(int fd, short revents)
{
	(void)revents;
	for (;;) {
		cleanup_fd int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c = client_of(-1); /* a free slot */
		struct ucred cr;
		socklen_t len = sizeof(cr);

		if (cfd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (cfd < 0 && errno != EAGAIN) { /* EMFILE, ENOBUFS...: do not spin on it */
			watch_events(fd, 0);
			CS.accept_at = mono_ms() + CONSOLE_ACCEPT_MS;
		}
		if (cfd < 0)
			return;
		if (!c || getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != 0)
			continue; /* refused: closed as the loop turns */
		memset(c, 0, offsetof(struct client, in));
		c->fd = steal_fd(&cfd);
		c->since = ++CS.attached;
		c->hello_by = mono_ms() + CONSOLE_HELLO_MS;
		watch_add(c->fd, POLLIN, on_console_client);
	}
}

/* Listen on <run-dir>/console.sock, mode 0600. Bound relative to the run dir: its absolute
 * path may not fit in sun_path. */
void console_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = CONSOLE_SOCK };
	mode_t mask;
	int r, err;

	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++)
		CS.c[i].fd = -1;
	M.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (M.listen_fd < 0)
		die_with_error("console socket");
	if (unlinkat(M.run_fd, CONSOLE_SOCK, 0) < 0 && errno != ENOENT)
		die_with_error("remove the stale %s/%s", M.o->run_dir, CONSOLE_SOCK);
	if (fchdir(M.run_fd) < 0)
		die_with_error("fchdir %s", M.o->run_dir);
	mask = umask(0177); /* the socket is born 0600 */
	r = bind(M.listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	err = errno;
	umask(mask);
	if (chdir("/") < 0)
		die_with_error("chdir /");
	errno = err;
	if (r < 0 || listen(M.listen_fd, CONSOLE_MAX_CLIENT) < 0)
		die_with_error("listen on %s/%s", M.o->run_dir, CONSOLE_SOCK);
}

/* ------------------------------------------------------------------ monitor: console */

static int console_log_open(int flags)
{
	return openat(M.run_fd, "console.log",
		      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | flags, 0640);
}

void console_open(void)
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
	/* userns mode: the console is the container's (root:tty inside), or init cannot
	 * reopen it by name to bind it on /dev/console */
	if (M.o->userns &&
	    fchown(M.pty_slave, M.o->host_uid, M.o->host_gid + (M.o->id_count > 5 ? 5 : 0)) < 0)
		die_with_error("chown console pty");
	if (tcgetattr(M.pty_slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(M.pty_slave, TCSANOW, &t);
	}
	ioctl(M.pty_master, TIOCSWINSZ, &ws);
	fcntl(M.pty_master, F_SETFL, fcntl(M.pty_master, F_GETFL) | O_NONBLOCK);

	M.console_fd = console_log_open(0);
	if (M.console_fd < 0)
		die_with_error("open console.log");
	M.console_size = fstat(M.console_fd, &st) == 0 ? st.st_size : 0;
}

/* console.log -> console.log.1 (replacing an older one) and a fresh console.log: what led
 * up to a flood survives it, and at most 2 * CONSOLE_LOG_MAX is kept. */
static void console_log_rotate(void)
{
	int fd = -1;

	if (renameat(M.run_fd, "console.log", M.run_fd, "console.log.1") == 0)
		fd = console_log_open(O_TRUNC);
	if (fd < 0) { /* keep the bound at least */
		log_warn("rotate console.log: %s", strerror(errno));
		if (ftruncate(M.console_fd, 0) == 0)
			M.console_size = 0;
		return;
	}
	close(M.console_fd);
	M.console_fd = fd;
	M.console_size = 0;
}

static void console_log_append(const char *buf, size_t n)
{
	if (M.console_size > 0 && M.console_size + (off_t)n > CONSOLE_LOG_MAX)
		console_log_rotate();
	if (write_all(M.console_fd, buf, n) == 0)
		M.console_size += (off_t)n;
}

/* Drain the master: systemd blocks on console writes otherwise. At most CONSOLE_DRAIN_MAX
 * bytes a call, so that a flood cannot hold up the rest of the event loop (poll reports
 * the master again at once), and when limited, within the CONSOLE_RATE budget (out of it,
 * the master is not polled until console_timers says so). Returns -EIO when no slave is open
 * (cannot happen while we hold pty_slave). */
int console_drain(bool limited)
{
	char buf[8192];
	size_t max = CONSOLE_DRAIN_MAX, total = 0;
	int r = 0;

	if (limited && console_budget() < max)
		max = CR.budget;
	while (total < max) {
		size_t want = max - total < sizeof(buf) ? max - total : sizeof(buf);
		ssize_t n = read(M.pty_master, buf, want);
		if (n > 0) {
			console_log_append(buf, (size_t)n);
			console_broadcast(buf, (size_t)n);
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		r = n < 0 && errno == EIO ? -EIO : 0;
		break;
	}
	if (limited) {
		CR.budget -= total < CR.budget ? total : CR.budget;
		if (CR.budget < sizeof(buf) && !CR.throttled) {
			CR.throttled = true;
			watch_events(M.pty_master, console_events(CS.kbd_len));
		}
	}
	return r;
}

/* Called every turn of the event loop: a throttled console is polled again once its
 * budget has refilled, a client that has not said hello in time is dropped, a listener
 * that ran out of fds listens again. Returns the poll timeout the loop should use. */
int console_timers(void)
{
	long long now = mono_ms(), next = -1;

	if (CR.throttled && console_budget() >= CONSOLE_RATE / 8) {
		CR.throttled = false;
		watch_events(M.pty_master, console_events(CS.kbd_len));
	}
	if (CR.throttled)
		next = now + CONSOLE_PAUSE_MS;
	if (CS.accept_at && CS.accept_at <= now) {
		CS.accept_at = 0;
		watch_events(M.listen_fd, POLLIN);
	}
	if (CS.accept_at && (next < 0 || CS.accept_at < next))
		next = CS.accept_at;
	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++) {
		struct client *c = &CS.c[i];
		if (c->fd < 0 || c->hello)
			continue;
		if (c->hello_by <= now)
			client_drop(c);
		else if (next < 0 || c->hello_by < next)
			next = c->hello_by;
	}
	return next < 0 ? -1 : (int)(next - now);
}

static bool console_watched;

static void on_console(int fd, short revents)
{
	if (revents & POLLOUT)
		kbd_flush();
	if (console_drain(true) == -EIO && (revents & (POLLHUP | POLLERR))) {
		watch_del(fd); /* do not spin on a hung-up master */
		console_watched = false;
	}
}

void console_watch(void)
{
	if (!console_watched) {
		watch_add(M.pty_master, console_events(CS.kbd_len), on_console);
		console_watched = true;
	}
}
