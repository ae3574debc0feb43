#!/usr/bin/env bash
# Rolling upgrades: a command type newer than what every build reads (NODE_CERT, NODE_ADDR)
# is proposed only once every member of the Raft configuration says it reads it (the
# X-Tee-Commands header of POST /raft). Three control nodes; control-node-1 plays an older
# build (TRAEFIKEE_TEST_COMMANDS=13: it announces LIMITS_SET as its newest type).
# control-node-2 moves to 127.0.0.2: the leader does not propose NODE_ADDR and says which node
# is older; once control-node-1 is restarted as this build, the move is recorded.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)

flags() { # flags I: the addresses, socket and state directory of node I
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) \
    --name=control-node-"$1"
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s$1.sock" 2>/dev/null; }
ready3() { [ "$(nodes 0 | grep -c 'ACCEPTED    READY')" -eq 3 ]; }
addr_of() { curl -s --unix-socket "$D/s$1.sock" http://node/nodes | grep -o "\"name\":\"control-node-$2\"[^}]*" | sed -n 's/.*"address":"\([^"]*\)".*/\1/p'; }

# shellcheck disable=SC2046
spawn "$T" bootstrap --licensekey=fakeLicense $(flags 0) --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
if wait_for 20 bash -c "'$T' list-nodes --traefikeesocket='$D/s0.sock' 2>/dev/null | grep -q 'Current Leader'"; then ok "the bootstrap node leads"; else not_ok "the bootstrap node leads"; cat "$D/c0.log"; fi
export CONTROL_NODE_TOKEN
CONTROL_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep CONTROL_NODE_TOKEN | cut -d '"' -f2)
# shellcheck disable=SC2046
spawn env TRAEFIKEE_TEST_COMMANDS=13 "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) $(flags 1) >"$D/c1.log" 2>&1
OLD=$SPAWNED
# shellcheck disable=SC2046
spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) $(flags 2) >"$D/c2.log" 2>&1
MOVED=$SPAWNED
if wait_for 40 ready3; then ok "three control nodes READY"; else not_ok "three control nodes READY"; nodes 0; fi
check "control-node-1 plays an older build" grep -q "announcing fewer command types.*max=13" "$D/c1.log"
check "control-node-0 leads" bash -c "'$T' list-nodes --traefikeesocket='$D/s0.sock' | grep -q 'control-node-0 .*Current Leader'"

# control-node-2 moves; the leader must not propose NODE_ADDR while control-node-1 is older.
kill "$MOVED"
{ wait "$MOVED"; } 2>/dev/null
# shellcheck disable=SC2046
spawn "$T" start-control-node $(flags 2 | sed 's/--listen=127.0.0.1:/--listen=127.0.0.2:/; s/--advertise=127.0.0.1:/--advertise=127.0.0.2:/') >>"$D/c2.log" 2>&1
MOVED=$SPAWNED
if wait_for 15 grep -q "change not proposed.*type=NODE_ADDRESS.*control node $(sed -n 's/.*"nodeId":"\([^"]*\)".*/\1/p' "$D/s1/node.json" 2>/dev/null)" "$D/c0.log"; then ok "the leader does not propose NODE_ADDR while a member is older, naming it"; else not_ok "the leader does not propose NODE_ADDR while a member is older, naming it"; grep -E "not proposed|NODE_ADDR" "$D/c0.log" | tail -3; fi
sleep 3
check "... and the table keeps the old address" [ "$(addr_of 0 2)" = "127.0.0.1:$((BASE + 12))" ]
check "... on the older node too" [ "$(addr_of 1 2)" = "127.0.0.1:$((BASE + 12))" ]
check "... which never met a command it cannot read" bash -c "! grep -q 'newer version' $D/c1.log"

# The older node is upgraded (restarted as this build): the move goes through.
kill "$OLD"
{ wait "$OLD"; } 2>/dev/null
# shellcheck disable=SC2046
spawn "$T" start-control-node $(flags 1) >>"$D/c1.log" 2>&1
moved() { [ "$(addr_of 0 2)" = "127.0.0.2:$((BASE + 12))" ] && [ "$(addr_of 1 2)" = "127.0.0.2:$((BASE + 12))" ]; }
if wait_for 30 moved; then ok "once every member reads it, NODE_ADDR is proposed and applied everywhere"; else not_ok "once every member reads it, NODE_ADDR is proposed and applied everywhere"; addr_of 0 2; addr_of 1 2; fi
if wait_for 15 grep -q "the cluster recorded this node's new address" "$D/c2.log"; then ok "... and the moved node sees it"; else not_ok "... and the moved node sees it"; tail -n 5 "$D/c2.log"; fi
if wait_for 20 ready3; then ok "three control nodes READY again"; else not_ok "three control nodes READY again"; nodes 0; fi

# POST /nodes/address refusals, to the leader (control-node-0's --listen) with control-node-1's
# certificate. addr_post PORT BODY: the status; the answer in $D/post.out.
addr_post() {
  curl -s -o "$D/post.out" -w '%{http_code}' --max-time 5 --cacert "$D/s1/ca.crt" \
    --cert "$D/s1/node.crt" --key "$D/s1/node.key" -H 'Content-Type: application/json' \
    --data-binary "$2" "https://127.0.0.1:$1/nodes/address"
}
nid() { sed -n 's/.*"nodeId":"\([^"]*\)".*/\1/p' "$D/s$1/node.json"; }
ID1=$(nid 1); ID2=$(nid 2); L0=$((BASE + 10))
st=$(addr_post "$L0" "{\"id\":\"$ID2\",\"addr\":\"127.0.0.9:1\"}")
check "moving another control node: 403 ($st: $(cat "$D/post.out"))" [ "$st" = 403 ]
check "... saying a node moves only itself" grep -q "may only move itself" "$D/post.out"
st=$(addr_post "$L0" '{}')
check "no id or address: 400 ($st)" [ "$st" = 400 ]
st=$(addr_post "$L0" "{\"id\":\"$ID1\",\"addr\":\"no-port\"}")
check "an address that is not host:port: 400 ($st: $(cat "$D/post.out"))" [ "$st" = 400 ]
check "... naming it" grep -q "not host:port: no-port" "$D/post.out"
st=$(addr_post "$((BASE + 11))" "{\"id\":\"$ID1\",\"addr\":\"127.0.0.9:1\"}")
check "sent to a follower: refused as not the leader ($st: $(cat "$D/post.out"))" [ "$st" = 503 ]
st=$(addr_post "$L0" "{\"id\":\"$ID1\",\"addr\":\"127.0.0.1:$((BASE + 11))\"}")
check "its own unchanged address: 200, nothing to do ($st)" [ "$st" = 200 ]
sleep 1
check "... and every refusal left control-node-1 where it was" [ "$(addr_of 0 1)" = "127.0.0.1:$((BASE + 11))" ]
finish
