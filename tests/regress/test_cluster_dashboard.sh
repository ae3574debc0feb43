#!/usr/bin/env bash
# The dashboard rendered in a real browser: a control node with --api, a data node and a file
# provider document (one frontend, one backend with two servers); Debian's headless Chromium
# loads /dashboard/, runs its script for 8 s of virtual time (three polls) and dumps the DOM.
# Checked: the nodes table (both names, READY and ACTIVE pills, the leader pill, "expires in"
# certificates), the entry points, the frontend's rule, both server URLs, the summary cards,
# the error banner hidden, no uncaught JavaScript error nor CSP refusal in Chromium's console,
# and a screenshot that is a non-trivial 1400x1000 PNG (copied to build/regress/dashboard.png).
# No chromium is a failure, not a skip: tools/deps.sh installs it.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
API=127.0.0.1:$((BASE + 40))
S1=http://127.0.0.1:$((BASE + 91))
S2=http://127.0.0.1:$((BASE + 92))
URL="http://$API/dashboard/"

CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
  not_ok "chromium is installed (run tools/deps.sh --packages-only, or apt-get install --no-install-recommends chromium fonts-dejavu-core)"
  finish
fi

nodes() { "$T" list-nodes --details --traefikeesocket="$D/s0.sock" 2>/dev/null; }
has_n() { [ "$(nodes | grep -c "$1")" -eq "$2" ]; }

cat >"$D/routes.json" <<EOF
{"frontends": {"web": {"backend": "app", "routes": {"r1": {"rule": "Host:dash.test"}}}},
 "backends": {"app": {"servers": {"s1": {"url": "$S1"}, "s2": {"url": "$S2", "weight": 2}}}}}
EOF

spawn "$T" bootstrap --licensekey=K --statedir="$D/s0" --traefikeesocket="$D/s0.sock" \
  --listen=127.0.0.1:$((BASE + 10)) --advertise=127.0.0.1:$((BASE + 10)) \
  --controlapi.listen=127.0.0.1:$((BASE + 30)) --name=control-node-0 --mtlscertsoutputdir="$D/creds" \
  --api --api.listen="$API" >"$D/c0.log" 2>&1
wait_for 20 has_n "(Current Leader)" 1 || { not_ok "bootstrap leads"; tail -n 5 "$D/c0.log"; finish; }
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/d1" \
  --name=data-node-1 >"$D/d1.log" 2>&1
if ! wait_for 30 has_n "ACCEPTED    READY   ACTIVE        DATA NODE" 1; then
  not_ok "the data node is READY"; tail -n 5 "$D/d1.log"; finish
fi
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$D/routes.json" --providersthrottleduration=0s
check "deploy exits 0" [ "$RC" -eq 0 ]
deployed() { curl -s --max-time 2 "http://$API/api/providers" | grep -qF "$S2"; }
wait_for 20 deployed || { not_ok "/api/providers shows the document"; finish; }

# chromium ARGS...: headless, a private profile and HOME, no GPU, /tmp instead of /dev/shm; the
# page's console goes to stderr ('INFO:CONSOLE:3] "Uncaught ReferenceError: ..."'). Spawned
# (killed by PID if the test is stopped) and waited for; 8 s of virtual time cost about 1 s.
mkdir -p "$D/home"
chromium() {
  HOME="$D/home" XDG_CONFIG_HOME="$D/home/.config" XDG_CACHE_HOME="$D/home/.cache" \
    spawn timeout 60 "$CHROME" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --no-default-browser-check --disable-extensions --disable-background-networking \
    --user-data-dir="$D/chrome" --enable-logging=stderr --v=0 --virtual-time-budget=8000 "$@"
  wait "$SPAWNED"
}
# js_errors FILE: the console lines of an uncaught exception, a CSP refusal or a failed load.
js_errors() { grep -E ':CONSOLE.*(Uncaught|Refused to|Error|Failed)' "$1"; }
chromium --dump-dom "$URL" >"$D/dom.html" 2>"$D/chrome-dom.err"
CRC=$?
check "chromium --dump-dom exits 0 (got $CRC)" [ "$CRC" -eq 0 ]

# The rendered DOM, one line per element of interest: "id: text" for the cards and header,
# "t-ID: cell | cell | ..." per table row, pills as [text/class].
python3 - "$D/dom.html" >"$D/dom.txt" <<'EOF'
import sys
from html.parser import HTMLParser
VOID = {"meta", "link", "br", "img", "input", "hr"}
class P(HTMLParser):
    def __init__(s):
        super().__init__(); s.stack = []; s.root = ["root", {}, []]; s.stack.append(s.root)
    def handle_starttag(s, t, a):
        n = [t, dict(a), []]; s.stack[-1][2].append(n)
        if t not in VOID: s.stack.append(n)
    def handle_endtag(s, t):
        for i in range(len(s.stack) - 1, 0, -1):
            if s.stack[i][0] == t: del s.stack[i:]; break
    def handle_data(s, d): s.stack[-1][2].append(d)
