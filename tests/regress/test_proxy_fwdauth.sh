#!/usr/bin/env bash
# Forward authentication through the static binary (docs/internals/proxy-auth.md, "Forward
# auth"): `traefikee start-data-node --standalone=FILE --limit max_forward_auth=1` in front of
# tests/regress/proxy_upstream.py (the backend, which echoes what it got) and
# tests/regress/proxy_fwdauth_server.py (the auth server, which logs every auth request).
# Allowed requests with authResponseHeaders (a forged copy replaced), 401 and 302 denials
# relayed as the auth server wrote them (the backend sees nothing), X-Forwarded-* with
# trustForwardHeader false and true, the auth server down / closing / answering garbage /
# too much / too late (500), the max_forward_auth cap (503) and recovery, a POST body after
# the auth round trip, keep-alive, an entry point forward auth, a reload with an auth
# request in flight, and the access log.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
FA="$REGRESS_TOP/tests/regress/proxy_fwdauth_server.py"
D="$REGRESS_TMP"

# ---- certificates for the https auth server (ECDSA P-256)
C="$D/certs"
mkdir -p "$C"
mkca() { # NAME CN
  openssl ecparam -genkey -name prime256v1 -noout -out "$C/$1.key" 2>/dev/null &&
    openssl req -x509 -new -key "$C/$1.key" -subj "/CN=$2" -days 30 -out "$C/$1.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
}
mkleaf() { # NAME CN SAN CA
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/$1.key" 2>/dev/null &&
    openssl req -new -key "$C/$1.key" -subj "/CN=$2" -out "$C/$1.csr" 2>/dev/null &&
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$C/$1.ext" &&
    openssl x509 -req -in "$C/$1.csr" -CA "$C/$4.pem" -CAkey "$C/$4.key" -CAcreateserial \
      -days 30 -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null
}
mkca ca "Fwd CA" && mkca otherca "Other CA" &&
  mkleaf srv localhost "DNS:localhost,IP:127.0.0.1" ca && mkleaf cli proxy-client "DNS:proxy.test" ca ||
  { not_ok "openssl made the certificates"; finish; }
jstr() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
CA_J=$(jstr "$C/ca.pem") OTHER_J=$(jstr "$C/otherca.pem")
CLI_J=$(jstr "$C/cli.pem") CLIK_J=$(jstr "$C/cli.key")

spawn python3 "$UP" --name=s1 >"$D/s1.out" 2>&1
spawn python3 "$FA" --log="$D/fa.log" >"$D/fa.out" 2>&1
spawn python3 "$FA" --log="$D/fat.log" --tls-cert="$C/srv.pem" --tls-key="$C/srv.key" \
  --client-ca="$C/ca.pem" >"$D/fat.out" 2>&1
S1=$(upstream_port s1) || { not_ok "backend starts"; finish; }
A=$(upstream_port fa) || { not_ok "auth server starts"; finish; }
AT=$(upstream_port fat) || { not_ok "https auth server starts"; finish; }
read -r WEB EPF DEAD <<<"$(free_ports 3)"

