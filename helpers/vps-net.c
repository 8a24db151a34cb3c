/* vps-net — the host's side of container networking, over rtnetlink (no ip(8), no libmnl).
 *
 *   vps-net bridge      --name BR --mac MAC [--addr CIDR]... [--mtu N]
 *   vps-net up          --pid PID --spec FILE [--configure-guest]
 *   vps-net down        --host-if NAME [--ifb IFB]
 *   vps-net addr        --pid PID --dev NAME add|del CIDR
 *   vps-net route       --dev NAME add|del CIDR
 *   vps-net neigh-proxy --dev NAME add|del ADDR
 *   vps-net gateway     --pid PID --dev NAME [--onlink] GW
 *   vps-net rate        --host-if NAME --ifb IFB --in BITS --out BITS
 *
 * Values are checked here again: NAME, BR [A-Za-z0-9_.-]{1,15}, not ".", "..", "all",
 * "default"; MAC XX:XX:XX:XX:XX:XX, unicast, not zero; CIDR a.b.c.d/N (N 1..32) or IPV6/N
 * (1..128), a route's without bits set past N; ADDR, GW without /N; no unspecified, loopback,
 * multicast or class E address; PID 1..INT_MAX, not in our network namespace; MTU 68..65535.
 * Only /proc/PID/ns/net, FILE and /proc/sys/net/ipv6/conf/NAME/{accept_ra,proxy_ndp} are
 * opened. Success prints ONE line of JSON on stdout; failure one line "vps-net: message" on
 * stderr and an exit code of exit-codes.h: 2 bad usage or value, a bad FILE, a link of the
 * name but of the wrong kind; 3 not found (process, bridge, device); 6 host not ready (no
 * veth, bridge or IPv6 in the kernel: EOPNOTSUPP, EAFNOSUPPORT); 7 out of resources; 1 other.
 *
 * bridge: create bridge BR here if missing, IFLA_ADDRESS = MAC (so its MAC never changes as
 *   ports come and go), --mtu; an existing bridge is kept as it is, another kind refused (2).
 *   0 to .../conf/BR/accept_ra if there is IPv6 (tenants' router advertisements must never
 *   configure the host); BR up; each CIDR added (IPv6 nodad; one already there is fine; an
 *   IPv6 one on a host without IPv6 is skipped with a warning).
 *   {"bridge":"BR","created":true|false,"ifindex":N}
 * up: the network of PID (a container's init). FILE: a regular file of root's, not writable by
 *   group or others, 64 KiB at most (O_NOFOLLOW, fstat); `key value` lines, blank lines and
 *   `#` comments skipped; an unknown key, a bad value or a key twice (but addr): 2.
 *     mode none|bridged|routed (required)     host_if NAME  host's end (bridged, routed)
 *     peer_if NAME  container's end (eth0)    mac MAC       its MAC (bridged, routed)
 *     bridge BR     (bridged; else ignored)   mtu N         both ends
 *     addr CIDR     the container's addresses (64 at most)  gw4 ADDR, gw6 ADDR  its gateways
 *     rate_in BITS, rate_out BITS  bandwidth caps in bits per second (0: none; see rate)
 *     ifb_if IFB    the ifb device that shapes what the container sends (with rate_out)
 *   1. In PID's namespace `lo` goes up, in every mode; mode none stops here: {"mode":"none"}
 *   2. Bridged: BR must exist (3) and be a bridge (2). A veth host_if here is a stale one and
 *      is deleted (its peer with it); a link host_if of another kind: 2.
 *   3. ONE RTM_NEWLINK makes the pair: host_if here (bridged: IFLA_MASTER = BR), its peer
 *      (VETH_INFO_PEER) peer_if with MAC straight inside PID's namespace (IFLA_NET_NS_FD).
 *      From here on a failure deletes host_if again before the exit.
 *   4. 0 to .../conf/HOST_IF/accept_ra. Bridged: the port neither learns (a tenant's frames
 *      never teach the bridge a MAC, whatever their source, link-local group frames such as
 *      LLDP included, which bypass netfilter) nor gets unknown unicast flooded to it, and its
 *      MAC is a static fdb entry on it. host_if up. Routed: host_if gets 169.254.0.1/32 and
 *      fe80::1/64 (nodad; skipped with a warning if neither the host nor the spec has IPv6),
 *      each addr a host route (/32, /128) `dev host_if scope link proto static` (replace).
 *      The rate caps, if any, are set on host_if (and IFB) before host_if goes up.
 *   5. --configure-guest (a network for a running container, whose own scripts will not run
 *      again): inside, peer_if up, each addr added (nodad; present is fine), default routes
 *      replaced: via gw4, onlink unless gw4 is in an IPv4 addr's subnet (169.254.0.1 never
 *      is); via gw6, onlink unless link-local (fe80::/10) or in an IPv6 addr's subnet.
 *   {"mode":"bridged"|"routed","host_if":"...","peer_if":"...","ifindex":N}  (host_if's)
 * down: delete the veth NAME here (its peer with it), and the ifb device IFB if given;
 *   missing is fine, another kind: 2.  {"host_if":"NAME","deleted":true|false}
 * addr: in PID's namespace, add (nodad) or delete CIDR on NAME (NAME missing: 3).
 * route: here, add (create or replace; scope link, proto static) or delete the route to CIDR
 *   on NAME. neigh-proxy: here, add or delete the proxy neighbour (NTF_PROXY) ADDR on NAME,
 *   like `ip neigh add|del proxy ADDR dev NAME`; IPv6 add: 1 to .../NAME/proxy_ndp too. For
 *   these two a missing NAME is 3 when adding, success when deleting.
 *   All three are idempotent: adding what is there or deleting what is not is success
 *   (route and neigh-proxy add always say changed: the kernel does not tell).
 *   {"dev":"NAME","action":"add"|"del","addr"|"route":"CIDR"|"ADDR","changed":true|false}
 * gateway: in PID's namespace, replace the default route of GW's family by one via GW on NAME
 *   (RTNH_F_ONLINK with --onlink).  {"dev":"NAME","gateway":"GW","onlink":true|false}
 * rate: the caps of a running container, on its host's end NAME (missing: 3): what it may
 *   receive (--in) and send (--out, through the ifb device IFB, made or deleted to suit), in
 *   bits per second, 8000..100000000000 or 0 for none (net-rate.c says how).
 *   {"host_if":"NAME","in":BITS,"out":BITS}
 *
 * A container's namespace is reached through a netlink socket made inside it (setns in,
 * socket(), setns back), so this process and its /proc/sys writes stay in the host's.
 * net-spec.c parses argv and the spec file; netlink.c talks rtnetlink; net-rate.c sets the
 * rate caps.
 */
