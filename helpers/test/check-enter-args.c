/*
 * `make check`: vps-enter's argv (enter-args.c), as TAP. What parses: a command, --login,
 * --pty, --user, --env, --cgroup, and --keyctl (the container's init runs with the keyring
 * calls allowed); what is refused, with the exit code and message a caller sees.
 */
#define _GNU_SOURCE
#include "../enter.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ARGV 64

/* parse_args over "vps-enter" args...; a fresh opts each time. */
static struct opts *parse(const char *const *args)
{
	static char *argv[MAX_ARGV];
	struct opts *o = calloc(1, sizeof(*o));
	int argc = 0;

	argv[argc++] = strdup("vps-enter");
	for (size_t i = 0; args[i] && argc < MAX_ARGV - 1; i++)
		argv[argc++] = strdup(args[i]);
	argv[argc] = NULL;
	if (!o)
		abort();
	parse_args(o, argc, argv);
	return o;
}

static void parse_void(const void *args)
{
	parse(args);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define REFUSED(code, want, what, ...) dies(parse_void, ARGS(__VA_ARGS__), code, want, what)

static void accepted(void)
{
	struct opts *o = parse(ARGS("--pid", "4242", "--", "true"));
	ok(o->pid == 4242 && o->cmd && strcmp(o->cmd[0], "true") == 0 && !o->cmd[1] && !o->pty &&
		   !o->login && !o->user && !o->cwd && o->n_env == 0 && o->n_cg == 0,
	   "--pid and a command: no pty, root, no env");
	ok(!o->keyctl, "without --keyctl the keyring calls stay closed (ENOSYS)");

	o = parse(ARGS("--pid", "4242", "--keyctl", "--", "keyctl", "show"));
	ok(o->keyctl && strcmp(o->cmd[0], "keyctl") == 0, "--keyctl: init's keyctl feature");

	o = parse(ARGS("--pid", "7", "--cgroup", "/sys/fs/cgroup/vpsctl/101/enter", "--cwd", "/srv",
		       "--env", "A=1", "--env", "B_2=x=y", "--user", "www-data", "--pty", "--login"));
	ok(o->n_cg == 1 && strcmp(o->cwd, "/srv") == 0 && o->n_env == 2 &&
		   strcmp(o->user, "www-data") == 0 && o->pty && o->login && !o->cmd && !o->keyctl,
	   "--cgroup, --cwd, --env twice, --user, --pty, --login");
	dies(parse_void, ARGS("--help"), 0, "", "--help exits 0");
}

static void refused(void)
{
	REFUSED(VPS_EUSAGE, "--pid is required", "no --pid", "--", "true");
	REFUSED(VPS_EUSAGE, "invalid --pid", "--pid 0", "--pid", "0", "--", "true");
	REFUSED(VPS_EUSAGE, "no command given", "no command", "--pid", "1");
	REFUSED(VPS_EUSAGE, "no command after it", "--login and a command", "--pid", "1",
		"--login", "--", "sh");
	REFUSED(VPS_EUSAGE, "unknown argument --keyctl=1", "--keyctl takes no value", "--pid", "1",
		"--keyctl=1", "--", "true");
	REFUSED(VPS_EUSAGE, "must be under /sys/fs/cgroup/", "--cgroup elsewhere", "--pid", "1",
		"--cgroup", "/tmp/x", "--", "true");
	REFUSED(VPS_EUSAGE, "--cwd must be absolute", "--cwd with ..", "--pid", "1", "--cwd",
		"/a/../b", "--", "true");
	REFUSED(VPS_EUSAGE, "--env wants NAME=VALUE", "--env without =", "--pid", "1", "--env",
		"A", "--", "true");
	REFUSED(VPS_EUSAGE, "not a user name or uid", "--user with a slash", "--pid", "1",
		"--user", "a/b", "--", "true");
}

int main(void)
{
	prog_name = "vps-enter";
	accepted();
	refused();
	return tap_done();
}
