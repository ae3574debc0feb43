#!/usr/bin/env bash
# A renewal whose answer never reached the node. The leader commits the new certificate before
# it answers, so an answer lost after the commit (a crash, a cut connection) leaves the node
# holding only the certificate it presented. That one must still admit the node, and asking
# again must work. Simulated end to end: a data node renews (60-second certificates,
# TRAEFIKEE_CERT_LIFETIME=60), then is stopped and given back the certificate and key it had
# before (what it would hold had the answer been lost), and restarted. Checked: it streams
# again with the old certificate, renews again at once (its certificate is past half its
# life), gets a third certificate, and the second one (the answer it "never got") is revoked
# while the third is accepted; it serves a later deploy.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
export TRAEFIKEE_CERT_LIFETIME=60

serial() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s0.sock" 2>/dev/null; }
ready() { nodes | grep data-node-1 | grep -q READY; }

spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=a >"$D/a.out" 2>&1
UA=$(upstream_port a) || { not_ok "upstream a starts"; finish; }
spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=b >"$D/b.out" 2>&1
UB=$(upstream_port b) || { not_ok "upstream b starts"; finish; }

spawn "$T" bootstrap --licensekey=K --status.downafter=2 --cleanup.grace=600 --statedir="$D/s0" \
  --traefikeesocket="$D/s0.sock" --listen=127.0.0.1:$((BASE + 10)) \
  --advertise=127.0.0.1:$((BASE + 10)) --controlapi.listen=127.0.0.1:$((BASE + 30)) \
  --name=control-node-0 --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
leads() { nodes | grep -q "(Current Leader)"; }
wait_for 20 leads || { not_ok "the bootstrap node leads"; finish; }
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
start_data() {
  spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/d1" \
    --name=data-node-1 >>"$D/d1.log" 2>&1
  DN=$SPAWNED
}
start_data
check "the data node is READY" wait_for 30 ready
cp "$D/d1/node.crt" "$D/first.crt"
cp "$D/d1/node.key" "$D/first.key"

routes() {
  printf '{"frontends":{"web":{"backend":"web","routes":{"r1":{"rule":"PathPrefix:/"}}}},"backends":{"web":{"servers":{"s1":{"url":"http://127.0.0.1:%s"}}}}}\n' "$1" >"$D/routes.tmp"
  mv "$D/routes.tmp" "$D/routes.json"
}
routes "$UA"
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --file.filename="$D/routes.json" --providersthrottleduration=0s
serves() { curl -s --max-time 2 "http://$EP/" | grep -q "\"server\": \"$1\""; }
check "deploy exits 0 and the data node serves a" wait_for 30 serves a

renewals() { grep -c "node certificate renewed" "$D/d1.log"; }
renewed_n() { [ "$(renewals)" -ge "$1" ]; }
check "the data node renews its certificate (30 to 48 s after it got it)" wait_for 70 renewed_n 1
cp "$D/d1/node.crt" "$D/second.crt"
cp "$D/d1/node.key" "$D/second.key"
check "... a second certificate ($(serial "$D/first.crt") -> $(serial "$D/second.crt"))" \
  [ "$(serial "$D/first.crt")" != "$(serial "$D/second.crt")" ]

# The answer "lost": the node goes back to what it held before it asked.
kill -TERM "$DN"
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_for 15 gone "$DN"
cp "$D/first.crt" "$D/d1/node.crt"
cp "$D/first.key" "$D/d1/node.key"
left=$(($(date -d "$(openssl x509 -in "$D/first.crt" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s)))
[ "$left" -gt 3 ] || { not_ok "the first certificate still had time left to try ($left s)"; finish; }
start_data
opened() { [ "$(grep -c "routing stream open" "$D/d1.log")" -ge 2 ]; }
check "restarted with the certificate it presented ($left s left), the node streams again" \
  wait_for 20 opened
check "... renews again at once (past half its life)" wait_for 20 renewed_n 2
THIRD=$(serial "$D/d1/node.crt")
check "... holding a third certificate ($THIRD)" \
  bash -c '[ -n "$0" ] && [ "$0" != "$1" ] && [ "$0" != "$2" ]' \
  "$THIRD" "$(serial "$D/first.crt")" "$(serial "$D/second.crt")"
status_with() { # CERT KEY: HTTP status of GET /status on the control node's --listen
  curl -s --max-time 5 -o /dev/null -w '%{http_code}' --cacert "$D/s0/ca.crt" --cert "$1" --key "$2" \
    "https://127.0.0.1:$((BASE + 10))/status"
}
refused() { [ "$(status_with "$1" "$2")" != 200 ]; }
check "the second certificate, the answer the node never got, is revoked" \
  wait_for 10 refused "$D/second.crt" "$D/second.key"
check "the third is accepted" [ "$(status_with "$D/d1/node.crt" "$D/d1/node.key")" = 200 ]
check "the data node is READY" wait_for 10 ready
routes "$UB"
check "a later deploy reaches it (serves b)" wait_for 30 serves b
finish
