/* limit.h — what vps-limit's parts share: the cgroup layout, the limits, the plan of writes,
 * and the ops table that holds what differs between cgroup v1 and v2 (limit-v1.c,
 * limit-v2.c). limit-args.c parses argv; vps-limit.c detects the layout (which picks the
 * ops once), plans and writes; the ops plan their files, read usage back, and list their
 * controllers. */
#ifndef VPS_LIMIT_H
#define VPS_LIMIT_H

#include "common.h"

#include <stdbool.h>
#include <stddef.h>

#define DEFAULT_ROOT "/sys/fs/cgroup"
#define CPU_PERIOD   100000L
#define MIN_MEMORY   (16ULL << 20)
#define MAX_BYTES    (1ULL << 60) /* 1 EiB: above it is a typo, not a limit */
#define V1_UNLIMITED (1ULL << 62) /* v1 reads back PAGE_COUNTER_MAX pages as bytes */
#define UNLIMITED    (-1LL)       /* "max" in a parsed value */
#define MAX_PIDS     4194304L     /* PID_MAX_LIMIT */
#define MAX_CPU      8191UL
#define VAL_MAX      320
#define MAX_WRITES   32
#define OUT_MAX      65536
#define NAME_MAX_LEN 63
#define CPUSET_MAX   256
#define CONTROLS_MAX 4096

/* ---- hierarchies ---- */

enum ctl { C_MEMORY, C_CPU, C_CPUACCT, C_CPUSET, C_PIDS, C_IO, N_CTL };
static const char *const ctl_names[N_CTL] = {
	"memory", "cpu", "cpuacct", "cpuset", "pids", "blkio"
};
static const char *const v2_names[N_CTL] = { "memory", "cpu", NULL, "cpuset", "pids", "io" };
/* v1 directory names to try for each controller, in order */
static const char *const v1_dirs[N_CTL][3] = {
	{ "memory", NULL, NULL },
	{ "cpu", "cpu,cpuacct", "cpuacct,cpu" },
	{ "cpuacct", "cpu,cpuacct", "cpuacct,cpu" },
	{ "cpuset", NULL, NULL },
	{ "pids", NULL, NULL },
	{ "blkio", NULL, NULL },
};

enum level { L_CTL, L_PARENT, L_LEAF, N_LEVEL };

struct hier {
	bool present, fake, leaf_existed;
	char abs[VPS_PATH_MAX]; /* the hierarchy's directory, symlinks resolved */
	char rel[VPS_PATH_MAX]; /* the same, relative to the root ("" for the root itself) */
	int fd[N_LEVEL];
};

struct limit_ops;

struct ctx {
	const char *root, *parent, *id;
	bool root_given, v2;
	int root_fd;
	struct hier h[N_CTL]; /* v2: only h[0], the root */
	const struct limit_ops *ops; /* chosen once, by detect_layout */
};

/* ---- limits ---- */

enum lim { L_MEMORY, L_SWAP, L_MEMLOW, L_CPUS, L_CPUW, L_CPUSET, L_PIDS, L_IOW, L_IODEV, N_LIM };
static const char *const lim_names[N_LIM] = { "memory", "swap",       "memory-low",
					      "cpus",   "cpu-weight", "cpuset",
					      "pids",   "io-weight",  "io-device" };
static const enum ctl lim_ctl[N_LIM] = { C_MEMORY, C_MEMORY, C_MEMORY, C_CPU, C_CPU,
					 C_CPUSET, C_PIDS,   C_IO,     C_IO };

enum io_key { IO_RBPS, IO_WBPS, IO_RIOPS, IO_WIOPS, N_IO };
static const char *const io_opts[N_IO] = { "--io-rbps", "--io-wbps", "--io-riops", "--io-wiops" };
static const char *const io_v2_keys[N_IO] = { "rbps", "wbps", "riops", "wiops" };
static const char *const io_v1_files[N_IO] = { "blkio.throttle.read_bps_device",
					       "blkio.throttle.write_bps_device",
					       "blkio.throttle.read_iops_device",
					       "blkio.throttle.write_iops_device" };

struct limits {
	bool set[N_LIM];
	long long memory, swap, memory_low; /* bytes or UNLIMITED */
	long quota;                         /* us per CPU_PERIOD or UNLIMITED */
	long cpu_weight, pids, io_weight;   /* pids: UNLIMITED for max */
	char cpuset[CPUSET_MAX];
	unsigned long io_major, io_minor;
	bool io_set[N_IO];
	long long io[N_IO];
};

/* What argv says (limit-args.c). */
struct args {
	const char *id, *parent, *root;
	struct limits l;
	bool io_device;
};
/* Fill a from argv[2..] (argv[1] is the command): the limits only with limits, --id and
 * --parent only (and then required) with needs_id; dies with exit 2 on a bad value, prints
 * the usage and exits 0 for --help. */
void parse_args(int argc, char **argv, bool limits, bool needs_id, struct args *a);
noreturn_fn void usage(int code);

struct write {
	enum lim lim;
	int h;
	enum level level;
	const char *file;
	char val[VAL_MAX];
};

/* Writes with lim N_LIM enable controllers (v2 cgroup.subtree_control): never skipped. */
struct plan {
	struct write w[MAX_WRITES];
	size_t n, done;
	bool skipped[N_LIM + 1];
	char why[N_LIM][VPS_ERRMSG_MAX];
};

/* What differs between cgroup v1 and v2, chosen once by the layout under the root. */
struct limit_ops {
	const char *mode; /* "v1" or "v2", as printed */
	/* Makes the leaves, plans the writes of the limits and writes them. */
	void (*apply)(struct ctx *c, struct plan *pl, const struct limits *l);
	/* Prints the usage object (the leaves are open). */
	void (*usage)(struct ctx *c);
	/* Prints the controllers the root offers, as JSON strings separated by commas. */
	void (*controllers)(struct ctx *c);
};

extern const struct limit_ops limit_v1_ops, limit_v2_ops;

/* output (vps-limit.c): the one line of JSON */
void emit(const char *fmt, ...) printf_fn(1, 2);
void emit_str(const char *s);
void emit_num(const char *key, bool ok, unsigned long long v, bool first);
void emit_cpuset(int dfd);

/* the hierarchies and reading their files */
void open_hier(struct ctx *c, struct hier *h, bool make);
void rel_path(const struct ctx *c, const struct hier *h, enum level lv, const char *file,
	      char *buf, size_t cap);
bool exists_at(int dfd, const char *file);
bool parse_u64(const char *s, unsigned long long *v);
bool read_line(int dfd, const char *file, char *buf, size_t cap);
bool read_u64(int dfd, const char *file, unsigned long long *v);
bool read_s64(int dfd, const char *file, long long *v);
bool read_words(int dfd, const char *file, char *buf, size_t cap);
bool read_key(int dfd, const char *file, const char *key, unsigned long long *v);
bool has_word(const char *words, const char *w);

/* the plan of writes */
void skip(struct plan *pl, enum lim l, const char *fmt, ...) printf_fn(3, 4);
void add(struct plan *pl, enum lim l, int h, enum level lv, const char *file, const char *fmt, ...)
	printf_fn(6, 7);
void fmt_limit(char *buf, size_t cap, long long v, const char *unlimited);
void check_files(struct ctx *c, struct plan *pl);
void write_planned(struct ctx *c, struct plan *pl);

#endif
