#!/usr/bin/env bash
# Node certificates are renewed before they expire, so a cluster outlives its first
# certificates. The control nodes issue 60-second certificates (TRAEFIKEE_CERT_LIFETIME=60,
# the shortest allowed; the default is 90 days): every node (the leader, a follower, a data
# node) must renew its own between 30 and 48 s after it got it, and the cluster must still
# work after the first certificates' notAfter has passed: all nodes READY, a deploy reaches
# the data node, and a data node and a control node restarted (so they connect with what is
# on disk) are accepted again. Also: the certificate on disk changed (another serial, another
# key), no renewal was left half-written, the certificate a node presented to renew stays
# valid after the renewal (so a lost answer can be asked again) until the next one, and
# rm-node revokes both the node's current and previous certificates.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
export TRAEFIKEE_CERT_LIFETIME=60
TIMING=(--status.downafter=2 --cleanup.grace=600)

flags() {
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s$1.sock" 2>/dev/null; }
has_n() { [ "$(nodes "$1" | grep -c "$2")" -eq "$3" ]; }
PEERS=127.0.0.1:$((BASE + 10)),127.0.0.1:$((BASE + 11))
serial() { openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2; }
not_after() { date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }

spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=a >"$D/a.out" 2>&1
UA=$(upstream_port a) || { not_ok "upstream a starts"; finish; }
spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=b >"$D/b.out" 2>&1
UB=$(upstream_port b) || { not_ok "upstream b starts"; finish; }

T0=$(date +%s)
# shellcheck disable=SC2046
spawn "$T" bootstrap --licensekey=K --api "${TIMING[@]}" $(flags 0 control-node-0) --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
wait_for 20 has_n 0 "(Current Leader)" 1 || { not_ok "bootstrap leads"; finish; }
CONTROL_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
# shellcheck disable=SC2046
CONTROL_NODE_TOKEN=$CONTROL_NODE_TOKEN spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) \
  "${TIMING[@]}" $(flags 1 control-node-1) >"$D/c1.log" 2>&1
C1=$SPAWNED
start_data() {
  spawn "$T" start-data-node --peeraddresses="$PEERS" --statedir="$D/d1" --name=data-node-1 >>"$D/d1.log" 2>&1
  DN=$SPAWNED
}
start_data
check "two control nodes and a data node READY" wait_for 30 has_n 0 "READY" 3

issued=$(not_after "$D/s0/node.crt")
check "the certificates last 60 s (TRAEFIKEE_CERT_LIFETIME): notAfter - start <= 70 s" \
  [ $((issued - T0)) -le 70 ]
for f in s0 s1 d1; do
  cp "$D/$f/node.crt" "$D/$f.old.crt"
  cp "$D/$f/node.key" "$D/$f.old.key"
done

routes() {
  printf '{"frontends":{"web":{"backend":"web","routes":{"r1":{"rule":"PathPrefix:/"}}}},"backends":{"web":{"servers":{"s1":{"url":"http://127.0.0.1:%s"}}}}}\n' "$1" >"$D/routes.tmp"
  mv "$D/routes.tmp" "$D/routes.json"
}
routes "$UA"
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --file.filename="$D/routes.json" --providersthrottleduration=0s
check "deploy exits 0" [ "$RC" -eq 0 ]
serves() { curl -s --max-time 2 "http://$EP/" | grep -q "\"server\": \"$1\""; }
check "the data node serves a" wait_for 30 serves a

renewed() { grep -q "node certificate renewed" "$1"; }
for n in c0 c1 d1; do
  if wait_for 70 renewed "$D/$n.log"; then ok "$n renewed its certificate"; else
    not_ok "$n renewed its certificate"; grep -E "renew|certificate" "$D/$n.log" | tail -n 5
  fi
done
for f in s0 s1 d1; do
  check "$f: node.crt has another serial ($(serial "$D/$f.old.crt") -> $(serial "$D/$f/node.crt"))" \
    [ "$(serial "$D/$f.old.crt")" != "$(serial "$D/$f/node.crt")" ]
  check "$f: ... and another key" bash -c '! cmp -s "$0" "$1"' "$D/$f.old.key" "$D/$f/node.key"
  check "$f: no renewal left half-written (renew.pem gone)" [ ! -e "$D/$f/renew.pem" ]
