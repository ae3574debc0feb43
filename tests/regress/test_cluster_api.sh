#!/usr/bin/env bash
# Monitoring: a control node with --api serves the dashboard, the JSON API (/api/providers,
# /api/nodes, /api/cluster), /health, /ping and control-plane /metrics, and never a secret;
# a data node with --metrics.listen serves Prometheus /metrics and /ping, with counts that
# match the traffic sent through it; a standalone data node with --workers=2 serves the sum
# of both workers' registries.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
EPS=127.0.0.1:$((BASE + 81))
UP=$((BASE + 91))
API=127.0.0.1:$((BASE + 40))
MET=127.0.0.1:$((BASE + 45))
SAEP=127.0.0.1:$((BASE + 82))
SAMET=127.0.0.1:$((BASE + 46))

nodes() { "$T" list-nodes --details --traefikeesocket="$D/s0.sock" 2>/dev/null; }
has_n() { [ "$(nodes | grep -c "$1")" -eq "$2" ]; }
serves() { [ "$(curl -s --max-time 2 "http://$EP/")" = "$1" ]; }
json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)' <<<"$1"; }
# metric TEXT NAME{labels}: the value of one series (empty when absent)
metric() { printf '%s\n' "$1" | awk -v k="$2" 'index($0, k " ") == 1 { print $2 }'; }

mkdir -p "$D/www"; echo "hello-api" >"$D/www/index.html"
spawn python3 -m http.server "$UP" --bind 127.0.0.1 --directory "$D/www" >/dev/null 2>&1
up() { curl -s --max-time 1 "http://127.0.0.1:$UP/" >/dev/null; }
wait_for 10 up || not_ok "upstream starts"

# A certificate and its key: the routing document carries the key inline; nothing served may.
if ! { openssl ecparam -genkey -name prime256v1 -noout -out "$D/k.pem" &&
  openssl req -x509 -new -key "$D/k.pem" -subj "/CN=api.test" -days 2 -out "$D/c.pem"; } 2>/dev/null; then
  not_ok "openssl makes a test certificate"
fi
python3 - "$D" "$UP" <<'EOF'
import json, sys
d, up = sys.argv[1], sys.argv[2]
cert, key = open(d + "/c.pem").read(), open(d + "/k.pem").read()
doc = {
  "frontends": {"web": {"backend": "web", "routes": {"r1": {"rule": "PathPrefix:/"}},
                        "headers": {"customRequestHeaders": {"Authorization": "Bearer s3cr3t-t0ken"},
                                    # a key pasted where it does not belong: still never served
                                    "customResponseHeaders": {"X-Pasted": " ".join(key.split())}}}},
  "backends": {"web": {"servers": {"s1": {"url": "http://127.0.0.1:" + up, "weight": 3}},
                       "healthCheck": {"path": "/", "interval": "5s"}}},
  "tls": [{"entryPoints": ["https"], "certificate": {"certFile": cert, "keyFile": key}}],
}
json.dump(doc, open(d + "/routes.json", "w"))
EOF

spawn "$T" bootstrap --licensekey=K --statedir="$D/s0" --traefikeesocket="$D/s0.sock" \
  --listen=127.0.0.1:$((BASE + 10)) --advertise=127.0.0.1:$((BASE + 10)) \
  --controlapi.listen=127.0.0.1:$((BASE + 30)) --name=control-node-0 --mtlscertsoutputdir="$D/creds" \
  --api --api.listen="$API" --status.downafter=2 >"$D/c0.log" 2>&1
wait_for 20 has_n "(Current Leader)" 1 || not_ok "bootstrap leads"
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)

run "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/bad" --metrics.listen=nohost
check "--metrics.listen with a bad address exits 2" [ "$RC" -eq 2 ]
check "... naming the flag" has "$ERR" "--metrics.listen"

spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/d1" --name=data-node-1 \
  --metrics.listen="$MET" >"$D/d1.log" 2>&1
if wait_for 30 has_n "ACCEPTED    READY   ACTIVE        DATA NODE" 1; then ok "the data node is READY"; else not_ok "the data node is READY"; cat "$D/d1.log"; fi
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --entryPoints="Name:https Address:$EPS TLS" --defaultentrypoints=http \
  --file.filename="$D/routes.json" --providersthrottleduration=0s
