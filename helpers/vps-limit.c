/* vps-limit — a container's resource limits, in cgroup v1 or v2.
 *
 *   vps-limit apply  --id ID --parent NAME [--cgroup-root DIR] [LIMITS]
 *   vps-limit usage  --id ID --parent NAME [--cgroup-root DIR]
 *   vps-limit remove --id ID --parent NAME [--cgroup-root DIR]
 *   vps-limit detect [--cgroup-root DIR]
 *
 * A container's cgroup is <parent>/<id> in each hierarchy. vps-spawn reuses an idle leaf
 * with its settings, so the monitor (vps-spawn --limit-helper) runs `apply` before init is
 * born (to make the leaves and set the limits), and vpsctl runs it on a running container (to
 * change them live).
 *
 * ID is ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$, NAME ^[a-z0-9][a-z0-9._-]{0,62}$ or up to four
 * of them joined by / (only the last is made; a systemd host's vpsctl.slice/vpsctl-ID.scope), DIR an
 * absolute path (default /sys/fs/cgroup). Success prints ONE line of JSON on stdout; failure
 * prints one line "vps-limit: message" on stderr and exits with a code of exit-codes.h:
 * 2 bad usage or value (nothing written), 3 no such cgroup, 5 cgroup still has tasks,
 * 6 no cgroup hierarchy under DIR, 1 anything else (a write the kernel refused: the file,
 * the value and errno are named).
 *
 * Layout: DIR/cgroup.controllers exists -> v2 (unified) at DIR. Otherwise v1, one hierarchy
 * per controller directory: DIR/memory, DIR/cpu, DIR/cpuacct (either may instead be
 * DIR/cpu,cpuacct or DIR/cpuacct,cpu; symlinks are resolved), DIR/cpuset, DIR/pids,
 * DIR/blkio. The same rule serves fake trees of plain directories (tests).
 *
 * detect: {"mode":"v1"|"v2","controllers":[...]} (v2: DIR/cgroup.controllers; v1: the
 *   controller directories found, in the order above).
 *
 * apply LIMITS (all validated before anything is made or written; sizes are decimal bytes):
 *   --memory BYTES|max   at least 16 MiB. v2 memory.max; v1 memory.limit_in_bytes (max: -1)
 *   --swap BYTES|max     swap on top of memory. v2 memory.swap.max; v1
 *                        memory.memsw.limit_in_bytes = memory + swap (memory from --memory
 *                        or the current limit; -1 when either is max). The kernel wants
 *                        memsw >= memory at every step: memsw is written first when memory
 *                        rises, memory first when it falls. v1 --memory without --swap keeps
 *                        the current swap allowance (memsw - memory) when memsw is limited.
 *   --memory-low BYTES   v2 memory.low; v1 memory.soft_limit_in_bytes
 *   --cpus FLOAT|max     0.01..1024 (at most 6 decimals); period 100000 us,
 *                        quota round(cpus * 100000). v2 cpu.max "QUOTA 100000" or
 *                        "max 100000"; v1 cpu.cfs_period_us 100000, then cpu.cfs_quota_us
 *                        QUOTA or -1
 *   --cpu-weight N       1..10000 (100 is the default share). v2 cpu.weight; v1 cpu.shares
 *                        max(2, N * 1024 / 100)
 *   --cpuset LIST        "0-1,3": CPUs 0..8191, ranges a-b with a <= b. v2 cpuset.cpus; v1
 *                        cpuset.cpus, after filling an empty cpuset.cpus/mems of <parent> from
 *                        DIR/cpuset's, and then an empty leaf cpuset.mems from <parent>'s
 *   --pids N|max         1..4194304. pids.max
 *   --io-weight N        1..10000. v2 io.weight "default N"; v1 blkio.weight, else
 *                        blkio.bfq.weight: N*5 clamped to 10..1000 (blkio.weight, default
 *                        500), N clamped to 1..1000 (blkio.bfq.weight, default 100)
 *   --io-device MAJ:MIN  with one or more of --io-rbps, --io-wbps, --io-riops, --io-wiops
 *                        N|max (N >= 1): v2 io.max "MAJ:MIN rbps=N wiops=max" (the given
 *                        keys); v1 blkio.throttle.{read,write}_{bps,iops}_device "MAJ:MIN N"
 *                        (max: 0)
 *   Makes DIR/<parent>/<id> (v2) or CTRL/<parent>/<id> in each v1 hierarchy a limit needs
 *   (EEXIST is fine). v2 first enables the needed controllers listed in DIR/cgroup.controllers
 *   and DIR/<parent>/cgroup.controllers by writing "+cpuset +cpu ..." (in cgroup.controllers
 *   order, only those not yet enabled) to DIR/cgroup.subtree_control and
 *   DIR/<parent>/cgroup.subtree_control. A limit is skipped, not failed, when its controller
 *   is missing or a file it needs does not exist (swap accounting off, no CFQ/BFQ, ...).
 *   Files are opened O_WRONLY|O_CLOEXEC|O_NOFOLLOW, plus O_CREAT|O_TRUNC only in a fake tree
 *   (--cgroup-root given and statfs is not cgroupfs), where every file counts as present.
 *   Values are written without a newline.
 *   {"mode":M,"written":{"FILE":"VALUE",...},"skipped":[{"limit":"swap","why":"..."}]}
 *   FILE is relative to DIR ("memory/vpsctl/101/memory.limit_in_bytes"), in write order.
 *
 * usage: {"mode":M,"memory":{"current":N,"max":N,"swap_current":N,"swap_max":N,"low":N,
 *   "oom_kills":N},
 *   "cpu":{"usage_usec":N,"quota_usec":N,"period_usec":N,"weight":N},"cpuset":"LIST",
 *   "pids":{"current":N,"max":N},"io":{"rbytes":N,"wbytes":N,"rios":N,"wios":N}}
 *   Any value is null when its file is missing or says unlimited ("max", -1, >= 2^62).
 *   v2: memory.current/max/swap.current/swap.max/low, memory.events oom_kill, cpu.stat usage_usec, cpu.max,
 *   cpu.weight, cpuset.cpus, pids.current/max, io.stat summed over devices. v1:
 *   memory.usage_in_bytes, limit_in_bytes, memsw.usage - usage, memsw.limit - limit,
 *   soft_limit_in_bytes, memory.oom_control oom_kill, cpuacct.usage / 1000, cpu.cfs_quota_us, cfs_period_us,
 *   cpu.shares * 100 / 1024, cpuset.cpus, pids.current/max, and the Read/Write totals of
 *   blkio.throttle.io_service_bytes and io_serviced. Exit 3 when no hierarchy has the leaf.
 *
 * remove: rmdir the leaf in each hierarchy, nothing else (in a fake tree its regular files
 *   go first). Missing is fine; EBUSY (tasks or sub-cgroups) is exit 5 after trying all.
 *   {"removed":["/sys/fs/cgroup/memory/vpsctl/101",...]}
 */
