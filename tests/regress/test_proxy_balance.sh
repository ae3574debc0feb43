#!/usr/bin/env bash
# Load balancing through the static binary in standalone mode with real upstreams
# (proxy_upstream.py): wrr weights, drr, sticky cookies, maxConn (429) and active health
# checks (path, interval, timeout; down, up, all down = 503). Routing rules, headers,
# redirects and whitelists are in test_proxy_routing.sh.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

for n in s1 s2 h1 h2 m; do
  spawn python3 "$UP" --name="$n" >"$D/$n.out" 2>&1
done
S1=$(upstream_port s1) && S2=$(upstream_port s2) && H1=$(upstream_port h1) &&
  H2=$(upstream_port h2) && M=$(upstream_port m) || { not_ok "upstreams start"; finish; }
read -r WEB <<<"$(free_ports 1)"

cat >"$D/doc.tmpl" <<'EOF'
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["web"],
  "entryPoints": { "web": { "address": "127.0.0.1:@WEB@" } },
  "frontends": {
    "wrr":     { "backend": "wrr",     "routes": { "r": { "rule": "Host:wrr.test" } } },
    "wrr0":    { "backend": "wrr0",    "routes": { "r": { "rule": "Host:wrr0.test" } } },
    "drr":     { "backend": "drr",     "routes": { "r": { "rule": "Host:drr.test" } } },
    "sticky":  { "backend": "sticky",  "routes": { "r": { "rule": "Host:sticky.test" } } },
    "stickyd": { "backend": "stickyd", "routes": { "r": { "rule": "Host:stickyd.test" } } },
    "mc":      { "backend": "mc",      "routes": { "r": { "rule": "HostRegexp:{n:mc[0-9]}.test" } } },
    "mcip":    { "backend": "mcip",    "routes": { "r": { "rule": "Host:mcip.test" } } },
    "hcport":  { "backend": "hcport",  "routes": { "r": { "rule": "Host:hcport.test" } } },
    "hc":      { "backend": "hc",      "routes": { "r": { "rule": "Host:hc.test" } } },
    "hcs":     { "backend": "hcs",     "routes": { "r": { "rule": "Host:hcs.test" } } },
    "hcfast":  { "backend": "hcfast",  "routes": { "r": { "rule": "Host:hcfast.test" } } },
    "hcslow":  { "backend": "hcslow",  "routes": { "r": { "rule": "Host:hcslow.test" } } }
  },
  "backends": {
    "wrr":  { "servers": { "a": { "url": "http://127.0.0.1:@S1@", "weight": 3 },
                           "b": { "url": "http://127.0.0.1:@S2@", "weight": 1 } } },
    "wrr0": { "servers": { "a": { "url": "http://127.0.0.1:@S1@", "weight": 0 },
                           "b": { "url": "http://127.0.0.1:@S2@", "weight": 1 } } },
    "drr":  { "servers": { "a": { "url": "http://127.0.0.1:@S1@" },
                           "b": { "url": "http://127.0.0.1:@S2@" } },
              "loadBalancer": { "method": "drr" } },
    "sticky": { "servers": { "a": { "url": "http://127.0.0.1:@S1@" },
                             "b": { "url": "http://127.0.0.1:@S2@" } },
                "loadBalancer": { "method": "wrr", "stickiness": { "cookieName": "stk" } } },
    "stickyd": { "servers": { "a": { "url": "http://127.0.0.1:@S1@" },
                              "b": { "url": "http://127.0.0.1:@S2@" } },
                 "loadBalancer": { "stickiness": { "secure": true, "httpOnly": true } } },
    "mc":   { "servers": { "a": { "url": "http://127.0.0.1:@M@" } },
              "maxConn": { "amount": 2, "extractorFunc": "request.host" } },
    "mcip": { "servers": { "a": { "url": "http://127.0.0.1:@M@" } },
              "maxConn": { "amount": 1, "extractorFunc": "client.ip" } },
    "hcport": { "servers": { "a": { "url": "http://127.0.0.1:@S2@" } },
                "healthCheck": { "path": "/_health", "port": @H1@, "interval": "200ms", "timeout": "1s" } },
    "hc":   { "servers": { "a": { "url": "http://127.0.0.1:@H1@" },
                           "b": { "url": "http://127.0.0.1:@H2@" } },
              "healthCheck": { "path": "/_health", "interval": "200ms", "timeout": "1s" } },
    "hcs":  { "servers": { "a": { "url": "http://127.0.0.1:@H1@" },
                           "b": { "url": "http://127.0.0.1:@H2@" } },
              "loadBalancer": { "stickiness": { "cookieName": "hcs" } },
              "healthCheck": { "path": "/_health", "interval": "200ms", "timeout": "1s" } },
    "hcfast": { "servers": { "a": { "url": "http://127.0.0.1:@S2@" } },
                "healthCheck": { "path": "/_delay/50", "interval": "200ms", "timeout": "2s" } },
    "hcslow": { "servers": { "a": { "url": "http://127.0.0.1:@S1@" } },
                "healthCheck": { "path": "/_delay/1500", "interval": "200ms", "timeout": "300ms" } }
  }
}
EOF
sed -e "s/@WEB@/$WEB/g; s/@S1@/$S1/g; s/@S2@/$S2/g; s/@H1@/$H1/g; s/@H2@/$H2/g; s/@M@/$M/g" \
  "$D/doc.tmpl" >"$D/doc.json"

