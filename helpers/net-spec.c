/* net-spec.c — vps-net's argv and spec file (see net-spec.h; the keys and the rules are at
 * the top of vps-net.c): every value checked before anything is touched. */
#define _GNU_SOURCE
#include "net-spec.h"
#include "netlink.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

const char *const mode_names[3] = { "none", "bridged", "routed" };

enum kind { K_IFNAME, K_MAC, K_MTU, K_CIDR, K_GW4, K_GW6, K_MODE, K_PID, K_PATH, K_RATE, K_FLAG };
/* An argument (with a value but for K_FLAG) and/or a key of the spec file. */
static const struct key {
	const char *arg, *line;
	enum kind kind;
	size_t off; /* of the field in struct cfg */
} keys[] = {
	{ "--name", NULL, K_IFNAME, offsetof(struct cfg, name) },
	{ "--dev", NULL, K_IFNAME, offsetof(struct cfg, name) },
	{ "--host-if", "host_if", K_IFNAME, offsetof(struct cfg, host_if) },
	{ NULL, "peer_if", K_IFNAME, offsetof(struct cfg, peer_if) },
	{ NULL, "bridge", K_IFNAME, offsetof(struct cfg, bridge) },
	{ "--ifb", "ifb_if", K_IFNAME, offsetof(struct cfg, ifb) },
	{ "--mac", "mac", K_MAC, 0 },
	{ "--mtu", "mtu", K_MTU, 0 },
	{ "--addr", "addr", K_CIDR, 0 },
	{ NULL, "gw4", K_GW4, offsetof(struct cfg, gw4) },
	{ NULL, "gw6", K_GW6, offsetof(struct cfg, gw6) },
	{ NULL, "mode", K_MODE, 0 },
	{ "--pid", NULL, K_PID, 0 },
	{ "--spec", NULL, K_PATH, 0 },
	{ "--configure-guest", NULL, K_FLAG, offsetof(struct cfg, configure_guest) },
	{ "--onlink", NULL, K_FLAG, offsetof(struct cfg, onlink) },
	{ "--in", "rate_in", K_RATE, offsetof(struct cfg, rate_in) },
	{ "--out", "rate_out", K_RATE, offsetof(struct cfg, rate_out) },
};


/* ---- values ---- */

bool valid_ifname(const char *s)
{
	size_t n = strnlen(s, IFNAMSIZ);

	if (n == 0 || n >= IFNAMSIZ ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n)
		return false;
	return strcmp(s, ".") && strcmp(s, "..") && strcmp(s, "all") && strcmp(s, "default");
}

bool parse_mac(const char *s, unsigned char mac[6])
{
	unsigned char any = 0;

	if (strnlen(s, 18) != 17)
		return false;
	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	for (int i = 0; i < 6; i++)
		any |= mac[i] = (unsigned char)strtoul(s + 3 * i, NULL, 16);
	return any && !(mac[0] & 1);
}

bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	unsigned long v;

	if (!*s || (s[0] == '0' && s[1]) || strnlen(s, 7) > 6 ||
	    strspn(s, "0123456789") != strlen(s))
		return false;
	v = strtoul(s, NULL, 10);
	*out = (unsigned)v;
	return v >= lo && v <= hi;
}

/* A rate in bits per second: 0, or RATE_MIN..RATE_MAX, in plain decimal digits. */
bool parse_rate(const char *s, uint64_t *out)
{
	size_t n = strlen(s);

	if (!n || n > 12 || (s[0] == '0' && n > 1) || strspn(s, "0123456789") != n)
		return false;
	*out = strtoull(s, NULL, 10);
	return *out == 0 || (*out >= RATE_MIN && *out <= RATE_MAX);
}

/* Do x and y differ in a bit of [from, to)? */
bool bits_differ(const unsigned char *x, const unsigned char *y, unsigned from, unsigned to)
{
	for (unsigned i = from; i < to; i++)
		if ((x[i / 8] ^ y[i / 8]) & (0x80 >> (i % 8)))
			return true;
	return false;
}

/* A unicast IPv4 or IPv6 address, with "/N" (N >= 1) if with_prefix, else without. */
bool parse_ip(const char *s, bool with_prefix, struct ipaddr *a)
{
	static const unsigned char zero[16], lo6[16] = { [15] = 1 };
	char buf[INET6_ADDRSTRLEN + 8], *slash;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return false;
	if (!(slash = strchr(buf, '/')) != !with_prefix)
		return false;
	if (slash)
		*slash = '\0';
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, buf, a->b) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, a->b) == 1)
		a->family = AF_INET6;
	else
		return false;
	a->plen = ALEN(a->family) * 8;
	if ((slash && !parse_uint(slash + 1, 1, a->plen, &a->plen)) ||
	    memcmp(a->b, zero, ALEN(a->family)) == 0)
		return false;
	if (a->family == AF_INET)
		return a->b[0] != 127 && a->b[0] < 224;
	return a->b[0] != 0xff && memcmp(a->b, lo6, 16) != 0;
}

/* Is a in the subnet of one of addrs? */
bool in_any_subnet(const struct ipaddr *addrs, int n, const struct ipaddr *a)
{
	for (int i = 0; i < n; i++)
		if (addrs[i].family == a->family &&
		    !bits_differ(addrs[i].b, a->b, 0, addrs[i].plen))
			return true;
	return false;
}

/* ---- argv and the spec file ---- */

static const struct key *find_key(const char *name, bool arg)
{
	for (size_t i = 0; i < N_ELEMS(keys); i++) {
		const char *n = arg ? keys[i].arg : keys[i].line;
		if (n && strcmp(n, name) == 0)
			return &keys[i];
	}
	return NULL;
}

