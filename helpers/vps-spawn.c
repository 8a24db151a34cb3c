/* vps-spawn — start one full-system container and stay on as its monitor.
 *
 *   vps-spawn --id ID --image /abs/ID.img --rootfs /run/vpsctl/ID/rootfs
 *             --run-dir /run/vpsctl/ID --hostname NAME
 *             [--cgroup MOUNTNAME:OPTIONS:HOSTDIR]... [--init /sbin/init] [--readonly-image]
 *             [--userns HOSTUID:HOSTGID:COUNT [--no-idmap] [--keyctl] [--nesting]]
 *             [--unsafe-allow-missing userns|idmap|seccomp|devices-cgroup]...
 *             [--nofile N] [--lxcfs DIR] [--net-helper PATH --net-spec FILE]
 *             [--limit-helper PATH [--limit ARG]... [--limit-io-device]]
 *             [--monitor-cgroup DIR] [--space-low BYTES] [--events FILE [--event-source SRC]]
 *             [--stop-hook PROG] [--device SRC:DEST:rw|ro]... [--bind SRC:DEST:rw|ro]...
 *
 * --device SRC:DEST:rw|ro: the host's character device SRC (under /dev) is bound on the
 * container's /dev/DEST, and its numbers join the R5 allowlist (rw, or read only); at most
 * 16. DEST is a plain name (directories made as needed), never one of the container's own
 * /dev entries. vpsctl's features come this way: tun is /dev/net/tun, fuse is /dev/fuse.
 * --bind SRC:DEST:rw|ro: the host directory SRC bound on DEST inside, at most 8 (plain
 * absolute paths; SRC never a host system tree nor vpsctl's run dir or pool, DEST never in
 * /proc, /sys, /dev, /run): at every boot the monitor clones SRC in its caller's mount
 * namespace (walked from / without following a symlink), makes the clone nosuid, nodev,
 * private, read-only for ro and, in userns mode, idmapped to the container's ids, and moves
 * it onto DEST in the stage, DEST resolved inside the rootfs (RESOLVE_IN_ROOT), its missing
 * directories made as the container's root (spawn-rootfs.c).
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
 * --events FILE: the host's event log, where the monitor appends "started" (SRC: who asked,
 * cli by default), "stopped" with its reason, "rebooted" and "oom" (spawn-events.c).
 * --stop-hook PROG: after the teardown, the monitor runs `PROG hook-run post-stop ID --reason
 * R` (vpsctl: the admin's post-stop hooks) and waits for it.
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
 * The keyring calls (add_key, request_key, keyctl) are refused with EPERM without --userns
 * (keyrings are not namespaced: the host's root's own); with --userns they return ENOSYS
 * (absent, as Proxmox's default), unless --keyctl (vpsctl's keyctl feature) allows them.
 * state.json says which ("keyctl": true or false), so that vps-enter gives every command
 * run inside init's very filter (vpsctl passes it --keyctl).
 * --nesting (with --userns only: vpsctl's nesting feature, containers inside the container)
 * mounts a clean proc and a read-write sysfs, nothing on top of them, at /dev/.lxc/proc and
 * /dev/.lxc/sys under a 0700 /dev/.lxc, and makes the sysfs superblock read-write with /sys
 * itself read-only per mount: the kernel lets a nested user namespace mount proc or sysfs only
 * when one such is visible in its mount namespace (spawn-rootfs.c, setup_nesting).
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
 *        the helper userns, move_mount it over <rootfs>; each --bind's clone (made just before
 *        in the caller's mount namespace) onto its DEST below it;
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
 * The parts (monitor.h holds what they share): this file runs the parent, the monitor, its
 * state and its teardown; spawn-args.c parses argv; spawn-log.c writes monitor.log;
 * spawn-watch.c is the monitor's event loop; spawn-image.c checks the image, attaches its
 * loop device and mounts it; spawn-console.c serves the console; spawn-init.c
 * is the init child and the boot that makes it; spawn-rootfs.c builds the container's
 * mounts, spawn-cgroup.c its cgroups, spawn-helper.c runs vps-limit and vps-net,
 * spawn-space.c guards the pool's free space.
 *
 * The monitor's stderr is <run-dir>/monitor.log, one JSON object per line:
 * {"event":"started"|"init-exited"|"rebooting"|"emergency-stop"|"warning"|"error"|
 *  "stopped", ...}.
 */
#define _GNU_SOURCE
#include "confine.h"
#include "console-proto.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include "monitor.h"

