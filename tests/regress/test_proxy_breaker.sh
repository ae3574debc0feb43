#!/usr/bin/env bash
# Circuit breakers through the static binary (docs/internals/proxy-breaker.md):
# `traefikee start-data-node --standalone=FILE --workers=1` with four backends behind python
# upstreams (tests/regress/proxy_upstream.py):
#   codes  ResponseCodeRatio(500, 600, 0, 600) > 0.5   its own upstream (counted)
#   dead   NetworkErrorRatio() > 0.5                    a server nobody listens on (502)
#   slow   LatencyAtQuantileMS(50.0) > 100              /_delay/250 answers
#   plain  no breaker, same upstream as slow
# 500s trip `codes`: 503 without reaching the upstream for the 10 s fallback, then the
# recovery ramp (a growing share reaches the upstream) and Standby after 10 s more; 502s trip
# `dead`, slow answers trip `slow`, `plain` is never affected; an invalid expression is refused
# at start with the key in the message. About 25 s.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

spawn python3 "$UP" --name=s1 >"$D/s1.out" 2>&1
spawn python3 "$UP" --name=s2 >"$D/s2.out" 2>&1
S1=$(upstream_port s1) || { not_ok "upstream s1 starts"; finish; }
S2=$(upstream_port s2) || { not_ok "upstream s2 starts"; finish; }
read -r WEB DEAD MET <<<"$(free_ports 3)" # DEAD: bound and released, nobody listens

cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["web"],
  "entryPoints": { "web": { "address": "127.0.0.1:$WEB" } },
  "frontends": {
    "codes": { "backend": "codes", "routes": { "r": { "rule": "Host:codes" } } },
    "dead":  { "backend": "dead",  "routes": { "r": { "rule": "Host:dead" } } },
    "slow":  { "backend": "slow",  "routes": { "r": { "rule": "Host:slow" } } },
    "plain": { "backend": "plain", "routes": { "r": { "rule": "Host:plain" } } }
  },
  "backends": {
    "codes": { "servers": { "s": { "url": "http://127.0.0.1:$S1" } },
               "circuitBreaker": { "expression": "ResponseCodeRatio(500, 600, 0, 600) > 0.5" } },
    "dead":  { "servers": { "s": { "url": "http://127.0.0.1:$DEAD" } },
               "circuitBreaker": { "expression": "NetworkErrorRatio() > 0.5" } },
    "slow":  { "servers": { "s": { "url": "http://127.0.0.1:$S2" } },
               "circuitBreaker": { "expression": "LatencyAtQuantileMS(50.0) > 100" } },
    "plain": { "servers": { "s": { "url": "http://127.0.0.1:$S2" } } }
  }
}
EOF

spawn "$T" start-data-node --standalone="$D/doc.json" --workers=1 \
  --metrics.listen="127.0.0.1:$MET" >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 -H "Host: plain" "http://127.0.0.1:$WEB/" ||
  { not_ok "proxy starts"; cat "$D/tee.out"; finish; }

# req HOST PATH: CODE and BODY of one request through the proxy.
req() {
  CODE=$(curl -s -m 10 -o "$D/body" -w '%{http_code}' -H "Host: $1" "http://127.0.0.1:$WEB$2")
  BODY=$(cat "$D/body")
}
# count PORT: requests the upstream has parsed (asked directly).
count() { curl -s -m 5 "http://127.0.0.1:$1/_count"; }
# trips BACKEND: traefikee_breaker_trips_total{backend="BACKEND"} in /metrics, empty if absent.
trips() {
  curl -s -m 2 "http://127.0.0.1:$MET/metrics" |
    awk -v k="traefikee_breaker_trips_total{backend=\"$1\"}" 'index($0, k " ") == 1 { print $2 }'
}
check "/metrics: a breaker's trip counter exists from the load, at 0 (codes '$(trips codes)', dead '$(trips dead)')" \
  [ "$(trips codes)" = 0 -a "$(trips dead)" = 0 -a "$(trips slow)" = 0 ]
