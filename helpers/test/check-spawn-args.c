/*
 * `make check`: vps-spawn's argv (spawn-args.c), as TAP. What parses: defaults, --cgroup v1
 * and v2 with the controllers it spots, --userns, --no-idmap, --keyctl and --nesting, --device
 * with its numbers from the host's /dev/null, --bind; what is refused, with the exit code and
 * message a caller sees.
 */
#define _GNU_SOURCE
#include "../spawn.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define MAX_ARGV 64

static const char *const base[] = { "--id", "101", "--image", "/p/images/101.img", "--rootfs",
				    "/run/v/101/rootfs", "--run-dir", "/run/v/101", "--hostname",
				    "web", NULL };

/* parse_args over "vps-spawn" [base...] extra...; a fresh opts each time. */
static struct opts *parse(bool with_base, const char *const *extra)
{
	static char *argv[MAX_ARGV];
	struct opts *o = calloc(1, sizeof(*o));
	int argc = 0;

	argv[argc++] = strdup("vps-spawn");
	for (size_t i = 0; with_base && base[i]; i++)
		argv[argc++] = strdup(base[i]);
	for (size_t i = 0; extra[i] && argc < MAX_ARGV - 1; i++)
		argv[argc++] = strdup(extra[i]);
	argv[argc] = NULL;
	if (!o)
		abort();
	parse_args(o, argc, argv);
	return o;
}

static void parse_extra(const void *extra)
{
	parse(true, extra);
}

