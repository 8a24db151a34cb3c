/*
 * `make check`: vps-net's values, argv and spec text (net-spec.c), as TAP. Interface names,
 * MACs, MTUs, rates, addresses and prefixes, subnets; a spec file's keys into the config and
 * its refusals (exit 2 with the line), and argv per command.
 */
#define _GNU_SOURCE
#include "../net-spec.h"
#include "../netlink.h"
#include "tap.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGV 32

static void values(void)
{
	unsigned char mac[6];
	unsigned u = 0;
	uint64_t r = 1;

	ok(valid_ifname("vps101") && valid_ifname("vpsbr0") && valid_ifname("a.b_c-d") &&
		   valid_ifname("123456789012345"),
	   "valid_ifname: 1..15 of [A-Za-z0-9_.-]");
	ok(!valid_ifname("") && !valid_ifname("1234567890123456") && !valid_ifname("a b") &&
		   !valid_ifname("a/b") && !valid_ifname(".") && !valid_ifname("..") &&
		   !valid_ifname("all") && !valid_ifname("default"),
	   "valid_ifname: refuses empty, 16 bytes, space, /, . .. all default");
	ok(parse_mac("02:00:0a:Fe:00:01", mac) && mac[0] == 2 && mac[3] == 0xfe && mac[5] == 1,
	   "parse_mac: a local unicast MAC, either case");
	ok(!parse_mac("01:00:5e:00:00:01", mac) && !parse_mac("00:00:00:00:00:00", mac) &&
		   !parse_mac("02:00:0a:fe:00", mac) && !parse_mac("02-00-0a-fe-00-01", mac) &&
		   !parse_mac("02:00:0a:fe:00:0g", mac),
	   "parse_mac: refuses multicast, zero, short, dashes, non-hex");
	ok(parse_uint("68", 68, 65535, &u) && u == 68 && parse_uint("65535", 68, 65535, &u) &&
		   !parse_uint("67", 68, 65535, &u) && !parse_uint("65536", 68, 65535, &u) &&
		   !parse_uint("01500", 68, 65535, &u) && !parse_uint("", 68, 65535, &u) &&
		   !parse_uint("1500x", 68, 65535, &u) && !parse_uint("-1", 68, 65535, &u),
	   "parse_uint: an MTU 68..65535, no leading 0, no junk");
	ok(parse_rate("0", &r) && r == 0 && parse_rate("8000", &r) && r == RATE_MIN &&
		   parse_rate("100000000000", &r) && r == RATE_MAX &&
		   parse_rate("10000000", &r) && r == 10000000,
	   "parse_rate: 0 (none), 8000..100000000000 bits/s");
	ok(!parse_rate("7999", &r) && !parse_rate("100000000001", &r) && !parse_rate("", &r) &&
		   !parse_rate("010000", &r) && !parse_rate("10mbit", &r) && !parse_rate("-8000", &r) &&
		   !parse_rate("1000000000000", &r),
	   "parse_rate: refuses under 8 kbit, over 100 Gbit, empty, leading 0, units, sign");
}