write_doc() { # write_doc REVISION [EXTRA_FRONTEND_JSON]
  cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": $1,
  "defaultEntryPoints": ["web"],
  "entryPoints": {
    "web": { "address": "127.0.0.1:$WEB" },
    "epf": { "address": "127.0.0.1:$EPF",
             "auth": { "forward": { "address": "http://127.0.0.1:$A/auth",
                                    "authResponseHeaders": ["X-Auth-User"] } } }
  },
  "frontends": {
    "open":  { "entryPoints": ["web", "epf"], "backend": "a", "routes": { "r": { "rule": "PathPrefix:/open" } } },
    "fwd":   { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/fwd" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$A/auth",
                                      "authResponseHeaders": ["X-Auth-User", "X-Auth-Role"] } } },
    "trust": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/trust" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$A/auth", "trustForwardHeader": true } } },
    "slow":  { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/slow" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$A/slow?ms=1500",
                                      "authResponseHeaders": ["X-Auth-User"] } } },
    "hang":  { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/hang" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$A/hang" } } },
    "close": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/close" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$A/close" } } },
    "garbage": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/garbage" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$A/garbage" } } },
    "chunk": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/chunk" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$A/chunked401" } } },
    "big":   { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/big" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$A/big" } } },
    "down":  { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/down" } },
               "auth": { "forward": { "address": "http://127.0.0.1:$DEAD/auth" } } },
    "tlsip": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/tlsip" } },
               "auth": { "forward": { "address": "https://127.0.0.1:$AT/auth", "tls": { "ca": $CA_J },
                                      "authResponseHeaders": ["X-Auth-User"] } } },
    "tlsname": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/tlsname" } },
               "auth": { "forward": { "address": "https://localhost:$AT/auth",
                                      "tls": { "ca": $CA_J, "cert": $CLI_J, "key": $CLIK_J },
                                      "authResponseHeaders": ["X-Auth-User"] } } },
    "tlsinsecure": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/tlsinsecure" } },
               "auth": { "forward": { "address": "https://127.0.0.1:$AT/auth",
                                      "tls": { "insecureSkipVerify": true } } } },
    "tlswrongca": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/tlswrongca" } },
               "auth": { "forward": { "address": "https://127.0.0.1:$AT/auth", "tls": { "ca": $OTHER_J } } } },
    "tlsnoca": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/tlsnoca" } },
               "auth": { "forward": { "address": "https://127.0.0.1:$AT/auth" } } }${2:-}
  },
  "backends": { "a": { "servers": { "s1": { "url": "http://127.0.0.1:$S1" } } } }
}
EOF
}
write_doc 1

ALOG="$D/access.log"
spawn "$T" start-data-node --standalone="$D/doc.json" --limit max_forward_auth=1 \
  --limit response_header_timeout=2s --accesslog.filepath="$ALOG" >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 "http://127.0.0.1:$WEB/open" ||
  { not_ok "proxy starts"; cat "$D/tee.out"; finish; }

