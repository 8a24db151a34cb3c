/* confine.c — see confine.h. */
#define _GNU_SOURCE
#include "confine.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* ------------------------------------------------------------------ features */

static const struct {
	unsigned feat;
	const char *name;
} features[] = {
	{ FEAT_USERNS, "userns" },
	{ FEAT_IDMAP, "idmap" },
	{ FEAT_SECCOMP, "seccomp" },
	{ FEAT_DEVICES, "devices-cgroup" },
};

unsigned feature_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (strcmp(name, features[i].name) == 0)
			return features[i].feat;
	return 0;
}

const char *feature_name(unsigned feat)
{
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++)
		if (features[i].feat == feat)
			return features[i].name;
	return "?";
}

bool probe_userns(char *why, size_t cap)
{
	char buf[32];

	if (access("/proc/self/ns/user", F_OK) < 0) {
		snprintf(why, cap, "no /proc/self/ns/user (kernel without CONFIG_USER_NS)");
		return false;
	}
	if (read_file_at(AT_FDCWD, "/proc/sys/user/max_user_namespaces", buf, sizeof(buf)) < 0 ||
	    strtol(buf, NULL, 10) <= 0) {
		snprintf(why, cap, "user.max_user_namespaces is 0 or unreadable");
		return false;
	}
	return true;
}

bool probe_idmap(char *why, size_t cap)
{
	/* The real test is the idmapped mount itself; this only finds kernels before 5.12. */
	if (syscall(SYS_mount_setattr, -1, "", 0, NULL, (size_t)0) < 0 && errno == ENOSYS) {
		snprintf(why, cap, "mount_setattr(2) not available (kernel before 5.12)");
		return false;
	}
	return true;
}

bool probe_seccomp(char *why, size_t cap)
{
	pid_t pid;
	int st;

	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
		snprintf(why, cap, "prctl(PR_GET_SECCOMP): %s (kernel without CONFIG_SECCOMP)",
			 strerror(errno));
		return false;
	}
	/* Load the real filter in a throw-away child and see a denied call fail. */
	pid = fork();
	if (pid < 0) {
		snprintf(why, cap, "fork: %s", strerror(errno));
		return false;
	}
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || confine_seccomp(KEYRING_EPERM) < 0)
			_exit(1);
		if (syscall(SYS_delete_module, "vps-probe", 0) == 0 || errno != EPERM)
			_exit(2);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			snprintf(why, cap, "waitpid: %s", strerror(errno));
			return false;
		}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return true;
	snprintf(why, cap, "%s",
		 WIFEXITED(st) && WEXITSTATUS(st) == 2
			 ? "a seccomp filter loaded but did not deny (kernel bug?)"
			 : "cannot load a seccomp filter (kernel without CONFIG_SECCOMP_FILTER)");
	return false;
}

/* ------------------------------------------------------------------ R7 capabilities */

/* LXC's lxc.cap.drop (mac_admin mac_override sys_time sys_module sys_rawio) plus the
 * host-wide ones a system container never needs: the kernel log (syslog: dmesg -C, kernel
 * addresses), wake alarms, and bpf/perfmon whose syscalls the filter denies anyway.
 * Kept: SYS_ADMIN, SYS_BOOT (reboot in a pid ns), NET_ADMIN, MKNOD, SYS_PTRACE, ... */
static const int dropped_caps[] = {
	CAP_SYS_MODULE, CAP_SYS_RAWIO,  CAP_SYS_TIME, CAP_MAC_ADMIN, CAP_MAC_OVERRIDE,
	CAP_SYSLOG,     CAP_WAKE_ALARM, CAP_PERFMON,  CAP_BPF,
};

int confine_caps(unsigned long long extra_drop_mask)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	for (size_t i = 0; i < sizeof(dropped_caps) / sizeof(dropped_caps[0]); i++)
		extra_drop_mask |= 1ULL << dropped_caps[i];
	for (int c = 0; c < 64; c++) {
		if (!(extra_drop_mask & (1ULL << c)))
			continue;
		/* EINVAL: this kernel does not know the cap, nothing to drop */
		if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) < 0)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ R6 seccomp */

#define X32_SYSCALL_BIT 0x40000000U
#define RET_EPERM       (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define RET_ENOSYS      (SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))
#define ARG_LO(n)       ((uint32_t)(offsetof(struct seccomp_data, args) + 8 * (n)))

/* Denied in every mode. Docker's default profile and LXC's common.seccomp agree on the
 * first group; the rest are host-wide or obsolete and a system container lives without
 * them (systemd falls back when bpf/perf are refused). */
