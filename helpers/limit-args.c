/* limit-args.c — vps-limit's argv (its usage is at the top of vps-limit.c): the command's
 * options and the limits, each value checked strictly before anything is made or written; a
 * bad one dies with exit 2. Looks at nothing on the host. */
#define _GNU_SOURCE
#include "limit.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s apply  --id ID --parent NAME [--cgroup-root DIR] [--memory BYTES|max]\n"
		"                 [--swap BYTES|max] [--memory-low BYTES] [--cpus FLOAT|max]\n"
		"                 [--cpu-weight N] [--cpuset LIST] [--pids N|max] [--io-weight N]\n"
		"                 [--io-device MAJ:MIN [--io-rbps N|max] [--io-wbps N|max]\n"
		"                  [--io-riops N|max] [--io-wiops N|max]]\n"
		"       %s usage  --id ID --parent NAME [--cgroup-root DIR]\n"
		"       %s remove --id ID --parent NAME [--cgroup-root DIR]\n"
		"       %s detect [--cgroup-root DIR]\n",
		prog_name, prog_name, prog_name, prog_name);
	exit(code);
}

/* ---- parsing, all strict ---- */

static bool valid_name(const char *s)
{
	size_t n = strnlen(s, NAME_MAX_LEN + 1);

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || !(c == '.' || c == '_' || c == '-')))
			return false;
	}
	return true;
}

/* NAME, or NAME/NAME... (at most 4): a systemd host's parent is the container's delegated
 * scope, vpsctl.slice/vpsctl-101.scope; only its last component is ever made. */
static bool valid_parent(const char *s)
{
	char copy[4 * (NAME_MAX_LEN + 1)], *save = NULL;
	int n = 0;

	if (strnlen(s, sizeof(copy)) >= sizeof(copy) || s[0] == '/' || strstr(s, "//") ||
	    s[strlen(s) - 1] == '/')
		return false;
	snprintf(copy, sizeof(copy), "%s", s);
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
		if (++n > 4 || !valid_name(t))
			return false;
	return n > 0;
}

