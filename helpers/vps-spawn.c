/* vps-spawn — start one full-system container and stay on as its monitor.
 *
 *   vps-spawn --id ID --image /abs/ID.img --rootfs /run/vpsctl/ID/rootfs
 *             --run-dir /run/vpsctl/ID --hostname NAME
 *             [--cgroup MOUNTNAME:OPTIONS:HOSTDIR]... [--init /sbin/init] [--readonly-image]
 *             [--userns HOSTUID:HOSTGID:COUNT [--no-idmap]]
 *             [--unsafe-allow-missing userns|idmap|seccomp|devices-cgroup]...
 *             [--nofile N] [--lxcfs DIR] [--net-helper PATH --net-spec FILE]
 *             [--limit-helper PATH [--limit ARG]... [--limit-io-device]]
 *             [--monitor-cgroup DIR] [--space-low BYTES]
 *
 * --limit-helper PATH --limit ARG...: once the image is on its loop device and before the
 * cgroups are made, the monitor runs `PATH ARG...` (helpers/vps-limit apply: it makes the
 * container's cgroups with their limits, which are then reused), with --io-device MAJ:MIN of
 * the loop device added for --limit-io-device; its one-line JSON answer is passed on in the
 * result; a failure is the start's failure.
 * --monitor-cgroup DIR: the parent moves itself into DIR (made if missing) before anything
 * else: on a systemd host vpsctl starts us in the container's own delegated scope, where no
 * process may stay once the container's cgroup beside it has controllers.
 *
 * --nofile sets init's RLIMIT_NOFILE (soft and hard; exit 6 if the host cannot give it).
 * --space-low BYTES: while the pool holding the image has less free, the container's
 * filesystem is frozen so that no write fails for want of pool space (spawn-space.c).
 * --lxcfs DIR binds DIR/proc/{meminfo,cpuinfo,stat,uptime,loadavg,diskstats,swaps} (lxcfs's
 * per-cgroup views) read-only over the container's /proc files, so free, top and uptime
 * inside show the container's limits; a file lxcfs does not serve is skipped.
 * --net-helper PATH --net-spec FILE: at every boot, once init sits in its new network
 * namespace and before SYNC_GO, the monitor runs `PATH up --pid INIT --spec FILE`
 * (helpers/vps-net: loopback up, the veth pair made straight into the namespace) and
 * waits for it; a failure is the boot's failure, with the helper's exit code and message.
 *
 * Without --userns the container shares the host's user namespace ("privileged": its root
 * is the host's root, held back only by the confinement below). With --userns its root is
 * HOSTUID on the host; the image keeps plain ids (0 = root) and the container sees it
 * through an idmapped mount, unless --no-idmap says the image's ids were shifted already.
 *
 * Three processes, three stages (compare runc's nsexec.c):
 *
 *  PARENT   (what TypeScript runs; exits as soon as it knows the outcome)
 *    validates argv, checks the required kernel features (R11: missing -> exit 6 unless
 *    --unsafe-allow-missing FEATURE, which the monitor logs as a warning), opens the RESULT
 *    pipe, forks the monitor and reads ONE line:
 *      RESULT_OK  "ok INIT_PID /dev/loopN LIMITS" -> prints {"monitor_pid","init_pid","loop",
 *                                                      "limits"}, exit 0
 *      RESULT_ERR "err CODE MESSAGE"        -> prints "vps-spawn: MESSAGE", exit CODE
 *      EOF / timeout                        -> exit 1 (the monitor died or hung)
 *
 *  MONITOR  (daemon for the container's whole life; outside every container cgroup)
 *    setsid, stdio -> /dev/null + <run-dir>/monitor.log, close other fds;
 *    unshare(CLONE_NEWNS) + "/" rslave, every other loop-backed mount detached from the copy
 *    (so that it never pins another image or the pool): the rootfs mount exists only in
 *    the monitor's and the container's mount namespaces, so when both die the kernel
 *    unmounts it and the LO_FLAGS_AUTOCLEAR loop device detaches itself (SECURITY.md R10);
 *    checks the image (R8: a root-owned regular file with one link, not group/other
 *    writable), loop-attaches it (refusing one already attached), mounts it -t ext4
 *    nosuid,nodev,errors=remount-ro (the host-side view), runs vps-limit (--limit-helper),
 *    creates the cgroups (an existing idle leaf is reused with its settings, such as the
 *    limits just written; stale sub-cgroups are removed; a leaf with tasks = ESTATE), writes
 *    the devices allowlist (R5: v1 devices.*, else an eBPF device program on the v2 cgroup)
 *    and, in userns mode, chowns each cgroup's delegation files to HOSTUID:HOSTGID (never
 *    the limits; on v2 those of the HOSTDIR/ct child init lives in, spawn-cgroup.c);
 *    in idmap mode makes a helper user namespace with the container's mapping (a child
 *    that unshares and waits; its ns fd is kept), opens the console pty and listens on
 *    <run-dir>/console.sock (see "The console" below), then per boot:
 *      STAGE: unshare(CLONE_NEWNS) into a throw-away namespace, open_tree(OPEN_TREE_CLONE)
 *        the host-side mount, mount_setattr: suid allowed, nodev kept, MOUNT_ATTR_IDMAP to
 *        the helper userns, move_mount it over <rootfs>;
 *      clone3(NEWUSER (userns mode)|NEWPID|NEWNS|NEWUTS|NEWIPC|NEWNET) the INIT child: its
 *        mount ns is a copy of the stage, and in userns mode that copy belongs to a less
 *        privileged user ns, so the kernel locks every mount copied into it (nodev/ro
 *        cannot be cleared, none can be unmounted to reveal what is below);
 *      setns back into the monitor's own mount namespace (the stage is gone with it);
 *      userns mode: <--- SYNC_USERMAP_REQ; write uid_map "0 HOSTUID COUNT" and gid_map
 *        "0 HOSTGID COUNT" (setgroups stays allowed: systemd needs it); SYNC_USERMAP_ACK --->
 *      write the child's pid into every HOSTDIR/cgroup.procs (v2: HOSTDIR/ct/cgroup.procs)
 *      SYNC_GO  ---------------------------------------------------------> child
 *      <---------- SYNC_ERROR {code, message}  or  EOF of the CLOEXEC sync socket (= exec'd)
 *    writes state.json (tmp + rename), sends RESULT_OK (if the parent is gone by then,
 *    nobody knows the container: roll back instead), then serves the event loop (one
 *    poll(2); every watched fd has its own event mask): signalfd (SIGCHLD, SIGTERM,
 *    SIGINT, SIGHUP), the console pty master, the console.sock listener and its clients.
 *    init killed by SIGHUP (reboot(2) in a pid ns) -> boot again on the same mount (the
 *    pty, the socket and its clients stay); any other end of init -> remove cgroups,
 *    unmount, remove state.json and console.sock, exit 0 (which closes the clients).
 *    SIGTERM/SIGINT to the monitor = emergency stop (SIGKILL init).
 *    Any setup error rolls back everything this run made before RESULT_ERR is sent.
 *
 *  INIT     (becomes the container's PID 1)
 *    opens <rootfs> while still the host's root for file access (the run dir may be 0700);
 *    userns mode: SYNC_USERMAP_REQ, waits for SYNC_USERMAP_ACK, becomes uid/gid 0 of its
 *    namespace (HOSTUID on the host) with setgroups(0);
 *    waits for SYNC_GO;
 *    unshare(CLONE_NEWCGROUP) (it already sits in the container's cgroups, HOSTDIR/ct on v2,
 *    so they become its cgroup-ns root: a cgroup v1 hierarchy can only be created in the initial cgroup
 *    ns, so "mount -t cgroup -o none,name=x" fails inside), "/" rprivate, sethostname,
 *    clones the (locked) rootfs mount onto itself (pivot_root refuses a locked new root),
 *    builds /proc /sys /sys/fs/cgroup /dev inside the rootfs by directory fd, walking every
 *    mount target without following any symlink (R2: an image whose /proc, /sys, /dev or
 *    /run is a symlink is refused), then the R4 masks AFTER every other mount (read-only
 *    /proc/sys with /proc/sys/net read-write, /proc/sysrq-trigger, /proc/{bus,fs,irq}
 *    read-only; /dev/null over /proc/{kcore,keys,kallsyms,timer_list,...}; an empty
 *    read-only tmpfs over /proc/acpi, /proc/scsi, /sys/firmware, powercap; /sys is
 *    read-only already; these are init's own mounts: in userns mode its root could remove
 *    them, and the kernel refuses the same things to a non-initial user ns), pivot_root,
 *    console as ctty on 0/1/2, fds > 2 CLOEXEC, default signals, NOFILE 1024:524288,
 *    clean environment; if the monitor died meanwhile (HUP on the sync socket) exit
 *    instead of becoming an orphan container; then, last, the capability bounding set
 *    (R7) and the seccomp filter (R6, confine.c), and execve(init).
 *
 * The console: init's /dev/console is a pty whose master the monitor holds for the
 * container's whole life. All it reads from the master (at most CONSOLE_DRAIN_MAX bytes
 * per turn of the event loop, so a flood cannot hold it up, and CONSOLE_RATE bytes a
 * second, so a flood costs the host little CPU) goes to console.log (beyond
 * CONSOLE_LOG_MAX renamed to console.log.1, replacing an older one: at most twice that is
 * kept) and, as 'D' frames, to every client of <run-dir>/console.sock (console-proto.h,
 * `vpsctl console`): a 0600 unix socket, at most CONSOLE_MAX_CLIENT peers, uid 0 only
 * (SO_PEERCRED). The console never waits for a client: each has a CONSOLE_CLIENT_BUF
 * output buffer that poll empties as the client reads; a frame that does not fit is
 * dropped and its size reported later in an 'L' frame. One client types (the first that
 * asked to; when it leaves, the longest-attached one that asked): its keystrokes go to the
 * master, and while the master has not taken them all (they wait in a CONSOLE_FRAME_MAX
 * buffer) that client is not read. A protocol error closes the client, and so does
 * silence: a client must say hello within CONSOLE_HELLO_MS.
 *
 * The monitor's stderr is <run-dir>/monitor.log, one JSON object per line:
 * {"event":"started"|"init-exited"|"rebooting"|"emergency-stop"|"warning"|"error"|
 *  "stopped", ...}.
 */
