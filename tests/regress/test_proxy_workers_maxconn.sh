#!/usr/bin/env bash
# A backend's maxConn holds for the data node, not per worker (docs/internals/proxy-engine.md,
# "maxConn with several workers"): `traefikee start-data-node --standalone=FILE --workers=2` in
# front of proxy_upstream.py, backend maxConn amount 3 (request.host). Twelve concurrent new
# connections for one Host, spread by the kernel over both workers: exactly 3 are served, 9 get
# 429 (counted per worker, 6 would pass). The worst-case memory printed at start has the shared
# table. Then a worker holding open requests is killed with SIGKILL: the master logs the counts
# it gives back, a replacement starts, and once the other held requests are done the full
# amount (3) is served again.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

spawn python3 "$UP" --name=m >"$D/m.out" 2>&1
M=$(upstream_port m) || { not_ok "upstream starts"; finish; }
read -r WEB <<<"$(free_ports 1)"

cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["web"],
  "entryPoints": { "web": { "address": "127.0.0.1:$WEB" } },
  "frontends": { "f": { "backend": "mc", "routes": { "r": { "rule": "PathPrefix:/" } } } },
  "backends": { "mc": { "servers": { "a": { "url": "http://127.0.0.1:$M" } },
                        "maxConn": { "amount": 3, "extractorFunc": "request.host" } } }
}
EOF

spawn "$T" start-data-node --standalone="$D/doc.json" --workers=2 >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 -H "Host: probe.test" "http://127.0.0.1:$WEB/" ||
  { not_ok "traefikee serves"; cat "$D/tee.out"; finish; }
workers() { pgrep -P "$TEE" | sort; }
two_workers() { [ "$(workers | wc -l)" -eq 2 ]; }
check "two workers run" wait_for 10 two_workers
check "the worst-case memory printed at start has the node's maxConn table" \
  file_has "$D/tee.out" "maxConn counts"

# burst N DELAY_MS: N concurrent new connections for Host mc.test, each held DELAY_MS by the
# upstream when served; their statuses in $CODES, the number of 200 in $PASS, of 429 in $LIMITED.
burst() {
  local i pids=()
  rm -f "$D"/burst.*
  for i in $(seq "$1"); do
    spawn curl -s -m 30 -o /dev/null -w '%{http_code}' -H "Host: mc.test" \
      "http://127.0.0.1:$WEB/_delay/$2" >"$D/burst.$i"
    pids+=("$SPAWNED")
  done
  wait "${pids[@]}"
  CODES=$(for i in $(seq "$1"); do printf '%s ' "$(cat "$D/burst.$i")"; done)
  PASS=$(printf '%s' "$CODES" | tr ' ' '\n' | grep -c '^200$')
  LIMITED=$(printf '%s' "$CODES" | tr ' ' '\n' | grep -c '^429$')
}

# accepted: each worker's accepted= counter (SIGUSR1), space-separated.
accepted() {
  local n0
  n0=$(grep -c 'proxy stats' "$D/tee.out")
  kill -USR1 "$TEE"
  wait_for 5 bash -c '[ "$(grep -c "proxy stats" "$1")" -ge "$2" ]' _ "$D/tee.out" $((n0 + 2))
  grep 'proxy stats' "$D/tee.out" | tail -n 2 | sed -n 's/.* accepted=\([0-9]*\).*/\1/p' | tr '\n' ' '
}

A0=$(accepted)
burst 12 2500
A1=$(accepted)
check "maxConn 3 with two workers: exactly 3 of 12 concurrent requests are served (got $CODES)" \
  [ "$PASS" -eq 3 ]
check "... and the other 9 get 429" [ "$LIMITED" -eq 9 ]
spread=$(python3 -c 'import sys; a=sys.argv[1].split(); b=sys.argv[2].split()
print(sum(1 for x, y in zip(a, b) if int(y) - int(x) >= 1))' "$A0" "$A1")
# Both workers took some of the 12 (the kernel's spread varies: 2 and 10 was seen under load);
# with counts per worker that alone would admit min(a,3) + min(b,3) > 3.
check "... over both workers, each of which took some of the connections (accepted $A0 -> $A1)" \
  [ "$spread" -eq 2 ]
burst 5 1500
check "released when they end: 3 of 5 concurrent requests served again (got $CODES)" \
  [ "$PASS" -eq 3 ]

# held PID: client connections worker PID holds open on the entry point (its sockets that
# are established with local port $WEB, from /proc).
held() {
  python3 - "$1" "$WEB" <<'PY'
import os, sys
pid, port = sys.argv[1], int(sys.argv[2])
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if link.startswith("socket:["):
        inodes.add(link[8:-1])
n = 0
for name in ("/proc/net/tcp", "/proc/net/tcp6"):
    with open(name) as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if int(p[1].split(":")[1], 16) == port and p[3] == "01" and p[9] in inodes:
                n += 1
print(n)
PY
}

# Three requests held 6 s take the whole amount; kill a worker that holds some of them.
mark=$(curl -s -m 5 "http://127.0.0.1:$M/_count")
HP=()
for i in 1 2 3; do
  spawn curl -s -m 30 -o /dev/null -w '%{http_code}' -H "Host: mc.test" \
    "http://127.0.0.1:$WEB/_delay/6000" >"$D/held.$i"
  HP+=("$SPAWNED")
done
arrived() { [ $(($(curl -s -m 5 "http://127.0.0.1:$M/_count") - mark - 1)) -ge 3 ]; }
check "three held requests reach the upstream" wait_for 10 arrived
VICTIM=
K=0
for w in $(workers); do
  n=$(held "$w")
  [ "$n" -gt "$K" ] && { VICTIM=$w; K=$n; }
done
check "a worker holds some of them ($K)" [ "$K" -ge 1 ]
burst 3 10
check "while they are held, a fourth request is refused (got $CODES)" [ "$LIMITED" -eq 3 ]
kill -KILL "$VICTIM"
restarted() { two_workers && ! workers | grep -qx "$VICTIM"; }
check "the worker killed with SIGKILL is replaced (was $VICTIM)" wait_for 10 restarted
check "the master gave back the $K count(s) it held" \
  wait_for 5 grep -qE "maxConn counts of an ended worker released.*pid=$VICTIM counts=$K\b" "$D/tee.out"
wait "${HP[@]}"
OK_HELD=$(for i in 1 2 3; do cat "$D/held.$i"; echo; done | grep -c '^200$')
check "the other worker's held requests complete ($OK_HELD = 3 - $K)" [ "$OK_HELD" -eq $((3 - K)) ]
burst 12 1500
check "after the kill the full amount is back: 3 of 12 concurrent requests served (got $CODES)" \
  [ "$PASS" -eq 3 ]
check "... the other 9 get 429" [ "$LIMITED" -eq 9 ]

kill -TERM "$TEE"
check "SIGTERM stops the master" wait_for 15 gone "$TEE"
finish
