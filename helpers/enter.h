/* enter.h — vps-enter's options (enter-args.c parses them; its usage is at the top of
 * vps-enter.c). */
#ifndef VPS_ENTER_H
#define VPS_ENTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define MAX_CGROUPS 16
#define MAX_ENV     256
#define ENV_MAX_LEN (128 * 1024)

struct opts {
	pid_t pid;
	const char *cgroups[MAX_CGROUPS];
	size_t n_cg;
	const char *cwd; /* NULL: the user's home with --user/--login, else "/" */
	const char *env[MAX_ENV];
	size_t n_env;
	const char *user; /* NULL: root */
	bool pty, login;
	/* --keyctl: the container's init runs with the keyring calls allowed (its keyctl
	 * feature), so the command does too; without it they return ENOSYS. Never allowed in
	 * a container without a user namespace (confine.c keyring_rule). */
	bool keyctl;
	char **cmd;
};

/* Fill o (zeroed by the caller) from argv; dies with a usage error (exit 2) on a bad one,
 * prints the usage and exits 0 for --help. */
void parse_args(struct opts *o, int argc, char **argv);

#endif
