#!/usr/bin/env bash
# Stage 2: the seed's multi-control-node walk-through on loopback. bootstrap
# --controlnodes=3 waits for three control nodes joining with CONTROL_NODE_TOKEN,
# hands leadership over and stops; the bootstrap node shows DOWN, then the
# clean-up drops it; killing the leader with -9 elects another; writes sent to a
# follower are forwarded to the leader. Wrong tokens are refused before joining.
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
count() { nodes "$1" | grep -c "$2"; }
has_n() { [ "$(count "$1" "$2")" -eq "$3" ]; }
leader_name() { "$T" list-nodes --traefikeesocket="$D/s$1.sock" 2>/dev/null | awk '/Current Leader/ {print $1}'; }

# shellcheck disable=SC2046
spawn "$T" bootstrap --controlNodes=3 --licensekey=fakeLicense --timeout=60 "${TIMING[@]}" \
  $(flags 0 bootstrap-node) --mtlscertsoutputdir="$D/creds" >"$D/boot.log" 2>&1
BOOT=$SPAWNED
if wait_for 20 has_n 0 "(Current Leader)" 1; then ok "the bootstrap node leads"; else not_ok "the bootstrap node leads"; cat "$D/boot.log"; fi
export CONTROL_NODE_TOKEN
CONTROL_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
DATA_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)

# Wrong tokens: the other role's (refused before any connection), a wrong secret (refused by the leader).
# shellcheck disable=SC2046
run "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) --token="$DATA_TOKEN" $(flags 9 bad)
check "a data node token cannot start a control node (exit 2)" [ "$RC" -eq 2 ]
check "... and says which token is needed" has "$ERR" "a control node needs CONTROL_NODE_TOKEN"
BAD=${CONTROL_NODE_TOKEN%????}aaaa
# shellcheck disable=SC2046
run "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) --token="$BAD" $(flags 9 bad)
check "a token with a wrong secret is refused (exit 1)" [ "$RC" -eq 1 ]
check "... by the cluster, naming the reason" has "$ERR" "join token is not valid for a control node"
check "a refused joiner leaves no node behind" [ "$(count 0 ' bad ')" -eq 0 ]

PIDS=()
for i in 1 2 3; do
  # shellcheck disable=SC2046
  spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) "${TIMING[@]}" \
    $(flags $i control-node-$i) >"$D/c$i.log" 2>&1
  PIDS[$i]=$SPAWNED
done

if wait_for 60 gone "$BOOT"; then ok "the bootstrap node stops once the control nodes joined"; else not_ok "the bootstrap node stops once the control nodes joined"; tail -n 20 "$D/boot.log"; fi
wait "$BOOT"; rc=$?
check "... with exit status 0" [ "$rc" -eq 0 ]
check "... after handing leadership over" grep -q "handing leadership over" "$D/boot.log"

if wait_for 20 has_n 1 "ACCEPTED    READY   ACTIVE        CONTROL NODE" 3; then ok "three control nodes ACCEPTED READY ACTIVE"; else not_ok "three control nodes ACCEPTED READY ACTIVE"; nodes 1; fi
check "exactly one of them is the leader" has_n 1 "(Current Leader)" 1
if wait_for 20 has_n 1 "bootstrap-node  ACCEPTED    DOWN    ACTIVE        CONTROL NODE" 1; then ok "the bootstrap node shows DOWN"; else not_ok "the bootstrap node shows DOWN"; nodes 1; fi
check "list-nodes --details has four rows then" [ "$(nodes 1 | tail -n +3 | wc -l)" -eq 4 ]
if wait_for 20 has_n 2 "bootstrap-node" 0; then ok "the clean-up drops the bootstrap node after the grace period"; else not_ok "the clean-up drops the bootstrap node after the grace period"; nodes 2; fi
check "three control nodes remain" [ "$(nodes 2 | tail -n +3 | wc -l)" -eq 3 ]

# Writes through a follower reach the leader.
L=$(leader_name 1)
F=1; [ "$L" = control-node-1 ] && F=2
run "$T" deploy --traefikeesocket="$D/s$F.sock" --entryPoints='Name:http Address:127.0.0.1:1' --defaultentrypoints=http
check "deploy through a follower is forwarded to the leader" [ "$RC" -eq 0 ]
run curl -s --unix-socket "$D/s$F.sock" http://node/status
check "... and committed (visible on that follower)" has "$OUT" '"deployed":true'

