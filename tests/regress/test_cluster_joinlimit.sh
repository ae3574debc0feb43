#!/usr/bin/env bash
# The limit on failed joins per source address (node_joinlimit.h), against two control nodes
# on loopback with TRAEFIKEE_JOIN_LIMIT=3/5 (3 failed attempts in a burst, one more every 5 s).
# Checked: joins sent to the follower are counted there by the client's address (127.0.0.3)
# and not by the leader under the follower's; then, at the leader: three data nodes joining with a wrong token are refused with the
# usual "token is not valid"; the control node logs the address once when it runs out; a
# fourth POST /join from 127.0.0.1 is answered 429 with Retry-After and a JSON error naming
# the address, without the token being looked at; 127.0.0.2 (curl --interface) still has its
# own three attempts and is then limited on its own; a fourth data node with the wrong token
# prints the rate-limit message, waits the Retry-After (no hammering) and is then refused for
# its token; a data node with the RIGHT token from the limited address is refused with 429
# too (the limit is per address, not per token), says so, and joins after the wait; the
# address is still logged only once. Last, with a 120 s refill on another cluster, a joiner
# facing a wait past its minute gives up at once and says how long to wait.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"
BASE=$(pick_base)
SOCK="$D/s0.sock"
JOIN=127.0.0.1:$((BASE + 10))

TRAEFIKEE_JOIN_LIMIT=3/5 spawn "$T" bootstrap --licensekey=K --statedir="$D/s0" \
  --traefikeesocket="$SOCK" --listen="$JOIN" --advertise="$JOIN" \
  --controlapi.listen=127.0.0.1:$((BASE + 30)) --name=control-node-0 \
  --mtlscertsoutputdir="$D/creds" >>"$D/c0.log" 2>&1
leads() { "$T" list-nodes --traefikeesocket="$SOCK" 2>/dev/null | grep -q "(Current Leader)"; }
wait_for 20 leads || { not_ok "the bootstrap node leads"; tail -n 5 "$D/c0.log"; finish; }
tok() { "$T" env --traefikeesocket="$SOCK" | grep "$1" | cut -d '"' -f2; }
DATA=$(tok DATA_NODE_TOKEN)
CTL=$(tok CONTROL_NODE_TOKEN)
# The right CA pin and a well-formed secret that is not the data token's: the control one's.
WRONG="${DATA%-*}-${CTL##*-}"
check "the test has a right and a wrong data token" \
  bash -c '[ -n "$0" ] && [ "$0" != "$1" ] && [ "${#0}" = "${#1}" ]' "$DATA" "$WRONG"

# 0. A follower limits the joins it passes on by the client's address, and the leader does not
# count them under the follower's: a second control node, then three joins with a nonce the
# cluster never issued sent to it from 127.0.0.3 (the follower counts each, the leader answers
# 403 through it), and a fourth refused by the follower itself.
TRAEFIKEE_JOIN_LIMIT=3/5 CONTROL_NODE_TOKEN="$CTL" spawn "$T" start-control-node \
  --peeraddresses="$JOIN" --statedir="$D/s1" --traefikeesocket="$D/s1.sock" \
  --listen=127.0.0.1:$((BASE + 11)) --advertise=127.0.0.1:$((BASE + 11)) \
  --controlapi.listen=127.0.0.1:$((BASE + 31)) --name=control-node-1 >>"$D/c1.log" 2>&1
follows() {
  "$T" list-nodes --traefikeesocket="$D/s1.sock" 2>/dev/null | grep "(Current Leader)" | grep -q control-node-0
}
check "a second control node joins and follows control-node-0" wait_for 30 follows
FORGED="{\"role\":\"data\",\"name\":\"forged\",\"advertise\":\"127.0.0.1:1\",\"pub\":\"04$(printf '0%.0s' $(seq 128))\",\"nonce\":\"$(printf '0%.0s' $(seq 64))\",\"proof\":\"$(printf '0%.0s' $(seq 64))\"}"
post_follower() {
  CODE=$(curl -sk --interface 127.0.0.3 -o "$D/b" -D "$D/h" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data "$FORGED" "https://127.0.0.1:$((BASE + 11))/join")
}
for i in 1 2 3; do
  post_follower
  check "forged join $i through the follower: the leader's 403, passed on" \
    bash -c '[ "$0" = 403 ] && grep -q "join challenge not issued by this cluster" "$1"' "$CODE" "$D/b"
