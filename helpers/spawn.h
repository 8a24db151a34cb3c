/* spawn.h — what vps-spawn.c and spawn-rootfs.c share (vps-spawn only). */
#ifndef VPS_SPAWN_H
#define VPS_SPAWN_H

#include "common.h"
#include "confine.h"

#include <stdint.h>

#define MAX_CGROUPS 16
#define MAX_LIMIT_ARGS 48
#define MAX_BINDS      8

struct cgroup_arg {
	const char *mountname; /* "" = cgroup2 directly on /sys/fs/cgroup */
	char options[128];     /* v1 mount data, or "cgroup2" */
	const char *hostdir;
	bool v2;
	bool cpuset;
	bool devices; /* a v1 hierarchy with the devices controller */
	bool owned;   /* ours to remove on rollback (created by this run, or after RESULT_OK) */
};

/* --device SRC:DEST:rw|ro: the host's character device SRC bound on /dev/DEST inside. */
struct dev_pass {
	const char *src;
	char dest[64];
	struct dev_extra num; /* its numbers (from SRC) and access, for the allowlist */
};

/* --bind SRC:DEST:rw|ro: the host directory SRC bound on DEST inside the container (both
 * plain absolute paths, checked by spawn-args.c; the host side again at every boot). */
struct bind_arg {
	char *src, *dest;
	bool ro;
};

struct opts {
	const char *id, *image, *rootfs, *run_dir, *hostname, *init;
	const char *lxcfs;    /* --lxcfs DIR: bind DIR/proc/{meminfo,...} over the container's */
	const char *net_helper, *net_spec; /* --net-helper PATH --net-spec FILE: vps-net up per boot */
	const char *monitor_cgroup;        /* --monitor-cgroup DIR: the monitor's leaf in its scope */
	const char *events, *event_source; /* --events FILE --event-source SRC: the host's event log */
	const char *stop_hook;             /* --stop-hook PROG: run PROG hook-run post-stop ID */
	const char *limit_helper;          /* --limit-helper PATH: vps-limit, before init is born */
	const char *limit_args[MAX_LIMIT_ARGS]; /* --limit ARG...: its argv after its name */
	size_t n_limit_args;
	bool limit_io_device; /* --limit-io-device: add --io-device MAJ:MIN of the loop device */
	unsigned long nofile; /* --nofile N: init's RLIMIT_NOFILE (0: the default below) */
	bool readonly;
	unsigned long long space_low; /* --space-low BYTES: freeze the filesystem under it (0: off) */
	struct cgroup_arg cg[MAX_CGROUPS];
	size_t n_cg;
	struct dev_pass dev[MAX_DEV_EXTRA];
	struct dev_extra dev_num[MAX_DEV_EXTRA]; /* dev[i].num, as the allowlist takes them */
	size_t n_dev;
	struct bind_arg bind[MAX_BINDS];
	size_t n_bind;
	bool userns;  /* --userns given (and the kernel has user namespaces) */
	bool idmap;   /* userns mode with an idmapped rootfs (not --no-idmap) */
	bool seccomp; /* load the R6 filter (false only with --unsafe-allow-missing) */
	bool keyctl;  /* --keyctl: the keyring calls allowed (userns mode only), else ENOSYS */
	bool nesting; /* --nesting: a clean proc and rw sysfs at /dev/.lxc (userns mode only) */
	bool devices_bpf; /* R5 as an eBPF device program on the v2 cgroup (no v1 devices hierarchy) */
	uint32_t host_uid, host_gid, id_count;
	unsigned allow_missing;           /* FEAT_* from --unsafe-allow-missing */
	char warnings[4][VPS_ERRMSG_MAX]; /* overridden missing features, for monitor.log */
	size_t n_warnings;
};

/* Fill o from argv (spawn-args.c); dies with a usage error (exit 2) on a bad one, prints
 * the usage and exits 0 for --help. */
void parse_args(struct opts *o, int argc, char **argv);

/* The monitor's log, monitor.log (spawn-log.c). One {"event":"warning"} line: */
printf_fn(1, 2) void log_warn(const char *fmt, ...);
/* One event line (JSON, made by the caller): */
printf_fn(1, 2) void log_event(const char *fmt, ...);
/* One {"event":"error","code":CODE,"message":MSG} line: */
void log_error(int code, const char *msg);