done

# The control plane's /metrics (--api; read here through the local socket) says when
# certificates expire and counts renewals.
cm() { curl -s --max-time 2 --unix-socket "$D/s0.sock" http://node/metrics | awk -v k="$1" '$1 == k {print $2}'; }
EARLIEST=$(cm traefikee_cluster_certificate_expiry_earliest_seconds)
check "control /metrics: the earliest node certificate expiry is a future time within 60 s ($EARLIEST)" \
  bash -c '[ "${0:-0}" -gt "$(date +%s)" ] && [ "$0" -le $(($(date +%s) + 61)) ]' "$EARLIEST"
check "control /metrics: control node 0 counts its renewal ($(cm traefikee_certificate_renewals_total))" \
  [ "$(cm traefikee_certificate_renewals_total)" -ge 1 ]
check "control /metrics: this node's own expiry is its node.crt's ($(cm traefikee_certificate_expiry_seconds))" \
  [ "$(cm traefikee_certificate_expiry_seconds)" = "$(not_after "$D/s0/node.crt")" ]

# Right after its renewal the data node's previous certificate still works (the cluster keeps
# the presented one valid, so a lost answer can be asked again); the new one works too.
status_with() { # CERT KEY: HTTP status of GET /status on control node 0's --listen
  curl -s --max-time 5 -o /dev/null -w '%{http_code}' --cacert "$D/s0/ca.crt" --cert "$1" --key "$2" \
    "https://127.0.0.1:$((BASE + 10))/status"
}
OLD=$(status_with "$D/d1.old.crt" "$D/d1.old.key")
if [ "$(date +%s)" -lt "$(not_after "$D/d1.old.crt")" ]; then
  check "the data node's previous certificate is still accepted after the renewal (got $OLD)" [ "$OLD" = 200 ]
else
  ok "the data node's previous certificate expired before it could be tried (got '$OLD')"
fi
NEW=$(status_with "$D/d1/node.crt" "$D/d1/node.key")
check "its new certificate is accepted (got $NEW)" [ "$NEW" = 200 ]
cp "$D/d1/node.crt" "$D/d1.new1.crt"; cp "$D/d1/node.key" "$D/d1.new1.key"

# POST /renew refuses what it must, with the data node's own (valid) certificate.
renew_req() { # BODY: "STATUS BODY" of POST /renew on control node 0's --listen
  curl -s --max-time 5 -o "$D/renew.body" -w '%{http_code}' --cacert "$D/s0/ca.crt" \
    --cert "$D/d1/node.crt" --key "$D/d1/node.key" -H 'Content-Type: application/json' \
    -X POST --data "$1" "https://127.0.0.1:$((BASE + 10))/renew"
  printf ' %s' "$(cat "$D/renew.body")"
}
cn() { openssl x509 -in "$1" -noout -subject -nameopt multiline | sed -n 's/ *commonName *= *//p'; }
D1ID=$(cn "$D/d1/node.crt"); C0ID=$(cn "$D/s0/node.crt")
PUB=$(python3 -c 'import subprocess
der = subprocess.run(["openssl", "ec", "-in", "/dev/stdin", "-pubout", "-outform", "DER"],
                     input=subprocess.run(["openssl", "ecparam", "-genkey", "-name", "prime256v1"],
                                          capture_output=True).stdout, capture_output=True).stdout
print(der[-65:].hex())')
R=$(renew_req '{"id":"x"}')
check "/renew without pub and serial: 400 (got ${R%% *})" has "$R" '400 '
R=$(renew_req "{\"id\":\"$C0ID\",\"pub\":\"$PUB\",\"serial\":\"0102\"}")
check "/renew by a data node for another node: 403 (got ${R%% *})" \
  bash -c '[ "${0%% *}" = 403 ] && printf "%s" "$0" | grep -q "its own certificate only"' "$R"
R=$(renew_req "{\"id\":\"$D1ID\",\"pub\":\"$(printf '%0130d' 0)\",\"serial\":\"0102\"}")
check "/renew with a public key that is not a P-256 point: 400 (got ${R%% *})" \
  bash -c '[ "${0%% *}" = 400 ] && printf "%s" "$0" | grep -q "P-256"' "$R"
R=$(renew_req "{\"id\":\"$D1ID\",\"pub\":\"$PUB\",\"serial\":\"0102\"}")
check "/renew naming a serial that is neither of the node's certificates: 409 (got ${R%% *})" \
  bash -c '[ "${0%% *}" = 409 ] && printf "%s" "$0" | grep -q "is not a certificate of node"' "$R"
AFTER=$(status_with "$D/d1/node.crt" "$D/d1/node.key")
check "... and after them the data node's certificate is still accepted (got $AFTER)" [ "$AFTER" = 200 ]

# Past the first certificates' notAfter: the cluster still works.
while [ "$(date +%s)" -le $((issued + 3)) ]; do sleep 1; done
ok "the first certificates have expired ($(($(date +%s) - issued)) s ago)"
check "all three nodes still READY" wait_for 10 has_n 0 "READY" 3
routes "$UB"
check "a change of the provider's file reaches the data node" wait_for 30 serves b
kill -TERM "$DN"
wait_for 15 gone "$DN"
: >"$D/d1.log.2"
spawn "$T" start-data-node --peeraddresses="$PEERS" --statedir="$D/d1" --name=data-node-1 >"$D/d1.log.2" 2>&1
DN=$SPAWNED
opened() { grep -q "routing stream open\|routing document applied" "$D/d1.log.2"; }
check "the data node restarted with its renewed certificate streams again" wait_for 20 opened
check "... and serves b" wait_for 20 serves b
kill -TERM "$C1"
wait_for 15 gone "$C1"
# shellcheck disable=SC2046
spawn "$T" start-control-node "${TIMING[@]}" $(flags 1 control-node-1) >"$D/c1.log.2" 2>&1
C1=$SPAWNED
voters_ok() { curl -s --unix-socket "$D/s1.sock" http://node/status | grep -q '"voters":2'; }
check "control node 1 restarted with its renewed certificate rejoins Raft" wait_for 20 voters_ok
check "... and every node is READY" wait_for 20 has_n 0 "READY" 3
run "$T" list-nodes --traefikeesocket="$D/s1.sock"
check "list-nodes answers on the restarted control node" [ "$RC" -eq 0 ]

# rm-node revokes both certificates the node table holds for the node. Once the data node has
# renewed a second time, the table holds its third certificate and, as the previous one, the
# second (new1), which is still within its validity.
d1_renewals() { cat "$D/d1.log" "$D/d1.log.2" | grep -c "node certificate renewed"; }
twice() { [ "$(d1_renewals)" -ge 2 ]; }
check "the data node renews a second time" wait_for 60 twice
cp "$D/d1/node.crt" "$D/d1.cur.crt"; cp "$D/d1/node.key" "$D/d1.cur.key"
check "... its current certificate is another one again" \
  [ "$(serial "$D/d1.cur.crt")" != "$(serial "$D/d1.new1.crt")" ]
kill -TERM "$DN"
wait_for 15 gone "$DN"
P1=$(status_with "$D/d1.new1.crt" "$D/d1.new1.key"); P2=$(status_with "$D/d1.cur.crt" "$D/d1.cur.key")
check "before the removal both the previous and the current certificate are accepted ($P1 $P2)" \
  [ "$P1$P2" = 200200 ]
down() { nodes 0 | grep data-node-1 | grep -q DOWN; }
wait_for 20 down
run "$T" rm-node --traefikeesocket="$D/s0.sock" data-node-1
check "rm-node of the stopped data node exits 0" [ "$RC" -eq 0 ]
refused() { [ "$(status_with "$1" "$2")" != 200 ]; }
check "after rm-node its current certificate is refused" wait_for 10 refused "$D/d1.cur.crt" "$D/d1.cur.key"
LEFT=$(($(not_after "$D/d1.new1.crt") - $(date +%s)))
check "... and its previous one, $LEFT s before it would expire, too" \
  wait_for 10 refused "$D/d1.new1.crt" "$D/d1.new1.key"
finish