/* 1..19 decimal digits, nothing else. */
bool parse_u64(const char *s, unsigned long long *v)
{
	char *end;
	size_t n = strnlen(s, 21);

	if (n == 0 || n > 19)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static long long parse_bytes(const char *opt, const char *s, unsigned long long min, bool max_ok)
{
	unsigned long long v;

	if (max_ok && strcmp(s, "max") == 0)
		return UNLIMITED;
	if (!parse_u64(s, &v))
		die_code(VPS_EUSAGE, "%s %.64s: not a byte count (decimal bytes%s)", opt, s,
			 max_ok ? " or max" : "");
	if (v < min)
		die_code(VPS_EUSAGE, "%s %s: below the minimum of %llu bytes (%llu MiB)", opt, s,
			 min, min >> 20);
	if (v > MAX_BYTES)
		die_code(VPS_EUSAGE, "%s %s: above the maximum of %llu bytes (1 EiB)", opt, s,
			 MAX_BYTES);
	return (long long)v;
}

static long parse_range(const char *opt, const char *s, long min, long max, bool max_ok)
{
	unsigned long long v;

	if (max_ok && strcmp(s, "max") == 0)
		return UNLIMITED;
	if (!parse_u64(s, &v))
		die_code(VPS_EUSAGE, "%s %.64s: not a number%s", opt, s, max_ok ? " or max" : "");
	if (v < (unsigned long long)min || v > (unsigned long long)max)
		die_code(VPS_EUSAGE, "%s %s: out of range (%ld..%ld)", opt, s, min, max);
	return (long)v;
}

/* "0.5", "2", "1.25" (at most 6 decimals) or "max" -> quota in us per CPU_PERIOD. */
static long parse_cpus(const char *s)
{
	unsigned long long whole = 0, micro = 0, scale = 1000000;
	const char *p = s;
	size_t digits = 0;

	if (strcmp(s, "max") == 0)
		return UNLIMITED;
	for (; *p >= '0' && *p <= '9' && digits < 5; p++, digits++)
		whole = whole * 10 + (unsigned long long)(*p - '0');
	if (digits == 0 || (*p >= '0' && *p <= '9'))
		goto bad;
	micro = whole * 1000000;
	if (*p == '.') {
		digits = 0;
		for (p++; *p >= '0' && *p <= '9' && digits < 6; p++, digits++) {
			scale /= 10;
			micro += (unsigned long long)(*p - '0') * scale;
		}
		if (digits == 0)
			goto bad;
	}
	if (*p)
		goto bad;
	if (micro == 0)
		die_code(VPS_EUSAGE, "--cpus %s: must be more than 0", s);
	if (micro > 1024ULL * 1000000)
		die_code(VPS_EUSAGE, "--cpus %s: at most 1024", s);
	if (micro < 10000)
		die_code(VPS_EUSAGE, "--cpus %s: at least 0.01 (the kernel's 1 ms quota)", s);
	return (long)((micro + 5) / 10);
bad:
	die_code(VPS_EUSAGE, "--cpus %.64s: not a number of CPUs (e.g. 0.5, 2, 1.25) or max", s);
}

/* "0-1,3": numbers 0..MAX_CPU, ranges a-b with a <= b, separated by single commas. */
static void check_cpuset(const char *s)
{
	const char *p = s;

	if (strnlen(s, CPUSET_MAX) >= CPUSET_MAX)
		die_code(VPS_EUSAGE, "--cpuset: longer than %d characters", CPUSET_MAX - 1);
	for (;;) {
		unsigned long a = 0, b;
		size_t d = 0;

		for (; *p >= '0' && *p <= '9' && d < 5; p++, d++)
			a = a * 10 + (unsigned long)(*p - '0');
		if (d == 0 || a > MAX_CPU)
			goto bad;
		b = a;
		if (*p == '-') {
			b = 0;
			d = 0;
			for (p++; *p >= '0' && *p <= '9' && d < 5; p++, d++)
				b = b * 10 + (unsigned long)(*p - '0');
			if (d == 0 || b > MAX_CPU)
				goto bad;
			if (a > b)
				die_code(VPS_EUSAGE, "--cpuset %s: range %lu-%lu runs backwards", s,
					 a, b);
		}
		if (*p == '\0')
			return;
		if (*p++ != ',')
			goto bad;
	}
bad:
	die_code(VPS_EUSAGE, "--cpuset %.64s: not a CPU list of 0..%lu (e.g. 0-1,3)", s, MAX_CPU);
}

static void parse_device(const char *s, struct limits *l)
{
	const char *colon = strchr(s, ':');
	char maj[24];
	unsigned long long a, b;

	if (!colon || (size_t)(colon - s) >= sizeof(maj))
		goto bad;
	snprintf(maj, sizeof(maj), "%.*s", (int)(colon - s), s);
	if (!parse_u64(maj, &a) || !parse_u64(colon + 1, &b) || a > 4095 || b > 1048575)
		goto bad;
	l->io_major = (unsigned long)a;
	l->io_minor = (unsigned long)b;
	return;
bad:
	die_code(VPS_EUSAGE, "--io-device %.64s: not MAJ:MIN (e.g. 8:0)", s);
}

/* ---- options ---- */

static void once(bool *seen, const char *opt)
{
	if (*seen)
		die_code(VPS_EUSAGE, "%s given twice", opt);
	*seen = true;
}

/* The limit an option like "--memory" sets, or -1. */
static int lim_of(const char *opt)
{
	if (strncmp(opt, "--", 2) != 0)
		return -1;
	for (int k = 0; k < L_IODEV; k++)
		if (strcmp(opt + 2, lim_names[k]) == 0)
			return k;
	return -1;
}

void parse_args(int argc, char **argv, bool limits, bool needs_id, struct args *a)
{
	struct limits *l = &a->l;
	bool seen_id = false, seen_parent = false, seen_root = false;

	for (int i = 2; i < argc; i++) {
		const char *opt = argv[i], *v;
		int k;

		if (strcmp(opt, "--help") == 0)
			usage(0);
		if (needs_id && strcmp(opt, "--id") == 0) {
			once(&seen_id, opt);
			a->id = arg_value(argc, argv, &i);
			continue;
		}
		if (needs_id && strcmp(opt, "--parent") == 0) {
			once(&seen_parent, opt);
			a->parent = arg_value(argc, argv, &i);
			continue;
		}
		if (strcmp(opt, "--cgroup-root") == 0) {
			once(&seen_root, opt);
			a->root = arg_value(argc, argv, &i);
			continue;
		}
		if (!limits)
			die_code(VPS_EUSAGE, "unknown option %.64s for %s", opt, argv[1]);
		if (strcmp(opt, "--io-device") == 0) {
			once(&a->io_device, opt);
			parse_device(arg_value(argc, argv, &i), l);
			continue;
		}
		for (k = 0; k < N_IO && strcmp(opt, io_opts[k]) != 0; k++)
			;
		if (k < N_IO) {
			once(&l->io_set[k], opt);
			v = arg_value(argc, argv, &i);
			l->io[k] = parse_bytes(opt, v, 1, true);
			continue;
		}
		k = lim_of(opt);
		if (k < 0)
			die_code(VPS_EUSAGE, "unknown option %.64s", opt);
		once(&l->set[k], opt);
		v = arg_value(argc, argv, &i);
		switch ((enum lim)k) {
		case L_MEMORY:
			l->memory = parse_bytes(opt, v, MIN_MEMORY, true);
			break;
		case L_SWAP:
			l->swap = parse_bytes(opt, v, 0, true);
			break;
		case L_MEMLOW:
			l->memory_low = parse_bytes(opt, v, 0, false);
			break;
		case L_CPUS:
			l->quota = parse_cpus(v);
			break;
		case L_CPUW:
			l->cpu_weight = parse_range(opt, v, 1, 10000, false);
			break;
		case L_CPUSET:
			check_cpuset(v);
			snprintf(l->cpuset, sizeof(l->cpuset), "%s", v);
			break;
		case L_PIDS:
			l->pids = parse_range(opt, v, 1, MAX_PIDS, true);
			break;
		case L_IOW:
			l->io_weight = parse_range(opt, v, 1, 10000, false);
			break;
		case L_IODEV:
		case N_LIM:
			break;
		}
	}
	if (limits) {
		bool any_rate = false;
		for (int k = 0; k < N_IO; k++)
			any_rate |= l->io_set[k];
		if (any_rate && !a->io_device)
			die_code(VPS_EUSAGE,
				 "--io-rbps/--io-wbps/--io-riops/--io-wiops need --io-device");
		if (a->io_device && !any_rate)
			die_code(VPS_EUSAGE, "--io-device needs one of --io-rbps, --io-wbps, "
					     "--io-riops, --io-wiops");
		l->set[L_IODEV] = a->io_device;
	}
	if (needs_id) {
		if (!a->id)
			die_code(VPS_EUSAGE, "%s needs --id", argv[1]);
		if (!a->parent)
			die_code(VPS_EUSAGE, "%s needs --parent", argv[1]);
		if (!valid_id(a->id))
			die_code(VPS_EUSAGE,
				 "bad --id \"%.64s\": want ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
				 a->id);
		if (!valid_parent(a->parent))
			die_code(VPS_EUSAGE,
				 "bad --parent \"%.64s\": want NAME or up to 4 NAMEs joined by /, "
				 "each ^[a-z0-9][a-z0-9._-]{0,62}$",
				 a->parent);
	}
	if (a->root && !valid_abs_path(a->root))
		die_code(VPS_EUSAGE, "--cgroup-root %.64s: not an absolute path without \"..\"",
			 a->root);
}