static void addresses(void)
{
	struct ipaddr a, net[2];

	ok(parse_ip("10.0.0.5/24", true, &a) && a.family == AF_INET && a.plen == 24 &&
		   a.b[0] == 10 && a.b[3] == 5,
	   "parse_ip: IPv4 CIDR");
	ok(parse_ip("2001:db8::5/64", true, &a) && a.family == AF_INET6 && a.plen == 64 &&
		   a.b[0] == 0x20 && a.b[15] == 5,
	   "parse_ip: IPv6 CIDR");
	ok(parse_ip("192.0.2.1", false, &a) && a.plen == 32 && parse_ip("fe80::1", false, &a) &&
		   a.plen == 128,
	   "parse_ip: a plain address is a /32 or /128");
	ok(!parse_ip("10.0.0.5", true, &a) && !parse_ip("10.0.0.5/24", false, &a),
	   "parse_ip: /N exactly when asked for");
	ok(!parse_ip("10.0.0.5/0", true, &a) && !parse_ip("10.0.0.5/33", true, &a) &&
		   !parse_ip("2001:db8::/129", true, &a) && !parse_ip("10.0.0.5/024", true, &a),
	   "parse_ip: refuses /0, past the family's bits, a leading 0");
	ok(!parse_ip("0.0.0.0", false, &a) && !parse_ip("127.0.0.1", false, &a) &&
		   !parse_ip("224.0.0.1", false, &a) && !parse_ip("240.0.0.1", false, &a) &&
		   !parse_ip("::", false, &a) && !parse_ip("::1", false, &a) &&
		   !parse_ip("ff02::1", false, &a),
	   "parse_ip: refuses unspecified, loopback, multicast, class E");
	ok(!parse_ip("10.0.0", false, &a) && !parse_ip("host", false, &a) &&
		   !parse_ip("10.0.0.1 ", false, &a),
	   "parse_ip: refuses what is not an address");

	parse_ip("10.0.0.1/24", true, &net[0]);
	parse_ip("2001:db8::1/64", true, &net[1]);
	parse_ip("10.0.0.254", false, &a);
	bool in4 = in_any_subnet(net, 2, &a);
	parse_ip("10.0.1.1", false, &a);
	bool out4 = !in_any_subnet(net, 2, &a);
	parse_ip("2001:db8::ffff", false, &a);
	bool in6 = in_any_subnet(net, 2, &a);
	parse_ip("169.254.0.1", false, &a);
	ok(in4 && out4 && in6 && !in_any_subnet(net, 2, &a),
	   "in_any_subnet: by the prefix of each, per family");

	static const unsigned char zero[16];
	parse_ip("10.0.0.0/24", true, &a);
	bool clean = !bits_differ(a.b, zero, a.plen, 32);
	parse_ip("10.0.0.1/24", true, &a);
	ok(clean && bits_differ(a.b, zero, a.plen, 32), "bits_differ: a host bit past the prefix");
}

static struct cfg *spec(const char *text)
{
	struct cfg *c = calloc(1, sizeof(*c));
	char *copy = strdup(text);

	if (!c || !copy)
		abort();
	c->cmd = "up";
	parse_spec(c, copy, "/run/v/101/net.spec");
	return c;
}

static void spec_dies(const void *text)
{
	spec(text);
}