#define _GNU_SOURCE
#include "common.h"
#include "net-spec.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define CONF_V6 "/proc/sys/net/ipv6/conf"

static int g_host = -1, g_host_ns = -1; /* our netlink socket, our network namespace */
/* The veth `up` made (if name): a failure deletes it again, by index once known (and an ifb
 * device rate_set made, by its index: rate_new_ifb). */
static struct {
	const char *name;
	int index;
} g_rollback;

/* ---- links ---- */

/* Delete the veth name here (with its peer) if there is one; another kind of link: 2. */
static bool del_veth(const char *name)
{
	struct link l;
	int r;

	if (!find_link(g_host, name, &l))
		return false;
	if (strcmp(l.kind, "veth") != 0)
		die_code(VPS_EUSAGE, "%s exists and is not a veth", name);
	if ((r = link_del(g_host, l.index, name)) < 0 && r != -ENODEV)
		nl_fail(r, "delete %s", name);
	return r == 0;
}

/* A bridge (nsfd < 0: c->name with c->mac) or a veth (c->host_if, enslaved to master if not
 * 0; its peer c->peer_if with c->mac made in the namespace nsfd); MTU c->mtu. */
static int create_link(const struct cfg *c, int nsfd, int master)
{
	struct ifinfomsg peer = { .ifi_family = AF_UNSPEC };
	struct rtattr *info, *data, *nest;
	struct msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	addattr_str(&m, IFLA_IFNAME, nsfd < 0 ? c->name : c->host_if);
	if (c->mtu)
		addattr_u32(&m, IFLA_MTU, c->mtu);
	if (master)
		addattr_u32(&m, IFLA_MASTER, (uint32_t)master);
	if (nsfd < 0)
		addattr(&m, IFLA_ADDRESS, c->mac, 6);
	info = addattr(&m, IFLA_LINKINFO, NULL, 0);
	addattr_str(&m, IFLA_INFO_KIND, nsfd < 0 ? "bridge" : "veth");
	if (nsfd >= 0) {
		data = addattr(&m, IFLA_INFO_DATA, NULL, 0);
		nest = addattr(&m, VETH_INFO_PEER, NULL, 0);
		msg_put(&m, &peer, sizeof(peer));
		addattr_str(&m, IFLA_IFNAME, c->peer_if);
		addattr(&m, IFLA_ADDRESS, c->mac, 6);
		if (c->mtu)
			addattr_u32(&m, IFLA_MTU, c->mtu);
		addattr_u32(&m, IFLA_NET_NS_FD, (uint32_t)nsfd);
		nest_end(&m, nest);
		nest_end(&m, data);
	}
	nest_end(&m, info);
	return nl_talk(g_host, &m, NULL, NULL);
}

