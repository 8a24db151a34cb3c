/* spawn-args.c — vps-spawn's argv (its usage is at the top of vps-spawn.c): every value
 * checked and capped before anything is touched; a bad one dies with exit 2 (a --device
 * SRC that is missing: 3). Only --device looks at the host (stat of SRC); --bind's host
 * directory is looked at by the monitor at every boot (spawn-rootfs.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common.h"
#include "confine.h"
#include "spawn.h"

static noreturn_fn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s --id ID --image /abs/ID.img --rootfs DIR --run-dir DIR --hostname NAME\n"
		"       [--cgroup MOUNTNAME:OPTIONS:HOSTDIR]... [--init /sbin/init] "
		"[--readonly-image]\n"
		"       [--userns HOSTUID:HOSTGID:COUNT [--no-idmap] [--keyctl] [--nesting]]\n"
		"       [--unsafe-allow-missing userns|idmap|seccomp|devices-cgroup]...\n"
		"       [--nofile N] [--lxcfs DIR] [--net-helper PATH --net-spec FILE]\n"
		"       [--limit-helper PATH [--limit ARG]... [--limit-io-device]] "
		"[--monitor-cgroup DIR] [--space-low BYTES] [--events FILE [--event-source SRC]]\n"
		"       [--stop-hook PROG] [--device SRC:DEST:rw|ro]... [--bind SRC:DEST:rw|ro]...\n",
		prog_name);
	exit(code);
}

static void parse_cgroup(struct opts *o, const char *spec)
{
	struct cgroup_arg *cg;
	const char *c1, *c2;
	size_t len;

	if (o->n_cg >= MAX_CGROUPS)
		die_code(VPS_EUSAGE, "too many --cgroup (max %d)", MAX_CGROUPS);
	cg = &o->cg[o->n_cg++];
	c1 = strchr(spec, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c2)
		die_code(VPS_EUSAGE, "--cgroup %s: want MOUNTNAME:OPTIONS:HOSTDIR", spec);
	len = (size_t)(c2 - c1 - 1);
	if (len == 0 || len >= sizeof(cg->options))
		die_code(VPS_EUSAGE, "--cgroup %s: bad OPTIONS", spec);
	memcpy(cg->options, c1 + 1, len);
	cg->options[len] = '\0';
	cg->mountname = strndup(spec, (size_t)(c1 - spec));
	cg->hostdir = c2 + 1;
	if (!cg->mountname)
		die_code(VPS_ENORES, "out of memory");
	if (*cg->mountname && !valid_component(cg->mountname))
		die_code(VPS_EUSAGE, "--cgroup %s: bad MOUNTNAME", spec);
	for (const char *p = cg->options; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789_,=.-", *p))
			die_code(VPS_EUSAGE, "--cgroup %s: bad OPTIONS", spec);
	cg->v2 = strcmp(cg->options, "cgroup2") == 0;
	cg->cpuset =
		!cg->v2 && (strcmp(cg->options, "cpuset") == 0 ||
			    has_prefix(cg->options, "cpuset,") || strstr(cg->options, ",cpuset"));
	if (!cg->v2) { /* is "devices" one of the comma-separated options? */
		char opts[sizeof(cg->options)], *save = NULL;
		snprintf(opts, sizeof(opts), "%s", cg->options);
		for (char *t = strtok_r(opts, ",", &save); t; t = strtok_r(NULL, ",", &save))
			cg->devices |= strcmp(t, "devices") == 0;
	}
	if (!*cg->mountname && !cg->v2)
		die_code(VPS_EUSAGE, "--cgroup %s: empty MOUNTNAME needs cgroup2", spec);
	if (!valid_abs_path(cg->hostdir) || !has_prefix(cg->hostdir, "/sys/fs/cgroup/"))
		die_code(VPS_EUSAGE, "--cgroup %s: HOSTDIR must be under /sys/fs/cgroup/", spec);
}

/* --userns HOSTUID:HOSTGID:COUNT, decimal; the range must not contain host id 0 and
 * must end below 4294967295 (the invalid id -1). */
