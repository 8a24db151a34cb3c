#!/bin/bash
# Runs inside the test guest, started by the image's vpsctl-guest.service (see run.sh) once
# multi-user.target is reached: writes what the guest is, then runs the guest suite with
# jest. Its exit code is the suite's. /var/tmp is this run's disk (the checkout in
# /var/tmp/vpsctl, the test template in /var/tmp/test-root); /results is shared with the host.
#
# Two phases. The first boot runs test/guest/*.test.ts. If the host-life test made its
# containers ready for a reboot ($REBOOT/ready), the guest reboots (the host boots qemu again)
# and the second boot runs test/guest/*.after.ts, which checks what came back; the exit code
# is then that of both runs.
set -u
R=/results
REBOOT=/var/tmp/vpsctl-reboot          # the host-life test's state root and notes, on the run disk
cd /var/tmp/vpsctl

phase=main
[ -f "$REBOOT/phase" ] && phase=$(cat "$REBOOT/phase")

state=$(systemctl is-system-running --wait)
boot=$(systemd-analyze 2>&1 | head -n 1)
echo "guest boot ($phase): systemd $state; $boot" | tee -a "$R/timings.txt"
echo "guest: kernel $(uname -r), $(nproc) CPUs, $(free -m | awk '/^Mem:/ {print $2}') MiB, node $(node --version)"
echo "guest: /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "guest: this runner's cgroup: $(cat /proc/self/cgroup)"
if [ "$state" != running ]; then
  echo "guest: failed units:"; systemctl --failed --no-legend --plain
fi

export VPSCTL_TEST_TEMPLATE_ROOT=/var/tmp/test-root VPSCTL_GUEST_RESULTS=$R CI=true FORCE_COLOR=0
jest() {
  node --experimental-vm-modules node_modules/jest/bin/jest.js --config test/guest/jest.config.mjs --runInBand --json "$@"
}

if [ "$phase" = after-reboot ]; then
  echo "guest: after the reboot: the host-life tests check what came back"
  rc=0
  VPSCTL_GUEST_PHASE=after-reboot jest --outputFile="$R/jest-after-reboot.json" || rc=$?
  main=$(cat "$R/exit-code.main" 2>/dev/null || echo 1)
  [ "$main" = 0 ] || echo "guest: the first boot's suite exited $main"
  [ "$rc" = 0 ] && [ "$main" = 0 ] && exit 0
  exit 1
fi

echo "guest: vpsctl host check"
bin/vpsctl host check

mapfile -t args < <(grep . /var/tmp/jest-args)
rc=0
jest --outputFile="$R/jest.json" "${args[@]}" || rc=$?
if [ -f "$REBOOT/ready" ]; then
  echo "$rc" >"$R/exit-code.main"
  echo after-reboot >"$REBOOT/phase"
  touch "$R/reboot"
  sync
  echo "guest: rebooting; the host-life tests go on after the boot (test/guest/host-life.after.ts)"
  systemctl reboot
  exec sleep infinity                    # the shutdown ends this, and vpsctl-guest-run with it
fi
exit "$rc"
