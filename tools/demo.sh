#!/usr/bin/env bash
# tools/demo.sh — README's main job: a whole TraefikEE cluster on loopback.
#
# Follows the seed's walk-through on one machine (DESIGN.md, "Several nodes on one
# machine"): a bootstrap node waiting for 3 control nodes, the control nodes joining
# with CONTROL_NODE_TOKEN, the bootstrap node handing over and stopping, 2 data nodes
# joining with DATA_NODE_TOKEN, a deploy with the file provider routing to a tiny
# upstream (python3's http.server on loopback), list-nodes, traefikeectl, and a
# request through the data nodes. Every process is started here and stopped by its
# PID on Ctrl-C, or after DEMO_SECONDS (default 60; 0 = until Ctrl-C).
#
#   tools/demo.sh --once   (or DEMO_ONCE=1, e.g. `DEMO_ONCE=1 make demo`): run the
#                     walk-through once, check that BOTH data nodes answered, stop
#                     everything and exit 0; non-zero (and the logs kept) if a step failed.
#   DEMO_BASE=14200   first port (the demo uses DEMO_BASE .. DEMO_BASE+99)
#   DEMO_KEEP=1       keep the working directory (logs, state) afterwards
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B="$top/build/bin"
T="$B/traefikee"
C="$B/traefikeectl"
SECONDS_LEFT=${DEMO_SECONDS:-60}
ONCE=${DEMO_ONCE:-0}
for a in "$@"; do
  case $a in
    --once) ONCE=1 ;;
    -h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $a (use --once)" >&2; exit 2 ;;
  esac
done
[ "$ONCE" = 1 ] || ONCE=0
BASE=${DEMO_BASE:-14200}
W=$(mktemp -d "${TMPDIR:-/tmp}/traefikee-demo.XXXXXX")
PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
short() { printf '%q ' "$@" | sed "s|$W|\$DEMO|g; s|$B/||g"; }
show() { printf '$ %s\n' "$(short "$@")"; "$@"; }
cleanup() {
  trap - EXIT INT TERM
  say "stopping every process the demo started (by PID)"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  if [ "${DEMO_KEEP:-0}" = 1 ]; then echo "logs and state kept in $W"; else rm -rf "$W"; fi
  exit "${1:-0}"
}
trap 'cleanup 1' INT TERM
trap 'cleanup $?' EXIT
fail() { echo "demo: $*" >&2; echo "logs: $W/*.log" >&2; DEMO_KEEP=1; exit 1; }
wait_for() { # wait_for SECONDS CMD...
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.2; done
}
busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $(seq "$BASE" $((BASE + 99))); do
  busy "$p" && fail "port $p is in use: set DEMO_BASE to a free range"
done
[ -x "$T" ] || fail "build first: make"

