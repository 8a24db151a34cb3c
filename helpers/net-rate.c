/* net-rate.c — a container's bandwidth caps, on the host's side of its veth (see netlink.h).
 *
 * in (host -> container): a tbf root qdisc on the host's end of the veth: the rate, a burst
 *   of max(1/64 s at the rate, 32 KiB) and a queue of 50 ms at the rate on top of the burst;
 *   what would wait longer is dropped, as a router's full queue drops it. tbf cuts a GSO
 *   packet larger than the burst into segments.
 * out (container -> host): what arrives on the host's end is redirected (an ingress qdisc, a
 *   u32 filter that matches everything, a mirred action) to an ifb device of the
 *   container's own, whose tbf root qdisc shapes it the same way; the ifb then hands it back
 *   to the host's end as if it had just arrived. Shaping, not policing: TCP sees a slower
 *   link, not drops. (u32, mirred, ifb and tbf are what every kernel with traffic control
 *   has; matchall and police are missing from some.)
 * All of it lives on the host's side, out of reach of root inside the container. The veth's
 * qdiscs go with the veth, so the monitor's `vps-net up` sets them again at every boot; the
 * ifb stays until `vps-net down`, or a `rate` or `up` with no out cap, deletes it.
 */
#define _GNU_SOURCE
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>

#define PSCHED_SHIFT  6 /* the kernel's packet scheduler counts time in 64 ns ticks */
#define INGRESS_MAJOR 0xffff0000U
#define max_u64(a, b) ((a) > (b) ? (a) : (b))

/* The ticks that sending `bytes` at `bps` bytes per second takes. */
static uint32_t ticks(uint64_t bytes, uint64_t bps)
{
	uint64_t t = bytes * 1000000000ULL / bps >> PSCHED_SHIFT;

	return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static void ratespec(struct tc_ratespec *r, uint64_t bps)
{
	memset(r, 0, sizeof(*r));
	r->linklayer = TC_LINKLAYER_ETHERNET; /* the kernel then needs no table to learn it */
	r->rate = bps >= (1ULL << 32) ? UINT32_MAX : (uint32_t)bps;
}

static struct tcmsg *tc_msg(struct msg *m, uint16_t type, int flags, int index, uint32_t parent,
			    uint32_t handle)
{
	struct tcmsg *t = msg_init(m, type, flags, sizeof(*t));

	t->tcm_family = AF_UNSPEC;
	t->tcm_ifindex = index;
	t->tcm_parent = parent;
	t->tcm_handle = handle;
	return t;
}

int rate_new_ifb;

/* Die for the -errno r of a traffic-control request: a kind the kernel does not have (ENOENT,
 * EOPNOTSUPP) is a host that is not ready (6), naming the module; the rest as nl_fail. */
static noreturn_fn void tc_fail(int r, const char *what, const char *dev, const char *module)
{
	if (r == -ENOENT || r == -EOPNOTSUPP)
		die_code(VPS_EHOST, "%s on %s: this kernel has no %s (modprobe %s)", what, dev, module,
			 module);
	nl_fail(r, "%s on %s", what, dev);
}

/* Remove the root or ingress qdisc (and the filters under it); none there is fine. */
static void del_qdisc(int s, int index, const char *dev, uint32_t parent, const char *what)
{
	struct msg m;
	int r;

	tc_msg(&m, RTM_DELQDISC, 0, index, parent, 0);
	if ((r = nl_talk(s, &m, NULL, NULL)) < 0 && r != -ENOENT)
		nl_fail(r, "remove the %s cap on %s", what, dev);
}

/* A tbf root qdisc on dev (made, or changed in place). */
static void shape(int s, int index, const char *dev, uint64_t bits)
{
	uint64_t bps = bits / 8, burst = max_u64(bps / 64, 32 * 1024);
	struct tc_tbf_qopt q;
	struct rtattr *o;
	struct msg m;
	int r;

	memset(&q, 0, sizeof(q));
	ratespec(&q.rate, bps);
	q.limit = (uint32_t)(bps / 20 + burst);
	q.buffer = ticks(burst, bps);
	tc_msg(&m, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE, index, TC_H_ROOT, 0x10000);
	addattr_str(&m, TCA_KIND, "tbf");
	o = addattr(&m, TCA_OPTIONS, NULL, 0);
	addattr(&m, TCA_TBF_PARMS, &q, sizeof(q));
	addattr_u32(&m, TCA_TBF_BURST, burst);
	if (bps >= (1ULL << 32))
		addattr(&m, TCA_TBF_RATE64, &bps, sizeof(bps));
	nest_end(&m, o);
	if ((r = nl_talk(s, &m, NULL, NULL)) < 0)
		tc_fail(r, "cap the container's traffic with a tbf qdisc", dev, "sch_tbf");
}

/* The ifb named ifb, made if missing (another kind of link of that name: 2), and up. */
static int ifb_ensure(int s, const char *ifb)
{
	struct link l;
	struct rtattr *info;
	struct msg m;
	int r;

	if (!find_link(s, ifb, &l)) {
		struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));
		ifi->ifi_family = AF_UNSPEC;
		addattr_str(&m, IFLA_IFNAME, ifb);
		info = addattr(&m, IFLA_LINKINFO, NULL, 0);
		addattr_str(&m, IFLA_INFO_KIND, "ifb");
		nest_end(&m, info);
		if ((r = nl_talk(s, &m, NULL, NULL)) < 0 && r != -EEXIST)
			tc_fail(r, "create an ifb device", ifb, "ifb");
		if (!find_link(s, ifb, &l))
			die_code(VPS_EFAIL, "%s vanished after its creation", ifb);
		if (r == 0)
			rate_new_ifb = l.index;
	}
	if (strcmp(l.kind, "ifb") != 0)
		die_code(VPS_EUSAGE, "%s exists and is not an ifb device", ifb);
	link_up(s, l.index, ifb);
	return l.index;
}

