#!/bin/bash
# The host's boot and shutdown: `test/bench/boot.sh [N] [PARALLEL]` (as root, after
# `npm run build`; default 20 containers, 4 at a time, from the cached debian-12 template on
# an XFS pool with reflink of its own).
#
#   start --all   `vpsctl start --all --onboot --wait --parallel P` (what vpsctl.service runs at boot)
#   one by one    `vpsctl start ID --wait` for each, P at a time (xargs -P), as a script would
#   stop --all    `vpsctl stop --all --parallel P` (what vpsctl.service runs at shutdown:
#                 each container's systemd shuts down cleanly)
#
# Everything lives under its own state root, run dir and cgroup parent, and is removed at the end.
set -euo pipefail
N=${1:-20}
P=${2:-4}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$REPO/bin/vpsctl
BASE=/var/tmp/vpsctl-boot-bench
TEMPLATES=${VPSCTL_TEST_TEMPLATE_ROOT:-/var/cache/vpsctl/test-root}/pool/templates
export VPSCTL_ROOT=$BASE VPSCTL_RUN_DIR=/run/vpsctl-boot-bench VPSCTL_CGROUP_PARENT=vpsctl-boot-bench VPSCTL_CONFIG=/nonexistent \
  VPSCTL_IDMAP_BASE=1900000000 VPSCTL_IDMAP_RANGES=$((N + 4)) VPSCTL_DISK_OVERCOMMIT_RATIO=100
[ -e "$TEMPLATES/debian-12.img" ] || { echo "no cached debian-12 template in $TEMPLATES (bin/setup makes it)" >&2; exit 1; }

cleanup() {
  for c in "$BASE"/containers/*; do [ -e "$c" ] && "$BIN" destroy "$(basename "$c")" --force >/dev/null 2>&1 || true; done
  umount "$BASE/pool" 2>/dev/null || true
  rm -rf "$BASE" "$VPSCTL_RUN_DIR"
}
trap cleanup EXIT
cleanup
mkdir -p "$BASE/pool/templates"
cp --sparse=always "$TEMPLATES"/debian-12.* "$BASE/pool/templates/"
"$BIN" pool init --size $((N * 2 + 8))G >/dev/null 2>&1
for i in $(seq 1 "$N"); do "$BIN" create "b$i" --template debian-12 --disk 2G --onboot yes --bootorder $((i % 3)) >/dev/null 2>&1; done

t() { local s; s=$(date +%s.%N); "$@" >/dev/null; awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
start_all=$(t "$BIN" start --all --onboot --wait --parallel "$P" --timeout 300s)
stop_all=$(t "$BIN" stop --all --parallel "$P")
one_by_one=$(t bash -c "seq 1 $N | xargs -P $P -I{} $BIN start b{} --wait --timeout 300s")
"$BIN" stop --all --parallel "$P" >/dev/null
printf '%d containers, %d at a time: start --all --onboot --wait %s s; one start --wait each (xargs -P %d) %s s; stop --all (clean) %s s\n' "$N" "$P" "$start_all" "$P" "$one_by_one" "$stop_all"