check "deploy exits 0" [ "$RC" -eq 0 ]
if wait_for 20 serves hello-api; then ok "the data node routes to the upstream"; else not_ok "the data node routes to the upstream"; tail -n 5 "$D/d1.log"; fi
check "the routing document kept on disk holds the private key (so redaction is tested)" grep -q "PRIVATE KEY" "$D/d1/routing.json"

# --- data node /metrics and /ping
M=$(curl -s --max-time 2 "http://$MET/metrics")
EPK='traefik_entrypoint_requests_total{code="200",method="GET",protocol="http",entrypoint="http"}'
BEK='traefik_backend_requests_total{code="200",method="GET",protocol="http",backend="web"}'
E0=$(metric "$M" "$EPK"); B0=$(metric "$M" "$BEK")
N=7
for _ in $(seq $N); do curl -s --max-time 2 -o /dev/null "http://$EP/"; done
for _ in 1 2 3; do curl -s --max-time 2 -o /dev/null "http://$EP/nope/"; done # 404 from the upstream
run curl -s -D "$D/h" --max-time 2 "http://$MET/metrics"
M=$OUT
check "data node /metrics answers text/plain; version=0.0.4" grep -qi "^Content-Type: text/plain; version=0.0.4" "$D/h"
check "traefik_entrypoint_requests_total counts the $N requests (was ${E0:-0}, now $(metric "$M" "$EPK"))" \
  [ "$(metric "$M" "$EPK")" = "$((${E0:-0} + N))" ]
check "traefik_backend_requests_total counts them on backend web" [ "$(metric "$M" "$BEK")" = "$((${B0:-0} + N))" ]
check "... and the 404s apart" [ "$(metric "$M" 'traefik_backend_requests_total{code="404",method="GET",protocol="http",backend="web"}')" = 3 ]
check "traefik_config_reloads_total is counted" [ "$(metric "$M" traefik_config_reloads_total)" -ge 1 ]
check "traefik_backend_server_up reports the health-checked server" has "$M" 'traefik_backend_server_up{backend="web",url="http://127.0.0.1:'
run curl -s --max-time 2 "http://$MET/ping"
check "data node /ping answers OK" [ "$OUT" = OK ]
run curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$MET/other"
check "data node: other paths 404" [ "$OUT" = 404 ]

# --- control node: dashboard and JSON API
run curl -s -o /dev/null -w '%{http_code} %{redirect_url}' --max-time 2 "http://$API/"
check "/ redirects (302) to /dashboard/" has "$OUT" "302 http://$API/dashboard/"
run curl -s -o /dev/null -o /dev/null -w '%{http_code} %{redirect_url} / ' --max-time 2 "http://$API/dashboard" "http://$API/dashboard/nope.js"
check "/dashboard redirects to /dashboard/, other pages under it are 404 ($OUT)" has "$OUT" "302 http://$API/dashboard/ / 404  /"
curl -s -D "$D/h" -o "$D/dash.html" --max-time 2 "http://$API/dashboard/"
check "the page is served with a Content-Security-Policy" grep -qi "^Content-Security-Policy: default-src 'none'" "$D/h"
check "/dashboard/ is an HTML page" bash -c "grep -qi '^Content-Type: text/html' '$D/h' && grep -q '<!DOCTYPE html>' '$D/dash.html'"
check "... self-contained (no external script, style or font)" bash -c "! grep -Eqi '(src|href)=.?(https?:)?//|@import|url\\(' '$D/dash.html'"
P=$(curl -s --max-time 2 "http://$API/api/providers")
check "/api/providers is JSON" json_ok "$P"
check "/api/providers lists the file provider's frontend and backend" \
  python3 -c 'import json,sys; p=json.loads(sys.argv[1]); f=p["file"]; assert f["frontends"]["web"]["routes"]["r1"]["rule"]=="PathPrefix:/"; assert f["backends"]["web"]["servers"]["s1"]["weight"]==3' "$P"
