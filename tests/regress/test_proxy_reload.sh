#!/usr/bin/env bash
# test_proxy_reload.sh — routing document reloads of `traefikee start-data-node --standalone`:
# keep-alive load while the document is rewritten and SIGHUP'd every ~200 ms (backends s1 <-> s2
# <-> both, a frontend and an entry point added and removed) with no failed request, with one and
# with two workers; connections, long requests and tunnels opened before a reload outlive it; entry
# points come and go; invalid documents and unbindable listeners change nothing.
# Upstreams: proxy_upstream.py; client sessions and the fallback load client: proxy_session.py.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$REGRESS_TMP
UPSTREAM="$HERE/proxy_upstream.py"
SESSION="$HERE/proxy_session.py"
DOC="$T/routing.json"
LOAD_SECONDS=6

# free_ports N: N distinct free loopback ports, one per line.
free_ports() {
  python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

declare -A UPORT
# start_upstreams NAME...: one proxy_upstream.py each, started together; ports in UPORT.
start_upstreams() {
  local n
  for n in "$@"; do spawn python3 "$UPSTREAM" --name="$n" >"$T/$n.out" 2>&1; done
  for n in "$@"; do
    wait_until 10 file_has "$T/$n.out" "PORT " || { not_ok "upstream $n starts"; finish; }
    UPORT[$n]=$(awk '/^PORT /{print $2; exit}' "$T/$n.out")
  done
}

# upstream_count NAME: requests NAME has parsed (asked directly, not through the proxy).
upstream_count() { curl -s --max-time 5 "http://127.0.0.1:${UPORT[$1]}/_count"; }

# write_doc REV "SERVERS" EXTRA_PORT SLOW [BUSY_PORT]: the routing document, written atomically.
# Entry point "web" on $PW always; "extra" on EXTRA_PORT when set (frontend "web" on both);
# frontend "slow" (PathPrefix:/_delay -> s3) when SLOW=1; entry point "busy" on BUSY_PORT.
write_doc() {
  local rev=$1 servers=$2 extra=$3 slow=$4 busy=${5:-} srv="" n eps fes bes feps
  for n in $servers; do srv+="${srv:+,}\"$n\":{\"url\":\"http://127.0.0.1:${UPORT[$n]}\"}"; done
  eps="\"web\":{\"address\":\"127.0.0.1:$PW\"}"
  feps='"web"'
  if [ -n "$extra" ]; then eps+=",\"extra\":{\"address\":\"127.0.0.1:$extra\"}"; feps+=',"extra"'; fi
  [ -n "$busy" ] && eps+=",\"busy\":{\"address\":\"127.0.0.1:$busy\"}"
  fes="\"web\":{\"entryPoints\":[$feps],\"backend\":\"web\",\"routes\":{\"r1\":{\"rule\":\"PathPrefix:/\"}}}"
  bes="\"web\":{\"servers\":{$srv}}"
  if [ "$slow" = 1 ]; then
    fes+=",\"slow\":{\"entryPoints\":[\"web\"],\"backend\":\"slow\",\"routes\":{\"r1\":{\"rule\":\"PathPrefix:/_delay\"}}}"
    bes+=",\"slow\":{\"servers\":{\"s3\":{\"url\":\"http://127.0.0.1:${UPORT[s3]}\"}}}"
  fi
  printf '{"version":1,"revision":%s,"defaultEntryPoints":["web"],"entryPoints":{%s},"frontends":{%s},"backends":{%s}}\n' \
    "$rev" "$eps" "$fes" "$bes" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
}

log_count() { grep -cF -- "$1" "$T/proxy.err" 2>/dev/null; }
# applied REV N: N workers logged the document of revision REV as applied.
applied() { [ "$(grep -c "routing document applied.*revision=$1\$" "$T/proxy.err")" -ge "$2" ]; }
refused_over() { [ "$(log_count "routing document refused")" -gt "$1" ]; }

# listen_inodes PORT: the inodes of the sockets listening on 127.0.0.1:PORT (one per worker).
listen_inodes() {
  awk -v p="$(printf '0100007F:%04X' "$1")" '$2 == p && $4 == "0A" {print $10}' /proc/net/tcp | sort | paste -sd' '
}

# reload REV: SIGHUP, then wait for every worker to apply REV.
REV=1
reload() {
  kill -HUP "$PX"
  wait_until 10 applied "$REV" "$WORKERS"
}

# upstream_of PORT [PATH]: the X-Upstream header of a fresh request, "-" when none, or the status.
upstream_of() {
  local h
  h=$(curl -s -D - -o /dev/null --max-time 5 "http://127.0.0.1:$1${2:-/}") || { echo "fail"; return; }
  local st up
  st=$(printf '%s' "$h" | awk 'NR==1{print $2}')
  up=$(printf '%s' "$h" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-upstream"{print $2}')
  if [ "$st" = 200 ]; then echo "${up:--}"; else echo "status-$st"; fi
}

start_proxy() {
  WORKERS=$1
  : >"$T/proxy.err"
  spawn "$BIN/traefikee" start-data-node --standalone="$DOC" --workers="$WORKERS" \
    >"$T/proxy.out" 2>"$T/proxy.err"
  PX=$SPAWNED
  if wait_until 10 applied "$REV" "$WORKERS" && wait_until 10 test "$(upstream_of "$PW")" != fail; then
    ok "workers=$WORKERS: the proxy serves the first document"
  else
    not_ok "workers=$WORKERS: the proxy serves the first document"
    sed 's/^/# /' "$T/proxy.err" | grep -v '^#   ' | tail -20
    finish
  fi
}

stop_proxy() {
  kill -TERM "$PX" 2>/dev/null
  wait_until 10 sh -c "! kill -0 $PX 2>/dev/null"
  wait "$PX" 2>/dev/null
}

# load_phase LABEL: the load with reloads every ~200 ms, a keep-alive connection and a tunnel
# held across them, then checks.
load_phase() {
  local label=$1 i servers extra slow c1 c2 d1 d2 lpid refused0 reloads=0 fails=0
  rm -f "$T/go"
  python3 "$SESSION" hold --port="$PW" --go="$T/go" >"$T/hold.out" 2>&1 &
  local hold=$!
  REGRESS_PIDS+=("$hold")
  python3 "$SESSION" ws --port="$PW" --go="$T/go" >"$T/ws.out" 2>&1 &
  local ws=$!
  REGRESS_PIDS+=("$ws")
  wait_until 10 file_has "$T/hold.out" ready
  wait_until 10 file_has "$T/ws.out" ready
  c1=$(upstream_count s1); c2=$(upstream_count s2)
  local inodes0
  inodes0=$(listen_inodes "$PW")
  refused0=$(log_count "routing document refused")
  if command -v wrk >/dev/null; then
    wrk -t2 -c20 -d"${LOAD_SECONDS}s" --timeout 10s "http://127.0.0.1:$PW/" >"$T/load.out" 2>&1 &
  else
    python3 "$SESSION" load --port="$PW" --conns=20 --seconds="$LOAD_SECONDS" >"$T/load.out" 2>&1 &
  fi
  lpid=$!
  REGRESS_PIDS+=("$lpid")
  i=0
  while kill -0 "$lpid" 2>/dev/null; do
    i=$((i + 1))
    case $((i % 3)) in 0) servers="s1" ;; 1) servers="s2" ;; 2) servers="s1 s2" ;; esac
    extra=""; [ $((i % 2)) = 1 ] && extra=$PE
    slow=$(((i / 2) % 2))
    REV=$((REV + 1))
    write_doc "$REV" "$servers" "$extra" "$slow"
    kill -HUP "$PX"
    reloads=$((reloads + 1))
    sleep 0.2
  done
  wait "$lpid"
  # The last document: s2 only, no extra entry point.
  REV=$((REV + 1))
  write_doc "$REV" "s2" "" 0
  if reload; then
    ok "$label: $reloads reloads during the load, then the last one applied by every worker"
  else
    not_ok "$label: $reloads reloads during the load, then the last one applied by every worker"
  fi
  local inodes1
  inodes1=$(listen_inodes "$PW")
  check "$label: the unchanged entry point's listening sockets are the same ones after the reloads ($inodes1)" \
    test -n "$inodes0" -a "$inodes0" = "$inodes1" -a "$(echo "$inodes1" | wc -w)" = "$WORKERS"
  local req non2xx sockerr
  if grep -q 'requests in' "$T/load.out"; then
    req=$(awk '/requests in/{print $1}' "$T/load.out")
    non2xx=$(awk -F': *' '/Non-2xx/{print $2}' "$T/load.out")
    sockerr=$(sed -n 's/.*Socket errors: //p' "$T/load.out")
  else
    req=$(awk '/^requests /{print $2}' "$T/load.out")
    non2xx=$(awk '/^requests /{print $4}' "$T/load.out")
    sockerr=$(awk '/^requests /{if ($6 != 0) print "errors " $6}' "$T/load.out")
    [ "$non2xx" = 0 ] && non2xx=""
  fi
  if [ "${req:-0}" -ge 200 ] && [ -z "$non2xx" ] && [ -z "$sockerr" ]; then
    ok "$label: $req keep-alive requests under reloads, no socket error, no non-2xx"
  else
    not_ok "$label: requests=${req:-?} non2xx=${non2xx:-0} socket errors: ${sockerr:-none}"
    sed 's/^/# /' "$T/load.out"
  fi
  if [ "$(log_count "routing document refused")" = "$refused0" ]; then
    ok "$label: no document refused during the load"
  else
    not_ok "$label: no document refused during the load"
    grep refused "$T/proxy.err" | tail -3 | sed 's/^/# /'
  fi
  d1=$(($(upstream_count s1) - c1)); d2=$(($(upstream_count s2) - c2))
  check "$label: traffic reached both backends as they alternated (s1 +$d1, s2 +$d2)" \
    test "$d1" -ge 20 -a "$d2" -ge 20
  # Every worker routes new connections on the last document (s2 only).
  for i in $(seq 1 20); do
    [ "$(upstream_of "$PW")" = s2 ] || fails=$((fails + 1))
  done
  check "$label: 20 new connections all go to the last document's backend (s2)" test "$fails" = 0
  : >"$T/go"
  wait "$hold"
  if grep -q '^req 2 200' "$T/hold.out"; then
    ok "$label: a keep-alive connection opened before the reloads serves a request after them"
  else
    not_ok "$label: a keep-alive connection opened before the reloads serves a request after them"
    sed 's/^/# /' "$T/hold.out"
  fi
  wait "$ws"
  if grep -q '^echo 2 ok' "$T/ws.out"; then
    ok "$label: a WebSocket tunnel opened before the reloads still echoes after them"
  else
    not_ok "$label: a WebSocket tunnel opened before the reloads still echoes after them"
    sed 's/^/# /' "$T/ws.out"
  fi
}