done
post_follower
check "the fourth is refused by the follower: 429 for 127.0.0.3 with Retry-After" \
  bash -c '[ "$0" = 429 ] && grep -qi "^retry-after: [1-5]" "$1" &&
    grep -q "127.0.0.3 made too many failed join attempts (3)" "$2"' "$CODE" "$D/h" "$D/b"
check "... logged by the follower for 127.0.0.3" grep -q "join attempts limited.*addr=127.0.0.3 failures=3 " "$D/c1.log"
check "the leader counted none of the joins passed on" bash -c '! grep -q "join attempts limited" "$0"' "$D/c0.log"

join_once() { # join_once NAME TOKEN: a data node in the foreground (it exits when refused)
  run timeout 40 env DATA_NODE_TOKEN="$2" "$T" start-data-node --peeraddresses="$JOIN" \
    --statedir="$D/$1" --name="$1"
}
limit_lines() { grep -c "join attempts limited: too many failed joins.*addr=$1 " "$D/c0.log"; }
post_join() { # post_join SRC: POST /join {} from SRC; "$CODE", headers in $D/h, body in $D/b
  CODE=$(curl -sk --interface "$1" -o "$D/b" -D "$D/h" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data '{}' "https://$JOIN/join")
}

# 1. The burst: three wrong-token joins, each refused for the token, no rate limit yet.
for i in 1 2 3; do
  join_once "wrong-$i" "$WRONG"
  check "wrong-token join $i is refused for its token" \
    bash -c '[ "$0" -eq 1 ] && grep -q "the join token is not valid for a data node" <<<"$1" &&
      ! grep -q "too many failed join attempts" <<<"$1"' "$RC" "$OUT$ERR"
done
check "the control node said (at the first join) that the test-only limit is in effect" \
  grep -q "join limit set by TRAEFIKEE_JOIN_LIMIT.*burst=3 refill=5s" "$D/c0.log"
check "the control node logged 127.0.0.1 once, with the count" \
  bash -c '[ "$(grep -c "join attempts limited.*addr=127.0.0.1 failures=3 " "$0")" -eq 1 ]' "$D/c0.log"

# 2. Out of attempts: 429, Retry-After, the reason and the wait; the token is not looked at
# (no new "bad token proof" line).
BAD=$(grep -c "join refused: bad token proof" "$D/c0.log")
post_join 127.0.0.1
RA=$(awk 'tolower($1) == "retry-after:" {print $2 + 0}' "$D/h")
check "POST /join from the limited address: 429" [ "$CODE" = 429 ]
check "... with Retry-After between 1 and 5 s" bash -c '[ "${0:-0}" -ge 1 ] && [ "$0" -le 5 ]' "$RA"
check "... and a JSON error naming the address and the wait" \
  bash -c 'grep -q "\"error\":\"127.0.0.1 made too many failed join attempts (3); retry in $1 s\"" "$0" &&
    grep -q "\"retryAfterSeconds\":$1" "$0"' "$D/b" "$RA"
check "... without checking anything" [ "$(grep -c "join refused: bad token proof" "$D/c0.log")" = "$BAD" ]

# 3. Another loopback address has its own budget: three malformed joins answered 400 (counted
# as failures), the fourth limited, logged for 127.0.0.2 alone.
for i in 1 2 3; do
  post_join 127.0.0.2
  check "127.0.0.2 attempt $i is answered for itself (400), not limited" [ "$CODE" = 400 ]
done
post_join 127.0.0.2
check "127.0.0.2's fourth attempt is limited (429)" [ "$CODE" = 429 ]
check "... and logged once for 127.0.0.2" [ "$(limit_lines 127.0.0.2)" = 1 ]

