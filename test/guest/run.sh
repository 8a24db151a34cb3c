#!/usr/bin/env bash
# npm run test:guest: runs the guest suite (test/guest/*.test.ts) inside a Debian 12 guest
# kernel booted with qemu (TCG: no KVM needed), systemd as PID 1 on a pure cgroup v2 tree,
# the platform vpsctl's users run, whatever cgroup layout this host has.
#
#   sudo npm run test:guest                      # build, then run the whole guest suite
#   sudo npm run test:guest -- -t 'exec'         # arguments go to jest inside the guest
#   sudo test/guest/run.sh --rebuild --keep      # options of this script (before jest's)
#     --rebuild        build the guest image again even though it is cached
#     --keep           keep this run's disks and logs under the work dir
#     --timeout SECS   kill the guest after SECS (default $VPSCTL_GUEST_TIMEOUT, else 3000)
#
# The steps, one function each, run in this order (see the bottom of the file):
#   deps      qemu, qemu-img and debootstrap on the host, and a built checkout
#   image     the guest's root disk, kernel and initramfs, from Debian packages only, built
#             once per recipe into $VPSCTL_GUEST_CACHE (default /var/cache/vpsctl/guest)
#   template  the test template (debian-12) from the integration suite's cache
#   stage     this run's disk: the checkout and the template; it is the guest's /var/tmp
#   boot      qemu with a hard timeout; a unit in the guest runs test/guest/in-guest.sh
#             after multi-user.target, writes its results to a shared folder, powers off
#   collect   prints the results and exits with the suite's exit code
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
REPO=$(pwd)

CACHE=${VPSCTL_GUEST_CACHE:-/var/cache/vpsctl/guest}
TEMPLATE_ROOT=${VPSCTL_TEST_TEMPLATE_ROOT:-/var/cache/vpsctl/test-root}   # as test/integration/harness.ts
TEMPLATE=debian-12
TIMEOUT=${VPSCTL_GUEST_TIMEOUT:-3000}
NODE=$(command -v node)
WORKBASE=/var/tmp/vpsctl-guest
rebuild=0 keep=0 jest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rebuild) rebuild=1 ;;
    --keep) keep=1 ;;
    --timeout) TIMEOUT=$2; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    --) ;;
    *) jest_args+=("$1") ;;
  esac
  shift
done

T0=$SECONDS
say() { printf '==> [%4ds] %s\n' $((SECONDS - T0)) "$*" >&2; }
die() { printf 'test/guest/run.sh: %s\n' "$*" >&2; exit 1; }

