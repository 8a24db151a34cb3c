/*
 * `make check`: vps-limit's argv (limit-args.c), as TAP. Sizes, CPUs (as a quota per
 * 100 ms), CPU lists, weights, pids and io rates parse to what the v1/v2 ops write; bad
 * values, options twice, io rates without a device and bad ids or parents are refused
 * with exit 2 before anything is touched.
 */
#define _GNU_SOURCE
#include "../limit.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ARGV 64

/* parse_args over "vps-limit" cmd [--id 101 --parent vpsctl] extra..., as main() would. */
static struct args *parse(const char *cmd, const char *const *extra)
{
	static char *argv[MAX_ARGV];
	static const char *const ids[] = { "--id", "101", "--parent", "vpsctl", NULL };
	struct args *a = calloc(1, sizeof(*a));
	bool apply = strcmp(cmd, "apply") == 0, detect = strcmp(cmd, "detect") == 0;
	int argc = 0;

	argv[argc++] = strdup("vps-limit");
	argv[argc++] = strdup(cmd);
	for (size_t i = 0; !detect && ids[i]; i++)
		argv[argc++] = strdup(ids[i]);
	for (size_t i = 0; extra[i] && argc < MAX_ARGV - 1; i++)
		argv[argc++] = strdup(extra[i]);
	argv[argc] = NULL;
	if (!a)
		abort();
	parse_args(argc, argv, apply, !detect, a);
	return a;
}

static void apply_extra(const void *extra)
{
	parse("apply", extra);
}

static void usage_extra(const void *extra)
{
	parse("usage", extra);
}

/* Without the --id/--parent parse() adds: v[0] is the command. */
static struct args *parse_bare(const char *const *v)
{
	static char *argv[MAX_ARGV];
	struct args *a = calloc(1, sizeof(*a));
	int argc = 0;

	argv[argc++] = strdup("vps-limit");
	for (size_t i = 0; v[i] && argc < MAX_ARGV - 1; i++)
		argv[argc++] = strdup(v[i]);
	argv[argc] = NULL;
	if (!a)
		abort();
	parse_args(argc, argv, strcmp(v[0], "apply") == 0, strcmp(v[0], "detect") != 0, a);
	return a;
}

