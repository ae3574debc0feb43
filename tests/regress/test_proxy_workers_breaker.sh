#!/usr/bin/env bash
# Circuit breakers are the node's, not each worker's (docs/internals/proxy-breaker.md,
# "Workers"): `traefikee start-data-node --standalone=FILE --workers=2` in front of
# proxy_upstream.py, backend `flaky` with `NetworkErrorRatio() > 0.5` (its upstream answers
# /_status/502: a network error for the breaker; / answers 200). A client keeps one connection
# on each worker (found from /proc: the worker holding the accepted socket):
#   1. failures through both workers (A: all 502, B: two in three) trip the breaker ONCE for the
#      node (one log line, traefikee_breaker_trips_total 1; per-worker breakers trip twice),
#      and both workers answer 503 while it is Tripped;
#   2. it recovers: during Recovering each worker lets some requests through and refuses
#      others, after 20 s both pass everything;
#   3. worker A fails 3 requests for every success of worker B: the node's ratio is 75 %, so B
#      answers 503 too although its own requests all succeeded (a per-worker breaker at B never
#      trips);
#   4. a reload (SIGHUP to the master) resets it once for the node: both workers pass at once,
#      one worker built a fresh breaker and the other joined it (log lines, epoch 1).
# About 30 s.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

spawn python3 "$UP" --name=u >"$D/u.out" 2>&1
U=$(upstream_port u) || { not_ok "upstream starts"; finish; }
read -r WEB MET <<<"$(free_ports 2)"

cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["web"],
  "entryPoints": { "web": { "address": "127.0.0.1:$WEB" } },
  "frontends": {
    "flaky": { "backend": "flaky", "routes": { "r": { "rule": "Host:flaky" } } },
    "plain": { "backend": "plain", "routes": { "r": { "rule": "Host:plain" } } }
  },
  "backends": {
    "flaky": { "servers": { "s": { "url": "http://127.0.0.1:$U" } },
               "circuitBreaker": { "expression": "NetworkErrorRatio() > 0.5" } },
    "plain": { "servers": { "s": { "url": "http://127.0.0.1:$U" } } }
  }
}
EOF

spawn "$T" start-data-node --standalone="$D/doc.json" --workers=2 \
  --metrics.listen="127.0.0.1:$MET" >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 -H "Host: plain" "http://127.0.0.1:$WEB/" ||
  { not_ok "traefikee serves"; cat "$D/tee.out"; finish; }
workers() { pgrep -P "$TEE" | sort; }
two_workers() { [ "$(workers | wc -l)" -eq 2 ]; }
check "two workers run" wait_for 10 two_workers
both_loaded() { [ "$(grep -c 'circuit breakers: the node' "$D/tee.out")" -ge 2 ]; }
check "both workers built their table" wait_for 10 both_loaded
check "the master mapped the node's breaker table (8192 slots at the defaults: 11145216 bytes)" \
  file_has "$D/tee.out" "breaker_table_bytes=11145216"
check "one worker made the breaker, the other joined it (epoch 0)" \
  [ "$(grep -c 'breakers=1 joined=0 fresh=1 private=0 revision=1 epoch=0' "$D/tee.out")" = 1 -a \
    "$(grep -c 'breakers=1 joined=1 fresh=0 private=0 revision=1 epoch=0' "$D/tee.out")" = 1 ]

cat >"$D/drive.py" <<'EOF'
import http.client, os, signal, sys, time
web, met, master = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pids = [int(p) for p in sys.argv[4].split(",")]

def out(*a):
    print(*a, flush=True)

def owner(conn):
    """The worker holding the accepted end of conn (its socket inode, from /proc)."""
    cport = conn.sock.getsockname()[1]
    inodes = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(name) as f:
            for line in f.readlines()[1:]:
                p = line.split()
                if int(p[1].split(":")[1], 16) == web and int(p[2].split(":")[1], 16) == cport:
                    inodes.add(p[9])
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return pid
    return None

def get(conn, host, path):
    conn.request("GET", path, headers={"Host": host})
    r = conn.getresponse()
    r.read()
    return r.status

def trips():
    c = http.client.HTTPConnection("127.0.0.1", met, timeout=5)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    for line in body.splitlines():
        if line.startswith('traefikee_breaker_trips_total{backend="flaky"} '):
            return int(float(line.split()[1]))
    return -1

# One keep-alive connection on each worker.
on = {}
for _ in range(64):
    c = http.client.HTTPConnection("127.0.0.1", web, timeout=10)
    c.connect()
    get(c, "plain", "/")
    w = owner(c)
    if w is not None and w not in on:
        on[w] = c
    else:
        c.close()
    if len(on) == 2:
        break
if len(on) != 2:
    out("MAP fail", list(on))
    sys.exit(0)
(pa, A), (pb, B) = sorted(on.items())
out("MAP", pa, pb)

# 1. failures through both workers
sa, sb = [], []
t_trip = None
for i in range(300):
    # B's first answer is a 200: the first check (at once) sees no failure, the next one
    # 100 ms later sees both workers' failures
    sb.append(get(B, "flaky", "/" if i % 3 == 0 else "/_status/502"))
    sa.append(get(A, "flaky", "/_status/502"))
    if t_trip is None and 503 in (sa[-1], sb[-1]):
        t_trip = time.time()
    if 503 in sa and 503 in sb:
        break
    time.sleep(0.005)
if t_trip is None:
    t_trip = time.time()