#define _GNU_SOURCE
#include "confine.h"
#include "console-proto.h"
#include "spawn.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/loop.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#define CONSOLE_LOG_MAX    (1024 * 1024)
#define INIT_START_TIMEOUT 30000 /* ms: clone -> exec of init */
#define PARENT_TIMEOUT     90000 /* ms: parent waits this long for RESULT_* */
#define RESULT_LIMITS_MAX  6144  /* vps-limit's JSON answer passed on in RESULT_OK */
#define LOOP_RETRIES       8

#define MAX_WATCHES        (4 + CONSOLE_MAX_CLIENT) /* signalfd, pty master, listener, space timer, clients */
#define CONSOLE_DRAIN_MAX  (256 * 1024)  /* read from the pty master per turn of the loop */
#define CONSOLE_CLIENT_BUF (64 * 1024)   /* output a console client may fall behind */
#define CONSOLE_RATE       (1024 * 1024) /* bytes a second read from the console, at most */
#define CONSOLE_PAUSE_MS   20            /* how often a throttled console is looked at */
#define CONSOLE_HELLO_MS   10000         /* a client must say hello within this */
#define CONSOLE_ACCEPT_MS  1000          /* accept() out of fds or memory: wait this long */

static const char *const init_env[] = {
	"container=vpsctl",
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"TERM=linux",
	"container_ttys=",
	NULL,
};

/* Messages on the monitor <-> init sync socket (SOCK_SEQPACKET: one message per read). */
enum sync_type {
	SYNC_GO = 1,          /* monitor -> init: cgroups attached, build the container and exec */
	SYNC_ERROR = 2,       /* init -> monitor: setup failed; code + message; init then exits */
	SYNC_USERMAP_REQ = 3, /* init -> monitor: in my new user ns, please write my id maps */
	SYNC_USERMAP_ACK = 4, /* monitor -> init: uid_map and gid_map are written */
};

struct sync_msg {
	uint32_t type;
	int32_t code;
	char msg[VPS_ERRMSG_MAX];
};

typedef void (*watch_fn)(int fd, short revents);

/* Everything the monitor owns; global so the die sink can roll it back. */
static struct {
	struct opts *o;
	int result_fd; /* to the parent until RESULT_* is sent */
	int run_fd;
	bool log_ready;
	int loop_fd, loop_nr;
	char loop_path[32];
	char limits_json[RESULT_LIMITS_MAX]; /* vps-limit's answer, for RESULT_OK */
	bool mounted;
	int idmap_userns; /* helper user ns with the container's mapping, for MOUNT_ATTR_IDMAP */
	int home_mntns;   /* the monitor's own mount ns, to return to from the stage */
	bool staged;      /* in the throw-away stage mount ns right now */
	int pty_master, pty_slave;
	int console_fd;
	off_t console_size;
	int listen_fd; /* console.sock; while >= 0 the socket file is ours to remove */
	int sig_fd;
	pid_t init_pid;
	int sync_fd;
	bool stopping;
	bool state_written; /* state.json is ours to remove */
	long long starttime;
	struct space_guard space;
	struct pollfd pfd[MAX_WATCHES];
	watch_fn fn[MAX_WATCHES];
} M = {
	.result_fd = -1,
	.run_fd = -1,
	.loop_fd = -1,
	.loop_nr = -1,
	.idmap_userns = -1,
	.home_mntns = -1,
	.pty_master = -1,
	.pty_slave = -1,
	.console_fd = -1,
	.listen_fd = -1,
	.sig_fd = -1,
	.init_pid = -1,
	.sync_fd = -1,
	.space = { .img_fd = -1, .root_fd = -1, .timer_fd = -1 },
};

static int child_sync_fd = -1; /* init child side */

static noreturn_fn void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s --id ID --image /abs/ID.img --rootfs DIR --run-dir DIR --hostname NAME\n"
		"       [--cgroup MOUNTNAME:OPTIONS:HOSTDIR]... [--init /sbin/init] "
		"[--readonly-image]\n"
		"       [--userns HOSTUID:HOSTGID:COUNT [--no-idmap]]\n"
		"       [--unsafe-allow-missing userns|idmap|seccomp|devices-cgroup]...\n"
		"       [--nofile N] [--lxcfs DIR] [--net-helper PATH --net-spec FILE]\n"
		"       [--limit-helper PATH [--limit ARG]... [--limit-io-device]] "
		"[--monitor-cgroup DIR] [--space-low BYTES]\n",
		prog_name);
	exit(code);
}

/* ------------------------------------------------------------------ argv */

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

static void parse_args(struct opts *o, int argc, char **argv)
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
	if (!o->id || !o->image || !o->rootfs || !o->run_dir || !o->hostname)
		die_code(VPS_EUSAGE,
			 "--id, --image, --rootfs, --run-dir and --hostname are required");
	if (!valid_id(o->id))
		die_code(VPS_EUSAGE, "invalid --id");
	if (!valid_hostname(o->hostname))
		die_code(VPS_EUSAGE, "invalid --hostname");
	if (o->lxcfs && !valid_abs_path(o->lxcfs))
		die_code(VPS_EUSAGE, "--lxcfs must be an absolute path");
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

/* ------------------------------------------------------------------ monitor: log + state */