static const int deny_x86_64[] = {
	SYS_kexec_load,    SYS_kexec_file_load, SYS_open_by_handle_at,
	SYS_init_module,   SYS_finit_module,    SYS_delete_module,
	SYS_create_module, SYS_get_kernel_syms, SYS_query_module,
	SYS_bpf,           SYS_perf_event_open, SYS_userfaultfd,
	SYS_iopl,          SYS_ioperm,          SYS_swapon,
	SYS_swapoff,       SYS_syslog,          SYS_acct,
	SYS_quotactl,      SYS_quotactl_fd,     SYS_lookup_dcookie,
	SYS_nfsservctl,    SYS_uselib,
};
static const int keyring_x86_64[] = { SYS_add_key, SYS_request_key, SYS_keyctl };

/* The same calls by their i386 numbers (asm/unistd_32.h; kexec_file_load has none), plus
 * vm86/vm86old. umount (22) has no flags argument and stays allowed. */
static const int deny_i386[] = {
	283 /* kexec_load */,
	342 /* open_by_handle_at */,
	128 /* init_module */,
	350 /* finit_module */,
	129 /* delete_module */,
	127 /* create_module */,
	130 /* get_kernel_syms */,
	167 /* query_module */,
	357 /* bpf */,
	336 /* perf_event_open */,
	374 /* userfaultfd */,
	110 /* iopl */,
	101 /* ioperm */,
	87 /* swapon */,
	115 /* swapoff */,
	103 /* syslog */,
	51 /* acct */,
	131 /* quotactl */,
	443 /* quotactl_fd */,
	253 /* lookup_dcookie */,
	169 /* nfsservctl */,
	86 /* uselib */,
	113 /* vm86old */,
	166 /* vm86 */,
};
static const int keyring_i386[] = { 286 /* add_key */, 287 /* request_key */, 288 /* keyctl */ };
#define I386_UMOUNT2 52

struct bpf_prog {
	struct sock_filter f[256];
	size_t n;
	bool overflow;
};

static size_t emit(struct bpf_prog *p, uint16_t code, uint32_t k, uint8_t jt, uint8_t jf)
{
	if (p->n >= sizeof(p->f) / sizeof(p->f[0])) {
		p->overflow = true;
		return p->n;
	}
	p->f[p->n] = (struct sock_filter){ .code = code, .jt = jt, .jf = jf, .k = k };
	return p->n++;
}

static void emit_deny_list(struct bpf_prog *p, const int *nr, size_t n, uint32_t ret)
{
	for (size_t i = 0; i < n; i++) {
		emit(p, BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr[i], 0, 1);
		emit(p, BPF_RET | BPF_K, ret, 0, 0);
	}
}

/* The keyring calls by rule: EPERM, ENOSYS, or nothing (allowed). */
static void emit_keyring(struct bpf_prog *p, const int *nr, size_t n, enum keyring_rule rule)
{
	if (rule == KEYRING_EPERM)
		emit_deny_list(p, nr, n, RET_EPERM);
	else if (rule == KEYRING_ENOSYS)
		emit_deny_list(p, nr, n, RET_ENOSYS);
}

/* umount2(path, flags): EPERM when flags has MNT_FORCE, otherwise allow; then allow all. */
static void emit_umount2_and_allow(struct bpf_prog *p, uint32_t nr)
{
	emit(p, BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 3);
	emit(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(1), 0, 0);
	emit(p, BPF_JMP | BPF_JSET | BPF_K, MNT_FORCE, 0, 1);
	emit(p, BPF_RET | BPF_K, RET_EPERM, 0, 0);
	emit(p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

int confine_keyring(void)
{
	/* KEYCTL_JOIN_SESSION_KEYRING with no name makes a fresh anonymous keyring */
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL, 0, 0, 0) >= 0 || errno == ENOSYS)
		return 0;
	return -errno;
}

enum keyring_rule keyring_rule(bool userns, bool keyctl)
{
	if (!userns)
		return KEYRING_EPERM;
	return keyctl ? KEYRING_ALLOW : KEYRING_ENOSYS;
}

const char *keyring_rule_name(enum keyring_rule rule)
{
	switch (rule) {
	case KEYRING_EPERM:
		return "eperm";
	case KEYRING_ENOSYS:
		return "enosys";
	case KEYRING_ALLOW:
		return "allow";
	}
	return "?";
}

