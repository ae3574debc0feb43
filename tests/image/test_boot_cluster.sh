#!/usr/bin/env bash
# tests/image/test_boot_cluster.sh — the three role images forming a real
# cluster, as in the seed: a bootstrap node (booted from its raw disk through
# SeaBIOS and syslinux, CONTROL_NODES=1 so it stays a control node), a control
# node with a state disk and a data node (booted from kernel + initramfs), on
# one virtual segment.
#
#   1. boot the bootstrap VM; wait until its daemon created the cluster;
#   2. read the join tokens with `traefikee env` at its serial console (piped
#      through base64, so the raw tokens never show on the console log);
#   3. write them into the control and data VMs' node.env and config drives
#      (tools/mkconfigdrive.sh: secrets never go on the kernel command line),
#      boot both; each daemon joins ("joined the cluster");
#   4. at the control VM's console, `traefikee list-nodes --details` must
#      show bootstrap-node, control-node-1 and data-node-1 all READY
#      (names from node.env's NODE_NAME, i.e. the VMs' host names).
# Also: each image builds its role's command line from node.env, the control
# node's blank state disk is formatted and mounted, the VMs reach each other,
# the console logs root in without a password when node.env sets none, and
# no token is on a command line or in a log.
# Prints the seconds from each qemu start to "boot done", to the daemon's
# join and to READY in list-nodes (# timing lines).
#
# Network: qemu's multicast socket netdev inside a namespace made by this
# test (only lo in it), so the segment never leaves the namespace. Needs
# root for the namespace; without it the test says so and skips.
# shellcheck disable=SC2016 # the $((…)) in console input are for the VM's shell
. "$(dirname "$0")/lib.sh"

if ! img_build bootstrap control data; then
  not_ok "images built (see below)"
  sed 's/^/  /' "$IMG_TMP/build.log" | tail -20
  finish
fi
ok "bootstrap, control and data images built"

ns=tee-cl-$$
if ! img_netns "$ns"; then
  ok "cluster boot # SKIP cannot make a network namespace (not root?)"
  finish
fi
# The namespace is this test's own: a fixed group and port cannot collide.
seg=(--netns "$ns" --net "mcast:239.255.42.1:45700")
t_start=$(img_now)
since() { awk -v a="$1" -v b="$(img_now)" 'BEGIN { printf "%.1f", b - a }'; }

mkenv() { # mkenv NAME: node.env on stdin -> config drive NAME.img
  cat > "$IMG_TMP/$1.env"
  "$IMG_TOP/tools/mkconfigdrive.sh" -o "$IMG_TMP/$1.img" "$IMG_TMP/$1.env" 2>/dev/null
}
mkenv boot <<EOF
ROLE=bootstrap
NODE_NAME=bootstrap-node
IP_ADDRESS=10.99.1.10/24
LICENSE_KEY=fakeLicense-cluster-test
CONTROL_NODES=1
API=yes
BOOTSTRAP_TIMEOUT=600
EOF

# --- 1. the bootstrap VM -------------------------------------------------------------
img_boot boot bootstrap --boot disk --config "$IMG_TMP/boot.img" "${seg[@]}"
if img_wait boot 'tee-init: boot done' 120; then
  ok "boot booted (boot done after ${IMG_WAITED}s)"
else
  not_ok "boot booted"
  sed 's/^/  /' "$IMG_TMP/boot.qemu.out" "$IMG_TMP/boot.log" | tail -20
  finish
fi
check "bootstrap came up from its raw disk (syslinux)" img_has boot '^SYSLINUX '
check "bootstrap command line from node.env" img_wait boot \
  'tee-supervise\[bootstrap\]: starting \(attempt 1\): /usr/bin/traefikee bootstrap --advertise=10\.99\.1\.10:4242 --listen=0\.0\.0\.0:4242 --licensekey=… --controlnodes=1 --statedir=/var/lib/traefikee_state --mtlscertsoutputdir=/root/\.traefikee --timeout=600 --api[[:space:]]*$' 30
