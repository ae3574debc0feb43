#!/usr/bin/env bash
# Live server health on the dashboard (docs/internals/node.md, "Health reports"): two control
# nodes with --api, two data nodes (data-node-2 with --workers=2: its master reads the shared
# health board), a file provider document with backend "app" of two health-checked servers
# (A: a python upstream, B: a port that refuses connections) and backend "plain" without a
# health check. Checked: /api/health on the leader AND on the follower (the reports are copied
# between control nodes) shows A up and B down on both data nodes within seconds, then A down
# once its upstream is stopped; the dashboard in headless Chromium shows the pills ("up on
# 2/2", "down on 2/2", "not checked"); POST /nodes/health refuses an admin or a control
# certificate (403), a malformed body (400) and an oversized one (413); the copy endpoint
# refuses a data node (403) and a node that is not a data node (400).
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
API0=127.0.0.1:$((BASE + 40))
API1=127.0.0.1:$((BASE + 41))
TIMING=(--status.downafter=3 --cleanup.grace=600)

flags() {
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) \
    --name="$2" --api --api.listen=127.0.0.1:$((BASE + 40 + $1))
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s0.sock" 2>/dev/null; }
has_n() { [ "$(nodes | grep -c "$1")" -eq "$2" ]; }

spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=a >"$D/a.out" 2>&1
UPA_PID=$SPAWNED
PA=$(upstream_port a) || { not_ok "upstream A starts"; finish; }
PB=$(free_ports 1) # nothing listens there: connections are refused
SA=http://127.0.0.1:$PA
SB=http://127.0.0.1:$PB
cat >"$D/routes.json" <<EOF
{"frontends": {"web": {"backend": "app", "routes": {"r1": {"rule": "PathPrefix:/"}}}},
 "backends": {"app": {"servers": {"a": {"url": "$SA"}, "b": {"url": "$SB"}},
                      "healthCheck": {"path": "/_health", "interval": "500ms", "timeout": "1s"}},
              "plain": {"servers": {"p": {"url": "$SA"}}}}}
EOF

# shellcheck disable=SC2046
spawn "$T" bootstrap --licensekey=K "${TIMING[@]}" $(flags 0 control-node-0) \
  --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
wait_for 20 has_n "(Current Leader)" 1 || { not_ok "bootstrap leads"; tail -n 5 "$D/c0.log"; finish; }
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
CONTROL_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
# shellcheck disable=SC2046
CONTROL_NODE_TOKEN=$CONTROL_NODE_TOKEN spawn "$T" start-control-node \
  --peeraddresses=127.0.0.1:$((BASE + 10)) "${TIMING[@]}" $(flags 1 control-node-1) >"$D/c1.log" 2>&1
voters2() { curl -s --unix-socket "$D/s0.sock" http://node/status | grep -q '"voters":2'; }
wait_for 30 voters2 || { not_ok "two control nodes are voters"; tail -n 5 "$D/c1.log"; finish; }
# data-node-1 asks control-node-0, data-node-2 control-node-1 (the follower): wherever each
# streams from, every control node must end up with both reports.
spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/d1" \
  --name=data-node-1 >"$D/d1.log" 2>&1
spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 11)) --statedir="$D/d2" \
  --name=data-node-2 --workers=2 >"$D/d2.log" 2>&1
if ! wait_for 30 has_n "ACCEPTED    READY   ACTIVE        DATA NODE" 2; then
  not_ok "two data nodes READY"; nodes; tail -n 5 "$D/d1.log" "$D/d2.log"; finish
fi
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$D/routes.json" --providersthrottleduration=0s
check "deploy exits 0" [ "$RC" -eq 0 ]

# hstate API BACKEND URL: the per-node letters of /api/health for that server ("uu": up on
# both data nodes, in the order of "nodes": data-node-1, data-node-2), or "-".
hstate() {
  curl -s --max-time 2 "http://$1/api/health" | python3 -c '
import json, sys
try:
    h = json.load(sys.stdin)
    names = [n["name"] for n in h["nodes"]]
    assert names == ["data-node-1", "data-node-2"], names
    print(h["backends"][sys.argv[1]][sys.argv[2]]["nodes"])
except Exception:
    print("-")' "$2" "$3"
}
is() { [ "$(hstate "$1" app "$2")" = "$3" ]; }
both() { is "$API0" "$SA" "$1" && is "$API0" "$SB" "$2" && is "$API1" "$SA" "$1" && is "$API1" "$SB" "$2"; }
T0=$(date +%s)
if wait_for 15 both uu dd; then
  ok "both control nodes: A up on both data nodes, B down on both (in $(($(date +%s) - T0)) s)"
