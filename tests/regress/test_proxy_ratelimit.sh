#!/usr/bin/env bash
# Frontend rate limiting through the static binary (docs/internals/proxy-ratelimit.md):
# `traefikee start-data-node --standalone=FILE --workers=1` in front of proxy_upstream.py.
# client.ip with average 5 / 1 s / burst 5 (the sixth rapid request is 429 with X-Retry-In,
# Retry-After and oxy's body, and requests pass again after a second), request.header.X-Key
# (one bucket per value, one shared by requests without the header), request.host (one bucket
# per Host), buckets kept across a reload that keeps the frontend and reset when its rate set
# changes, a rate set Traefik v1 refuses (burst 0: 404 and a log line), a frontend without
# rateLimit untouched, the access log, and a second instance with --limit max_ratelimit_keys=4
# (the table full: logged with the setting's name, requests still served).
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

spawn python3 "$UP" --name=s1 >"$D/s1.out" 2>&1
S1=$(upstream_port s1) || { not_ok "upstream starts"; finish; }
read -r WEB WEB2 MET <<<"$(free_ports 3)"

# write_doc REV HOST_BURST: the routing document (HOST_BURST: burst of the "host" frontend).
write_doc() {
  cat >"$D/doc.json.tmp" <<EOF
{
  "version": 1, "revision": $1,
  "defaultEntryPoints": ["web"],
  "entryPoints": { "web": { "address": "127.0.0.1:$WEB" } },
  "frontends": {
    "ip":   { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/ip" } },
              "rateLimit": { "extractorFunc": "client.ip",
                             "rateSet": { "r1": { "period": "1s", "average": 5, "burst": 5 } } } },
    "hdr":  { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/hdr" } },
              "rateLimit": { "extractorFunc": "request.header.X-Key",
                             "rateSet": { "r1": { "period": "30s", "average": 1, "burst": 2 } } } },
    "host": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/host" } },
              "rateLimit": { "extractorFunc": "request.host",
                             "rateSet": { "r1": { "period": "30s", "average": 1, "burst": $2 },
                                          "r2": { "period": "1s", "average": 100, "burst": 100 } } } },
    "bad":  { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/bad" } },
              "rateLimit": { "extractorFunc": "client.ip",
                             "rateSet": { "r1": { "period": "1s", "average": 5 } } } },
    "open": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/open" } } }
  },
  "backends": { "a": { "servers": { "s1": { "url": "http://127.0.0.1:$S1" } } } }
}
EOF
  mv "$D/doc.json.tmp" "$D/doc.json"
}
write_doc 1 1

ALOG="$D/access.log"
spawn "$T" start-data-node --standalone="$D/doc.json" --workers=1 \
  --accesslog.filepath="$ALOG" --metrics.listen="127.0.0.1:$MET" >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 "http://127.0.0.1:$WEB/open" ||
  { not_ok "traefikee serves"; finish; }
applied() { [ "$(grep -c "routing document applied.*revision=$1\$" "$D/tee.out")" -ge 1 ]; }

# req PATH [CURL ARGS...]: CODE, BODY, headers in $D/hdrs.
req() {
  local path=$1; shift
  CODE=$(curl -s -m 10 -o "$D/body" -D "$D/hdrs.raw" -w '%{http_code}' "$@" \
    "http://127.0.0.1:$WEB$path")
  tr -d '\r' <"$D/hdrs.raw" >"$D/hdrs"
  BODY=$(cat "$D/body")
}
hdr() { awk -v n="$1" 'tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}' "$D/hdrs"; }

# burst N PATH [CURL ARGS...]: N requests on one keep-alive connection, as fast as curl goes;
# CODES: their statuses in order; the last response's headers in $D/hdrs, body in $D/last.
burst() {
  local n=$1 path=$2; shift 2
  local args=() i
  for i in $(seq $((n - 1))); do args+=(-o /dev/null "http://127.0.0.1:$WEB$path"); done
  args+=(-o "$D/last" "http://127.0.0.1:$WEB$path")
  CODES=$(curl -s -m 10 -D "$D/hdrs.all" -w '%{http_code} ' "$@" "${args[@]}")
  CODES=${CODES% }
  tr -d '\r' <"$D/hdrs.all" | awk '/^HTTP\//{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' \
    >"$D/hdrs"
}

