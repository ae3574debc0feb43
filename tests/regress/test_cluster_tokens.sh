#!/usr/bin/env bash
# Join token rotation (`traefikee env --rotate=control|data|all`): one bootstrap control node
# and a data node on loopback. Checked: --rotate=data prints a new data node token and the same
# control node token; a data node joining with the old token is refused, one with the new token
# joins and is READY; the data node joined before the rotation keeps streaming (READY, and a
# deploy still reaches it); --rotate=control and --rotate=all replace what they name; the
# tokens printed are the ones `env` prints afterwards; a bad --rotate value is refused and
# rotates nothing.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
EP=127.0.0.1:$((BASE + 80))
SOCK="$D/s0.sock"

spawn python3 "$(dirname "$0")/proxy_upstream.py" --name=a >"$D/a.out" 2>&1
UA=$(upstream_port a) || { not_ok "upstream a starts"; finish; }

start_c0() {
  spawn "$T" bootstrap --licensekey=K --status.downafter=2 --statedir="$D/s0" \
    --traefikeesocket="$SOCK" --listen=127.0.0.1:$((BASE + 10)) \
    --advertise=127.0.0.1:$((BASE + 10)) --controlapi.listen=127.0.0.1:$((BASE + 30)) \
    --name=control-node-0 --mtlscertsoutputdir="$D/creds" >>"$D/c0.log" 2>&1
  C0=$SPAWNED
}
start_c0
leads() { "$T" list-nodes --traefikeesocket="$SOCK" 2>/dev/null | grep -q "(Current Leader)"; }
wait_for 20 leads || { not_ok "the bootstrap node leads"; tail -n 5 "$D/c0.log"; finish; }
tok() { "$T" env --traefikeesocket="$SOCK" | grep "$1" | cut -d '"' -f2; }
DATA0=$(tok DATA_NODE_TOKEN)
CTL0=$(tok CONTROL_NODE_TOKEN)
check "env prints both tokens" bash -c '[ -n "$0" ] && [ -n "$1" ]' "$DATA0" "$CTL0"

data_node() { # data_node NAME TOKEN: start it; $SPAWNED its PID
  DATA_NODE_TOKEN=$2 spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) \
    --statedir="$D/$1" --name="$1" >>"$D/$1.log" 2>&1
}
ready() { "$T" list-nodes --details --traefikeesocket="$SOCK" 2>/dev/null | grep "$1" | grep -q READY; }
data_node data-node-1 "$DATA0"
check "a data node joins with the first token" wait_for 20 ready data-node-1

# --rotate=data
run "$T" env --traefikeesocket="$SOCK" --rotate=data
check "env --rotate=data exits 0" [ "$RC" -eq 0 ]
DATA1=$(printf '%s\n' "$OUT" | grep DATA_NODE_TOKEN | cut -d '"' -f2)
CTL1=$(printf '%s\n' "$OUT" | grep CONTROL_NODE_TOKEN | cut -d '"' -f2)
check "... prints a new data node token" bash -c '[ -n "$0" ] && [ "$0" != "$1" ]' "$DATA1" "$DATA0"
check "... and the same control node token" [ "$CTL1" = "$CTL0" ]
check "env shows the new data node token afterwards" [ "$(tok DATA_NODE_TOKEN)" = "$DATA1" ]
check "the control node logged the rotation without the token" \
  bash -c 'grep -q "join token rotation proposed.*role=data" "$0" && ! grep -qF "$1" "$0"' "$D/c0.log" "$DATA1"

# The old token no longer admits a node; the new one does.
data_node data-node-old "$DATA0"
OLD=$SPAWNED
refused() {
  grep -q "refused to let this node join: the join token is not valid" "$D/data-node-old.log" &&
    ! ready data-node-old
}
check "a data node joining with the old token is refused" wait_for 20 refused
kill "$OLD" 2>/dev/null
data_node data-node-2 "$DATA1"
check "a data node joining with the new token is READY" wait_for 20 ready data-node-2
check "the data node joined before the rotation is still READY" ready data-node-1

cat >"$D/routes.toml" <<EOF
[backends.app.servers.s1]
url = "http://127.0.0.1:$UA"
[frontends.web]
backend = "app"
  [frontends.web.routes.r1]
  rule = "Host:a.test"
EOF
run "$T" deploy --traefikeesocket="$SOCK" --entryPoints="Name:http Address:$EP" \
  --defaultentrypoints=http --file.filename="$D/routes.toml" --providersthrottleduration=0s
applied1() { grep -q "routing document applied" "$D/data-node-1.log"; }
check "a deploy still reaches the data node joined before the rotation" wait_for 20 applied1

# --rotate=control, --rotate=all
run "$T" env --traefikeesocket="$SOCK" --rotate=control
CTL2=$(printf '%s\n' "$OUT" | grep CONTROL_NODE_TOKEN | cut -d '"' -f2)
DATA2=$(printf '%s\n' "$OUT" | grep DATA_NODE_TOKEN | cut -d '"' -f2)
check "env --rotate=control: a new control node token, the data node token kept" \
  bash -c '[ "$0" -eq 0 ] && [ -n "$1" ] && [ "$1" != "$2" ] && [ "$3" = "$4" ]' "$RC" "$CTL2" "$CTL0" "$DATA2" "$DATA1"
run "$T" env --traefikeesocket="$SOCK" --rotate=all
CTL3=$(printf '%s\n' "$OUT" | grep CONTROL_NODE_TOKEN | cut -d '"' -f2)
DATA3=$(printf '%s\n' "$OUT" | grep DATA_NODE_TOKEN | cut -d '"' -f2)
[ "$RC" -eq 0 ] || echo "# rotate=all: rc=$RC err=$ERR out=$OUT"
check "env --rotate=all: both tokens new" \
  bash -c '[ "$0" -eq 0 ] && [ "$1" != "$2" ] && [ "$3" != "$4" ] && [ -n "$1$3" ]' "$RC" "$CTL3" "$CTL2" "$DATA3" "$DATA2"

# Refusals rotate nothing.
run "$T" env --traefikeesocket="$SOCK" --rotate=everything
check "--rotate=everything is refused (exit 2)" bash -c '[ "$0" -eq 2 ] && grep -q "control, data or all" <<<"$1"' "$RC" "$ERR"
check "... and rotated nothing" bash -c '[ "$0" = "$1" ] && [ "$2" = "$3" ]' \
  "$(tok DATA_NODE_TOKEN)" "$DATA3" "$(tok CONTROL_NODE_TOKEN)" "$CTL3"

finish
