/* spawn-cgroup.c — the monitor's container cgroups (see spawn.h). */
#define _GNU_SOURCE
#include "confine.h"
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CGROUP_DRAIN_MS 10000 /* ms: tasks must leave the cgroups within this */

/* Remove hostdir and everything below it; tolerate a missing dir. 0 or -errno. */
static int cgroup_rmtree(const char *hostdir)
{
	cleanup_fd int fd = open(hostdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	int r;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = rmdir_children(fd);
	if (r < 0)
		return r;
	if (rmdir(hostdir) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Remove the owned cgroups, retrying EBUSY (tasks still leaving) for CGROUP_DRAIN_MS. */
void cgroups_remove(struct opts *o, bool all)
{
	for (int waited = 0;; waited += 50) {
		int busy = 0, last = 0;
		for (size_t i = 0; i < o->n_cg; i++) {
			struct cgroup_arg *cg = &o->cg[i];
			int r;
			if (!cg->owned && !all)
				continue;
			r = cgroup_rmtree(cg->hostdir);
			if (r == 0)
				cg->owned = false;
			else if (r == -EBUSY)
				busy++;
			else
				log_warn("remove cgroup %s: %s", cg->hostdir, strerror(-r));
			if (r)
				last = (int)i;
		}
		if (!busy)
			return;
		if (waited >= CGROUP_DRAIN_MS) {
			log_warn("cgroup %s still busy after %d ms; left behind",
				 o->cg[last].hostdir, CGROUP_DRAIN_MS);
			return;
		}
		usleep(50000);
	}
}

static void cpuset_fill(int dfd, int parent_fd)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char cur[4096], par[4096];

	for (size_t i = 0; i < 2; i++) {
		ssize_t n = read_file_at(dfd, files[i], cur, sizeof(cur));
		if (n < 0)
			die_with_error("read cgroup %s", files[i]);
		if (n > 0 && cur[0] != '\n')
			continue;
		if (read_file_at(parent_fd, files[i], par, sizeof(par)) < 0)
			die_with_error("read parent cgroup %s", files[i]);
		int r = write_file_at(dfd, files[i], par);
		if (r < 0) {
			errno = -r;
			die_with_error("write cgroup %s", files[i]);
		}
	}
	if (write_file_at(dfd, "cgroup.clone_children", "1") < 0)
		log_warn("cannot set cgroup.clone_children");
}

/* The controllers a v2 container's own systemd gets to use below its cgroup (systemd's
 * Delegate=yes gives the same): enabled, where available and not yet, in every cgroup from
 * the hierarchy's root down to the container's parent, so that they reach the container
 * whatever limits it has. On a systemd host the levels above the container's scope are
 * systemd's and have them already (its Delegate=yes); nothing is written there. */
static const char *const v2_delegated[] = { "cpuset", "cpu", "io", "memory", "pids" };

/* Is w one of the blank-separated words of list? */
static bool has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; (p = strstr(p, w)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

static void v2_enable_path(const struct cgroup_arg *cg)
{
	size_t root_len = strlen("/sys/fs/cgroup") + (*cg->mountname ? 1 + strlen(cg->mountname) : 0);
	size_t last = (size_t)(strrchr(cg->hostdir, '/') - cg->hostdir); /* the container's parent */

	for (size_t end = root_len; end <= last; end++) {
		char dir[VPS_PATH_MAX], ctl[512], on[512], plus[128] = "";
		size_t len = 0;
		int r;

		if (cg->hostdir[end] != '/')
			continue;
		snprintf(dir, sizeof(dir), "%.*s", (int)end, cg->hostdir);
		cleanup_fd int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || read_file_at(fd, "cgroup.controllers", ctl, sizeof(ctl)) < 0 ||
		    read_file_at(fd, "cgroup.subtree_control", on, sizeof(on)) < 0)
			return; /* the levels below get what is available */
		for (size_t i = 0; i < sizeof(v2_delegated) / sizeof(v2_delegated[0]); i++)
			if (has_word(ctl, v2_delegated[i]) && !has_word(on, v2_delegated[i]))
				len += (size_t)snprintf(plus + len, sizeof(plus) - len, "%s+%s",
							len ? " " : "", v2_delegated[i]);
		if (len && (r = write_file_at(fd, "cgroup.subtree_control", plus)) < 0)
			log_warn("enable \"%s\" in %s/cgroup.subtree_control: %s", plus, dir,
				 strerror(-r));
	}
}

/* cgroup v2 (SECURITY.md "cgroups"): the container's cgroup C holds the limits and stays
 * root's. Its controllers are enabled for two children made here:
 *   C/CG_V2_PAYLOAD  init's cgroup and the root of its cgroup namespace, delegated to the
 *                    container's root (dir, cgroup.procs, cgroup.threads,
 *                    cgroup.subtree_control): its systemd builds its own tree below it;
 *   C/CG_V2_ENTER    a leaf of root's that vps-enter joins, so exec and enter work whatever
 *                    the container's systemd did to its own tree (v2 refuses a process in
 *                    a cgroup whose subtree_control enables controllers), and count under
 *                    C's limits. */
static void v2_subtree_create(const struct opts *o, const struct cgroup_arg *cg, int cfd)
{
	char ctl[512], plus[640] = "";
	size_t len = 0;
	int r;

	if (read_file_at(cfd, "cgroup.controllers", ctl, sizeof(ctl)) < 0)
		die_with_error("read %s/cgroup.controllers", cg->hostdir);
	for (char *save = NULL, *t = strtok_r(ctl, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
		len += (size_t)snprintf(plus + len, sizeof(plus) - len, "%s+%s", len ? " " : "", t);
	if (len && (r = write_file_at(cfd, "cgroup.subtree_control", plus)) < 0) {
		errno = -r;
		die_with_error("enable \"%s\" in %s/cgroup.subtree_control", plus, cg->hostdir);
	}
	for (size_t i = 0; i < 2; i++) {
		const char *leaf = i ? CG_V2_ENTER : CG_V2_PAYLOAD;
		if (mkdirat(cfd, leaf, 0755) < 0 && errno != EEXIST)
			die_errno_mapped("mkdir cgroup %s/%s", cg->hostdir, leaf);
	}
	if (!o->userns)
		return;
	cleanup_fd int pfd = openat(cfd, CG_V2_PAYLOAD, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (pfd < 0)
		die_with_error("open cgroup %s/%s", cg->hostdir, CG_V2_PAYLOAD);
	if ((r = cgroup_delegate(pfd, true, o->host_uid, o->host_gid)) < 0) {
		errno = -r;
		die_with_error("delegate cgroup %s/%s to %u:%u", cg->hostdir, CG_V2_PAYLOAD,
			       o->host_uid, o->host_gid);
	}
}

void cgroup_create(const struct opts *o, struct cgroup_arg *cg)
{
	char parent[VPS_PATH_MAX];
	const char *leaf;
	int r;

	snprintf(parent, sizeof(parent), "%s", cg->hostdir);
	*strrchr(parent, '/') = '\0';
	leaf = strrchr(cg->hostdir, '/') + 1;
	if (mkdir(parent, 0755) < 0 && errno != EEXIST)
		die_code_with_error(errno == ENOENT ? VPS_EHOST : VPS_EFAIL, "mkdir cgroup %s",
				    parent);
	cleanup_fd int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (pfd < 0)
		die_with_error("open cgroup %s", parent);
	if (cg->cpuset) {
		char grand[VPS_PATH_MAX];
		snprintf(grand, sizeof(grand), "%s", parent);
		*strrchr(grand, '/') = '\0';
		cleanup_fd int gfd = open(grand, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (gfd < 0)
			die_with_error("open cgroup %s", grand);
		cpuset_fill(pfd, gfd);
	}
	if (mkdirat(pfd, leaf, 0755) == 0) {
		cg->owned = true;
	} else if (errno == EEXIST) {
		/* Made by TS (limits pre-set) or left by a crash: reuse it if it is idle. */
		cleanup_fd int lfd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (lfd < 0)
			die_with_error("open cgroup %s", cg->hostdir);
		if (cgroup_has_tasks(lfd))
			die_code(VPS_ESTATE, "cgroup %s has tasks: container already running?",
				 cg->hostdir);
		r = rmdir_children(lfd);
		if (r < 0)
			die_code(VPS_ESTATE, "cgroup %s: stale sub-cgroup in use (%s)", cg->hostdir,
				 strerror(-r));
	} else {
		die_errno_mapped("mkdir cgroup %s", cg->hostdir);
	}
	cleanup_fd int lfd = openat(pfd, leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (lfd < 0)
		die_with_error("open cgroup %s", cg->hostdir);
	if (cg->cpuset)
		cpuset_fill(lfd, pfd);
	/* R5 before the child joins; devices.allow/deny stay root's (never delegated) */
	if (cg->devices && (r = cgroup_devices_allowlist(lfd, o->dev_num, o->n_dev)) < 0) {
		errno = -r;
		die_with_error("devices allowlist of cgroup %s", cg->hostdir);
	}
	if (cg->v2 && o->devices_bpf && (r = cgroup_devices_bpf(lfd, o->dev_num, o->n_dev)) < 0) {
		errno = -r;
		die_with_error("attach the device eBPF program to cgroup %s", cg->hostdir);
	}
	if (cg->v2) {
		v2_enable_path(cg);
		v2_subtree_create(o, cg, lfd);
		return;
	}
	if (o->userns && (r = cgroup_delegate(lfd, cg->v2, o->host_uid, o->host_gid)) < 0) {
		errno = -r;
		die_with_error("delegate cgroup %s to %u:%u", cg->hostdir, o->host_uid,
			       o->host_gid);
	}
}

void cgroups_attach(const struct opts *o, pid_t pid)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%d", pid);
	for (size_t i = 0; i < o->n_cg; i++) {
		cleanup_fd int fd = cgroup_init_dir(&o->cg[i]);
		int r = fd < 0 ? -errno : write_file_at(fd, "cgroup.procs", buf);
		if (r < 0) {
			errno = -r;
			die_errno_mapped("attach init to cgroup %s%s", o->cg[i].hostdir,
					 o->cg[i].v2 ? "/" CG_V2_PAYLOAD : "");
		}
	}
}

int cgroup_init_dir(const struct cgroup_arg *cg)
{
	cleanup_fd int fd = open(cg->hostdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || !cg->v2)
		return steal_fd(&fd);
	return openat(fd, CG_V2_PAYLOAD, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}