void log_event(const char *fmt, ...)
{
	char line[VPS_ERRMSG_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}

void log_warn(const char *fmt, ...)
{
	char msg[VPS_ERRMSG_MAX], esc[VPS_ERRMSG_MAX * 2] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_escape(esc, sizeof(esc), msg);
	log_event("{\"event\":\"warning\",\"message\":\"%s\"}", esc);
}

static void log_error_event(int code, const char *msg)
{
	char esc[VPS_ERRMSG_MAX * 2] = "";

	json_escape(esc, sizeof(esc), msg);
	log_event("{\"event\":\"error\",\"code\":%d,\"message\":\"%s\"}", code, esc);
}

static long long proc_self_starttime(void)
{
	char buf[1024];
	char *p;

	if (read_file_at(AT_FDCWD, "/proc/self/stat", buf, sizeof(buf)) < 0)
		return -1;
	p = strrchr(buf, ')'); /* comm may contain spaces and parens */
	if (!p)
		return -1;
	for (int field = 2; field < 22 && p; field++) /* p points before field 3 after 1st */
		p = strchr(p + 1, ' ');
	return p ? strtoll(p + 1, NULL, 10) : -1;
}

static void write_state(void)
{
	char buf[1024];
	int n, r;

	n = snprintf(buf, sizeof(buf),
		     "{\"id\":\"%s\",\"monitor_pid\":%d,\"monitor_starttime\":%lld,"
		     "\"init_pid\":%d,\"loop\":\"%s\",\"started\":%lld}\n",
		     M.o->id, getpid(), M.starttime, M.init_pid, M.loop_path,
		     (long long)time(NULL));
	cleanup_fd int fd = openat(M.run_fd, "state.json.tmp",
				   O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		die_with_error("create state.json.tmp");
	r = write_all(fd, buf, (size_t)n);
	if (r < 0) {
		unlinkat(M.run_fd, "state.json.tmp", 0);
		errno = -r;
		die_with_error("write state.json.tmp");
	}
	if (renameat(M.run_fd, "state.json.tmp", M.run_fd, "state.json") < 0)
		die_with_error("rename state.json");
	M.state_written = true;
}

/* ------------------------------------------------------------------ monitor: image + loop */

/* R8/R10: the image must be a root-owned regular file with exactly one name, not group or
 * other writable. It is looked at through an O_PATH fd first (a FIFO or device is never
 * opened, a symlink is seen as such), then reopened through that very fd. */
static int image_open(void)
{
	const char *img = M.o->image;
	struct stat st, st2;
	uint16_t magic = 0;
	char self[32];
	int fd;

	cleanup_fd int pfd = open(img, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0 && errno == ENOENT)
		die_code(VPS_ENOTFOUND, "image %s: not found", img);
	if (pfd < 0)
		die_errno_mapped("open image %s", img);
	if (fstat(pfd, &st) < 0)
		die_with_error("stat image %s", img);
	if (S_ISLNK(st.st_mode))
		die("image %s is a symbolic link; refusing it (pass the real file)", img);
	if (!S_ISREG(st.st_mode))
		die("image %s is not a regular file (%s); refusing it", img,
		    S_ISFIFO(st.st_mode)   ? "a FIFO"
		    : S_ISDIR(st.st_mode)  ? "a directory"
		    : S_ISBLK(st.st_mode)  ? "a block device"
		    : S_ISCHR(st.st_mode)  ? "a character device"
		    : S_ISSOCK(st.st_mode) ? "a socket"
					   : "unknown type");
	if (st.st_nlink != 1)
		die("image %s has %lu hard links; refusing an image reachable by another name", img,
		    (unsigned long)st.st_nlink);
	if (st.st_uid != 0)
		die("image %s is owned by uid %u, not root; refusing it", img, (unsigned)st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		die("image %s is writable by group or others (mode %04o); refusing it", img,
		    (unsigned)(st.st_mode & 07777));
	snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
	fd = open(self, (M.o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0)
		die_errno_mapped("open image %s", img);
	if (fstat(fd, &st2) < 0 || st2.st_dev != st.st_dev || st2.st_ino != st.st_ino)
		die("image %s changed while being opened", img);
	/* ext2/3/4 superblock at 1024, s_magic at +56 (little endian 0xEF53) */
	if (pread(fd, &magic, sizeof(magic), 1024 + 56) != sizeof(magic) ||
	    le16toh(magic) != 0xEF53)
		die("image %s: not an ext4 filesystem", M.o->image);

	/* R8: one writer per image. Refuse an image some loop device already serves. */
	cleanup_dir DIR *d = opendir("/sys/block");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		struct loop_info64 li;
		char path[300];
		if (!has_prefix(de->d_name, "loop"))
			continue;
		snprintf(path, sizeof(path), "/dev/%s", de->d_name);
		cleanup_fd int lfd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (lfd < 0 || ioctl(lfd, LOOP_GET_STATUS64, &li) < 0)
			continue; /* unbound (ENXIO) or gone */
		if (li.lo_device == (uint64_t)st.st_dev && li.lo_inode == (uint64_t)st.st_ino)
			die_code(VPS_ELOCKED, "image %s is already attached to %s", M.o->image,
				 path);
	}
	return fd;
}

static void loop_attach(int img_fd)
{
	cleanup_fd int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	struct loop_config cfg;

	if (ctl < 0)
		die_code_with_error(VPS_EHOST, "open /dev/loop-control");
	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)img_fd;
	cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (M.o->readonly ? LO_FLAGS_READ_ONLY : 0);
	snprintf((char *)cfg.info.lo_file_name, LO_NAME_SIZE, "%s", M.o->image);

	for (int attempt = 0; attempt < LOOP_RETRIES; attempt++) {
		int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (nr < 0)
			die_code(VPS_ENORES, "no free loop device: %s", strerror(errno));
		snprintf(M.loop_path, sizeof(M.loop_path), "/dev/loop%d", nr);
		cleanup_fd int lfd =
			open(M.loop_path, (M.o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (lfd < 0) {
			if (errno == ENOENT || errno == ENXIO) { /* node not there yet */
				usleep(20000);
				continue;
			}
			die_errno_mapped("open %s", M.loop_path);
		}
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) == 0) {
			M.loop_fd = steal_fd(&lfd);
			M.loop_nr = nr;
			return;
		}
		if (errno == EBUSY) /* another attacher won the race for this device */
			continue;
		die_code_with_error(errno == EINVAL || errno == ENOTTY ? VPS_EHOST : VPS_EFAIL,
				    "LOOP_CONFIGURE %s", M.loop_path);
	}
	M.loop_path[0] = '\0';
	die_code(VPS_ENORES, "no free loop device (lost the race %d times)", LOOP_RETRIES);
}

/* Undo "\ooo" escapes of a mountinfo field in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Our mount namespace is a copy of the host's, and where the host's mounts are private (no
 * systemd to make "/" shared) the copy is not a slave of anything: every loop-backed mount
 * the host had at this moment (another container's image mounted for a create, a mounted
 * snapshot, the pool) would stay mounted in here after the host unmounts it, keeping its
 * loop device attached and the image busy for as long as this container runs. Detach them
 * all from our namespace; only our own image's mount stays. */
static void drop_foreign_loop_mounts(void)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;

	if (!f) {
		log_warn("read mountinfo: %s", strerror(errno));
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");
		char mnt[VPS_PATH_MAX], src[64];

		if (!sep || sscanf(sep + 3, "%*s %63s", src) != 1 ||
		    !has_prefix(src, "/dev/loop") || strcmp(src, M.loop_path) == 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
			continue;
		unescape_octal(mnt);
		/* never a parent of our own mount ("/" or the run dir on a loop-backed host) */
		size_t n = strlen(mnt);
		if (strcmp(mnt, "/") == 0 ||
		    (strncmp(M.o->rootfs, mnt, n) == 0 && M.o->rootfs[n] == '/'))
			continue;
		if (umount2(mnt, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
			log_warn("detach %s (%s) from the monitor's namespace: %s", mnt, src,
				 strerror(errno));
	}
	free(line);
	fclose(f);
}

static void rootfs_mount(void)
{
	char target[32];

	if (mkdir(M.o->rootfs, 0755) < 0 && errno != EEXIST)
		die_errno_mapped("mkdir %s", M.o->rootfs);
	cleanup_fd int t = open(M.o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (t < 0)
		die_errno_mapped("open %s", M.o->rootfs);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", t);
	/* the host-side view: nosuid,nodev; the container gets its own clone (stage_root) */
	if (mount(M.loop_path, target, "ext4",
		  MS_NOSUID | MS_NODEV | (M.o->readonly ? MS_RDONLY : 0), "errors=remount-ro") < 0)
		die_with_error("mount %s (%s) as ext4 on %s", M.loop_path, M.o->image, M.o->rootfs);
	M.mounted = true;
	close(M.loop_fd); /* the mount holds the device now; autoclear on unmount */
	M.loop_fd = -1;
}

/* Wait until the kernel has detached our loop device (autoclear), up to ~5 s. */
static void loop_wait_detached(void)
{
	char path[96];

	if (M.loop_nr < 0)
		return;
	snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", M.loop_nr);
	for (int i = 0; i < 250 && access(path, F_OK) == 0; i++)
		usleep(20000);
	if (access(path, F_OK) == 0)
		log_warn("%s still attached after unmount", M.loop_path);
}

static void rootfs_unmount(void)
{
	if (M.loop_fd >= 0) {
		close(M.loop_fd);
		M.loop_fd = -1;
	}
	if (M.mounted) {
		if (umount2(M.o->rootfs, 0) < 0 && umount2(M.o->rootfs, MNT_DETACH) < 0)
			log_warn("umount %s: %s", M.o->rootfs, strerror(errno));
		M.mounted = false;
	}
	loop_wait_detached();
}

/* ------------------------------------------------------------------ monitor: event loop */

/* One poll(2) over M.pfd: each watch has its own event mask (watch_events changes it, e.g.
 * POLLOUT while a client has output queued) and a callback that gets the fd and revents.
 * Adding or removing a watch clears its revents, so a callback never sees another fd's. */
static void watch_add(int fd, short events, watch_fn fn)
{
	for (size_t i = 0; i < MAX_WATCHES; i++) {
		if (M.fn[i])
			continue;
		M.pfd[i] = (struct pollfd){ .fd = fd, .events = events };
		M.fn[i] = fn;
		return;
	}
	die("too many watched fds");
}

static void watch_events(int fd, short events)
{
	for (size_t i = 0; i < MAX_WATCHES; i++)
		if (M.fn[i] && M.pfd[i].fd == fd)
			M.pfd[i].events = events;
}

static void watch_del(int fd)
{
	for (size_t i = 0; i < MAX_WATCHES; i++) {
		if (M.fn[i] && M.pfd[i].fd == fd) {
			M.fn[i] = NULL;
			M.pfd[i] = (struct pollfd){ .fd = -1 };
		}
	}
}

/* ------------------------------------------------------------------ monitor: console rate */

/* The console is read at CONSOLE_RATE at most (a budget refilled with time, one second's
 * worth at most): a tenant flooding it costs the monitor, which runs outside the
 * container's cgroups, little CPU, and its writers wait in the pty as on a slow serial
 * line. The teardown and boot drains are not limited. */
static struct {
	long long at;   /* ms of the last refill */
	size_t budget;  /* bytes that may be read now */
	bool throttled; /* the master is not polled for input until the budget refills */
} CR;

static size_t console_budget(void)
{
	long long now = mono_ms();
	size_t add;

	if (!CR.at) {
		CR.at = now;
		CR.budget = CONSOLE_RATE;
	}
	add = (size_t)((now - CR.at) * CONSOLE_RATE / 1000);
	if (add) {
		CR.budget = CR.budget + add > CONSOLE_RATE ? CONSOLE_RATE : CR.budget + add;
		CR.at = now;
	}
	return CR.budget;
}

/* What the pty master is polled for (kbd_pending: the typer has keystrokes waiting). */
static short console_events(bool kbd_pending)
{
	return (short)((CR.throttled ? 0 : POLLIN) | (kbd_pending ? POLLOUT : 0));
}

/* ------------------------------------------------------------------ monitor: console clients */

/* The clients of console.sock (see the header comment and console-proto.h). Only
 * client_flush sends to a client, and a client is dropped only where client_flush or a
 * read says it is gone or misbehaves; the rest just queues (and client_drop only marks the
 * next typer's 'S' as owed), so nothing recurses. */

struct client {
	int fd;                            /* -1: a free slot */
	bool hello, wants_type, state_due; /* state_due: an 'S' frame is owed */
	unsigned long long since;          /* attach order, for the typer's succession */
	long long hello_by;                /* ms: dropped if it has not said hello by then */
	uint64_t lost;                     /* output dropped and not yet reported ('L') */
	size_t in_len, out_off, out_len;   /* out[out_off ..] is queued */
	uint8_t in[CONSOLE_HDR + CONSOLE_FRAME_MAX];
	uint8_t out[CONSOLE_CLIENT_BUF];
};

static struct {
	struct client c[CONSOLE_MAX_CLIENT];
	struct client *typer;
	long long accept_at;         /* ms: accept() failed for lack of fds or memory; retry then */
	unsigned long long attached; /* clients accepted so far */
	uint8_t kbd[CONSOLE_FRAME_MAX]; /* the typer's keystrokes the pty has not taken yet */
	size_t kbd_off, kbd_len;
} CS;

static struct client *client_of(int fd)
{
	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++)
		if (CS.c[i].fd == fd)
			return &CS.c[i];
	return NULL;
}

/* The typer is not read while its keystrokes wait for the pty. */
static bool client_paused(const struct client *c)
{
	return c == CS.typer && CS.kbd_len;
}

static short client_events(const struct client *c)
{
	return (short)((client_paused(c) ? 0 : POLLIN) |
		       (c->out_len || c->state_due || c->lost ? POLLOUT : 0));
}

/* Append one frame to c's output buffer; false (nothing queued) when it does not fit. */
static bool client_queue(struct client *c, uint8_t type, const void *p, size_t len)
{
	uint8_t *f;

	if (CONSOLE_CLIENT_BUF - c->out_len < CONSOLE_HDR + len)
		return false;
	if (CONSOLE_CLIENT_BUF - c->out_off - c->out_len < CONSOLE_HDR + len) {
		memmove(c->out, c->out + c->out_off, c->out_len);
		c->out_off = 0;
	}
	f = c->out + c->out_off + c->out_len;
	f[0] = type;
	f[1] = (uint8_t)(len >> 8);
	f[2] = (uint8_t)len;
	memcpy(f + CONSOLE_HDR, p, len);
	c->out_len += CONSOLE_HDR + len;
	return true;
}

/* Queue what c is owed ('S', then 'L') as far as it fits; true when nothing is left.
 * After a loss, output resumes only once the buffer is half empty (no 'L' per read). */
static bool client_owed(struct client *c)
{
	if (c->state_due) {
		uint8_t s = c == CS.typer ? 'w' : 'r';
		if (!client_queue(c, CF_STATE, &s, 1))
			return false;
		c->state_due = false;
	}
	if (c->lost) {
		if (c->out_len > CONSOLE_CLIENT_BUF / 2)
			return false;
		uint32_t n = c->lost > UINT32_MAX ? UINT32_MAX : (uint32_t)c->lost;
		uint32_t be = htobe32(n);
		if (!client_queue(c, CF_LOST, &be, sizeof(be)))
			return false;
		c->lost -= n;
	}
	return !c->lost;
}

/* Send what the socket takes now, and poll for POLLOUT while anything is left.
 * False: the client is gone. */
static bool client_flush(struct client *c)
{
	for (;;) {
		client_owed(c);
		if (!c->out_len)
			break;
		ssize_t n =
			send(c->fd, c->out + c->out_off, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		c->out_off += (size_t)n;
		c->out_len -= (size_t)n;
		if (c->out_len) /* the socket is full */
			break;
	}
	if (!c->out_len)
		c->out_off = 0;
	watch_events(c->fd, client_events(c));
	return true;
}

/* Give the pty master what it takes of the pending keystrokes (nonblocking). */
static void kbd_write(void)
{
	while (CS.kbd_len) {
		ssize_t n = write(M.pty_master, CS.kbd + CS.kbd_off, CS.kbd_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno == EAGAIN))
			break;
		if (n < 0) /* EIO: no slave open, nobody to type to */
			n = (ssize_t)CS.kbd_len;
		CS.kbd_off += (size_t)n;
		CS.kbd_len -= (size_t)n;
	}
	watch_events(M.pty_master, console_events(CS.kbd_len));
}

/* Forget c; if it typed, the longest-attached client that asked to type takes over. */
static void client_drop(struct client *c)
{
	struct client *next = NULL;

	watch_del(c->fd);
	close(c->fd);
	c->fd = -1;
	if (c != CS.typer)
		return;
	CS.kbd_len = 0; /* its last keystrokes go with it */
	kbd_write();
	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++) {
		struct client *o = &CS.c[i];
		if (o->fd >= 0 && o->hello && o->wants_type && (!next || o->since < next->since))
			next = o;
	}
	CS.typer = next;
	if (next) {
		next->state_due = true;
		watch_events(next->fd, client_events(next));
	}
}

/* One frame from c. False: protocol error. */
static bool client_frame(struct client *c, uint8_t type, const uint8_t *p, size_t len)
{
	struct winsize ws;

	if (!c->hello) { /* the first frame says hello: 'w' wants to type, 'r' watches */
		if (type != CF_HELLO || len != 1 || (p[0] != 'w' && p[0] != 'r'))
			return false;
		c->hello = c->state_due = true;
		c->wants_type = p[0] == 'w';
		if (c->wants_type && !CS.typer)
			CS.typer = c;
		return true;
	}
	switch (type) {
	case CF_DATA: /* a watcher's keystrokes are ignored */
		if (c == CS.typer && len) {
			memcpy(CS.kbd, p, len);
			CS.kbd_off = 0;
			CS.kbd_len = len;
			kbd_write();
		}
		return true;
	case CF_WINSZ:
		if (len != 4)
			return false;
		ws = (struct winsize){ .ws_row = (unsigned short)(p[0] << 8 | p[1]),
				       .ws_col = (unsigned short)(p[2] << 8 | p[3]) };
		if (c == CS.typer && ws.ws_row && ws.ws_col)
			ioctl(M.pty_master, TIOCSWINSZ, &ws);
		return true;
	default:
		return false;
	}
}

/* Handle the complete frames in c->in, stopping while c's keystrokes wait for the pty (the
 * rest stays buffered). False: protocol error. */
static bool client_frames(struct client *c)
{
	size_t off = 0, len;

	while (!client_paused(c) && c->in_len - off >= CONSOLE_HDR) {
		const uint8_t *f = c->in + off;
		len = (size_t)f[1] << 8 | f[2];
		if (len > CONSOLE_FRAME_MAX)
			return false;
		if (c->in_len - off < CONSOLE_HDR + len)
			break;
		if (!client_frame(c, f[0], f + CONSOLE_HDR, len))
			return false;
		off += CONSOLE_HDR + len;
	}
	c->in_len -= off;
	memmove(c->in, c->in + off, c->in_len);
	return true;
}

/* The pty master can take more: write the pending keystrokes; once all are taken, go on
 * with the frames the typer sent meanwhile, and read it again. */
static void kbd_flush(void)
{
	struct client *c = CS.typer;

	kbd_write();
	if (CS.kbd_len || !c)
		return;
	if (!client_frames(c) || !client_flush(c))
		client_drop(c);
}

static void on_console_client(int fd, short revents)
{
	struct client *c = client_of(fd);
	bool ok = true;
	ssize_t n;

	if (!c)
		return;
	if (client_paused(c)) {
		ok = !(revents & (POLLHUP | POLLERR)); /* gone before the pty took its keystrokes */
	} else if (revents & (POLLIN | POLLHUP | POLLERR)) {
		n = recv(fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		if (n > 0)
			c->in_len += (size_t)n;
		ok = n > 0 ? client_frames(c) : n < 0 && (errno == EAGAIN || errno == EINTR);
	}
	if (!ok || !client_flush(c))
		client_drop(c);
}

/* Console output, as 'D' frames, to every client that said hello. A frame that does not
 * fit in a client's buffer is dropped and counted; nothing here waits for a client. */
static void console_broadcast(const char *buf, size_t n)
{
	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++) {
		struct client *c = &CS.c[i];
		bool idle = !c->out_len; /* else POLLOUT is on already */

		if (c->fd < 0 || !c->hello)
			continue;
		for (size_t off = 0, len; off < n; off += len) {
			len = n - off < CONSOLE_FRAME_MAX ? n - off : CONSOLE_FRAME_MAX;
			if (!client_owed(c) || !client_queue(c, CF_DATA, buf + off, len))
				c->lost += len;
		}
		if (idle && !client_flush(c))
			client_drop(c);
	}
}

static void on_console_listen(int fd, short revents)
{
	(void)revents;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct client *c = client_of(-1); /* a free slot */
		struct ucred cr;
		socklen_t len = sizeof(cr);

		if (cfd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (cfd < 0 && errno != EAGAIN) { /* EMFILE, ENOBUFS...: do not spin on it */
			watch_events(fd, 0);
			CS.accept_at = mono_ms() + CONSOLE_ACCEPT_MS;
		}
		if (cfd < 0)
			return;
		if (!c || getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.uid != 0) {
			close(cfd);
			continue;
		}
		memset(c, 0, offsetof(struct client, in));
		c->fd = cfd;
		c->since = ++CS.attached;
		c->hello_by = mono_ms() + CONSOLE_HELLO_MS;
		watch_add(cfd, POLLIN, on_console_client);
	}
}

/* Listen on <run-dir>/console.sock, mode 0600. Bound relative to the run dir: its absolute
 * path may not fit in sun_path. */
static void console_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = CONSOLE_SOCK };
	mode_t mask;
	int r, err;

	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++)
		CS.c[i].fd = -1;
	M.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (M.listen_fd < 0)
		die_with_error("console socket");
	if (unlinkat(M.run_fd, CONSOLE_SOCK, 0) < 0 && errno != ENOENT)
		die_with_error("remove the stale %s/%s", M.o->run_dir, CONSOLE_SOCK);
	if (fchdir(M.run_fd) < 0)
		die_with_error("fchdir %s", M.o->run_dir);
	mask = umask(0177); /* the socket is born 0600 */
	r = bind(M.listen_fd, (struct sockaddr *)&sa, sizeof(sa));
	err = errno;
	umask(mask);
	if (chdir("/") < 0)
		die_with_error("chdir /");
	errno = err;
	if (r < 0 || listen(M.listen_fd, CONSOLE_MAX_CLIENT) < 0)
		die_with_error("listen on %s/%s", M.o->run_dir, CONSOLE_SOCK);
}