ALOG="$D/access.log"
spawn "$T" start-data-node --standalone="$D/doc.json" --accesslog.filepath="$ALOG" >"$D/tee.out" 2>&1
TEE=$SPAWNED

# req HOST PATH [CURL ARGS...]: CODE, BODY; response headers in $D/hdrs (CRs stripped).
req() {
  local host=$1 path=$2; shift 2
  CODE=$(curl -s -m 10 -o "$D/body" -D "$D/hdrs.raw" -w '%{http_code}' -H "Host: $host" "$@" \
    "http://127.0.0.1:$WEB$path")
  tr -d '\r' <"$D/hdrs.raw" >"$D/hdrs"
  BODY=$(cat "$D/body")
}
hdr() { awk -v n="$1" 'tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}' "$D/hdrs"; }
# burst HOST N [CURL ARGS]: N requests on one keep-alive connection; the answering servers,
# one per line, in $D/servers, the statuses in $D/codes.
burst() {
  local host=$1 n=$2 i; shift 2
  local urls=()
  for i in $(seq "$n"); do urls+=("http://127.0.0.1:$WEB/b$i"); done
  curl -s -m 20 -H "Host: $host" -D "$D/bhdrs" -w '\n%{http_code}\n' "$@" "${urls[@]}" >"$D/bout"
  grep -E '^[0-9]{3}$' "$D/bout" >"$D/codes"
  grep -o '"server": "[^"]*"' "$D/bout" | sed 's/.*: "//; s/"$//' >"$D/servers"
}
count() { grep -cx "$1" "$D/servers"; }

ready=0
for _ in $(seq 100); do
  c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' -H 'Host: nothing.test' "http://127.0.0.1:$WEB/" 2>/dev/null)
  [ "$c" = 404 ] && { ready=1; break; }
  kill -0 "$TEE" 2>/dev/null || break
  sleep 0.1
done
check "standalone data node serves the document" [ "$ready" = 1 ]
[ "$ready" = 1 ] || { sed "s/^/# /" "$D/tee.out"; finish; }

# --- wrr / drr --------------------------------------------------------------------------
burst wrr.test 400
a=$(count s1); b=$(count s2)
check "wrr 3:1 over 400 requests: all answered 200" [ "$(grep -cx 200 "$D/codes")" = 400 ]
check "wrr 3:1 over 400 requests: s1 $a (300 +- 20), s2 $b (100 +- 20)" \
  bash -c '[ "$1" -ge 280 ] && [ "$1" -le 320 ] && [ "$2" -ge 80 ] && [ "$2" -le 120 ]' _ "$a" "$b"
for _ in $(seq 50); do
  [ "$(grep -c ' "wrr" ' "$ALOG" 2>/dev/null)" -ge 400 ] && break
  sleep 0.1
done
check "access log: one line per request (400 for frontend wrr)" [ "$(grep -c ' "wrr" ' "$ALOG")" = 400 ]
check "access log: 300 lines name s1's URL, 100 s2's (as counted by the upstreams)" \
  bash -c '[ "$(grep -c " \"wrr\" \"http://127.0.0.1:$1\" " "$3")" = "$4" ] && [ "$(grep -c " \"wrr\" \"http://127.0.0.1:$2\" " "$3")" = "$5" ]' \
  _ "$S1" "$S2" "$ALOG" "$a" "$b"
burst wrr0.test 100
a=$(count s1); b=$(count s2)
check "wrr weight 0 counts as 1: s1 $a, s2 $b (50 +- 10 each)" \
  bash -c '[ "$1" -ge 40 ] && [ "$1" -le 60 ] && [ "$(($1 + $2))" = 100 ]' _ "$a" "$b"