# metric NAME: its value in /metrics (the sample line "NAME VALUE"), empty if absent.
metric() { curl -s -m 2 "http://127.0.0.1:$MET/metrics" | awk -v k="$1" 'index($0, k " ") == 1 { print $2 }'; }
RJ0=$(metric traefikee_ratelimit_rejected_total)
check "/metrics: traefikee_ratelimit_rejected_total starts at 0 (got '$RJ0')" test "$RJ0" = 0

# ---- client.ip, average 5 per second, burst 5 ---------------------------------------------
burst 6 /ip/x
check "client.ip: 5 rapid requests pass, the 6th is 429 (got: $CODES)" \
  test "$CODES" = "200 200 200 200 200 429"
RI=$(hdr X-Retry-In)
RIMS=$(printf '%s' "$RI" | sed -n 's/^\([0-9]*\)\(\.[0-9]*\)\{0,1\}ms$/\1/p')
check "429: X-Retry-In is a Go duration of at most 200ms (got '$RI')" \
  test -n "$RIMS" -a "${RIMS:-999}" -le 200 -a "${RIMS:-0}" -ge 100
check "429: Retry-After: 1 (got '$(hdr Retry-After)')" test "$(hdr Retry-After)" = 1
check "429: oxy's body 'max rate reached: retry-in $RI'" \
  test "$(cat "$D/last")" = "max rate reached: retry-in $RI"
check "429: Content-Length matches the body, no Location" \
  test "$(hdr Content-Length)" = "$(wc -c <"$D/last")" -a -z "$(hdr Location)"
check "429: the connection stays open (keep-alive; curl reused it)" \
  test "$(grep -c '^HTTP/' "$D/hdrs.all")" = 6 -a -z "$(hdr Connection)"
sleep 1.1
burst 6 /ip/y
check "client.ip: after a second the bucket is full again: 5 pass, the 6th is 429 ($CODES)" \
  test "$CODES" = "200 200 200 200 200 429"
sleep 0.25
req /ip/z
check "client.ip: 200 ms later one token is back" test "$CODE" = 200
RJ=$(metric traefikee_ratelimit_rejected_total)
check "/metrics: traefikee_ratelimit_rejected_total counts the two 429s (got '$RJ')" test "$RJ" = 2
kill -USR1 "$TEE"
wait_for 5 grep -q 'proxy feature stats.* ratelimited=2 ' "$D/tee.out"
check "SIGUSR1: the feature stats line says ratelimited=2" \
  grep -q 'proxy feature stats.* ratelimited=2 ' "$D/tee.out"

# ---- request.header.X-Key: one bucket per value ---------------------------------------------
burst 3 /hdr/a -H 'X-Key: alice'
check "header: alice 200 200 429 ($CODES)" test "$CODES" = "200 200 429"
burst 3 /hdr/b -H 'X-Key: bob'
check "header: bob has his own bucket: 200 200 429 ($CODES)" test "$CODES" = "200 200 429"
req /hdr/c -H 'x-key: alice'
check "header: the name is case-insensitive (x-key: alice is alice: 429)" test "$CODE" = 429
check "header: 30 s period: X-Retry-In in seconds (got '$(hdr X-Retry-In)'), Retry-After 30" \
  test "$(hdr Retry-After)" = 30 -a -n "$(hdr X-Retry-In | grep -E '^(29|30)(\.[0-9]+)?s$')"
burst 3 /hdr/d
check "header absent: oxy's empty key, one shared bucket: 200 200 429 ($CODES)" \
  test "$CODES" = "200 200 429"
req /hdr/e -H 'X-Key: carol'
check "header: a new value still passes" test "$CODE" = 200