# 4. A joiner that meets the limit says so, waits the Retry-After, and only then asks again.
T0=$SECONDS
join_once wrong-4 "$WRONG"
EL=$((SECONDS - T0))
W=$(grep -o "too many failed join attempts from this address.*wait=[0-9]*s" <<<"$ERR" | grep -o "wait=[0-9]*" | cut -d= -f2 | head -n 1)
check "a wrong-token joiner prints the rate-limit message with the wait" \
  bash -c '[ -n "$0" ] && [ "$0" -ge 1 ] && [ "$0" -le 5 ]' "$W"
check "... waits for it (${EL}s >= ${W:-?}s - 1), then is refused for its token (exit 1)" \
  bash -c '[ "$0" -ge $(($1 - 1)) ] && [ "$2" -eq 1 ] &&
    grep -q "the join token is not valid for a data node" <<<"$3"' "$EL" "${W:-99}" "$RC" "$ERR"
check "... and met the limit once: it did not ask again before the wait was over" \
  [ "$(grep -c "join refused for now: too many failed join attempts" <<<"$ERR")" = 1 ]

# 5. The right token from the limited address: refused with 429 as well (the limit is per
# address), then joined after the wait.
DATA_NODE_TOKEN="$DATA" spawn "$T" start-data-node --peeraddresses="$JOIN" \
  --statedir="$D/good" --name=good >>"$D/good.log" 2>&1
GOOD=$SPAWNED
joined() { grep -q "joined the cluster" "$D/good.log"; }
check "a right-token joiner from the limited address joins after the wait" wait_for 20 joined
check "... having been told to wait first" \
  bash -c 'grep -q "join refused for now: too many failed join attempts from this address.*wait=" "$0"' "$D/good.log"
ready() { "$T" list-nodes --details --traefikeesocket="$SOCK" 2>/dev/null | grep good | grep -q READY; }
check "... and is READY" wait_for 20 ready
check "127.0.0.1 was logged once in all" [ "$(limit_lines 127.0.0.1)" = 1 ]
kill "$GOOD" 2>/dev/null

# 6. A wait past the joiner's minute: it gives up at once, saying how long to wait (another
# cluster, TRAEFIKEE_JOIN_LIMIT=1/120).
J9=127.0.0.1:$((BASE + 50))
TRAEFIKEE_JOIN_LIMIT=1/120 spawn "$T" bootstrap --licensekey=K --statedir="$D/s9" \
  --traefikeesocket="$D/s9.sock" --listen="$J9" --advertise="$J9" \
  --controlapi.listen=127.0.0.1:$((BASE + 51)) --name=control-node-9 \
  --mtlscertsoutputdir="$D/creds9" >>"$D/c9.log" 2>&1
leads9() { "$T" list-nodes --traefikeesocket="$D/s9.sock" 2>/dev/null | grep -q "(Current Leader)"; }
wait_for 20 leads9 || { not_ok "the second bootstrap node leads"; tail -n 3 "$D/c9.log"; finish; }
D9=$("$T" env --traefikeesocket="$D/s9.sock" | grep DATA_NODE_TOKEN | cut -d '"' -f2)
W9="${D9%-*}-${CTL##*-}"
JOIN=$J9 join_once w9-1 "$W9"
check "one wrong-token join to a 1/120 cluster is refused for its token" \
  bash -c '[ "$0" -eq 1 ] && grep -q "the join token is not valid" <<<"$1"' "$RC" "$ERR"
T0=$SECONDS
JOIN=$J9 join_once w9-2 "$W9"
check "the next one gives up at once (exit 1, $((SECONDS - T0)) s), saying how long to wait" \
  bash -c '[ "$0" -eq 1 ] && [ "$1" -le 5 ] &&
    grep -q "refuse joins from this address for now, .*(check the token); try again in 1[0-2][0-9] s (last answer: .*made too many failed join attempts (1)" <<<"$2"' \
  "$RC" "$((SECONDS - T0))" "$ERR"

finish