/* A container's bridge port: no learning, no unknown-unicast flooding (IFLA_PROTINFO of an
 * AF_BRIDGE RTM_SETLINK, as `bridge link set ... learning off flood off`), and its MAC a
 * static fdb entry on it (`bridge fdb add MAC dev PORT master static`). */
static void lock_port(int index, const char *dev, const unsigned char mac[6])
{
	struct rtattr *nest;
	struct msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_SETLINK, 0, sizeof(*ifi));
	struct ndmsg *nd;
	uint8_t off = 0;
	int r;

	ifi->ifi_family = AF_BRIDGE;
	ifi->ifi_index = index;
	nest = addattr(&m, IFLA_PROTINFO | NLA_F_NESTED, NULL, 0);
	addattr(&m, IFLA_BRPORT_LEARNING, &off, 1);
	addattr(&m, IFLA_BRPORT_UNICAST_FLOOD, &off, 1);
	nest_end(&m, nest);
	if ((r = nl_talk(g_host, &m, NULL, NULL)) < 0)
		nl_fail(r, "turn learning and flooding off on bridge port %s", dev);
	nd = msg_init(&m, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, sizeof(*nd));
	nd->ndm_family = AF_BRIDGE;
	nd->ndm_ifindex = index;
	nd->ndm_state = NUD_NOARP; /* static (NUD_PERMANENT would make it the bridge's own) */
	nd->ndm_flags = NTF_MASTER;
	addattr(&m, NDA_LLADDR, mac, 6);
	if ((r = nl_talk(g_host, &m, NULL, NULL)) < 0)
		nl_fail(r, "static fdb entry for %s", dev);
}

/* ---- addresses, routes, proxy neighbours ---- */

static int addr_msg(int s, uint16_t type, int index, const struct ipaddr *a)
{
	struct msg m;
	struct ifaddrmsg *ifa = msg_init(
		&m, type, type == RTM_NEWADDR ? NLM_F_CREATE | NLM_F_EXCL : 0, sizeof(*ifa));

	ifa->ifa_family = (unsigned char)a->family;
	ifa->ifa_prefixlen = (unsigned char)a->plen;
	ifa->ifa_index = (unsigned)index;
	if (a->family == AF_INET6 && type == RTM_NEWADDR)
		ifa->ifa_flags = IFA_F_NODAD;
	addattr(&m, IFA_LOCAL, a->b, ALEN(a->family));
	addattr(&m, IFA_ADDRESS, a->b, ALEN(a->family));
	return nl_talk(s, &m, NULL, NULL);
}

/* Add a to dev (one there already is fine); dies on failure. */
static void addr_add(int s, int index, const char *dev, const struct ipaddr *a)
{
	char ip[INET6_ADDRSTRLEN];
	int r = addr_msg(s, RTM_NEWADDR, index, a);

	if (r < 0 && r != -EEXIST)
		nl_fail(r, "add %s/%u to %s", inet_ntop(a->family, a->b, ip, sizeof(ip)), a->plen,
			dev);
}

