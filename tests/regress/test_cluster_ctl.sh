#!/usr/bin/env bash
# Stage 4: remote administration. `traefikeectl connect` copies the admin
# credentials to $HOME/.config/traefikee/<clustername> (as the seed shows);
# traefikeectl list-nodes / deploy / backup / rm-node work over mutual TLS;
# traefikee backup writes YYYY-MM-DDTHHMMSS_traefikee-backup.tar; update-license
# is committed; a backup restores into a new cluster with the same tokens.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
C="$BIN/traefikeectl"
D="$REGRESS_TMP"
BASE=$(pick_base)
CAPI=127.0.0.1:$((BASE + 30))
export HOME="$D/home"
mkdir -p "$HOME"

flags() {
  echo --statedir="$D/s$1" --traefikeesocket="$D/s$1.sock" --listen=127.0.0.1:$((BASE + 10 + $1)) \
    --advertise=127.0.0.1:$((BASE + 10 + $1)) --controlapi.listen=127.0.0.1:$((BASE + 30 + $1)) --name="$2"
}
nodes() { "$T" list-nodes --details --traefikeesocket="$D/s$1.sock" 2>/dev/null; }
has_n() { [ "$(nodes "$1" | grep -c "$2")" -eq "$3" ]; }

# shellcheck disable=SC2046
spawn "$T" bootstrap --licensekey=first-key --status.downafter=2 $(flags 0 control-node-1) \
  --mtlscertsoutputdir="$D/creds" >"$D/c0.log" 2>&1
wait_for 20 has_n 0 "(Current Leader)" 1 || not_ok "bootstrap leads"
DATA_NODE_TOKEN=$("$T" env --traefikeesocket="$D/s0.sock" | grep 'DATA_NODE_TOKEN' | cut -d '"' -f2)
spawn "$T" start-data-node --peeraddresses=127.0.0.1:$((BASE + 10)) --token="$DATA_NODE_TOKEN" \
  --statedir="$D/d1" --name=data-node-1 >"$D/d1.log" 2>&1
DN=$SPAWNED
wait_for 20 has_n 0 "data-node-1     ACCEPTED    READY" 1 || not_ok "data node READY"

run "$C" list-nodes
check "traefikeectl before connect fails (exit 1)" [ "$RC" -eq 1 ]
check "... and says to connect first" has "$ERR" "traefikeectl connect"

run "$C" connect --onpremise.mtlscertsdir="$D/creds" --onpremise.apiaddress="$CAPI"
check "traefikeectl connect exits 0" [ "$RC" -eq 0 ]
check "... prints the seed's lines" has "$OUT" $'Retrieving TraefikEE Control credentials...ok\nRemoving cluster credentials from platform...ok'
check "... naming where they are saved" has "$OUT" "Credentials saved in \"$HOME/.config/traefikee/traefikee\""
check "... and that access works" has "$OUT" "Successfuly gained access to the cluster"
check "the saved key is mode 0600" [ "$(stat -c %a "$HOME/.config/traefikee/traefikee/admin.key")" = 600 ]
check "the saved address is in config.json" grep -q "$CAPI" "$HOME/.config/traefikee/traefikee/config.json"

run "$C" list-nodes
expect=$'Name                        Role              Leader\n----                        ----              ------\ncontrol-node-1              Control Node      YES\ndata-node-1                 Data Node'
check "traefikeectl list-nodes prints the seed's table over mTLS" [ "$OUT" = "$expect" ]
run "$C" list-nodes --clustername=other
check "another --clustername has no credentials (exit 1)" [ "$RC" -eq 1 ]

run "$C" deploy --entryPoints="Name:http Address:127.0.0.1:$((BASE + 80))" --defaultentrypoints=http
check "traefikeectl deploy exits 0" [ "$RC" -eq 0 ]
printf '[entryPoints.http]\naddress = "127.0.0.1:%s"\n[entryPoints.web]\naddress = "127.0.0.1:%s"\n' \
  $((BASE + 80)) $((BASE + 82)) >"$D/traefik.toml"
run "$C" deploy --configfile="$D/traefik.toml" --defaultentrypoints=http
check "traefikeectl deploy --configfile exits 0" [ "$RC" -eq 0 ]
web_listens() { [ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$((BASE + 82))/")" = 404 ]; }
check "... the data node listens on the file's second entry point (404: no route yet)" wait_for 20 web_listens
run "$C" update-node data-node-1 --availability=pause
check "traefikeectl update-node --availability=pause exits 0" [ "$RC" -eq 0 ]
check "... list-nodes --details shows PAUSE" wait_for 5 has_n 0 "data-node-1     ACCEPTED    READY   PAUSE" 1
run "$C" update-node data-node-1 --availability=active
check "... and back to ACTIVE" wait_for 5 has_n 0 "data-node-1     ACCEPTED    READY   ACTIVE" 1

run "$T" update-license --traefikeesocket="$D/s0.sock" --licensekey=second-key
check "update-license exits 0" [ "$RC" -eq 0 ]

run "$T" backup --traefikeesocket="$D/s0.sock" --outputdir="$D"
check "traefikee backup exits 0" [ "$RC" -eq 0 ]
ARCH=$OUT
check "the archive is named YYYY-MM-DDTHHMMSS_traefikee-backup.tar" \
  bash -c "[[ \$(basename \"\$1\") =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{6}_traefikee-backup\.tar$ ]]" _ "$ARCH"
