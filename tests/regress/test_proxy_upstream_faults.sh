#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # all() evaluates its single-quoted conditions later
# Upstream faults, streaming and upgrades through the proxy, black box:
# `traefikee start-data-node --standalone` (response_header_timeout=1s,
# upstream_read_timeout=1s) in front of proxy_upstream.py (s1), proxy_badupstream.py (bad.test)
# and a closed port (refused.test); raw sockets from proxy_rawclient.py.
#  4. refused / closed / garbage / reset / malformed or oversized heads → 502, a slow head → 504;
#     a body cut short (length or chunked) or stalled → the client connection ends after the
#     partial body, and a pipelined request behind it is never answered; after each fault a
#     fresh connection is served;
#  5. 50 MB request bodies (Content-Length and chunked) and 50 MB responses (length and
#     chunked) stream with matching sha256 while the proxy's peak RSS stays under 30 MB;
#     Expect: 100-continue relays the upstream's 100; HEAD / 204 / 304 carry no body and the
#     keep-alive connection goes on;
#  6. an Upgrade to /_ws gets 101 and bytes echo both ways through the tunnel; a half close
#     ends it.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
RC_PY="$REGRESS_TOP/tests/regress/proxy_rawclient.py"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_server() { # start_server NAME SCRIPT ARGS...: sets SPORT
  local name=$1 script=$2; shift 2
  spawn python3 "$REGRESS_TOP/tests/regress/$script" "$@" >"$D/$name.out" 2>&1
  wait_for 10 grep -q '^PORT ' "$D/$name.out" || { not_ok "$name starts"; finish; }
  SPORT=$(awk '/^PORT /{print $2; exit}' "$D/$name.out")
}
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$1/_proxy_up")" != 000 ]; }
all() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v + 0 >= lo && v + 0 <= hi) }'; }
field() { # field NAME [LINE-PREFIX]: value of NAME= on the first line of $OUT starting with it
  printf '%s\n' "$OUT" | grep -m1 "^${2:-statuses=}" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}

start_server s1 proxy_upstream.py --name=s1; U1=$SPORT
start_server bad proxy_badupstream.py; UB=$SPORT
DEAD=$(free_port) # nothing listens there
P=$(free_port)
printf '{"version":1,"revision":1,"entryPoints":{"http":{"address":"127.0.0.1:%s"}},
 "frontends":{"main":{"backend":"s1","routes":{"r":{"rule":"PathPrefix:/"}}},
  "bad":{"backend":"bad","priority":100,"routes":{"r":{"rule":"Host:bad.test"}}},
  "refused":{"backend":"dead","priority":100,"routes":{"r":{"rule":"Host:refused.test"}}}},
 "backends":{"s1":{"servers":{"s1":{"url":"http://127.0.0.1:%s"}}},
  "bad":{"servers":{"b":{"url":"http://127.0.0.1:%s"}}},
  "dead":{"servers":{"d":{"url":"http://127.0.0.1:%s"}}}}}\n' "$P" "$U1" "$UB" "$DEAD" >"$D/p.json"
spawn "$T" start-data-node --standalone="$D/p.json" --limit response_header_timeout=1s \
  --limit upstream_read_timeout=1s >"$D/p.log" 2>&1
PROXY=$SPAWNED
wait_for 10 answers "$P" || { not_ok "proxy starts"; cat "$D/p.log"; finish; }

