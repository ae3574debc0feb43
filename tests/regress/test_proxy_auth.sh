#!/usr/bin/env bash
# Authentication through the static binary (docs/internals/proxy-auth.md):
# `traefikee start-data-node --standalone=FILE --workers=2` with basic auth (htpasswd MD5, SHA-1
# and bcrypt lines, removeHeader, headerField) on a frontend and on an entry point, digest auth
# answered by curl --digest (nonces shared by both workers: each request is a new connection,
# so both workers see them), forward auth to an unreachable server (500), and a document with a bad hash
# refused at start.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

free_ports() {
  python3 -c '
import socket, sys
ss = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

spawn python3 "$UP" --name=s1 >"$D/s1.out" 2>&1
for _ in $(seq 100); do
  S1=$(awk '/^PORT /{print $2; exit}' "$D/s1.out" 2>/dev/null)
  [ -n "$S1" ] && break
  sleep 0.1
done
[ -n "${S1:-}" ] || { not_ok "upstream starts"; finish; }
read -r WEB EPA <<<"$(free_ports 2)"

# Users (generated with Debian's htpasswd / htdigest): alice:secret1 ($apr1$), carol:hunter2
# ({SHA}), dave:"correct horse" (bcrypt cost 4), dora:digestpw (digest, realm traefik).
cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["web"],
  "entryPoints": {
    "web": { "address": "127.0.0.1:$WEB" },
    "epa": { "address": "127.0.0.1:$EPA",
             "auth": { "basic": { "users": ["carol:{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0="] } } }
  },
  "frontends": {
    "open":  { "entryPoints": ["web", "epa"], "backend": "a", "routes": { "r": { "rule": "PathPrefix:/open" } } },
    "basic": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/basic" } },
               "auth": { "basic": { "users": [
                   "alice:\$apr1\$PlLBqpSq\$UjqndTPAicz8OrJ.bgLB00",
                   "dave:\$2y\$04\$gxceeQUJiv.Kw0Y.gDmoc.JMoy3233xQdMbFiGTzAqPgmnwUXuuqW"],
                 "removeHeader": true }, "headerField": "X-WebAuth-User" } },
    "digest": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/digest" } },
               "auth": { "digest": { "users": ["dora:traefik:0bf25fb6d80091616f92df7cd3a24bf4"] },
                         "headerField": "X-WebAuth-User" } },
    "fwd":   { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/fwd" } },
               "auth": { "forward": { "address": "http://127.0.0.1:1/auth" } } }
  },
  "backends": { "a": { "servers": { "s1": { "url": "http://127.0.0.1:$S1" } } } }
}
EOF

ALOG="$D/access.log"
spawn "$T" start-data-node --standalone="$D/doc.json" --workers=2 \
  --accesslog.filepath="$ALOG" >"$D/tee.out" 2>&1
for _ in $(seq 100); do
  curl -s -o /dev/null -m 1 "http://127.0.0.1:$WEB/open" && break
  sleep 0.1
done

# req PORT PATH [CURL ARGS...]: CODE, BODY (upstream echo), headers in $D/hdrs.
req() {
  local port=$1 path=$2; shift 2
  CODE=$(curl -s -m 10 -o "$D/body" -D "$D/hdrs.raw" -w '%{http_code}' "$@" \
    "http://127.0.0.1:$port$path")
  tr -d '\r' <"$D/hdrs.raw" >"$D/hdrs"
  BODY=$(cat "$D/body")
}
hdr() { awk -v n="$1" 'BEGIN{IGNORECASE=1} tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}' "$D/hdrs"; }
seen() { grep -io "\[\"$1\", \"[^\"]*\"\]" "$D/body" | sed 's/.*", "\(.*\)"\]$/\1/'; }

req "$WEB" /basic/x
check "basic: no credentials -> 401 with Basic realm=\"traefik\"" \
  test "$CODE" = 401 -a "$(hdr WWW-Authenticate)" = 'Basic realm="traefik"'
req "$WEB" /basic/x -u alice:wrong
check "basic: wrong password -> 401" test "$CODE" = 401
req "$WEB" /basic/x -u mallory:secret1
check "basic: unknown user -> 401" test "$CODE" = 401
req "$WEB" /basic/x -H 'Authorization: Basic !!!notbase64'
check "basic: malformed credentials -> 401" test "$CODE" = 401
req "$WEB" /basic/x -u alice:secret1 -H 'X-WebAuth-User: root'
check "basic \$apr1\$: 200, X-WebAuth-User=alice upstream, client's copy dropped" \
  test "$CODE" = 200 -a "$(seen X-WebAuth-User)" = alice
check "basic removeHeader: no Authorization upstream" test -z "$(seen Authorization)"
req "$WEB" /basic/x -u 'dave:correct horse'
check "basic bcrypt: 200 as dave" test "$CODE" = 200 -a "$(seen X-WebAuth-User)" = dave
# Keep-alive: ten requests on one connection (the bcrypt result is cached after the first).
CODES=$(curl -s -m 20 -w '%{http_code} %{num_connects}\n' -u 'dave:correct horse' \
  $(for i in $(seq 10); do printf -- '-o /dev/null http://127.0.0.1:%s/basic/k%s ' "$WEB" "$i"; done) |
  sort | uniq -c)
check "basic bcrypt: 10 requests on one keep-alive connection all 200 ($(echo $CODES))" \
  test "$(echo $CODES)" = "9 200 0 1 200 1"

req "$WEB" /digest/x
check "digest: no credentials -> 401 Digest challenge" \
  has "$(hdr WWW-Authenticate)" 'Digest realm="traefik", nonce="'
ok=0
for i in 1 2 3 4 5 6; do
  req "$WEB" "/digest/x?i=$i" --digest -u dora:digestpw
  [ "$CODE" = 200 ] && [ "$(seen X-WebAuth-User)" = dora ] && ok=$((ok + 1))
done
check "digest: curl --digest round trips 6/6 across two workers (got $ok)" test "$ok" = 6
req "$WEB" /digest/x --digest -u dora:wrong
check "digest: wrong password -> 401" test "$CODE" = 401

req "$WEB" /fwd/x -u alice:secret1
check "forward auth: auth server unreachable -> 500 (test_proxy_fwdauth.sh has the rest)" \
  test "$CODE" = 500

req "$EPA" /open/x
check "entry point basic auth: 401 without credentials" test "$CODE" = 401
req "$EPA" /open/x -u carol:hunter2
check "entry point basic auth {SHA}: 200, Authorization kept (no removeHeader)" \
  test "$CODE" = 200 -a -n "$(seen Authorization)"
req "$WEB" /open/x
check "same frontend on the entry point without auth: 200" test "$CODE" = 200

sleep 0.5
check "access log names the authenticated user" grep -q ' alice \[' "$ALOG"

# A bad hash rejects the document at start, naming the key.
sed 's/PlLBqpSq\$UjqndTPAicz8OrJ.bgLB00/x$y/' "$D/doc.json" >"$D/bad.json"
run timeout 10 "$T" start-data-node --standalone="$D/bad.json"
check "bad hash: start fails (status $RC) naming frontends.basic.auth.basic.users[0]" \
  test "$RC" != 0 -a "$(printf '%s' "$ERR$OUT" | grep -c 'frontends.basic.auth.basic.users\[0\]')" -ge 1
finish