check "the archive is a tar with the manifest and the CA" bash -c "tar tf '$ARCH' | grep -q manifest.json && tar tf '$ARCH' | grep -q ca.key"
check "the archive holds the updated license" bash -c "tar xOf '$ARCH' license.txt | grep -q second-key"
check "the archive is mode 0600" [ "$(stat -c %a "$ARCH")" = 600 ]
mkdir -p "$D/ctlbk"
run "$C" backup --outputdir="$D/ctlbk"
check "traefikeectl backup writes an archive too" bash -c "ls '$D/ctlbk' | grep -q '_traefikee-backup.tar$'"

# logs: the control node's recent lines over mTLS, filtered by level, and followed.
run "$C" logs
check "traefikeectl logs exits 0 with the control node's lines" \
  bash -c '[ "$0" -eq 0 ] && grep -q "msg=\"control node started\"" <<<"$1"' "$RC" "$OUT"
same_lines() { # every line logs printed is a line of the node's stderr
  local line
  while IFS= read -r line; do grep -qxF -- "$line" "$D/c0.log" || return 1; done <<<"$OUT"
}
check "... the very lines its stderr got ($(grep -c . <<<"$OUT") lines)" same_lines
run "$C" logs --level=warn
check "logs --level=warn leaves out info lines" bash -c '[ "$0" -eq 0 ] && ! grep -q "level=info" <<<"$1"' "$RC" "$OUT"
run "$C" logs --level=loud
check "logs --level=loud is refused (exit 2)" [ "$RC" -eq 2 ]
run "$T" logs --traefikeesocket="$D/s0.sock" --level=info
check "traefikee logs over the local socket too" has "$OUT" 'msg="control node started"'
"$C" logs --follow --level=info >"$D/follow.out" 2>&1 &
FOLLOW=$!
REGRESS_PIDS+=("$FOLLOW")
sleep 1
N0=$(grep -c . "$D/follow.out")
run "$C" deploy --entryPoints="Name:http Address:127.0.0.1:$((BASE + 81))" --defaultentrypoints=http
new_line() { [ "$(grep -c . "$D/follow.out")" -gt "$N0" ]; }
check "logs --follow prints the lines logged after it started" wait_for 10 new_line
check "... and is still running" kill -0 "$FOLLOW"
# At most 8 readers at once (CTL_LOG_READERS): with 8 following, a 9th is refused; one fewer
# and it is served.
FOLLOWERS=("$FOLLOW")
for _ in 1 2 3 4 5 6 7; do
  "$C" logs --follow >/dev/null 2>&1 &
  FOLLOWERS+=($!)
  REGRESS_PIDS+=($!)
done
sleep 1
run "$C" logs
check "a 9th log reader is refused (exit 1, naming the cap)" \
  bash -c '[ "$0" -eq 1 ] && grep -q "8 log readers already" <<<"$1"' "$RC" "$ERR"
kill "${FOLLOWERS[0]}" 2>/dev/null
wait "${FOLLOWERS[0]}" 2>/dev/null
eighth() { "$C" logs >/dev/null 2>&1; }
check "... with one reader gone, an 8th is served" wait_for 5 eighth
for p in "${FOLLOWERS[@]}"; do kill "$p" 2>/dev/null; done

DID=$(nodes 0 | awk '/data-node-1/ {print $1}')
run "$T" rm-node --traefikeesocket="$D/s0.sock" data-node-1
check "rm-node of a READY node without --force is refused" [ "$RC" -eq 1 ]
check "... saying so" has "$ERR" "is READY"
kill -TERM "$DN"; wait_for 15 gone "$DN"
wait_for 15 has_n 0 "data-node-1     ACCEPTED    DOWN" 1 || not_ok "stopped data node shows DOWN"
run "$C" rm-node data-node-1
check "traefikeectl rm-node of a DOWN node exits 0" [ "$RC" -eq 0 ]
check "the node is gone from list-nodes" bash -c "! '$T' list-nodes --traefikeesocket='$D/s0.sock' | grep -q data-node-1"
spawn "$T" start-data-node --statedir="$D/d1" --name=data-node-1 >"$D/d1b.log" 2>&1
check_refused() { grep -q "refused a revoked certificate.*node=$DID" "$D/c0.log"; }
if wait_for 15 check_refused; then ok "the removed data node's certificate is refused"; else not_ok "the removed data node's certificate is refused"; cat "$D/d1b.log"; fi

# Restore the archive into a new cluster: same tokens, same license, same deployment.
TOK=$("$T" env --traefikeesocket="$D/s0.sock")
# shellcheck disable=SC2046
spawn "$T" bootstrap --archivepath="$ARCH" $(flags 5 restored) --mtlscertsoutputdir="$D/creds5" >"$D/c5.log" 2>&1
if wait_for 20 has_n 5 "(Current Leader)" 1; then ok "bootstrap --archivepath restores a cluster"; else not_ok "bootstrap --archivepath restores a cluster"; cat "$D/c5.log"; fi
run "$T" env --traefikeesocket="$D/s5.sock"
check "the restored cluster has the same join tokens" [ "$OUT" = "$TOK" ]
run curl -s --unix-socket "$D/s5.sock" http://node/status
check "... and the deployed configuration" has "$OUT" '"deployed":true'
finish