# 4. Faults. Each vector: one request with Connection: close on its own connection, then a
# request on a fresh connection to the same upstream, which must be served (no leaked state).
VECS="$D/vectors"
: >"$VECS"
fault() { # fault DESC WANT KIND HOST PATH; KIND: status (WANT and closed) or cut (partial body)
  printf '%s\t%s\t%s\t%s\n' "$2" "$3" "$1" \
    "GET $5 HTTP/1.1\r\nHost: $4\r\nConnection: close\r\n\r\n" >>"$VECS"
  printf '%s\t%s\t%s\t%s\n' 200 next "after $1: a fresh connection" \
    "GET /_count HTTP/1.1\r\nHost: $4\r\nConnection: close\r\n\r\n" >>"$VECS"
}
fault "connection refused" 502 status refused.test /
fault "upstream closes without answering" 502 status a /_close
fault "garbage response" 502 status a /_garbage
fault "upstream reset" 502 status a /_reset
fault "response head not in time (response_header_timeout=1s, /_delay/3000)" 504 slow a /_delay/3000
fault "response head stalls after the status line" 504 slow bad.test /stallhead
fault "half a status line then close" 502 status bad.test /half
fault "oversized response head (100 KB field)" 502 status bad.test /bighead
fault "response with 1000 fields" 502 status bad.test /manyheads
fault "response with bare LF" 502 status bad.test /barelf
fault "response with Content-Length and Transfer-Encoding" 502 status bad.test /clte
fault "response with two Content-Length values" 502 status bad.test /twocl
fault "response status 2000" 502 status bad.test /badstatus
fault "unsolicited 101" 502 status bad.test /unsolicited101
# the refused.test follow-up is 502 again, by design: nothing listens there
sed -i '2s/^200\t/502\t/' "$VECS"
run python3 "$RC_PY" batch --port "$P" --timeout 5 "$VECS"
n=0
while IFS=$'\t' read -r want kind desc facts; do
  n=$((n + 1))
  st=$(printf '%s' "$facts" | sed -n 's/^statuses=\([^ ]*\).*/\1/p')
  eof=$(printf '%s' "$facts" | sed -n 's/^[^|]* eof=\([^ ]*\).*/\1/p')
  el=$(printf '%s' "$facts" | sed -n 's/^[^|]* elapsed=\([^ ]*\).*/\1/p')
  case $kind in
    status|next) all "$desc: $want and closed" '[ "$st" = "$want" ] && [ "$eof" != 0 ] && between "$el" 0 3' ;;
    slow) all "$desc: $want after about 1 s ($el s)" '[ "$st" = "$want" ] && [ "$eof" != 0 ] && between "$el" 0.9 2.5' ;;
  esac
  [ "$st" = "$want" ] || printf '# %s\n' "$facts"
done <<<"$OUT"
check "every fault vector ran ($n of $(wc -l <"$VECS"))" [ "$n" -eq "$(wc -l <"$VECS")" ]

# The rest of the raw-socket cases, queued then sent one connection each by one process:
# req NAME OPTIONS DATA; then `res NAME` puts the facts in $OUT.
REQS="$D/reqs"
: >"$REQS"
req() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$REQS"; }
res() { OUT=$(cat "$D/res.$1" 2>/dev/null); }
OKREQ="GET /ok HTTP/1.1\r\nHost: bad.test\r\nConnection: close\r\n\r\n"
# A body cut short: the head went out, so the client connection must end after the partial
# body; the request pipelined behind it on the same connection is never answered.
for path in trunc trunc_chunked stallbody; do
  req "$path" timeout=5 "GET /$path HTTP/1.1\r\nHost: bad.test\r\n\r\nGET /ok HTTP/1.1\r\nHost: bad.test\r\n\r\n"
  req "after_$path" - "$OKREQ"
done
# on the pooled upstream connection the last /ok used, head, body and FIN come in one edge
req closedelim timeout=5 "GET /closedelim HTTP/1.1\r\nHost: bad.test\r\n\r\n"
# an upstream that answers more than it was asked must not poison the pool: the next client
# gets its own answer ("ok\n", 3 bytes), never the unasked-for "evil!"
for path in extra extra_late; do
  req "$path" - "GET /$path HTTP/1.1\r\nHost: bad.test\r\nConnection: close\r\n\r\n"
  req "after_$path" pause=0.6 "$OKREQ"
done
req head "keep=2,methods=HEAD;GET" "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\nGET /after-head HTTP/1.1\r\nHost: a\r\n\r\n"
for st in 204 304; do
  req "s$st" keep=2 "GET /_status/$st HTTP/1.1\r\nHost: a\r\n\r\nGET /after-$st HTTP/1.1\r\nHost: a\r\n\r\n"
done
run python3 "$RC_PY" multi --port "$P" "$REQS"
printf '%s\n' "$OUT" | awk -v d="$D" '/^=== /{f=d "/res." $2; next} {print > f}'

cut_body() { # cut_body DESC NAME WANT-BODY-BYTES MIN-S MAX-S
  res "$2"
  local el want=$3 lo=$4 hi=$5; el=$(field elapsed)
  all "$1: 200 head, $3 body bytes, then closed in $4-$5 s; the pipelined request unanswered ($el s)" \
    '[ "$(field statuses)" = 200 ] && [ "$(field complete r0)" = 0 ] && [ "$(field len r0)" = "$want" ] && [ "$(field eof)" != 0 ] && between "$el" "$lo" "$hi"'
  [ "$(field statuses)" = 200 ] || printf '# %s\n' "$OUT"
  res "after_$2"
  all "after $1: a fresh connection is served" '[ "$(field statuses)" = 200 ] && [ "$(field len r0)" = 3 ]'
}
cut_body "upstream closes mid Content-Length body" trunc 50000 0 2
cut_body "upstream closes mid chunked body" trunc_chunked 12288 0 2
cut_body "upstream stalls mid body (upstream_read_timeout=1s)" stallbody 10 0.9 2.5
res closedelim; el=$(field elapsed)
all "a response delimited by the upstream's close: all 5000 bytes, then the client connection closes at once ($el s)" \
  '[ "$(field statuses)" = 200 ] && [ "$(field len r0)" = 5000 ] && [ "$(field eof)" = 1 ] && between "$el" 0 0.9'
