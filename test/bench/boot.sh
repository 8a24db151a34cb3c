#!/bin/bash
# The host's boot and shutdown: `test/bench/boot.sh [--lxc] [N] [PARALLEL]` (as root, after
# `npm run build`; default 20 containers, 4 at a time, from the cached debian-12 template on
# an XFS pool with reflink of its own).
#
# vpsctl:
#   start --all   `vpsctl start --all --onboot --parallel P` (what vpsctl.service runs at
#                 boot): until it returns (every init started), then until every container's
#                 systemd says running or degraded (`systemctl is-system-running` polled
#                 through nsenter into its init's namespaces, the same probe as for LXC)
#   --wait        `vpsctl start --all --onboot --wait --parallel P` (returns once all are up)
#   one by one    `vpsctl start ID --wait` for each, P at a time (xargs -P), as a script would
#   stop --all    `vpsctl stop --all --parallel P` (what vpsctl.service runs at shutdown:
#                 each container's systemd shuts down cleanly)
# LXC, with --lxc (bin/setup --bench installs it), the same N on the same machine and rootfs:
#   each an overlayfs over one copy of the template's files (lxc.rootfs.path = overlay:...),
#   lxc.start.auto = 1, no network but lo, privileged (vpsctl's are not: LXC's defaults);
#   autostart     `lxc-autostart -a` (what lxc.service runs at boot) until it returns, then
#                 until every systemd says running or degraded (the same nsenter probe)
#   shutdown      `lxc-autostart -s -a -t 60` (what lxc.service runs at shutdown)
# The ratios are LXC's time over vpsctl's: above 1, vpsctl is faster.
#
# Everything lives under its own state root, run dir, cgroup parent and lxcpath, and is
# removed at the end.
set -euo pipefail
LXC=0
[ "${1:-}" = --lxc ] && { LXC=1; shift; }
N=${1:-20}
P=${2:-4}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$REPO/bin/vpsctl
BASE=/var/tmp/vpsctl-boot-bench
LXCPATH=/var/tmp/vpsctl-boot-bench-lxc
LXC_CG=vpsctl-boot-bench-lxc
TEMPLATES=${VPSCTL_TEST_TEMPLATE_ROOT:-/var/cache/vpsctl/test-root}/pool/templates
export VPSCTL_ROOT=$BASE VPSCTL_RUN_DIR=/run/vpsctl-boot-bench VPSCTL_CGROUP_PARENT=vpsctl-boot-bench VPSCTL_CONFIG=/nonexistent \
  VPSCTL_IDMAP_BASE=1900000000 VPSCTL_IDMAP_RANGES=$((N + 4)) VPSCTL_DISK_OVERCOMMIT_RATIO=100
[ -e "$TEMPLATES/debian-12.img" ] || { echo "no cached debian-12 template in $TEMPLATES (bin/setup makes it)" >&2; exit 1; }
if [ "$LXC" = 1 ]; then
  for t in lxc-autostart lxc-attach lxc-stop; do command -v "$t" >/dev/null || { echo "$t is missing: install LXC (bin/setup --bench)" >&2; exit 1; }; done
fi