/* The monitor's guard of the pool's free space (spawn-space.c). */
struct space_guard {
	int img_fd;   /* the image, taken when it is attached (the pool's mount may be gone from
		       * the monitor's namespace later): fstatfs tells the pool's free space */
	int root_fd;  /* the mounted rootfs: FIFREEZE / FITHAW */
	int timer_fd; /* a tick a second */
	uint64_t low;
	bool frozen;  /* frozen by this guard (and only then thawed by it) */
};
/* Starts the ticks (g->img_fd set by the caller); the timer fd to poll, or -1 (logged: the
 * guard is off). */
int space_guard_start(struct space_guard *g, const char *rootfs, uint64_t low);
/* On a tick: freeze under `low` free, thaw at twice that; RUN_DIR/space-frozen while frozen. */
void space_guard_tick(struct space_guard *g, int run_fd);
/* Thaws what the guard froze (before the rootfs is unmounted). */
void space_guard_thaw(struct space_guard *g, int run_fd);
void space_guard_stop(struct space_guard *g);

/* Monitor: create (or reuse an idle) HOSTDIR, with the devices allowlist (R5) and, in
 * userns mode, the delegation to HOSTUID:HOSTGID; dies on error. */
void cgroup_create(const struct opts *o, struct cgroup_arg *cg);
/* Below a cgroup v2 HOSTDIR (see spawn-cgroup.c): init's delegated cgroup, the root of the
 * container's cgroup namespace, and the leaf vps-enter joins. vpsctl's TypeScript names the
 * same (src/limits/cgroups.ts). */
#define CG_V2_PAYLOAD "ct"
#define CG_V2_ENTER   "enter"

/* Monitor: write pid into every HOSTDIR/cgroup.procs (v2: HOSTDIR/CG_V2_PAYLOAD); dies on
 * error. */
void cgroups_attach(const struct opts *o, pid_t pid);
/* The cgroup init lives in: HOSTDIR, or on v2 HOSTDIR/CG_V2_PAYLOAD. fd or -1/errno. */
int cgroup_init_dir(const struct cgroup_arg *cg);
/* Monitor: remove the owned (all: every) HOSTDIR trees, waiting for tasks to leave. */
void cgroups_remove(struct opts *o, bool all);

/* Monitor: run another of vpsctl's helpers (argv[0] its name) with a clean environment,
 * stdin /dev/null, for at most timeout_ms; its stdout's head into out (out_cap bytes, may be
 * 0). On failure dies with the helper's exit code and "WHAT: <its last stderr line>". */
void run_helper(const char *path, char *const argv[], char *out, size_t out_cap, int timeout_ms,
		const char *what);

/* In the init child, inside its new mount ns: build /proc, /sys, /sys/fs/cgroup and /dev
 * in the rootfs (rootfs_fd: O_PATH of o->rootfs, opened in this mount ns; every target
 * walked without following symlinks: R2), with --nesting a clean proc and sysfs at
 * /dev/.lxc/{proc,sys} (and /sys read-only per mount), apply the R4 masks after all of them,
 * pivot_root into it. The console pty is bound on /dev/console. Dies (through the child's
 * sink) on any error. */
void rootfs_build(const struct opts *o, int rootfs_fd, int pty_master, int pty_slave);

/* Monitor, in the host's mount namespace: a detached clone of the host directory b->src
 * (walked from / without following any symlink; a directory), not of the mounts below it.
 * Dies on error. */
int bind_clone(const struct bind_arg *b);
/* Monitor, in the stage (the container's rootfs mounted at root): tree made nosuid, nodev,
 * private, read-only for :ro and, with userns_fd >= 0, idmapped to that user namespace (if
 * the kernel refuses and idmap_waived: a plain bind, logged); then moved onto b->dest,
 * resolved inside root (RESOLVE_IN_ROOT: a tenant's symlink never leads out), its missing
 * directories made as uid:gid (the container's root). Dies on error. */
void bind_attach(const struct bind_arg *b, int root, int tree, int userns_fd, bool idmap_waived,
		 uid_t uid, gid_t gid);

#endif