/* RTM_NEWROUTE (created or replaced) or RTM_DELROUTE in the main table: to dst (NULL: the
 * default route) via gw (NULL: on the link) out of oif. */
static int route_msg(int s, uint16_t type, int family, const struct ipaddr *dst,
		     const struct ipaddr *gw, int oif, bool onlink)
{
	struct msg m;
	struct rtmsg *rt = msg_init(
		&m, type, type == RTM_NEWROUTE ? NLM_F_CREATE | NLM_F_REPLACE : 0, sizeof(*rt));

	rt->rtm_family = (unsigned char)family;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_type = RTN_UNICAST;
	rt->rtm_dst_len = dst ? (unsigned char)dst->plen : 0;
	rt->rtm_scope = RT_SCOPE_NOWHERE; /* deleting: any scope, any protocol */
	if (type == RTM_NEWROUTE) {
		rt->rtm_protocol = RTPROT_STATIC;
		rt->rtm_scope = family == AF_INET && !gw ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	}
	rt->rtm_flags = onlink ? RTNH_F_ONLINK : 0;
	if (dst)
		addattr(&m, RTA_DST, dst->b, ALEN(family));
	if (gw)
		addattr(&m, RTA_GATEWAY, gw->b, ALEN(family));
	addattr_u32(&m, RTA_OIF, (uint32_t)oif);
	return nl_talk(s, &m, NULL, NULL);
}

static void set_default(int s, int index, const char *dev, const struct ipaddr *gw, bool onlink)
{
	char ip[INET6_ADDRSTRLEN];
	int r = route_msg(s, RTM_NEWROUTE, gw->family, NULL, gw, index, onlink);

	if (r < 0)
		nl_fail(r, "default route via %s dev %s%s",
			inet_ntop(gw->family, gw->b, ip, sizeof(ip)), dev, onlink ? " onlink" : "");
}

static int neigh_msg(int s, uint16_t type, int index, const struct ipaddr *a)
{
	struct msg m;
	struct ndmsg *nd = msg_init(
		&m, type, type == RTM_NEWNEIGH ? NLM_F_CREATE | NLM_F_REPLACE : 0, sizeof(*nd));

	nd->ndm_family = (unsigned char)a->family;
	nd->ndm_ifindex = index;
	nd->ndm_state = NUD_PERMANENT;
	nd->ndm_flags = NTF_PROXY;
	addattr(&m, NDA_DST, a->b, ALEN(a->family));
	return nl_talk(s, &m, NULL, NULL);
}

/* ---- namespaces, /proc/sys ---- */

/* Open PID's network namespace (not ours) and a netlink socket inside it; the ns fd. */
static int open_guest(pid_t pid, int *guest)
{
	char path[64];
	struct stat ours, theirs;
	int ns, r;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0)
		die_code_with_error(errno == ENOENT || errno == ESRCH ? VPS_ENOTFOUND : VPS_EFAIL,
				    "process %d: open %s", (int)pid, path);
	if (fstat(ns, &theirs) < 0 || fstat(g_host_ns, &ours) < 0)
		die_with_error("fstat a network namespace");
	if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev)
		die_code(VPS_EUSAGE, "process %d is in the host's network namespace", (int)pid);
	if (setns(ns, CLONE_NEWNET) < 0)
		die_with_error("enter the network namespace of process %d", (int)pid);
	r = *guest = nl_open();
	if (setns(g_host_ns, CLONE_NEWNET) < 0)
		die_with_error("return to the host's network namespace");
	if (r < 0)
		nl_fail(r, "netlink socket for process %d", (int)pid);
	return ns;
}

/* Write val to /proc/sys/net/ipv6/conf/DEV/KEY (in the host's namespace). 0 or -errno. */
static int set_conf6(const char *dev, const char *key, const char *val)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "%s/%s", dev, key);
	cleanup_fd int d = open(CONF_V6, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return d < 0 ? -errno : write_file_at(d, rel, val);
}

static void no_accept_ra(const char *dev)
{
	int r = set_conf6(dev, "accept_ra", "0");

	if (r < 0 && r != -ENOENT) /* ENOENT: no IPv6, nothing to accept */
		die_code(VPS_EFAIL, "write %s/%s/accept_ra: %s", CONF_V6, dev, strerror(-r));
}

