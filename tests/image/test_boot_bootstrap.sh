#!/usr/bin/env bash
# tests/image/test_boot_bootstrap.sh — the bootstrap VM with a state disk is
# rebooted while it waits for its control nodes (CONTROL_NODES=2, none come):
#
#   1. first boot: the blank state disk is formatted and holds the state
#      directory, no "no state disk" warning, `traefikee bootstrap` creates
#      the cluster; the join tokens are read at the console (through base64);
#   2. poweroff, boot again with the same disks: the supervisor says the state
#      disk already holds this VM's node of that cluster and that it does not
#      bootstrap again, starts `traefikee start-control-node` (no licence, no
#      bootstrap flags), the daemon resumes the bootstrap (same cluster, still
#      waiting for 2 control nodes), no second "cluster created", and
#      `traefikee env` gives the same tokens; the admin credentials in
#      /root/.traefikee (a link to the state disk) are still there.
#
# What a resumed bootstrap then does (hand-over, a completed one started
# again, a timed-out one) is covered against the binary by
# tests/regress/test_cluster_bootstrap_restart.sh.
# Needs root for the network namespace; without it the test says so and skips.
# shellcheck disable=SC2016 # the $((…)) in console input are for the VM's shell
. "$(dirname "$0")/lib.sh"

if ! img_build bootstrap; then
  not_ok "bootstrap image built (see below)"
  sed 's/^/  /' "$IMG_TMP/build.log" | tail -20
  finish
fi
ok "bootstrap image built"

ns=tee-bs-$$
if ! img_netns "$ns"; then
  ok "bootstrap reboot # SKIP cannot make a network namespace (not root?)"
  finish
fi
seg=(--netns "$ns" --net "mcast:239.255.42.2:45701")
t_start=$(img_now)
since() { awk -v a="$1" -v b="$(img_now)" 'BEGIN { printf "%.1f", b - a }'; }

cat > "$IMG_TMP/boot.env" <<EOF
ROLE=bootstrap
NODE_NAME=bootstrap-node
IP_ADDRESS=10.99.2.10/24
LICENSE_KEY=fakeLicense-reboot-test
CONTROL_NODES=2
BOOTSTRAP_TIMEOUT=900
EOF
"$IMG_TOP/tools/mkconfigdrive.sh" -o "$IMG_TMP/boot.img" "$IMG_TMP/boot.env" 2>/dev/null
vm=(--config "$IMG_TMP/boot.img" --state "$IMG_TMP/boot.state" --state-size 64M "${seg[@]}")

read_env() { # read_env NAME: `traefikee env` at NAME's console, through base64 -> $envtxt
  IMG_CONSOLE_TIMEOUT=60 img_console "$1" 'send:\r' 'expect:root@bootstrap-node:~# ' \
    'send:echo CRED-$(md5sum < /root/.traefikee/admin.pem | cut -c1-32)-$(stat -L -c %a /root/.traefikee)-$(stat -c %a /root/.traefikee/admin.key); traefikee env > /tmp/env.out 2>&1; echo TOK-BEGIN; base64 < /tmp/env.out; rm -f /tmp/env.out; echo TOK-END-$((6*7))\r' \
    'expect:^TOK-END-42' 2> "$IMG_TMP/console.err" || note "env console: $(cat "$IMG_TMP/console.err")"
  cred=$(tr -d '\r' < "$IMG_TMP/$1.transcript" | grep -a '^CRED-' | tail -n 1)
  envtxt=$(tr -d '\r' < "$IMG_TMP/$1.transcript" | awk '/^TOK-BEGIN$/ { on = 1; b = ""; next } /^TOK-END-42$/ { on = 0 } on { b = b $0 "\n" } END { printf "%s", b }' | base64 -d 2>/dev/null)
}
poweroff() { # poweroff NAME QEMU-PID
  img_console "$1" 'send:\r' 'expect:root@bootstrap-node:~# ' 'send:poweroff\r' 'sleep:0.2' 2>/dev/null
  if img_exited "$2" 60; then ok "poweroff ends $1"; else not_ok "poweroff ends $1"; kill "$2" 2>/dev/null; fi
}

# --- 1. first boot ----------------------------------------------------------------------
img_boot boot1 bootstrap "${vm[@]}"
q1=$IMG_PID
if img_wait boot1 'level=info msg="?cluster created' 150; then
  ok "first boot: the cluster is created (${IMG_WAITED}s after qemu start)"