# req PATH [CURL ARGS...] (port WEB unless PORT is set): CODE, BODY, headers in $D/hdrs.
req() {
  local path=$1; shift
  CODE=$(curl -s -m 10 -o "$D/body" -D "$D/hdrs.raw" -w '%{http_code}' "$@" \
    "http://127.0.0.1:${PORT:-$WEB}$path")
  tr -d '\r' <"$D/hdrs.raw" >"$D/hdrs"
  BODY=$(cat "$D/body")
}
hdr() { awk -v n="$1" 'BEGIN{IGNORECASE=1} tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}' "$D/hdrs"; }
nhdr() { grep -ci "^$1:" "$D/hdrs"; }
# seen NAME: every value of NAME the backend got (one per line).
seen() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [print(v) for k,v in d["headers"] if k.lower()==sys.argv[2].lower()]' "$D/body" "$1" 2>/dev/null; }
# auth NAME: NAME's values in the auth server's last request (one per line); auth_path.
auth() { tail -n 1 "$D/fa.log" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); [print(v) for k,v in d["headers"] if k.lower()==sys.argv[1].lower()]' "$1"; }
auth_field() { tail -n 1 "$D/fa.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }
count() { curl -s -m 5 "http://127.0.0.1:$S1/_count"; }
nauth() { wc -l <"$D/fa.log" 2>/dev/null || echo 0; }

# ---- allowed ---------------------------------------------------------------------------------
req "/fwd/a?q=1" -H 'X-Token: good' -H 'X-Auth-User: mallory' -H 'X-Auth-Role: root'
check "allowed: 200 from the backend" test "$CODE" = 200 -a "$(hdr X-Upstream)" = s1
check "allowed: X-Auth-User copied from the auth answer, the forged copy replaced" \
  test "$(seen X-Auth-User)" = alice
check "allowed: X-Auth-Role copied, forged copy replaced" test "$(seen X-Auth-Role)" = admin
check "allowed: a field not in authResponseHeaders is not copied" test -z "$(seen X-Unlisted)"
check "allowed: client fields still reach the backend" test "$(seen X-Token)" = good
check "auth request: GET to the address path, Host of the address" \
  test "$(auth_field method)" = GET -a "$(auth_field path)" = /auth -a "$(auth Host)" = "127.0.0.1:$A"
check "auth request: client fields copied (X-Token, the forged X-Auth-User as sent)" \
  test "$(auth X-Token)" = good -a "$(auth X-Auth-User)" = mallory
check "auth request: X-Forwarded-Method/-Proto/-Host/-Uri/-For" \
  test "$(auth X-Forwarded-Method)" = GET -a "$(auth X-Forwarded-Proto)" = http -a \
  "$(auth X-Forwarded-Host)" = "127.0.0.1:$WEB" -a "$(auth X-Forwarded-Uri)" = "/fwd/a?q=1" -a \
  "$(auth X-Forwarded-For)" = 127.0.0.1
check "auth request: Connection: close, no Content-Length" \
  test "$(auth Connection)" = close -a -z "$(auth Content-Length)"

# ---- X-Forwarded-* and trustForwardHeader ----------------------------------------------------
XF=(-H 'X-Forwarded-For: 6.6.6.6' -H 'X-Forwarded-Host: evil.example' -H 'X-Forwarded-Uri: /evil'
  -H 'X-Forwarded-Method: PUT' -H 'X-Forwarded-Proto: https' -H 'X-Token: good')
req /fwd/xf "${XF[@]}"
check "trustForwardHeader false: incoming X-Forwarded-* replaced (For, Host, Uri, Method, Proto)" \
  test "$CODE" = 200 -a "$(auth X-Forwarded-For)" = 127.0.0.1 -a \
  "$(auth X-Forwarded-Host)" = "127.0.0.1:$WEB" -a "$(auth X-Forwarded-Uri)" = /fwd/xf -a \
  "$(auth X-Forwarded-Method)" = GET -a "$(auth X-Forwarded-Proto)" = http
check "trustForwardHeader false: one X-Forwarded-For only" test "$(auth X-Forwarded-For | wc -l)" = 1
req /trust/xf "${XF[@]}"
check "trustForwardHeader true: incoming values kept, For extended with the peer" \
  test "$CODE" = 200 -a "$(auth X-Forwarded-For)" = "6.6.6.6, 127.0.0.1" -a \
  "$(auth X-Forwarded-Host)" = evil.example -a "$(auth X-Forwarded-Uri)" = /evil -a \
  "$(auth X-Forwarded-Method)" = PUT -a "$(auth X-Forwarded-Proto)" = https

# ---- denied ----------------------------------------------------------------------------------
C0=$(count)
req /fwd/b
check "denied: 401 from the auth server" test "$CODE" = 401
check "denied: WWW-Authenticate and the auth server's fields relayed" \
  test "$(hdr WWW-Authenticate)" = 'Bearer realm="fwd"' -a "$(hdr X-Auth-Reason)" = "no token"
check "denied: the auth server's body relayed, with its length" \
  test "$BODY" = "denied by the auth server" -a "$(hdr Content-Length)" = 26
req /fwd/login/next -H 'Cookie: session=bad'
check "denied: 302 with Location relayed" \
  test "$CODE" = 302 -a "$(hdr Location)" = "https://login.example/?rd=/fwd/login/next"
check "denied: both Set-Cookie fields relayed" \
  test "$(nhdr Set-Cookie)" = 2 -a "$(grep -ci '^Set-Cookie: flow=xyz; HttpOnly' "$D/hdrs")" = 1
check "denied: hop-by-hop Keep-Alive of the auth answer not relayed" test "$(nhdr Keep-Alive)" = 0
check "denied: body of the 302 relayed" test "$BODY" = redirecting
req /chunk/x
check "denied: chunked 401 body de-chunked and relayed with Content-Length" \
  test "$CODE" = 401 -a "$BODY" = "chunked denial" -a "$(hdr Content-Length)" = 15
check "denied: the backend saw none of the denied requests" test "$(count)" = "$((C0 + 1))"

# ---- errors: 500 -----------------------------------------------------------------------------
C0=$(count)
req /down/x
check "auth server down: 500" test "$CODE" = 500
req /close/x
check "auth server closes without answering: 500" test "$CODE" = 500
req /garbage/x
check "auth server answers garbage: 500" test "$CODE" = 500
req /big/x
check "auth answer over the buffer: 500" test "$CODE" = 500
S=$SECONDS
req /hang/x
check "auth server timeout (response_header_timeout 2s): 500 after ~2 s" \
  test "$CODE" = 500 -a $((SECONDS - S)) -ge 1 -a $((SECONDS - S)) -le 6
check "errors: the backend saw none of them" test "$(count)" = "$((C0 + 1))"
check "errors are logged (unreachable, closed, timed out, over buf_size)" \
  bash -c "grep -q 'forward auth server unreachable' '$D/tee.out' &&
    grep -q 'closed without an answer' '$D/tee.out' && grep -q 'forward auth timed out' '$D/tee.out' &&
    grep -q 'over buf_size' '$D/tee.out'"

# ---- https auth server --------------------------------------------------------------------------
tauth() { tail -n 1 "$D/fat.log" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); [print(v) for k,v in d["headers"] if k.lower()==sys.argv[1].lower()]' "$1"; }
tpeer() { tail -n 1 "$D/fat.log" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get("peer_cn"))'; }
req /tlsip/x -H 'X-Token: good' -H 'X-Auth-User: mallory'
check "https (IP address, tls.ca): allowed, X-Auth-User from the auth server" \
  test "$CODE" = 200 -a "$(seen X-Auth-User)" = alice -a "$(tauth X-Forwarded-Uri)" = /tlsip/x
req /tlsip/y
check "https: 401 relayed" test "$CODE" = 401 -a "$(hdr WWW-Authenticate)" = 'Bearer realm="fwd"'
req /tlsname/x -H 'X-Token: good'
check "https (name, SNI localhost, tls.cert/key): allowed, the client certificate presented" \
  test "$CODE" = 200 -a "$(tauth Host)" = "localhost:$AT" -a "$(tpeer)" = proxy-client
req /tlsinsecure/x -H 'X-Token: good'
check "https insecureSkipVerify without a CA: allowed" test "$CODE" = 200
N0=$(wc -l <"$D/fat.log")
req /tlswrongca/x -H 'X-Token: good'
check "https with a CA that did not sign the server's certificate: 500, nothing sent" \
  test "$CODE" = 500 -a "$(wc -l <"$D/fat.log")" = "$N0"
req /tlsnoca/x -H 'X-Token: good'
check "https without tls.ca and not insecure: 500 (logged at load)" \
  test "$CODE" = 500 -a -n "$(grep 'without tls.ca' "$D/tee.out")"

# ---- max_forward_auth -----------------------------------------------------------------------
curl -s -m 10 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$WEB/slow/1" >"$D/c1" &
P1=$!
sleep 0.4
curl -s -m 10 -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$WEB/slow/2" >"$D/c2"
wait "$P1"
check "max_forward_auth=1: the first slow request passes, the concurrent one gets 503" \
  test "$(cat "$D/c1")" = 200 -a "$(cat "$D/c2")" = 503
check "max_forward_auth: the refusal is logged with the limit's name" \
  grep -q 'setting=max_forward_auth' "$D/tee.out"
req /slow/3
check "max_forward_auth: recovers once the sub-request is done" \
  test "$CODE" = 200 -a "$(seen X-Auth-User)" = slow

# ---- POST body after the auth round trip ---------------------------------------------------------
head -c 300000 /dev/urandom >"$D/post.bin"
SHA=$(sha256sum "$D/post.bin" | cut -d' ' -f1)
req /fwd/post -H 'X-Token: good' --data-binary @"$D/post.bin" -H 'Content-Type: application/octet-stream'
check "POST: 300 kB body reaches the backend intact after the auth round trip" \
  test "$CODE" = 200 -a "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["method"], d["body_len"], d["body_sha256"])' "$D/body")" = "POST 300000 $SHA"
check "POST: the auth request was a GET without body" \
  test "$(auth_field method)" = GET -a "$(auth X-Forwarded-Method)" = POST -a -z "$(auth Content-Length)"
req /fwd/post2 -H 'X-Token: good' --data 'a=1&b=2' -H 'Transfer-Encoding: chunked'
check "POST chunked: body reaches the backend" \
  test "$CODE" = 200 -a "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["body_len"])' "$D/body")" = 7
C0=$(count)
req /fwd/post3 --data-binary @"$D/post.bin"
check "POST denied before its body was read (Expect: 100-continue): 401 relayed, Connection: close" \
  test "$CODE" = 401 -a "$(hdr Connection)" = close -a "$(count)" = "$((C0 + 1))"
req /fwd/post4 --data 'secret=1'
check "POST denied with its small body read: 401, the connection stays open" \
  test "$CODE" = 401 -a -z "$(hdr Connection)"

# ---- keep-alive --------------------------------------------------------------------------------
N4=(-o /dev/null -o /dev/null -o /dev/null -o /dev/null)
OUT=$(curl -s -m 10 "${N4[@]}" -H 'Cookie: session=good' -w '%{http_code} %{num_connects}\n' \
  "http://127.0.0.1:$WEB/fwd/k1" "http://127.0.0.1:$WEB/fwd/k2" "http://127.0.0.1:$WEB/open/k3" \
  "http://127.0.0.1:$WEB/fwd/k4")
check "keep-alive: four requests (three through forward auth) on one connection" \
  test "$(echo "$OUT" | awk '{c=c $1 " "; n+=$2} END{print c n}')" = "200 200 200 200 1"
OUT=$(curl -s -m 10 "${N4[@]}" -w '%{http_code} %{num_connects}\n' \
  "http://127.0.0.1:$WEB/fwd/login/a" "http://127.0.0.1:$WEB/fwd/d1" "http://127.0.0.1:$WEB/open/d2")
check "keep-alive: denials (302, 401) keep the connection for the next request" \
  test "$(echo "$OUT" | awk '{c=c $1 " "; n+=$2} END{print c n}')" = "302 401 200 1"

# ---- entry point forward auth ------------------------------------------------------------------
PORT=$EPF req /open/ep -H 'X-Token: good' -H 'X-Auth-User: mallory'
check "entry point forward auth: allowed, X-Auth-User from the auth server" \
  test "$CODE" = 200 -a "$(seen X-Auth-User)" = alice
PORT=$EPF req /open/ep
check "entry point forward auth: denied 401 relayed" \
  test "$CODE" = 401 -a "$(hdr WWW-Authenticate)" = 'Bearer realm="fwd"'
PORT=$EPF req /nothing -H 'X-Token: good'
check "entry point forward auth runs before routing (allowed, then 404)" test "$CODE" = 404

# ---- reload with an auth request in flight ----------------------------------------------------------
N0=$(nauth)
curl -s -m 10 -o "$D/inflight" -w '%{http_code}\n' "http://127.0.0.1:$WEB/slow/inflight" >"$D/c3" &
P3=$!
wait_for 5 test "$(nauth)" -gt "$N0"
write_doc 2 ', "new": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/new" } },
  "auth": { "forward": { "address": "http://127.0.0.1:'"$A"'/auth" } } }'