# Read your writes on the node you asked: a write through a follower is answered once that
# follower has applied it (followers learn the commit with the leader's next message; without
# the wait most reads right after the answer were stale).
status_field() { curl -s --unix-socket "$D/s$1.sock" http://node/status | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }
stale=0
for _ in $(seq 10); do
  r=$(curl -s --unix-socket "$D/s$F.sock" -X POST -H 'Content-Type: application/json' -d '{"role":"data"}' http://node/tokens/rotate)
  idx=$(printf '%s' "$r" | sed -n 's/.*"index":\([0-9]*\).*/\1/p')
  ap=$(status_field "$F" applied)
  { [ -n "$idx" ] && [ "${ap:-0}" -ge "$idx" ]; } || stale=$((stale + 1))
done
check "writes through a follower are visible there once answered ($stale of 10 stale)" [ "$stale" -eq 0 ]

# A follower moved to another address (--listen and --advertise on 127.0.0.2, same port): it
# asks the leader to record it (NODE_ADDR); the others send it Raft messages there from then on.
LI=${L#control-node-}
M=$((6 - LI - F))
check "no node asked to move before" bash -c "! grep -q 'advertise changed' $D/c[123].log"
kill "${PIDS[$M]}"
{ wait "${PIDS[$M]}"; } 2>/dev/null
MADDR=127.0.0.2:$((BASE + 10 + M))
# shellcheck disable=SC2046
spawn "$T" start-control-node "${TIMING[@]}" $(flags "$M" control-node-"$M" |
  sed 's/--listen=127.0.0.1:/--listen=127.0.0.2:/; s/--advertise=127.0.0.1:/--advertise=127.0.0.2:/') >>"$D/c$M.log" 2>&1
PIDS[$M]=$SPAWNED
if wait_for 20 grep -q "the cluster recorded this node's new address" "$D/c$M.log"; then ok "a control node restarted at another address has it recorded"; else not_ok "a control node restarted at another address has it recorded"; tail -n 8 "$D/c$M.log"; fi
check "... after asking once it saw the change" grep -q "advertise changed: asking the cluster to record it.*known=127.0.0.1:$((BASE + 10 + M)) advertise=$MADDR" "$D/c$M.log"
run curl -s --unix-socket "$D/s$LI.sock" http://node/nodes
check "... the leader's table has the new address" has "$OUT" "\"address\":\"$MADDR\""
if wait_for 10 bash -c "curl -s --unix-socket $D/s$F.sock http://node/nodes | grep -q '\"address\":\"$MADDR\"'"; then ok "... and the other follower's"; else not_ok "... and the other follower's"; fi
run "$T" deploy --traefikeesocket="$D/s$F.sock" --entryPoints='Name:http Address:127.0.0.1:3' --defaultentrypoints=http
check "a deploy after the move commits" [ "$RC" -eq 0 ]
LC=$(status_field "$LI" commit)
moved_caught_up() { [ "$(status_field "$M" applied)" -ge "$LC" ] 2>/dev/null; }
if wait_for 10 moved_caught_up; then ok "... and reaches the moved node at its new address (applied $(status_field "$M" applied) >= $LC)"; else not_ok "... and reaches the moved node at its new address"; curl -s --unix-socket "$D/s$M.sock" http://node/status; echo; fi
check "... which never warned that the change was stuck" bash -c "! grep -q 'has not recorded' $D/c$M.log"

# Kill -9 the leader: another control node takes over, the API keeps working.
kill -9 "${PIDS[$LI]}"
{ wait "${PIDS[$LI]}"; } 2>/dev/null
S=1; [ "$LI" = 1 ] && S=2
new_leader() { local n; n=$(leader_name "$S"); [ -n "$n" ] && [ "$n" != "$L" ]; }
if wait_for 15 new_leader; then ok "killing the leader with -9 elects another ($L -> $(leader_name $S))"; else not_ok "killing the leader with -9 elects another"; nodes "$S"; fi
run "$T" deploy --traefikeesocket="$D/s$S.sock" --entryPoints='Name:http Address:127.0.0.1:2' --defaultentrypoints=http
check "writes work again after the election" [ "$RC" -eq 0 ]
if wait_for 15 has_n "$S" "$L  *ACCEPTED    DOWN" 1; then ok "the killed leader shows DOWN"; else not_ok "the killed leader shows DOWN"; nodes "$S"; fi

finish
