#!/usr/bin/env bash
# Failover under traffic: 3 control nodes, 2 data nodes and an upstream on loopback.
# A client loop sends requests through the data nodes the whole time (bounded by
# CLIENT_MAX seconds) while the Raft leader is killed with -9: no request may fail,
# a survivor elects a new leader, and a write (deploy) works after it. Then every
# control node is restarted one by one from its state directory without a token:
# the cluster converges (every node READY) and the data nodes never stop serving.
# Also: swapped and wrong-secret tokens are refused with a message naming the reason.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
TIMING=(--status.downafter=2 --cleanup.grace=600)
CLIENT_MAX=60

flags() {
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s$1.sock" 2>/dev/null; }
has_n() { [ "$(nodes "$1" | grep -c "$2")" -eq "$3" ]; }
leader_name() { "$T" list-nodes --traefikeesocket="$D/s$1.sock" 2>/dev/null | awk '/Current Leader/ {print $1}'; }
serves() { [ "$(curl -s --max-time 2 "http://$EP/")" = "$1" ]; }
# converged I: node I lists 3 control + 2 data nodes, all ACCEPTED READY, one leader, 3 voters
converged() {
  local n; n=$(nodes "$1")
  [ "$(printf '%s\n' "$n" | grep -c 'ACCEPTED    READY   ACTIVE        CONTROL NODE')" -eq 3 ] &&
    [ "$(printf '%s\n' "$n" | grep -c 'ACCEPTED    READY   ACTIVE        DATA NODE')" -eq 2 ] &&
    [ "$(printf '%s\n' "$n" | grep -c 'DOWN')" -eq 0 ] &&
    [ "$(printf '%s\n' "$n" | grep -c '(Current Leader)')" -eq 1 ] &&
    curl -s --unix-socket "$D/s$1.sock" http://node/status | grep -q '"voters":3' && agree
}
# agree: the three control nodes report the same term and the same (non-empty) leader
agree() {
  local v; v=$(for i in 0 1 2; do curl -s --max-time 2 --unix-socket "$D/s$i.sock" http://node/status |
    grep -o '"term":[0-9]*,"leader":"[a-z0-9]\{25\}"'; done)
  [ "$(printf '%s\n' "$v" | grep -c .)" -eq 3 ] && [ "$(printf '%s\n' "$v" | sort -u | wc -l)" -eq 1 ]
}
both() { [ "$1" -gt "$3" ] && [ "$2" -gt "$4" ]; }
PEERS=127.0.0.1:$((BASE + 10)),127.0.0.1:$((BASE + 11)),127.0.0.1:$((BASE + 12))

# Two upstreams (a and b) and a routing file for each.
for v in a b; do
  mkdir -p "$D/www$v"; echo "hello-$v" >"$D/www$v/index.html"
  port=$((BASE + 90)); [ "$v" = b ] && port=$((BASE + 91))
  spawn python3 -m http.server "$port" --bind 127.0.0.1 --directory "$D/www$v" >/dev/null 2>&1
  printf '{"frontends":{"web":{"backend":"web","routes":{"r1":{"rule":"PathPrefix:/"}}}},"backends":{"web":{"servers":{"s1":{"url":"http://127.0.0.1:%s"}}}}}\n' \
    "$port" >"$D/routes-$v.json"
done
up() { curl -s --max-time 1 "http://127.0.0.1:$1/" >/dev/null; }
wait_for 10 up $((BASE + 90)) && wait_for 10 up $((BASE + 91)) || not_ok "upstreams start"

# Control node 0 bootstraps (and stays a voter); 1 and 2 join.
# shellcheck disable=SC2046
spawn "$T" bootstrap --licensekey=K "${TIMING[@]}" $(flags 0 control-node-0) --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
CP[0]=$SPAWNED
wait_for 20 has_n 0 "(Current Leader)" 1 || not_ok "bootstrap leads"
CTOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
DTOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
for i in 1 2; do
  # shellcheck disable=SC2046
  spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) --token="$CTOKEN" \
    "${TIMING[@]}" $(flags $i control-node-$i) >"$D/c$i.log" 2>&1
  CP[$i]=$SPAWNED
done

# Swapped and wrong tokens (test_cluster_control covers a data token for a control node).
run env -u DATA_NODE_TOKEN "$T" start-data-node --peeraddresses="$PEERS" --token="$CTOKEN" --statedir="$D/bad1" --name=bad1
check "a control node token cannot start a data node (exit 2)" [ "$RC" -eq 2 ]
check "... and says which token is needed" has "$ERR" "DATA_NODE_TOKEN"
run env -u DATA_NODE_TOKEN "$T" start-data-node --peeraddresses="$PEERS" --token="${DTOKEN%????}aaaa" --statedir="$D/bad2" --name=bad2
check "a data token with a wrong secret is refused (exit 1)" [ "$RC" -eq 1 ]
check "... by the cluster, naming the reason" has "$ERR" "join token is not valid for a data node"
# shellcheck disable=SC2046
run env -u CONTROL_NODE_TOKEN "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) $(flags 9 bad3)
check "a control node with no token and no state is refused (exit 2)" [ "$RC" -eq 2 ]
check "... naming CONTROL_NODE_TOKEN" has "$ERR" "CONTROL_NODE_TOKEN"

for i in 1 2; do
  spawn "$T" start-data-node --peeraddresses="$PEERS" --token="$DTOKEN" --statedir="$D/d$i" \
    --traefikeesocket="$D/d$i.sock" --name=data-node-$i --accesslog >"$D/d$i.log" 2>&1
  DP[$i]=$SPAWNED
done
if wait_for 30 converged 0; then ok "3 control + 2 data nodes READY, 3 voters"; else not_ok "3 control + 2 data nodes READY"; nodes 0; fi
run "$T" deploy --traefikeesocket="$D/s1.sock" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$D/routes-a.json" --providersthrottleduration=0s
check "deploy with the file provider" [ "$RC" -eq 0 ]
if wait_for 20 serves hello-a; then ok "the data nodes serve the upstream"; else not_ok "the data nodes serve the upstream"; fi

# The client loop: one request after another through the data nodes until $D/stop
# exists (or CLIENT_MAX seconds), one line per request in $D/client.
answered() { grep -c '"GET /[^"]*" 200' "$D/d$1.log" 2>/dev/null || true; }
A1=$(answered 1) A2=$(answered 2)
client() {
  local end=$((SECONDS + CLIENT_MAX)) body
  while [ ! -e "$D/stop" ] && [ "$SECONDS" -lt "$end" ]; do
    body=$(curl -s --max-time 2 "http://$EP/")
    case $body in hello-a | hello-b) echo ok ;; *) echo "fail $(date +%T.%N) [$body]" ;; esac
  done >"$D/client"
}
client &
CLIENT=$!
REGRESS_PIDS+=("$CLIENT")
t0=$SECONDS

