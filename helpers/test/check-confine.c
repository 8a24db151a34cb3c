/*
 * `make check`: the R6 filter's keyring calls (confine.c), as TAP, on this very kernel. Each
 * case loads confine_seccomp() in a child (under NO_NEW_PRIVS, so no privilege is needed)
 * and makes the calls there: add_key, request_key and keyctl get EPERM for a privileged
 * container, ENOSYS for an unprivileged one without the keyctl feature, and reach the
 * kernel with it; by their x86_64 numbers and, where the kernel has its i386 entry, by
 * `int $0x80` with the i386 ones. Every other denied call stays EPERM in each mode.
 */
#define _GNU_SOURCE
#include "../confine.h"
#include "tap.h"

#include <linux/keyctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

/* What one call returned in the child: its errno, 0 for success, -1 for a signal. */
enum call { ADD_KEY, REQUEST_KEY, KEYCTL, DELETE_MODULE, I386_GETPID, I386_KEYCTL };

static long i386_call(long nr, long a, long b, long c)
{
#if defined(__x86_64__)
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
	return ret;
#else
	(void)nr, (void)a, (void)b, (void)c;
	return -ENOSYS;
#endif
}

static int call(enum call which)
{
	long r;

	errno = 0;
	switch (which) {
	case ADD_KEY:
		r = syscall(SYS_add_key, "user", "vpsctl-check", "x", 1, KEY_SPEC_PROCESS_KEYRING);
		break;
	case REQUEST_KEY:
		/* a key that is not there, and no callout: ENOKEY from the kernel itself */
		r = syscall(SYS_request_key, "user", "vpsctl-check-none", NULL, 0);
		break;
	case KEYCTL:
		r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
		break;
	case DELETE_MODULE:
		r = syscall(SYS_delete_module, "vpsctl-check", 0);
		break;
	case I386_GETPID:
		r = i386_call(20, 0, 0, 0);
		return r > 0 ? 0 : (int)-r;
	case I386_KEYCTL:
		r = i386_call(288, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
		return r >= 0 ? 0 : (int)-r;
	}
	return r >= 0 ? 0 : errno;
}

/* The call's errno under the filter of rule (or under none, for rule -1), from a child:
 * -1 if a signal ended it (SIGSEGV: no i386 entry), -2 if the filter did not load. */
static int filtered(int rule, enum call which)
{
	int st;
	pid_t c;

	fflush(NULL);
	c = fork();
	if (c < 0)
		return -3;
	if (c == 0) {
		if (rule >= 0 && (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
				  confine_seccomp((enum keyring_rule)rule) < 0))
			_exit(254);
		_exit(call(which) & 0xff);
	}
	while (waitpid(c, &st, 0) < 0)
		if (errno != EINTR)
			return -3;
	if (!WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st) == 254 ? -2 : WEXITSTATUS(st);
}

static void rules(void)
{
	ok(keyring_rule(false, false) == KEYRING_EPERM && keyring_rule(false, true) == KEYRING_EPERM,
	   "privileged: EPERM, with or without the keyctl feature");
	ok(keyring_rule(true, false) == KEYRING_ENOSYS, "unprivileged without keyctl: ENOSYS");
	ok(keyring_rule(true, true) == KEYRING_ALLOW, "unprivileged with keyctl: allowed");
}

static void x86_64(void)
{
	static const char *const names[] = { "add_key", "request_key", "keyctl" };
	/* the kernel's own answer, with no filter: a kernel without keyrings has ENOSYS */
	bool keys = filtered(-1, KEYCTL) == 0;

	for (enum call k = ADD_KEY; k <= KEYCTL; k++) {
		char what[128];
		int e = filtered(KEYRING_EPERM, k), n = filtered(KEYRING_ENOSYS, k),
		    a = filtered(KEYRING_ALLOW, k);
		snprintf(what, sizeof(what), "x86_64 %s: EPERM privileged (got %d)", names[k], e);
		ok(e == EPERM, what);
		snprintf(what, sizeof(what), "x86_64 %s: ENOSYS unprivileged (got %d)", names[k], n);
		ok(n == ENOSYS, what);
		snprintf(what, sizeof(what), "x86_64 %s: the kernel's own answer with keyctl (got %d)",
			 names[k], a);
		ok(a == filtered(-1, k) && (!keys || (a != ENOSYS && a != EPERM)), what);
	}
	ok(filtered(KEYRING_ALLOW, DELETE_MODULE) == EPERM &&
		   filtered(KEYRING_ENOSYS, DELETE_MODULE) == EPERM &&
		   filtered(KEYRING_EPERM, DELETE_MODULE) == EPERM,
	   "delete_module stays EPERM in every mode");
}

static void i386(void)
{
	if (filtered(-1, I386_GETPID) != 0) {
		printf("# the kernel has no i386 entry here (int $0x80 getpid failed): skipped\n");
		ok(true, "i386 keyctl: skipped, no i386 entry # SKIP");
		return;
	}
	ok(filtered(KEYRING_EPERM, I386_KEYCTL) == EPERM, "i386 keyctl (288): EPERM privileged");
	ok(filtered(KEYRING_ENOSYS, I386_KEYCTL) == ENOSYS, "i386 keyctl (288): ENOSYS unprivileged");
	ok(filtered(KEYRING_ALLOW, I386_KEYCTL) == filtered(-1, I386_KEYCTL),
	   "i386 keyctl (288): the kernel's own answer with keyctl");
}

int main(void)
{
	prog_name = "check-confine";
	rules();
	x86_64();
	i386();
	return tap_done();
}
