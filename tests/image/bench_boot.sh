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
#   ready    the node is READY: for bootstrap, its daemon's "cluster created"
#            line (the new cluster's leader lists itself ACCEPTED READY at
#            once); for control and data, the daemon's "joined the cluster"
#            line (the join is committed with the node READY, as
#            `traefikee list-nodes` shows). "-" when none came within
#            BENCH_READY_WAIT s (default 90).
# Control and data nodes need a cluster to join: the script first boots one
# bootstrap VM (kernel boot, CONTROL_NODES=1, not timed), reads the join
# tokens at its serial console (`traefikee env`) and puts them on each node's
# config drive. Each timed VM is stopped (by PID) after its row.
# BENCH_RUNS (default 1) boots each case that many times and shows each run.
# Network: qemu's multicast socket netdev inside a namespace this script
# makes (needs root; without it, the NIC is a unix datagram socket to nowhere
# and "ready" is "-" for control and data). Timings are under TCG unless KVM
# works (see tools/bootvm.sh) and depend on the host's load: run it on an
# idle machine.
# shellcheck disable=SC2016 # the $((…)) in console input are for the VM's shell
. "$(dirname "$0")/lib.sh"

roles=("$@")
[ ${#roles[@]} -gt 0 ] || roles=(bootstrap control data)
runs=${BENCH_RUNS:-1}
ready_wait=${BENCH_READY_WAIT:-90}

img_build bootstrap "${roles[@]}" || { echo "bench-boot: image build failed"; cat "$IMG_TMP/build.log"; exit 1; }

accel=tcg
"$IMG_TOP/tools/bootvm.sh" --dry-run data 2>/dev/null | grep -q -- '-accel kvm' && accel=kvm
printf '# accel %s, load average %s, %s runs per case\n' "$accel" "$(cut -d' ' -f1-3 /proc/loadavg)" "$runs"

mkdrive() { # mkdrive NAME: node.env on stdin -> config drive NAME.img
  cat > "$IMG_TMP/$1.env"
  "$IMG_TOP/tools/mkconfigdrive.sh" -o "$IMG_TMP/$1.img" "$IMG_TMP/$1.env" 2>/dev/null
}

ns=tee-bench-$$
token_c=bench-token token_d=bench-token
if img_netns "$ns"; then
  seg() { net=(--netns "$ns" --net "mcast:239.255.42.2:45701"); }
  need_cluster=0
  for r in "${roles[@]}"; do [ "$r" = bootstrap ] || need_cluster=1; done
  if [ "$need_cluster" = 1 ]; then
    mkdrive cluster <<EOF
ROLE=bootstrap
NODE_NAME=bench-cluster
IP_ADDRESS=10.99.0.2/24
LICENSE_KEY=bench-licence
CONTROL_NODES=1
EOF
    seg
    img_boot cluster bootstrap --config "$IMG_TMP/cluster.img" "${net[@]}"
    if img_wait cluster 'level=info msg="?cluster created' 120 &&
       IMG_CONSOLE_TIMEOUT=60 img_console cluster 'send:\r' 'expect:root@bench-cluster:~# ' \
         'send:echo TOK-BEGIN; traefikee env | base64; echo TOK-END-$((6*7))\r' 'expect:^TOK-END-42' 2>/dev/null; then
      envtxt=$(tr -d '\r' < "$IMG_TMP/cluster.transcript" | awk '/^TOK-BEGIN$/ { on = 1; next } /^TOK-END-42$/ { on = 0 } on' | base64 -d 2>/dev/null)
      token_c=$(printf '%s\n' "$envtxt" | grep CONTROL_NODE_TOKEN | cut -d '"' -f2)
      token_d=$(printf '%s\n' "$envtxt" | grep DATA_NODE_TOKEN | cut -d '"' -f2)
      printf '# cluster to join: bootstrap VM bench-cluster (10.99.0.2), ready %ss after its qemu start\n' "$IMG_WAITED"
    else
      echo "# the cluster VM did not come up: control and data cannot become READY"
    fi
  fi
else
  seg() { net=(--net "dgram:$IMG_TMP/$n.net:$IMG_TMP/none.net"); }
  echo "# no network namespace (not root?): control and data cannot join, their ready is -"
fi

printf '%-10s %-7s %8s %8s %8s\n' role boot init start ready
k=0
for role in "${roles[@]}"; do
  case $role in
    bootstrap) ready_rx='level=info msg="?cluster created' ;;
    *) ready_rx='level=info msg="?joined the cluster' ;;
  esac
  for boot in kernel disk; do
    for run in $(seq 1 "$runs"); do
      k=$((k + 1))
      n=b-$role-$boot-$run
      mkdrive "$n" <<EOF
ROLE=$role
NODE_NAME=bench-$role-$boot-$run
IP_ADDRESS=10.99.0.$((10 + k))/24
PEERS=10.99.0.2:4242
LICENSE_KEY=bench-licence
CONTROL_NODE_TOKEN="$token_c"
DATA_NODE_TOKEN="$token_d"
EOF
      seg
      img_boot "$n" "$role" --boot "$boot" --config "$IMG_TMP/$n.img" "${net[@]}"
      init=- start=- ready=-
      img_wait "$n" 'tee-init: boot done' 90 && init=$IMG_WAITED
      img_wait "$n" "tee-supervise\\[$role\\]: starting \\(attempt 1\\)" 30 && start=$IMG_WAITED
      img_wait "$n" "$ready_rx" "$ready_wait" && ready=$IMG_WAITED
      printf '%-10s %-7s %8s %8s %8s\n' "$role" "$boot" "$init" "$start" "$ready"
      kill -TERM "$IMG_PID" 2>/dev/null
      wait "$IMG_PID" 2>/dev/null
    done
  done
done