check "the licence key is not in the bootstrap log" bash -c "! grep -aq fakeLicense-cluster-test '$IMG_TMP/boot.log'"
if img_wait boot 'level=info msg="?cluster created' 60; then
  ok "the bootstrap daemon created the cluster (${IMG_WAITED}s after qemu start)"
  note "timing: bootstrap (disk boot): cluster created ${IMG_WAITED}s after qemu start"
else
  not_ok "the bootstrap daemon created the cluster"
  grep -av 'tee-init' "$IMG_TMP/boot.log" | tail -20 | sed 's/^/  /'
  finish
fi

# --- 2. the tokens, from the bootstrap VM's console ------------------------------------
IMG_CONSOLE_TIMEOUT=60 img_console boot 'send:\r' 'expect:root@bootstrap-node:~# ' \
  'send:traefikee env > /tmp/env.out 2>&1; echo ENV-STATUS-$?; echo TOK-BEGIN; base64 < /tmp/env.out; rm -f /tmp/env.out; echo TOK-END-$((6*7))\r' \
  'expect:^TOK-END-42' 2> "$IMG_TMP/console.err"
envtxt=$(tr -d '\r' < "$IMG_TMP/boot.transcript" | awk '/^TOK-BEGIN$/ { on = 1; next } /^TOK-END-42$/ { on = 0 } on' | base64 -d 2>/dev/null)
token_c=$(printf '%s\n' "$envtxt" | grep CONTROL_NODE_TOKEN | cut -d '"' -f2)
token_d=$(printf '%s\n' "$envtxt" | grep DATA_NODE_TOKEN | cut -d '"' -f2)
if grep -aq '^ENV-STATUS-0' "$IMG_TMP/boot.transcript" && [ -n "$token_c" ] && [ -n "$token_d" ]; then
  ok "traefikee env at the bootstrap console gives CONTROL_NODE_TOKEN and DATA_NODE_TOKEN"
else
  not_ok "traefikee env at the bootstrap console gives the tokens: $(cat "$IMG_TMP/console.err")"
  tr -d '\r' < "$IMG_TMP/boot.transcript" | tail -10 | sed 's/^/  /'
  finish
fi

# --- 3. control and data VMs, tokens on their config drives ----------------------------
mkenv ctl <<EOF
ROLE=control
NODE_NAME=control-node-1
IP_ADDRESS=10.99.1.11/24
PEERS=10.99.1.10:4242
CONTROL_NODE_TOKEN="$token_c"
API=yes
EOF
mkenv dat <<EOF
ROLE=data
NODE_NAME=data-node-1
IP_ADDRESS=10.99.1.21/24
PEERS=10.99.1.11:4242,10.99.1.10:4242
DATA_NODE_TOKEN="$token_d"
EOF
img_boot ctl control --config "$IMG_TMP/ctl.img" --state "$IMG_TMP/ctl.state" --state-size 64M "${seg[@]}"
t0_ctl=$IMG_T0
img_boot dat data --config "$IMG_TMP/dat.img" "${seg[@]}"
t0_dat=$IMG_T0

for vm in ctl dat; do
  if img_wait "$vm" 'tee-init: boot done' 120; then
    ok "$vm booted (boot done after ${IMG_WAITED}s)"
  else
    not_ok "$vm booted"
    sed 's/^/  /' "$IMG_TMP/$vm.qemu.out" | tail -5
  fi
done
check "control command line from node.env" img_wait ctl \
  'tee-supervise\[control\]: starting \(attempt 1\): /usr/bin/traefikee start-control-node --peeraddresses=10\.99\.1\.10:4242 --advertise=10\.99\.1\.11:4242 --listen=0\.0\.0\.0:4242 --statedir=/var/lib/traefikee_state --api[[:space:]]*$' 30
check "data command line from node.env" img_wait dat \
  'tee-supervise\[data\]: starting \(attempt 1\): /usr/bin/traefikee start-data-node --peeraddresses=10\.99\.1\.11:4242,10\.99\.1\.10:4242 --statedir=/var/lib/traefikee_state[[:space:]]*$' 30
check "control node formatted its blank state disk" img_has ctl 'tee-init: formatting blank state disk /dev/vd[a-z]'
check "control node mounted its state disk" img_has ctl 'tee-init: state disk /dev/vd[a-z] on /var/lib/traefikee_state'

