/* limit-v2.c — vps-limit on the unified hierarchy: one tree, controllers enabled level by
 * level (cgroup.subtree_control), the limits' files in the leaf. */
#include "limit.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Enable the controllers needed below dfd: "+a +b" in cgroup.controllers order. */
static void enable_controllers(struct ctx *c, struct plan *pl, const struct limits *l,
			       enum level lv, const char *fallback)
{
	struct hier *h = &c->h[0];
	int dfd = h->fd[lv];
	char avail[CONTROLS_MAX], enabled[CONTROLS_MAX], add_list[CONTROLS_MAX] = "";
	char rel[VPS_PATH_MAX + 64], *save = NULL;

	rel_path(c, h, lv, "cgroup.controllers", rel, sizeof(rel));
	if (!read_words(dfd, "cgroup.controllers", avail, sizeof(avail))) {
		if (!h->fake || !fallback)
			die_errno_mapped("read %s", rel);
		snprintf(avail, sizeof(avail), "%s", fallback); /* a fake <parent>: as enabled */
	}
	for (int k = 0; k < N_LIM; k++) {
		const char *name = v2_names[lim_ctl[k]];
		if (l->set[k] && !has_word(avail, name))
			skip(pl, (enum lim)k, "controller %s not in %s", name, rel);
	}
	read_words(dfd, "cgroup.subtree_control", enabled, sizeof(enabled));
	for (char *w = strtok_r(avail, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		bool needed = false;
		for (int k = 0; k < N_LIM; k++)
			needed |= l->set[k] && !pl->skipped[k] &&
				  strcmp(v2_names[lim_ctl[k]], w) == 0;
		if (needed && !has_word(enabled, w)) {
			size_t o = strlen(add_list);
			snprintf(add_list + o, sizeof(add_list) - o, "%s+%s", o ? " " : "", w);
		}
	}
	if (add_list[0])
		add(pl, N_LIM, 0, lv, "cgroup.subtree_control", "%s", add_list);
}

static void plan_v2(struct ctx *c, struct plan *pl, const struct limits *l)
{
	struct hier *h = &c->h[0];
	char v[32], io[VAL_MAX];

	if (l->set[L_MEMORY]) {
		fmt_limit(v, sizeof(v), l->memory, "max");
		add(pl, L_MEMORY, 0, L_LEAF, "memory.max", "%s", v);
	}
	if (l->set[L_SWAP] && !pl->skipped[L_SWAP]) {
		if (!h->fake && !exists_at(h->fd[L_LEAF], "memory.swap.max"))
			skip(pl, L_SWAP, "memory.swap.max does not exist: swap accounting is off");
		fmt_limit(v, sizeof(v), l->swap, "max");
		add(pl, L_SWAP, 0, L_LEAF, "memory.swap.max", "%s", v);
	}
	if (l->set[L_MEMLOW])
		add(pl, L_MEMLOW, 0, L_LEAF, "memory.low", "%lld", l->memory_low);
	if (l->set[L_CPUS]) {
		fmt_limit(v, sizeof(v), l->quota, "max");
		add(pl, L_CPUS, 0, L_LEAF, "cpu.max", "%s %ld", v, CPU_PERIOD);
	}
	if (l->set[L_CPUW])
		add(pl, L_CPUW, 0, L_LEAF, "cpu.weight", "%ld", l->cpu_weight);
	if (l->set[L_CPUSET])
		add(pl, L_CPUSET, 0, L_LEAF, "cpuset.cpus", "%s", l->cpuset);
	if (l->set[L_PIDS]) {
		fmt_limit(v, sizeof(v), l->pids, "max");
		add(pl, L_PIDS, 0, L_LEAF, "pids.max", "%s", v);
	}
	if (l->set[L_IOW]) {
		if (!h->fake && !exists_at(h->fd[L_LEAF], "io.weight"))
			skip(pl, L_IOW,
			     "io.weight does not exist: no I/O cost model in this kernel");
		add(pl, L_IOW, 0, L_LEAF, "io.weight", "default %ld", l->io_weight);
	}
	if (l->set[L_IODEV]) {
		snprintf(io, sizeof(io), "%lu:%lu", l->io_major, l->io_minor);
		for (int k = 0; k < N_IO; k++) {
			size_t o = strlen(io);
			if (!l->io_set[k])
				continue;
			fmt_limit(v, sizeof(v), l->io[k], "max");
			snprintf(io + o, sizeof(io) - o, " %s=%s", io_v2_keys[k], v);
		}
		add(pl, L_IODEV, 0, L_LEAF, "io.max", "%s", io);
	}
}

static void apply_v2(struct ctx *c, struct plan *pl, const struct limits *l)
{
	struct hier *h = &c->h[0];
	char enabled[CONTROLS_MAX];

	h->fd[L_CTL] = open(h->abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->fd[L_CTL] < 0)
		die_errno_mapped("open %s", h->abs);
	/* Each level's subtree_control is written before the next level is looked at: the
	 * controllers <parent> offers, and the files of the leaf, follow from it. */
	enable_controllers(c, pl, l, L_CTL, NULL);
	write_planned(c, pl);
	open_hier(c, h, true);
	read_words(h->fd[L_CTL], "cgroup.subtree_control", enabled, sizeof(enabled));
	enable_controllers(c, pl, l, L_PARENT, enabled);
	write_planned(c, pl);
	plan_v2(c, pl, l);
	check_files(c, pl);
	write_planned(c, pl);
}

/* Sum "key=N" words over the lines of a v2 io.stat. */
static bool sum_io_stat(int dfd, unsigned long long sums[4])
{
	static const char *const keys[] = { "rbytes=", "wbytes=", "rios=", "wios=" };
	char buf[65536], *save = NULL;

	if (dfd < 0 || read_file_at(dfd, "io.stat", buf, sizeof(buf)) < 0)
		return false;
	for (char *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		for (int k = 0; k < 4; k++) {
			unsigned long long v;
			if (has_prefix(w, keys[k]) && parse_u64(w + strlen(keys[k]), &v))
				sums[k] += v;
		}
	}
	return true;
}

static void usage_v2(struct ctx *c)
{
	int d = c->h[0].fd[L_LEAF];
	unsigned long long v = 0, io[4] = { 0, 0, 0, 0 };
	char buf[128], q[64];
	long long period = 0;
	bool ok;

	emit("{\"mode\":\"v2\",\"memory\":{");
	ok = read_u64(d, "memory.current", &v);
	emit_num("current", ok, v, true);
	ok = read_u64(d, "memory.max", &v);
	emit_num("max", ok, v, false);
	ok = read_u64(d, "memory.swap.current", &v);
	emit_num("swap_current", ok, v, false);
	ok = read_u64(d, "memory.swap.max", &v);
	emit_num("swap_max", ok, v, false);
	ok = read_u64(d, "memory.low", &v);
	emit_num("low", ok, v, false);
	ok = read_key(d, "memory.events", "oom_kill", &v); /* hierarchical: the container's whole tree */
	emit_num("oom_kills", ok, v, false);
	emit("},\"cpu\":{");
	ok = read_key(d, "cpu.stat", "usage_usec", &v);
	emit_num("usage_usec", ok, v, true);
	q[0] = '\0';
	if (read_line(d, "cpu.max", buf, sizeof(buf)) && sscanf(buf, "%63s %lld", q, &period) != 2)
		q[0] = '\0';
	ok = parse_u64(q, &v);
	emit_num("quota_usec", ok, v, false);
	emit_num("period_usec", q[0] && period > 0, (unsigned long long)period, false);
	ok = read_u64(d, "cpu.weight", &v);
	emit_num("weight", ok, v, false);
	emit("}");
	emit_cpuset(d);
	emit(",\"pids\":{");
	ok = read_u64(d, "pids.current", &v);
	emit_num("current", ok, v, true);
	ok = read_u64(d, "pids.max", &v);
	emit_num("max", ok, v, false);
	emit("},\"io\":{");
	ok = sum_io_stat(d, io);
	emit_num("rbytes", ok, io[0], true);
	emit_num("wbytes", ok, io[1], false);
	emit_num("rios", ok, io[2], false);
	emit_num("wios", ok, io[3], false);
	emit("}}");
}

static void controllers_v2(struct ctx *c)
{
	char words[CONTROLS_MAX], *save = NULL;
	bool first = true;

	if (!read_words(c->root_fd, "cgroup.controllers", words, sizeof(words)))
		die_with_error("read %s/cgroup.controllers", c->root);
	for (char *w = strtok_r(words, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		emit("%s", first ? "" : ",");
		emit_str(w);
		first = false;
	}
}

const struct limit_ops limit_v2_ops = { "v2", apply_v2, usage_v2, controllers_v2 };
