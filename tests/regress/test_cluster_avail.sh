#!/usr/bin/env bash
# A data node's availability (`update-node <ID|NAME> --availability=ACTIVE|PAUSE|DRAIN`), the
# way an operator takes a data node out of a load balancer for maintenance. One bootstrap
# control node, two data nodes (one with --workers=2), loopback only. Checked: DRAIN makes the
# node's /ping answer 503 while its traffic is still served, list-nodes --details shows it, and
# ACTIVE brings /ping back (a restarted node keeps DRAIN from its state directory until its
# stream says otherwise); PAUSE keeps the node on the document it has while the other data
# node takes a new one, and ACTIVE then brings the new one; the state outlives a restart of the
# data node (the control node tells it again when it reconnects); refusals: a control node,
# an unknown node, a bad value, no value.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP1=127.0.0.1:$((BASE + 80))
EP2=127.0.0.1:$((BASE + 81))
MET1=127.0.0.1:$((BASE + 82))
MET2=127.0.0.1:$((BASE + 83))

spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=a >"$D/a.out" 2>&1
spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=b >"$D/b.out" 2>&1
UA=$(upstream_port a) || { not_ok "upstream a starts"; finish; }
UB=$(upstream_port b) || { not_ok "upstream b starts"; finish; }

spawn "$T" bootstrap --licensekey=K --status.downafter=2 --statedir="$D/s0" \
  --traefikeesocket="$D/s0.sock" --listen=127.0.0.1:$((BASE + 10)) \
  --advertise=127.0.0.1:$((BASE + 10)) --controlapi.listen=127.0.0.1:$((BASE + 30)) \
  --name=control-node-0 --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
leads() { "$T" list-nodes --traefikeesocket="$D/s0.sock" 2>/dev/null | grep -q "(Current Leader)"; }
wait_for 20 leads || { not_ok "the bootstrap node leads"; tail -n 5 "$D/c0.log"; finish; }
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)

start_d1() {
  spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/d1" \
    --name=data-node-1 --metrics.listen="$MET1" >>"$D/d1.log" 2>&1
  D1=$SPAWNED
}
start_d1
spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/d2" \
  --name=data-node-2 --workers=2 --metrics.listen="$MET2" >>"$D/d2.log" 2>&1

routes() { # routes PORT: Host a.test to that upstream, on both data nodes' entry points
  cat >"$D/routes.toml" <<EOF
[backends.app.servers.s1]
url = "http://127.0.0.1:$1"
[frontends.web]
backend = "app"
  [frontends.web.routes.r1]
  rule = "Host:a.test"
EOF
}
routes "$UA"
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:one Address:$EP1" \
  --entryPoints="Name:two Address:$EP2" --defaultentrypoints=one,two \
  --file.filename="$D/routes.toml" --providersthrottleduration=0s
