#!/bin/bash
# What up-front allocation would cost: `test/bench/allocation.sh [N] [DISK]` (as root, after
# `npm run build`; default 20 containers of 1G from the cached debian-12 template).
#
# On a reflink pool (an XFS pool of its own, `vpsctl pool init`) and on a plain directory
# (ext4 here) it creates N containers the way vpsctl does (sparse images: the promise is kept
# by arithmetic, see `vpsctl pool info`) and reports the pool's used space and the create
# time; then it allocates every image up front (`fallocate -l DISK`, what a `--prealloc`
# create would add) and reports the space and time again. On the reflink pool, fallocate
# fills only the holes: the blocks shared with the template stay shared, so a rewrite of one
# still needs new space, which is why allocation alone does not keep the promise there.
#
# Everything lives under its own state root, run dir and cgroup parent, and is removed at the end.
set -euo pipefail
N=${1:-20}
DISK=${2:-1G}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
BASE=/var/tmp/vpsctl-alloc-bench
TEMPLATES=${VPSCTL_TEST_TEMPLATE_ROOT:-/var/cache/vpsctl/test-root}/pool/templates
export VPSCTL_RUN_DIR=/run/vpsctl-alloc-bench VPSCTL_CGROUP_PARENT=vpsctl-alloc-bench VPSCTL_CONFIG=/nonexistent \
  VPSCTL_IDMAP_BASE=1800000000 VPSCTL_IDMAP_RANGES=$((N + 4)) VPSCTL_DISK_OVERCOMMIT_RATIO=100
[ -e "$TEMPLATES/debian-12.img" ] || { echo "no cached debian-12 template in $TEMPLATES (bin/setup makes it)" >&2; exit 1; }

used() { df -B1 --output=used "$1" | tail -1; }
now() { date +%s.%N; }
mb() { echo $(( $1 / 1048576 ))M; }

cleanup() {
  for root in "$BASE"/*; do
    [ -d "$root/containers" ] || continue
    for c in "$root"/containers/*; do [ -e "$c" ] && VPSCTL_ROOT=$root "$REPO/bin/vpsctl" destroy "$(basename "$c")" --force >/dev/null 2>&1 || true; done
    umount "$root/pool" 2>/dev/null || true
  done
  rm -rf "$BASE" "$VPSCTL_RUN_DIR"
}
trap cleanup EXIT
cleanup

for kind in reflink plain; do
  export VPSCTL_ROOT=$BASE/$kind
  mkdir -p "$VPSCTL_ROOT/pool/templates"
  cp --sparse=always "$TEMPLATES"/debian-12.* "$VPSCTL_ROOT/pool/templates/"
  [ $kind = reflink ] && "$REPO/bin/vpsctl" pool init --size $((N * 2 + 8))G >/dev/null 2>&1
  pool=$VPSCTL_ROOT/pool
  sync; u0=$(used "$pool"); t0=$(now)
  for i in $(seq 1 "$N"); do "$REPO/bin/vpsctl" create "a$i" --template debian-12 --disk "$DISK" >/dev/null 2>&1; done
  sync; t1=$(now); u1=$(used "$pool")
  for i in $(seq 1 "$N"); do fallocate -l "$DISK" "$pool/images/a$i.img"; done
  sync; t2=$(now); u2=$(used "$pool")
  awk -v k="$kind" -v n="$N" -v d="$DISK" -v s="$(mb $((u1 - u0)))" -v a="$(mb $((u2 - u0)))" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
    'BEGIN { printf "%-8s %d x %s: sparse (vpsctl): %s used, create %.1f s (%.2f s each); allocated up front: %s used, +%.1f s of fallocate\n", k, n, d, s, t1 - t0, (t1 - t0) / n, a, t2 - t1 }'
done