held_a = [get(A, "flaky", "/") for _ in range(5)]
held_b = [get(B, "flaky", "/") for _ in range(5)]
out("P1 a502=%d b502=%d a503=%d b503=%d" % (sa.count(502), sb.count(502), sa.count(503), sb.count(503)))
out("P1HELD a=%s b=%s" % (",".join(map(str, held_a)), ",".join(map(str, held_b))))
out("TRIPS1", trips())

# 2. recovery: Tripped until t_trip + 10 s (at most), Recovering 10 s, then Standby
while time.time() < t_trip + 10.3:
    time.sleep(0.05)
rec = {}
while time.time() < t_trip + 19.5:
    for name, conn in (("a", A), ("b", B)):
        k = "%s%d" % (name, get(conn, "flaky", "/"))
        rec[k] = rec.get(k, 0) + 1
    time.sleep(0.05)
while time.time() < t_trip + 21.0:
    time.sleep(0.05)
late = [get(A, "flaky", "/") for _ in range(10)] + [get(B, "flaky", "/") for _ in range(10)]
out("REC a200=%d a503=%d b200=%d b503=%d late=%s" % (rec.get("a200", 0), rec.get("a503", 0),
    rec.get("b200", 0), rec.get("b503", 0), ",".join(sorted(set(map(str, late))))))

# 3. A fails three for each success at B
b_first503 = -1
b_bad = 0
rounds = 0
for i in range(3000):
    rounds = i + 1
    for _ in range(3):
        get(A, "flaky", "/_status/502")
    s = get(B, "flaky", "/")
    if s not in (200, 503):
        b_bad += 1
    if s == 503:
        b_first503 = i
        break
out("P2 rounds=%d b503_at=%d b_bad=%d a_now=%d" % (rounds, b_first503, b_bad, get(A, "flaky", "/")))
out("TRIPS2", trips())

# 4. a reload resets it once for the node
os.kill(master, signal.SIGHUP)
time.sleep(2.0)
out("RELOAD a=%d b=%d" % (get(A, "flaky", "/"), get(B, "flaky", "/")))
out("TRIPS3", trips())
EOF

WP=$(workers | tr '\n' ',' | sed 's/,$//')
python3 "$D/drive.py" "$WEB" "$MET" "$TEE" "$WP" >"$D/drive.out" 2>&1
line() { grep "^$1 " "$D/drive.out" | head -n 1; }
val() { line "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
MAP=$(line MAP)
check "a client connection on each worker ($MAP; workers $WP)" \
  [ "$(echo "$MAP" | wc -w)" = 3 -a "$(echo "$MAP" | cut -d' ' -f2)" != "$(echo "$MAP" | cut -d' ' -f3)" ]
echo "# $(line P1) $(line P1HELD) $(line TRIPS1)"
check "1. failures reach the upstream through both workers before the trip ($(line P1))" \
  [ "$(val P1 a502)" -ge 1 -a "$(val P1 b502)" -ge 1 ]
check "... and then both workers answer 503" [ "$(val P1 a503)" -ge 1 -a "$(val P1 b503)" -ge 1 ]
check "... every request while Tripped, on both workers ($(line P1HELD))" \
  [ "$(line P1HELD)" = "P1HELD a=503,503,503,503,503 b=503,503,503,503,503" ]
check "... it tripped once for the node: traefikee_breaker_trips_total 1 ($(line TRIPS1))" \
  [ "$(line TRIPS1)" = "TRIPS1 1" ]
echo "# $(line REC)"
check "2. Recovering: each worker lets some requests through and refuses others ($(line REC))" \
  [ "$(val REC a200)" -ge 1 -a "$(val REC a503)" -ge 1 -a "$(val REC b200)" -ge 1 -a "$(val REC b503)" -ge 1 ]
check "... then Standby: both pass everything" [ "$(val REC late)" = 200 ]
echo "# $(line P2) $(line TRIPS2)"
check "3. 75 % failures at worker A trip the node's breaker: worker B answers 503 though its own requests succeed ($(line P2))" \
  [ "$(val P2 b503_at)" -ge 1 -a "$(val P2 b_bad)" = 0 -a "$(val P2 a_now)" = 503 ]
check "... a second trip for the node ($(line TRIPS2))" [ "$(line TRIPS2)" = "TRIPS2 2" ]
check "4. a reload resets the breaker for the node: both workers pass at once ($(line RELOAD))" \
  [ "$(line RELOAD)" = "RELOAD a=200 b=200" ]
check "... one worker made the new breaker, the other joined it (epoch 1)" \
  [ "$(grep -c 'breakers=1 joined=0 fresh=1 private=0 revision=1 epoch=1' "$D/tee.out")" = 1 -a \
    "$(grep -c 'breakers=1 joined=1 fresh=0 private=0 revision=1 epoch=1' "$D/tee.out")" = 1 ]
check "two trip lines in the log, one per node trip; one recovery, one return to standby" \
  [ "$(grep -c 'circuit breaker tripped' "$D/tee.out")" = 2 -a \
    "$(grep -c 'circuit breaker recovering' "$D/tee.out")" = 1 -a \
    "$(grep -c 'circuit breaker back to standby' "$D/tee.out")" = 1 ]
check "the trip counter survives the reload ($(line TRIPS3))" [ "$(line TRIPS3)" = "TRIPS3 2" ]
[ "$REGRESS_FAILED" = 0 ] || { cat "$D/drive.out"; grep -i 'breaker\|error' "$D/tee.out" | head -40; }

kill -TERM "$TEE"
check "SIGTERM stops the master" wait_for 15 gone "$TEE"
finish
