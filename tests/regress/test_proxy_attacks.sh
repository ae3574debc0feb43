#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2034 # all() evaluates its single-quoted conditions later
# Hostile clients against the proxy, black box: `traefikee start-data-node --standalone` with
# small limits in front of two proxy_upstream.py servers, raw sockets from proxy_rawclient.py.
#  1. framing attacks (CL+TE, CL lists, TE obfuscations, obs-fold, bare CR/LF, NUL, space before
#     the colon, chunk-size and extension abuse, requests hidden in bodies) are answered
#     400/501 (docs/internals/http.md §3) and closed, and the upstream parsed no extra request;
#     pipelining, HTTP/1.0 without Host and absolute-form targets work; 414/431/413/505 limits;
#     a client's FIN (alone or with its last bytes) ends the connection at once;
#  2. slowloris: a head trickled byte by byte gets 408 after client_header_timeout, 50 of them
#     do not stop a normal client; a stalled body gets 408 after client_body_timeout; a client
#     that stops reading is cut off after send_timeout; the peak RSS stays under 30 MB;
#  3. max_conns: clients over the cap wait in the kernel backlog (no answer) and are served as
#     soon as held connections go; service recovers.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
RC_PY="$REGRESS_TOP/tests/regress/proxy_rawclient.py"
UP_PY="$REGRESS_TOP/tests/regress/proxy_upstream.py"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
start_upstream() { # start_upstream NAME: sets UPORT
  spawn python3 "$UP_PY" --name="$1" >"$D/up-$1.out" 2>&1
  wait_for 10 grep -q '^PORT ' "$D/up-$1.out" || { not_ok "upstream $1 starts"; finish; }
  UPORT=$(awk '/^PORT /{print $2; exit}' "$D/up-$1.out")
}
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$1/_proxy_up")" != 000 ]; }
start_proxy() { # start_proxy NAME PORT LIMIT...: the routing document is $D/NAME.json
  local name=$1 port=$2; shift 2
  local args=() l
  for l in "$@"; do args+=(--limit "$l"); done
  spawn "$T" start-data-node --standalone="$D/$name.json" "${args[@]}" >"$D/$name.log" 2>&1
  wait_for 10 answers "$port" || { not_ok "proxy $name starts"; cat "$D/$name.log"; finish; }
}
doc() { # doc PORT UPSTREAM1 UPSTREAM2: / to s1, Host abs.test to s2
  printf '{"version":1,"revision":1,"entryPoints":{"http":{"address":"127.0.0.1:%s"}},
 "frontends":{"main":{"backend":"b1","routes":{"r":{"rule":"PathPrefix:/"}}},
  "abs":{"backend":"b2","priority":100,"routes":{"r":{"rule":"Host:abs.test"}}}},
 "backends":{"b1":{"servers":{"s1":{"url":"http://127.0.0.1:%s"}}},
  "b2":{"servers":{"s2":{"url":"http://127.0.0.1:%s"}}}}}\n' "$1" "$2" "$3"
}

start_upstream s1; U1=$UPORT
start_upstream s2; U2=$UPORT
P=$(free_port)
doc "$P" "$U1" "$U2" >"$D/p.json"
start_proxy p "$P" client_header_timeout=1s client_body_timeout=1s send_timeout=2s \
  max_line=1024 max_header_bytes=4096 max_headers=20 max_body=100000
PROXY=$SPAWNED