int confine_seccomp(enum keyring_rule rule)
{
	struct bpf_prog p = { .n = 0 };
	struct sock_fprog fprog;
	size_t to64, to32;

	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 1);
	to64 = emit(&p, BPF_JMP | BPF_JA, 0, 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 1);
	to32 = emit(&p, BPF_JMP | BPF_JA, 0, 0, 0);
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS, 0, 0); /* unknown ABI */

	/* x86_64 and x32 (same AUDIT_ARCH, nr with bit 30 set): deny x32 as a whole */
	p.f[to64].k = (uint32_t)(p.n - to64 - 1);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	emit(&p, BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffU, 0, 1); /* nr -1: a tracer's skip */
	emit(&p, BPF_RET | BPF_K, SECCOMP_RET_ALLOW, 0, 0);
	emit(&p, BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1);
	emit(&p, BPF_RET | BPF_K, RET_EPERM, 0, 0);
	emit_deny_list(&p, deny_x86_64, N(deny_x86_64), RET_EPERM);
	emit_keyring(&p, keyring_x86_64, N(keyring_x86_64), rule);
	emit_umount2_and_allow(&p, SYS_umount2);

	p.f[to32].k = (uint32_t)(p.n - to32 - 1);
	emit(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
	emit_deny_list(&p, deny_i386, N(deny_i386), RET_EPERM);
	emit_keyring(&p, keyring_i386, N(keyring_i386), rule);
	emit_umount2_and_allow(&p, I386_UMOUNT2);

	if (p.overflow)
		return -E2BIG;
	fprog = (struct sock_fprog){ .len = (unsigned short)p.n, .filter = p.f };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ R5 + delegation */

/* mknod of anything (use is what the list guards), rw only for the harmless character
 * devices a system container needs. No block device, ever: the loop device under the
 * rootfs stays out of reach. One list for the v1 devices cgroup and the v2 eBPF program.
 * /dev/net/tun and /dev/fuse are not in it: they come as extras with the container's
 * features (vps-spawn --device), like any device the admin passes through. */
#define ANY (-1)
static const struct dev_rule {
	char type;         /* 'c', 'b' or 'a' (both) */
	int major, minor;  /* ANY: every number */
	const char *access; /* of "rwm" */
} devices_allow[] = {
	{ 'c', ANY, ANY, "m" }, { 'b', ANY, ANY, "m" }, { 'c', 1, 3, "rwm" },   /* null */
	{ 'c', 1, 5, "rwm" },   /* zero */
	{ 'c', 1, 7, "rwm" },   /* full */
	{ 'c', 1, 8, "rwm" },   /* random */
	{ 'c', 1, 9, "rwm" },   /* urandom */
	{ 'c', 5, 0, "rwm" },   /* tty */
	{ 'c', 5, 1, "rwm" },   /* console */
	{ 'c', 5, 2, "rwm" },   /* ptmx */
	{ 'c', 136, ANY, "rwm" }, /* pts */
};
#define N_RULES_MAX (N(devices_allow) + MAX_DEV_EXTRA)

/* The base list, then one rule per extra device; returns how many. */
static size_t device_rules(struct dev_rule *out, const struct dev_extra *extra, size_t n_extra)
{
	size_t n = 0;

	for (size_t i = 0; i < N(devices_allow); i++)
		out[n++] = devices_allow[i];
	for (size_t i = 0; i < n_extra && i < MAX_DEV_EXTRA; i++)
		out[n++] = (struct dev_rule){ 'c', (int)extra[i].major, (int)extra[i].minor,
					      extra[i].ro ? "rm" : "rwm" };
	return n;
}

int cgroup_devices_allowlist(int dfd, const struct dev_extra *extra, size_t n_extra)
{
	struct dev_rule rules[N_RULES_MAX];
	size_t n = device_rules(rules, extra, n_extra);
	int r = write_file_at(dfd, "devices.deny", "a");

	for (size_t i = 0; r == 0 && i < n; i++) {
		const struct dev_rule *d = &rules[i];
		char line[64], maj[16] = "*", min[16] = "*";
		if (d->major != ANY)
			snprintf(maj, sizeof(maj), "%d", d->major);
		if (d->minor != ANY)
			snprintf(min, sizeof(min), "%d", d->minor);
		snprintf(line, sizeof(line), "%c %s:%s %s", d->type, maj, min, d->access);
		r = write_file_at(dfd, "devices.allow", line);
	}
	return r;
}

/* The same list as a BPF_PROG_TYPE_CGROUP_DEVICE program (cgroup v2 has no devices
 * files; crun and LXC do the same). The kernel hands it {access_type = ACCESS << 16 |
 * TYPE, major, minor}; 1 allows, 0 denies. Per rule, in order: skip unless the type
 * matches, the numbers match and the access asked is within the rule's; then allow. */
#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define DEV_PROG_MAX (8 + 10 * N_RULES_MAX)

static size_t devices_program(struct bpf_insn *p, const struct dev_extra *extra, size_t n_extra)
{
	struct dev_rule rules[N_RULES_MAX];
	size_t n_rules = device_rules(rules, extra, n_extra);
	size_t n = 0;

	p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0); /* access_type */
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_3, BPF_REG_2, 0, 0);
	p[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_3, 0, 0, 0xffff);    /* r3 = type */
	p[n++] = INSN(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_2, 0, 0, 16);        /* r2 = access */
	p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0);   /* r4 = major */
	p[n++] = INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0);   /* r5 = minor */
	for (size_t i = 0; i < n_rules; i++) {
		const struct dev_rule *d = &rules[i];
		int type = d->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR;
		int allowed = (strchr(d->access, 'm') ? BPF_DEVCG_ACC_MKNOD : 0) |
			      (strchr(d->access, 'r') ? BPF_DEVCG_ACC_READ : 0) |
			      (strchr(d->access, 'w') ? BPF_DEVCG_ACC_WRITE : 0);
		size_t skip[4], n_skip = 0; /* jumps past this rule, patched below */

		/* r6 = access & ~allowed: anything asked beyond the rule skips it */
		p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_6, BPF_REG_2, 0, 0);
		p[n++] = INSN(BPF_ALU64 | BPF_AND | BPF_K, BPF_REG_6, 0, 0, ~allowed);
		skip[n_skip++] = n;
		p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_6, 0, 0, 0);
		if (d->type != 'a') {
			skip[n_skip++] = n;
			p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_3, 0, 0, type);
		}
		if (d->major != ANY) {
			skip[n_skip++] = n;
			p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, d->major);
		}
		if (d->minor != ANY) {
			skip[n_skip++] = n;
			p[n++] = INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, d->minor);
		}
		p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1);
		p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
		for (size_t k = 0; k < n_skip; k++)
			p[skip[k]].off = (int16_t)(n - skip[k] - 1);
	}
	p[n++] = INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
	p[n++] = INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
	return n;
}

