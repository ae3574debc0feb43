#!/usr/bin/env bash
# Health checks are the data node's with several workers (docs/internals/proxy-engine.md,
# "Health checks with several workers"): `traefikee start-data-node --standalone=FILE
# --workers=2` in front of two proxy_upstream.py servers, health check every 250 ms. Only the
# worker in slot 0 probes: an upstream gets one prober's worth of checks, not two. When h2
# fails its health path, new connections spread by the kernel over BOTH workers are all
# answered by h1 (a worker that went on using h2 would show h2 answers: h2 still serves every
# other path); when it is healthy again both workers use it again. A reload (SIGHUP) with h2
# down keeps it out in both workers; the probing worker killed with SIGKILL leaves the board's
# verdicts to the other while the master restarts it in slot 0.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

for n in h1 h2; do
  spawn python3 "$UP" --name="$n" >"$D/$n.out" 2>&1
done
H1=$(upstream_port h1) && H2=$(upstream_port h2) || { not_ok "upstreams start"; finish; }
read -r WEB <<<"$(free_ports 1)"

doc() {
  cat >"$D/doc.json" <<EOF2
{
  "version": 1, "revision": $1,
  "defaultEntryPoints": ["web"],
  "entryPoints": { "web": { "address": "127.0.0.1:$WEB" } },
  "frontends": { "f": { "backend": "hc", "routes": { "r": { "rule": "PathPrefix:/" } } } },
  "backends": { "hc": { "servers": { "a": { "url": "http://127.0.0.1:$H1" },
                                     "b": { "url": "http://127.0.0.1:$H2" } },
                        "healthCheck": { "path": "/_health", "interval": "250ms", "timeout": "1s" } } }
}
EOF2
}
doc 1

spawn "$T" start-data-node --standalone="$D/doc.json" --workers=2 >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 "http://127.0.0.1:$WEB/" ||
  { not_ok "traefikee serves"; sed "s/^/# /" "$D/tee.out"; finish; }
workers() { pgrep -P "$TEE" | sort; }
two_workers() { [ "$(workers | wc -l)" -eq 2 ]; }
check "two workers run" wait_for 10 two_workers
check "the worst-case memory printed at start has the node's health board" \
  file_has "$D/tee.out" "health board"
prober() { sed -n 's/.*this worker probes for the node.* pid=\([0-9]*\).*/\1/p' "$D/tee.out" | tail -n 1; }
check "one worker (slot 0) probes, the other follows" \
  bash -c '[ "$(grep -c "this worker probes for the node" "$1")" = 1 ] && [ "$(grep -c "this worker follows the probing worker" "$1")" = 1 ]' _ "$D/tee.out"

# probes UPSTREAM SECONDS: requests the upstream parsed over SECONDS with no traffic through
# the proxy (the health checks; the two /_count requests themselves are taken off).
probes() {
  local a b
  a=$(curl -s -m 5 "http://127.0.0.1:$1/_count")
  sleep "$2"
  b=$(curl -s -m 5 "http://127.0.0.1:$1/_count")
  echo $((b - a - 1))
}
sleep 1
n=$(probes "$H1" 4)
# 4 s at 250 ms: 16 checks from one prober (a round may slip by a tick), 32 from two.
check "h1 gets one prober's worth of checks in 4 s: $n (12..21; two probers would make ~32)" \
  bash -c '[ "$1" -ge 12 ] && [ "$1" -le 21 ]' _ "$n"

# accepted: each worker's accepted= counter (SIGUSR1), space-separated.
accepted() {
  local n0
  n0=$(grep -c 'proxy stats' "$D/tee.out")
  kill -USR1 "$TEE"
  wait_for 5 bash -c '[ "$(grep -c "proxy stats" "$1")" -ge "$2" ]' _ "$D/tee.out" $((n0 + 2))
  grep 'proxy stats' "$D/tee.out" | tail -n 2 | sed -n 's/.* accepted=\([0-9]*\).*/\1/p' | tr '\n' ' '
}
# burst N: N requests, each on a new connection (the kernel spreads them over the workers);
# the answering servers in $D/servers, the statuses in $D/codes.
burst() {
  local i urls=()
  for i in $(seq "$1"); do urls+=("http://127.0.0.1:$WEB/b$i"); done
  curl -s -m 30 -H 'Connection: close' -w '\n%{http_code}\n' "${urls[@]}" >"$D/bout"
  grep -E '^[0-9]{3}$' "$D/bout" >"$D/codes"
  grep -o '"server": "[^"]*"' "$D/bout" | sed 's/.*: "//; s/"$//' >"$D/servers"
}
count() { grep -cx "$1" "$D/servers"; }
# spread A0 A1: both workers took at least 5 of the connections between the two samples. The
# stats lines carry no worker id and a restarted worker may log in the other order: a pairing
# of the samples is one where no counter went down (a new worker counts from 0).
spread() {
  python3 -c 'import sys; a=[int(x) for x in sys.argv[1].split()]; b=[int(x) for x in sys.argv[2].split()]
ok = len(a) == 2 and len(b) == 2 and any(
    all(y >= x for x, y in zip(a, p)) and all(y - x >= 5 for x, y in zip(a, p))
    for p in (b, b[::-1]))
sys.exit(0 if ok else 1)' "$1" "$2"
}
ctl() { curl -s -m 5 -o /dev/null "http://127.0.0.1:$1/_control/$2"; }