static void parse_userns(struct opts *o, const char *spec)
{
	unsigned long long v[3];
	const char *p = spec;
	char *end;

	for (int i = 0; i < 3; i++) {
		errno = 0;
		v[i] = *p >= '0' && *p <= '9' ? strtoull(p, &end, 10) : 0;
		if (*p < '0' || *p > '9' || errno || end - p > 10 || *end != (i < 2 ? ':' : '\0'))
			die_code(VPS_EUSAGE, "--userns %.64s: want HOSTUID:HOSTGID:COUNT", spec);
		p = end + 1;
	}
	if (v[0] == 0 || v[1] == 0)
		die_code(VPS_EUSAGE, "--userns: HOSTUID and HOSTGID must not be 0 (that would make "
				     "the container's root the host's root)");
	if (v[2] == 0 || v[0] + v[2] > 4294967295ULL || v[1] + v[2] > 4294967295ULL)
		die_code(VPS_EUSAGE, "--userns %.64s: COUNT must be >= 1, the ranges end below %s",
			 spec, "4294967295");
	o->userns = o->idmap = true;
	o->host_uid = (uint32_t)v[0];
	o->host_gid = (uint32_t)v[1];
	o->id_count = (uint32_t)v[2];
}

static void parse_allow_missing(struct opts *o, const char *name)
{
	unsigned feat = feature_by_name(name);

	if (!feat)
		die_code(VPS_EUSAGE, "--unsafe-allow-missing %.64s: want %s", name,
			 "userns, idmap, seccomp or devices-cgroup");
	o->allow_missing |= feat;
}

/* a is b, or a name below it */
static bool same_or_under(const char *a, const char *b)
{
	size_t n = strlen(b);
	return strncmp(a, b, n) == 0 && (a[n] == '\0' || a[n] == '/');
}

/* --device SRC:DEST:rw|ro. SRC must be a character device now (its numbers go into the
 * allowlist; the child binds SRC by path before anything of the tenant's is visible). DEST
 * is a name below /dev: components of [A-Za-z0-9._+-], none "." or "..", at most 63 bytes. */
static void parse_device(struct opts *o, const char *v)
{
	char buf[VPS_PATH_MAX + 80];
	char *dest, *acc;
	struct stat st;

	if (o->n_dev >= MAX_DEV_EXTRA)
		die_code(VPS_EUSAGE, "at most %d --device", MAX_DEV_EXTRA);
	if (strlen(v) >= sizeof(buf))
		die_code(VPS_EUSAGE, "--device too long");
	strcpy(buf, v);
	acc = strrchr(buf, ':');
	if (!acc)
		die_code(VPS_EUSAGE, "--device %.64s: want SRC:DEST:rw|ro", v);
	*acc++ = '\0';
	dest = strrchr(buf, ':');
	if (!dest || (strcmp(acc, "rw") != 0 && strcmp(acc, "ro") != 0))
		die_code(VPS_EUSAGE, "--device %.64s: want SRC:DEST:rw|ro", v);
	*dest++ = '\0';
	if (!valid_abs_path(buf) || !has_prefix(buf, "/dev/"))
		die_code(VPS_EUSAGE, "--device %.64s: SRC must be an absolute path under /dev", v);
	size_t len = strlen(dest);
	if (len == 0 || len >= sizeof(o->dev[0].dest) || dest[0] == '/' || dest[len - 1] == '/' ||
	    strspn(dest, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-/") != len ||
	    strstr(dest, "//") || strcmp(dest, ".") == 0 || strcmp(dest, "..") == 0 ||
	    has_prefix(dest, "./") || has_prefix(dest, "../") || strstr(dest, "/./") ||
	    strstr(dest, "/../") || (len >= 2 && strcmp(dest + len - 2, "/.") == 0) ||
	    (len >= 3 && strcmp(dest + len - 3, "/..") == 0))
		die_code(VPS_EUSAGE, "--device %.64s: DEST must be a plain name below /dev", v);
	static const char *const made[] = { "null",  "zero", "full", "random", "urandom",
					    "tty",   "console", "ptmx", "pts", "shm",
					    "mqueue", "fd",    "stdin", "stdout", "stderr" };
	size_t first = strcspn(dest, "/");
	for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++)
		if (strlen(made[i]) == first && strncmp(dest, made[i], first) == 0)
			die_code(VPS_EUSAGE, "--device %.64s: /dev/%s is the container's own", v,
				 made[i]);
	for (size_t i = 0; i < o->n_dev; i++)
		if (same_or_under(o->dev[i].dest, dest) || same_or_under(dest, o->dev[i].dest))
			die_code(VPS_EUSAGE, "--device DEST %.64s given twice, or under another", dest);
	if (stat(buf, &st) < 0)
		die_code(VPS_ENOTFOUND, "--device %.64s: %s", buf, strerror(errno));
	if (!S_ISCHR(st.st_mode))
		die_code(VPS_EUSAGE, "--device %.64s: not a character device", buf);
	struct dev_pass *d = &o->dev[o->n_dev];
	d->src = strdup(buf);
	if (!d->src)
		die_with_error("strdup");
	snprintf(d->dest, sizeof(d->dest), "%s", dest);
	d->num = (struct dev_extra){ major(st.st_rdev), minor(st.st_rdev), acc[1] == 'o' };
	o->dev_num[o->n_dev++] = d->num;
}