else
  not_ok "both control nodes: A up on both data nodes, B down on both"
fi
# Each control node on its own, so a failure says which (the follower: the copies).
both_here() { is "$1" "$SA" uu && is "$1" "$SB" dd; }
for a in "$API0" "$API1"; do
  check "$a: A up on both data nodes ($(hstate "$a" app "$SA")), B down on both ($(hstate "$a" app "$SB"))" \
    both_here "$a"
done
H=$(curl -s --max-time 2 "http://$API1/api/health")
check "/api/health: reports not stale, backend plain not listed ($H)" python3 -c '
import json, sys
h = json.loads(sys.argv[1])
assert h["staleAfterSeconds"] == 45 and "plain" not in h["backends"]
for n in h["nodes"]:
    assert n["reported"] and not n["stale"] and n["servers"] == 2 and n["ageSeconds"] <= 16, n
' "$H"
check "the data nodes logged no refused report" [ "$(cat "$D/d1.log" "$D/d2.log" | grep -c 'health report not taken')" -eq 0 ]

# The dashboard: chromium --dump-dom (the approach of test_cluster_dashboard.sh).
CHROME=$(command -v chromium || command -v chromium-browser || true)
mkdir -p "$D/home"
dump() { # dump API OUT: the rendered backends table rows, "t-be: cell | cell | ..."
  HOME="$D/home" XDG_CONFIG_HOME="$D/home/.config" XDG_CACHE_HOME="$D/home/.cache" \
    spawn timeout 60 "$CHROME" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --no-default-browser-check --disable-extensions --disable-background-networking \
    --user-data-dir="$D/chrome" --enable-logging=stderr --v=0 --virtual-time-budget=5000 \
    --dump-dom "http://$1/dashboard/" >"$D/dom.html" 2>"$D/chrome.err"
  wait "$SPAWNED"
  python3 - "$D/dom.html" >"$2" <<'EOF'
import sys
from html.parser import HTMLParser
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.rows = []; s.in_be = False; s.cells = None; s.cls = []
    def handle_starttag(s, t, a):
        a = dict(a)
        if t == "tbody" and a.get("id") == "t-be": s.in_be = True
        if not s.in_be: return
        if t == "tr": s.cells = []
        elif t == "td" and s.cells is not None: s.cells.append("")
        elif t == "span" and "pill" in (a.get("class") or "").split():
            s.cls.append((a.get("class") or "").replace("pill", "").strip()); s.add("[")
        elif t == "div" and s.cells and s.cells[-1]: s.add(" ")
    def handle_endtag(s, t):
        if not s.in_be: return
        if t == "tbody": s.in_be = False
        elif t == "tr" and s.cells is not None: s.rows.append(s.cells); s.cells = None
        elif t == "span" and s.cls and s.cells and s.cells[-1].count("[") > s.cells[-1].count("]"):
            s.add("/" + s.cls.pop() + "]")
    def add(s, x):
        if s.cells: s.cells[-1] += x
    def handle_data(s, d):
        if s.in_be: s.add(d)
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read())
for r in p.rows: print("t-be: " + " | ".join(r))
EOF
}
if [ -z "$CHROME" ]; then
  not_ok "chromium is installed (tools/deps.sh --packages-only)"
