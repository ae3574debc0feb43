#!/usr/bin/env bash
# Stage 3: data nodes join with DATA_NODE_TOKEN, stream the routing document and
# serve traffic. `traefikee deploy --entryPoints=... --file.filename=F` makes the
# leader run the file provider; a change of F reaches the data nodes; data nodes
# keep serving with every control node down, restart from the document kept on
# disk, and pick up new documents once a control node is back.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
UP1=$((BASE + 91))
UP2=$((BASE + 92))
TIMING=(--status.downafter=2 --cleanup.grace=600)

flags() {
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s$1.sock" 2>/dev/null; }
has_n() { [ "$(nodes "$1" | grep -c "$2")" -eq "$3" ]; }
serves() { [ "$(curl -s --max-time 2 "http://$EP/")" = "$1" ]; }
PEERS=127.0.0.1:$((BASE + 10)),127.0.0.1:$((BASE + 11)),127.0.0.1:$((BASE + 12))

# Two tiny upstreams on loopback.
for v in 1 2; do
  mkdir -p "$D/www$v"; echo "hello-v$v" >"$D/www$v/index.html"
  port=$((BASE + 90 + v))
  spawn python3 -m http.server "$port" --bind 127.0.0.1 --directory "$D/www$v" >/dev/null 2>&1
done
up() { curl -s --max-time 1 "http://127.0.0.1:$1/" >/dev/null; }
wait_for 10 up "$UP1" && wait_for 10 up "$UP2" || not_ok "upstreams start"

routes() { # routes PORT: the file provider's routing file, replaced atomically
  printf '{"frontends":{"web":{"backend":"web","routes":{"r1":{"rule":"PathPrefix:/"}}}},"backends":{"web":{"servers":{"s1":{"url":"http://127.0.0.1:%s"}}}}}\n' "$1" >"$D/routes.tmp"
  mv "$D/routes.tmp" "$D/routes.json"
}
routes "$UP1"

# An https upstream with a self-signed certificate (IP 127.0.0.1): the deploy below gives it as
# --rootcas, the option travels in every routing document, and the last step routes to it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/up.key" \
  -subj "/CN=upstream" -addext "subjectAltName=IP:127.0.0.1" -days 2 -out "$D/up.pem" 2>/dev/null ||
  not_ok "openssl makes the upstream certificate"
spawn python3 "$(dirname "$0")/proxy_tls_upstream.py" --name=tls1 --cert="$D/up.pem" --key="$D/up.key" >"$D/tls1.out" 2>&1
wait_for 10 grep -q "^PORT " "$D/tls1.out" || not_ok "the https upstream starts"
UPS=$(awk '/^PORT / {print $2; exit}' "$D/tls1.out")

# shellcheck disable=SC2046
spawn "$T" bootstrap --licensekey=K "${TIMING[@]}" $(flags 0 control-node-0) --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
CP[0]=$SPAWNED
wait_for 20 has_n 0 "(Current Leader)" 1 || not_ok "bootstrap leads"
CONTROL_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
for i in 1 2; do
  # shellcheck disable=SC2046
  CONTROL_NODE_TOKEN=$CONTROL_NODE_TOKEN spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) \
    "${TIMING[@]}" $(flags $i control-node-$i) >"$D/c$i.log" 2>&1
  CP[$i]=$SPAWNED
done

run "$T" start-data-node --peeraddresses="$PEERS" --token="$CONTROL_NODE_TOKEN" --statedir="$D/bad" --name=bad
check "a control node token cannot start a data node (exit 2)" [ "$RC" -eq 2 ]

for i in 1 2; do
  spawn "$T" start-data-node --peeraddresses="$PEERS" --statedir="$D/d$i" --name=data-node-$i >"$D/d$i.log" 2>&1
  DP[$i]=$SPAWNED
done
if wait_for 30 has_n 0 "ACCEPTED    READY   ACTIVE        DATA NODE" 2; then ok "two data nodes ACCEPTED READY"; else not_ok "two data nodes ACCEPTED READY"; nodes 0; cat "$D/d1.log"; fi
voters3() { curl -s --unix-socket "$D/s0.sock" http://node/status | grep -q '"voters":3'; }
if wait_for 20 voters3; then ok "the three control nodes are Raft voters"; else not_ok "the three control nodes are Raft voters"; fi
run "$T" list-nodes --traefikeesocket="$D/s1.sock"
check "list-nodes shows the data nodes" has "$OUT" $'data-node-1     DATA NODE\ndata-node-2     DATA NODE'

run "$T" deploy --traefikeesocket="$D/s1.sock" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$D/routes.json" --providersthrottleduration=0s \
  --rootcas="$D/up.pem"
check "deploy with the file provider exits 0" [ "$RC" -eq 0 ]
if wait_for 20 serves hello-v1; then ok "the data nodes route to the upstream"; else not_ok "the data nodes route to the upstream"; tail -n 5 "$D/d1.log"; fi
check "the document is kept on disk" grep -q "127.0.0.1:$UP1" "$D/d1/routing.json"
check "... with the deployed rootCAs" grep -q '"rootCAs":\["-----BEGIN CERTIFICATE' "$D/d1/routing.json"

routes "$UP2"
if wait_for 20 serves hello-v2; then ok "a change of the routing file reaches the data nodes"; else not_ok "a change of the routing file reaches the data nodes"; fi
check "... as a new revision on both" bash -c "grep -q 'revision=2' '$D/d1.log' && grep -q 'revision=2' '$D/d2.log'"

# The data nodes stream from control-node-0, the leader: kill it with -9. They move to
# another control node, the new leader runs the provider, and the next change arrives.
kill -9 "${CP[0]}"; { wait "${CP[0]}"; } 2>/dev/null
leads_again() { "$T" list-nodes --traefikeesocket="$D/s1.sock" 2>/dev/null | grep -q "control-node-[12] .*(Current Leader)"; }
wait_for 15 leads_again || not_ok "a new leader after kill -9"
routes "$UP1"
if wait_for 20 serves hello-v1; then ok "after kill -9 of their control node, data nodes follow the new leader's documents"; else not_ok "after kill -9 of their control node, data nodes follow the new leader's documents"; tail -n 5 "$D/d1.log"; fi
check "... on both data nodes (revision 3)" bash -c "grep -q 'revision=3' '$D/d1.log' && grep -q 'revision=3' '$D/d2.log'"

# Every control node down: the data plane goes on.
kill -TERM "${CP[1]}" "${CP[2]}"
wait_for 10 gone "${CP[1]}"; wait_for 10 gone "${CP[2]}"
ok=1; for _ in 1 2 3 4 5 6 7 8 9 10; do serves hello-v1 || ok=0; done
check "data nodes keep serving with every control node down (10 requests)" [ "$ok" -eq 1 ]

# Restart a data node while the control plane is down: it serves the document kept on disk.
kill -TERM "${DP[1]}" "${DP[2]}"
wait_for 15 gone "${DP[1]}"; wait_for 15 gone "${DP[2]}"
check "no data node serves any more" bash -c "! curl -s --max-time 1 http://$EP/ >/dev/null"
spawn "$T" start-data-node --statedir="$D/d1" --name=data-node-1 >"$D/d1b.log" 2>&1
if wait_for 10 serves hello-v1; then ok "a restarted data node serves its last good document from disk"; else not_ok "a restarted data node serves its last good document from disk"; cat "$D/d1b.log"; fi
check "... without a token" grep -q "serving the routing document kept on disk" "$D/d1b.log"

# The control plane comes back (two of three voters, no token needed): new documents flow again.
# The new leader may have been a follower that did not learn the last commit before it was
# stopped (its state machine one document behind its log): it must still propose the file's
# document once that entry is applied (test_cluster_stream.sh repeats this on purpose).
for i in 1 2; do
  # shellcheck disable=SC2046
  spawn env -u CONTROL_NODE_TOKEN "$T" start-control-node "${TIMING[@]}" $(flags $i control-node-$i) >>"$D/c$i.log" 2>&1
done
routes "$UP2"
if wait_for 30 serves hello-v2; then ok "after the control nodes restart, the data node follows new documents"; else not_ok "after the control nodes restart, the data node follows new documents"; tail -n 5 "$D/d1b.log"; tail -n 8 "$D/c1.log" "$D/c2.log"; fi

# An https:// backend, verified with the CA that deploy took from --rootcas.
printf '{"frontends":{"web":{"backend":"web","routes":{"r1":{"rule":"PathPrefix:/"}}}},"backends":{"web":{"servers":{"s1":{"url":"https://127.0.0.1:%s"}}}}}\n' "$UPS" >"$D/routes.tmp"
mv "$D/routes.tmp" "$D/routes.json"
serves_tls() { curl -s --max-time 2 "http://$EP/x" | grep -q '"server": *"tls1"'; }
if wait_for 30 serves_tls; then ok "an https:// backend verified with the deployed rootCAs serves through the data node"; else not_ok "an https:// backend verified with the deployed rootCAs serves through the data node"; curl -s --max-time 2 "http://$EP/x"; tail -n 5 "$D/d1b.log"; fi
finish
