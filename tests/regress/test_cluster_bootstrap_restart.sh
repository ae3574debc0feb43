#!/usr/bin/env bash
# A bootstrap node (--controlnodes=3) killed with -9 while it waits for its control
# nodes is restarted the way the bootstrap VM's supervisor does it: `traefikee
# bootstrap` again is refused (it would create another cluster), `start-control-node
# --statedir` resumes the bootstrap: same cluster, same tokens, the node that joined
# before the crash stays, the hand-over completes and the bootstrap node exits 0.
# Started again after the hand-over, it says its job is done and exits 0 without
# touching the cluster. A bootstrap whose --timeout ran out while it was down is
# not resumed (exit 1, saying the cluster was not created).
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
TIMING=(--status.downafter=2 --cleanup.grace=4)

flags() { # flags I NAME: the addresses, socket and state directory of node I
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s$1.sock" 2>/dev/null; }
count() { nodes "$1" | grep -c -- "$2"; }
has_n() { [ "$(count "$1" "$2")" -eq "$3" ]; }
env_token() { "$T" env --traefikeesocket="$D/s$1.sock" 2>/dev/null | grep "$2" | cut -d '"' -f2; }
T0=$SECONDS

# shellcheck disable=SC2046
BOOT_ARGS=(bootstrap --controlnodes=3 --licensekey=fakeLicense --timeout=60 "${TIMING[@]}"
           $(flags 0 bootstrap-node) --mtlscertsoutputdir="$D/creds")
# shellcheck disable=SC2046
RESUME_ARGS=(start-control-node "${TIMING[@]}" $(flags 0 bootstrap-node))
spawn "$T" "${BOOT_ARGS[@]}" >"$D/boot.log" 2>&1
BOOT=$SPAWNED
if wait_for 20 has_n 0 "(Current Leader)" 1; then ok "the bootstrap node leads"; else not_ok "the bootstrap node leads"; cat "$D/boot.log"; fi
export CONTROL_NODE_TOKEN
CONTROL_NODE_TOKEN=$(env_token 0 CONTROL_NODE_TOKEN)
DATA_TOKEN=$(env_token 0 DATA_NODE_TOKEN)
CLUSTER=$(sed -n 's/.*"clusterId":"\([^"]*\)".*/\1/p' "$D/s0/node.json")
check "the state directory records the bootstrap" grep -q "controlnodes=3" "$D/s0/bootstrap"

PIDS=()
start_control() { # start_control I
  # shellcheck disable=SC2046
  spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) "${TIMING[@]}" \
    $(flags "$1" control-node-"$1") >>"$D/c$1.log" 2>&1
  PIDS[$1]=$SPAWNED
}
start_control 1
if wait_for 30 grep -q "joined the cluster" "$D/c1.log"; then ok "control-node-1 joins while the bootstrap waits"; else not_ok "control-node-1 joins while the bootstrap waits"; cat "$D/c1.log"; fi

# The bootstrap process crashes mid-wait.
kill -9 "$BOOT"
{ wait "$BOOT"; } 2>/dev/null
T_KILL=$SECONDS

# What the old supervisor did: run the same bootstrap command line again.
run "$T" "${BOOT_ARGS[@]}"
check "bootstrap again over its state directory is refused (exit 1)" [ "$RC" -eq 1 ]
check "... saying it would create another cluster" has "$ERR" "would create another cluster"
check "... and how to resume it" has "$ERR" "start-control-node --statedir=$D/s0"
check "... without touching the admin credentials" [ -s "$D/creds/admin.key" ]

# What the supervisor does now: resume from the state directory, no token, no licence.
spawn env -u CONTROL_NODE_TOKEN "$T" "${RESUME_ARGS[@]}" >"$D/boot2.log" 2>&1
BOOT=$SPAWNED
if wait_for 20 has_n 0 "bootstrap-node.*(Current Leader)" 1; then ok "start-control-node resumes the bootstrap node as leader"; else not_ok "start-control-node resumes the bootstrap node as leader"; cat "$D/boot2.log"; fi
check "... saying it resumes the bootstrap" grep -q "resuming the bootstrap" "$D/boot2.log"
check "... still waiting for 3 control nodes" grep -q "waiting for the control nodes.*wanted=3" "$D/boot2.log"
check "... in the same cluster" grep -q "\"clusterId\":\"$CLUSTER\"" "$D/s0/node.json"
check "... with the same tokens" [ "$(env_token 0 CONTROL_NODE_TOKEN)" = "$CONTROL_NODE_TOKEN" ] && [ "$(env_token 0 DATA_NODE_TOKEN)" = "$DATA_TOKEN" ]
check "control-node-1 is still listed" has_n 0 " control-node-1 " 1
check "list-nodes shows two control nodes" [ "$(nodes 0 | tail -n +3 | wc -l)" -eq 2 ]
check "control-node-1 survived the crash" kill -0 "${PIDS[1]}"
echo "# timing: kill -9 -> resumed leader $((SECONDS - T_KILL)) s"