/* ---- commands ---- */

static void rollback(int code __attribute__((unused)), const char *msg __attribute__((unused)))
{
	int r;

	if (rate_new_ifb && (r = link_del(g_host, rate_new_ifb, NULL)) < 0 && r != -ENODEV)
		warn("roll back: delete the ifb device made: %s", strerror(-r));
	if (!g_rollback.name)
		return;
	r = link_del(g_host, g_rollback.index, g_rollback.name);
	if (r < 0 && r != -ENODEV)
		warn("roll back: delete %s: %s", g_rollback.name, strerror(-r));
}

/* Routed: the host's end answers as 169.254.0.1 and fe80::1; each addr is routed to it. */
static void routed_host_side(const struct cfg *c, int index)
{
	static const struct ipaddr ll4 = { AF_INET, 32, { 169, 254, 0, 1 } };
	static const struct ipaddr ll6 = { AF_INET6, 64, { 0xfe, 0x80, [15] = 1 } };
	bool v6 = c->gw6.family != 0;
	int r;

	addr_add(g_host, index, c->host_if, &ll4);
	for (int i = 0; i < c->n_addrs; i++)
		v6 |= c->addrs[i].family == AF_INET6;
	r = addr_msg(g_host, RTM_NEWADDR, index, &ll6);
	if (r < 0 && r != -EEXIST) {
		if (v6 || (r != -EAFNOSUPPORT && r != -EACCES && r != -EOPNOTSUPP))
			nl_fail(r, "add fe80::1/64 to %s", c->host_if);
		warn("no IPv6 on %s (%s): fe80::1 skipped", c->host_if, strerror(-r));
	}
	for (int i = 0; i < c->n_addrs; i++) {
		struct ipaddr dst = c->addrs[i];
		char ip[INET6_ADDRSTRLEN];
		dst.plen = ALEN(dst.family) * 8;
		r = route_msg(g_host, RTM_NEWROUTE, dst.family, &dst, NULL, index, false);
		if (r < 0)
			nl_fail(r, "route %s dev %s", inet_ntop(dst.family, dst.b, ip, sizeof(ip)),
				c->host_if);
	}
}

static void configure_guest(int guest, const struct cfg *c)
{
	const struct ipaddr *gw6 = &c->gw6;
	struct link l;

	if (!find_link(guest, c->peer_if, &l))
		die_code(VPS_ENOTFOUND, "%s is missing in the container", c->peer_if);
	link_up(guest, l.index, c->peer_if);
	for (int i = 0; i < c->n_addrs; i++)
		addr_add(guest, l.index, c->peer_if, &c->addrs[i]);
	if (c->gw4.family)
		set_default(guest, l.index, c->peer_if, &c->gw4,
			    !in_any_subnet(c->addrs, c->n_addrs, &c->gw4));
	if (gw6->family)
		set_default(guest, l.index, c->peer_if, gw6,
			    !(gw6->b[0] == 0xfe && (gw6->b[1] & 0xc0) == 0x80) &&
				    !in_any_subnet(c->addrs, c->n_addrs, gw6));
}