# all DESC 'CONDITION': ok when the shell condition (evaluated now) holds
all() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v + 0 >= lo && v + 0 <= hi) }'; }
field() { # field NAME [LINE-PREFIX]: value of NAME= on the first line starting with the prefix
  printf '%s\n' "$OUT" | grep -m1 "^${2:-statuses=}" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -1
}
# refused DESC STATUS DATA / refused_body ...: queue a vector for the batch below. "refused":
# answered STATUS, connection closed, no request reached s1. "refused_body" (a bad chunked
# body): STATUS and closed; the head may have gone upstream (it streams before the body is
# seen) but nothing after it did: s1 parsed at most that one request.
VECS="$D/vectors"
: >"$VECS"
refused() { printf '%s\t%s\t%s\t%s\n' "$2" head "$1" "$3" >>"$VECS"; }
refused_body() { printf '%s\t%s\t%s\t%s\n' "$2" body "$1" "$3" >>"$VECS"; }
run_vectors() {
  run python3 "$RC_PY" batch --port "$P" --count-port "$U1" "$VECS"
  local n=0 want kind desc facts st eof delta maxd
  while IFS=$'\t' read -r want kind desc facts; do
    n=$((n + 1))
    st=$(printf '%s' "$facts" | sed -n 's/.*statuses=\([^ ]*\).*/\1/p')
    eof=$(printf '%s' "$facts" | sed -n 's/.* eof=\([^ ]*\).*/\1/p')
    delta=$(printf '%s' "$facts" | sed -n 's/.* delta=\([^ ]*\).*/\1/p')
    maxd=0; [ "$kind" = body ] && maxd=1
    if [ "$st" = "$want" ] && [ "$eof" != 0 ] && [ -n "$delta" ] && [ "$delta" -ge 0 ] && [ "$delta" -le "$maxd" ]; then
      ok "$desc: $want, closed, $([ "$kind" = body ] && echo "nothing smuggled" || echo "upstream saw nothing")"
    else not_ok "$desc: want $want, closed, delta <= $maxd; got $facts"; fi
  done <<<"$OUT"
  [ "$n" -eq "$(wc -l <"$VECS")" ] || not_ok "every vector ran ($n of $(wc -l <"$VECS"); $ERR)"
  : >"$VECS"
}

H='Host: a\r\n'
SMUG='GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n'

# 1. Framing attacks.
refused "CL.TE (classic smuggle)" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n$SMUG"
refused "TE.CL" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"
refused "two different Content-Length fields" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello$SMUG"
refused "Content-Length list 5, 6" 400 "POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello$SMUG"
refused "Content-Length +5" 400 "POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello"
refused "TE chunked, identity" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n$SMUG"
refused "TE xchunked" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n$SMUG"
refused "TE chunked twice" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused "TE gzip, chunked (registered coding)" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
refused "TE foo, chunked (unknown coding)" 501 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n"
refused "TE \"chunked\" quoted" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n"
refused "TE in HTTP/1.0" 400 "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
refused "TE folded onto the next line (obs-fold)" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n"
refused "obs-fold in an ordinary field" 400 "GET / HTTP/1.1\r\n${H}X-A: b\r\n\tc\r\n\r\n"
refused "space before the colon" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"
refused "bare LF ending a field" 400 "GET / HTTP/1.1\r\n${H}X-A: b\n\r\n"
refused "bare LF everywhere" 400 "GET / HTTP/1.1\nHost: a\n\n"
refused "bare CR in a value" 400 "GET / HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n"
refused "NUL in a value" 400 "GET / HTTP/1.1\r\n${H}X-A: b\x00c\r\n\r\n"
refused "NUL in a name" 400 "GET / HTTP/1.1\r\n${H}X\x00A: b\r\n\r\n"
refused "two Host fields" 400 "GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n"
refused "HTTP/1.1 without Host" 400 'GET / HTTP/1.1\r\nX-A: b\r\n\r\n'
refused "Host with a comma" 400 'GET / HTTP/1.1\r\nHost: a,b\r\n\r\n'
refused "HTTP/1.2" 505 "GET / HTTP/1.2\r\n$H\r\n"
refused "lowercase http/1.1" 400 "GET / http/1.1\r\n$H\r\n"
refused "space in the target" 400 "GET /a b HTTP/1.1\r\n$H\r\n"
refused "TE chunked then identity in a second field" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n$SMUG"
refused "CONNECT" 405 "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"
refused "Expect other than 100-continue" 417 "GET / HTTP/1.1\r\n${H}Expect: foo\r\n\r\n"
refused "three empty lines before the request" 400 "\r\n\r\n\r\nGET / HTTP/1.1\r\n$H\r\n"
refused_body "chunk size not hex" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n$SMUG"
refused_body "chunk size 0x5" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n$SMUG"
refused_body "chunk size -1" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n$SMUG"
refused_body "chunk size overflowing 64 bits" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n$SMUG"
refused_body "space after the chunk size" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n$SMUG"
refused_body "bare LF after the chunk size" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n$SMUG"
refused_body "chunk data longer than its size" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n$SMUG"
refused_body "NUL in a chunk extension" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\x00b\r\nhello\r\n0\r\n\r\n$SMUG"
LONGEXT=$(printf '%*s' 1100 '' | tr ' ' 'e')
refused_body "chunk extension over max_chunk_line (1 KiB)" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;$LONGEXT\r\nhello\r\n0\r\n\r\n$SMUG"
refused_body "obs-fold in the trailer" 400 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n$SMUG"
# limits: max_line=1024 max_header_bytes=4096 max_headers=20 max_body=100000
LONG=$(printf '%*s' 1500 '' | tr ' ' 'a')
refused "request line over max_line" 414 "GET /$LONG HTTP/1.1\r\n$H\r\n"
BIG=$(printf '%*s' 5000 '' | tr ' ' 'b')
refused "header section over max_header_bytes" 431 "GET / HTTP/1.1\r\n${H}X-Big: $BIG\r\n\r\n"
MANY=$(for i in $(seq 1 30); do printf 'X-H%d: v\\r\\n' "$i"; done)
refused "more fields than max_headers" 431 "GET / HTTP/1.1\r\n$H$MANY\r\n"
refused "Content-Length over max_body" 413 "POST / HTTP/1.1\r\n${H}Content-Length: 100001\r\n\r\nxx"
refused_body "chunk over max_body" 413 "POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n186a1\r\nxx"
run_vectors

