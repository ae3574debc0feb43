#!/usr/bin/env bash
# Log compaction end to end: with --raft.snapshot=16 the leader snapshots its
# state machine and compacts the log; a control node joining afterwards gets the
# state through InstallSnapshot (chunks persisted, state machine restored); both
# nodes restart from a store holding a snapshot and agree on the cluster.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
OPTS=(--raft.snapshot=16 --status.downafter=2)

flags() {
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s$1.sock" 2>/dev/null; }
has_n() { [ "$(nodes "$1" | grep -c "$2")" -eq "$3" ]; }
status() { curl -s --unix-socket "$D/s$1.sock" http://node/status; }

# shellcheck disable=SC2046
spawn "$T" bootstrap --licensekey=K "${OPTS[@]}" $(flags 0 first) --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
P0=$SPAWNED
wait_for 20 has_n 0 "(Current Leader)" 1 || not_ok "bootstrap leads"
fails=0
for i in $(seq 1 40); do
  "$T" deploy --traefikeesocket="$D/s0.sock" --entryPoints="Name:http Address:127.0.0.1:$((1000 + i))" \
    --defaultentrypoints=http >/dev/null 2>&1 || fails=$((fails + 1))
done
check "40 deploys committed" [ "$fails" -eq 0 ]
check "the leader took a snapshot" grep -q "snapshot taken" "$D/c0.log"
# Restart the leader: its memory no longer holds the compacted entries, only the store does.
kill -TERM "$P0"; wait_for 10 gone "$P0"
# shellcheck disable=SC2046
spawn env -u CONTROL_NODE_TOKEN "$T" start-control-node "${OPTS[@]}" $(flags 0 first) >>"$D/c0.log" 2>&1
P0=$SPAWNED
if wait_for 20 has_n 0 "(Current Leader)" 1; then ok "the leader restarts from a compacted store"; else not_ok "the leader restarts from a compacted store"; fi

TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
# shellcheck disable=SC2046
spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) --token="$TOKEN" "${OPTS[@]}" \
  $(flags 1 second) >"$D/c1.log" 2>&1
P1=$SPAWNED
if wait_for 20 has_n 0 "second  *ACCEPTED    READY" 1; then ok "a control node joins after compaction"; else not_ok "a control node joins after compaction"; nodes 0; fi
check "it installed the leader's snapshot" grep -q "state machine restored from snapshot" "$D/c1.log"
same() { [ "$(nodes 0)" = "$(nodes 1)" ] && [ -n "$(nodes 1)" ]; }
if wait_for 10 same; then ok "both nodes list the same cluster"; else not_ok "both nodes list the same cluster"; fi
check "the last deploy reached the new node" bash -c "curl -s --unix-socket '$D/s1.sock' http://node/status | grep -q '\"deployed\":true'"

kill -TERM "$P0" "$P1"; wait_for 10 gone "$P0"; wait_for 10 gone "$P1"
for i in 0 1; do
  # shellcheck disable=SC2046
  spawn env -u CONTROL_NODE_TOKEN "$T" start-control-node "${OPTS[@]}" $(flags $i n$i) >>"$D/c$i.log" 2>&1
done
if wait_for 20 has_n 1 "(Current Leader)" 1; then ok "both restart from stores holding a snapshot and elect a leader"; else not_ok "both restart from stores holding a snapshot"; tail -n 5 "$D/c1.log"; fi
if wait_for 10 same; then ok "... and still agree"; else not_ok "... and still agree"; fi
finish