static void cmd_up(struct cfg *c)
{
	struct link l, br = { 0 };
	int guest, ns, r;

	read_spec(c);
	ns = open_guest(c->pid, &guest);
	if (!find_link(guest, "lo", &l))
		die_code(VPS_ENOTFOUND, "no lo in the network namespace of process %d",
			 (int)c->pid);
	link_up(guest, l.index, "lo");
	if (c->mode == MODE_NONE) {
		printf("{\"mode\":\"none\"}\n");
		return;
	}
	if (c->mode == MODE_BRIDGED && !find_link(g_host, c->bridge, &br))
		die_code(VPS_ENOTFOUND, "bridge %s does not exist", c->bridge);
	if (c->mode == MODE_BRIDGED && strcmp(br.kind, "bridge") != 0)
		die_code(VPS_EUSAGE, "%s is not a bridge", c->bridge);
	del_veth(c->host_if); /* a stale one */
	if ((r = create_link(c, ns, br.index)) < 0)
		nl_fail(r, "create veth %s (peer %s)", c->host_if, c->peer_if);
	g_rollback.name = c->host_if;
	if (!find_link(g_host, c->host_if, &l))
		die_code(VPS_EFAIL, "%s vanished after its creation", c->host_if);
	g_rollback.index = l.index;
	no_accept_ra(c->host_if);
	if (c->mode == MODE_BRIDGED)
		lock_port(l.index, c->host_if, c->mac);
	if (c->rate_in || c->rate_out) {
		rate_set(g_host, l.index, c->host_if, c->ifb, c->rate_in, c->rate_out);
	} else if (c->ifb) {
		ifb_del(g_host, c->ifb); /* a cap the last boot had */
	}
	link_up(g_host, l.index, c->host_if);
	if (c->mode == MODE_ROUTED)
		routed_host_side(c, l.index);
	if (c->configure_guest)
		configure_guest(guest, c);
	g_rollback.name = NULL;
	rate_new_ifb = 0;
	printf("{\"mode\":\"%s\",\"host_if\":\"%s\",\"peer_if\":\"%s\",\"ifindex\":%d}\n",
	       mode_names[c->mode], c->host_if, c->peer_if, l.index);
}

static void cmd_bridge(struct cfg *c)
{
	bool created = false;
	struct link l;
	int r;

	if (!find_link(g_host, c->name, &l)) {
		r = create_link(c, -1, 0);
		if (r < 0 && r != -EEXIST) /* EEXIST: made meanwhile, checked below */
			nl_fail(r, "create bridge %s", c->name);
		created = r == 0;
		if (!find_link(g_host, c->name, &l))
			die_code(VPS_EFAIL, "%s vanished after its creation", c->name);
	}
	if (strcmp(l.kind, "bridge") != 0)
		die_code(VPS_EUSAGE, "%s exists and is not a bridge", c->name);
	no_accept_ra(c->name);
	link_up(g_host, l.index, c->name);
	for (int i = 0; i < c->n_addrs; i++) {
		if (c->addrs[i].family == AF_INET6 && access("/proc/sys/net/ipv6", F_OK) < 0) {
			fprintf(stderr, "vps-net: warning: no IPv6 here: %s gets no IPv6 address\n",
				c->name);
			continue;
		}
		addr_add(g_host, l.index, c->name, &c->addrs[i]);
	}
	printf("{\"bridge\":\"%s\",\"created\":%s,\"ifindex\":%d}\n", c->name,
	       created ? "true" : "false", l.index);
}

static void cmd_down(struct cfg *c)
{
	bool deleted = del_veth(c->host_if);

	if (c->ifb)
		ifb_del(g_host, c->ifb);

	printf("{\"host_if\":\"%s\",\"deleted\":%s}\n", c->host_if, deleted ? "true" : "false");
}

static void cmd_rate(struct cfg *c)
{
	struct link l;

	if (!find_link(g_host, c->host_if, &l))
		die_code(VPS_ENOTFOUND, "device %s does not exist", c->host_if);
	if (strcmp(l.kind, "veth") != 0)
		die_code(VPS_EUSAGE, "%s is not a veth", c->host_if);
	rate_set(g_host, l.index, c->host_if, c->ifb, c->rate_in, c->rate_out);
	printf("{\"host_if\":\"%s\",\"in\":%llu,\"out\":%llu}\n", c->host_if,
	       (unsigned long long)c->rate_in, (unsigned long long)c->rate_out);
}

