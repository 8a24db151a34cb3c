/* limit-v1.c — vps-limit on cgroup v1: one hierarchy per controller, memory+swap written in
 * the order the kernel accepts, cpuset filled down from the root, blkio weights and throttles. */
#include "limit.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A v1 memory limit of the leaf; ULLONG_MAX for unlimited. */
static unsigned long long cur_limit(const struct ctx *c, const struct hier *h, const char *file)
{
	unsigned long long v = 0;
	char rel[VPS_PATH_MAX + 64];

	if (!h->leaf_existed)
		return ULLONG_MAX; /* a new cgroup starts unlimited */
	if (!read_u64(h->fd[L_LEAF], file, &v)) {
		if (h->fake)
			return ULLONG_MAX; /* an empty fake file */
		rel_path(c, h, L_LEAF, file, rel, sizeof(rel));
		die("cannot read %s", rel);
	}
	return v >= V1_UNLIMITED ? ULLONG_MAX : v;
}

static void plan_v1_memory(struct ctx *c, struct plan *pl, const struct limits *l)
{
	struct hier *h = &c->h[C_MEMORY];
	const char *memsw = "memory.memsw.limit_in_bytes";
	bool have_memsw = h->fake || exists_at(h->fd[L_LEAF], memsw);
	unsigned long long cur_mem, new_mem, new_memsw = 0;
	bool write_memsw = false, memsw_first = false;
	enum lim memsw_lim = l->set[L_SWAP] ? L_SWAP : L_MEMORY;
	char mv[VAL_MAX];

	if (!l->set[L_MEMORY] && !l->set[L_SWAP])
		return;
	cur_mem = cur_limit(c, h, "memory.limit_in_bytes");
	new_mem = !l->set[L_MEMORY]        ? cur_mem
		  : l->memory == UNLIMITED ? ULLONG_MAX
					   : (unsigned long long)l->memory;
	if (l->set[L_SWAP] && !have_memsw) {
		skip(pl, L_SWAP, "%s does not exist: swap accounting is off (swapaccount=1)",
		     memsw);
	} else if (l->set[L_SWAP]) {
		write_memsw = true;
		new_memsw = new_mem == ULLONG_MAX || l->swap == UNLIMITED
				    ? ULLONG_MAX
				    : new_mem + (unsigned long long)l->swap;
	} else if (have_memsw) {
		/* --memory alone keeps the swap allowance memsw - memory, when there is one */
		unsigned long long cur_memsw = cur_limit(c, h, memsw);
		if (cur_memsw != ULLONG_MAX && cur_mem != ULLONG_MAX && cur_memsw >= cur_mem) {
			write_memsw = true;
			new_memsw = new_mem == ULLONG_MAX ? ULLONG_MAX
							  : new_mem + (cur_memsw - cur_mem);
		}
	}
	memsw_first = write_memsw && l->set[L_MEMORY] && new_mem > cur_mem; /* raising */
	if (new_mem == ULLONG_MAX)
		snprintf(mv, sizeof(mv), "-1");
	else
		snprintf(mv, sizeof(mv), "%llu", new_mem);
	if (write_memsw && memsw_first)
		add(pl, memsw_lim, C_MEMORY, L_LEAF, memsw, "%lld",
		    new_memsw == ULLONG_MAX ? -1LL : (long long)new_memsw);
	if (l->set[L_MEMORY])
		add(pl, L_MEMORY, C_MEMORY, L_LEAF, "memory.limit_in_bytes", "%s", mv);
	if (write_memsw && !memsw_first)
		add(pl, memsw_lim, C_MEMORY, L_LEAF, memsw, "%lld",
		    new_memsw == ULLONG_MAX ? -1LL : (long long)new_memsw);
}

/* v1 cpuset: <parent> gets the root's cpus/mems where empty, the leaf the requested cpus
 * and <parent>'s mems where empty. A cpuset cgroup with empty mems takes no task. */