/* ------------------------------------------------------------------ monitor: console */

static int console_log_open(int flags)
{
	return openat(M.run_fd, "console.log",
		      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | flags, 0640);
}

static void console_open(void)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	struct termios t;
	struct stat st;

	M.pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (M.pty_master < 0 || grantpt(M.pty_master) < 0 || unlockpt(M.pty_master) < 0)
		die_errno_mapped("allocate console pty");
	/* TIOCGPTPEER opens the very slave of this master, never a look-alike path */
	M.pty_slave = ioctl(M.pty_master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (M.pty_slave < 0)
		die_errno_mapped("open console pty peer");
	/* userns mode: the console is the container's (root:tty inside), or init cannot
	 * reopen it by name to bind it on /dev/console */
	if (M.o->userns &&
	    fchown(M.pty_slave, M.o->host_uid, M.o->host_gid + (M.o->id_count > 5 ? 5 : 0)) < 0)
		die_with_error("chown console pty");
	if (tcgetattr(M.pty_slave, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(M.pty_slave, TCSANOW, &t);
	}
	ioctl(M.pty_master, TIOCSWINSZ, &ws);
	fcntl(M.pty_master, F_SETFL, fcntl(M.pty_master, F_GETFL) | O_NONBLOCK);

	M.console_fd = console_log_open(0);
	if (M.console_fd < 0)
		die_with_error("open console.log");
	M.console_size = fstat(M.console_fd, &st) == 0 ? st.st_size : 0;
}

/* console.log -> console.log.1 (replacing an older one) and a fresh console.log: what led
 * up to a flood survives it, and at most 2 * CONSOLE_LOG_MAX is kept. */
static void console_log_rotate(void)
{
	int fd = -1;

	if (renameat(M.run_fd, "console.log", M.run_fd, "console.log.1") == 0)
		fd = console_log_open(O_TRUNC);
	if (fd < 0) { /* keep the bound at least */
		log_warn("rotate console.log: %s", strerror(errno));
		if (ftruncate(M.console_fd, 0) == 0)
			M.console_size = 0;
		return;
	}
	close(M.console_fd);
	M.console_fd = fd;
	M.console_size = 0;
}

static void console_log_append(const char *buf, size_t n)
{
	if (M.console_size > 0 && M.console_size + (off_t)n > CONSOLE_LOG_MAX)
		console_log_rotate();
	if (write_all(M.console_fd, buf, n) == 0)
		M.console_size += (off_t)n;
}

/* Drain the master: systemd blocks on console writes otherwise. At most CONSOLE_DRAIN_MAX
 * bytes a call, so that a flood cannot hold up the rest of the event loop (poll reports
 * the master again at once), and when limited, within the CONSOLE_RATE budget (out of it,
 * the master is not polled until console_timers says so). Returns -EIO when no slave is open
 * (cannot happen while we hold pty_slave). */
static int console_drain(bool limited)
{
	char buf[8192];
	size_t max = CONSOLE_DRAIN_MAX, total = 0;
	int r = 0;

	if (limited && console_budget() < max)
		max = CR.budget;
	while (total < max) {
		size_t want = max - total < sizeof(buf) ? max - total : sizeof(buf);
		ssize_t n = read(M.pty_master, buf, want);
		if (n > 0) {
			console_log_append(buf, (size_t)n);
			console_broadcast(buf, (size_t)n);
			total += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		r = n < 0 && errno == EIO ? -EIO : 0;
		break;
	}
	if (limited) {
		CR.budget -= total < CR.budget ? total : CR.budget;
		if (CR.budget < sizeof(buf) && !CR.throttled) {
			CR.throttled = true;
			watch_events(M.pty_master, console_events(CS.kbd_len));
		}
	}
	return r;
}

/* Called every turn of the event loop: a throttled console is polled again once its
 * budget has refilled, a client that has not said hello in time is dropped, a listener
 * that ran out of fds listens again. Returns the poll timeout the loop should use. */
static int console_timers(void)
{
	long long now = mono_ms(), next = -1;

	if (CR.throttled && console_budget() >= CONSOLE_RATE / 8) {
		CR.throttled = false;
		watch_events(M.pty_master, console_events(CS.kbd_len));
	}
	if (CR.throttled)
		next = now + CONSOLE_PAUSE_MS;
	if (CS.accept_at && CS.accept_at <= now) {
		CS.accept_at = 0;
		watch_events(M.listen_fd, POLLIN);
	}
	if (CS.accept_at && (next < 0 || CS.accept_at < next))
		next = CS.accept_at;
	for (size_t i = 0; i < CONSOLE_MAX_CLIENT; i++) {
		struct client *c = &CS.c[i];
		if (c->fd < 0 || c->hello)
			continue;
		if (c->hello_by <= now)
			client_drop(c);
		else if (next < 0 || c->hello_by < next)
			next = c->hello_by;
	}
	return next < 0 ? -1 : (int)(next - now);
}

static bool console_watched;

static void on_console(int fd, short revents)
{
	if (revents & POLLOUT)
		kbd_flush();
	if (console_drain(true) == -EIO && (revents & (POLLHUP | POLLERR))) {
		watch_del(fd); /* do not spin on a hung-up master */
		console_watched = false;
	}
}

static void console_watch(void)
{
	if (!console_watched) {
		watch_add(M.pty_master, console_events(CS.kbd_len), on_console);
		console_watched = true;
	}
}

/* ------------------------------------------------------------------ init child */

static void child_report(int code, const char *msg)
{
	struct sync_msg m = { .type = SYNC_ERROR, .code = code };

	snprintf(m.msg, sizeof(m.msg), "%s", msg);
	if (child_sync_fd >= 0)
		send(child_sync_fd, &m, sizeof(m), MSG_NOSIGNAL);
	_exit(code);
}

/* init must not inherit whatever limits the caller of vps-spawn happened to have:
 * give it what a booting PID 1 gets from systemd (NOFILE 1024:524288). */
static void reset_rlimits(void)
{
	struct rlimit nofile = { .rlim_cur = 1024, .rlim_max = 524288 };
	char buf[32];

	if (M.o->nofile) {
		/* the plan's open-files limit, soft and hard: refused if the host cannot give it */
		struct rlimit want = { .rlim_cur = M.o->nofile, .rlim_max = M.o->nofile };
		if (setrlimit(RLIMIT_NOFILE, &want) < 0) {
			getrlimit(RLIMIT_NOFILE, &nofile);
			die_code(VPS_EHOST,
				 "cannot set the open-files limit to %lu: %s (hard limit here: "
				 "%llu)",
				 M.o->nofile, strerror(errno), (unsigned long long)nofile.rlim_max);
		}
		return;
	}
	if (read_file_at(AT_FDCWD, "/proc/sys/fs/nr_open", buf, sizeof(buf)) > 0 &&
	    strtoull(buf, NULL, 10) < nofile.rlim_max)
		nofile.rlim_max = strtoull(buf, NULL, 10);
	if (setrlimit(RLIMIT_NOFILE, &nofile) == 0 || getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return;
	/* no CAP_SYS_RESOURCE to raise the hard limit: keep it, fix the soft one */
	nofile.rlim_cur = nofile.rlim_max < 1024 ? nofile.rlim_max : 1024;
	setrlimit(RLIMIT_NOFILE, &nofile);
}

/* Receive one sync message within timeout_ms (-1: no limit). The message length, 0 at
 * EOF (the peer exec'd or died), -1 with errno (ETIMEDOUT). */
static ssize_t sync_recv(int fd, struct sync_msg *m, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n;

	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	do
		n = recv(fd, m, sizeof(*m), 0);
	while (n < 0 && errno == EINTR);
	return n;
}

/* init side: the next message must be `want`; a monitor gone means nobody to tell. */
static void child_expect(int sync_fd, uint32_t want, const char *name)
{
	struct sync_msg m;
	ssize_t n = sync_recv(sync_fd, &m, -1);

	if (n <= 0)
		_exit(VPS_EFAIL);
	if (n != sizeof(m) || m.type != want)
		die("sync: expected %s", name);
}

static noreturn_fn void init_child_main(int sync_fd)
{
	size_t hn_len;
	int c, r;

	child_sync_fd = sync_fd;
	set_die_sink(child_report);
	if (M.result_fd >= 0)
		close(M.result_fd); /* only the monitor may answer the parent */
	M.result_fd = -1;
	/* open the rootfs while our ids are still the host's root: the run dir above it may
	 * be 0700, and in userns mode we are about to become HOSTUID */
	int rootfs_fd = open(M.o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (rootfs_fd < 0)
		die_with_error("open rootfs %s", M.o->rootfs);

	if (M.o->userns) {
		struct sync_msg m = { .type = SYNC_USERMAP_REQ };
		if (send(sync_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
			_exit(VPS_EFAIL);
		child_expect(sync_fd, SYNC_USERMAP_ACK, "SYNC_USERMAP_ACK");
		/* root of the new namespace = HOSTUID:HOSTGID on the host; the capabilities we
		 * hold in this namespace stay (the old ids were not its root) */
		if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
			die_with_error("become root of the container's user namespace");
	}
	child_expect(sync_fd, SYNC_GO, "SYNC_GO");

	if (unshare(CLONE_NEWCGROUP) < 0)
		die_code_with_error(VPS_EHOST, "unshare cgroup namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die_with_error("make / rprivate");
	/* the kernel keeps 64 bytes: a longer FQDN is set by its first label */
	hn_len = strlen(M.o->hostname);
	if (hn_len > HOST_NAME_MAX)
		hn_len = strcspn(M.o->hostname, ".");
	if (sethostname(M.o->hostname, hn_len) < 0)
		die_with_error("sethostname");
	rootfs_build(M.o, rootfs_fd, M.pty_master, M.pty_slave);
	close(rootfs_fd);

	if (setsid() < 0)
		die_with_error("setsid");
	c = open("/dev/console", O_RDWR | O_NOCTTY);
	if (c < 0)
		die_with_error("open /dev/console");
	if (ioctl(c, TIOCSCTTY, 1) < 0)
		die_with_error("TIOCSCTTY /dev/console");
	if (dup2(c, 0) < 0 || dup2(c, 1) < 0 || dup2(c, 2) < 0)
		die_with_error("dup2 console");
	/* from here stderr is the console; errors still reach the monitor via sync_fd */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		die_code_with_error(VPS_EHOST, "close_range");
	reset_signals();
	reset_rlimits();
	{ /* a monitor that died after SYNC_GO must not leave an orphan container behind */
		struct pollfd p = { .fd = sync_fd, .events = POLLIN };
		if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLIN)))
			_exit(VPS_EFAIL);
	}

	/* last: a keyring of its own (R13), the R7 capability bounding set, then the R6
	 * filter, then execve */
	if ((r = confine_keyring()) < 0) {
		errno = -r;
		die_with_error("join a new session keyring");
	}
	if ((r = confine_caps(0)) < 0) {
		errno = -r;
		die_with_error("drop capabilities");
	}
	if (M.o->seccomp && (r = confine_seccomp(!M.o->userns)) < 0) {
		errno = -r;
		die_code_with_error(VPS_EHOST, "load the seccomp filter");
	}
	char *argv[] = { (char *)M.o->init, NULL };
	execve(M.o->init, argv, (char *const *)init_env);
	die_code_with_error(errno == ENOENT ? VPS_ENOTFOUND : VPS_EFAIL, "exec %s", M.o->init);
}

/* ------------------------------------------------------------------ monitor: boot */

/* Write "0 HOSTUID COUNT" / "0 HOSTGID COUNT" for pid's user namespace. As the host's
 * root we may map any range and leave /proc/PID/setgroups at "allow" (systemd needs it). */
static void write_id_maps(pid_t pid)
{
	static const char *const files[] = { "uid_map", "gid_map" };
	char path[64], map[64];

	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, files[i]);
		snprintf(map, sizeof(map), "0 %u %u\n", i ? M.o->host_gid : M.o->host_uid,
			 M.o->id_count);
		cleanup_fd int fd = open(path, O_WRONLY | O_CLOEXEC);
		int r = fd < 0 ? -errno : write_all(fd, map, strlen(map));
		if (r < 0) {
			errno = -r;
			die_with_error("write %s", path);
		}
	}
}

/* A user namespace with the container's mapping, for MOUNT_ATTR_IDMAP only: a child
 * that is born in it and waits; we write its maps, keep an fd to the namespace, and let
 * the child go. Made once; every boot's idmapped mount uses it. */
static void idmap_userns_create(void)
{
	struct clone_args ca = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	char path[64], c;
	int p[2], err;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		die_errno_mapped("pipe");
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	if (pid < 0)
		die_code_with_error(VPS_EHOST, "create a user namespace for the idmapped mount");
	write_id_maps(pid);
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	M.idmap_userns = open(path, O_RDONLY | O_CLOEXEC);
	err = errno;
	close(p[1]);
	waitpid(pid, NULL, 0);
	if (M.idmap_userns < 0) {
		errno = err;
		die_with_error("open %s", path);
	}
}

/* Back from the stage into the monitor's own mount namespace (the stage dies with it). */
static int stage_leave(void)
{
	if (!M.staged)
		return 0;
	M.staged = false;
	if (setns(M.home_mntns, CLONE_NEWNS) < 0 || chdir("/") < 0)
		return -errno;
	return 0;
}

/* The mount namespace the init child will copy: a throw-away one where a clone of the
 * host-side mount sits over <rootfs> with suid allowed (nodev kept), idmapped to the
 * container's ids in idmap mode. In userns mode the child's copy belongs to its new user
 * namespace, so the kernel locks all of it: nodev/ro cannot be cleared from inside. */
static void stage_root(void)
{
	struct mount_attr a = {
		.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NODEV,
		.attr_clr = MOUNT_ATTR_NOSUID,
		.userns_fd = (uint64_t)M.idmap_userns,
	};

	if (M.home_mntns < 0) {
		M.home_mntns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
		if (M.home_mntns < 0)
			die_with_error("open /proc/self/ns/mnt");
	}
	if (unshare(CLONE_NEWNS) < 0)
		die_code_with_error(VPS_EHOST, "unshare the stage mount namespace");
	M.staged = true;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die_with_error("make the stage rprivate");
	cleanup_fd int tree = open_tree(AT_FDCWD, M.o->rootfs, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0)
		die_code_with_error(errno == ENOSYS ? VPS_EHOST : VPS_EFAIL, "open_tree %s",
				    M.o->rootfs);
	if (M.o->idmap && mount_setattr(tree, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		int err = errno;
		if (err != EINVAL && err != ENOSYS && err != EOPNOTSUPP)
			die_with_error("idmap the rootfs clone");
		if (!(M.o->allow_missing & FEAT_IDMAP))
			die_code(VPS_EHOST,
				 "idmap is missing: the kernel refused an idmapped ext4 mount: %s "
				 "(start with --unsafe-allow-missing idmap to run without it; "
				 "--no-idmap is for images whose ids were shifted)",
				 strerror(err));
		log_warn("unsafe: idmap is missing: idmapped mount refused (%s); running without "
			 "it (--unsafe-allow-missing idmap)",
			 strerror(err));
		M.o->idmap = false;
	}
	if (move_mount(tree, "", AT_FDCWD, M.o->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		die_with_error("move the rootfs clone onto %s", M.o->rootfs);
	/* without idmap: the same per-mount flags by a bind remount (any kernel with
	 * open_tree, 5.2+); the host-side view below keeps nosuid */
	if (!M.o->idmap &&
	    mount(NULL, M.o->rootfs, NULL,
		  MS_REMOUNT | MS_BIND | MS_NODEV | (M.o->readonly ? MS_RDONLY : 0), NULL) < 0)
		die_with_error("allow suid on the rootfs clone");
}

/* init's answer to a request: die with its SYNC_ERROR, or when it died or hung. */
static void init_answer(ssize_t n, struct sync_msg *m, const char *waiting_for)
{
	if (n < 0 && errno == ETIMEDOUT)
		die("init did not %s within %d s", waiting_for, INIT_START_TIMEOUT / 1000);
	if (n == sizeof(*m) && m->type == SYNC_ERROR) {
		m->msg[sizeof(m->msg) - 1] = '\0';
		die_code(m->code > 0 && m->code < 126 ? m->code : VPS_EFAIL, "%s", m->msg);
	}
	if (n < 0)
		die_with_error("sync: recv");
}

#define NET_HELPER_TIMEOUT 20000 /* ms */

/* The container's network for this boot: `vps-net up --pid PID --spec FILE`, run by the
 * monitor (the host's root, in the host's network namespace) while init waits for SYNC_GO.
 * Its last stderr line and exit code become the boot's error. */
static void net_up(pid_t pid)
{
	char pidbuf[16];

	if (!M.o->net_helper)
		return;
	snprintf(pidbuf, sizeof(pidbuf), "%d", (int)pid);
	char *const argv[] = { (char *)"vps-net", (char *)"up",	  (char *)"--pid", pidbuf,
			       (char *)"--spec",  (char *)M.o->net_spec, NULL };
	run_helper(M.o->net_helper, argv, NULL, 0, NET_HELPER_TIMEOUT, "network");
}

/* The container's limits into its cgroups before init is born (R12): vps-limit apply with
 * the arguments vpsctl gave, plus the loop device for IO throttles. Its JSON result goes
 * back to vpsctl with RESULT_OK (the limits it had to skip, and why). */
static void limits_apply(void)
{
	char *argv[MAX_LIMIT_ARGS + 4], dev[32];
	size_t n = 0;
	struct stat st;

	if (!M.o->limit_helper)
		return;
	argv[n++] = (char *)"vps-limit";
	for (size_t i = 0; i < M.o->n_limit_args; i++)
		argv[n++] = (char *)M.o->limit_args[i];
	if (M.o->limit_io_device) {
		if (fstat(M.loop_fd, &st) < 0)
			die_errno_mapped("stat %s", M.loop_path);
		snprintf(dev, sizeof(dev), "%u:%u", major(st.st_rdev), minor(st.st_rdev));
		argv[n++] = (char *)"--io-device";
		argv[n++] = dev;
	}
	argv[n] = NULL;
	run_helper(M.o->limit_helper, argv, M.limits_json, sizeof(M.limits_json),
		   NET_HELPER_TIMEOUT, "limits");
	M.limits_json[strcspn(M.limits_json, "\n")] = '\0';
	if (M.limits_json[0] != '{' || M.limits_json[strlen(M.limits_json) - 1] != '}')
		M.limits_json[0] = '\0'; /* not one whole JSON object: nothing to pass on */
}

/* Stage, clone init, (userns) write its id maps, attach it to the cgroups, SYNC_GO, wait
 * for exec (EOF) or SYNC_ERROR. */
static void start_init(void)
{
	struct clone_args ca = {
		.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET |
			 (M.o->userns ? CLONE_NEWUSER : 0),
		.exit_signal = SIGCHLD,
	};
	struct sync_msg m;
	int sv[2], st, err, r;
	pid_t pid;
	ssize_t n;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die_errno_mapped("socketpair");
	stage_root();
	pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0) {
		close(sv[0]);
		init_child_main(sv[1]);
	}
	err = errno;
	close(sv[1]);
	if ((r = stage_leave()) < 0) {
		errno = -r;
		die_with_error("return to the monitor's mount namespace");
	}
	if (pid < 0) {
		errno = err;
		die_errno_mapped("clone init");
	}
	M.init_pid = pid;
	M.sync_fd = sv[0];

	if (M.o->userns) {
		n = sync_recv(M.sync_fd, &m, INIT_START_TIMEOUT);
		init_answer(n, &m, "ask for its id maps");
		if (n != sizeof(m) || m.type != SYNC_USERMAP_REQ)
			die("sync: expected SYNC_USERMAP_REQ from init");
		write_id_maps(pid);
		m = (struct sync_msg){ .type = SYNC_USERMAP_ACK };
		if (send(M.sync_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
			die_with_error("sync: send SYNC_USERMAP_ACK");
	}
	cgroups_attach(M.o, pid);
	net_up(pid);
	m = (struct sync_msg){ .type = SYNC_GO };
	if (send(M.sync_fd, &m, sizeof(m), MSG_NOSIGNAL) != sizeof(m))
		die_with_error("sync: send SYNC_GO");

	n = sync_recv(M.sync_fd, &m, INIT_START_TIMEOUT);
	close(M.sync_fd);
	M.sync_fd = -1;
	init_answer(n, &m, "exec");
	if (n != 0)
		die("sync: unexpected message from init");
	/* EOF: exec'd, or died before saying anything */
	if (waitpid(pid, &st, WNOHANG) == pid) {
		M.init_pid = -1;
		die("init exited during startup (status 0x%x)", st);
	}
	console_drain(false);
}

/* ------------------------------------------------------------------ monitor: teardown */

static void teardown(bool all_cgroups)
{
	if (M.init_pid > 0)
		kill(M.init_pid, SIGKILL);
	/* a task waiting on a frozen filesystem dies only once it is thawed */
	space_guard_thaw(&M.space, M.run_fd);
	if (M.init_pid > 0) {
		waitpid(M.init_pid, NULL, 0);
		M.init_pid = -1;
	}
	if (M.pty_master >= 0)
		console_drain(false);
	if (M.listen_fd >= 0) { /* no new clients; the attached ones are closed by our exit */
		unlinkat(M.run_fd, CONSOLE_SOCK, 0);
		close(M.listen_fd);
		M.listen_fd = -1;
	}
	cgroups_remove(M.o, all_cgroups);
	space_guard_stop(&M.space);
	rootfs_unmount();
	if (M.run_fd >= 0 && M.state_written) {
		unlinkat(M.run_fd, "state.json", 0);
		M.state_written = false;
	}
}

/* die sink of the monitor: roll back, then tell the parent (setup) or the log (runtime). */
static void monitor_failed(int code, const char *msg)
{
	bool setup = M.result_fd >= 0;

	stage_leave(); /* roll back in the monitor's own mount namespace */
	if (M.log_ready)
		log_error_event(code, msg);
	teardown(!setup);
	if (setup)
		dprintf(M.result_fd, "err %d %s\n", code, msg);
	else
		log_event("{\"event\":\"stopped\"}");
	_exit(code);
}

static noreturn_fn void shutdown_and_exit(void)
{
	teardown(true);
	log_event("{\"event\":\"stopped\"}");
	_exit(VPS_OK);
}

static void on_init_exit(int status)
{
	M.init_pid = -1;
	console_drain(false);
	if (WIFSIGNALED(status))
		log_event("{\"event\":\"init-exited\",\"signal\":%d}", WTERMSIG(status));
	else
		log_event("{\"event\":\"init-exited\",\"code\":%d}", WEXITSTATUS(status));

	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGHUP || M.stopping)
		shutdown_and_exit();

	/* reboot(2) inside the pid ns: fresh namespaces, same mount, same cgroups */
	log_event("{\"event\":\"rebooting\"}");
	for (size_t i = 0; i < M.o->n_cg; i++) {
		cleanup_fd int fd = cgroup_init_dir(&M.o->cg[i]);
		int r = fd < 0 ? -errno : rmdir_children(fd);
		if (r < 0)
			log_warn("clear sub-cgroups of %s: %s", M.o->cg[i].hostdir, strerror(-r));
	}
	start_init();
	write_state();
	console_watch();
	log_event("{\"event\":\"started\",\"init_pid\":%d}", M.init_pid);
}

static void on_signal(int fd, short revents)
{
	struct signalfd_siginfo si;
	int st;
	pid_t p;

	(void)revents;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			while ((p = waitpid(-1, &st, WNOHANG)) > 0)
				if (p == M.init_pid)
					on_init_exit(st);
			break;
		case SIGTERM:
		case SIGINT:
			log_event("{\"event\":\"emergency-stop\",\"signal\":%u}", si.ssi_signo);
			M.stopping = true;
			if (M.init_pid > 0)
				kill(M.init_pid, SIGKILL);
			space_guard_thaw(&M.space, M.run_fd); /* so that it can die */
			break;
		default: /* SIGHUP: a daemon has no terminal to lose */
			break;
		}
	}
}

static void on_space_tick(int fd, short revents)
{
	(void)fd;
	(void)revents;
	space_guard_tick(&M.space, M.run_fd);
}

/* ------------------------------------------------------------------ monitor: main */

static noreturn_fn void monitor_main(struct opts *o, int result_fd)
{
	sigset_t mask;
	int fd;

	M.o = o;
	if (result_fd != 3) {
		if (dup3(result_fd, 3, O_CLOEXEC) < 0)
			_exit(VPS_EFAIL);
		close(result_fd);
	}
	M.result_fd = 3;
	set_die_sink(monitor_failed);

	if (setsid() < 0)
		die_with_error("setsid");
	if (close_range(4, ~0U, 0) < 0)
		die_code_with_error(VPS_EHOST, "close_range");
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (chdir("/") < 0)
		die_with_error("chdir /");
	umask(022);

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0)
		die_with_error("/dev/null");
	close(fd);
	if (mkdir(o->run_dir, 0755) < 0 && errno != EEXIST)
		die_errno_mapped("mkdir %s", o->run_dir);
	M.run_fd = open(o->run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (M.run_fd < 0)
		die_errno_mapped("open %s", o->run_dir);
	fd = openat(M.run_fd, "monitor.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0640);
	if (fd < 0 || dup2(fd, 2) < 0)
		die_with_error("open monitor.log");
	close(fd);
	M.log_ready = true;
	M.starttime = proc_self_starttime();
	for (size_t i = 0; i < o->n_warnings; i++)
		log_warn("%s", o->warnings[i]);

	if (unshare(CLONE_NEWNS) < 0)
		die_code_with_error(VPS_EHOST, "unshare mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		die_with_error("make / rslave");

	{
		cleanup_fd int img = image_open();
		loop_attach(img);
		if (o->space_low)
			M.space.img_fd = fcntl(img, F_DUPFD_CLOEXEC, 0);
	}
	rootfs_mount();
	drop_foreign_loop_mounts();
	limits_apply(); /* makes the container's cgroups with their limits: reused below */
	for (size_t i = 0; i < o->n_cg; i++)
		cgroup_create(o, &o->cg[i]);
	if (o->idmap)
		idmap_userns_create();
	console_open();
	console_listen();
	M.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (M.sig_fd < 0)
		die_errno_mapped("signalfd");

	start_init();
	write_state();
	log_event("{\"event\":\"started\",\"init_pid\":%d}", M.init_pid);

	/* RESULT_OK: from now on the container is ours to tear down completely */
	if (dprintf(M.result_fd, "ok %d %s %s\n", M.init_pid, M.loop_path,
		    M.limits_json[0] ? M.limits_json : "null") < 0) {
		/* the parent is gone (EPIPE): nobody knows about this container, undo it */
		for (size_t i = 0; i < o->n_cg; i++)
			o->cg[i].owned = true;
		die("parent went away before RESULT_OK: %s", strerror(errno));
	}
	close(M.result_fd);
	M.result_fd = -1;
	for (size_t i = 0; i < o->n_cg; i++)
		o->cg[i].owned = true;

	watch_add(M.sig_fd, POLLIN, on_signal);
	console_watch();
	watch_add(M.listen_fd, POLLIN, on_console_listen);
	if (o->space_low && space_guard_start(&M.space, o->rootfs, o->space_low) >= 0)
		watch_add(M.space.timer_fd, POLLIN, on_space_tick);
	for (;;) {
		if (poll(M.pfd, MAX_WATCHES, console_timers()) < 0) {
			if (errno == EINTR)
				continue;
			die_with_error("poll");
		}
		for (size_t i = 0; i < MAX_WATCHES; i++)
			if (M.fn[i] && M.pfd[i].revents)
				M.fn[i](M.pfd[i].fd, M.pfd[i].revents);
	}
}

/* ------------------------------------------------------------------ parent */

static noreturn_fn void parent_main(struct opts *o)
{
	char buf[RESULT_LIMITS_MAX + VPS_ERRMSG_MAX];
	size_t len = 0;
	int p[2], st, code;
	pid_t pid;

	while ((code = open("/dev/null", O_RDWR)) >= 0 && code < 3)
		; /* make sure 0..2 are taken, so our pipe is not somebody's stdio */
	if (code >= 3)
		close(code);
	if (pipe2(p, O_CLOEXEC) < 0)
		die_errno_mapped("pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		die_errno_mapped("fork monitor");
	if (pid == 0) {
		close(p[0]);
		monitor_main(o, p[1]);
	}
	close(p[1]);

	for (;;) {
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		ssize_t n;
		int r = poll(&pf, 1, PARENT_TIMEOUT);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			die("monitor did not report within %d s; killed it", PARENT_TIMEOUT / 1000);
		}
		n = read(p[0], buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n') || len == sizeof(buf) - 1)
			break;
	}
	buf[len] = '\0';
	if (strchr(buf, '\n'))
		*strchr(buf, '\n') = '\0';

	if (has_prefix(buf, "ok ")) {
		int init_pid, at = 0;
		char loop[32];
		if (sscanf(buf, "ok %d %31s %n", &init_pid, loop, &at) == 2 && at > 0) {
			printf("{\"monitor_pid\":%d,\"init_pid\":%d,\"loop\":\"%s\",\"limits\":%s}\n",
			       pid, init_pid, loop, buf + at);
			if (fflush(stdout) == 0)
				exit(VPS_OK);
		}
	}
	waitpid(pid, &st, 0);
	if (has_prefix(buf, "err ")) {
		char *msg = NULL;
		code = (int)strtol(buf + 4, &msg, 10);
		if (code <= 0 || code > 125)
			code = VPS_EFAIL;
		die_code(code, "%s", *msg == ' ' ? msg + 1 : msg);
	}
	if (WIFSIGNALED(st))
		die("monitor was killed by signal %d before reporting", WTERMSIG(st));
	die("monitor exited (status %d) without reporting", WEXITSTATUS(st));
}

/* A required feature is missing: exit 6, or note the override for monitor.log (R11). */
static void feature_missing(struct opts *o, unsigned feat, const char *why)
{
	const char *name = feature_name(feat);

	if (!(o->allow_missing & feat))
		die_code(VPS_EHOST,
			 "%s is missing: %s (start with --unsafe-allow-missing %s to run "
			 "without it)",
			 name, why, name);
	if (o->n_warnings < sizeof(o->warnings) / sizeof(o->warnings[0]))
		snprintf(
			o->warnings[o->n_warnings++], sizeof(o->warnings[0]),
			"unsafe: %s is missing: %s; running without it (--unsafe-allow-missing %s)",
			name, why, name);
}

/* A systemd host starts us in the container's delegated scope (vpsctl's systemd-run): v2 lets
 * no process stay in a cgroup whose children get controllers, so the monitor keeps itself
 * in a leaf of the scope, beside the container's cgroup, from the first instant. */
static void monitor_cgroup_join(const char *dir)
{
	char pid[24];
	int r;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die_errno_mapped("mkdir monitor cgroup %s", dir);
	cleanup_fd int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		die_errno_mapped("open monitor cgroup %s", dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if ((r = write_file_at(fd, "cgroup.procs", pid)) < 0) {
		errno = -r;
		die_errno_mapped("join monitor cgroup %s", dir);
	}
}

/* R11, before anything is touched. devices-cgroup: privileged mode needs the R5 allowlist,
 * from a v1 devices hierarchy among --cgroup or, where there is none, as an eBPF device
 * program on the cgroup v2 one. userns mode does not: mknod of a device needs CAP_MKNOD in
 * the initial user namespace, every fs mounted inside gets SB_I_NODEV, the rootfs clone is
 * nodev and locked, so the only usable device nodes are the ones we bind; it still gets
 * the allowlist where the host can give it. */
static void check_features(struct opts *o)
{
	char why[256] = "no cgroup v1 devices hierarchy and no cgroup v2 one among --cgroup";
	bool devices = false, v2 = false;

	if (o->userns && !probe_userns(why, sizeof(why))) {
		feature_missing(o, FEAT_USERNS, why);
		o->userns = o->idmap = false; /* overridden: a privileged container */
	}
	if (o->idmap && !probe_idmap(why, sizeof(why))) {
		feature_missing(o, FEAT_IDMAP, why);
		o->idmap = false;
	}
	if (!probe_seccomp(why, sizeof(why))) {
		feature_missing(o, FEAT_SECCOMP, why);
		o->seccomp = false;
	}
	for (size_t i = 0; i < o->n_cg; i++) {
		devices |= o->cg[i].devices;
		v2 |= o->cg[i].v2;
	}
	if (!devices && v2)
		devices = o->devices_bpf = probe_devices_bpf(why, sizeof(why));
	if (!o->userns && !devices)
		feature_missing(o, FEAT_DEVICES, why);
}

int main(int argc, char **argv)
{
	static struct opts o;

	prog_name = "vps-spawn";
	parse_args(&o, argc, argv);
	if (geteuid() != 0)
		die_code(VPS_EHOST, "must run as root");
	check_features(&o);
	if (o.monitor_cgroup)
		monitor_cgroup_join(o.monitor_cgroup);
	parent_main(&o);
}