/* addr, route, neigh-proxy: add or delete one address, route or proxy entry; gateway. */
static void cmd_change(struct cfg *c)
{
	static const unsigned char zero[16];
	char t = c->cmd[0]; /* 'a'ddr, 'r'oute, 'n'eigh-proxy, 'g'ateway */
	const char *arg = c->pos[c->n_pos - 1];
	bool add = t == 'g' || strcmp(c->pos[0], "add") == 0, cidr = t == 'a' || t == 'r';
	bool changed = false;
	int guest, s = g_host;
	struct ipaddr a;
	struct link l;
	int r = 0;

	if (!add && strcmp(c->pos[0], "del") != 0)
		die_code(VPS_EUSAGE, "%s: the action is add or del, not %.16s", c->cmd, c->pos[0]);
	if (!parse_ip(arg, cidr, &a))
		die_code(VPS_EUSAGE, "%s: not a unicast %s: %.64s", c->cmd,
			 cidr ? "CIDR" : "address", arg);
	if (t == 'r' && bits_differ(a.b, zero, a.plen, ALEN(a.family) * 8))
		die_code(VPS_EUSAGE, "route: %s has bits set past its prefix", arg);
	cleanup_fd int ns = c->pid ? open_guest(c->pid, &guest) : -1;
	if (c->pid)
		s = guest;
	if (!find_link(s, c->name, &l)) {
		if (add || c->pid)
			die_code(VPS_ENOTFOUND, "device %s does not exist%s", c->name,
				 c->pid ? " in the container" : "");
	} else if (t == 'g') {
		set_default(s, l.index, c->name, &a, c->onlink);
	} else {
		if (t == 'a')
			r = addr_msg(s, add ? RTM_NEWADDR : RTM_DELADDR, l.index, &a);
		else if (t == 'r')
			r = route_msg(s, add ? RTM_NEWROUTE : RTM_DELROUTE, a.family, &a, NULL,
				      l.index, false);
		else
			r = neigh_msg(s, add ? RTM_NEWNEIGH : RTM_DELNEIGH, l.index, &a);
		changed = r == 0;
		if (r < 0 &&
		    !(add ? r == -EEXIST : r == -EADDRNOTAVAIL || r == -ESRCH || r == -ENOENT))
			nl_fail(r, "%s %s %s dev %s", c->cmd, c->pos[0], arg, c->name);
	}
	if (t == 'n' && add && a.family == AF_INET6 && (r = set_conf6(c->name, "proxy_ndp", "1")))
		die_code(r == -ENOENT ? VPS_EHOST : VPS_EFAIL, "write %s/%s/proxy_ndp: %s", CONF_V6,
			 c->name, strerror(-r));
	if (t == 'g')
		printf("{\"dev\":\"%s\",\"gateway\":\"%s\",\"onlink\":%s}\n", c->name, arg,
		       c->onlink ? "true" : "false");
	else
		printf("{\"dev\":\"%s\",\"action\":\"%s\",\"%s\":\"%s\",\"changed\":%s}\n", c->name,
		       c->pos[0], t == 'r' ? "route" : "addr", arg, changed ? "true" : "false");
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name, *allowed, *required;
		int npos;
		void (*run)(struct cfg *c);
	} cmds[] = {
		{ "bridge", "--name --mac --addr --mtu", "--name --mac", 0, cmd_bridge },
		{ "up", "--pid --spec --configure-guest", "--pid --spec", 0, cmd_up },
		{ "down", "--host-if --ifb", "--host-if", 0, cmd_down },
		{ "addr", "--pid --dev", "--pid --dev", 2, cmd_change },
		{ "route", "--dev", "--dev", 2, cmd_change },
		{ "neigh-proxy", "--dev", "--dev", 2, cmd_change },
		{ "gateway", "--pid --dev --onlink", "--pid --dev", 1, cmd_change },
		{ "rate", "--host-if --ifb --in --out", "--host-if --ifb --in --out", 0, cmd_rate },
	};
	static struct cfg c;
	int fd;

	prog_name = "vps-net";
	while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
		; /* later fds must never be stdin, stdout or stderr */
	if (fd > 2)
		close(fd);
	c.cmd = argc > 1 ? argv[1] : "";
	for (size_t k = 0; k < N_ELEMS(cmds); k++) {
		if (strcmp(c.cmd, cmds[k].name) != 0)
			continue;
		parse_args(argc, argv, cmds[k].allowed, cmds[k].required, cmds[k].npos, &c);
		if ((g_host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
			die_errno_mapped("open /proc/self/ns/net");
		if ((g_host = nl_open()) < 0)
			nl_fail(g_host, "netlink socket");
		set_die_sink(rollback);
		cmds[k].run(&c);
		if (fflush(stdout) != 0 || ferror(stdout))
			die_with_error("write the result");
		return 0;
	}
	die_code(VPS_EUSAGE,
		 "unknown command '%.64s': bridge, up, down, addr, route, neigh-proxy, "
		 "gateway or rate",
		 c.cmd);
}