check "/metrics: no trip counter for a backend without breaker" [ -z "$(trips plain)" ]

# ---- codes: 500s trip it -------------------------------------------------------------------
req codes /
check "codes: a request passes while Standby (200 from the upstream)" [ "$CODE" = 200 ]
codes_seen=""
tripped=0
for _ in $(seq 60); do
  req codes /_status/500
  codes_seen="$codes_seen $CODE"
  [ "$CODE" = 503 ] && { tripped=1; TRIP_AT=$(date +%s.%N); break; }
  sleep 0.02
done
check "codes: 500s are relayed while Standby" has "$codes_seen" " 500"
check "codes: the breaker trips on ResponseCodeRatio(500, 600, 0, 600) > 0.5 (503)" [ "$tripped" = 1 ]
check "codes: the fallback answer is Traefik's 503 text" has "$BODY" "Service Unavailable"
wait_for 5 file_has "$D/tee.out" "circuit breaker tripped"
check "codes: the trip is logged naming the backend" \
  grep -q 'circuit breaker tripped.*backend=codes' "$D/tee.out"
check "/metrics: traefikee_breaker_trips_total{backend=\"codes\"} is 1 (got '$(trips codes)')" \
  [ "$(trips codes)" = 1 ]

# From the trip on, a client records (time since the first 503, status) until 21.5 s after it
# in the background: Tripped (10 s), Recovering (10 s), Standby. The trip itself came at most
# one request (~50 ms) before that 503. Upstream hits are counted around it.
before=$(count "$S1")
cat >"$D/mon.py" <<'EOF'
import http.client, sys, time
port, t0, dur = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
conn = None
while True:
    t = time.time() - t0
    if t > dur:
        break
    try:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/", headers={"Host": "codes"})
        r = conn.getresponse()
        r.read()
        print("%.3f %d" % (t, r.status), flush=True)
        if r.getheader("Connection", "").lower() == "close":
            conn.close(); conn = None
    except Exception as e:
        print("%.3f ERR %s" % (t, e), flush=True)
        conn = None
    time.sleep(0.01)
EOF
spawn python3 "$D/mon.py" "$WEB" "${TRIP_AT:-0}" 21.5 >"$D/mon.out" 2>&1
MON=$SPAWNED

# ---- meanwhile: plain, dead, slow --------------------------------------------------------
req plain /
check "plain: a backend without breaker is not affected (200)" [ "$CODE" = 200 ]

dead_seen=""
for _ in $(seq 60); do
  req dead /
  dead_seen="$dead_seen $CODE"
  [ "$CODE" = 503 ] && break
  sleep 0.02
done
check "dead: refused connections answer 502 while Standby" has "$dead_seen" " 502"
check "dead: the breaker trips on NetworkErrorRatio() > 0.5 (503)" [ "$CODE" = 503 ]
req dead /
check "dead: still 503 (Tripped)" [ "$CODE" = 503 ]

s2_before=$(count "$S2")
req slow /_delay/250
check "slow: a 250 ms answer passes while Standby" [ "$CODE" = 200 ]
sleep 0.15 # past the 100 ms check period
slow_seen=""
for _ in $(seq 10); do
  req slow /_delay/250
  slow_seen="$slow_seen $CODE"
  [ "$CODE" = 503 ] && break
done
check "slow: the breaker trips on LatencyAtQuantileMS(50.0) > 100 (503)" [ "$CODE" = 503 ]
s2_after=$(count "$S2")
# s2 saw the first request, the slow ones before the trip, and count's own requests (1 each)
n_slow_200=$(printf '%s\n' $slow_seen | grep -c '^200$')
check "slow: the 503 did not reach the upstream" [ "$((s2_after - s2_before))" -eq "$((2 + n_slow_200))" ]
req plain /
check "plain: still 200 with the same server as the tripped slow backend" [ "$CODE" = 200 ]
check "/metrics: one trip each for codes, dead and slow ($(trips codes) $(trips dead) $(trips slow))" \
  [ "$(trips codes)" = 1 -a "$(trips dead)" = 1 -a "$(trips slow)" = 1 ]