static void plan_v1_cpuset(struct ctx *c, struct plan *pl, const struct limits *l)
{
	struct hier *h = &c->h[C_CPUSET];
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char root_v[2][CPUSET_MAX * 4], par_v[2][CPUSET_MAX * 4], leaf_mems[CPUSET_MAX * 4];

	for (int i = 0; i < 2; i++) {
		if (!read_line(h->fd[L_CTL], files[i], root_v[i], sizeof(root_v[i])))
			root_v[i][0] = '\0';
		if (!read_line(h->fd[L_PARENT], files[i], par_v[i], sizeof(par_v[i])))
			par_v[i][0] = '\0';
		if (!par_v[i][0] && root_v[i][0]) {
			add(pl, L_CPUSET, C_CPUSET, L_PARENT, files[i], "%s", root_v[i]);
			memcpy(par_v[i], root_v[i], sizeof(par_v[i]));
		}
	}
	add(pl, L_CPUSET, C_CPUSET, L_LEAF, "cpuset.cpus", "%s", l->cpuset);
	if (!read_line(h->fd[L_LEAF], "cpuset.mems", leaf_mems, sizeof(leaf_mems)))
		leaf_mems[0] = '\0';
	if (!leaf_mems[0] && par_v[1][0])
		add(pl, L_CPUSET, C_CPUSET, L_LEAF, "cpuset.mems", "%s", par_v[1]);
}

static void plan_v1(struct ctx *c, struct plan *pl, const struct limits *l)
{
	struct hier *blk = &c->h[C_IO];

	plan_v1_memory(c, pl, l);
	if (l->set[L_MEMLOW])
		add(pl, L_MEMLOW, C_MEMORY, L_LEAF, "memory.soft_limit_in_bytes", "%lld",
		    l->memory_low);
	if (l->set[L_CPUS]) {
		add(pl, L_CPUS, C_CPU, L_LEAF, "cpu.cfs_period_us", "%ld", CPU_PERIOD);
		add(pl, L_CPUS, C_CPU, L_LEAF, "cpu.cfs_quota_us", "%ld",
		    l->quota == UNLIMITED ? -1L : l->quota);
	}
	if (l->set[L_CPUW]) {
		long shares = l->cpu_weight * 1024 / 100;
		add(pl, L_CPUW, C_CPU, L_LEAF, "cpu.shares", "%ld", shares < 2 ? 2 : shares);
	}
	if (l->set[L_CPUSET])
		plan_v1_cpuset(c, pl, l);
	if (l->set[L_PIDS]) {
		if (l->pids == UNLIMITED)
			add(pl, L_PIDS, C_PIDS, L_LEAF, "pids.max", "max");
		else
			add(pl, L_PIDS, C_PIDS, L_LEAF, "pids.max", "%ld", l->pids);
	}
	if (l->set[L_IOW]) {
		/* 100 is the default share: blkio.weight's default is 500 (N*5, 10..1000, as
		 * systemd maps it), blkio.bfq.weight's is 100 (N, 1..1000) */
		long w = l->io_weight * 5;
		const char *file = "blkio.weight";
		w = w < 10 ? 10 : w > 1000 ? 1000 : w;
		if (!exists_at(blk->fd[L_LEAF], file) &&
		    exists_at(blk->fd[L_LEAF], "blkio.bfq.weight")) {
			file = "blkio.bfq.weight";
			w = l->io_weight > 1000 ? 1000 : l->io_weight;
		} else if (!blk->fake && !exists_at(blk->fd[L_LEAF], file))
			skip(pl, L_IOW,
			     "neither blkio.weight nor blkio.bfq.weight exists "
			     "(no CFQ/BFQ I/O scheduler)");
		add(pl, L_IOW, C_IO, L_LEAF, file, "%ld", w);
	}
	if (l->set[L_IODEV]) {
		for (int k = 0; k < N_IO; k++)
			if (l->io_set[k])
				add(pl, L_IODEV, C_IO, L_LEAF, io_v1_files[k], "%lu:%lu %lld",
				    l->io_major, l->io_minor, l->io[k] == UNLIMITED ? 0 : l->io[k]);
	}
}

static void apply_v1(struct ctx *c, struct plan *pl, const struct limits *l)
{
	for (int k = 0; k < N_LIM; k++) {
		struct hier *h = &c->h[lim_ctl[k]];
		if (!l->set[k])
			continue;
		if (!h->present)
			skip(pl, (enum lim)k, "no %s hierarchy under %s", ctl_names[lim_ctl[k]],
			     c->root);
		else if (h->fd[L_CTL] < 0)
			open_hier(c, h, true);
	}
	plan_v1(c, pl, l);
	check_files(c, pl);
	write_planned(c, pl);
}