A0=$(accepted); burst 60; A1=$(accepted)
check "both servers in rotation at first (h1 $(count h1), h2 $(count h2) of 60)" \
  bash -c '[ "$1" -ge 10 ] && [ "$2" -ge 10 ] && [ "$3" = 60 ]' _ "$(count h1)" "$(count h2)" "$(grep -cx 200 "$D/codes")"
check "... over both workers (accepted $A0 -> $A1)" spread "$A0" "$A1"

ctl "$H2" down
sleep 1.5 # six intervals: the prober's verdict, then a follower's sync (200 ms)
A0=$(accepted); burst 60; A1=$(accepted)
check "h2 down: within 1.5 s, 60 new connections all answered 200 by h1 (h1 $(count h1), h2 $(count h2))" \
  bash -c '[ "$1" = 60 ] && [ "$2" = 60 ]' _ "$(count h1)" "$(grep -cx 200 "$D/codes")"
check "... though both workers served them (accepted $A0 -> $A1)" spread "$A0" "$A1"
check "the change is logged once, by the prober (backend and URL)" \
  bash -c '[ "$(grep -c "server out of rotation.*backend=hc url=http://127.0.0.1:$1" "$2")" = 1 ]' _ "$H2" "$D/tee.out"

# A reload with h2 still down: both workers' new tables keep it out.
doc 2
kill -HUP "$TEE"
wait_for 10 bash -c '[ "$(grep -c "routing document applied" "$1")" -ge 4 ]' _ "$D/tee.out"
A0=$(accepted); burst 40; A1=$(accepted)
check "after a reload h2 stays out in both workers (h1 $(count h1)/40)" \
  bash -c '[ "$1" = 40 ] && [ "$2" = 40 ]' _ "$(count h1)" "$(grep -cx 200 "$D/codes")"
check "... both workers served them (accepted $A0 -> $A1)" spread "$A0" "$A1"

# The prober killed: the other worker keeps the board's verdicts; a new prober in slot 0.
P=$(prober)
check "the probing worker is known ($P)" [ -n "$P" ]
kill -KILL "$P"
burst 20
check "while the prober is gone the other worker keeps h2 out (h1 $(count h1)/20)" \
  bash -c '[ "$1" = 20 ] && [ "$2" = 20 ]' _ "$(count h1)" "$(grep -cx 200 "$D/codes")"
restarted() { two_workers && ! workers | grep -qx "$P" && [ -n "$(prober)" ] && [ "$(prober)" != "$P" ]; }
wait_for 10 restarted
check "the master starts a new prober in slot 0 (was $P, now $(prober))" restarted
sleep 1
A0=$(accepted); burst 40; A1=$(accepted)
check "with the new prober h2 is still out in both workers (h1 $(count h1)/40)" \
  bash -c '[ "$1" = 40 ] && [ "$2" = 40 ]' _ "$(count h1)" "$(grep -cx 200 "$D/codes")"
check "... both workers served them (accepted $A0 -> $A1)" spread "$A0" "$A1"

ctl "$H2" up
sleep 1.5
A0=$(accepted); burst 60; A1=$(accepted)
check "h2 up again: both servers in rotation (h1 $(count h1), h2 $(count h2) of 60)" \
  bash -c '[ "$1" -ge 10 ] && [ "$2" -ge 10 ] && [ "$3" = 60 ]' _ "$(count h1)" "$(count h2)" "$(grep -cx 200 "$D/codes")"
check "... over both workers (accepted $A0 -> $A1)" spread "$A0" "$A1"
# each worker sends to h2 again: per-worker wrr alternates, so half of each worker's share
n=$(probes "$H2" 3)
check "h2 gets one prober's worth of checks in 3 s: $n (8..16)" \
  bash -c '[ "$1" -ge 8 ] && [ "$1" -le 16 ]' _ "$n"

kill -TERM "$TEE"
check "SIGTERM stops the master" wait_for 15 gone "$TEE"
finish
