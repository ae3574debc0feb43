#!/usr/bin/env bash
# A cluster data node with several worker processes (--workers=2): the node's process is the
# master (it streams the routing document from the control node and serves /metrics); its two
# workers proxy, sharing the entry point ports. Checked: both workers apply each deployed
# document and both take connections; /metrics on the master counts every worker's requests;
# a refused document reaches neither; a worker killed with SIGKILL is started again and serves
# the current document; SIGUSR1 makes both log their counters; SIGTERM stops the master and
# every worker (checked by PID); restarted with no control node up, the workers serve the
# document kept on disk; rateLimit holds for the node, not per worker; bad --workers values
# are refused and --workers=auto takes the number of online CPUs.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
MET=127.0.0.1:$((BASE + 81))

spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=a >"$D/a.out" 2>&1
spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=b >"$D/b.out" 2>&1
UA=$(upstream_port a) || { not_ok "upstream a starts"; finish; }
UB=$(upstream_port b) || { not_ok "upstream b starts"; finish; }

# --workers: the values refused before anything starts, and auto.
run "$T" start-data-node --statedir="$D/x" --workers=0
check "--workers=0 is refused (exit 2)" [ "$RC" -eq 2 ]
check "... naming the flag and its range" has "$ERR" "--workers=0: a number of processes from 1 to 64, or auto"
run "$T" start-data-node --statedir="$D/x" --workers=many
check "--workers=many is refused (exit 2)" [ "$RC" -eq 2 ]
run "$T" start-data-node --statedir="$D/x" --workers=65
check "--workers=65 is refused (exit 2)" [ "$RC" -eq 2 ]
NCPU=$(getconf _NPROCESSORS_ONLN)
run "$T" start-data-node --statedir="$D/x" --workers=auto --print-limits
check "--workers=auto --print-limits: $NCPU worker(s), one per online CPU" \
  bash -c 'printf "%s" "$0" | grep -qE "per worker, $1 workers?\)"' "$OUT" "$NCPU"
check "... and nothing was started in the state directory" [ ! -e "$D/x/node.json" ]

spawn "$T" bootstrap --licensekey=K --status.downafter=2 --statedir="$D/s0" \
  --traefikeesocket="$D/s0.sock" --listen=127.0.0.1:$((BASE + 10)) \
  --advertise=127.0.0.1:$((BASE + 10)) --controlapi.listen=127.0.0.1:$((BASE + 30)) \
  --name=control-node-0 --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
C0=$SPAWNED
leads() { "$T" list-nodes --traefikeesocket="$D/s0.sock" 2>/dev/null | grep -q "(Current Leader)"; }
wait_for 20 leads || { not_ok "the bootstrap node leads"; tail -n 5 "$D/c0.log"; finish; }
export DATA_NODE_TOKEN
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)

start_data() { # the data node with two workers; $DN its PID
  spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --statedir="$D/d1" \
    --name=data-node-1 --workers=2 --metrics.listen="$MET" >>"$D/d1.log" 2>&1
  DN=$SPAWNED
}
start_data
workers() { pgrep -P "$DN" | sort; }
two_workers() { [ "$(workers | wc -l)" -eq 2 ]; }
check "the data node forks two workers" wait_for 10 two_workers
MEMRE="per_worker_mib=[0-9]+ workers=2 total_mib=[0-9]+"
mem_line() { grep -qE "proxy memory at most.*$MEMRE" "$D/d1.log"; }
check "it logs its worst-case memory at start, per worker and for both ($(grep -oE "$MEMRE" "$D/d1.log"))" mem_line
W0=$(workers | tr '\n' ' ')

toml() { # toml BACKEND_PORT: one frontend (Host a.test) to one server, one rate-limited frontend
  cat >"$D/routes.toml" <<EOF
[backends]
  [backends.app.servers.s1]
  url = "http://127.0.0.1:$1"
[frontends]
  [frontends.web]
  backend = "app"
    [frontends.web.routes.r1]
    rule = "Host:a.test"
  [frontends.rl]
  backend = "app"
    [frontends.rl.routes.r1]
    rule = "Host:rl.test"
    [frontends.rl.ratelimit]
    extractorfunc = "request.header.X-Key"
      [frontends.rl.ratelimit.rateset.r1]
      period = "10s"
      average = 1
      burst = 4
EOF
}
deploy() {
  run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
    --defaultentrypoints=http --file.filename="$D/routes.toml" --providersthrottleduration=0s
}
# applied N: N "routing document applied" lines from workers in the data node's log.
applied() { [ "$(grep -c 'routing document applied.*file=' "$D/d1.log")" -ge "$1" ]; }
# all_to NAME N: N new connections all answered by upstream NAME.
all_to() {
  local i n=0
  for i in $(seq "$2"); do
    curl -s --max-time 3 -H "Host: a.test" "http://$EP/x$i" | grep -q "\"server\": \"$1\"" && n=$((n + 1))
  done
  [ "$n" -eq "$2" ]
}