/* A plain absolute path, as vpsctl's plainAbsPath: "/" then components of
 * [A-Za-z0-9._+@,=-], none "." or "..", no empty one, no trailing "/", under 256 bytes. */
static bool plain_abs_path(const char *p)
{
	size_t n = strlen(p);

	if (n < 2 || n > 255 || p[0] != '/' || p[n - 1] == '/' || strstr(p, "//") ||
	    strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+@,=-/") != n)
		return false;
	for (const char *c = p; c; c = strchr(c + 1, '/'))
		if (strncmp(c, "/.", 2) == 0 && (c[2] == '/' || c[2] == '\0' ||
						 (c[2] == '.' && (c[3] == '/' || c[3] == '\0'))))
			return false;
	return true;
}

/* The host trees --bind never takes, nor anything below them, and the roots it never takes
 * themselves: the lists of vpsctl's src/base/mounts.ts (HOST_DENY_TREES, HOST_DENY_EXACT,
 * TARGET_DENY_TREES), kept the same. */
static const char *const bind_deny_trees[] = {
	"/proc",     "/sys",	  "/dev",	"/run",	   "/boot",	  "/etc",
	"/root",     "/usr",	  "/bin",	"/sbin",   "/lib",	  "/lib32",
	"/lib64",    "/libx32",	  "/var/lib",	"/var/log", "/var/cache", "/var/spool",
	"/var/run",  "/var/lock", "/var/backups", "/var/mail", "/lost+found",
};
static const char *const bind_deny_exact[] = { "/home", "/var", "/tmp", "/var/tmp",
					       "/srv",	"/mnt", "/media", "/opt" };
static const char *const bind_deny_dest[] = { "/proc", "/sys", "/dev", "/run" };

/* --bind SRC:DEST:rw|ro: pure (the host is looked at by the monitor at each boot). */
static void parse_bind(struct opts *o, const char *v)
{
	const char *c1 = strchr(v, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	struct bind_arg *b;

	if (o->n_bind >= MAX_BINDS)
		die_code(VPS_EUSAGE, "at most %d --bind", MAX_BINDS);
	if (!c2 || strchr(c2 + 1, ':') || (strcmp(c2 + 1, "rw") != 0 && strcmp(c2 + 1, "ro") != 0))
		die_code(VPS_EUSAGE, "--bind %.64s: want SRC:DEST:rw|ro", v);
	b = &o->bind[o->n_bind];
	b->src = strndup(v, (size_t)(c1 - v));
	b->dest = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
	if (!b->src || !b->dest)
		die_code(VPS_ENORES, "out of memory");
	b->ro = c2[2] == 'o';
	if (!plain_abs_path(b->src))
		die_code(VPS_EUSAGE, "--bind %.64s: SRC must be a plain absolute path (not /, no "
				     "\".\" or \"..\")", v);
	for (size_t i = 0; i < sizeof(bind_deny_trees) / sizeof(bind_deny_trees[0]); i++)
		if (same_or_under(b->src, bind_deny_trees[i]))
			die_code(VPS_EUSAGE, "--bind %.64s: SRC is in %s, a system tree of the host",
				 v, bind_deny_trees[i]);
	for (size_t i = 0; i < sizeof(bind_deny_exact) / sizeof(bind_deny_exact[0]); i++)
		if (strcmp(b->src, bind_deny_exact[i]) == 0)
			die_code(VPS_EUSAGE, "--bind %.64s: SRC is a root of the host's tree", v);
	if (!plain_abs_path(b->dest))
		die_code(VPS_EUSAGE, "--bind %.64s: DEST must be a plain absolute path (not /, no "
				     "\".\" or \"..\")", v);
	for (size_t i = 0; i < sizeof(bind_deny_dest) / sizeof(bind_deny_dest[0]); i++)
		if (same_or_under(b->dest, bind_deny_dest[i]))
			die_code(VPS_EUSAGE, "--bind %.64s: DEST is in %s, the container's own", v,
				 bind_deny_dest[i]);
	for (size_t i = 0; i < o->n_bind; i++)
		if (same_or_under(o->bind[i].dest, b->dest) || same_or_under(b->dest, o->bind[i].dest))
			die_code(VPS_EUSAGE, "--bind DEST %.64s given twice, or nested in another",
				 b->dest);
	o->n_bind++;
}

/* SRC of every --bind must neither be nor hold nor lie below what vpsctl keeps: its run
 * dir (the parent of --run-dir) and its pool (two up from --image). */
static void check_bind_sources(const struct opts *o)
{
	char keep[2][VPS_PATH_MAX];

	snprintf(keep[0], sizeof(keep[0]), "%s", o->run_dir);
	snprintf(keep[1], sizeof(keep[1]), "%s", o->image);
	for (int k = 0; k < 2; k++)
		for (int up = 0; up < (k ? 2 : 1); up++) {
			char *s = strrchr(keep[k], '/');
			if (s && s != keep[k])
				*s = '\0';
		}
	for (size_t i = 0; i < o->n_bind; i++)
		for (int k = 0; k < 2; k++)
			if (strcmp(keep[k], "/") != 0 && (same_or_under(o->bind[i].src, keep[k]) ||
							  same_or_under(keep[k], o->bind[i].src)))
				die_code(VPS_EUSAGE, "--bind %.64s: SRC is, holds or lies below %s, "
						     "which vpsctl keeps for itself",
					 o->bind[i].src, keep[k]);
}

void parse_args(struct opts *o, int argc, char **argv)
{
	bool no_idmap = false;

	o->init = "/sbin/init";
	o->seccomp = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--id") == 0)
			o->id = arg_value(argc, argv, &i);
		else if (strcmp(a, "--image") == 0)
			o->image = arg_value(argc, argv, &i);
		else if (strcmp(a, "--rootfs") == 0)
			o->rootfs = arg_value(argc, argv, &i);
		else if (strcmp(a, "--run-dir") == 0)
			o->run_dir = arg_value(argc, argv, &i);
		else if (strcmp(a, "--hostname") == 0)
			o->hostname = arg_value(argc, argv, &i);
		else if (strcmp(a, "--init") == 0)
			o->init = arg_value(argc, argv, &i);
		else if (strcmp(a, "--cgroup") == 0)
			parse_cgroup(o, arg_value(argc, argv, &i));
		else if (strcmp(a, "--device") == 0)
			parse_device(o, arg_value(argc, argv, &i));
		else if (strcmp(a, "--bind") == 0)
			parse_bind(o, arg_value(argc, argv, &i));
		else if (strcmp(a, "--readonly-image") == 0)
			o->readonly = true;
		else if (strcmp(a, "--lxcfs") == 0)
			o->lxcfs = arg_value(argc, argv, &i);
		else if (strcmp(a, "--net-helper") == 0)
			o->net_helper = arg_value(argc, argv, &i);
		else if (strcmp(a, "--net-spec") == 0)
			o->net_spec = arg_value(argc, argv, &i);
		else if (strcmp(a, "--monitor-cgroup") == 0)
			o->monitor_cgroup = arg_value(argc, argv, &i);
		else if (strcmp(a, "--events") == 0)
			o->events = arg_value(argc, argv, &i);
		else if (strcmp(a, "--event-source") == 0)
			o->event_source = arg_value(argc, argv, &i);
		else if (strcmp(a, "--stop-hook") == 0)
			o->stop_hook = arg_value(argc, argv, &i);
		else if (strcmp(a, "--limit-helper") == 0)
			o->limit_helper = arg_value(argc, argv, &i);
		else if (strcmp(a, "--limit") == 0) {
			const char *v = arg_value(argc, argv, &i);
			if (o->n_limit_args >= MAX_LIMIT_ARGS || strlen(v) > 256)
				die_code(VPS_EUSAGE, "too many or too long --limit (max %d of 256 bytes)",
					 MAX_LIMIT_ARGS);
			for (const char *q = v; *q; q++)
				if ((unsigned char)*q < 0x20 || *q == 0x7f)
					die_code(VPS_EUSAGE, "--limit %.64s: control character", v);
			o->limit_args[o->n_limit_args++] = v;
		} else if (strcmp(a, "--limit-io-device") == 0)
			o->limit_io_device = true;
		else if (strcmp(a, "--nofile") == 0) {
			char *end;
			errno = 0;
			o->nofile = strtoul(arg_value(argc, argv, &i), &end, 10);
			if (errno || *end || o->nofile < 64 || o->nofile > 1048576)
				die_code(VPS_EUSAGE, "--nofile wants 64..1048576");
		} else if (strcmp(a, "--space-low") == 0) {
			const char *v = arg_value(argc, argv, &i);
			char *end;
			errno = 0;
			o->space_low = strtoull(v, &end, 10);
			if (errno || *end || !*v || o->space_low < (1ULL << 20))
				die_code(VPS_EUSAGE, "--space-low wants bytes, at least 1M");
		} else if (strcmp(a, "--userns") == 0)
			parse_userns(o, arg_value(argc, argv, &i));
		else if (strcmp(a, "--no-idmap") == 0)
			no_idmap = true;
		else if (strcmp(a, "--keyctl") == 0)
			o->keyctl = true;
		else if (strcmp(a, "--nesting") == 0)
			o->nesting = true;
		else if (strcmp(a, "--unsafe-allow-missing") == 0)
			parse_allow_missing(o, arg_value(argc, argv, &i));
		else if (strcmp(a, "--help") == 0)
			usage(0);
		else
			die_code(VPS_EUSAGE, "unknown argument %.64s", a);
	}
	if (no_idmap && !o->userns)
		die_code(VPS_EUSAGE, "--no-idmap needs --userns");
	if (no_idmap)
		o->idmap = false;
	/* the keyring calls are never opened to a container whose root is the host's root */
	if (o->keyctl && !o->userns)
		die_code(VPS_EUSAGE, "--keyctl needs --userns: a privileged container's keyring "
				     "calls are always refused");
	/* an unmasked, writable /proc/sys would be the host's root's own */
	if (o->nesting && !o->userns)
		die_code(VPS_EUSAGE, "--nesting needs --userns: a privileged container's root is "
				     "the host's root, whom a clean /proc would give /proc/sys");
	if (!o->id || !o->image || !o->rootfs || !o->run_dir || !o->hostname)
		die_code(VPS_EUSAGE,
			 "--id, --image, --rootfs, --run-dir and --hostname are required");
	if (!valid_id(o->id))
		die_code(VPS_EUSAGE, "invalid --id");
	if (!valid_hostname(o->hostname))
		die_code(VPS_EUSAGE, "invalid --hostname");
	if (o->lxcfs && !valid_abs_path(o->lxcfs))
		die_code(VPS_EUSAGE, "--lxcfs must be an absolute path");
	if (o->events && !valid_abs_path(o->events))
		die_code(VPS_EUSAGE, "--events must be an absolute path");
	if (o->stop_hook && !valid_abs_path(o->stop_hook))
		die_code(VPS_EUSAGE, "--stop-hook must be an absolute path");
	if (o->event_source && (!*o->event_source || strlen(o->event_source) > 16 ||
				strspn(o->event_source, "abcdefghijklmnopqrstuvwxyz") !=
					strlen(o->event_source)))
		die_code(VPS_EUSAGE, "--event-source must be a lowercase word");
	if (!o->net_helper != !o->net_spec)
		die_code(VPS_EUSAGE, "--net-helper and --net-spec go together");
	if (o->net_helper && (!valid_abs_path(o->net_helper) || !valid_abs_path(o->net_spec)))
		die_code(VPS_EUSAGE, "--net-helper and --net-spec must be absolute paths");
	if (o->monitor_cgroup &&
	    (!valid_abs_path(o->monitor_cgroup) || !has_prefix(o->monitor_cgroup, "/sys/fs/cgroup/")))
		die_code(VPS_EUSAGE, "--monitor-cgroup must be under /sys/fs/cgroup/");
	if (o->limit_helper && !valid_abs_path(o->limit_helper))
		die_code(VPS_EUSAGE, "--limit-helper must be an absolute path");
	if (!o->limit_helper && (o->n_limit_args || o->limit_io_device))
		die_code(VPS_EUSAGE, "--limit and --limit-io-device need --limit-helper");
	if (!valid_abs_path(o->image) || !valid_abs_path(o->rootfs) ||
	    !valid_abs_path(o->run_dir) || !valid_abs_path(o->init) ||
	    strcmp(o->rootfs, "/") == 0 || strcmp(o->run_dir, "/") == 0)
		die_code(VPS_EUSAGE, "paths must be absolute, without '..', under %d bytes",
			 VPS_PATH_MAX);
	check_bind_sources(o);
	for (size_t i = 0; i < o->n_cg; i++) {
		const char *leaf = strrchr(o->cg[i].hostdir, '/') + 1;
		if (strcmp(leaf, o->id) != 0)
			die_code(VPS_EUSAGE, "--cgroup HOSTDIR %s must end in /%s",
				 o->cg[i].hostdir, o->id);
		if (!*o->cg[i].mountname && o->n_cg != 1)
			die_code(VPS_EUSAGE, "an empty MOUNTNAME must be the only --cgroup");
		for (size_t j = 0; j < i; j++)
			if (strcmp(o->cg[i].mountname, o->cg[j].mountname) == 0)
				die_code(VPS_EUSAGE, "--cgroup MOUNTNAME %s given twice",
					 o->cg[i].mountname);
	}
}
