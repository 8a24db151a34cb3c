/* monitor.h — what the parts of vps-spawn share: the monitor's state and the calls between
 * its parts (vps-spawn.c: parent, monitor, teardown; spawn-watch.c: the event loop;
 * spawn-image.c: image, loop device, rootfs mount; spawn-console.c: the console and its
 * clients; spawn-init.c: the init child and the boot; spawn-events.c: the host's event log).
 * The parts call each other and never back into vps-spawn.c. */
#ifndef VPS_MONITOR_H
#define VPS_MONITOR_H

#include "spawn.h"

#include <poll.h>
#include <stdbool.h>
#include <sys/types.h>

#define CONSOLE_LOG_MAX    (1024 * 1024)
#define INIT_START_TIMEOUT 30000 /* ms: clone -> exec of init */
#define PARENT_TIMEOUT     90000 /* ms: parent waits this long for RESULT_* */
#define RESULT_LIMITS_MAX  6144  /* vps-limit's JSON answer passed on in RESULT_OK */
#define LOOP_RETRIES       8

#define MAX_WATCHES        (5 + CONSOLE_MAX_CLIENT) /* signalfd, pty master, listener, space timer, OOM, clients */
#define CONSOLE_DRAIN_MAX  (256 * 1024)  /* read from the pty master per turn of the loop */
#define CONSOLE_CLIENT_BUF (64 * 1024)   /* output a console client may fall behind */
#define CONSOLE_RATE       (1024 * 1024) /* bytes a second read from the console, at most */
#define CONSOLE_PAUSE_MS   20            /* how often a throttled console is looked at */
#define CONSOLE_HELLO_MS   10000         /* a client must say hello within this */
#define CONSOLE_ACCEPT_MS  1000          /* accept() out of fds or memory: wait this long */

typedef void (*watch_fn)(int fd, short revents);

/* Everything the monitor owns; global so the die sink can roll it back. */
struct monitor {
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
	int host_mntns;   /* the host's (vps-spawn's caller's) mount ns: --bind sources are cloned there */
	bool staged;      /* in the throw-away stage (or, for a moment, the host's) mount ns right now */
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
};
extern struct monitor M;

/* spawn-console.c */
void on_console_listen(int fd, short revents);
void console_listen(void);
void console_open(void);
int console_drain(bool limited);
int console_timers(void);
void console_watch(void);
/* spawn-image.c */
int image_open(void);
void loop_attach(int img_fd);
void drop_foreign_loop_mounts(void);
void rootfs_mount(void);
void rootfs_unmount(void);
/* spawn-init.c */
void idmap_userns_create(void);
int stage_leave(void);
void stage_root(void);
void limits_apply(void);
void start_init(void);
/* spawn-events.c */
void events_open(const char *file, const char *source);
/* One line in the host's event log: details is a JSON object; source NULL: the first start's. */
printf_fn(3, 4) void event_emit(const char *source, const char *kind, const char *details_fmt, ...);
bool stop_requested(char *buf, size_t cap);
void oom_watch_start(void);
/* spawn-watch.c: the event loop */
void watch_add(int fd, short events, watch_fn fn);
void watch_events(int fd, short events);
void watch_del(int fd);
noreturn_fn void watch_run(void);

#endif