toml "$UA"
deploy
check "deploy exits 0" [ "$RC" -eq 0 ]
check "both workers apply the first document" wait_for 20 applied 2
serves_a() { curl -s --max-time 2 -H "Host: a.test" "http://$EP/" | grep -q '"server": "a"'; }
check "the data node serves it" wait_for 20 serves_a
check "40 new connections are all answered by a" all_to a 40

# Each worker took some of those connections: their SIGUSR1 counters.
stats_lines() { [ "$(grep -c 'proxy stats' "$D/d1.log")" -ge "$1" ]; }
S0=$(grep -c 'proxy stats' "$D/d1.log")
kill -USR1 "$DN"
check "SIGUSR1 to the master: both workers log their counters" wait_for 5 stats_lines $((S0 + 2))
ACC=$(grep 'proxy stats' "$D/d1.log" | tail -n 2 | sed -n 's/.* accepted=\([0-9]*\).*/\1/p' | tr '\n' ' ')
busy=0
for a in $ACC; do [ "$a" -gt 0 ] && busy=$((busy + 1)); done
check "both workers accepted connections (accepted: $ACC)" [ "$busy" -eq 2 ]

# /metrics on the master: the sum over the workers.
metric() { curl -s --max-time 2 "http://$MET/metrics" | grep -F "$1" | awk '{print $NF}' | head -n 1; }
EPK='traefik_entrypoint_requests_total{code="200",method="GET",protocol="http",entrypoint="http"}'
M0=$(metric "$EPK"); M0=${M0:-0}
all_to a 30 >/dev/null
M1=$(metric "$EPK"); M1=${M1:-0}
check "/metrics on the master counts the 30 requests of both workers ($M0 -> $M1)" [ $((M1 - M0)) -eq 30 ]
PING=$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$MET/ping")
check "/ping on the master: 200 (got $PING)" [ "$PING" = 200 ]

# rateLimit: burst 4 for one X-Key across 12 new connections, which land on both workers.
rl_codes() {
  local i
  for i in $(seq 12); do
    curl -s --max-time 3 -o /dev/null -w '%{http_code} ' -H "Host: rl.test" -H "X-Key: $1" "http://$EP/"
  done
}
CODES=$(rl_codes k1)
PASS=$(printf '%s' "$CODES" | tr ' ' '\n' | grep -c '^200$')
check "rateLimit burst 4 holds for the node: 4 of 12 new connections pass, over both workers (got $CODES)" \
  [ "$PASS" -eq 4 ]

# A new document: both workers swap to it.
toml "$UB"
deploy
check "a second deploy exits 0" [ "$RC" -eq 0 ]
check "both workers apply the second document" wait_for 20 applied 4
check "40 new connections are all answered by b" all_to b 40

# Deploys under load: the workers swap documents without failing a request.
LOADOUT="$D/load.out"
if command -v wrk >/dev/null; then
  wrk -t2 -c20 -d6s --timeout 10s -H "Host: a.test" "http://$EP/" >"$LOADOUT" 2>&1 &
else
  python3 "$(dirname "$0")/proxy_session.py" load --port="${EP##*:}" --conns=20 --seconds=6 >"$LOADOUT" 2>&1 &
fi
LPID=$!
REGRESS_PIDS+=("$LPID")
NDEP=0
while kill -0 "$LPID" 2>/dev/null; do
  if [ $((NDEP % 2)) = 0 ]; then toml "$UA"; else toml "$UB"; fi
  deploy
  NDEP=$((NDEP + 1))
  sleep 0.5
done
wait "$LPID"
if grep -q 'requests in' "$LOADOUT"; then
  LREQ=$(awk '/requests in/{print $1}' "$LOADOUT")
  LBAD=$(grep -E 'Non-2xx|Socket errors' "$LOADOUT" | tr '\n' ' ')
else
  LREQ=$(awk '/^requests /{print $2}' "$LOADOUT")
  LBAD=$(awk '/^requests /{if ($4 != 0 || $6 != 0) print "non2xx " $4 " errors " $6}' "$LOADOUT")
fi
load_ok() { [ "${LREQ:-0}" -ge 200 ] && [ -z "$LBAD" ] && [ "$NDEP" -ge 3 ]; }
check "$NDEP deploys during 6 s of load: $LREQ requests through both workers, failures: ${LBAD:-none}" load_ok
toml "$UB"
deploy
check "after the load, 20 new connections are all answered by b" wait_for 20 all_to b 20