else
  dump "$API1" "$D/dom1.txt"
  APP=$(grep '^t-be: app ' "$D/dom1.txt")
  PLAIN=$(grep '^t-be: plain ' "$D/dom1.txt")
  check "dashboard (follower): app's live health: A up on 2/2, B down on 2/2 ($APP)" \
    has "$APP" "| [up on 2/2/ok] [down on 2/2/bad] |"
  check "dashboard: the plain backend is \"not checked\" ($PLAIN)" has "$PLAIN" "[not checked/]"
  JSERR=$(grep -E ':CONSOLE.*(Uncaught|Refused to|Error|Failed)' "$D/chrome.err")
  check "no JavaScript error in Chromium's console${JSERR:+ ($JSERR)}" [ -z "$JSERR" ]
  # A picture of the pills for people (build/regress/dashboard-health.png).
  HOME="$D/home" XDG_CONFIG_HOME="$D/home/.config" XDG_CACHE_HOME="$D/home/.cache" \
    spawn timeout 60 "$CHROME" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --no-default-browser-check --disable-extensions --disable-background-networking \
    --user-data-dir="$D/chrome" --virtual-time-budget=5000 --hide-scrollbars \
    --window-size=1400,1000 --screenshot="$D/health.png" "http://$API1/dashboard/" >/dev/null 2>&1
  wait "$SPAWNED"
  check "a 1400 x 1000 screenshot of the dashboard ($(file -b "$D/health.png" 2>/dev/null))" \
    has "$(file -b "$D/health.png" 2>/dev/null)" "PNG image data, 1400 x 1000"
  mkdir -p "$REGRESS_TOP/build/regress"
  [ -s "$D/health.png" ] && cp "$D/health.png" "$REGRESS_TOP/build/regress/dashboard-health.png"
fi

# Stop server A: it goes down on both data nodes, on both control nodes.
kill "$UPA_PID"
T0=$(date +%s)
if wait_for 15 both dd dd; then ok "A stopped: down on both data nodes, on both control nodes (in $(($(date +%s) - T0)) s)"
else not_ok "A stopped: down on both data nodes, on both control nodes (A: $(hstate "$API0" app "$SA") / $(hstate "$API1" app "$SA"))"; fi
if [ -n "$CHROME" ]; then
  dump "$API0" "$D/dom0.txt"
  APP=$(grep '^t-be: app ' "$D/dom0.txt")
  check "dashboard (leader): both servers \"down on 2/2\" ($APP)" \
    has "$APP" "| [down on 2/2/bad] [down on 2/2/bad] |"
fi

# Refusals. post CERT KEY PATH BODY-FILE: the status of a POST to control-node-0's --listen.
post() {
  curl -s -o "$D/post.out" -w '%{http_code}' --max-time 5 --cacert "$D/d1/ca.crt" --cert "$1" \
    --key "$2" -H 'Content-Type: application/json' --data-binary "@$4" "https://127.0.0.1:$((BASE + 10))$3"
}
printf '{"revision":1,"servers":[{"backend":"app","url":"%s","up":"yes"}]}' "$SA" >"$D/bad.json"
printf '{"revision":1,"servers":[]}' >"$D/ok.json"
python3 -c 'import sys; sys.stdout.write("{\"revision\":1,\"servers\":[],\"pad\":\"" + "p" * 140000 + "\"}")' >"$D/big.json"
DC=("$D/d1/node.crt" "$D/d1/node.key")
CC=("$D/s1/node.crt" "$D/s1/node.key")
AC=("$D/creds/admin.pem" "$D/creds/admin.key")
check "POST /nodes/health with a malformed body: 400 ($(post "${DC[@]}" /nodes/health "$D/bad.json"): $(cat "$D/post.out"))" \
  [ "$(post "${DC[@]}" /nodes/health "$D/bad.json")" = 400 ]
check "... it names the key at fault" has "$(cat "$D/post.out")" "up: want true or false"
check "POST /nodes/health over 128 KiB: 413 ($(post "${DC[@]}" /nodes/health "$D/big.json"))" \
  [ "$(post "${DC[@]}" /nodes/health "$D/big.json")" = 413 ]
check "POST /nodes/health with a control node certificate: 403" \
  [ "$(post "${CC[@]}" /nodes/health "$D/ok.json")" = 403 ]
check "POST /nodes/health with the admin certificate: 403" \
  [ "$(post "${AC[@]}" /nodes/health "$D/ok.json")" = 403 ]
check "POST /nodes/health/copy with a data node certificate: 403" \
  [ "$(post "${DC[@]}" /nodes/health/copy "$D/ok.json")" = 403 ]
CID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["nodeId"])' "$D/s1/node.json")
printf '{"node":"%s","ageMs":0,"revision":1,"entries":""}' "$CID" >"$D/copy.json"
check "POST /nodes/health/copy for a control node ($CID): 400 ($(post "${CC[@]}" /nodes/health/copy "$D/copy.json"): $(cat "$D/post.out"))" \
  [ "$(post "${CC[@]}" /nodes/health/copy "$D/copy.json")" = 400 ]
check "the control nodes are still up" both dd dd
finish