IMG_T0=$t0_ctl
if img_wait ctl 'level=info msg="?joined the cluster' 120; then
  ok "the control node joined the cluster with CONTROL_NODE_TOKEN from its config drive"
  note "timing: control (kernel boot): joined ${IMG_WAITED}s after qemu start"
else
  not_ok "the control node joined the cluster"
  grep -av 'tee-init' "$IMG_TMP/ctl.log" | tail -20 | sed 's/^/  /'
fi
IMG_T0=$t0_dat
if img_wait dat 'level=info msg="?joined the cluster' 120; then
  ok "the data node joined the cluster with DATA_NODE_TOKEN from its config drive"
  note "timing: data (kernel boot): joined ${IMG_WAITED}s after qemu start"
else
  not_ok "the data node joined the cluster"
  grep -av 'tee-init' "$IMG_TMP/dat.log" | tail -20 | sed 's/^/  /'
fi

# --- 4. list-nodes at the control VM's console -------------------------------------------
# Poll inside the VM until all three nodes are READY (at most 90 s).
IMG_CONSOLE_TIMEOUT=120 img_console ctl 'send:\r' 'expect:root@control-node-1:~# ' \
  'send:i=0; while [ $i -lt 90 ]; do traefikee list-nodes --details > /tmp/ln 2>&1; [ $(grep -c " READY " /tmp/ln) -ge 3 ] && break; i=$((i+1)); sleep 1; done; echo LN-BEGIN; cat /tmp/ln; echo LN-END-$((6*7))\r' \
  'expect:^LN-END-42' 2> "$IMG_TMP/console.err" || note "list-nodes console: $(cat "$IMG_TMP/console.err")"
ln=$(tr -d '\r' < "$IMG_TMP/ctl.transcript" | awk '/^LN-BEGIN$/ { on = 1; next } /^LN-END-42$/ { on = 0 } on')
note "timing: all three READY in list-nodes $(since "$t_start")s after the first qemu start"
printf '%s\n' "$ln" | sed 's/^/#   /'
for n in bootstrap-node control-node-1 data-node-1; do
  kind="CONTROL NODE"; [ "$n" = data-node-1 ] && kind="DATA NODE"
  check "list-nodes on the control VM shows $n READY ($kind)" \
    bash -c "printf '%s\n' \"\$1\" | grep -qE '^[a-z0-9]+ +$n +ACCEPTED +READY +ACTIVE +$kind'" _ "$ln"
done
check "list-nodes shows a current leader" bash -c "printf '%s\n' \"\$1\" | grep -q 'Current Leader'" _ "$ln"
check "no token in any log" bash -c "! grep -aqF -e '$token_c' -e '$token_d' '$IMG_TMP/boot.log' '$IMG_TMP/ctl.log' '$IMG_TMP/dat.log'"

# The data node's console: no password set, so root is logged in at once.
if img_console dat 'send:\r' 'expect:root@data-node-1:~# ' \
     'send:ping -c 1 -W 5 10.99.1.11 && ping -c 1 -W 5 10.99.1.10 && echo PING-BOTH-$((40+2)); echo DONE-$((6*7))\r' \
     'expect:^DONE-42' 2> "$IMG_TMP/console.err"; then
  ok "console logs root in without a password when node.env sets none"
else
  not_ok "console autologin: $(cat "$IMG_TMP/console.err")"
fi
check "data node reaches the control and bootstrap nodes" grep -aq '^PING-BOTH-42' "$IMG_TMP/dat.transcript"
if img_console ctl 'send:\r' 'expect:root@control-node-1:~# ' \
     'send:grep -c " /var/lib/traefikee_state ext[24] " /proc/mounts; echo MNT-$((6*7))\r' 'expect:^MNT-42' 2>/dev/null; then
  check "the state directory is on the state disk" grep -aqx $'1\r\\?' "$IMG_TMP/ctl.transcript"
else
  not_ok "the state directory is on the state disk (no console)"
fi

# --- 5. the bootstrap daemon crashes: restarted from its state, same cluster --------------
check "the bootstrap without a state disk warns that a reboot would create a new cluster" \
  img_has boot 'tee-supervise\[bootstrap\]: warning: no state disk .* a NEW cluster'