# Requests that must succeed (or end in a precise way), queued then sent one connection
# each by one process: req NAME OPTIONS DATA; then `res NAME` puts the facts in $OUT.
REQS="$D/reqs"
: >"$REQS"
req() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$REQS"; }
res() { OUT=$(cat "$D/res.$1" 2>/dev/null); }

# accepted by decision (http.md §3): "Chunked" in any case, OWS, valid extensions, 007.
req te_case keep=1 "POST /ok HTTP/1.1\r\n${H}Transfer-Encoding:  Chunked \r\n\r\n5;name=\"v\";x\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
req cl_zeros keep=1 "POST /ok HTTP/1.1\r\n${H}Content-Length: 005\r\n\r\nhello"
# a request after a body is the next request, routed on its own, never part of the first
req pipe "keep=3,methods=POST;POST;GET" "POST /first HTTP/1.1\r\n${H}Content-Length: 5\r\n\r\nhelloPOST /second HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /third HTTP/1.1\r\nHost: abs.test\r\n\r\n"
req conn_close - "GET /closing HTTP/1.1\r\n${H}Connection: close\r\n\r\nGET /after-close HTTP/1.1\r\n$H\r\n"
req http10 - "GET /ten HTTP/1.0\r\n\r\n"
req absform keep=1 "GET http://abs.test/abs?q=1 HTTP/1.1\r\nHost: other\r\n\r\n"
req at_max keep=1 "POST /ok HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n$(printf '%*s' 100000 '' | tr ' ' 'z')"
# A client's end of input (FIN) is seen whether it comes in the same segment as the last
# bytes (shut=-1) or on its own (0.2 s later): a complete request is answered and the
# connection then closes; an unfinished head or body closes at once, with no 408 wait.
for sh in -1 0.2; do
  req "fin_req$sh" "shut=$sh,timeout=3" "GET /fin HTTP/1.1\r\n$H\r\n"
  req "fin_body$sh" "shut=$sh,timeout=3" "POST /fin HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc"
  req "fin_head$sh" "shut=$sh,timeout=3" "GET /fin HTTP/1.1\r\n$H"
  req "fin_pipe$sh" "shut=$sh,timeout=3" "GET /p1 HTTP/1.1\r\n$H\r\nGET /p2 HTTP/1.1\r\n$H\r\nGET /p3 HTTP/1.1\r\n$H\r\n"