check "deploy exits 0" [ "$RC" -eq 0 ]
# serves EP NAME: a request to EP is answered by upstream NAME.
serves() { curl -s --max-time 2 -H "Host: a.test" "http://$1/" | grep -q "\"server\": \"$2\""; }
check "data node 1 serves upstream a" wait_for 30 serves "$EP1" a
check "data node 2 serves upstream a" wait_for 30 serves "$EP2" a
ping() { [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://$1/ping")" = "$2" ]; }
both_200() { ping "$MET1" 200 && ping "$MET2" 200; }
check "both /ping answer 200" wait_for 10 both_200
avail() { # avail NAME STATE: list-nodes --details shows that availability for NAME
  "$T" list-nodes --traefikeesocket="$D/s0.sock" --details 2>/dev/null | grep "$1" | grep -q " $2 "
}
check "list-nodes --details: data-node-1 is ACTIVE" avail data-node-1 ACTIVE

# DRAIN: /ping 503, traffic still served; ACTIVE again: /ping 200.
run "$T" update-node data-node-1 --availability=drain --traefikeesocket="$D/s0.sock"
check "update-node data-node-1 --availability=drain exits 0" [ "$RC" -eq 0 ]
check "... and says so" has "$OUT" "data-node-1 is DRAIN"
check "list-nodes --details: data-node-1 is DRAIN" wait_for 5 avail data-node-1 DRAIN
check "DRAIN: data node 1's /ping answers 503" wait_for 10 ping "$MET1" 503
check "... while its entry point still serves" serves "$EP1" a
check "... and it logged the change" grep -q 'msg="availability" availability=DRAIN ping=503' "$D/d1.log"
check "... data node 2's /ping still answers 200" ping "$MET2" 200
run "$T" update-node data-node-2 --availability=DRAIN --traefikeesocket="$D/s0.sock"
check "DRAIN on the node with two workers: /ping answers 503 from its master" wait_for 10 ping "$MET2" 503
check "... and both workers still serve" bash -c 'for i in 1 2 3 4 5 6; do curl -s --max-time 2 -H "Host: a.test" "http://$0/" | grep -q "\"server\": \"a\"" || exit 1; done' "$EP2"
run "$T" update-node data-node-2 --availability=active --traefikeesocket="$D/s0.sock"
check "ACTIVE again: data node 2's /ping answers 200" wait_for 10 ping "$MET2" 200

# The DRAIN state outlives a restart of the data node: it is told again when it reconnects.
kill "$D1"
wait "$D1" 2>/dev/null
start_d1
kept() { grep -q 'msg="availability kept from the last run" availability=DRAIN ping=503' "$D/d1.log"; }
check "data node 1 restarted while DRAIN takes DRAIN from its state directory at start" wait_for 10 kept
check "... and /ping answers 503 again (and its stream says DRAIN too)" \
  wait_for 20 bash -c 'grep -c "availability=DRAIN" "$0" | grep -q 2 && [ "$(curl -s -o /dev/null --max-time 2 -w "%{http_code}" "http://$1/ping")" = 503 ]' "$D/d1.log" "$MET1"
run "$T" update-node data-node-1 --availability=ACTIVE --traefikeesocket="$D/s0.sock"
check "ACTIVE: data node 1's /ping answers 200" wait_for 10 ping "$MET1" 200
check "... and it serves" wait_for 10 serves "$EP1" a

# PAUSE: data node 1 keeps the document it has; data node 2 takes the new one.
run "$T" update-node data-node-1 --availability=pause --traefikeesocket="$D/s0.sock"
check "update-node --availability=pause exits 0" [ "$RC" -eq 0 ]
check "list-nodes --details: data-node-1 is PAUSE" wait_for 5 avail data-node-1 PAUSE
check "PAUSE: /ping still answers 200" ping "$MET1" 200
# Both data nodes listen on both entry points (one routing document for the cluster; the
# kernel spreads connections between them), so which document a node runs is read from its
# log: the revision it applied.
rev() { curl -s --unix-socket "$D/s0.sock" http://node/status | grep -o '"routingRevision":[0-9]*' | cut -d: -f2; }
REV0=$(rev)
routes "$UB"
newer() { [ "$(rev)" -gt "$REV0" ]; }
check "the change of the routes is committed" wait_for 30 newer
REV1=$(rev)
took() { grep -qE "routing document (applied|passed to the workers)\" revision=$2 " "$D/$1.log"; }
check "... data node 2 takes it (revision $REV1)" wait_for 30 took d2 "$REV1"
sleep 2
check "... but not the paused data node 1" bash -c '! grep -qE "routing document applied\" revision=$1 " "$0"' "$D/d1.log" "$REV1"
run "$T" update-node data-node-1 --availability=active --traefikeesocket="$D/s0.sock"
check "ACTIVE again: data node 1 takes the new document" wait_for 20 took d1 "$REV1"
check "... and every connection to its entry point reaches upstream b" wait_for 10 bash -c 'for i in 1 2 3 4 5 6; do curl -s --max-time 2 -H "Host: a.test" "http://$0/" | grep -q "\"server\": \"b\"" || exit 1; done' "$EP1"

# Refusals.
run "$T" update-node control-node-0 --availability=drain --traefikeesocket="$D/s0.sock"
check "a control node is refused (exit 1)" [ "$RC" -eq 1 ]
check "... naming why" has "$ERR" "only data nodes have an availability"
run "$T" update-node no-such-node --availability=drain --traefikeesocket="$D/s0.sock"
check "an unknown node is refused (exit 1), naming it" bash -c '[ "$0" -eq 1 ] && grep -q "no-such-node" <<<"$1"' "$RC" "$ERR"
run "$T" update-node data-node-1 --availability=sleepy --traefikeesocket="$D/s0.sock"
check "--availability=sleepy is refused (exit 2)" bash -c '[ "$0" -eq 2 ] && grep -q "ACTIVE, PAUSE or DRAIN" <<<"$1"' "$RC" "$ERR"
run "$T" update-node data-node-1 --traefikeesocket="$D/s0.sock"
check "no --availability is refused (exit 2)" [ "$RC" -eq 2 ]
check "the refusals changed nothing: data-node-1 is ACTIVE" avail data-node-1 ACTIVE
finish