/* Everything that arrives on dev goes to the ifb (ifb_index) first. */
static void redirect_out(int s, int index, const char *dev, int ifb_index)
{
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key;
	} sel;
	struct tc_mirred mirred;
	struct rtattr *opts, *acts, *act, *aopts;
	struct tcmsg *t;
	struct msg m;
	int r;

	tc_msg(&m, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, index, TC_H_INGRESS, INGRESS_MAJOR);
	addattr_str(&m, TCA_KIND, "ingress");
	if ((r = nl_talk(s, &m, NULL, NULL)) < 0)
		tc_fail(r, "cap the container's outgoing traffic with an ingress qdisc", dev,
			"sch_ingress");

	memset(&sel, 0, sizeof(sel)); /* one key: 0 under mask 0 at offset 0, which all match */
	sel.sel.flags = TC_U32_TERMINAL;
	sel.sel.nkeys = 1;
	memset(&mirred, 0, sizeof(mirred));
	mirred.action = TC_ACT_STOLEN;
	mirred.eaction = TCA_EGRESS_REDIR;
	mirred.ifindex = (uint32_t)ifb_index;

	t = tc_msg(&m, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, index, INGRESS_MAJOR, 0);
	t->tcm_info = TC_H_MAKE(1U << 16, htons(ETH_P_ALL)); /* priority 1, every protocol */
	addattr_str(&m, TCA_KIND, "u32");
	opts = addattr(&m, TCA_OPTIONS, NULL, 0);
	addattr(&m, TCA_U32_SEL, &sel, sizeof(sel));
	acts = addattr(&m, TCA_U32_ACT, NULL, 0);
	act = addattr(&m, 1, NULL, 0);
	addattr_str(&m, TCA_ACT_KIND, "mirred");
	aopts = addattr(&m, TCA_ACT_OPTIONS, NULL, 0);
	addattr(&m, TCA_MIRRED_PARMS, &mirred, sizeof(mirred));
	nest_end(&m, aopts);
	nest_end(&m, act);
	nest_end(&m, acts);
	nest_end(&m, opts);
	if ((r = nl_talk(s, &m, NULL, NULL)) < 0)
		tc_fail(r, "redirect the container's outgoing traffic (u32 filter, mirred action)", dev,
			r == -ENOENT ? "cls_u32 act_mirred" : "act_mirred");
}

void ifb_del(int s, const char *ifb)
{
	struct link l;
	int r;

	if (!find_link(s, ifb, &l))
		return;
	if (strcmp(l.kind, "ifb") != 0)
		die_code(VPS_EUSAGE, "%s exists and is not an ifb device", ifb);
	if ((r = link_del(s, l.index, ifb)) < 0 && r != -ENODEV)
		nl_fail(r, "delete %s", ifb);
}

void rate_set(int s, int index, const char *dev, const char *ifb, uint64_t in_bps,
	      uint64_t out_bps)
{
	if (in_bps)
		shape(s, index, dev, in_bps);
	else
		del_qdisc(s, index, dev, TC_H_ROOT, "incoming");
	if (out_bps) {
		/* the ifb and its cap first (changed in place): a failure there leaves the
		 * redirect to the old cap as it was; then the redirect is made anew (a u32
		 * filter's action cannot be changed in place) in two requests */
		int ifb_index = ifb_ensure(s, ifb);
		shape(s, ifb_index, ifb, out_bps);
		del_qdisc(s, index, dev, TC_H_INGRESS, "outgoing");
		redirect_out(s, index, dev, ifb_index);
	} else {
		del_qdisc(s, index, dev, TC_H_INGRESS, "outgoing");
		ifb_del(s, ifb);
	}
}