# ---- request.host: one bucket per Host, two rate sets ----------------------------------------
req /host/x -H 'Host: a.test'
C1=$CODE
req /host/x -H 'Host: a.test'
check "host: a.test 200 then 429 ($C1 $CODE)" test "$C1" = 200 -a "$CODE" = 429
req /host/x -H 'Host: b.test'
check "host: b.test has its own bucket (200)" test "$CODE" = 200
req /host/x -H 'Host: a.test:80'
check "host: the port is part of the key (a.test:80 is another key: 200)" test "$CODE" = 200

# ---- reloads --------------------------------------------------------------------------------
write_doc 2 1
kill -HUP "$TEE"
wait_until 10 applied 2 || not_ok "reload to revision 2 applied"
req /host/x -H 'Host: a.test'
check "reload keeping the frontend and its rate set: a.test is still limited (429)" \
  test "$CODE" = 429
write_doc 3 2
kill -HUP "$TEE"
wait_until 10 applied 3 || not_ok "reload to revision 3 applied"
burst 3 /host/y -H 'Host: a.test'
check "reload changing the rate set (burst 2): a fresh full bucket: 200 200 429 ($CODES)" \
  test "$CODES" = "200 200 429"

# ---- a rate set Traefik v1 refuses, a frontend without rateLimit ------------------------------
req /bad/x
check "burst 0 (Traefik v1 skips the frontend): 404" test "$CODE" = 404
check "burst 0: warned at load, naming the frontend and rate set" \
  grep -q 'burst must be at least 1.*frontend="bad" rateset="r1" average=5 burst=0' "$D/tee.out"
check "burst 0: the 404 is logged too" \
  grep -q 'unusable rate set.*frontend="bad" rateset="r1"' "$D/tee.out"
burst 30 /open/x
check "no rateLimit: 30 rapid requests all 200" \
  test "$(echo "$CODES" | tr ' ' '\n' | sort | uniq -c | awk '{print $1, $2}')" = "30 200"

# ---- access log ------------------------------------------------------------------------------
check "access log: 429 lines name the frontend" \
  wait_for 5 grep -q '"GET /ip/x HTTP/1.1" 429 .*"ip"' "$ALOG"

# ---- a second instance: max_ratelimit_keys=4 -------------------------------------------------
sed -e "s/127.0.0.1:$WEB/127.0.0.1:$WEB2/" "$D/doc.json" >"$D/doc2.json"
spawn "$T" start-data-node --standalone="$D/doc2.json" --workers=1 \
  --limit max_ratelimit_keys=4 >"$D/tee2.out" 2>&1
wait_for 10 curl -s -o /dev/null -m 1 "http://127.0.0.1:$WEB2/open" ||
  { not_ok "second traefikee serves"; finish; }
codes=""
for i in $(seq 12); do
  codes="$codes $(curl -s -o /dev/null -m 5 -w '%{http_code}' -H "X-Key: k$i" \
    "http://127.0.0.1:$WEB2/hdr/x")"
done
check "max_ratelimit_keys=4: 12 keys all served (got:$codes)" \
  test "$codes" = "$(printf ' 200%.0s' $(seq 12))"
check "max_ratelimit_keys=4: the full table is logged with the setting's name" \
  grep -q 'rate limit table full.*setting=max_ratelimit_keys limit=4' "$D/tee2.out"
codes=""
for i in 1 2; do
  codes="$codes $(curl -s -o /dev/null -m 5 -w '%{http_code}' -H "X-Key: k12" \
    "http://127.0.0.1:$WEB2/hdr/x")"
done
check "max_ratelimit_keys=4: the newest key is still counted (k12: 200 then 429:$codes)" \
  test "$codes" = " 200 429"
run "$T" start-data-node --standalone="$D/doc2.json" --limit max_ratelimit_keys=0
check "max_ratelimit_keys=0 is refused at start (exit 2, named)" \
  test "$RC" = 2 -a -n "$(printf '%s' "$ERR" | grep max_ratelimit_keys)"
run "$T" start-data-node --standalone="$D/doc2.json" --print-limits
check "--print-limits shows the rate limit table (16384 x 16 bytes)" \
  has "$OUT$ERR" "rate limit buckets           262144 bytes"
check "the first instance is still running" kill -0 "$TEE"
finish
