/* netlink.h — vps-net's rtnetlink parts (no libmnl): requests built in one buffer, sent on a
 * socket connected to the kernel, answered by an ack (netlink.c); and the traffic control
 * that caps a container's bandwidth on its veth (net-rate.c). */
#ifndef VPSCTL_NETLINK_H
#define VPSCTL_NETLINK_H

#include "common.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define addattr_u32(m, type, v) addattr(m, type, &(uint32_t){ (uint32_t)(v) }, 4)
#define addattr_str(m, type, s) addattr(m, type, s, strlen(s) + 1)

struct msg {
	struct nlmsghdr h;
	char data[4096];
};

/* The exit code (exit-codes.h) for a kernel errno. */
int net_code(int err);
/* Die for the -errno r: "what: strerror", with the exit code net_code() gives. */
noreturn_fn printf_fn(2, 3) void nl_fail(int r, const char *fmt, ...);
/* A request (always acked) with a family header of hdrlen bytes, which is returned. */
void *msg_init(struct msg *m, uint16_t type, int flags, size_t hdrlen);
/* Append len bytes (zeroes if data is NULL), aligned. */
void *msg_put(struct msg *m, const void *data, size_t len);
/* An attribute; with len 0 it opens a nest, closed by nest_end(). */
struct rtattr *addattr(struct msg *m, unsigned short type, const void *data, size_t len);
void nest_end(struct msg *m, struct rtattr *nest);
/* The next attribute in [*p, end), or NULL at the end (or at garbage). */
const struct rtattr *next_attr(const char **p, const char *end);
/* A NETLINK_ROUTE socket in our current network namespace, connected to the kernel, or
 * -errno. */
int nl_open(void);
/* Send m, read until its ack (or NLMSG_DONE) and hand every other reply to it to cb.
 * 0 or -errno (the kernel's). */
int nl_talk(int s, struct msg *m, void (*cb)(const struct nlmsghdr *, void *), void *arg);

struct link {
	int index;
	char kind[16]; /* IFLA_INFO_KIND, "" for none */
};

/* Look the link name up: true, false if there is none; dies on other errors. */
bool find_link(int s, const char *name, struct link *l);
void link_up(int s, int index, const char *name);
/* Delete by index, or by name if index is 0: 0 or -errno. */
int link_del(int s, int index, const char *name);

/* Rates in bits per second; RATE_MIN..RATE_MAX, or 0 for no cap. */
#define RATE_MIN 8000ULL	  /* 8 kbit/s */
#define RATE_MAX 100000000000ULL /* 100 Gbit/s */

/* Caps what the container behind the host's end `dev` (index) may receive (in: shaped as it
 * leaves dev) and send (out: shaped on the ifb device `ifb`, made on need, that what arrives
 * on dev is sent through). 0 removes that cap (and for out, the ifb). Dies on an error. */
void rate_set(int s, int index, const char *dev, const char *ifb, uint64_t in_bps,
	      uint64_t out_bps);
/* Delete the ifb device of that name if there is one (another kind of link: 2). */
void ifb_del(int s, const char *ifb);
/* The index of an ifb device rate_set made in this process (0: none), for a rollback. */
extern int rate_new_ifb;

#endif