start_control 2
start_control 3
if wait_for 60 gone "$BOOT"; then ok "the resumed bootstrap node stops once the control nodes joined"; else not_ok "the resumed bootstrap node stops once the control nodes joined"; tail -n 20 "$D/boot2.log"; fi
wait "$BOOT"; rc=$?
check "... with exit status 0" [ "$rc" -eq 0 ]
check "... after handing leadership over" grep -q "handing leadership over" "$D/boot2.log"
if wait_for 20 has_n 1 "ACCEPTED    READY   ACTIVE        CONTROL NODE" 3; then ok "three control nodes ACCEPTED READY ACTIVE"; else not_ok "three control nodes ACCEPTED READY ACTIVE"; nodes 1; fi
check "exactly one of them is the leader" has_n 1 "(Current Leader)" 1
check "control-node-1 (joined before the crash) is one of them" has_n 1 "control-node-1  ACCEPTED    READY" 1
for i in 1 2 3; do
  check "control-node-$i is running" kill -0 "${PIDS[$i]}"
done
check "every node is in the bootstrap's cluster" \
  bash -c 'for i in 1 2 3; do grep -q "\"clusterId\":\"$1\"" "$2/s$i/node.json" || exit 1; done' _ "$CLUSTER" "$D"
if wait_for 20 has_n 2 "bootstrap-node" 0; then ok "the clean-up drops the bootstrap node"; else not_ok "the clean-up drops the bootstrap node"; nodes 2; fi
LEADER=$(nodes 1 | awk '/Current Leader/ {print $2}')

# Started again after the hand-over (a reboot of a VM with a state disk): nothing to do.
T1=$SECONDS
run env -u CONTROL_NODE_TOKEN timeout 20 "$T" "${RESUME_ARGS[@]}"
check "the finished bootstrap node started again exits 0 at once" [ "$RC" -eq 0 ] && [ $((SECONDS - T1)) -le 5 ]
check "... saying it handed the cluster over" has "$ERR" "handed the cluster over to its 3 control nodes"
check "... that its job is done" has "$ERR" "Its job is done"
check "... and what to do" has "$ERR" "use an empty --statedir"
run "$T" "${BOOT_ARGS[@]}"
check "bootstrap over it is refused too (exit 1)" [ "$RC" -eq 1 ] && has "$ERR" "would create another cluster"
check "the cluster still has three control nodes" [ "$(nodes 1 | tail -n +3 | wc -l)" -eq 3 ]
check "... and the same leader" has_n 1 "$LEADER.*(Current Leader)" 1

# A bootstrap whose --timeout ran out while it was down is not resumed.
# shellcheck disable=SC2046
spawn "$T" bootstrap --controlnodes=2 --licensekey=fakeLicense --timeout=2 $(flags 5 boot-b) \
  --mtlscertsoutputdir="$D/creds-b" >"$D/boot-b.log" 2>&1
B=$SPAWNED
if wait_for 20 has_n 5 "(Current Leader)" 1; then ok "a second bootstrap (--timeout=2) leads"; else not_ok "a second bootstrap (--timeout=2) leads"; cat "$D/boot-b.log"; fi
{ kill -9 "$B" && wait "$B"; } 2>/dev/null
sleep 2.5
# shellcheck disable=SC2046
run timeout 20 "$T" start-control-node $(flags 5 boot-b)
check "a bootstrap past its --timeout is not resumed (exit 1)" [ "$RC" -eq 1 ]
check "... saying the cluster is not created" has "$ERR" "timeout ran out" && has "$ERR" "the cluster is not created"
check "... and what to do" has "$ERR" "Empty $D/s5"
printf '# %s\n' "$ERR"
echo "# timing: whole test $((SECONDS - T0)) s"
finish