# A worker killed outright is started again, on the current document.
VICTIM=$(workers | head -n 1)
WSET=" $(workers | tr '\n' ' ')"
N_BEFORE=$(grep -c 'routing document applied.*file=' "$D/d1.log")
kill -KILL "$VICTIM"
restarted() { two_workers && ! workers | grep -qx "$VICTIM"; }
check "a worker killed with SIGKILL is replaced (was $VICTIM)" wait_for 10 restarted
check "... the master logged it" file_has "$D/d1.log" "worker ended; starting another"
check "... the new worker applied the current document" wait_for 10 applied $((N_BEFORE + 1))
check "... and 40 new connections are all answered by b" all_to b 40
check "... its restart was 1 s after the death (a first death)" \
  file_has "$D/d1.log" "restart_in_ms=1000"
# The new worker (the one not there before) killed within 10 s of its start: the restart
# backs off (2 s).
VICTIM=""
for w in $(workers); do case $WSET in *" $w "*) ;; *) VICTIM=$w ;; esac; done
kill -KILL "$VICTIM"
check "a worker that dies again soon after its start is restarted 2 s later (back-off)" \
  wait_for 5 file_has "$D/d1.log" "restart_in_ms=2000"
check "... and it comes back" wait_for 10 restarted
check "... serving b" wait_for 10 all_to b 10

# A document the workers cannot apply yet (a second entry point on a port another program
# holds) is retried by each worker until it can: once the port is free it applies with no new
# deploy, and the new entry point serves.
EP2PORT=$((BASE + 82))
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(60)' "$EP2PORT" &
BLOCKER=$!
REGRESS_PIDS+=("$BLOCKER")
held() { (exec 3<>"/dev/tcp/127.0.0.1/$EP2PORT") 2>/dev/null; }
wait_for 10 held # python takes longer than a fixed pause to bind under load
N_RETRY=$(grep -c 'refused for now.*retrying' "$D/d1.log")
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --entryPoints="Name:alt Address:127.0.0.1:$EP2PORT" --defaultentrypoints=http,alt \
  --file.filename="$D/routes.toml" --providersthrottleduration=0s
retrying() { [ "$(grep -c 'refused for now.*retrying' "$D/d1.log")" -ge $((N_RETRY + 2)) ]; }
check "with the port held elsewhere, both workers refuse the document for now and retry" wait_for 10 retrying
check "... the running document still serves b" all_to b 10
kill "$BLOCKER"; wait "$BLOCKER" 2>/dev/null
alt_serves() { curl -s --max-time 2 -H "Host: a.test" "http://127.0.0.1:$EP2PORT/" | grep -q '"server": "b"'; }
check "once the port is free, the workers apply it on their own and the new entry point serves" \
  wait_for 15 alt_serves

# An invalid document never reaches the workers.
N_APPLIED=$(grep -c 'routing document applied.*file=' "$D/d1.log")
cat >"$D/routes.toml" <<EOF
[backends]
  [backends.app.servers.s1]
  url = "http://127.0.0.1:$UA"
[frontends]
  [frontends.web]
  backend = "app"
    [frontends.web.routes.r1]
    rule = "Bogus:a.test"
EOF
deploy
sleep 2
check "a document with a bad rule is not passed to the workers" \
  [ "$(grep -c 'routing document applied.*file=' "$D/d1.log")" -eq "$N_APPLIED" ]
check "... and they still route to b" all_to b 10

# SIGTERM: the master and both workers are gone.
WS=$(workers | tr '\n' ' ')
kill -TERM "$DN"
all_gone() { gone "$DN" && for w in $WS; do gone "$w" || return 1; done; }
check "SIGTERM stops the master and both workers ($DN $WS)" wait_for 15 all_gone
wait "$DN" 2>/dev/null
check "... the master exits 0" [ "$?" -eq 0 ]

# No control node: a restarted data node's workers serve the document kept on disk.
kill -TERM "$C0"
wait_for 10 gone "$C0"
: >"$D/d1.log"
start_data
check "restarted without a control node, two workers again" wait_for 10 two_workers
check "... they serve the kept document (b) at once" wait_for 10 all_to b 10
check "... the master says so" file_has "$D/d1.log" "the workers serve the routing document kept on disk"
kill -KILL "$DN"
wait "$DN" 2>/dev/null
orphans_gone() { for w in $(pgrep -f "statedir=$D/d1"); do [ "$w" = "$DN" ] || return 1; done; }
check "a master killed with SIGKILL takes its workers with it" wait_for 15 orphans_gone
finish