static int devices_program_load(const struct dev_extra *extra, size_t n_extra)
{
	struct bpf_insn prog[DEV_PROG_MAX];
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	a.insns = (uint64_t)(uintptr_t)prog;
	a.insn_cnt = (uint32_t)devices_program(prog, extra, n_extra);
	a.license = (uint64_t)(uintptr_t) "Apache-2.0";
	int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &a, sizeof(a));
	return fd < 0 ? -errno : fd;
}

int cgroup_devices_bpf(int dfd, const struct dev_extra *extra, size_t n_extra)
{
	cleanup_fd int prog = devices_program_load(extra, n_extra);
	union bpf_attr a;

	if (prog < 0)
		return prog;
	memset(&a, 0, sizeof(a));
	a.target_fd = (uint32_t)dfd;
	a.attach_bpf_fd = (uint32_t)prog;
	a.attach_type = BPF_CGROUP_DEVICE;
	a.attach_flags = 0; /* exclusive: nothing below may attach a program of its own */
	if (syscall(SYS_bpf, BPF_PROG_ATTACH, &a, sizeof(a)) < 0)
		return -errno;
	return 0;
}

bool probe_devices_bpf(char *why, size_t cap)
{
	int fd = devices_program_load(NULL, 0);

	if (fd < 0) {
		snprintf(why, cap, "cannot load a cgroup device eBPF program: %s (kernel without "
			 "CONFIG_CGROUP_BPF?)", strerror(-fd));
		return false;
	}
	close(fd);
	return true;
}

int cgroup_delegate(int dfd, bool v2, uid_t uid, gid_t gid)
{
	static const char *const v1_files[] = { "cgroup.procs", "tasks", "cgroup.clone_children",
						"notify_on_release" };
	static const char *const v2_files[] = { "cgroup.procs", "cgroup.threads",
						"cgroup.subtree_control" };
	const char *const *files = v2 ? v2_files : v1_files;
	size_t n = v2 ? N(v2_files) : N(v1_files);

	if (fchown(dfd, uid, gid) < 0)
		return -errno;
	for (size_t i = 0; i < n; i++)
		if (fchownat(dfd, files[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != ENOENT)
			return -errno;
	return 0;
}
