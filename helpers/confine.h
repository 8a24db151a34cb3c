/* confine.h — what a container's processes may not do (SECURITY.md R4–R7, R11).
 *
 * Shared by vps-spawn (the container's init, right before execve) and vps-enter (every
 * command an admin runs inside, right before execve), so both run under the same rules:
 *   - capability bounding set without CONFINE_DROPPED_CAPS (R7), inheritable and
 *     ambient sets cleared;
 *   - a classic-BPF seccomp deny-list (R6) checked per ABI (x86_64, x32, i386);
 *   - the devices-cgroup allowlist (R5) and the delegation of a cgroup to the
 *     container's root in user-namespace mode;
 *   - the probes behind vps-spawn's fail-closed feature checks (R11).
 * Reusable parts: they return 0 or -errno and the caller dies.
 */
#ifndef VPS_CONFINE_H
#define VPS_CONFINE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Features vps-spawn refuses to start without (--unsafe-allow-missing FEATURE). */
enum feature {
	FEAT_USERNS = 1 << 0,
	FEAT_IDMAP = 1 << 1,
	FEAT_SECCOMP = 1 << 2,
	FEAT_DEVICES = 1 << 3,
};
/* "userns" -> FEAT_USERNS ...; 0 for an unknown name. */
unsigned feature_by_name(const char *name);
const char *feature_name(unsigned feat);

/* Probes: true when present; otherwise why[] says what is missing. */
bool probe_userns(char *why, size_t cap);
bool probe_idmap(char *why, size_t cap);
bool probe_seccomp(char *why, size_t cap);

/* R7: drop the bounding-set entries of CONFINE_DROPPED_CAPS and every cap in
 * extra_drop_mask (bit N = cap N), clear the ambient and inheritable sets.
 * Needs CAP_SETPCAP in the current user namespace. 0 or -errno. */
int confine_caps(unsigned long long extra_drop_mask);

/* R13: leave every keyring of the caller's behind: join a new, empty session keyring owned
 * by the current credentials (the container's root, once in its user namespace), as
 * systemd-nspawn and LXC do. An admin's session keyring (Kerberos tickets, ecryptfs and
 * dm-crypt keys) is otherwise inherited by fork and kept across execve. A kernel without
 * keyrings has none to inherit. 0 or -errno. */
int confine_keyring(void);

/* R6 and R13: what the keyring calls (add_key, request_key, keyctl) get from the filter.
 * Keyrings are not namespaced for a container that shares the host's user namespace, so a
 * privileged container is always refused them (EPERM). An unprivileged one sees them as
 * absent (ENOSYS, as LXC and Proxmox do: systemd and runc take ENOSYS for "no keyrings"
 * and carry on, where EPERM fails a service) unless it has the keyctl feature. */
enum keyring_rule {
	KEYRING_EPERM,  /* privileged */
	KEYRING_ENOSYS, /* unprivileged, without --keyctl: Proxmox's default */
	KEYRING_ALLOW,  /* unprivileged with --keyctl */
};
/* The rule for a container: with its own user namespace or not, with the feature or not.
 * Never KEYRING_ALLOW without a user namespace, whatever keyctl says. */
enum keyring_rule keyring_rule(bool userns, bool keyctl);
const char *keyring_rule_name(enum keyring_rule rule);

/* R6: install the deny-list filter, the keyring calls as rule says.
 * Needs CAP_SYS_ADMIN in the current user namespace (no NO_NEW_PRIVS: suid must keep
 * working inside). Load it last, right before execve. 0 or -errno. */
int confine_seccomp(enum keyring_rule rule);

/* A character device a container is given beyond the base list (--device): read and
 * write, or read only. */
struct dev_extra {
	unsigned major, minor;
	bool ro;
};
#define MAX_DEV_EXTRA 16

/* R5: "a" into devices.deny of the cgroup dfd, then the allowlist and the extra devices
 * into devices.allow. 0 or -errno. */
int cgroup_devices_allowlist(int dfd, const struct dev_extra *extra, size_t n_extra);

/* R5 on cgroup v2: attach the same allowlist (and extras) to the cgroup dfd as an eBPF
 * device program (BPF_CGROUP_DEVICE, exclusive: nothing below may attach its own).
 * 0 or -errno. */
int cgroup_devices_bpf(int dfd, const struct dev_extra *extra, size_t n_extra);
/* Can this kernel load that program? */
bool probe_devices_bpf(char *why, size_t cap);

/* Userns mode: chown the cgroup dfd and its delegation files (not the limits) to
 * uid:gid, so the container's root can create and fill sub-cgroups. 0 or -errno. */
int cgroup_delegate(int dfd, bool v2, uid_t uid, gid_t gid);

#endif