/* Store v for k in c: NULL, or what is wrong with v. A second time (but addr): an error. */
static const char *set_key(struct cfg *c, const struct key *k, const char *v)
{
	unsigned bit = 1u << (k - keys);
	char *field = (char *)c + k->off;
	struct ipaddr *a = (struct ipaddr *)field;

	if ((c->seen & bit) && k->kind != K_CIDR)
		return "is given twice";
	c->seen |= bit;
	switch (k->kind) {
	case K_IFNAME:
		*(const char **)field = v;
		return valid_ifname(v) ? NULL : "wants an interface name";
	case K_MAC:
		c->has_mac = parse_mac(v, c->mac);
		return c->has_mac ? NULL : "wants a unicast MAC XX:XX:XX:XX:XX:XX";
	case K_MTU:
		return parse_uint(v, 68, 65535, &c->mtu) ? NULL : "wants 68..65535";
	case K_CIDR:
		if (c->n_addrs == MAX_ADDRS)
			return "is given more than 64 times";
		return parse_ip(v, true, &c->addrs[c->n_addrs++]) ? NULL : "wants a unicast CIDR";
	case K_GW4:
	case K_GW6:
		if (parse_ip(v, false, a) && a->family == (k->kind == K_GW4 ? AF_INET : AF_INET6))
			return NULL;
		return k->kind == K_GW4 ? "wants an IPv4 address" : "wants an IPv6 address";
	case K_MODE:
		for (c->mode = 0; c->mode < (int)N_ELEMS(mode_names); c->mode++)
			if (strcmp(v, mode_names[c->mode]) == 0)
				return NULL;
		return "wants none, bridged or routed";
	case K_PID:
		return parse_pid(v, &c->pid) ? NULL : "wants a process id";
	case K_PATH:
		c->spec = v;
		return valid_abs_path(v) ? NULL : "wants an absolute path without '..'";
	case K_RATE:
		return parse_rate(v, (uint64_t *)field) ? NULL : "wants 0 or 8000..100000000000 bits/s";
	default:
		*(bool *)field = true;
		return NULL;
	}
}

/* Is w one of the space-separated words of list? */
static bool word_in(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; (p = strstr(p, w)); p++)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

void parse_args(int argc, char **argv, const char *allowed, const char *required, int npos,
		struct cfg *c)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *err;
		const struct key *k = find_key(a, true);
		if (a[0] != '-' && c->n_pos < npos) {
			c->pos[c->n_pos++] = a;
			continue;
		}
		if (!k || !word_in(allowed, a))
			die_code(VPS_EUSAGE, "%s: unexpected argument %.64s", c->cmd, a);
		if ((err = set_key(c, k, k->kind == K_FLAG ? "" : arg_value(argc, argv, &i))))
			die_code(VPS_EUSAGE, "%s %s: %.64s", a, err, argv[i]);
	}
	for (size_t k = 0; k < N_ELEMS(keys); k++)
		if (keys[k].arg && word_in(required, keys[k].arg) && !(c->seen & (1u << k)))
			die_code(VPS_EUSAGE, "%s: %s is required", c->cmd, keys[k].arg);
	if (c->n_pos != npos)
		die_code(VPS_EUSAGE, "%s wants %s", c->cmd, npos == 1 ? "GW" : "add|del ADDRESS");
}

void read_spec(struct cfg *c)
{
	static char buf[SPEC_MAX + 2];
	const char *path = c->spec;
	struct stat st;
	size_t len = 0;
	ssize_t n = 0;

	cleanup_fd int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		die_code_with_error(errno == ENOENT ? VPS_ENOTFOUND : VPS_EUSAGE, "open %s", path);
	if (fstat(fd, &st) < 0)
		die_with_error("fstat %s", path);
	if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		die_code(VPS_EUSAGE, "%s: not a regular file of root's, or group/other-writable",
			 path);
	while (len <= SPEC_MAX && (n = read(fd, buf + len, SPEC_MAX + 1 - len)) > 0)
		len += (size_t)n;
	if (n < 0)
		die_with_error("read %s", path);
	if (len > SPEC_MAX || memchr(buf, '\0', len))
		die_code(VPS_EUSAGE, "%s: larger than %d bytes, or holds a NUL", path, SPEC_MAX);
	buf[len] = '\0';
	parse_spec(c, buf, path);
}

void parse_spec(struct cfg *c, char *text, const char *path)
{
	int line = 0;

	c->mode = -1;
	c->peer_if = "eth0";
	for (char *p = text, *next, *key, *v, *end; p; p = next) {
		const struct key *k;
		const char *err;
		line++;
		if ((next = strchr(p, '\n')))
			*next++ = '\0';
		for (end = p + strlen(p); end > p && strchr(" \t\r", end[-1]); end--)
			end[-1] = '\0';
		key = p + strspn(p, " \t");
		if (!*key || *key == '#')
			continue;
		v = key + strcspn(key, " \t");
		if (*v)
			*v++ = '\0';
		v += strspn(v, " \t");
		k = find_key(key, false);
		err = !k ? "is not a key" : !*v ? "needs a value" : set_key(c, k, v);
		if (err)
			die_code(VPS_EUSAGE, "%s line %d: %.32s %s: %.64s", path, line, key, err,
				 v);
	}
	if (c->mode < 0 || (c->mode != MODE_NONE && (!c->host_if || !c->has_mac)) ||
	    (c->mode == MODE_BRIDGED && !c->bridge) || (c->rate_out && !c->ifb))
		die_code(VPS_EUSAGE,
			 "%s: mode is required; bridged, routed need host_if and mac, "
			 "bridged a bridge, rate_out an ifb_if",
			 path);
}
