/* enter-args.c — vps-enter's argv (its usage is at the top of vps-enter.c): every value
 * checked and capped before anything is touched; a bad one dies with exit 2. Looks at
 * nothing of the host's. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "enter.h"

static noreturn_fn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s --pid INIT_HOST_PID [--cgroup HOSTDIR]... [--cwd DIR] [--env K=V]... "
		"[--user NAME|UID] [--pty] [--keyctl] (-- CMD [ARGS...] | --login)\n",
		prog_name);
	exit(code);
}

static bool valid_env(const char *kv)
{
	const char *eq = strchr(kv, '=');

	if (!eq || eq == kv || strnlen(kv, ENV_MAX_LEN) >= ENV_MAX_LEN)
		return false;
	for (const char *p = kv; p < eq; p++) {
		char c = *p;
		if (!(c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (p > kv && c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

/* A user name as useradd takes it, or a decimal uid. */
static bool valid_user(const char *s)
{
	size_t n = strnlen(s, 33);

	if (n == 0 || n > 32 || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      (*p == '$' && p[1] == '\0')))
			return false;
	return true;
}

void parse_args(struct opts *o, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "--pid") == 0) {
			if (!parse_pid(arg_value(argc, argv, &i), &o->pid))
				die_code(VPS_EUSAGE, "invalid --pid");
		} else if (strcmp(a, "--cgroup") == 0) {
			const char *d = arg_value(argc, argv, &i);
			if (o->n_cg >= MAX_CGROUPS)
				die_code(VPS_EUSAGE, "too many --cgroup (max %d)", MAX_CGROUPS);
			if (!valid_abs_path(d) || !has_prefix(d, "/sys/fs/cgroup/"))
				die_code(VPS_EUSAGE, "--cgroup %s: must be under /sys/fs/cgroup/",
					 d);
			o->cgroups[o->n_cg++] = d;
		} else if (strcmp(a, "--cwd") == 0) {
			o->cwd = arg_value(argc, argv, &i);
			if (!valid_abs_path(o->cwd))
				die_code(VPS_EUSAGE, "--cwd must be absolute, without '..'");
		} else if (strcmp(a, "--env") == 0) {
			const char *kv = arg_value(argc, argv, &i);
			if (o->n_env >= MAX_ENV)
				die_code(VPS_EUSAGE, "too many --env (max %d)", MAX_ENV);
			if (!valid_env(kv))
				die_code(VPS_EUSAGE, "--env wants NAME=VALUE");
			o->env[o->n_env++] = kv;
		} else if (strcmp(a, "--user") == 0) {
			o->user = arg_value(argc, argv, &i);
			if (!valid_user(o->user))
				die_code(VPS_EUSAGE, "--user %.40s: not a user name or uid",
					 o->user);
		} else if (strcmp(a, "--pty") == 0) {
			o->pty = true;
		} else if (strcmp(a, "--login") == 0) {
			o->login = true;
		} else if (strcmp(a, "--keyctl") == 0) {
			o->keyctl = true;
		} else if (strcmp(a, "--help") == 0) {
			usage(0);
		} else {
			die_code(VPS_EUSAGE, "unknown argument %.64s", a);
		}
	}
	if (o->pid == 0)
		die_code(VPS_EUSAGE, "--pid is required");
	if (o->login && i < argc)
		die_code(VPS_EUSAGE, "--login runs the user's shell: no command after it");
	if (!o->login && (i >= argc || !*argv[i]))
		die_code(VPS_EUSAGE, "no command given after --");
	o->cmd = o->login ? NULL : &argv[i];
}