static void spec_file(void)
{
	struct cfg *c = spec("# made by vpsctl\n"
			     "mode bridged\n"
			     "host_if vps101\n"
			     "  mac 02:00:0a:00:00:05  \n"
			     "\n"
			     "bridge vpsbr0\n"
			     "mtu 1500\r\n"
			     "addr 10.0.0.5/24\n"
			     "addr\t2001:db8::5/64\n"
			     "gw4 10.0.0.1\n"
			     "gw6 fe80::1\n"
			     "rate_in 10000000\n"
			     "rate_out 2000000\n"
			     "ifb_if vpsi101");
	ok(c->mode == MODE_BRIDGED && strcmp(c->host_if, "vps101") == 0 &&
		   strcmp(c->peer_if, "eth0") == 0 && strcmp(c->bridge, "vpsbr0") == 0 && c->has_mac &&
		   c->mac[5] == 5 && c->mtu == 1500,
	   "spec: a bridged container; comments, blank lines, spaces, tabs and CR skipped; peer_if eth0");
	ok(c->n_addrs == 2 && c->addrs[0].family == AF_INET && c->addrs[1].family == AF_INET6 &&
		   c->gw4.family == AF_INET && c->gw6.family == AF_INET6,
	   "spec: addr given twice, gw4 and gw6");
	ok(c->rate_in == 10000000 && c->rate_out == 2000000 && strcmp(c->ifb, "vpsi101") == 0,
	   "spec: rate_in, rate_out with ifb_if");
	c = spec("mode none\n");
	ok(c->mode == MODE_NONE && !c->host_if, "spec: mode none needs nothing else");
	c = spec("mode routed\nhost_if vps7\nmac 02:00:00:00:00:07\npeer_if ens3\n");
	ok(c->mode == MODE_ROUTED && strcmp(c->peer_if, "ens3") == 0, "spec: routed, peer_if");

	dies(spec_dies, "mode bridged\nhost_if vps1\nmac 02:00:00:00:00:01\n", VPS_EUSAGE,
	     "bridged a bridge", "spec: bridged without bridge");
	dies(spec_dies, "host_if vps1\n", VPS_EUSAGE, "mode is required", "spec: no mode");
	dies(spec_dies, "mode routed\nhost_if vps1\nmac 02:00:00:00:00:01\nrate_out 8000\n",
	     VPS_EUSAGE, "rate_out an ifb_if", "spec: rate_out without ifb_if");
	dies(spec_dies, "mode none\nmode none\n", VPS_EUSAGE, "line 2: mode is given twice",
	     "spec: a key twice, with its line");
	dies(spec_dies, "mode none\n\nvlan 5\n", VPS_EUSAGE, "line 3: vlan is not a key",
	     "spec: an unknown key");
	dies(spec_dies, "mode\n", VPS_EUSAGE, "line 1: mode needs a value", "spec: a key alone");
	dies(spec_dies, "mode switched\n", VPS_EUSAGE, "wants none, bridged or routed",
	     "spec: an unknown mode");
	dies(spec_dies, "mode none\nrate_in 10mbit\n", VPS_EUSAGE, "wants 0 or 8000..100000000000",
	     "spec: a rate with a unit");
	dies(spec_dies, "mode none\ngw4 2001:db8::1\n", VPS_EUSAGE, "wants an IPv4 address",
	     "spec: gw4 of the other family");
	dies(spec_dies, "mode none\naddr 10.0.0.5\n", VPS_EUSAGE, "wants a unicast CIDR",
	     "spec: addr without its prefix");
	dies(spec_dies, "mode none\n--pid 5\n", VPS_EUSAGE, "is not a key",
	     "spec: an argv-only option is not a key");

	char many[80 * 70] = "mode none\n";
	for (int i = 0; i < 65; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "addr 10.0.%d.1/24\n", i);
	dies(spec_dies, many, VPS_EUSAGE, "more than 64 times", "spec: 65 addr");
}

struct argv_case {
	const char *allowed, *required;
	int npos;
	const char *const *args;
};

static struct cfg *args(const struct argv_case *k)
{
	static char *argv[MAX_ARGV];
	struct cfg *c = calloc(1, sizeof(*c));
	int argc = 0;

	if (!c)
		abort();
	for (size_t i = 0; k->args[i] && argc < MAX_ARGV - 1; i++)
		argv[argc++] = strdup(k->args[i]);
	argv[argc] = NULL;
	c->cmd = argv[1];
	parse_args(argc, argv, k->allowed, k->required, k->npos, c);
	return c;
}

static void args_dies(const void *k)
{
	args(k);
}

#define ARGS(...) ((const char *const[]){ "vps-net", __VA_ARGS__, NULL })
#define RATE "--host-if --ifb --in --out"
#define ADDR "--pid --dev"

