#!/usr/bin/env bash
# tests/image/bench_boot.sh — boot timings of the role images (make bench-boot).
#
#   tests/image/bench_boot.sh [ROLE...]      (default: bootstrap control data)
#
# For each role and boot mode (kernel: qemu -kernel/-initrd; disk: SeaBIOS +
# syslinux from disk.img) boots the image with a config drive for that role,
# and reports the wall-clock seconds from qemu's start to:
#   init     "tee-init: boot done" (rcS finished)
#   start    the supervisor's "starting (attempt 1)" line
#   ready    a line from the daemon with READY in it (as it logs when the node
#            reports READY); "-" when none came within BENCH_READY_WAIT s
#            (default 5; today's daemons exit at once, so none does)
# BENCH_RUNS (default 1) boots each case that many times and shows each run.
# The VM has a NIC on a unix datagram socket in a scratch folder and nothing
# else. Timings are under TCG unless KVM works (see tools/bootvm.sh) and
# depend on the host's load: run it on an idle machine.
. "$(dirname "$0")/lib.sh"

roles=("$@")
[ ${#roles[@]} -gt 0 ] || roles=(bootstrap control data)
runs=${BENCH_RUNS:-1}
ready_wait=${BENCH_READY_WAIT:-5}

img_build "${roles[@]}" || { echo "bench-boot: image build failed"; cat "$IMG_TMP/build.log"; exit 1; }

accel=tcg
"$IMG_TOP/tools/bootvm.sh" --dry-run data 2>/dev/null | grep -q -- '-accel kvm' && accel=kvm
printf '# accel %s, load average %s, %s runs per case\n' "$accel" "$(cut -d' ' -f1-3 /proc/loadavg)" "$runs"
printf '%-10s %-7s %8s %8s %8s\n' role boot init start ready

for role in "${roles[@]}"; do
  cat > "$IMG_TMP/$role.env" <<EOF
ROLE=$role
NODE_NAME=bench-$role
IP_ADDRESS=10.99.0.10/24
PEERS=10.99.0.11:4242
LICENSE_KEY=bench-licence
CONTROL_NODE_TOKEN=bench-token
DATA_NODE_TOKEN=bench-token
EOF
  "$IMG_TOP/tools/mkconfigdrive.sh" -o "$IMG_TMP/$role.img" "$IMG_TMP/$role.env" 2>/dev/null
  for boot in kernel disk; do
    for run in $(seq 1 "$runs"); do
      n=b-$role-$boot-$run
      img_boot "$n" "$role" --boot "$boot" --config "$IMG_TMP/$role.img" \
        --net "dgram:$IMG_TMP/$n.net:$IMG_TMP/none.net"
      init=- start=- ready=-
      img_wait "$n" 'tee-init: boot done' 90 && init=$IMG_WAITED
      img_wait "$n" "tee-supervise\\[$role\\]: starting \\(attempt 1\\)" 30 && start=$IMG_WAITED
      # READY as a word on a line that is the daemon's (not init's or the supervisor's)
      end=$(( $(date +%s) + ready_wait ))
      while [ "$(date +%s)" -le "$end" ]; do
        if grep -av -e 'tee-init:' -e 'tee-supervise\[' "$IMG_TMP/$n.log" | grep -aqw READY; then
          ready=$(awk -v a="$IMG_T0" -v b="$(img_now)" 'BEGIN { printf "%.2f", b - a }')
          break
        fi
        sleep 0.05
      done
      printf '%-10s %-7s %8s %8s %8s\n' "$role" "$boot" "$init" "$start" "$ready"
      kill -TERM "$IMG_PID" 2>/dev/null
      wait "$IMG_PID" 2>/dev/null
    done
  done
done