lxc_cleanup() {
  [ -d "$LXCPATH" ] || return 0
  for c in "$LXCPATH"/l*; do [ -f "$c/config" ] && lxc-stop -P "$LXCPATH" -n "$(basename "$c")" -k >/dev/null 2>&1 || true; done
  mountpoint -q "$LXCPATH/.tpl" && umount "$LXCPATH/.tpl"
  rm -rf --one-file-system "$LXCPATH"
  for h in /sys/fs/cgroup/*/"$LXC_CG" /sys/fs/cgroup/"$LXC_CG"; do [ -d "$h" ] && find "$h" -depth -type d -exec rmdir {} + 2>/dev/null; done
  return 0
}
cleanup() {
  for c in "$BASE"/containers/*; do [ -e "$c" ] && "$BIN" destroy "$(basename "$c")" --force >/dev/null 2>&1 || true; done
  umount "$BASE/pool" 2>/dev/null || true
  rm -rf "$BASE" "$VPSCTL_RUN_DIR"
  lxc_cleanup
}
trap cleanup EXIT
cleanup

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t() { local s; s=$(now); "$@" >/dev/null; since "$s"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# Polls `systemctl is-system-running` in each container until every one says running or
# degraded. The same probe for both: nsenter into the namespaces of the init pids that `$1`
# prints (one per line), so that neither side's poll costs more than the other's.
all_up() {
  local pending=() left s p
  mapfile -t pending < <($1)
  while [ ${#pending[@]} -gt 0 ]; do
    left=()
    for p in "${pending[@]}"; do
      s=$(nsenter -a -t "$p" systemctl is-system-running 2>/dev/null || true)
      case "$s" in running | degraded) ;; *) left+=("$p") ;; esac
    done
    pending=("${left[@]+"${left[@]}"}")
    [ ${#pending[@]} -gt 0 ] && sleep 0.2
  done
  return 0
}
vps_inits() { "$BIN" list --json | node -e 'for (const c of JSON.parse(require("fs").readFileSync(0, "utf8"))) if (c.init_pid) console.log(c.init_pid)'; }
lxc_inits() { for n in "${lnames[@]}"; do lxc-info -P "$LXCPATH" -n "$n" -p -H; done; }

# ---- vpsctl ----
mkdir -p "$BASE/pool/templates"
cp --sparse=always "$TEMPLATES"/debian-12.* "$BASE/pool/templates/"
"$BIN" pool init --size $((N * 2 + 8))G >/dev/null 2>&1
names=()
for i in $(seq 1 "$N"); do
  "$BIN" create "b$i" --template debian-12 --disk 2G --onboot yes --bootorder $((i % 3)) >/dev/null 2>&1
  names+=("b$i")
done
sync
s=$(now)
"$BIN" start --all --onboot --parallel "$P" >/dev/null
vps_started=$(since "$s")
all_up vps_inits
vps_up=$(since "$s")
vps_stop=$(t "$BIN" stop --all --parallel "$P")
vps_wait=$(t "$BIN" start --all --onboot --wait --parallel "$P" --timeout 300s)
"$BIN" stop --all --parallel "$P" >/dev/null
one_by_one=$(t bash -c "seq 1 $N | xargs -P $P -I{} $BIN start b{} --wait --timeout 300s")
"$BIN" stop --all --parallel "$P" >/dev/null
printf 'vpsctl, %d containers, %d at a time:\n' "$N" "$P"
printf '  start --all --onboot: all inits started %s s, all systemd up %s s\n' "$vps_started" "$vps_up"
printf '  start --all --onboot --wait %s s; one start --wait each (xargs -P %d) %s s\n' "$vps_wait" "$P" "$one_by_one"
printf '  stop --all (clean): %s s\n' "$vps_stop"
[ "$LXC" = 1 ] || exit 0

# ---- LXC ----
mkdir -p "$LXCPATH/.tpl" "$LXCPATH/base"
mount -t ext4 -o loop,ro,noload "$TEMPLATES/debian-12.img" "$LXCPATH/.tpl"
cp -a "$LXCPATH/.tpl" "$LXCPATH/base/rootfs"
umount "$LXCPATH/.tpl"
include=/usr/share/lxc/config/common.conf
[ -f /usr/share/lxc/config/debian.common.conf ] && include=/usr/share/lxc/config/debian.common.conf
lnames=()
for i in $(seq 1 "$N"); do
  n=l$i
  mkdir -p "$LXCPATH/$n/delta/etc"
  echo "$n" >"$LXCPATH/$n/delta/etc/hostname"
  {
    echo "lxc.include = $include"
    echo "lxc.uts.name = $n"
    echo "lxc.rootfs.path = overlay:$LXCPATH/base/rootfs:$LXCPATH/$n/delta"
    echo "lxc.net.0.type = empty"
    echo "lxc.start.auto = 1"
    echo "lxc.start.order = $((i % 3))"
    echo "lxc.cgroup.dir.monitor = $LXC_CG/$n.monitor"
    echo "lxc.cgroup.dir.container = $LXC_CG/$n.payload"
    echo "lxc.cgroup.dir.monitor.pivot = $LXC_CG/pivot"
    echo "lxc.log.file = $LXCPATH/$n/lxc.log"
    echo "lxc.log.level = WARN"
    [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] || echo "lxc.apparmor.profile = unconfined"
  } >"$LXCPATH/$n/config"
  lnames+=("$n")
done
sync
s=$(now)
lxc-autostart -P "$LXCPATH" -a >/dev/null
lxc_started=$(since "$s")
all_up lxc_inits
lxc_up=$(since "$s")
lxc_stop=$(t lxc-autostart -P "$LXCPATH" -s -a -t 60)
printf 'LXC %s, the same %d:\n' "$(lxc-start --version 2>/dev/null)" "$N"
printf '  lxc-autostart -a: all inits started %s s, all systemd up %s s\n' "$lxc_started" "$lxc_up"
printf '  lxc-autostart -s -a (clean): %s s\n' "$lxc_stop"
printf 'ratios (LXC / vpsctl): inits started %s, all up %s, shutdown %s\n' \
  "$(ratio "$lxc_started" "$vps_started")" "$(ratio "$lxc_up" "$vps_up")" "$(ratio "$lxc_stop" "$vps_stop")"
