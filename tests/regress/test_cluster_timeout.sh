#!/usr/bin/env bash
# Stage 2, the failure path: when the control nodes asked for do not all join
# within --timeout, the bootstrap node stops (exit 1) and the cluster is not
# created; a control node that did join says why and exits non-zero too.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)

flags() {
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
leads() { "$T" list-nodes --traefikeesocket="$D/s0.sock" 2>/dev/null | grep -q "(Current Leader)"; }

start=$SECONDS
# shellcheck disable=SC2046
spawn "$T" bootstrap --controlnodes=2 --timeout=4 --licensekey=K $(flags 0 boot) \
  --mtlscertsoutputdir="$D/creds" >"$D/boot.log" 2>&1
BOOT=$SPAWNED
wait_for 10 leads || { not_ok "the bootstrap node leads"; cat "$D/boot.log"; }
TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
# shellcheck disable=SC2046
spawn "$T" start-control-node --peeraddresses=127.0.0.1:$((BASE + 10)) --token="$TOKEN" \
  $(flags 1 joined) >"$D/c1.log" 2>&1
C1=$SPAWNED

if wait_for 15 gone "$BOOT"; then ok "the bootstrap node stops after --timeout"; else not_ok "the bootstrap node stops after --timeout"; fi
wait "$BOOT"; rc=$?
check "... with exit status 1" [ "$rc" -eq 1 ]
check "... not before the timeout" [ $((SECONDS - start)) -ge 4 ]
check "... saying the cluster is not created" grep -q "timed out after 4 s waiting for 2 control nodes (1 joined): the cluster is not created" "$D/boot.log"
check "the control node had joined" grep -q "joined the cluster" "$D/c1.log"
if wait_for 20 gone "$C1"; then ok "the joined control node stops too"; else not_ok "the joined control node stops too"; tail -n 5 "$D/c1.log"; fi
wait "$C1"; rc=$?
check "... with a non-zero status" [ "$rc" -ne 0 ]
check "... saying why" grep -q "the bootstrap node did not complete the cluster within its --timeout" "$D/c1.log"
finish