struct monitor M = {
	.result_fd = -1,
	.run_fd = -1,
	.loop_fd = -1,
	.loop_nr = -1,
	.idmap_userns = -1,
	.home_mntns = -1,
	.host_mntns = -1,
	.pty_master = -1,
	.pty_slave = -1,
	.console_fd = -1,
	.listen_fd = -1,
	.sig_fd = -1,
	.init_pid = -1,
	.sync_fd = -1,
	.space = { .img_fd = -1, .root_fd = -1, .timer_fd = -1 },
};

/* ------------------------------------------------------------------ monitor: state */

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
		     "\"init_pid\":%d,\"loop\":\"%s\",\"started\":%lld,\"keyctl\":%s}\n",
		     M.o->id, getpid(), M.starttime, M.init_pid, M.loop_path,
		     (long long)time(NULL), M.o->keyctl ? "true" : "false");
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

static void run_stop_hook(const char *reason);

/* die sink of the monitor: roll back, then tell the parent (setup) or the log (runtime). */
static void monitor_failed(int code, const char *msg)
{
	bool setup = M.result_fd >= 0;

	stage_leave(); /* roll back in the monitor's own mount namespace */
	if (M.log_ready)
		log_error(code, msg);
	teardown(!setup);
	if (setup) {
		dprintf(M.result_fd, "err %d %s\n", code, msg);
	} else {
		log_event("{\"event\":\"stopped\"}");
		event_emit("monitor", "stopped", "{\"reason\":\"failed\",\"code\":%d}", code);
		run_stop_hook("failed");
	}
	_exit(code);
}

/* Why init ended, as the "stopped" event tells it: asked for (stop, or killed when it did
 * not stop in time or --force), or not (poweroff inside, killed from outside, crashed). */
static const char *emit_stopped(int status)
{
	char asker[32], how[64];
	bool asked = stop_requested(asker, sizeof(asker));
	int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	const char *reason = sig == SIGKILL ? "killed"
			     : asked	    ? "stop"
			     : sig == SIGINT ? "poweroff"
					     : "crashed";

	if (sig)
		snprintf(how, sizeof(how), "\"signal\":%d", sig);
	else
		snprintf(how, sizeof(how), "\"code\":%d", WEXITSTATUS(status));
	if (M.stopping && !asked) /* SIGTERM to the monitor: the host is going down hard */
		reason = "killed";
	event_emit(asked ? asker : "monitor", "stopped", "{\"reason\":\"%s\",%s}", reason, how);
	return reason;
}

/* --stop-hook PROG: once all is torn down, `PROG hook-run post-stop ID --reason R` (the
 * admin's post-stop hooks, whoever stopped the container); waited for, so a `vpsctl stop`
 * returns after them. Its stderr is monitor.log. */
static void run_stop_hook(const char *reason)
{
	pid_t p;
	int st;

	if (!M.o->stop_hook)
		return;
	p = fork();
	if (p == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL); /* the monitor's blocked signals are its own */
		signal(SIGPIPE, SIG_DFL);
		execl(M.o->stop_hook, M.o->stop_hook, "hook-run", "post-stop", M.o->id, "--reason",
		      reason, (char *)NULL);
		_exit(127);
	}
	if (p < 0) {
		log_warn("post-stop hooks not run: fork: %s", strerror(errno));
		return;
	}
	while (waitpid(p, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		log_warn("post-stop hooks: %s ended with status %d", M.o->stop_hook, st);
}

static noreturn_fn void shutdown_and_exit(int status)
{
	teardown(true);
	log_event("{\"event\":\"stopped\"}");
	run_stop_hook(emit_stopped(status));
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
		shutdown_and_exit(status);

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
	event_emit("monitor", "rebooted", "{\"init_pid\":%d}", M.init_pid);
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
	if (o->events)
		events_open(o->events, o->event_source);

	/* --bind sources are the host's directories as its admin sees them: cloned at every
	 * boot in this (the caller's) mount namespace, not in the monitor's copy, where
	 * loop-backed mounts are dropped and later mounts may never arrive */
	if (o->n_bind) {
		M.host_mntns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
		if (M.host_mntns < 0)
			die_with_error("open /proc/self/ns/mnt");
	}
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
	if (o->idmap || (o->userns && o->n_bind)) /* binds are idmapped with --no-idmap too */
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
	oom_watch_start();
	event_emit(NULL, "started", "{\"init_pid\":%d}", M.init_pid);
	watch_run();
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
		o->keyctl = false;             /* whose keyring calls are refused */
		o->nesting = false;            /* and who gets no clean /proc */
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
