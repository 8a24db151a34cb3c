/* netlink.c — rtnetlink requests for vps-net (see netlink.h): build a message, send it,
 * read the kernel's answers until its ack. */
#define _GNU_SOURCE
#include "netlink.h"

#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint32_t g_seq;

int net_code(int err)
{
	if (err == EOPNOTSUPP || err == EAFNOSUPPORT || err == EPROTONOSUPPORT)
		return VPS_EHOST;
	if (err == ENODEV || err == ENOENT || err == ESRCH)
		return VPS_ENOTFOUND;
	if (err == ENOMEM || err == ENOBUFS || err == ENOSPC || err == EMFILE || err == ENFILE)
		return VPS_ENORES;
	return VPS_EFAIL;
}

/* Die for the -errno r: "what: strerror", with the exit code net_code() gives. */
noreturn_fn printf_fn(2, 3) void nl_fail(int r, const char *fmt, ...)
{
	char what[VPS_ERRMSG_MAX / 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	die_code(net_code(-r), "%s: %s", what, strerror(-r));
}

/* A request (always acked) with a family header of hdrlen bytes, which is returned. */
void *msg_init(struct msg *m, uint16_t type, int flags, size_t hdrlen)
{
	memset(m, 0, sizeof(*m));
	m->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(hdrlen);
	m->h.nlmsg_type = type;
	m->h.nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
	return NLMSG_DATA(&m->h);
}

/* Append len bytes (zeroes if data is NULL), aligned. */
void *msg_put(struct msg *m, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(m->h.nlmsg_len);

	if (off + NLMSG_ALIGN(len) > sizeof(*m))
		die("netlink message too large");
	if (data)
		memcpy((char *)m + off, data, len);
	m->h.nlmsg_len = (uint32_t)(off + NLMSG_ALIGN(len));
	return (char *)m + off;
}

/* An attribute; with len 0 it opens a nest, closed by nest_end(). */
struct rtattr *addattr(struct msg *m, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = msg_put(m, NULL, RTA_LENGTH(len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	return rta;
}

void nest_end(struct msg *m, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)((char *)m + m->h.nlmsg_len - (char *)nest);
}

/* The next attribute in [*p, end), or NULL at the end (or at garbage). */
const struct rtattr *next_attr(const char **p, const char *end)
{
	const struct rtattr *a = (const struct rtattr *)*p;

	if (end - *p < (ptrdiff_t)sizeof(*a) || a->rta_len < sizeof(*a) || a->rta_len > end - *p)
		return NULL;
	*p += RTA_ALIGN(a->rta_len);
	return a;
}

/* A NETLINK_ROUTE socket in our current network namespace (bound at its first send), or
 * -errno. */
int nl_open(void)
{
	struct sockaddr_nl k = { .nl_family = AF_NETLINK }; /* nl_pid 0: the kernel */
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	/* connected to the kernel: unicasts from processes (root in a container, whose
	 * namespace a guest socket lives in) are refused before they reach our queue */
	if (connect(fd, (struct sockaddr *)&k, sizeof(k)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Send m, read until its ack (or NLMSG_DONE) and hand every other reply to it to cb.
 * 0 or -errno (the kernel's). */
int nl_talk(int s, struct msg *m, void (*cb)(const struct nlmsghdr *, void *), void *arg)
{
	static char buf[64 * 1024] __attribute__((aligned(8)));
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK }, from;
	socklen_t from_len;
	ssize_t n;

	m->h.nlmsg_seq = ++g_seq;
	n = sendto(s, m, m->h.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
	if (n < 0 || (size_t)n != m->h.nlmsg_len)
		return n < 0 ? -errno : -EIO;
	for (;;) {
		size_t off = 0;
		from_len = sizeof(from);
		n = recvfrom(s, buf, sizeof(buf), MSG_TRUNC, (struct sockaddr *)&from, &from_len);
		if (n < 0 || (size_t)n > sizeof(buf))
			return n < 0 ? -errno : -EMSGSIZE;
		if (from.nl_pid != 0)
			continue; /* not from the kernel */
		while (off + NLMSG_HDRLEN <= (size_t)n) {
			const struct nlmsghdr *h = (const struct nlmsghdr *)(buf + off);
			const struct nlmsgerr *e = NLMSG_DATA(h);
			if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > (size_t)n - off)
				return -EBADMSG;
			off += NLMSG_ALIGN(h->nlmsg_len);
			if (h->nlmsg_seq != g_seq)
				continue; /* a late answer to an earlier request */
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)) ? -EBADMSG
									       : e->error;
			if (cb)
				cb(h, arg);
		}
	}
}

static void link_cb(const struct nlmsghdr *h, void *arg)
{
	struct link *l = arg;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const char *p = (const char *)ifi + NLMSG_ALIGN(sizeof(*ifi)), *q, *qend;
	const char *end = (const char *)h + h->nlmsg_len;
	const struct rtattr *a, *b;

	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return;
	l->index = ifi->ifi_index;
	while ((a = next_attr(&p, end))) {
		if ((a->rta_type & NLA_TYPE_MASK) != IFLA_LINKINFO)
			continue;
		for (q = RTA_DATA(a), qend = (const char *)a + a->rta_len;
		     (b = next_attr(&q, qend));)
			if ((b->rta_type & NLA_TYPE_MASK) == IFLA_INFO_KIND)
				snprintf(l->kind, sizeof(l->kind), "%.*s", (int)RTA_PAYLOAD(b),
					 (const char *)RTA_DATA(b));
	}
}

/* Look the link name up: true, false if there is none; dies on other errors. */
bool find_link(int s, const char *name, struct link *l)
{
	struct msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_GETLINK, 0, sizeof(*ifi));
	int r;

	ifi->ifi_family = AF_UNSPEC;
	addattr_str(&m, IFLA_IFNAME, name);
	addattr_u32(&m, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	memset(l, 0, sizeof(*l));
	r = nl_talk(s, &m, link_cb, l);
	if (r == -ENODEV || (r == 0 && l->index <= 0))
		return false;
	if (r < 0)
		nl_fail(r, "look up %s", name);
	return true;
}

void link_up(int s, int index, const char *name)
{
	struct msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_NEWLINK, 0, sizeof(*ifi));
	int r;

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = ifi->ifi_change = IFF_UP;
	if ((r = nl_talk(s, &m, NULL, NULL)) < 0)
		nl_fail(r, "set %s up", name);
}

/* Delete by index, or by name if index is 0. */
int link_del(int s, int index, const char *name)
{
	struct msg m;
	struct ifinfomsg *ifi = msg_init(&m, RTM_DELLINK, 0, sizeof(*ifi));

	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	if (!index)
		addattr_str(&m, IFLA_IFNAME, name);
	return nl_talk(s, &m, NULL, NULL);
}
