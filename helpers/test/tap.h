/* tap.h — the few TAP helpers the C unit tests share (`make check`). A parser that dies
 * (die_code: one line on stderr, an exit code of exit-codes.h) is run in a child, so a test
 * sees what a caller of the helper sees: the exit code and the message. */
#ifndef VPS_TAP_H
#define VPS_TAP_H

#include "../common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int tap_n, tap_failed;

static inline void ok(bool cond, const char *what)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++tap_n, what);
	if (!cond)
		tap_failed++;
}

/* Print the plan; the exit status of the test binary. */
static inline int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

/* Run fn(arg) in a child (stdout to /dev/null): its exit code (-1 if it returned or was
 * killed) and the start of what it wrote on stderr, in msg. */
static inline int run_dying(void (*fn)(const void *), const void *arg, char *msg, size_t cap)
{
	int p[2], st = 0;
	size_t len = 0;
	ssize_t n;
	pid_t c;

	msg[0] = '\0';
	fflush(NULL);
	if (pipe2(p, O_CLOEXEC) < 0 || (c = fork()) < 0)
		return -1;
	if (c == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 1) < 0 || dup2(p[1], 2) < 0)
			_exit(126);
		fn(arg);
		_exit(127);
	}
	close(p[1]);
	while (len + 1 < cap && (n = read(p[0], msg + len, cap - 1 - len)) > 0)
		len += (size_t)n;
	msg[len] = '\0';
	close(p[0]);
	while (waitpid(c, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) == 127)
		return -1;
	return WEXITSTATUS(st);
}

/* ok() that fn(arg) dies with code and a message holding want. */
static inline void dies(void (*fn)(const void *), const void *arg, int code, const char *want,
			const char *what)
{
	char msg[VPS_ERRMSG_MAX + 64];
	int got = run_dying(fn, arg, msg, sizeof(msg));
	bool good = got == code && strstr(msg, want);

	ok(good, what);
	if (!good)
		printf("# exit %d, stderr: %s# wanted exit %d and \"%s\"\n", got, msg, code, want);
}

#endif