node() { # node I NAME: flags of control node I (0 = bootstrap)
  echo --statedir="$W/control$1" --traefikeesocket="$W/control$1.sock" \
    --listen=127.0.0.1:$((BASE + 10 + $1)) --advertise=127.0.0.1:$((BASE + 10 + $1)) \
    --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
bg() { # bg LOG CMD...: start a process, remember its PID
  local log=$1; shift
  "$@" >"$W/$log" 2>&1 &
  PIDS+=($!)
  printf '$ %s &   # pid %s, log %s\n' "$(short "$@")" "$!" "$log"
}
leader_on() { "$T" list-nodes --traefikeesocket="$W/control$1.sock" 2>/dev/null | grep -q "Current Leader"; }
ready_data() { [ "$("$T" list-nodes --details --traefikeesocket="$W/control1.sock" 2>/dev/null | grep -c 'READY   ACTIVE        DATA NODE')" -eq 2 ]; }
EP=127.0.0.1:$((BASE + 80))

echo "traefikee demo: a whole cluster on loopback, ports $BASE..$((BASE + 99)), state in \$DEMO=$W"

say "a tiny upstream application on 127.0.0.1:$((BASE + 90))"
mkdir -p "$W/www"
echo "Hello from the application behind the traefikee data nodes" >"$W/www/index.html"
if command -v python3 >/dev/null; then
  bg upstream.log python3 -m http.server $((BASE + 90)) --bind 127.0.0.1 --directory "$W/www"
else
  fail "python3 is needed for the demo's upstream (apt-get install python3)"
fi
cat >"$W/routes.json" <<EOF
{"frontends":{"app":{"backend":"app","routes":{"all":{"rule":"PathPrefix:/"}}}},
 "backends":{"app":{"servers":{"s1":{"url":"http://127.0.0.1:$((BASE + 90))"}}}}}
EOF

say "bootstrap node: creates the cluster and waits for 3 control nodes"
# shellcheck disable=SC2046
bg bootstrap.log "$T" bootstrap --controlnodes=3 --licensekey=demoLicense --timeout=120 \
  --cleanup.grace=10 $(node 0 bootstrap-node) --mtlscertsoutputdir="$W/credentials"
BOOT=${PIDS[-1]}
wait_for 30 leader_on 0 || fail "the bootstrap node did not start"
show "$T" list-nodes --traefikeesocket="$W/control0.sock"

say "tokens (the seed's pipeline)"
echo "\$ traefikee env | grep 'CONTROL_NODE_TOKEN' | cut -d '\"' -f2"
CONTROL_NODE_TOKEN=$("$T" env --traefikeesocket="$W/control0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$W/control0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
echo "${CONTROL_NODE_TOKEN:0:20}… (and DATA_NODE_TOKEN)"
export CONTROL_NODE_TOKEN DATA_NODE_TOKEN

say "three control nodes join"
for i in 1 2 3; do
  # shellcheck disable=SC2046
  bg control$i.log "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) \
    --cleanup.grace=10 $(node $i control-node-$i)
done
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_for 60 gone "$BOOT" || fail "the bootstrap node did not hand over"
echo "(the bootstrap node handed leadership over and stopped)"
wait_for 20 leader_on 1 || fail "no leader among the control nodes"
boot_down() { "$T" list-nodes --details --traefikeesocket="$W/control1.sock" | grep -q 'bootstrap-node.*DOWN'; }
wait_for 20 boot_down || fail "the bootstrap node does not show DOWN"
show "$T" list-nodes --details --traefikeesocket="$W/control1.sock"

say "two data nodes join"
for i in 1 2; do
  bg data$i.log "$T" start-data-node \
    --peeraddresses=127.0.0.1:$((BASE + 11)),127.0.0.1:$((BASE + 12)),127.0.0.1:$((BASE + 13)) \
    --statedir="$W/data$i" --traefikeesocket="$W/data$i.sock" --name=data-node-$i --accesslog
done
wait_for 30 ready_data || fail "the data nodes did not become READY"

say "deploy: an entry point and the file provider (run on the leader)"
show "$T" deploy --traefikeesocket="$W/control2.sock" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$W/routes.json" || fail "deploy failed"
serves() { curl -s --max-time 2 "http://$EP/" | grep -q Hello; }
wait_for 20 serves || fail "no traffic through the data nodes"
show curl -s "http://$EP/"

say "traffic through BOTH data nodes (they share $EP with SO_REUSEPORT; each keeps an access log)"
answered() { grep -c '"GET /[^"]*" 200' "$W/data$1.log" 2>/dev/null || true; }
A1=$(answered 1) A2=$(answered 2)
both() { [ "$(answered 1)" -gt "$A1" ] && [ "$(answered 2)" -gt "$A2" ]; }
sent=0 failed=0
while [ "$sent" -lt 200 ]; do
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    sent=$((sent + 1))
    curl -s --max-time 2 "http://$EP/" | grep -q Hello || failed=$((failed + 1))
  done
  both && break
  sleep 0.1
done
echo "$sent requests, $failed failed; data-node-1 answered $(($(answered 1) - A1)), data-node-2 answered $(($(answered 2) - A2))"
[ "$failed" -eq 0 ] || fail "$failed of $sent requests through the data nodes failed"
both || fail "not every data node answered (see data1.log, data2.log)"

say "the cluster, after the clean-up dropped the bootstrap node"
dropped() { ! "$T" list-nodes --traefikeesocket="$W/control1.sock" | grep -q bootstrap-node; }
wait_for 30 dropped || fail "the clean-up did not drop the bootstrap node"
show "$T" list-nodes --traefikeesocket="$W/control1.sock" || fail "list-nodes failed"

say "remote administration with traefikeectl (mutual TLS on :$((BASE + 31)))"
export HOME="$W/home"
mkdir -p "$HOME"
show "$C" connect --onpremise.mtlscertsdir="$W/credentials" --onpremise.apiaddress=127.0.0.1:$((BASE + 31)) ||
  fail "traefikeectl connect failed"
show "$C" list-nodes || fail "traefikeectl list-nodes failed"

if [ "$ONCE" = 1 ]; then
  say "every step passed (--once): stopping"
  exit 0
elif [ "$SECONDS_LEFT" -gt 0 ]; then
  say "the cluster runs for $SECONDS_LEFT s (curl http://$EP/); Ctrl-C stops it now"
  sleep "$SECONDS_LEFT"
else
  say "the cluster runs until Ctrl-C (curl http://$EP/)"
  while :; do sleep 3600; done
fi