def text(n):
    if isinstance(n, str): return n
    if n[0] in ("script", "style"): return ""
    x = "".join(text(c) for c in n[2])
    if "pill" in (n[1].get("class") or "").split():
        return "[%s/%s]" % (x, n[1]["class"].replace("pill", "").strip())
    return x
def walk(n):
    if isinstance(n, str): return
    yield n
    for c in n[2]: yield from walk(c)
p = P(); p.feed(open(sys.argv[1], encoding="utf-8").read())
for n in walk(p.root):
    i = n[1].get("id")
    if not i: continue
    if n[0] == "tbody":
        for tr in n[2]:
            if isinstance(tr, list) and tr[0] == "tr":
                print("%s: %s" % (i, " | ".join(text(td) for td in tr[2] if isinstance(td, list))))
    elif n[0] not in ("script", "style", "table"):
        print("%s: %s%s" % (i, text(n), " {style=%s}" % n[1]["style"] if "style" in n[1] else ""))
EOF
# dom ERE...: every ERE matches a line of the rendered DOM; line ID: the lines of element ID;
# row TABLE NAME: that table's rows naming NAME; all_in TEXT NEEDLE...: TEXT holds each NEEDLE.
dom() { local re; for re; do grep -qE -- "$re" "$D/dom.txt" || return 1; done; }
line() { grep "^$1: " "$D/dom.txt"; }
row() { line "$1" | grep -F -- "$2"; }
all_in() { local t=$1 n; shift; for n; do has "$t" "$n" || return 1; done; }
C0=$(row t-nodes control-node-0)
D1=$(row t-nodes data-node-1)
check "nodes table: control-node-0 with the leader pill, READY, ACTIVE ($C0)" \
  all_in "$C0" "control-node-0 [leader/lead]" "[READY/ok]" "[ACTIVE/ok]"
check "nodes table: data-node-1 READY, ACTIVE ($D1)" all_in "$D1" "data-node-1" "[READY/ok]" "[ACTIVE/ok]"
check "... and no leader pill on the data node" hasnt "$D1" leader
check "nodes table: two rows" [ "$(line t-nodes | wc -l)" -eq 2 ]
check "... both certificates \"expires in\"" [ "$(row t-nodes "[expires in" | wc -l)" -eq 2 ]
check "entry points table: http on $EP, the default ($(line t-eps))" \
  dom "^t-eps: http \| ${EP//./\\.} \| \[http/\] \| [^|]* \| yes$"
check "frontends table: web with rule Host:dash.test to backend app ($(line t-fe))" \
  dom '^t-fe: web \| Host:dash\.test \| default \| app \| 0$'
check "backends table: app with both server URLs and weights ($(line t-be))" \
  has "$(row t-be app)" "$S1 ×1$S2 ×2"
check "card: 2 / 2 nodes ready, 1 control, 1 data" dom '^c-nodes: 2 / 2$' '^c-nodes-s: 1 control, 1 data$'
check "card: leader control-node-0 ($(line c-leader))" dom '^c-leader: control-node-0$'
check "card: a routing revision ($(line c-rev))" dom '^c-rev: [0-9]+$'
check "card: provider file ($(line c-prov))" dom '^c-prov: file$'
check "card: 1 / 1 frontends / backends, 2 servers" dom '^c-fb: 1 / 1$' '^c-fb-s: 2 servers$'
check "header: the cluster line and the update time ($(line csub); $(line upd))" \
  dom '^csub: cluster .* served by control-node-0' '^upd: updated '
check "the error banner is hidden and empty ($(line err))" dom '^err:  \{style=display: none;\}$'
# Chromium's console: an uncaught exception, a rejected promise or a CSP refusal.
JSERR=$(js_errors "$D/chrome-dom.err")
check "no JavaScript error in Chromium's console${JSERR:+ ($JSERR)}" [ -z "$JSERR" ]

chromium --screenshot="$D/dashboard.png" --window-size=1400,1000 --hide-scrollbars "$URL" \
  >"$D/chrome-shot.out" 2>"$D/chrome-shot.err"
SIZE=$(stat -c %s "$D/dashboard.png" 2>/dev/null || echo 0)
KIND=$(file -b "$D/dashboard.png" 2>/dev/null)
check "the screenshot is a 1400 x 1000 PNG ($KIND)" has "$KIND" "PNG image data, 1400 x 1000"
check "... of more than 20 KB (a blank page is 6 KB; $SIZE bytes)" [ "$SIZE" -gt 20000 ]
mkdir -p "$REGRESS_TOP/build/regress"
[ -s "$D/dashboard.png" ] && cp "$D/dashboard.png" "$REGRESS_TOP/build/regress/dashboard.png"
JSERR=$(js_errors "$D/chrome-shot.err")
check "... and no JavaScript error while taking it${JSERR:+ ($JSERR)}" [ -z "$JSERR" ]
[ "$REGRESS_FAILED" -eq 0 ] || { echo "# rendered DOM:"; sed 's/^/#   /' "$D/dom.txt"; }
finish
