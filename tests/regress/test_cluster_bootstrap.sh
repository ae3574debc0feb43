#!/usr/bin/env bash
# Stage 1: `traefikee bootstrap` creates a one-control-node cluster on loopback;
# list-nodes and env follow the seed; the socket is 0600; the admin credentials
# are written once; a second bootstrap over the same state directory is refused;
# a restart with start-control-node resumes without a token.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
LISTEN=127.0.0.1:$((BASE + 1))
CAPI=127.0.0.1:$((BASE + 2))
SOCK="$D/b.sock"

leader_is() { "$T" list-nodes --traefikeesocket="$SOCK" 2>/dev/null | grep -q "(Current Leader)"; }

node_flags=(--statedir="$D/state" --traefikeesocket="$SOCK" --listen="$LISTEN"
            --advertise="$LISTEN" --controlapi.listen="$CAPI" --name=bootstrap)

# Refusals that need no daemon.
run "$T" bootstrap "${node_flags[@]}" --mtlscertsoutputdir="$D/creds"
check "bootstrap without --licensekey exits 2" [ "$RC" -eq 2 ]
check "bootstrap without --licensekey says why" has "$ERR" "give --licensekey"
run "$T" bootstrap "${node_flags[@]}" --licensekey=K --advertise=nohostport
check "a malformed --advertise exits 2" [ "$RC" -eq 2 ]

spawn "$T" bootstrap --licensekey=fakeLicense "${node_flags[@]}" \
  --mtlscertsoutputdir="$D/creds" >"$D/boot.log" 2>&1
BOOT=$SPAWNED
if wait_for 20 leader_is; then ok "bootstrap node leads within 20 s"; else not_ok "bootstrap node leads within 20 s"; cat "$D/boot.log"; fi

run "$T" list-nodes --traefikeesocket="$SOCK"
expect=$'Name           Role\n----           --------------\nbootstrap      CONTROL NODE (Current Leader)'
check "list-nodes prints the seed's table" [ "$OUT" = "$expect" ]
check "list-nodes exits 0" [ "$RC" -eq 0 ]

run "$T" list-nodes --details --traefikeesocket="$SOCK"
check "list-nodes --details has the seed's header" \
  has "$OUT" "ID                         Name           Membership  Status  Availability  Role"
check "list-nodes --details shows ACCEPTED READY ACTIVE" \
  bash -c "printf '%s\n' \"\$1\" | grep -Eq '^[0-9a-z]{25}  bootstrap      ACCEPTED    READY   ACTIVE        CONTROL NODE \\(Current Leader\\)$'" _ "$OUT"

run "$T" env --traefikeesocket="$SOCK"
check "env prints CONTROL_NODE_TOKEN=\"...\"" bash -c "printf '%s\n' \"\$1\" | grep -Eq '^CONTROL_NODE_TOKEN=\"TEE1-C-[0-9a-f]{64}-[a-z2-7]{32}\"$'" _ "$OUT"
check "env prints DATA_NODE_TOKEN=\"...\"" bash -c "printf '%s\n' \"\$1\" | grep -Eq '^DATA_NODE_TOKEN=\"TEE1-D-[0-9a-f]{64}-[a-z2-7]{32}\"$'" _ "$OUT"
TOKEN=$("$T" env --traefikeesocket="$SOCK" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
check "the seed's grep | cut pipeline extracts the token" bash -c "[[ \$1 =~ ^TEE1-C-[0-9a-f]{64}-[a-z2-7]{32}$ ]]" _ "$TOKEN"

check "the local socket is mode 0600" [ "$(stat -c %a "$SOCK")" = 600 ]
check "admin.key written with mode 0600" [ "$(stat -c %a "$D/creds/admin.key")" = 600 ]
check "admin.pem and ca.pem written" [ -s "$D/creds/admin.pem" -a -s "$D/creds/ca.pem" ]
check "the credentials directory is 0700" [ "$(stat -c %a "$D/creds")" = 700 ]
check "the node key in the state directory is 0600" [ "$(stat -c %a "$D/state/node.key")" = 600 ]

# The control API answers mutual TLS with the admin credentials, and refuses no certificate.
run curl -s --max-time 5 --cacert "$D/creds/ca.pem" --cert "$D/creds/admin.pem" \
  --key "$D/creds/admin.key" "https://$CAPI/nodes"
check "GET /nodes over mTLS with the admin certificate" has "$OUT" '"name":"bootstrap"'
run curl -s --max-time 5 --cacert "$D/creds/ca.pem" "https://$CAPI/nodes"
check "the control API refuses a client without a certificate during the handshake" \
  [ "$RC" -ne 0 ] && [ -z "$OUT" ]

# A second bootstrap over the same state directory is refused, clearly.
run "$T" bootstrap --licensekey=K --statedir="$D/state" --traefikeesocket="$D/x.sock" \
  --listen=127.0.0.1:$((BASE + 5)) --advertise=127.0.0.1:$((BASE + 5)) \
  --controlapi.listen=127.0.0.1:$((BASE + 6)) --mtlscertsoutputdir="$D/creds2"
check "bootstrap on a state directory in use exits 1" [ "$RC" -eq 1 ]
check "... saying the directory is in use" has "$ERR" "in use by another node process"

kill -TERM "$BOOT"
if wait_for 10 gone "$BOOT"; then ok "SIGTERM stops the bootstrap node"; else not_ok "SIGTERM stops the bootstrap node"; fi
wait "$BOOT"; rc=$?
check "it exits 0 on SIGTERM" [ "$rc" -eq 0 ]
check "the socket is removed at exit" [ ! -e "$SOCK" ]

run "$T" bootstrap --licensekey=K "${node_flags[@]}" --mtlscertsoutputdir="$D/creds2"
check "bootstrap over an existing state directory exits 1" [ "$RC" -eq 1 ]
check "... and says how to restart the node instead" has "$ERR" "start-control-node --statedir=$D/state"
run "$T" bootstrap --licensekey=K --statedir="$D/state2" --traefikeesocket="$D/x.sock" \
  --listen=127.0.0.1:$((BASE + 5)) --advertise=127.0.0.1:$((BASE + 5)) \
  --controlapi.listen=127.0.0.1:$((BASE + 6)) --mtlscertsoutputdir="$D/creds"
check "bootstrap refuses to overwrite admin credentials" [ "$RC" -eq 1 ]
check "... saying they are written once" has "$ERR" "written once per cluster"

# Restart from the state directory: no token, same node, same tokens.
spawn env -u CONTROL_NODE_TOKEN "$T" start-control-node "${node_flags[@]}" >"$D/restart.log" 2>&1
if wait_for 20 leader_is; then ok "start-control-node resumes from the state directory"; else not_ok "start-control-node resumes from the state directory"; cat "$D/restart.log"; fi
run "$T" list-nodes --traefikeesocket="$SOCK"
check "the resumed node is still the only node and leader" [ "$OUT" = "$expect" ]
T2=$("$T" env --traefikeesocket="$SOCK" | grep 'CONTROL_NODE_TOKEN' | cut -d '"' -f2)
check "the tokens survive the restart" [ "$T2" = "$TOKEN" ]
finish