# Kill -9 the leader under traffic.
sleep 1
L=$(leader_name 1); LI=${L#control-node-}
kill -9 "${CP[$LI]}"; { wait "${CP[$LI]}"; } 2>/dev/null
S=$(((LI + 1) % 3))
new_leader() { local n; n=$(leader_name "$S"); [ -n "$n" ] && [ "$n" != "$L" ]; }
if wait_for 15 new_leader; then ok "kill -9 of the leader elects another ($L -> $(leader_name $S))"; else not_ok "kill -9 of the leader elects another"; nodes "$S"; fi
run "$T" deploy --traefikeesocket="$D/s$S.sock" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$D/routes-b.json" --providersthrottleduration=0s
check "a write (deploy) works after the election" [ "$RC" -eq 0 ]
if wait_for 20 serves hello-b; then ok "... and reaches the data nodes"; else not_ok "... and reaches the data nodes"; fi

# The killed node comes back from its state directory, without a token.
# shellcheck disable=SC2046
spawn env -u CONTROL_NODE_TOKEN "$T" start-control-node "${TIMING[@]}" $(flags "$LI" "$L") >>"$D/c$LI.log" 2>&1
CP[$LI]=$SPAWNED
if wait_for 30 converged "$LI"; then ok "the killed leader restarts without a token and the cluster converges"; else not_ok "the killed leader restarts and the cluster converges"; nodes "$LI"; fi

# Rolling restart: every control node, one by one, SIGTERM then start again.
for i in 0 1 2; do
  kill -TERM "${CP[$i]}"
  wait_for 10 gone "${CP[$i]}" || not_ok "control-node-$i stops on SIGTERM"
  # shellcheck disable=SC2046
  spawn env -u CONTROL_NODE_TOKEN "$T" start-control-node "${TIMING[@]}" $(flags $i control-node-$i) >>"$D/c$i.log" 2>&1
  CP[$i]=$SPAWNED
  if wait_for 30 converged "$i"; then ok "rolling restart of control-node-$i: the cluster converges"; else not_ok "rolling restart of control-node-$i: the cluster converges"; nodes "$i"; fi
done
for i in 0 1 2; do
  if wait_for 10 converged "$i"; then ok "control-node-$i lists every node READY"; else not_ok "control-node-$i lists every node READY"; nodes "$i"; fi
done
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$D/routes-a.json" --providersthrottleduration=0s
check "a write works after the rolling restart" [ "$RC" -eq 0 ]
if wait_for 20 serves hello-a; then ok "... and reaches the data nodes"; else not_ok "... and reaches the data nodes"; fi

touch "$D/stop"; wait "$CLIENT"
t1=$SECONDS
total=$(wc -l <"$D/client") failed=$(grep -c '^fail' "$D/client")
check "the client loop ran through it all ($total requests in $((t1 - t0)) s)" both "$total" $((t0 + CLIENT_MAX)) 99 "$t1"
if [ "$failed" -eq 0 ]; then ok "zero failed requests through the data nodes"; else not_ok "zero failed requests through the data nodes ($failed of $total)"; grep '^fail' "$D/client" | head -5; fi
check "both data nodes answered during the loop ($(($(answered 1) - A1)) and $(($(answered 2) - A2)))" \
  both "$(answered 1)" "$(answered 2)" "$A1" "$A2"
finish