# What this script started, for cleanup() whatever way it ends.
WORK= QEMU_PID= TAIL_PID= BUILD=
cleanup() {
  local rc=$?
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null && wait "$QEMU_PID" 2>/dev/null
  [ -n "$TAIL_PID" ] && kill "$TAIL_PID" 2>/dev/null
  if [ -n "$BUILD" ]; then                             # an image build that did not finish
    [ -f "$BUILD/build.log" ] && { tail -n 30 "$BUILD/build.log"; echo "the guest image build failed; the lines above end its log"; } >&2
    if mountpoint -q "$BUILD/rootfs/proc"; then umount "$BUILD/rootfs/proc"; fi
    rm -rf --one-file-system "$BUILD"
  fi
  if [ -n "$WORK" ] && [ "$keep" = 0 ]; then
    rm -rf --one-file-system "$WORK/stage" "$WORK/root.qcow2" "$WORK/run.img"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- deps: the host's tools, and a built checkout ------------------------------------------
deps() {
  [ "$(id -u)" = 0 ] || die "run as root (sudo npm run test:guest): it builds a disk image with debootstrap and chroot"
  local need=() p
  for p in qemu-system-x86 qemu-utils debootstrap e2fsprogs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    say "installing on the host: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${need[@]}" >&2
  fi
  local f
  for f in dist/index.js oclif.manifest.json helpers/vps-spawn helpers/vps-enter node_modules/jest/bin/jest.js; do
    [ -e "$f" ] || die "$f is missing: build the checkout first (npm run build), or run it as npm run test:guest"
  done
}

# --- image: the guest's root disk, kernel and initramfs, cached per recipe -----------------
# The cache key hashes this recipe's own text, the package list and the Node version, so a
# change to any of them builds a new image; the other functions can change freely.
image_key() {
  { declare -f image_recipe; cat bin/apt-packages bin/apt-packages-tests; "$NODE" --version; } | sha256sum | cut -c1-16
}

# The Debian mirror from the host's own apt sources, by the same rules `vpsctl template build` uses.
host_mirror() {
  [ -n "${VPSCTL_MIRROR:-}" ] && { echo "$VPSCTL_MIRROR"; return; }
  "$NODE" --input-type=module -e '
    import { readFileSync, readdirSync } from "node:fs";
    import { hostDebianMirror } from "./dist/templates/recipe.js";
    const read = (name, file) => { try { return [{ name, text: readFileSync(file, "utf8") }]; } catch { return []; } };
    const d = "/etc/apt/sources.list.d";
    const sources = [...read("sources.list", "/etc/apt/sources.list"),
      ...(() => { try { return readdirSync(d).sort(); } catch { return []; } })().flatMap((n) => read(n, `${d}/${n}`))];
    const m = hostDebianMirror(sources);
    if (!m) { console.error("no Debian mirror in the host apt sources: set VPSCTL_MIRROR"); process.exit(1); }
    console.log(m);'
}

# Builds into $1: root.img (ext4 holding the guest's /), vmlinuz, initrd.img.
image_recipe() {
  local out=$1 root=$1/rootfs mirror pkgs tpkgs p
  mirror=$(host_mirror)
  mapfile -t pkgs < <(grep -o '^[^#[:space:]]\+' bin/apt-packages)
  mapfile -t tpkgs < <(grep -o '^[^#[:space:]]\+' bin/apt-packages-tests)

  say "image: debootstrap bookworm (minbase + systemd) from the host's mirror"
  debootstrap --variant=minbase --cache-dir="$CACHE/debootstrap" \
    --include=systemd,systemd-sysv,libpam-systemd,dbus,udev,kmod,iproute2,nftables,util-linux,mount,procps,e2fsprogs,iputils-ping,libstdc++6 \
    bookworm "$root" "$mirror" >>"$out/build.log" 2>&1

  say "image: the kernel, an initramfs and vpsctl's own packages (bin/apt-packages, bin/apt-packages-tests)"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"   # start no service in the chroot
  chmod 755 "$root/usr/sbin/policy-rc.d"
  mount -t proc proc "$root/proc"
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    initramfs-tools "${pkgs[@]}" "${tpkgs[@]}" >>"$out/build.log" 2>&1
  # the tests' packages are installed, not started at boot, as bin/setup leaves them (the
  # README's bin/setup then finds every package it wants in place: the guest has no network)
  for p in "${tpkgs[@]}"; do chroot "$root" systemctl disable "$p.service" >>"$out/build.log" 2>&1 || true; done
  # the kernel alone and last: its initramfs is made once, not again by other packages' triggers
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    linux-image-amd64 >>"$out/build.log" 2>&1
  chroot "$root" apt-get clean
  umount "$root/proc"
  rm "$root/usr/sbin/policy-rc.d"

  say "image: node $("$NODE" --version) from the host, and the unit that runs the suite"
  install -m 755 "$NODE" "$root/usr/local/bin/node"
  echo vpsctl-guest >"$root/etc/hostname"
  printf '127.0.0.1 localhost\n127.0.1.1 vpsctl-guest\n' >"$root/etc/hosts"
  # / is the virtio disk named on the kernel command line; the run disk is /var/tmp from early
  # boot on, so that units the suite installs (vpsctl.service) find it at every boot
  printf '%s\n' '# / is the virtio disk named on the kernel command line' \
    'LABEL=vpsctl-run /var/tmp ext4 defaults,nofail,x-systemd.device-timeout=30s 0 0' >"$root/etc/fstab"
  chroot "$root" passwd -d root >/dev/null              # the serial console logs in without one
  ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
  echo 'this is the vpsctl test guest (test/guest/run.sh); the guest suite runs only here' >"$root/etc/vpsctl-guest"
  cat >"$root/usr/local/sbin/vpsctl-guest-run" <<'EOF'
#!/bin/bash
# Runs the suite the host staged on the run disk (test/guest/in-guest.sh), its output on the
# results share (9p) and the console, then powers the guest off. No run disk: does nothing.
# The suite may reboot the guest instead (in-guest.sh): it runs again at the next boot.
mkdir -p /results
# the virtio 9p transport may not be loaded yet when multi-user.target is reached (udev loads
# it as it finds the device): load it, and try for a while (a CI run once found no channel)
modprobe -q 9pnet_virtio 2>/dev/null
for _ in $(seq 60); do
  mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /results 2>/dev/null && break
  sleep 1
done
if mountpoint -q /results &&
   { mountpoint -q /var/tmp || mount LABEL=vpsctl-run /var/tmp; }; then
  /var/tmp/vpsctl/test/guest/in-guest.sh 2>&1 | tee -a /results/guest.log
  echo "${PIPESTATUS[0]}" >/results/exit-code
  sync
  systemctl poweroff
fi
EOF
  chmod 755 "$root/usr/local/sbin/vpsctl-guest-run"
  cat >"$root/etc/systemd/system/vpsctl-guest.service" <<'EOF'
[Unit]
Description=vpsctl guest test suite
After=multi-user.target
[Service]
# exec, not oneshot: the boot finishes (systemctl is-system-running: running) while it runs
Type=exec
ExecStart=/usr/local/sbin/vpsctl-guest-run
StandardOutput=journal+console
StandardError=journal+console
[Install]
WantedBy=multi-user.target
EOF
  ln -sf /etc/systemd/system/vpsctl-guest.service "$root/etc/systemd/system/multi-user.target.wants/vpsctl-guest.service"

  say "image: packing the root filesystem"
  cp "$root"/boot/vmlinuz-* "$out/vmlinuz"
  cp "$root"/boot/initrd.img-* "$out/initrd.img"
  truncate -s 8G "$out/root.img"
  mkfs.ext4 -q -L vpsctl-guest -d "$root" "$out/root.img"
  rm -rf --one-file-system "$root"
}

image() {
  local key
  key=$(image_key)
  IMAGE=$CACHE/$key
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  if ! flock -n 9; then say "image: another run is building the guest image; waiting"; flock 9; fi
  if [ "$rebuild" = 1 ]; then rm -rf --one-file-system "$IMAGE"; fi
  if [ -f "$IMAGE/root.img" ]; then
    say "image: cached $IMAGE"
  else
    say "image: building the guest image $key once for this machine (several minutes; log: $CACHE/.build-$key/build.log)"
    local t=$SECONDS
    BUILD=$CACHE/.build-$key
    if mountpoint -q "$BUILD/rootfs/proc"; then umount "$BUILD/rootfs/proc"; fi   # a build killed with -9
    rm -rf --one-file-system "$BUILD"
    mkdir -p "$BUILD" "$CACHE/debootstrap"
    image_recipe "$BUILD"                                  # on failure, cleanup() shows the log's end
    mv "$BUILD" "$IMAGE"                                   # only a whole image ever has the key's name
    BUILD=
    find "$CACHE" -mindepth 1 -maxdepth 1 -regextype posix-extended -regex '.*/[0-9a-f]{16}' ! -name "$key" \
      -exec rm -rf --one-file-system {} +                  # images of older recipes
    say "image: built in $((SECONDS - t)) s"
  fi
  exec 9>&-
}

# --- template: the integration suite's cached test template -------------------------------
template() {
  local img=$TEMPLATE_ROOT/pool/templates/$TEMPLATE.img rc
  while [ ! -f "$img" ]; do
    say "template: building the $TEMPLATE test template into $TEMPLATE_ROOT (as the integration suite does)"
    rc=0
    VPSCTL_ROOT=$TEMPLATE_ROOT VPSCTL_RUN_DIR=/run/vpsctl-test/template-build \
      bin/vpsctl template build "$TEMPLATE" </dev/null >&2 || rc=$?
    if [ "$rc" = 4 ]; then say "template: another run is building it; waiting"; sleep 15
    elif [ "$rc" != 0 ]; then die "could not build the $TEMPLATE test template (exit $rc)"; fi
  done
}

# --- stage: this run's disk, the guest's /var/tmp ------------------------------------------
stage() {
  mkdir -p "$WORKBASE"
  find "$WORKBASE" -mindepth 1 -maxdepth 1 -name 'run.*' -mtime +7 -exec rm -rf --one-file-system {} +   # old runs' logs
  WORK=$(mktemp -d "$WORKBASE/run.XXXXXX")
  local s=$WORK/stage
  say "stage: the checkout and the $TEMPLATE template onto this run's disk ($WORK)"
  mkdir -p "$s/vpsctl" "$s/test-root/pool/templates" "$WORK/results"
  cp -a bin dist helpers man node_modules src templates test package.json package-lock.json tsconfig.json oclif.manifest.json "$s/vpsctl/"
  printf '%s\n' "${jest_args[@]}" >"$s/jest-args"
  local f
  for f in "$TEMPLATE.img" "$TEMPLATE.yaml"; do
    ln "$TEMPLATE_ROOT/pool/templates/$f" "$s/test-root/pool/templates/$f" 2>/dev/null ||
      cp --sparse=always "$TEMPLATE_ROOT/pool/templates/$f" "$s/test-root/pool/templates/$f"
  done
  truncate -s 24G "$WORK/run.img"                         # sparse: room for the suite's containers
  mkfs.ext4 -q -L vpsctl-run -d "$s" "$WORK/run.img"
  rm -rf --one-file-system "$s"
  # the cached root disk stays as built: the guest writes to a throw-away overlay
  qemu-img create -q -f qcow2 -F raw -b "$IMAGE/root.img" "$WORK/root.qcow2"
}

# --- boot: qemu, the guest runs the suite and powers off ----------------------------------
# A suite that reboots the guest (the host-life tests: onboot containers after a reboot) asks
# for it on the results share (results/reboot) before it calls systemctl reboot; qemu runs with
# -no-reboot, so it exits, and the guest boots again from the same disks. At most one reboot.
boot() {
  say "boot: qemu (TCG, 2 CPUs, 4 GiB), timeout ${TIMEOUT}s; console: $WORK/console.log"
  local t=$SECONDS n=1
  TIMED_OUT=0
  while :; do
    boot_once "$t"
    if [ "$TIMED_OUT" = 0 ] && [ "$n" = 1 ] && [ -f "$WORK/results/reboot" ] && [ ! -f "$WORK/results/exit-code" ]; then
      rm -f "$WORK/results/reboot"
      n=2
      say "boot: the guest rebooted (the suite asked for it): booting it again from the same disks"
      continue
    fi
    break
  done
  say "boot: the guest ran for $((SECONDS - t)) s"
}

# One power-on of the guest, until qemu exits or the run's timeout (counted from $1) passes.
boot_once() {
  local t=$1
  qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 2 -m 4G -nographic -nic none -no-reboot \
    -kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.unified_cgroup_hierarchy=1" \
    -drive "file=$WORK/root.qcow2,if=virtio,format=qcow2" \
    -drive "file=$WORK/run.img,if=virtio,format=raw" \
    -virtfs "local,path=$WORK/results,mount_tag=results,security_model=none" \
    </dev/null >>"$WORK/console.log" 2>&1 &
  QEMU_PID=$!
  # the guest's suite output, as it comes
  touch "$WORK/results/guest.log"
  tail -n 0 -F --pid="$QEMU_PID" "$WORK/results/guest.log" >&2 2>/dev/null &
  TAIL_PID=$!
  local started= size0
  size0=$(stat -c %s "$WORK/results/guest.log")
  while kill -0 "$QEMU_PID" 2>/dev/null; do
    if [ -z "$started" ] && [ "$(stat -c %s "$WORK/results/guest.log")" -gt "$size0" ]; then
      started=1
      say "boot: the guest's suite started $((SECONDS - t)) s after qemu"
    fi
    if [ $((SECONDS - t)) -ge "$TIMEOUT" ]; then
      TIMED_OUT=1
      say "boot: no result after ${TIMEOUT}s: killing qemu (pid $QEMU_PID)"
      kill "$QEMU_PID"
      break
    fi
    sleep 1
  done
  QEMU_RC=0
  wait "$QEMU_PID" || QEMU_RC=$?
  QEMU_PID=
  wait "$TAIL_PID" 2>/dev/null || true
  TAIL_PID=
}

# --- collect: the suite's results --------------------------------------------------------
collect() {
  local r=$WORK/results rc
  if [ "$TIMED_OUT" = 1 ]; then
    printf '\nthe guest did not finish within %s s (--timeout, VPSCTL_GUEST_TIMEOUT); qemu was killed. The end of its console:\n' "$TIMEOUT"
    tail -n 60 "$WORK/console.log"
    printf '\nconsole log: %s\n' "$WORK/console.log"
    return 1
  fi
  if [ ! -f "$r/exit-code" ]; then
    printf '\nthe guest stopped (qemu exit %s) without finishing the suite. The end of its console:\n' "$QEMU_RC"
    tail -n 60 "$WORK/console.log"
    printf '\nconsole log: %s\n' "$WORK/console.log"
    return 1
  fi
  rc=$(cat "$r/exit-code")
  printf '\n--- guest results (%s) ---\n' "$r"
  [ -f "$r/timings.txt" ] && cat "$r/timings.txt"
  local j
  for j in "$r"/jest*.json; do
    [ -f "$j" ] || continue
    [ "$j" = "$r/jest.json" ] || printf -- '--- %s ---\n' "$(basename "$j" .json)"
    "$NODE" -e '
      const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      for (const f of j.testResults) for (const t of f.assertionResults)
        console.log(`${t.status === "passed" ? "ok  " : t.status === "failed" ? "FAIL" : "skip"} ${t.fullName} (${((t.duration ?? 0) / 1000).toFixed(1)} s)`);
      console.log(`tests: ${j.numPassedTests} passed, ${j.numFailedTests} failed${j.numPendingTests ? `, ${j.numPendingTests} skipped` : ""}`);' "$j"
  done
  printf 'guest suite exit code: %s (total %d s)\n' "$rc" $((SECONDS - T0))
  return "$rc"
}

# One block, read whole before it runs: a checkout changed during a run cannot change this run.
{
  deps
  image
  template
  stage
  boot
  collect
  exit
}