/* Sum the "MAJ:MIN Read N" and "MAJ:MIN Write N" lines of a v1 blkio stat file. */
static bool sum_blkio(int dfd, const char *file, unsigned long long *rd, unsigned long long *wr)
{
	char buf[65536], *save = NULL;

	if (dfd < 0 || read_file_at(dfd, file, buf, sizeof(buf)) < 0)
		return false;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char dev[32], op[16], num[32], extra;
		unsigned long long v;
		if (sscanf(line, "%31s %15s %31s %c", dev, op, num, &extra) != 3 ||
		    !parse_u64(num, &v))
			continue;
		if (strcmp(op, "Read") == 0)
			*rd += v;
		else if (strcmp(op, "Write") == 0)
			*wr += v;
	}
	return true;
}

static void usage_v1(struct ctx *c)
{
	int mem = c->h[C_MEMORY].fd[L_LEAF], cpu = c->h[C_CPU].fd[L_LEAF];
	int acct = c->h[C_CPUACCT].fd[L_LEAF], blk = c->h[C_IO].fd[L_LEAF];
	unsigned long long use = 0, lim = 0, swuse = 0, swlim = 0, v = 0;
	unsigned long long rb = 0, wb = 0, ri = 0, wi = 0;
	bool has_use, has_lim, ok, ok2;
	long long s = 0;

	emit("{\"mode\":\"v1\",\"memory\":{");
	has_use = read_u64(mem, "memory.usage_in_bytes", &use);
	emit_num("current", has_use, use, true);
	has_lim = read_u64(mem, "memory.limit_in_bytes", &lim) && lim < V1_UNLIMITED;
	emit_num("max", has_lim, lim, false);
	ok = has_use && read_u64(mem, "memory.memsw.usage_in_bytes", &swuse);
	emit_num("swap_current", ok, ok && swuse > use ? swuse - use : 0, false);
	ok = has_lim && read_u64(mem, "memory.memsw.limit_in_bytes", &swlim) &&
	     swlim < V1_UNLIMITED && swlim >= lim;
	emit_num("swap_max", ok, ok ? swlim - lim : 0, false);
	ok = read_u64(mem, "memory.soft_limit_in_bytes", &v) && v < V1_UNLIMITED;
	emit_num("low", ok, v, false);
	ok = read_key(mem, "memory.oom_control", "oom_kill", &v); /* Linux 4.13 on */
	emit_num("oom_kills", ok, v, false);
	emit("},\"cpu\":{");
	ok = read_u64(acct, "cpuacct.usage", &v);
	emit_num("usage_usec", ok, v / 1000, true);
	ok = read_s64(cpu, "cpu.cfs_quota_us", &s) && s >= 0;
	emit_num("quota_usec", ok, (unsigned long long)s, false);
	ok = read_u64(cpu, "cpu.cfs_period_us", &v);
	emit_num("period_usec", ok, v, false);
	ok = read_u64(cpu, "cpu.shares", &v);
	emit_num("weight", ok, v * 100 / 1024, false);
	emit("}");
	emit_cpuset(c->h[C_CPUSET].fd[L_LEAF]);
	emit(",\"pids\":{");
	ok = read_u64(c->h[C_PIDS].fd[L_LEAF], "pids.current", &v);
	emit_num("current", ok, v, true);
	ok = read_u64(c->h[C_PIDS].fd[L_LEAF], "pids.max", &v);
	emit_num("max", ok, v, false);
	emit("},\"io\":{");
	ok = sum_blkio(blk, "blkio.throttle.io_service_bytes", &rb, &wb);
	ok2 = sum_blkio(blk, "blkio.throttle.io_serviced", &ri, &wi);
	emit_num("rbytes", ok, rb, true);
	emit_num("wbytes", ok, wb, false);
	emit_num("rios", ok2, ri, false);
	emit_num("wios", ok2, wi, false);
	emit("}}");
}

static void controllers_v1(struct ctx *c)
{
	bool first = true;

	for (int k = 0; k < N_CTL; k++) {
		if (!c->h[k].present)
			continue;
		emit("%s\"%s\"", first ? "" : ",", ctl_names[k]);
		first = false;
	}
}

const struct limit_ops limit_v1_ops = { "v1", apply_v1, usage_v1, controllers_v1 };
