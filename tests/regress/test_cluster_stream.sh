#!/usr/bin/env bash
# The data node's routing stream across control plane outages.
#
# 1. Every peer in the data node's list fails (a dead address first, then the three control
#    nodes stopped): the node keeps serving, logs the outage once (not a line per attempt)
#    and keeps retrying with a capped back-off; once a majority is back, it follows the next
#    document within a few seconds (one back-off plus one round of the list).
# 2. Restart cycles with the previous document written back: the two live voters are stopped
#    right after the data node took a new document, so the follower may not have learnt that
#    it was committed; restarted, it may win the election with a state machine one document
#    behind its log. The new leader must still propose the provider's document once that
#    entry is applied (it used to find it equal to the stale one and never propose it).
#    STREAM_CYCLES (default 6) sets the number of cycles.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
DEAD=127.0.0.1:$((BASE + 9)) # nothing listens there
TIMING=(--status.downafter=2 --cleanup.grace=600)
CYCLES=${STREAM_CYCLES:-6}

wait_for() { # wait_for SECONDS CMD...: poll CMD every 0.05 s
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -ge "$end" ] && return 1; sleep 0.05; done
}
flags() {
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s$1.sock" 2>/dev/null; }
has_n() { [ "$(nodes "$1" | grep -c "$2")" -eq "$3" ]; }
serves() { [ "$(curl -s --max-time 2 "http://$EP/")" = "$1" ]; }
leader_of() { "$T" list-nodes --traefikeesocket="$D/s$1.sock" 2>/dev/null | grep -q "(Current Leader)"; }
dump() { tail -n 12 "$D/d1.log"; for i in 0 1 2; do tail -n 6 "$D/c$i.log"; done; }

# Three upstreams on loopback, one answer each.
for v in 1 2 3; do
  mkdir -p "$D/www$v"; echo "hello-v$v" >"$D/www$v/index.html"
  spawn python3 -m http.server $((BASE + 90 + v)) --bind 127.0.0.1 --directory "$D/www$v" >/dev/null 2>&1
done
up() { curl -s --max-time 1 "http://127.0.0.1:$1/" >/dev/null; }
for v in 1 2 3; do wait_for 15 up $((BASE + 90 + v)) || not_ok "upstream $v starts"; done

routes() { # routes N: route everything to upstream N (the file replaced atomically)
  printf '{"frontends":{"web":{"backend":"web","routes":{"r1":{"rule":"PathPrefix:/"}}}},"backends":{"web":{"servers":{"s1":{"url":"http://127.0.0.1:%s"}}}}}\n' $((BASE + 90 + $1)) >"$D/routes.tmp"
  mv "$D/routes.tmp" "$D/routes.json"
}
routes 1

# shellcheck disable=SC2046
spawn "$T" bootstrap --licensekey=K "${TIMING[@]}" $(flags 0 control-node-0) --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
CP[0]=$SPAWNED
wait_for 20 has_n 0 "(Current Leader)" 1 || not_ok "bootstrap leads"
CONTROL_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
for i in 1 2; do
  # shellcheck disable=SC2046
  CONTROL_NODE_TOKEN=$CONTROL_NODE_TOKEN spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) \
    "${TIMING[@]}" $(flags $i control-node-$i) >"$D/c$i.log" 2>&1
  CP[$i]=$SPAWNED
done
voters3() { curl -s --unix-socket "$D/s0.sock" http://node/status | grep -q '"voters":3'; }
wait_for 30 voters3 || not_ok "three voters"

# The dead address comes first in the data node's list: every round starts with a failure.
DATA_NODE_TOKEN=$DATA_NODE_TOKEN spawn "$T" start-data-node --peeraddresses="$DEAD,127.0.0.1:$((BASE + 10))" \
  --statedir="$D/d1" --name=data-node-1 >"$D/d1.log" 2>&1
DP=$SPAWNED
run "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$D/routes.json" --providersthrottleduration=0s
check "deploy with the file provider exits 0" [ "$RC" -eq 0 ]
if wait_for 30 serves hello-v1; then ok "the data node routes to the upstream"; else not_ok "the data node routes to the upstream"; dump; fi
check "the data node's list holds the dead address and the three control nodes" \
  bash -c "grep -q '$DEAD' '$D/d1/node.json' && grep -q '127.0.0.1:$((BASE + 12))' '$D/d1/node.json'"

# --- 1. Every control node down ---------------------------------------------------------
before=$(wc -l <"$D/d1.log")
kill -TERM "${CP[0]}" "${CP[1]}" "${CP[2]}"
for i in 0 1 2; do wait_for 10 gone "${CP[$i]}"; done
sleep 12 # long enough for the back-off to reach its cap: every peer failed several times
outage=$(tail -n +$((before + 1)) "$D/d1.log")
check "the data node keeps serving with every control node down" serves hello-v1
check "the data node is still running" kill -0 "$DP"
n=$(printf '%s\n' "$outage" | grep -c 'level=warn')
if [ "$n" -ge 1 ] && [ "$n" -le 2 ]; then ok "12 s of outage are logged once, not per attempt ($n lines)"; else
  not_ok "12 s of outage are logged once, not per attempt ($n lines)"; printf '%s\n' "$outage" | head -n 20; fi

# A majority is back (control-node-0 stays down, the dead address is still first).
for i in 1 2; do
  # shellcheck disable=SC2046
  spawn env -u CONTROL_NODE_TOKEN "$T" start-control-node "${TIMING[@]}" $(flags $i control-node-$i) >>"$D/c$i.log" 2>&1
  CP[$i]=$SPAWNED
done
both_lead() { leader_of 1 || leader_of 2; }
wait_for 30 both_lead || not_ok "a leader after the restart"
routes 2
T0=$SECONDS
if wait_for 8 serves hello-v2; then ok "once a majority is back, the data node follows the next document within a few seconds ($((SECONDS - T0)) s)"; else
  not_ok "once a majority is back, the data node follows the next document within a few seconds"; dump; fi
check "... and says the stream is open again" bash -c "tail -n +$((before + 1)) '$D/d1.log' | grep -q 'msg=\"routing stream open\"'"

# --- 2. Restart cycles, the previous document written back --------------------------------
applied() { grep -c 'msg="routing document applied"' "$D/d1.log"; }
more_applied() { [ "$(applied)" -gt "$1" ]; }
leads() { "$T" list-nodes --traefikeesocket="$D/s$1.sock" 2>/dev/null | grep -q "control-node-$1 .*(Current Leader)"; }
start_cn() { # shellcheck disable=SC2046
  spawn env -u CONTROL_NODE_TOKEN "$T" start-control-node "${TIMING[@]}" $(flags "$1" control-node-"$1") >>"$D/c$1.log" 2>&1
  CP[$1]=$SPAWNED
}
prev=2 cur=3 # each cycle: document 3, then document 2 written back
for cycle in $(seq 1 "$CYCLES"); do
  wait_for 20 both_lead || { not_ok "restart cycle $cycle: a leader"; dump; break; }
  if leads 1; then L=1 F=2; else L=2 F=1; fi
  n=$(applied)
  routes "$cur" # a new document...
  if ! wait_for 20 more_applied "$n"; then not_ok "restart cycle $cycle: a new document"; dump; break; fi
  # ...stop the follower as soon as the data node has it: it may not know it is committed.
  kill -KILL "${CP[$F]}"; kill -TERM "${CP[$L]}"
  { wait "${CP[$F]}"; } 2>/dev/null; wait_for 10 gone "${CP[$L]}"
  routes "$prev" # the document before: what the follower's state machine may still hold
  start_cn "$F"  # the follower first, so that it is the one likely to win the election
  sleep 1.5
  start_cn "$L"
  if ! wait_for 20 serves "hello-v$prev"; then
    not_ok "restart cycle $cycle: the data node follows the document written back"; dump; break
  fi
done
[ "$REGRESS_FAILED" -eq 0 ] && ok "$CYCLES restart cycles: the data node follows the document written back each time"
finish