for path in extra extra_late; do
  res "$path"; first=$(field len r0)
  res "after_$path"
  all "an unasked-for response from the upstream ($path) reaches no client" \
    '[ "$first" = 3 ] && [ "$(field statuses)" = 200 ] && [ "$(field len r0)" = 3 ]'
done
res head
all "HEAD: no body, Content-Length kept, the next response on the connection intact" \
  '[ "$(field statuses)" = 200,200 ] && [ "$(field len r0)" = 0 ] && [ "$(field cl r0)" -gt 0 ] && [ "$(field target r1)" = /after-head ] && [ "$(field left)" = 0 ]'
for st in 204 304; do
  res "s$st"
  all "$st: no body, the next response on the keep-alive connection intact" \
    '[ "$(field statuses)" = "$st,200" ] && [ "$(field len r0)" = 0 ] && [ "$(field target r1)" = "/after-$st" ] && [ "$(field left)" = 0 ]'
done

# 5. Streaming: 50 MB each way; the proxy's peak RSS stays bounded.
N=52428800
head -c "$N" /dev/urandom >"$D/big"
SUM=$(sha256sum "$D/big" | cut -d' ' -f1)
XSUM=$(head -c "$N" /dev/zero | tr '\0' x | sha256sum | cut -d' ' -f1)
run curl -s --max-time 40 --data-binary @"$D/big" "http://127.0.0.1:$P/upload-cl"
check "50 MB request body (Content-Length, Expect: 100-continue by curl): sha256 matches" \
  has "$OUT" "\"body_len\": $N, \"body_sha256\": \"$SUM\""
run curl -s --max-time 40 -H 'Transfer-Encoding: chunked' --data-binary @"$D/big" "http://127.0.0.1:$P/upload-chunked"
check "50 MB request body (chunked): sha256 matches" \
  has "$OUT" "\"body_len\": $N, \"body_sha256\": \"$SUM\""
run sh -c "curl -s --max-time 40 http://127.0.0.1:$P/_bytes/$N | sha256sum"
check "50 MB response (Content-Length): sha256 matches" [ "${OUT%% *}" = "$XSUM" ]
run sh -c "curl -s --max-time 40 http://127.0.0.1:$P/_chunked/$N | sha256sum"
check "50 MB response (chunked): sha256 matches" [ "${OUT%% *}" = "$XSUM" ]
hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$PROXY/status" 2>/dev/null)
all "the proxy serves in-process with one worker (pid $PROXY is traefikee, no child)" \
  '[ "$(cat "/proc/$PROXY/comm" 2>/dev/null)" = traefikee ] && [ -z "$(cat /proc/$PROXY/task/*/children 2>/dev/null | tr -d " ")" ]'
all "the proxy's peak RSS after 200 MB streamed stays under 30 MB (VmHWM ${hwm:-?} kB)" \
  '[ -n "$hwm" ] && [ "$hwm" -lt 30720 ]'

# 6 runs alongside: WebSocket-style upgrade.
spawn python3 "$RC_PY" ws --port "$P" >"$D/res.ws" 2>&1
WS=$SPAWNED
run python3 "$RC_PY" expect --port "$P" --count-port "$U1"
all "Expect: 100-continue: the upstream's 100 is relayed before the body is sent ($OUT)" \
  '[ "$(field interim interim)" = 100 ] && [ "$(field final interim)" = 200 ] && [ "$(field body_len interim)" = 5 ]'

wait "$WS"
res ws
check "Upgrade to /_ws: 101" has "$OUT" "status=101"
check "tunnel: 200 KB echo both ways, byte for byte" has "$OUT" "echo=ok bytes=201009"
check "tunnel: a half close from the client ends it" has "$OUT" "eof_after_shutdown=1"
run curl -s --max-time 3 "http://127.0.0.1:$P/after-all"
check "after everything a normal request is served" has "$OUT" '"target": "/after-all"'

finish