else
  not_ok "first boot: the cluster is created"
  grep -av 'tee-init' "$IMG_TMP/boot1.log" | tail -20 | sed 's/^/  /'
  finish
fi
check "the blank state disk is formatted" img_has boot1 'tee-init: formatting blank state disk /dev/vd[a-z]'
check "... and holds the state directory" img_has boot1 'tee-init: state disk /dev/vd[a-z] on /var/lib/traefikee_state'
check "no 'no state disk' warning with a state disk" bash -c "! grep -aq 'warning: no state disk' '$IMG_TMP/boot1.log'"
check "the first start bootstraps" img_has boot1 \
  'tee-supervise\[bootstrap\]: starting \(attempt 1\): /usr/bin/traefikee bootstrap --advertise=10\.99\.2\.10:4242 .*--controlnodes=2 '
check "the bootstrap waits for 2 control nodes" img_wait boot1 'waiting for the control nodes.*wanted=2' 20
cluster=$(grep -aoE 'cluster created.* cluster=[a-z0-9]+' "$IMG_TMP/boot1.log" | head -n 1 | sed 's/.* cluster=//')
read_env boot1
token1=$(printf '%s\n' "$envtxt" | grep CONTROL_NODE_TOKEN | cut -d '"' -f2)
check "traefikee env at the console gives the control node token" [ -n "$token1" ]
cred1=$cred
check "the admin credentials are in /root/.traefikee (0700, admin.key 0600), on the state disk" \
  bash -c "[[ \$1 =~ ^CRED-[0-9a-f]{32}-700-600$ ]]" _ "$cred1"
poweroff boot1 "$q1"

# --- 2. reboot with the same state disk ---------------------------------------------------
img_boot boot2 bootstrap "${vm[@]}"
q2=$IMG_PID
check "after the reboot the state disk is mounted again, not formatted" img_wait boot2 \
  'tee-init: state disk /dev/vd[a-z] on /var/lib/traefikee_state' 150
check "... and not formatted" bash -c "! grep -aq 'formatting blank state disk' '$IMG_TMP/boot2.log'"
check "the supervisor says the state disk holds this cluster's node and it does not bootstrap again" img_wait boot2 \
  "tee-supervise\\[bootstrap\\]: /var/lib/traefikee_state \\(on the state disk\\) already holds this VM's node [a-z0-9]+ of cluster $cluster \\(traefikee\\): not bootstrapping again" 60
check "it starts start-control-node from the state (no licence, no bootstrap flags)" img_wait boot2 \
  'tee-supervise\[bootstrap\]: starting \(attempt 1\): /usr/bin/traefikee start-control-node --advertise=10\.99\.2\.10:4242 --listen=0\.0\.0\.0:4242 --statedir=/var/lib/traefikee_state[[:space:]]*$' 30
if img_wait boot2 'resuming the bootstrap' 60; then
  ok "the daemon resumes the bootstrap (${IMG_WAITED}s after qemu start)"
else
  not_ok "the daemon resumes the bootstrap"
  grep -av 'tee-init' "$IMG_TMP/boot2.log" | tail -20 | sed 's/^/  /'
fi
check "... of the same cluster" img_has boot2 "resuming the bootstrap.*cluster=$cluster"
check "... still waiting for 2 control nodes" img_wait boot2 'waiting for the control nodes.*wanted=2' 20
check "no second cluster is created" bash -c "! grep -aq 'cluster created' '$IMG_TMP/boot2.log'"
read_env boot2
token2=$(printf '%s\n' "$envtxt" | grep CONTROL_NODE_TOKEN | cut -d '"' -f2)
check "traefikee env gives the same token as before the reboot" [ -n "$token2" ] && [ "$token2" = "$token1" ]
check "the admin credentials survived the reboot (same admin.pem)" [ "$cred" = "$cred1" ]
check "the licence key is in no log" bash -c "! grep -aq fakeLicense-reboot-test '$IMG_TMP/boot1.log' '$IMG_TMP/boot2.log'"
check "no token in any log" bash -c "! grep -aqF -e '$token1' '$IMG_TMP/boot1.log' '$IMG_TMP/boot2.log'"
poweroff boot2 "$q2"
note "total $(since "$t_start")s"
finish