static void parse_bare(const void *extra)
{
	parse(false, extra);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define REFUSED(code, want, what, ...) dies(parse_extra, ARGS(__VA_ARGS__), code, want, what)

static void accepted(void)
{
	struct opts *o = parse(true, ARGS("--cgroup", ":cgroup2:/sys/fs/cgroup/vpsctl/101"));
	ok(strcmp(o->id, "101") == 0 && strcmp(o->hostname, "web") == 0 &&
		   strcmp(o->init, "/sbin/init") == 0 && o->seccomp && !o->userns && !o->readonly,
	   "the required five; init /sbin/init and seccomp by default, privileged");
	ok(o->n_cg == 1 && o->cg[0].v2 && !*o->cg[0].mountname &&
		   strcmp(o->cg[0].hostdir, "/sys/fs/cgroup/vpsctl/101") == 0,
	   "--cgroup :cgroup2:HOSTDIR is the one v2 hierarchy");

	o = parse(true, ARGS("--cgroup", "cpuset:cpuset:/sys/fs/cgroup/cpuset/vpsctl/101", "--cgroup",
			     "devices:devices:/sys/fs/cgroup/devices/vpsctl/101", "--cgroup",
			     "systemd:none,name=systemd:/sys/fs/cgroup/systemd/vpsctl/101"));
	ok(o->n_cg == 3 && o->cg[0].cpuset && !o->cg[0].devices && o->cg[1].devices &&
		   !o->cg[1].cpuset && !o->cg[2].v2 && strcmp(o->cg[2].options, "none,name=systemd") == 0,
	   "--cgroup v1: cpuset and devices spotted among the options");

	o = parse(true, ARGS("--userns", "100000:100000:65536"));
	ok(o->userns && o->idmap && o->host_uid == 100000 && o->host_gid == 100000 &&
		   o->id_count == 65536,
	   "--userns HOSTUID:HOSTGID:COUNT, idmapped by default");
	o = parse(true, ARGS("--userns", "100000:200000:65536", "--no-idmap"));
	ok(o->userns && !o->idmap && o->host_gid == 200000, "--no-idmap: a shifted image");
	ok(!o->keyctl, "without --keyctl the keyring calls stay closed");
	o = parse(true, ARGS("--userns", "100000:100000:65536", "--keyctl"));
	ok(o->userns && o->keyctl, "--keyctl with --userns: the keyctl feature");
	ok(!o->nesting, "without --nesting no clean /proc at /dev/.lxc");
	o = parse(true, ARGS("--userns", "100000:100000:65536", "--nesting"));
	ok(o->userns && o->nesting && !o->keyctl, "--nesting with --userns: the nesting feature");

	struct stat st;
	o = parse(true, ARGS("--device", "/dev/null:net/tun:rw", "--device", "/dev/zero:fuse:ro"));
	ok(stat("/dev/null", &st) == 0 && o->n_dev == 2 && strcmp(o->dev[0].src, "/dev/null") == 0 &&
		   strcmp(o->dev[0].dest, "net/tun") == 0 && o->dev[0].num.major == major(st.st_rdev) &&
		   o->dev[0].num.minor == minor(st.st_rdev) && !o->dev[0].num.ro,
	   "--device SRC:DEST:rw: SRC's numbers, read-write");
	ok(o->dev[1].num.ro && o->dev_num[1].ro && o->dev_num[0].major == o->dev[0].num.major,
	   "--device ...:ro: read only; dev_num mirrors dev[].num for the allowlist");

	o = parse(true, ARGS("--nofile", "4096", "--space-low", "1048576", "--limit-helper",
			     "/h/vps-limit", "--limit", "apply", "--limit", "--memory",
			     "--limit-io-device", "--unsafe-allow-missing", "seccomp", "--event-source",
			     "api", "--readonly-image"));
	ok(o->nofile == 4096 && o->space_low == 1048576 && o->n_limit_args == 2 &&
		   strcmp(o->limit_args[1], "--memory") == 0 && o->limit_io_device &&
		   o->allow_missing == FEAT_SECCOMP && strcmp(o->event_source, "api") == 0 &&
		   o->readonly,
	   "--nofile, --space-low, --limit..., --unsafe-allow-missing, --event-source");
	dies(parse_bare, ARGS("--help"), 0, "", "--help exits 0");
}

static void refused(void)
{
	dies(parse_bare, ARGS("--id", "101"), VPS_EUSAGE, "are required",
	     "the required five are required");
	REFUSED(VPS_EUSAGE, "unknown argument --bogus", "an unknown argument", "--bogus");
	REFUSED(VPS_EUSAGE, "needs a value", "a flag without its value", "--init");
	dies(parse_bare, ARGS("--id", "A_1", "--image", "/i", "--rootfs", "/r", "--run-dir", "/d",
			      "--hostname", "h"),
	     VPS_EUSAGE, "invalid --id", "an id outside ^[a-z0-9-]+$");
	REFUSED(VPS_EUSAGE, "paths must be absolute", "a relative --init", "--init", "sbin/init");
	REFUSED(VPS_EUSAGE, "want MOUNTNAME:OPTIONS:HOSTDIR", "--cgroup without its three parts",
		"--cgroup", "cgroup2:/sys/fs/cgroup/x/101");
	REFUSED(VPS_EUSAGE, "must be under /sys/fs/cgroup/", "--cgroup HOSTDIR elsewhere",
		"--cgroup", ":cgroup2:/tmp/101");
	REFUSED(VPS_EUSAGE, "must end in /101", "--cgroup HOSTDIR of another id", "--cgroup",
		":cgroup2:/sys/fs/cgroup/vpsctl/102");
	REFUSED(VPS_EUSAGE, "empty MOUNTNAME needs cgroup2", "an empty MOUNTNAME on v1",
		"--cgroup", ":cpu:/sys/fs/cgroup/cpu/101");
	REFUSED(VPS_EUSAGE, "must be the only --cgroup", "cgroup2 beside v1 hierarchies",
		"--cgroup", ":cgroup2:/sys/fs/cgroup/v/101", "--cgroup", "cpu:cpu:/sys/fs/cgroup/cpu/101");
	REFUSED(VPS_EUSAGE, "given twice", "a MOUNTNAME twice", "--cgroup",
		"cpu:cpu:/sys/fs/cgroup/cpu/101", "--cgroup", "cpu:cpu:/sys/fs/cgroup/cpu2/101");
	REFUSED(VPS_EUSAGE, "bad OPTIONS", "--cgroup OPTIONS with a space", "--cgroup",
		"cpu:cpu x:/sys/fs/cgroup/cpu/101");
	REFUSED(VPS_EUSAGE, "must not be 0", "--userns with host uid 0", "--userns", "0:100000:65536");
	REFUSED(VPS_EUSAGE, "COUNT must be >= 1", "--userns past 2^32-1", "--userns",
		"4294967000:100000:65536");
	REFUSED(VPS_EUSAGE, "want HOSTUID:HOSTGID:COUNT", "--userns with junk", "--userns",
		"1:2:3x");
	REFUSED(VPS_EUSAGE, "--no-idmap needs --userns", "--no-idmap alone", "--no-idmap");
	REFUSED(VPS_EUSAGE, "--keyctl needs --userns", "--keyctl in a privileged container",
		"--keyctl");
	REFUSED(VPS_EUSAGE, "--nesting needs --userns", "--nesting in a privileged container",
		"--nesting");
	REFUSED(VPS_EUSAGE, "want userns, idmap", "an unknown --unsafe-allow-missing",
		"--unsafe-allow-missing", "apparmor");
	REFUSED(VPS_EUSAGE, "--nofile wants 64..1048576", "--nofile below 64", "--nofile", "10");
	REFUSED(VPS_EUSAGE, "at least 1M", "--space-low below 1M", "--space-low", "1000");
	REFUSED(VPS_EUSAGE, "control character", "--limit with a newline", "--limit-helper",
		"/h/vps-limit", "--limit", "a\nb");
	REFUSED(VPS_EUSAGE, "need --limit-helper", "--limit without --limit-helper", "--limit", "x");
	REFUSED(VPS_EUSAGE, "go together", "--net-helper without --net-spec", "--net-helper",
		"/h/vps-net");
	REFUSED(VPS_EUSAGE, "lowercase word", "--event-source in capitals", "--event-source", "CLI");
}

static void devices(void)
{
	REFUSED(VPS_EUSAGE, "want SRC:DEST:rw|ro", "--device with an access other than rw, ro",
		"--device", "/dev/null:x:rx");
	REFUSED(VPS_EUSAGE, "want SRC:DEST:rw|ro", "--device without DEST", "--device",
		"/dev/null:rw");
	REFUSED(VPS_EUSAGE, "SRC must be an absolute path under /dev", "--device SRC outside /dev",
		"--device", "/etc/passwd:x:rw");
	REFUSED(VPS_EUSAGE, "DEST must be a plain name", "--device DEST with ..", "--device",
		"/dev/null:net/../x:rw");
	REFUSED(VPS_EUSAGE, "DEST must be a plain name", "--device DEST absolute", "--device",
		"/dev/null:/x:rw");
	REFUSED(VPS_EUSAGE, "DEST must be a plain name", "--device DEST with a space", "--device",
		"/dev/null:a b:rw");
	REFUSED(VPS_EUSAGE, "/dev/pts is the container's own", "--device DEST below /dev/pts",
		"--device", "/dev/null:pts/9:rw");
	REFUSED(VPS_EUSAGE, "/dev/null is the container's own", "--device DEST /dev/null",
		"--device", "/dev/zero:null:rw");
	REFUSED(VPS_EUSAGE, "given twice, or under another", "--device DEST under another's",
		"--device", "/dev/null:net:rw", "--device", "/dev/zero:net/tun:rw");
	REFUSED(VPS_ENOTFOUND, "No such file", "--device SRC missing: exit 3", "--device",
		"/dev/vpsctl-check-none:x:rw");
	REFUSED(VPS_EUSAGE, "not a character device", "--device SRC a directory", "--device",
		"/dev/:x:rw");
}

static void binds(void)
{
	struct opts *o = parse(true, ARGS("--bind", "/srv/data:/data:rw", "--bind",
					  "/var/tmp/x/www:/var/www/html:ro"));
	ok(o->n_bind == 2 && strcmp(o->bind[0].src, "/srv/data") == 0 &&
		   strcmp(o->bind[0].dest, "/data") == 0 && !o->bind[0].ro &&
		   strcmp(o->bind[1].src, "/var/tmp/x/www") == 0 &&
		   strcmp(o->bind[1].dest, "/var/www/html") == 0 && o->bind[1].ro,
	   "--bind SRC:DEST:rw and :ro, each kept apart");
	o = parse(true, ARGS("--bind", "/srv/a:/a:rw", "--bind", "/srv/b:/b:rw", "--bind",
			     "/srv/c:/c:rw", "--bind", "/srv/d:/d:rw", "--bind", "/srv/e:/e:rw",
			     "--bind", "/srv/f:/f:rw", "--bind", "/srv/g:/g:rw", "--bind",
			     "/srv/h:/h:rw"));
	ok(o->n_bind == MAX_BINDS, "eight --bind");
	REFUSED(VPS_EUSAGE, "at most 8 --bind", "a ninth --bind", "--bind", "/srv/a:/a:rw",
		"--bind", "/srv/b:/b:rw", "--bind", "/srv/c:/c:rw", "--bind", "/srv/d:/d:rw",
		"--bind", "/srv/e:/e:rw", "--bind", "/srv/f:/f:rw", "--bind", "/srv/g:/g:rw",
		"--bind", "/srv/h:/h:rw", "--bind", "/srv/i:/i:rw");
	REFUSED(VPS_EUSAGE, "want SRC:DEST:rw|ro", "--bind without an access", "--bind",
		"/srv/a:/a");
	REFUSED(VPS_EUSAGE, "want SRC:DEST:rw|ro", "--bind with another access", "--bind",
		"/srv/a:/a:rx");
	REFUSED(VPS_EUSAGE, "want SRC:DEST:rw|ro", "--bind with a fourth part", "--bind",
		"/srv/a:/a:b:rw");
	REFUSED(VPS_EUSAGE, "SRC must be a plain absolute path", "--bind SRC relative", "--bind",
		"srv/a:/a:rw");
	REFUSED(VPS_EUSAGE, "SRC must be a plain absolute path", "--bind SRC with ..", "--bind",
		"/srv/../etc:/a:rw");
	REFUSED(VPS_EUSAGE, "SRC must be a plain absolute path", "--bind SRC with .", "--bind",
		"/srv/./a:/a:rw");
	REFUSED(VPS_EUSAGE, "SRC must be a plain absolute path", "--bind SRC /", "--bind",
		"/:/a:rw");
	REFUSED(VPS_EUSAGE, "SRC must be a plain absolute path", "--bind SRC with a trailing /",
		"--bind", "/srv/a/:/a:rw");
	REFUSED(VPS_EUSAGE, "SRC must be a plain absolute path", "--bind SRC with a space",
		"--bind", "/srv/a b:/a:rw");
	REFUSED(VPS_EUSAGE, "SRC is in /etc, a system tree", "--bind SRC below /etc", "--bind",
		"/etc/ssl:/a:ro");
	REFUSED(VPS_EUSAGE, "SRC is in /proc, a system tree", "--bind SRC /proc", "--bind",
		"/proc:/a:ro");
	REFUSED(VPS_EUSAGE, "SRC is in /var/lib, a system tree", "--bind SRC below /var/lib",
		"--bind", "/var/lib/x:/a:rw");
	REFUSED(VPS_EUSAGE, "SRC is a root of the host's tree", "--bind SRC /home", "--bind",
		"/home:/a:rw");
	REFUSED(VPS_EUSAGE, "which vpsctl keeps", "--bind SRC below the pool", "--bind",
		"/p/images:/a:rw");
	REFUSED(VPS_EUSAGE, "which vpsctl keeps", "--bind SRC the run dir", "--bind",
		"/run2/v:/a:rw", "--run-dir", "/run2/v/101");
	dies(parse_bare,
	     ARGS("--id", "101", "--image", "/data/pool/images/101.img", "--rootfs",
		  "/run/v/101/rootfs", "--run-dir", "/run/v/101", "--hostname", "web", "--bind",
		  "/data:/a:rw"),
	     VPS_EUSAGE, "holds or lies below /data/pool", "--bind SRC holding the pool");
	REFUSED(VPS_EUSAGE, "DEST must be a plain absolute path", "--bind DEST relative", "--bind",
		"/srv/a:data:rw");
	REFUSED(VPS_EUSAGE, "DEST must be a plain absolute path", "--bind DEST with ..", "--bind",
		"/srv/a:/data/../../x:rw");
	REFUSED(VPS_EUSAGE, "DEST must be a plain absolute path", "--bind DEST /", "--bind",
		"/srv/a:/:rw");
	REFUSED(VPS_EUSAGE, "DEST is in /proc, the container's own", "--bind DEST below /proc",
		"--bind", "/srv/a:/proc/x:rw");
	REFUSED(VPS_EUSAGE, "DEST is in /run, the container's own", "--bind DEST /run", "--bind",
		"/srv/a:/run:rw");
	REFUSED(VPS_EUSAGE, "given twice, or nested", "--bind DEST below another's", "--bind",
		"/srv/a:/data:rw", "--bind", "/srv/b:/data/b:rw");
	REFUSED(VPS_EUSAGE, "given twice, or nested", "--bind DEST twice", "--bind",
		"/srv/a:/data:rw", "--bind", "/srv/b:/data:ro");
}

int main(void)
{
	prog_name = "vps-spawn";
	accepted();
	refused();
	devices();
	binds();
	return tap_done();
}
