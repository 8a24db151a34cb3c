#!/bin/bash
# Runs inside the test guest, started by the image's vpsctl-guest.service (see run.sh) once
# multi-user.target is reached: writes what the guest is, then runs the guest suite with
# jest. Its exit code is the suite's. /var/tmp is this run's disk (the checkout in
# /var/tmp/vpsctl, the test template in /var/tmp/test-root); /results is shared with the host.
set -u
R=/results
cd /var/tmp/vpsctl

state=$(systemctl is-system-running --wait)
boot=$(systemd-analyze 2>&1 | head -n 1)
echo "guest boot: systemd $state; $boot" | tee -a "$R/timings.txt"
echo "guest: kernel $(uname -r), $(nproc) CPUs, $(free -m | awk '/^Mem:/ {print $2}') MiB, node $(node --version)"
echo "guest: /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "guest: this runner's cgroup: $(cat /proc/self/cgroup)"
if [ "$state" != running ]; then
  echo "guest: failed units:"; systemctl --failed --no-legend --plain
fi
echo "guest: vpsctl host check"
bin/vpsctl host check

mapfile -t args < <(grep . /var/tmp/jest-args)
export VPSCTL_TEST_TEMPLATE_ROOT=/var/tmp/test-root VPSCTL_GUEST_RESULTS=$R CI=true FORCE_COLOR=0
node --experimental-vm-modules node_modules/jest/bin/jest.js --config test/guest/jest.config.mjs \
  --runInBand --json --outputFile="$R/jest.json" "${args[@]}"