static void bare(const void *args)
{
	parse_bare(args);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define REFUSED(want, what, ...) dies(apply_extra, ARGS(__VA_ARGS__), VPS_EUSAGE, want, what)

static void accepted(void)
{
	struct args *a = parse("apply", ARGS("--memory", "1073741824", "--swap", "max",
					     "--memory-low", "0", "--pids", "max", "--cpu-weight",
					     "100", "--io-weight", "10000", "--cpuset", "0-1,3"));
	const struct limits *l = &a->l;
	ok(strcmp(a->id, "101") == 0 && strcmp(a->parent, "vpsctl") == 0 && !a->root,
	   "apply --id --parent");
	ok(l->set[L_MEMORY] && l->memory == 1073741824 && l->set[L_SWAP] && l->swap == UNLIMITED &&
		   l->set[L_MEMLOW] && l->memory_low == 0,
	   "--memory BYTES, --swap max, --memory-low 0");
	ok(l->pids == UNLIMITED && l->cpu_weight == 100 && l->io_weight == 10000 &&
		   strcmp(l->cpuset, "0-1,3") == 0 && !l->set[L_CPUS] && !l->set[L_IODEV],
	   "--pids max, --cpu-weight, --io-weight, --cpuset; unset limits stay unset");
	ok(parse("apply", ARGS("--memory", "16777216"))->l.memory == 16777216,
	   "--memory: 16 MiB is the least");

	ok(parse("apply", ARGS("--cpus", "0.5"))->l.quota == 50000 &&
		   parse("apply", ARGS("--cpus", "2"))->l.quota == 200000 &&
		   parse("apply", ARGS("--cpus", "1.25"))->l.quota == 125000,
	   "--cpus 0.5, 2, 1.25: quota in us per 100000");
	ok(parse("apply", ARGS("--cpus", "0.01"))->l.quota == 1000 &&
		   parse("apply", ARGS("--cpus", "1024"))->l.quota == 102400000 &&
		   parse("apply", ARGS("--cpus", "0.123456"))->l.quota == 12346 &&
		   parse("apply", ARGS("--cpus", "max"))->l.quota == UNLIMITED,
	   "--cpus 0.01..1024, six decimals rounded to the us, max");

	a = parse("apply", ARGS("--io-device", "8:16", "--io-rbps", "1048576", "--io-wiops", "max"));
	ok(a->io_device && a->l.set[L_IODEV] && a->l.io_major == 8 && a->l.io_minor == 16 &&
		   a->l.io_set[IO_RBPS] && a->l.io[IO_RBPS] == 1048576 && a->l.io_set[IO_WIOPS] &&
		   a->l.io[IO_WIOPS] == UNLIMITED && !a->l.io_set[IO_WBPS],
	   "--io-device MAJ:MIN with --io-rbps N and --io-wiops max");

	a = parse("usage", ARGS("--cgroup-root", "/tmp/fake"));
	ok(a->root && strcmp(a->root, "/tmp/fake") == 0, "usage --cgroup-root DIR");
	a = parse_bare(ARGS("remove", "--parent", "vpsctl.slice/vpsctl-101.scope", "--id", "101"));
	ok(strcmp(a->parent, "vpsctl.slice/vpsctl-101.scope") == 0,
	   "a systemd host's scope as --parent, options in any order");
	a = parse("detect", ARGS("--cgroup-root", "/tmp/fake"));
	ok(!a->id && strcmp(a->root, "/tmp/fake") == 0, "detect needs no --id");
	dies(apply_extra, ARGS("--help"), 0, "", "--help exits 0");
}

static void refused(void)
{
	REFUSED("below the minimum of 16777216", "--memory under 16 MiB", "--memory", "1048576");
	REFUSED("not a byte count", "--memory with a unit", "--memory", "1G");
	REFUSED("above the maximum", "--memory over 1 EiB", "--memory", "1152921504606846977");
	REFUSED("not a byte count (decimal bytes)", "--memory-low max", "--memory-low", "max");
	REFUSED("not a byte count", "--swap negative", "--swap", "-1");
	REFUSED("must be more than 0", "--cpus 0", "--cpus", "0");
	REFUSED("at least 0.01", "--cpus under 0.01", "--cpus", "0.005");
	REFUSED("at most 1024", "--cpus over 1024", "--cpus", "1024.5");
	REFUSED("not a number of CPUs", "--cpus with seven decimals", "--cpus", "0.1234567");
	REFUSED("not a number of CPUs", "--cpus 1.", "--cpus", "1.");
	REFUSED("not a number of CPUs", "--cpus .5", "--cpus", ".5");
	REFUSED("out of range (1..10000)", "--cpu-weight 0", "--cpu-weight", "0");
	REFUSED("not a number", "--cpu-weight max", "--cpu-weight", "max");
	REFUSED("out of range (1..4194304)", "--pids over PID_MAX_LIMIT", "--pids", "4194305");
	REFUSED("runs backwards", "--cpuset 3-1", "--cpuset", "3-1");
	REFUSED("not a CPU list", "--cpuset past CPU 8191", "--cpuset", "8192");
	REFUSED("not a CPU list", "--cpuset 0,,1", "--cpuset", "0,,1");
	REFUSED("not a CPU list", "--cpuset with a space", "--cpuset", "0, 1");
	REFUSED("not MAJ:MIN", "--io-device 8", "--io-device", "8", "--io-rbps", "1");
	REFUSED("not MAJ:MIN", "--io-device with a major past 4095", "--io-device", "4096:0",
		"--io-rbps", "1");
	REFUSED("need --io-device", "--io-rbps without --io-device", "--io-rbps", "1");
	REFUSED("--io-device needs one of", "--io-device without a rate", "--io-device", "8:0");
	REFUSED("below the minimum of 1 bytes", "--io-wbps 0", "--io-device", "8:0", "--io-wbps", "0");
	REFUSED("--memory given twice", "a limit twice", "--memory", "max", "--memory", "max");
	REFUSED("unknown option --bogus", "an unknown option", "--bogus", "1");
	dies(usage_extra, ARGS("--memory", "max"), VPS_EUSAGE, "unknown option --memory for usage",
	     "usage takes no limits");
	dies(bare, ARGS("apply", "--parent", "vpsctl"), VPS_EUSAGE, "apply needs --id",
	     "apply without --id");
	dies(bare, ARGS("remove", "--id", "101"), VPS_EUSAGE, "remove needs --parent",
	     "remove without --parent");
	dies(bare, ARGS("usage", "--id", "1_01", "--parent", "vpsctl"), VPS_EUSAGE, "bad --id",
	     "an id with _");
	dies(bare, ARGS("usage", "--id", "101", "--parent", "/vpsctl"), VPS_EUSAGE, "bad --parent",
	     "an absolute --parent");
	dies(bare, ARGS("usage", "--id", "101", "--parent", "a/b/c/d/e"), VPS_EUSAGE,
	     "bad --parent", "a --parent of five names");
	dies(bare, ARGS("usage", "--id", "101", "--parent", "vpsctl//x"), VPS_EUSAGE,
	     "bad --parent", "a --parent with //");
	dies(bare, ARGS("detect", "--cgroup-root", "sys/fs/cgroup"), VPS_EUSAGE,
	     "not an absolute path", "a relative --cgroup-root");
}

int main(void)
{
	prog_name = "vps-limit";
	accepted();
	refused();
	return tap_done();
}