done
run python3 "$RC_PY" multi --port "$P" --count-port "$U1" "$REQS"
printf '%s\n' "$OUT" | awk -v d="$D" '/^=== /{f=d "/res." $2; next} {print > f}'

res te_case
all "TE ' Chunked ' with extensions and a trailer: 200, the 5-byte body reaches s1" \
  '[ "$(field statuses)" = 200 ] && [ "$(field body_len r0)" = 5 ] && [ "$(field delta)" = 1 ]'
res cl_zeros
all "Content-Length 005 reads as 5: 200, body_len 5" \
  '[ "$(field statuses)" = 200 ] && [ "$(field body_len r0)" = 5 ]'
res pipe
all "pipelined POST(CL) POST(chunked) GET: three responses in order" \
  '[ "$(field statuses)" = 200,200,200 ] && [ "$(field target r0)" = /first ] && [ "$(field target r1)" = /second ] && [ "$(field target r2)" = /third ]'
all "pipelined: bodies framed exactly (5 and 3 bytes), the third routed by its own Host (s2)" \
  '[ "$(field body_len r0)" = 5 ] && [ "$(field body_len r1)" = 3 ] && [ "$(field server r2)" = s2 ]'
check "pipelined: s1 parsed exactly two requests" [ "$(field delta)" = 2 ]
res conn_close
all "Connection: close: one answer, then closed; the request pipelined behind it never forwarded" \
  '[ "$(field statuses)" = 200 ] && [ "$(field target r0)" = /closing ] && [ "$(field eof)" = 1 ] && [ "$(field delta)" = 1 ]'
res http10
all "HTTP/1.0 without Host: 200 from s1, then closed" \
  '[ "$(field statuses)" = 200 ] && [ "$(field target r0)" = /ten ] && [ "$(field eof)" = 1 ]'
res absform
all "absolute-form target: routed on its authority (s2), not on Host" \
  '[ "$(field statuses)" = 200 ] && [ "$(field server r0)" = s2 ]'
check "absolute-form target: s2 gets the path and query" has "$(field target r0)" "/abs?q=1"
res at_max
all "Content-Length at max_body: 200, body_len 100000" \
  '[ "$(field statuses)" = 200 ] && [ "$(field body_len r0)" = 100000 ]'
for sh in -1 0.2; do
  how=$([ "$sh" = -1 ] && echo "with the last bytes" || echo "on its own")
  res "fin_req$sh"
  all "request then FIN $how: 200, then the connection closes" \
    '[ "$(field statuses)" = 200 ] && [ "$(field target r0)" = /fin ] && [ "$(field eof)" = 1 ]'
  res "fin_body$sh"
  all "body cut by FIN $how: closed without an answer (no 408 after the body timeout)" \
    '[ "$(field statuses)" = none ] && [ "$(field eof)" = 1 ] && [ "$(field delta)" -le 1 ]'
  res "fin_head$sh"
  all "head cut by FIN $how: closed without an answer, nothing forwarded" \
    '[ "$(field statuses)" = none ] && [ "$(field eof)" = 1 ] && [ "$(field delta)" = 0 ]'
  res "fin_pipe$sh"
  all "three pipelined requests then FIN $how: three answers in order, then the connection closes" \
    '[ "$(field statuses)" = 200,200,200 ] && [ "$(field target r2)" = /p3 ] && [ "$(field eof)" = 1 ]'
done
run curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$P/after-attacks"
check "after the attacks a normal request is served (200)" [ "$OUT" = 200 ]