t_kill=$(img_now)
IMG_CONSOLE_TIMEOUT=60 img_console boot 'send:\r' 'expect:root@bootstrap-node:~# ' \
  'send:kill -9 $(cat /run/traefikee/daemon.pid); echo KILLED-$((6*7))\r' 'expect:^KILLED-42' \
  2> "$IMG_TMP/console.err" || note "kill console: $(cat "$IMG_TMP/console.err")"
IMG_T0=$t_kill
check "the supervisor does not bootstrap again over the node's state" img_wait boot \
  "tee-supervise\[bootstrap\]: /var/lib/traefikee_state \(in RAM, kept since this boot\) already holds this VM's node [a-z0-9]+ of cluster [a-z0-9]+ \(traefikee\): not bootstrapping again" 60
check "... it restarts the node with start-control-node" img_wait boot \
  'tee-supervise\[bootstrap\]: starting \(attempt 2\): /usr/bin/traefikee start-control-node --advertise=10\.99\.1\.10:4242 --listen=0\.0\.0\.0:4242 --statedir=/var/lib/traefikee_state --api[[:space:]]*$' 30
started_twice() { [ "$(grep -ac 'msg="\?control node started' "$IMG_TMP/boot.log")" -ge 2 ]; }
i=0; while [ "$i" -lt 600 ] && ! started_twice; do sleep 0.1; i=$((i + 1)); done
if started_twice; then
  ok "the bootstrap node is running again ($(since "$t_kill")s after the kill)"
else
  not_ok "the bootstrap node is running again"
  grep -av 'tee-init' "$IMG_TMP/boot.log" | tail -10 | sed 's/^/  /'
fi
check "... and created no second cluster" [ "$(grep -ac 'msg="\?cluster created' "$IMG_TMP/boot.log")" -eq 1 ]
IMG_CONSOLE_TIMEOUT=120 img_console boot 'send:\r' 'expect:root@bootstrap-node:~# ' \
  'send:i=0; while [ $i -lt 60 ]; do traefikee list-nodes --details > /tmp/ln 2>&1; [ $(grep -c " READY " /tmp/ln) -ge 3 ] && grep -q "Current Leader" /tmp/ln && break; i=$((i+1)); sleep 1; done; echo LN-BEGIN; cat /tmp/ln; echo LN-END-$((6*7)); traefikee env > /tmp/env.out 2>&1; echo TOK-BEGIN; base64 < /tmp/env.out; rm -f /tmp/env.out; echo TOK-END-$((6*7))\r' \
  'expect:^TOK-END-42' 2> "$IMG_TMP/console.err" || note "list-nodes console: $(cat "$IMG_TMP/console.err")"
ln=$(tr -d '\r' < "$IMG_TMP/boot.transcript" | awk '/^LN-BEGIN$/ { on = 1; next } /^LN-END-42$/ { on = 0 } on')
printf '%s\n' "$ln" | sed 's/^/#   /'
note "timing: kill -9 of the bootstrap daemon -> 3 READY again $(since "$t_kill")s"
for n in bootstrap-node control-node-1 data-node-1; do
  check "after the restart list-nodes on the bootstrap VM shows $n READY" \
    bash -c "printf '%s\n' \"\$1\" | grep -qE '^[a-z0-9]+ +$n +ACCEPTED +READY +ACTIVE '" _ "$ln"
done
check "... three nodes, no more" [ "$(printf '%s\n' "$ln" | tail -n +3 | grep -c .)" -eq 3 ]
# (the transcript holds step 2's block too: the last one is this restart's)
envtxt2=$(tr -d '\r' < "$IMG_TMP/boot.transcript" | awk '/^TOK-BEGIN$/ { on = 1; b = ""; next } /^TOK-END-42$/ { on = 0 } on { b = b $0 "\n" } END { printf "%s", b }' | base64 -d 2>/dev/null)
token_c2=$(printf '%s\n' "$envtxt2" | grep CONTROL_NODE_TOKEN | tail -n 1 | cut -d '"' -f2)
check "... and the same join tokens" [ -n "$token_c2" ] && [ "$token_c2" = "$token_c" ]

note "total $(since "$t_start")s"
finish