kill -USR1 "$TEE"
wait_for 5 grep -q 'proxy feature stats.* breaker_trips=3 ' "$D/tee.out"
check "SIGUSR1: the feature stats line says breaker_trips=3 and 2 or 3 tripped now" \
  grep -Eq 'proxy feature stats.* breaker_trips=3 breakers_tripped=[23] ' "$D/tee.out"

# ---- an invalid expression is refused at start -----------------------------------------------
sed -e 's/"NetworkErrorRatio() > 0.5"/"NetworkErrorRatio() > 1"/' \
    -e "s/127.0.0.1:$WEB/127.0.0.1:$DEAD/" "$D/doc.json" >"$D/bad.json"
run timeout 10 "$T" start-data-node --standalone="$D/bad.json" --workers=1
check "invalid expression: start fails (status 1)" [ "$RC" = 1 ]
check "invalid expression: the message names the key" \
  has "$OUT$ERR" "backends.dead.circuitBreaker.expression: NetworkErrorRatio() is a ratio: compare it with a float, as 1.0"
sed -e 's/"LatencyAtQuantileMS(50.0) > 100"/"LatencyAtQuantileMS(50.0) GT 100"/' \
    -e "s/127.0.0.1:$WEB/127.0.0.1:$DEAD/" "$D/doc.json" >"$D/bad2.json"
run timeout 10 "$T" start-data-node --standalone="$D/bad2.json" --workers=1
check "invalid expression: a word operator is refused with a hint" \
  has "$OUT$ERR" 'backends.slow.circuitBreaker.expression: unknown word "GT"'

# ---- codes: fallback, recovery, standby (the monitor) -------------------------------------
wait "$MON" 2>/dev/null
after=$(count "$S1")
awk_share() { # awk_share FROM TO: "<n200> <n>" of the monitor's requests in [FROM, TO) s
  awk -v a="$1" -v b="$2" '$1 >= a && $1 < b { n++; if ($2 == 200) ok++ } END { printf "%d %d", ok, n }' "$D/mon.out"
}
read -r f_ok f_n <<<"$(awk_share 0 9.7)"
read -r r1_ok r1_n <<<"$(awk_share 10.2 12.2)"
read -r r2_ok r2_n <<<"$(awk_share 17.5 19.7)"
read -r s_ok s_n <<<"$(awk_share 20.4 30)"
total_ok=$(awk '$2 == 200 { n++ } END { print n + 0 }' "$D/mon.out")
errs=$(grep -c ERR "$D/mon.out")
echo "# monitor: fallback $f_ok/$f_n, early recovery $r1_ok/$r1_n, late recovery $r2_ok/$r2_n, standby $s_ok/$s_n, errors $errs"
check "codes: Tripped for 10 s: every request 503 (monitor saw $f_n)" \
  [ "$f_ok" -eq 0 -a "$f_n" -gt 100 ]
check "codes: early Recovering lets few through ($r1_ok of $r1_n)" \
  [ "$r1_ok" -ge 1 -a "$((r1_ok * 100))" -lt "$((r1_n * 35))" ]
check "codes: late Recovering lets most through ($r2_ok of $r2_n)" \
  [ "$((r2_ok * 100))" -gt "$((r2_n * 60))" -a "$r2_ok" -lt "$r2_n" ]
check "codes: Standby after 20 s: every request passes ($s_ok of $s_n)" \
  [ "$s_n" -gt 20 -a "$s_ok" -eq "$s_n" ]
check "codes: only the requests let through reached the upstream ($total_ok)" \
  [ "$((after - before - 1))" -eq "$total_ok" ]
check "codes: no client errors" [ "$errs" -eq 0 ]
check "codes: recovering and standby are logged" \
  grep -q 'circuit breaker back to standby.*backend=codes' "$D/tee.out"
check "/metrics: recovery and standby counted no trip (codes still 1, got '$(trips codes)')" \
  [ "$(trips codes)" = 1 ]
check "the data node is still running" kill -0 "$TEE"
finish