kill -HUP "$TEE"
wait "$P3"
check "reload during an auth request: the request completes (200 from the backend)" \
  test "$(cat "$D/c3")" = 200 -a -n "$(grep -o '"server": "s1"' "$D/inflight")"
wait_for 5 bash -c "curl -s -o /dev/null -w '%{http_code}' -m 2 -H 'X-Token: good' http://127.0.0.1:$WEB/new/x | grep -q 200"
req /new/x -H 'X-Token: good'
check "reload: the new document's forward auth frontend works" test "$CODE" = 200
req /new/y
check "reload: and denies without credentials" test "$CODE" = 401

# ---- access log ------------------------------------------------------------------------------------
sleep 1.2
check "access log: one line per request with its final status (401, 302, 500, 200)" \
  bash -c "test \$(grep -c '\"GET /fwd/b HTTP/1.1\" 401 26' '$ALOG') = 1 &&
    test \$(grep -c '\"GET /fwd/login/next HTTP/1.1\" 302 12' '$ALOG') = 1 &&
    test \$(grep -c '\"GET /down/x HTTP/1.1\" 500' '$ALOG') = 1 &&
    test \$(grep -c '\"GET /fwd/a?q=1 HTTP/1.1\" 200' '$ALOG') = 1"

check "proxy still running" kill -0 "$TEE"
finish