start_upstreams s1 s2 s3
read -r PW PE PB PM < <(free_ports 4 | tr '\n' ' ')

# ---- one worker
write_doc "$REV" "s1" "" 1
start_proxy 1

# A long request whose frontend a reload removes completes.
c3=$(upstream_count s3)
curl -s --max-time 20 -o "$T/long.body" -w '%{http_code}' "http://127.0.0.1:$PW/_delay/2000" \
  >"$T/long.code" 2>/dev/null &
LONG=$!
REGRESS_PIDS+=("$LONG")
s3_has_long() { [ "$(upstream_count s3)" -ge $((c3 + 2)) ]; }
wait_until 10 s3_has_long
REV=$((REV + 1))
write_doc "$REV" "s1" "" 0
reload
check "a reload removing frontend slow routes /_delay to web (s1) at once" \
  test "$(upstream_of "$PW" /_delay/1)" = s1
wait "$LONG"
if [ "$(cat "$T/long.code")" = 200 ] && grep -q '"server": "s3"' "$T/long.body"; then
  ok "a /_delay/2000 request started before that reload completes 200 from s3"
else
  not_ok "a /_delay/2000 request started before that reload completes 200 from s3 (code $(cat "$T/long.code"))"
fi

# Entry points come and go.
REV=$((REV + 1))
write_doc "$REV" "s1" "$PE" 0
reload
check "a new entry point listens after the reload" test "$(upstream_of "$PE")" = s1
REV=$((REV + 1))
write_doc "$REV" "s1" "" 0
reload
extra_closed() { ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PE/"; }
check "a removed entry point stops listening" wait_until 5 extra_closed
check "the unchanged entry point kept serving" test "$(upstream_of "$PW")" = s1
# An entry point whose address changes moves: the old port closes, the new one listens.
REV=$((REV + 1))
write_doc "$REV" "s1" "$PE" 0
reload
REV=$((REV + 1))
write_doc "$REV" "s1" "$PM" 0
reload
check "an entry point moved to another port listens there" test "$(upstream_of "$PM")" = s1
check "... and its old port stops listening" wait_until 5 extra_closed

# Invalid documents are refused with the key named; the running document stays.
REV=$((REV + 1))
write_doc "$REV" "s1" "$PE" 0
reload
GOOD=$(cat "$DOC")
try_bad() {
  local desc=$1 needle=$2 n
  n=$(log_count "routing document refused")
  kill -HUP "$PX"
  if wait_until 10 refused_over "$n" && grep "routing document refused" "$T/proxy.err" | tail -1 | grep -qF -- "$needle"; then
    ok "$desc is refused with a log line naming $needle"
  else
    not_ok "$desc is refused with a log line naming $needle"
    grep "routing document refused" "$T/proxy.err" | tail -1 | sed 's/^/# /'
  fi
  if [ "$(upstream_of "$PW")" = s1 ] && [ "$(upstream_of "$PE")" = s1 ]; then
    ok "after $desc, the running document still serves (s1 on both entry points)"
  else
    not_ok "after $desc, the running document still serves (s1 on both entry points)"
  fi
}
printf '%s' "${GOOD/\"s1\":/\"s2\":}" | sed 's/"frontends":{/"frontends":{,/' >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
try_bad "bad JSON" "malformed JSON"
write_doc $((REV + 1)) "s2" "$PE" 0
sed 's/"backend":"web"/"backend":"nope"/' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
try_bad "an unknown backend" "frontends.web.backend"
write_doc $((REV + 1)) "s2" "$PE" 0
sed 's/PathPrefix:\//Hots:x.test/' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
try_bad "a bad rule" "frontends.web.routes.r1.rule"

# A listener that cannot bind (port in use) changes nothing: the extra entry point the bad
# document drops stays open and the backend stays s1.
spawn python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
print("BOUND", flush=True); time.sleep(300)' "$PB" >"$T/busy.out" 2>&1
if wait_until 10 file_has "$T/busy.out" BOUND; then
  write_doc $((REV + 1)) "s2" "" 0 "$PB"
  n=$(log_count "routing document refused")
  kill -HUP "$PX"
  if wait_until 10 refused_over "$n" &&
    grep "routing document refused" "$T/proxy.err" | tail -1 | grep -qF "entryPoints.busy"; then
    ok "a document whose entry point cannot bind its port is refused, naming entryPoints.busy"
  else
    not_ok "a document whose entry point cannot bind its port is refused, naming entryPoints.busy"
    grep "routing document refused" "$T/proxy.err" | tail -1 | sed 's/^/# /'
  fi
  check "after the bind failure, the running document still serves (s1 on both entry points)" \
    test "$(upstream_of "$PW")" = s1 -a "$(upstream_of "$PE")" = s1
else
  not_ok "a helper holds port $PB"
fi

# Reloads under load, one worker.
load_phase "workers=1"
stop_proxy

# ---- two workers: SIGHUP to the master reaches both.
REV=$((REV + 1))
write_doc "$REV" "s1" "" 0
start_proxy 2
n=$(log_count "routing document refused")
write_doc $((REV + 1)) "s2" "" 0
sed 's/PathPrefix:\//Hots:x.test/' "$DOC" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
kill -HUP "$PX"
check "workers=2: a bad rule is refused by both workers" wait_until 10 refused_over $((n + 1))
fails=0
for i in $(seq 1 10); do [ "$(upstream_of "$PW")" = s1 ] || fails=$((fails + 1)); done
check "workers=2: after it, 10 new connections all still go to s1" test "$fails" = 0
REV=$((REV + 1))
write_doc "$REV" "s1" "" 0
reload
load_phase "workers=2"
stop_proxy

# ---- tunnels hold no routing table: six WebSocket tunnels opened across six reloads (one
# tunnel per table, max_tables 4), then one more reload is applied and every tunnel still echoes.
REV=$((REV + 1))
write_doc "$REV" "s1" "" 0
start_proxy 1
rm -f "$T/go_ws"
refused0=$(log_count "routing document refused")
WSPIDS=()
for k in 1 2 3 4 5 6; do
  python3 "$SESSION" ws --port="$PW" --go="$T/go_ws" >"$T/ws$k.out" 2>&1 &
  WSPIDS+=("$!")
  REGRESS_PIDS+=("$!")
  wait_until 10 file_has "$T/ws$k.out" ready
  REV=$((REV + 1))
  if [ $((k % 2)) = 1 ]; then write_doc "$REV" "s2" "" 0; else write_doc "$REV" "s1" "" 0; fi
  reload || not_ok "tunnels: reload $k with $k tunnels open is applied"
done
REV=$((REV + 1))
write_doc "$REV" "s1 s2" "" 0
if reload; then
  ok "with 6 tunnels opened across 6 reloads (max_tables 4), one more reload is applied"
else
  not_ok "with 6 tunnels opened across 6 reloads (max_tables 4), one more reload is applied"
  grep "routing document refused" "$T/proxy.err" | tail -2 | sed 's/^/# /'
fi
check "... no document was refused (routing tables still in use)" \
  test "$(log_count "routing document refused")" = "$refused0"
u=$(upstream_of "$PW")
check "... and new connections route on it ($u)" test "$u" = s1 -o "$u" = s2
: >"$T/go_ws"
for p in "${WSPIDS[@]}"; do wait "$p"; done
n=$(cat "$T"/ws[1-6].out | grep -c '^echo 2 ok')
check "all 6 tunnels still echo after the reloads ($n of 6)" test "$n" = 6
stop_proxy
finish