#define _GNU_SOURCE
#include "limit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

static char out[OUT_MAX];

/* ---- output ---- */

void emit(const char *fmt, ...)
{
	size_t n = strlen(out);
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(out + n, sizeof(out) - n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= sizeof(out) - n)
		die("output too long");
}

void emit_str(const char *s)
{
	emit("\"");
	json_escape(out, sizeof(out), s);
	if (strlen(out) + 2 >= sizeof(out))
		die("output too long");
	emit("\"");
}

/* "key":N or "key":null, with a leading comma unless first */
void emit_num(const char *key, bool ok, unsigned long long v, bool first)
{
	if (ok)
		emit("%s\"%s\":%llu", first ? "" : ",", key, v);
	else
		emit("%s\"%s\":null", first ? "" : ",", key);
}

static void finish_output(void)
{
	if (fputs(out, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF)
		die_with_error("write stdout");
}

/* ---- layout ---- */

static bool is_cgroupfs(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return false;
	return sf.f_type == CGROUP_SUPER_MAGIC || sf.f_type == CGROUP2_SUPER_MAGIC;
}

static void init_hier(struct ctx *c, struct hier *h, const char *abs, const char *root_real)
{
	size_t n = strlen(root_real);

	h->present = true;
	for (int i = 0; i < N_LEVEL; i++)
		h->fd[i] = -1;
	snprintf(h->abs, sizeof(h->abs), "%s", abs);
	if (strcmp(abs, root_real) == 0)
		h->rel[0] = '\0';
	else if (strncmp(abs, root_real, n) == 0 && abs[n] == '/')
		snprintf(h->rel, sizeof(h->rel), "%s", abs + n + 1);
	else
		snprintf(h->rel, sizeof(h->rel), "%s", abs);
	h->fake = c->root_given && !is_cgroupfs(abs);
}

/* Find the hierarchies; with need, a v1 root without any is exit 6. */
static void detect_layout(struct ctx *c, bool need)
{
	char root_real[PATH_MAX], p[PATH_MAX + 32], real[PATH_MAX];
	bool found = false;
	struct stat st;

	c->root_fd = open(c->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c->root_fd < 0)
		die_code_with_error(errno == ENOENT || errno == ENOTDIR ? VPS_EHOST : VPS_EFAIL,
				    "cgroup root %s", c->root);
	if (!realpath(c->root, root_real))
		die_with_error("resolve %s", c->root);
	if (fstatat(c->root_fd, "cgroup.controllers", &st, AT_SYMLINK_NOFOLLOW) == 0) {
		c->v2 = true;
		c->ops = &limit_v2_ops;
		init_hier(c, &c->h[0], root_real, root_real);
		return;
	}
	c->ops = &limit_v1_ops;
	for (int k = 0; k < N_CTL; k++) {
		for (int j = 0; j < 3 && v1_dirs[k][j]; j++) {
			if (fstatat(c->root_fd, v1_dirs[k][j], &st, 0) < 0 || !S_ISDIR(st.st_mode))
				continue;
			snprintf(p, sizeof(p), "%s/%s", root_real, v1_dirs[k][j]);
			if (!realpath(p, real) || strlen(real) >= VPS_PATH_MAX)
				continue;
			init_hier(c, &c->h[k], real, root_real);
			found = true;
			break;
		}
	}
	if (need && !found)
		die_code(VPS_EHOST, "no cgroup hierarchy under %s", c->root);
}

static int open_dir_at(int dfd, const char *name)
{
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* Open the hierarchy's directory, <parent> and <id>; with make, mkdir the last two first.
 * Without make, fd[L_LEAF] stays -1 when the leaf does not exist. */
void open_hier(struct ctx *c, struct hier *h, bool make)
{
	if (h->fd[L_CTL] < 0)
		h->fd[L_CTL] = open(h->abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->fd[L_CTL] < 0)
		die_errno_mapped("open %s", h->abs);
	if (make && mkdirat(h->fd[L_CTL], c->parent, 0755) < 0 && errno != EEXIST)
		die_errno_mapped("mkdir %s/%s", h->abs, c->parent);
	h->fd[L_PARENT] = open_dir_at(h->fd[L_CTL], c->parent);
	if (h->fd[L_PARENT] < 0) {
		if (!make && errno == ENOENT)
			return;
		die_errno_mapped("open %s/%s", h->abs, c->parent);
	}
	if (make) {
		if (mkdirat(h->fd[L_PARENT], c->id, 0755) == 0)
			h->leaf_existed = false;
		else if (errno == EEXIST)
			h->leaf_existed = true;
		else
			die_errno_mapped("mkdir %s/%s/%s", h->abs, c->parent, c->id);
	}
	h->fd[L_LEAF] = open_dir_at(h->fd[L_PARENT], c->id);
	if (h->fd[L_LEAF] < 0 && (make || errno != ENOENT))
		die_errno_mapped("open %s/%s/%s", h->abs, c->parent, c->id);
	if (!make && h->fd[L_LEAF] >= 0)
		h->leaf_existed = true;
}

/* "memory/vpsctl/101/memory.max": the file's path relative to the root. */
void rel_path(const struct ctx *c, const struct hier *h, enum level lv, const char *file,
		     char *buf, size_t cap)
{
	const char *sep = h->rel[0] ? "/" : "";

	if (lv == L_CTL)
		snprintf(buf, cap, "%s%s%s", h->rel, sep, file);
	else if (lv == L_PARENT)
		snprintf(buf, cap, "%s%s%s/%s", h->rel, sep, c->parent, file);
	else
		snprintf(buf, cap, "%s%s%s/%s/%s", h->rel, sep, c->parent, c->id, file);
}

bool exists_at(int dfd, const char *file)
{
	struct stat st;

	return dfd >= 0 && fstatat(dfd, file, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* ---- reading ---- */

/* The file's first line, trimmed. false when missing or unreadable. */
bool read_line(int dfd, const char *file, char *buf, size_t cap)
{
	ssize_t n;

	if (dfd < 0 || (n = read_file_at(dfd, file, buf, cap)) < 0)
		return false;
	buf[strcspn(buf, "\n")] = '\0';
	return true;
}

bool read_u64(int dfd, const char *file, unsigned long long *v)
{
	char buf[64];

	return read_line(dfd, file, buf, sizeof(buf)) && parse_u64(buf, v);
}

/* A signed value: -1 or N. */
bool read_s64(int dfd, const char *file, long long *v)
{
	char buf[64];
	unsigned long long u;

	bool neg;

	if (!read_line(dfd, file, buf, sizeof(buf)))
		return false;
	neg = buf[0] == '-';
	if (!parse_u64(buf + neg, &u) || u > LLONG_MAX)
		return false;
	*v = neg ? -(long long)u : (long long)u;
	return true;
}

/* Whitespace-separated words of a file, each with a leading '+' dropped, joined by ' '. */
bool read_words(int dfd, const char *file, char *buf, size_t cap)
{
	char raw[CONTROLS_MAX], *save = NULL;
	ssize_t n;

	buf[0] = '\0';
	if (dfd < 0 || (n = read_file_at(dfd, file, raw, sizeof(raw))) < 0)
		return false;
	for (char *w = strtok_r(raw, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
		size_t o = strlen(buf);
		snprintf(buf + o, cap - o, "%s%s", o ? " " : "", w[0] == '+' ? w + 1 : w);
	}
	return true;
}

bool has_word(const char *words, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = words; (p = strstr(p, w)); p += n)
		if ((p == words || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* ---- apply: the plan ---- */

void skip(struct plan *pl, enum lim l, const char *fmt, ...)
{
	va_list ap;

	if (pl->skipped[l])
		return;
	pl->skipped[l] = true;
	va_start(ap, fmt);
	vsnprintf(pl->why[l], sizeof(pl->why[l]), fmt, ap);
	va_end(ap);
}

void add(struct plan *pl, enum lim l, int h, enum level lv, const char *file,
		const char *fmt, ...)
{
	struct write *w;
	va_list ap;

	if (pl->n >= MAX_WRITES)
		die("too many writes planned");
	w = &pl->w[pl->n++];
	w->lim = l;
	w->h = h;
	w->level = lv;
	w->file = file;
	va_start(ap, fmt);
	vsnprintf(w->val, sizeof(w->val), fmt, ap);
	va_end(ap);
}

void fmt_limit(char *buf, size_t cap, long long v, const char *unlimited)
{
	if (v == UNLIMITED)
		snprintf(buf, cap, "%s", unlimited);
	else
		snprintf(buf, cap, "%lld", v);
}

/* Why the kernel may refuse a value, for the error message. */
static const char *hint(const char *file, int err)
{
	if (err == EBUSY && has_prefix(file, "memory."))
		return "memory in use exceeds the new limit";
	if (err == EINVAL && strcmp(file, "memory.limit_in_bytes") == 0)
		return "above the memory+swap limit (give --swap too)";
	if (err == EINVAL && strcmp(file, "memory.memsw.limit_in_bytes") == 0)
		return "memory+swap below the memory limit";
	if (err == EINVAL && strcmp(file, "cpuset.cpus") == 0)
		return "CPUs offline or outside the parent cgroup's cpuset";
	if ((err == EINVAL || err == ENODEV) &&
	    (has_prefix(file, "blkio.throttle") || strcmp(file, "io.max") == 0))
		return "no such block device, or not a whole disk";
	if (err == EINVAL && has_prefix(file, "cpu.cfs_"))
		return "refused by the CPU bandwidth of the parent cgroup";
	if ((err == EBUSY || err == EOPNOTSUPP) && strcmp(file, "cgroup.subtree_control") == 0)
		return "the cgroup has processes of its own (no internal processes in v2)";
	return NULL;
}

static void do_write(struct ctx *c, const struct write *w)
{
	struct hier *h = &c->h[w->h];
	int flags = O_WRONLY | O_CLOEXEC | O_NOFOLLOW | (h->fake ? O_CREAT | O_TRUNC : 0);
	char rel[VPS_PATH_MAX + 64];
	const char *why;
	int r;

	rel_path(c, h, w->level, w->file, rel, sizeof(rel));
	cleanup_fd int fd = openat(h->fd[w->level], w->file, flags, 0644);
	r = fd < 0 ? -errno : write_all(fd, w->val, strlen(w->val));
	if (r < 0) {
		why = hint(w->file, -r);
		die_code(VPS_EFAIL, "write %s = \"%s\": %s%s%s", rel, w->val, strerror(-r),
			 why ? ": " : "", why ? why : "");
	}
	emit("%s\"", out[strlen(out) - 1] == '{' ? "" : ",");
	json_escape(out, sizeof(out), rel);
	emit("\":");
	emit_str(w->val);
}

/* Before anything is written: a limit needing a file the kernel lacks is skipped whole. */
void check_files(struct ctx *c, struct plan *pl)
{
	char rel[VPS_PATH_MAX + 64];

	for (size_t i = pl->done; i < pl->n; i++) {
		const struct write *w = &pl->w[i];
		struct hier *h = &c->h[w->h];
		if (w->lim == N_LIM || pl->skipped[w->lim] || h->fake ||
		    exists_at(h->fd[w->level], w->file))
			continue;
		rel_path(c, h, w->level, w->file, rel, sizeof(rel));
		skip(pl, w->lim, "%s does not exist", rel);
	}
}

void write_planned(struct ctx *c, struct plan *pl)
{
	for (; pl->done < pl->n; pl->done++)
		if (!pl->skipped[pl->w[pl->done].lim])
			do_write(c, &pl->w[pl->done]);
}

static int cmd_apply(struct ctx *c, const struct limits *l)
{
	struct plan pl;
	bool first = true;

	memset(&pl, 0, sizeof(pl));
	detect_layout(c, true);
	emit("{\"mode\":\"%s\",\"written\":{", c->ops->mode);
	c->ops->apply(c, &pl, l);
	emit("},\"skipped\":[");
	for (int k = 0; k < N_LIM; k++) {
		if (!pl.skipped[k] || !l->set[k])
			continue;
		emit("%s{\"limit\":\"%s\",\"why\":", first ? "" : ",", lim_names[k]);
		emit_str(pl.why[k]);
		emit("}");
		first = false;
	}
	emit("]}");
	finish_output();
	return 0;
}

/* ---- usage ---- */

/* "key N" in a flat-keyed file (cpu.stat). */
bool read_key(int dfd, const char *file, const char *key, unsigned long long *v)
{
	char buf[4096], *save = NULL;
	size_t n = strlen(key);

	if (dfd < 0 || read_file_at(dfd, file, buf, sizeof(buf)) < 0)
		return false;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, key, n) == 0 && line[n] == ' ')
			return parse_u64(line + n + 1, v);
	return false;
}

void emit_cpuset(int dfd)
{
	char buf[CPUSET_MAX * 4];

	emit(",\"cpuset\":");
	if (read_line(dfd, "cpuset.cpus", buf, sizeof(buf)))
		emit_str(buf);
	else
		emit("null");
}

static int cmd_usage(struct ctx *c)
{
	bool found = false;

	detect_layout(c, true);
	for (int k = 0; k < N_CTL; k++) {
		if (!c->h[k].present)
			continue;
		open_hier(c, &c->h[k], false);
		found |= c->h[k].fd[L_LEAF] >= 0;
	}
	if (!found)
		die_code(VPS_ENOTFOUND, "no cgroup %s/%s under %s", c->parent, c->id, c->root);
	c->ops->usage(c);
	finish_output();
	return 0;
}

/* ---- remove ---- */

/* A fake tree's leaf holds plain files; cgroupfs removes its own with the directory. */
static void unlink_files(int dfd)
{
	cleanup_dir DIR *d = NULL;
	struct dirent *de;
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !(d = fdopendir(fd))) {
		cleanup_fdp(&fd);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_type == DT_REG)
			unlinkat(dfd, de->d_name, 0);
}

static int cmd_remove(struct ctx *c)
{
	char busy[VPS_PATH_MAX + 128] = "";
	bool first = true;

	detect_layout(c, true);
	emit("{\"removed\":[");
	for (int k = 0; k < N_CTL; k++) {
		struct hier *h = &c->h[k];
		char path[VPS_PATH_MAX + 128];
		bool dup = false;
		if (!h->present)
			continue;
		for (int j = 0; j < k; j++)
			dup |= c->h[j].present && strcmp(c->h[j].abs, h->abs) == 0;
		if (dup)
			continue;
		open_hier(c, h, false);
		if (h->fd[L_LEAF] < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", h->abs, c->parent, c->id);
		if (h->fake)
			unlink_files(h->fd[L_LEAF]);
		if (unlinkat(h->fd[L_PARENT], c->id, AT_REMOVEDIR) < 0) {
			if (errno == ENOENT)
				continue;
			if (errno != EBUSY && errno != ENOTEMPTY)
				die_with_error("rmdir %s", path);
			if (!busy[0])
				snprintf(busy, sizeof(busy), "%s", path);
			continue;
		}
		emit("%s", first ? "" : ",");
		emit_str(path);
		first = false;
	}
	if (busy[0])
		die_code(VPS_ESTATE, "cgroup %s still has tasks (or sub-cgroups)", busy);
	emit("]}");
	finish_output();
	return 0;
}

/* ---- detect ---- */

static int cmd_detect(struct ctx *c)
{
	detect_layout(c, false);
	emit("{\"mode\":\"%s\",\"controllers\":[", c->ops->mode);
	c->ops->controllers(c);
	emit("]}");
	finish_output();
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	struct args a;
	struct ctx c;

	prog_name = "vps-limit";
	memset(&a, 0, sizeof(a));
	memset(&c, 0, sizeof(c));
	for (int k = 0; k < N_CTL; k++)
		for (int i = 0; i < N_LEVEL; i++)
			c.h[k].fd[i] = -1;
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
		usage(0);
	if (argc < 2)
		usage(VPS_EUSAGE);
	if (strcmp(cmd, "apply") == 0)
		parse_args(argc, argv, true, true, &a);
	else if (strcmp(cmd, "usage") == 0 || strcmp(cmd, "remove") == 0)
		parse_args(argc, argv, false, true, &a);
	else if (strcmp(cmd, "detect") == 0)
		parse_args(argc, argv, false, false, &a);
	else
		die_code(VPS_EUSAGE, "unknown command %.64s (apply, usage, remove, detect)", cmd);
	c.root = a.root ? a.root : DEFAULT_ROOT;
	c.root_given = a.root != NULL;
	c.parent = a.parent;
	c.id = a.id;
	if (cmd[0] == 'a')
		return cmd_apply(&c, &a.l);
	if (cmd[0] == 'u')
		return cmd_usage(&c);
	if (cmd[0] == 'r')
		return cmd_remove(&c);
	return cmd_detect(&c);
}