# 2. Slowloris (client_header_timeout=1s, client_body_timeout=1s), all four at once.
bg() { local name=$1; shift; spawn python3 "$RC_PY" "$@" >"$D/res.$name" 2>&1; BG+=("$SPAWNED"); }
BG=()
bg trickle slow --port "$P" --interval 0.15 "GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: $(printf '%*s' 60 '' | tr ' ' 's')\r\n\r\n"
bg stall send --port "$P" --timeout 5 "GET /idle HTTP/1.1\r\nHost: a\r\n"
bg many slowmany --port "$P" --n 50 --interval 0.1 --normal-for 1.2
bg body send --port "$P" --timeout 5 "POST /slowbody HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\n0123456789"
bg reader slowread --port "$P" --path /_bytes/52428800 --host abs.test --wait 5 --timeout 5
for pid in "${BG[@]}"; do wait "$pid"; done

res trickle; el=$(field elapsed)
all "a head trickled byte by byte: 408 then closed (statuses=$(field statuses) eof=$(field eof))" \
  '[ "$(field statuses)" = 408 ] && [ "$(field eof)" = 1 ]'
check "a head trickled byte by byte: cut after client_header_timeout ($el s, want 0.9-2.5)" \
  between "$el" 0.9 2.5
res stall; el=$(field elapsed)
all "an unfinished head that then stalls: 408 within 0.9-2.5 s ($el s)" \
  '[ "$(field statuses)" = 408 ] && between "$el" 0.9 2.5'
res many
n_ok=$(printf '%s' "$OUT" | sed -n 's/.*normal_ok=\([0-9]*\)\/\([0-9]*\).*/\1 \2/p')
check "50 slowloris clients: all get 408 and are closed ($OUT)" \
  has "$OUT" "slow_408=50 slow_closed=50"
all "50 slowloris clients: a normal client is served meanwhile, every time (${n_ok/ / of })" \
  '[ -n "$n_ok" ] && [ "${n_ok% *}" = "${n_ok#* }" ] && [ "${n_ok% *}" -ge 2 ]'
check "50 slowloris clients: each cut within 2.5 s ($(field slow_max slow))" \
  between "$(field slow_max slow)" 0.01 2.5
res body; el=$(field elapsed)
all "a body that stalls: 408 then closed within 0.9-2.5 s ($(field statuses) eof=$(field eof) $el s)" \
  '[ "$(field statuses)" = 408 ] && [ "$(field eof)" = 1 ] && between "$el" 0.9 2.5'
res reader
all "a client that stops reading a 50 MB response is cut off after send_timeout=2s ($OUT)" \
  '[ "$(field got got)" -lt 52428800 ] && [ "$(field eof got)" != 0 ]'
hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$PROXY/status" 2>/dev/null)
all "the proxy's peak RSS through all of the above stays under 30 MB (VmHWM ${hwm:-?} kB)" \
  '[ -n "$hwm" ] && [ "$hwm" -lt 30720 ]'
run python3 "$RC_PY" send --port "$P" --keep 1 "GET /after-slow HTTP/1.1\r\n$H\r\n"
all "after the slow clients a request is served by s1" \
  '[ "$(field statuses)" = 200 ] && [ "$(field target r0)" = /after-slow ]'

# 3. max_conns=4: clients over the cap wait in the backlog, then are served.
P2=$(free_port)
doc "$P2" "$U1" "$U2" >"$D/caps.json"
start_proxy caps "$P2" max_conns=4 max_tls_conns=4 client_header_timeout=5s
run python3 "$RC_PY" caps --port "$P2" --hold 4 --extra 3
check "max_conns=4: four clients hold their connections" has "$OUT" "held=4"
check "max_conns=4: three more get no answer while the four hold (queued: $OUT)" has "$OUT" "queued=3"
check "max_conns=4: the three are served once the four close" has "$OUT" "served_after=3"
ok_all=1
for i in 1 2 3 4 5 6; do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://127.0.0.1:$P2/r$i")" = 200 ] || ok_all=0
done
check "max_conns=4: service recovers (6 requests in a row, 200)" [ "$ok_all" = 1 ]

finish
