/* net-spec.h — vps-net's argv and spec file, and the values in them (net-spec.c): what
 * vps-net.c's commands get, checked (the rules are at the top of vps-net.c). */
#ifndef VPSCTL_NET_SPEC_H
#define VPSCTL_NET_SPEC_H

#include "common.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define MAX_ADDRS               64
#define SPEC_MAX                (64 * 1024)
#define N_ELEMS(a)              (sizeof(a) / sizeof((a)[0]))
#define ALEN(fam)               ((fam) == AF_INET ? 4u : 16u) /* address bytes */

enum mode { MODE_NONE, MODE_BRIDGED, MODE_ROUTED };
extern const char *const mode_names[3]; /* by enum mode */

struct ipaddr {
	int family; /* AF_INET, AF_INET6; 0: none */
	unsigned plen;
	unsigned char b[16];
};

/* Everything argv and the spec file say. */
struct cfg {
	const char *cmd, *name, *host_if, *peer_if, *bridge, *ifb, *spec, *pos[2];
	int n_pos, n_addrs, mode; /* mode: -1 until given */
	unsigned char mac[6];
	unsigned mtu, seen; /* seen: bits of keys[] */
	uint64_t rate_in, rate_out; /* bits per second, 0: no cap */
	pid_t pid;
	bool has_mac, configure_guest, onlink;
	struct ipaddr addrs[MAX_ADDRS], gw4, gw6;
};

/* ---- values: true if s is one (and *out set) ---- */
/* [A-Za-z0-9_.-]{1,15}, not ".", "..", "all", "default" */
bool valid_ifname(const char *s);
/* XX:XX:XX:XX:XX:XX, unicast, not zero */
bool parse_mac(const char *s, unsigned char mac[6]);
/* plain decimal lo..hi, no leading 0 */
bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);
/* A rate in bits per second: 0, or RATE_MIN..RATE_MAX, in plain decimal digits. */
bool parse_rate(const char *s, uint64_t *out);
/* Do x and y differ in a bit of [from, to)? */
bool bits_differ(const unsigned char *x, const unsigned char *y, unsigned from, unsigned to);
/* A unicast IPv4 or IPv6 address, with "/N" (N >= 1) if with_prefix, else without. */
bool parse_ip(const char *s, bool with_prefix, struct ipaddr *a);
/* Is a in the subnet of one of addrs? */
bool in_any_subnet(const struct ipaddr *addrs, int n, const struct ipaddr *a);

/* ---- argv and the spec file: each dies with exit 2 on a bad value ---- */
/* argv[2..] into c: the options of allowed (space-separated), those of required, and npos
 * positional arguments. c->cmd is set by the caller. */
void parse_args(int argc, char **argv, const char *allowed, const char *required, int npos,
		struct cfg *c);
/* c->spec (a regular file of root's, not group/other-writable, SPEC_MAX bytes at most; not
 * found: 3) into c, through parse_spec. */
void read_spec(struct cfg *c);
/* The spec's text (changed in place; path names it in messages) into c. */
void parse_spec(struct cfg *c, char *text, const char *path);

#endif
