/* spawn-helper.c — the monitor runs vpsctl's other helpers (vps-net, vps-limit) (see spawn.h). */
#define _GNU_SOURCE
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Keep what fits of a stream: the head of stdout (one JSON line), the tail of stderr (its
 * last line is the message). */
static void keep(char *buf, size_t cap, size_t *len, const char *data, size_t n, bool tail)
{
	if (*len + n >= cap) {
		if (!tail)
			n = cap - 1 - *len;
		else if (n >= cap - 1) {
			data += n - (cap - 1);
			n = cap - 1;
			*len = 0;
		} else {
			size_t drop = *len + n - (cap - 1);
			memmove(buf, buf + drop, *len - drop);
			*len -= drop;
		}
	}
	memcpy(buf + *len, data, n);
	*len += n;
	buf[*len] = '\0';
}

void run_helper(const char *path, char *const argv[], char *out, size_t out_cap, int timeout_ms,
		const char *what)
{
	char err[VPS_ERRMSG_MAX] = "", chunk[4096], *nl;
	size_t out_len = 0, err_len = 0;
	cleanup_pipe int po[2] = { -1, -1 };
	cleanup_pipe int pe[2] = { -1, -1 };
	int st = 0;
	long long deadline = mono_ms() + timeout_ms;
	pid_t c;

	if (out_cap)
		out[0] = '\0';
	if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
		die_errno_mapped("pipe");
	c = fork();
	if (c < 0)
		die_errno_mapped("fork %s", argv[0]);
	if (c == 0) {
		char *const envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

		reset_signals();
		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(VPS_EFAIL);
		execve(path, argv, envp);
		dprintf(2, "%s: cannot run %s: %s\n", argv[0], path, strerror(errno));
		_exit(errno == ENOENT ? VPS_EHOST : VPS_EFAIL);
	}
	close(steal_fd(&po[1]));
	close(steal_fd(&pe[1]));
	for (int open_fds = 2; open_fds > 0;) {
		struct pollfd p[2] = { { .fd = po[0], .events = POLLIN }, { .fd = pe[0], .events = POLLIN } };
		long long left = deadline - mono_ms();
		int r = left > 0 ? poll(p, 2, (int)left) : 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			kill(c, SIGKILL);
			snprintf(err, sizeof(err), "did not finish in %d s", timeout_ms / 1000);
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(p[i].fd, chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(steal_fd(i ? &pe[0] : &po[0]));
				open_fds--;
			} else if (i == 0 && out_cap) {
				keep(out, out_cap, &out_len, chunk, (size_t)n, false);
			} else if (i == 1) {
				keep(err, sizeof(err), &err_len, chunk, (size_t)n, true);
			}
		}
	}
	while (waitpid(c, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return;
	for (size_t n = strlen(err); n > 0 && err[n - 1] == '\n'; n--)
		err[n - 1] = '\0';
	nl = strrchr(err, '\n');
	die_code(WIFEXITED(st) && WEXITSTATUS(st) >= 1 && WEXITSTATUS(st) <= 7 ? WEXITSTATUS(st)
									       : VPS_EFAIL,
		 "%s: %s", what, err[0] ? (nl ? nl + 1 : err) : "the helper did not finish");
}
