#!/usr/bin/env bash
# tests/image/test_boot_cluster.sh — the three role images side by side, as
# in the seed: a bootstrap node (booted from its raw disk through SeaBIOS and
# syslinux), a control node with a state disk and a data node (booted from
# kernel + initramfs), on one virtual segment. Checks that each image builds
# its role's command line from node.env as documented, that the control
# node's blank state disk is formatted and mounted, that the VMs reach each
# other, and that the console logs root in without a password when node.env
# sets none.
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
token_c=CTRL-TOKEN-cluster-test-0001
token_d=DATA-TOKEN-cluster-test-0002

mkenv() { # mkenv NAME: node.env on stdin -> config drive NAME.img
  cat > "$IMG_TMP/$1.env"
  "$IMG_TOP/tools/mkconfigdrive.sh" -o "$IMG_TMP/$1.img" "$IMG_TMP/$1.env" 2>/dev/null
}
mkenv boot <<EOF
ROLE=bootstrap
NODE_NAME=bootstrap-node
IP_ADDRESS=10.99.1.10/24
LICENSE_KEY=fakeLicense-cluster-test
CONTROL_NODES=3
API=yes
BOOTSTRAP_TIMEOUT=600
EOF
mkenv ctl <<EOF
ROLE=control
NODE_NAME=control-node-1
IP_ADDRESS=10.99.1.11/24
PEERS=10.99.1.10:4242
CONTROL_NODE_TOKEN=$token_c
API=yes
EOF
mkenv dat <<EOF
ROLE=data
NODE_NAME=data-node-1
IP_ADDRESS=10.99.1.21/24
PEERS=10.99.1.11:4242
DATA_NODE_TOKEN=$token_d
EOF

img_boot boot bootstrap --boot disk --config "$IMG_TMP/boot.img" "${seg[@]}"
img_boot ctl control --config "$IMG_TMP/ctl.img" --state "$IMG_TMP/ctl.state" --state-size 64M "${seg[@]}"
img_boot dat data --config "$IMG_TMP/dat.img" "${seg[@]}"

for vm in boot ctl dat; do
  if img_wait "$vm" 'tee-init: boot done' 120; then
    ok "$vm booted"
  else
    not_ok "$vm booted"
    sed 's/^/  /' "$IMG_TMP/$vm.qemu.out" | tail -5
  fi
done
check "bootstrap came up from its raw disk (syslinux)" img_has boot '^SYSLINUX '

check "bootstrap command line from node.env" img_wait boot \
  'tee-supervise\[bootstrap\]: starting \(attempt 1\): /usr/bin/traefikee bootstrap --advertise=10\.99\.1\.10:4242 --listen=0\.0\.0\.0:4242 --licensekey=… --controlnodes=3 --statedir=/var/lib/traefikee_state --mtlscertsoutputdir=/root/\.traefikee --timeout=600 --api[[:space:]]*$' 30
check "the licence key is not in the bootstrap log" bash -c "! grep -aq fakeLicense-cluster-test '$IMG_TMP/boot.log'"
check "control command line from node.env" img_wait ctl \
  'tee-supervise\[control\]: starting \(attempt 1\): /usr/bin/traefikee start-control-node --peeraddresses=10\.99\.1\.10:4242 --advertise=10\.99\.1\.11:4242 --listen=0\.0\.0\.0:4242 --statedir=/var/lib/traefikee_state --api[[:space:]]*$' 30
check "data command line from node.env" img_wait dat \
  'tee-supervise\[data\]: starting \(attempt 1\): /usr/bin/traefikee start-data-node --peeraddresses=10\.99\.1\.11:4242 --statedir=/var/lib/traefikee_state[[:space:]]*$' 30
check "control node formatted its blank state disk" img_has ctl 'tee-init: formatting blank state disk /dev/vd[a-z]'
check "control node mounted its state disk" img_has ctl 'tee-init: state disk /dev/vd[a-z] on /var/lib/traefikee_state'
check "no token in any log" bash -c "! grep -aqE '$token_c|$token_d' '$IMG_TMP/boot.log' '$IMG_TMP/ctl.log' '$IMG_TMP/dat.log'"

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
finish