check "/api/providers hides the Authorization header value" bash -c "! grep -q s3cr3t <<<'$P'"
check "... and a private key pasted into a header value" python3 -c 'import json,sys; p=json.loads(sys.argv[1]); assert p["file"]["frontends"]["web"]["headers"]["customResponseHeaders"]["X-Pasted"]=="(redacted)"' "$P"
run curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$API/api/providers/file/frontends/web"
check "/api/providers/file/frontends/web answers 200" [ "$OUT" = 200 ]
run curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$API/api/providers/consul"
check "/api/providers/consul (not deployed) answers 404" [ "$OUT" = 404 ]
NJ=$(curl -s --max-time 2 "http://$API/api/nodes")
check "/api/nodes lists every node with the leader" \
  python3 -c 'import json,sys; n=json.loads(sys.argv[1]); names=sorted(x["name"] for x in n["nodes"]); assert names==["control-node-0","data-node-1"], names; assert [x["name"] for x in n["nodes"] if x["leader"]]==["control-node-0"]' "$NJ"
C=$(curl -s --max-time 2 "http://$API/api/cluster")
check "/api/cluster shows the entry points and the provider" \
  python3 -c 'import json,sys; c=json.loads(sys.argv[1]); assert c["entryPoints"]["https"]["tls"] is True; assert c["provider"]["name"]=="file"; assert c["provider"]["runsHere"]; assert c["routing"]["revision"]>=1' "$C"
H=$(curl -s --max-time 2 "http://$API/health")
check "/health is JSON with pid, uptime, uptime_sec, time, unixtime" \
  python3 -c 'import json,sys; h=json.loads(sys.argv[1]); assert all(k in h for k in ("pid","uptime","uptime_sec","time","unixtime")); assert h["uptime_sec"]>0' "$H"
run curl -s --max-time 2 "http://$API/ping"
check "control node /ping answers OK" [ "$OUT" = OK ]
CM=$(curl -s --max-time 2 "http://$API/metrics")
check "control /metrics: this node is the leader" [ "$(metric "$CM" traefikee_raft_is_leader)" = 1 ]
check "control /metrics: one data node READY" [ "$(metric "$CM" 'traefikee_nodes{role="data",status="ready"}')" = 1 ]
check "control /metrics: the routing revision" [ "$(metric "$CM" traefikee_routing_revision)" -ge 1 ]
leak=""
for u in / /dashboard/ /api /api/providers /api/providers/file /api/providers/file/backends /api/cluster /api/nodes /health /metrics /status /ping; do
  curl -s --max-time 2 "http://$API$u" | grep -q "PRIVATE KEY" && leak="$leak $u"
done
check "no endpoint serves a PRIVATE KEY${leak:+ (leaks:$leak)}" [ -z "$leak" ]
run curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST "http://$API/api/providers"
check "the JSON API is read-only (POST refused with 405)" [ "$OUT" = 405 ]

# --- standalone, two workers: /metrics sums both
printf '{"version":1,"revision":1,"entryPoints":{"http":{"address":"%s"}},"frontends":{"web":{"backend":"web","routes":{"r1":{"rule":"PathPrefix:/"}}}},"backends":{"web":{"servers":{"s1":{"url":"http://127.0.0.1:%s"}}}}}\n' "$SAEP" "$UP" >"$D/sa.json"
spawn "$T" start-data-node --standalone="$D/sa.json" --workers=2 --metrics.listen="$SAMET" >"$D/sa.log" 2>&1
SA=$SPAWNED
sa_up() { [ "$(curl -s --max-time 1 "http://$SAMET/ping")" = OK ] && curl -s --max-time 1 -o /dev/null "http://$SAEP/nope"; }
wait_for 10 sa_up || not_ok "the standalone node starts"
SM=$(curl -s --max-time 2 "http://$SAMET/metrics")
S0=$(metric "$SM" "$EPK")
N=20
for _ in $(seq $N); do curl -s --max-time 2 -o /dev/null "http://$SAEP/"; done
SM=$(curl -s --max-time 2 "http://$SAMET/metrics")
check "standalone --workers=2: /metrics counts all $N requests (sum over the workers)" \
  [ "$(metric "$SM" "$EPK")" = "$((${S0:-0} + N))" ]
check "... and one reload, not one per worker" [ "$(metric "$SM" traefik_config_reloads_total)" = 1 ]
kill -TERM "$SA"
wait_for 10 bash -c "! kill -0 $SA" || not_ok "the standalone node stops on SIGTERM"
finish