static void argv_(void)
{
	struct cfg *c = args(&(struct argv_case){ RATE, RATE, 0,
				  ARGS("rate", "--host-if", "vps101", "--ifb", "vpsi101", "--in",
				       "10000000", "--out", "0") });
	ok(strcmp(c->host_if, "vps101") == 0 && strcmp(c->ifb, "vpsi101") == 0 &&
		   c->rate_in == 10000000 && c->rate_out == 0,
	   "argv: rate --host-if --ifb --in --out");
	c = args(&(struct argv_case){ ADDR, ADDR, 2,
				      ARGS("addr", "--pid", "42", "add", "--dev", "eth0",
					   "10.0.0.5/24") });
	ok(c->pid == 42 && strcmp(c->name, "eth0") == 0 && c->n_pos == 2 &&
		   strcmp(c->pos[0], "add") == 0 && strcmp(c->pos[1], "10.0.0.5/24") == 0,
	   "argv: addr --pid --dev add CIDR, positionals anywhere");
	c = args(&(struct argv_case){ "--name --mac --addr --mtu", "--name --mac", 0,
				      ARGS("bridge", "--name", "vpsbr0", "--mac",
					   "02:00:00:00:00:01", "--addr", "10.0.0.1/24", "--addr",
					   "fd00::1/64") });
	ok(strcmp(c->name, "vpsbr0") == 0 && c->has_mac && c->n_addrs == 2,
	   "argv: bridge with --addr twice");
	c = args(&(struct argv_case){ "--pid --dev --onlink", "--pid --dev", 1,
				      ARGS("gateway", "--onlink", "--pid", "7", "--dev", "eth0",
					   "169.254.0.1") });
	ok(c->onlink && c->pid == 7 && strcmp(c->pos[0], "169.254.0.1") == 0,
	   "argv: gateway --onlink GW");

	dies(args_dies,
	     &(struct argv_case){ RATE, RATE, 0,
				  ARGS("rate", "--host-if", "vps101", "--ifb", "vpsi101", "--in",
				       "7999", "--out", "0") },
	     VPS_EUSAGE, "--in wants 0 or 8000..100000000000 bits/s: 7999", "argv: --in under 8 kbit");
	dies(args_dies,
	     &(struct argv_case){ RATE, RATE, 0,
				  ARGS("rate", "--host-if", "vps101", "--ifb", "vpsi101", "--in", "0") },
	     VPS_EUSAGE, "rate: --out is required", "argv: a required option missing");
	dies(args_dies,
	     &(struct argv_case){ "--host-if --ifb", "--host-if", 0,
				  ARGS("down", "--host-if", "vps1", "--pid", "5") },
	     VPS_EUSAGE, "down: unexpected argument --pid", "argv: an option another command takes");
	dies(args_dies,
	     &(struct argv_case){ "--host-if --ifb", "--host-if", 0,
				  ARGS("down", "--host-if", "vps1", "--host-if", "vps2") },
	     VPS_EUSAGE, "--host-if is given twice", "argv: an option twice");
	dies(args_dies,
	     &(struct argv_case){ "--host-if --ifb", "--host-if", 0,
				  ARGS("down", "--host-if", "all") },
	     VPS_EUSAGE, "--host-if wants an interface name: all", "argv: a reserved interface name");
	dies(args_dies, &(struct argv_case){ ADDR, ADDR, 2, ARGS("addr", "--pid", "42", "--dev", "eth0", "add") },
	     VPS_EUSAGE, "addr wants add|del ADDRESS", "argv: a positional missing");
	dies(args_dies, &(struct argv_case){ ADDR, ADDR, 2, ARGS("addr", "--pid", "0", "--dev", "eth0", "add", "10.0.0.1/8") },
	     VPS_EUSAGE, "--pid wants a process id", "argv: pid 0");
	dies(args_dies,
	     &(struct argv_case){ "--pid --spec --configure-guest", "--pid --spec", 0,
				  ARGS("up", "--pid", "5", "--spec", "run/net.spec") },
	     VPS_EUSAGE, "wants an absolute path", "argv: a relative --spec");
	dies(args_dies,
	     &(struct argv_case){ "--name --mac --addr --mtu", "--name --mac", 0,
				  ARGS("bridge", "--name", "br0", "--mac", "02:00:00:00:00:01", "--mtu", "67") },
	     VPS_EUSAGE, "--mtu wants 68..65535", "argv: an MTU under 68");
}

int main(void)
{
	prog_name = "vps-net";
	values();
	addresses();
	spec_file();
	argv_();
	return tap_done();
}