burst drr.test 400
a=$(count s1); b=$(count s2)
check "drr over 400 requests: all answered 200" [ "$(grep -cx 200 "$D/codes")" = 400 ]
check "drr over 400 requests: both servers used (s1 $a, s2 $b; each >= 40)" \
  bash -c '[ "$1" -ge 40 ] && [ "$2" -ge 40 ] && [ "$(($1 + $2))" = 400 ]' _ "$a" "$b"

# --- sticky cookies ---------------------------------------------------------------------
req sticky.test /first
sc=$(hdr Set-Cookie)
check "sticky: first response sets the cookie (stk=<server URL>; Path=/)" \
  bash -c '[[ "$1" =~ ^stk=http://127\.0\.0\.1:($2|$3)\;\ Path=/$ ]]' _ "$sc" "$S1" "$S2"
val=${sc#stk=}; val=${val%%;*}
want=s1; [ "$val" = "http://127.0.0.1:$S2" ] && want=s2
burst sticky.test 20 -H "Cookie: other=1; stk=$val"
check "sticky: 20 requests with the cookie all go to its server ($want)" [ "$(count "$want")" = 20 ]
check "sticky: no new cookie while the cookie is valid" hasnt "$(cat "$D/bhdrs")" "Set-Cookie"
other=s1; [ "$want" = s1 ] && other=s2
oval="http://127.0.0.1:$S1"; [ "$other" = s2 ] && oval="http://127.0.0.1:$S2"
burst sticky.test 10 -H "Cookie: stk=$oval"
check "sticky: a cookie naming the other server goes there" [ "$(count "$other")" = 10 ]
req sticky.test /unknown -H 'Cookie: stk=http://127.0.0.1:1'
sc=$(hdr Set-Cookie)
check "sticky: a cookie naming an unknown server is answered 200" [ "$CODE" = 200 ]
check "sticky: ... and gets a new cookie naming a real server" \
  bash -c '[[ "$1" =~ ^stk=http://127\.0\.0\.1:($2|$3)\; ]]' _ "$sc" "$S1" "$S2"
nval=${sc#stk=}; nval=${nval%%;*}
check "sticky: ... whose server answered" \
  bash -c 'printf "%s" "$1" | grep -q "\"server\": \"$2\""' _ "$BODY" "$([ "$nval" = "http://127.0.0.1:$S1" ] && echo s1 || echo s2)"
req sticky.test /_status/503
check "sticky: an error response also sets the cookie" \
  bash -c '[ "$1" = 503 ] && [[ "$2" =~ ^stk=http:// ]]' _ "$CODE" "$(hdr Set-Cookie)"
req stickyd.test /d
sc=$(hdr Set-Cookie)
check "sticky: default cookie name _ + 5 hex digits, Secure and HttpOnly" \
  bash -c '[[ "$1" =~ ^_[0-9a-f]{5}=http://127\.0\.0\.1:[0-9]+\;\ Path=/ ]] && [[ "$1" == *"; Secure"* ]] && [[ "$1" == *"; HttpOnly"* ]]' _ "$sc"

# --- maxConn ----------------------------------------------------------------------------
# Requests held 4 s by upstream m (which serves nothing else) fill a key's slots; m's own
# /_count (asked directly) tells when they are in flight, so no probe competes for a slot.
mark_m() { M0=$(curl -s -m 5 "http://127.0.0.1:$M/_count"); MK=1; }
# arrived N: waits (8 s) until m has received N requests since mark_m.
arrived() {
  local v deadline=$((SECONDS + 8))
  while [ "$SECONDS" -lt "$deadline" ]; do
    v=$(curl -s -m 5 "http://127.0.0.1:$M/_count")
    [ $((v - M0 - MK)) -ge "$1" ] && return 0
    MK=$((MK + 1))
    sleep 0.05
  done
  return 1
}
hold() { # hold HOST FILE [CURL ARGS]: a held request in the background, status to FILE
  local host=$1 out=$2; shift 2
  spawn curl -s -m 30 -o /dev/null -w '%{http_code}' -H "Host: $host" "$@" \
    "http://127.0.0.1:$WEB/_delay/4000" >"$out"
}
quick() { curl -s -m 10 -o /dev/null -w '%{http_code}' -H "Host: $1" "${@:2}" "http://127.0.0.1:$WEB/quick"; }

mark_m
hold mc1.test "$D/hold1"; P1=$SPAWNED
hold mc1.test "$D/hold2"; P2=$SPAWNED
check "maxConn: two held requests reach the upstream" arrived 2
c3=$(quick mc1.test); c4=$(quick mc2.test)
held=$(kill -0 "$P1" 2>/dev/null && kill -0 "$P2" 2>/dev/null && echo yes)
check "maxConn 2: a third concurrent request for the same Host gets 429 (got $c3)" \
  bash -c '[ "$1" = 429 ] && [ "$2" = yes ]' _ "$c3" "$held"
check "maxConn request.host: another Host is not limited (got $c4 while mc1 is full)" \
  bash -c '[ "$1" = 200 ] && [ "$2" = yes ]' _ "$c4" "$held"
wait "$P1" "$P2"
check "maxConn: the held requests complete 200" \
  bash -c '[ "$(cat "$1")" = 200 ] && [ "$(cat "$2")" = 200 ]' _ "$D/hold1" "$D/hold2"
check "maxConn: released, the same Host is served again" [ "$(quick mc1.test)" = 200 ]

# client.ip: one open request per client address; 127.0.0.2 is another client.
mark_m
hold mcip.test "$D/hold3"; P3=$SPAWNED
check "maxConn client.ip: a held request reaches the upstream" arrived 1
c2=$(quick mcip.test); c3=$(quick mcip.test --interface 127.0.0.2)
held=$(kill -0 "$P3" 2>/dev/null && echo yes)
check "maxConn client.ip 1: a second request from 127.0.0.1 gets 429 (got $c2)" \
  bash -c '[ "$1" = 429 ] && [ "$2" = yes ]' _ "$c2" "$held"
check "maxConn client.ip: a request from 127.0.0.2 is not limited (got $c3)" \
  bash -c '[ "$1" = 200 ] && [ "$2" = yes ]' _ "$c3" "$held"
wait "$P3"
check "maxConn client.ip: the held request completes 200" [ "$(cat "$D/hold3")" = 200 ]

# --- health checks ----------------------------------------------------------------------
burst hcport.test 3
check "health port: the server is in rotation while the checked port is healthy" \
  [ "$(grep -cx 200 "$D/codes")" = 3 ]
burst hc.test 20
check "health: both servers in rotation at first" \
  bash -c '[ "$1" -ge 5 ] && [ "$2" -ge 5 ]' _ "$(count h1)" "$(count h2)"
# until CMD...: poll (up to 6 s) until CMD succeeds.
until_ok() {
  local deadline=$((SECONDS + 6))
  while ! "$@"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}
all_from() { burst "$1" 10 && [ "$(count "$2")" = 10 ]; }
some_from() { burst "$1" 6 && [ "$(count "$2")" -ge 1 ]; }
all_code() { burst "$1" 5 && [ "$(grep -cx "$2" "$D/codes")" = 5 ]; }
ctl() { curl -s -m 5 -o /dev/null "http://127.0.0.1:$1/_control/$2"; }

ctl "$H2" down
check "health: h2 down: within a few intervals every request goes to h1" until_ok all_from hc.test h1
burst hc.test 20
check "health: h2 down: 20 more requests, all to h1, all 200" \
  bash -c '[ "$1" = 20 ] && [ "$2" = 20 ]' _ "$(count h1)" "$(grep -cx 200 "$D/codes")"
check "health: the change is logged with backend and URL" \
  grep -q "server out of rotation.*backend=hc url=http://127.0.0.1:$H2" "$D/tee.out"
# A reload (SIGHUP, same servers) carries the health state: h2 stays out, no resurrection.
napplied=$(grep -c 'routing document applied' "$D/tee.out")
kill -HUP "$TEE"
for _ in $(seq 50); do
  [ "$(grep -c 'routing document applied' "$D/tee.out")" -gt "$napplied" ] && break
  sleep 0.05
done
burst hc.test 10
check "health: right after a reload the down server is still out (h1 $(count h1)/10)" [ "$(count h1)" = 10 ]
req hcs.test /s -H "Cookie: hcs=http://127.0.0.1:$H2"
check "health + sticky: a cookie naming the down server picks h1 and sets a new cookie" \
  bash -c '[ "$1" = 200 ] && printf "%s" "$2" | grep -q "\"server\": \"h1\"" && [ "$3" = "hcs=http://127.0.0.1:$4; Path=/" ]' \
  _ "$CODE" "$BODY" "$(hdr Set-Cookie)" "$H1"
ctl "$H2" up
check "health: h2 up again: it returns to the rotation" until_ok some_from hc.test h2
ctl "$H1" down
ctl "$H2" down
check "health: all servers down: 503" until_ok all_code hc.test 503
check "health port: a server checked on another port (h1's) leaves with it (503)" \
  until_ok all_code hcport.test 503
ctl "$H1" up
ctl "$H2" up
check "health: servers up again: 200" until_ok all_code hc.test 200
check "health port: back with it (200)" until_ok all_code hcport.test 200
check "health timeout: a check slower than its timeout takes the server out (503)" \
  until_ok all_code hcslow.test 503
burst hcfast.test 5
check "health timeout: a check within its timeout keeps the server (200)" \
  [ "$(grep -cx 200 "$D/codes")" = 5 ]
check "the node is still running" kill -0 "$TEE"

# --- two workers (SO_REUSEPORT): every request answered and logged once; SIGTERM stops all ---
read -r WEB2 <<<"$(free_ports 1)"
sed "s/127.0.0.1:$WEB\"/127.0.0.1:$WEB2\"/" "$D/doc.json" >"$D/doc2.json"
spawn "$T" start-data-node --standalone="$D/doc2.json" --workers=2 --accesslog.filepath="$D/access2.log" \
  >"$D/tee2.out" 2>&1
TEE2=$SPAWNED
ready=0
for _ in $(seq 100); do
  c=$(curl -s -m 2 -o /dev/null -w '%{http_code}' -H 'Host: nothing.test' "http://127.0.0.1:$WEB2/" 2>/dev/null)
  [ "$c" = 404 ] && { ready=1; break; }
  sleep 0.1
done
check "two workers: serving" [ "$ready" = 1 ]
check "two workers: the master says so" grep -q 'workers=2' "$D/tee2.out"
WEB_SAVE=$WEB; WEB=$WEB2
burst wrr.test 200 -H 'Connection: close'
WEB=$WEB_SAVE
a=$(count s1); b=$(count s2)
check "two workers: 200 requests on 200 connections all answered 200" [ "$(grep -cx 200 "$D/codes")" = 200 ]
check "two workers: wrr 3:1 still holds (s1 $a, s2 $b)" \
  bash -c '[ "$1" -ge 130 ] && [ "$1" -le 170 ] && [ "$(($1 + $2))" = 200 ]' _ "$a" "$b"
for _ in $(seq 50); do
  [ "$(grep -c ' "wrr" ' "$D/access2.log" 2>/dev/null)" -ge 200 ] && break
  sleep 0.1
done
check "two workers: one access log line per request (200), none torn" \
  bash -c '[ "$(grep -c " \"wrr\" " "$1")" = 200 ] && ! grep -qvE "^127\.0\.0\.1 - .* [0-9]+ms\$" "$1"' _ "$D/access2.log"
# The request count is the node's (one counter shared by both workers), not each worker's:
# over the whole log (the 200 requests and the readiness probes before them) the counts are
# exactly 1..N, each once, whichever worker logged them.
sed -E 's/.*" ([0-9]+) "[^"]*" "[^"]*" [0-9]+ms$/\1/' "$D/access2.log" | sort -n >"$D/counts2"
nl2=$(wc -l <"$D/access2.log")
check "two workers: request counts are the node's: 1..$nl2, each once (dups: $(uniq -d "$D/counts2" | wc -l))" \
  bash -c '[ "$2" -ge 200 ] && seq 1 "$2" | cmp -s - "$1"' _ "$D/counts2" "$nl2"
check "two workers: the 200 requests on 200 connections carry 200 different counts" \
  bash -c '[ "$(grep " \"wrr\" " "$1" | sed -E "s/.*\" ([0-9]+) \"wrr\" .*/\1/" | sort -u | wc -l)" = 200 ]' _ "$D/access2.log"
kill -TERM "$TEE2"
rc=
for _ in $(seq 100); do
  kill -0 "$TEE2" 2>/dev/null || { wait "$TEE2"; rc=$?; break; }
  sleep 0.1
done
check "two workers: SIGTERM: the master exits 0 (rc=${rc:-running})" [ "$rc" = 0 ]
gone=0
for _ in $(seq 50); do
  curl -s -m 1 -o /dev/null "http://127.0.0.1:$WEB2/" || { gone=1; break; }
  sleep 0.1
done
check "two workers: SIGTERM: nobody listens any more" [ "$gone" = 1 ]

finish
