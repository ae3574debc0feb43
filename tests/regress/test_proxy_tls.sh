#!/usr/bin/env bash
# test_proxy_tls.sh — TLS termination by `traefikee start-data-node --standalone`: ECDSA P-256
# certificates made here (a CA, leaves for a.test and b.test, a default one, a client one) inline
# as PEM in the routing document; SNI picks the certificate, unknown or no SNI gets the default,
# sniStrict refuses unknown names; an http entry point redirects to https; keep-alive over TLS;
# plain HTTP on the TLS port; a certificate changed by a reload; bad PEM refused; clientCA;
# tls.cipherSuites restricting the suites (openssl s_client -cipher), tls.minVersion.
# Upstream: proxy_upstream.py; client sessions: proxy_session.py.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$REGRESS_TMP
C=$T/certs
UPSTREAM="$HERE/proxy_upstream.py"
SESSION="$HERE/proxy_session.py"
DOC="$T/routing.json"
mkdir -p "$C"

free_ports() {
  python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

# ---- certificates (ECDSA P-256; keys alternately SEC1 and PKCS#8)
mkca() { # NAME CN
  openssl ecparam -genkey -name prime256v1 -noout -out "$C/$1.key" 2>/dev/null &&
    openssl req -x509 -new -key "$C/$1.key" -subj "/CN=$2" -days 30 -out "$C/$1.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
}
mkleaf() { # NAME CN SAN CA [O]
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/$1.key" 2>/dev/null &&
    openssl req -new -key "$C/$1.key" -subj "/O=${5:-test}/CN=$2" -out "$C/$1.csr" 2>/dev/null &&
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" >"$C/$1.ext" &&
    openssl x509 -req -in "$C/$1.csr" -CA "$C/$4.pem" -CAkey "$C/$4.key" -CAcreateserial \
      -days 30 -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null
}
if mkca ca "Test CA" && mkca otherca "Other CA" &&
  mkleaf a a.test a.test ca v1 && mkleaf a2 a.test a.test ca v2 &&
  mkleaf b b.test b.test ca && mkleaf def default.test default.test ca &&
  mkleaf wild wild.test '*.w.test' ca && mkleaf c c.test c.test ca &&
  mkleaf client client.test client.test ca && mkleaf rogue client.test client.test otherca; then
  ok "openssl made the CA, leaf, default and client certificates"
else
  not_ok "openssl made the CA, leaf, default and client certificates"
  finish
fi
printf -- '-----BEGIN CERTIFICATE-----\nMIIBnotbase64atall!!\n-----END CERTIFICATE-----\n' >"$C/garbage.pem"
printf 'this is not PEM\n' >"$C/text.pem"

spawn python3 "$UPSTREAM" --name=s1 >"$T/s1.out" 2>&1
wait_until 10 file_has "$T/s1.out" "PORT " || { not_ok "upstream starts"; finish; }
U1=$(awk '/^PORT /{print $2; exit}' "$T/s1.out")
read -r PS PT PH PP PM PF PO < <(free_ports 7 | tr '\n' ' ')

# write_doc REV ACERT AKEY [FLIP]: entry points https (a, b, default), strict (sniStrict, a only),
# http (redirect to https), perm (permanent redirect), mtls (a, clientCA ca), mtlsopt (the same,
# optional); ACERT/AKEY name files
# under $C for a.test's pair; entry point flip is plain HTTP, or TLS (a only) when FLIP=1.
write_doc() {
  python3 - "$C" "$1" "$2" "$3" "$PS" "$PT" "$PH" "$PP" "$PM" "$U1" "$PF" "${4:-0}" "$PO" >"$DOC.tmp" <<'EOF' && mv "$DOC.tmp" "$DOC"
import json, sys
c, rev, acert, akey, ps, pt, ph, pp, pm, u1, pf, flip, po = sys.argv[1:]
rd = lambda n: open("%s/%s" % (c, n)).read()
pair = lambda crt, key: {"certFile": rd(crt), "keyFile": rd(key)}
a = pair(acert, akey)
ep = lambda port, tls=None, **kw: dict({"address": "127.0.0.1:" + port}, **({"tls": tls} if tls else {}), **kw)
doc = {
  "version": 1, "revision": int(rev), "defaultEntryPoints": ["https", "strict", "mtls"],
  "entryPoints": {
    "https": ep(ps, {"certificates": [a, pair("b.pem", "b.key"), pair("wild.pem", "wild.key")],
                     "defaultCertificate": pair("def.pem", "def.key")}),
    "strict": ep(pt, {"sniStrict": True, "certificates": [a]}),
    "http": ep(ph, redirect={"entryPoint": "https"}),
    "perm": ep(pp, redirect={"entryPoint": "https", "permanent": True}),
    "mtls": ep(pm, {"certificates": [a], "clientCA": {"files": [rd("ca.pem")], "optional": False}}),
    "flip": ep(pf, {"certificates": [a]} if flip == "1" else None),
    "mtlsopt": ep(po, {"certificates": [a], "clientCA": {"files": [rd("ca.pem")], "optional": True}}),
  },
  "frontends": {"web": {"entryPoints": ["https", "strict", "http", "perm", "mtls", "flip", "mtlsopt"],
                        "backend": "web",
                        "routes": {"r1": {"rule": "PathPrefix:/"}}}},
  "backends": {"web": {"servers": {"s1": {"url": "http://127.0.0.1:" + u1}}}},
  "tls": [{"entryPoints": ["https"], "certificate": pair("c.pem", "c.key")}],
}
print(json.dumps(doc))
EOF
}

# subject PORT SNI: the subject and SAN of the certificate served for SNI ("" = none sent);
# prints "NOCERT" when the handshake gave none.
subject() {
  local sni=(-noservername)
  [ -n "$2" ] && sni=(-servername "$2")
  timeout 10 openssl s_client -connect "127.0.0.1:$1" "${sni[@]}" </dev/null 2>/dev/null >"$T/sc.out"
  if grep -q 'BEGIN CERTIFICATE' "$T/sc.out"; then
    openssl x509 -noout -subject -ext subjectAltName <"$T/sc.out" 2>/dev/null | tr -s '\n ' '  '
  else
    echo NOCERT
  fi
}

# get HOST PORT [curl args...]: status of https://HOST:PORT/ with the CA, body in $T/body; when
# no status came, "000 rc=N" with curl's exit status (35/56: handshake refused, 60: verification).
get() {
  local host=$1 port=$2 code rc; shift 2
  code=$(curl -s --max-time 10 -o "$T/body" -w '%{http_code}' --cacert "$C/ca.pem" \
    --resolve "$host:$port:127.0.0.1" "$@" "https://$host:$port/hello" 2>/dev/null)
  rc=$?
  if [ "$code" = 000 ]; then echo "000 rc=$rc"; else echo "$code"; fi
}

# handshake_refused RESULT: get's result for a TLS handshake the server refused.
handshake_refused() { case $1 in "000 rc=35" | "000 rc=56") return 0 ;; *) return 1 ;; esac; }

REV=1
write_doc "$REV" a.pem a.key
: >"$T/proxy.err"
spawn "$BIN/traefikee" start-data-node --standalone="$DOC" >"$T/proxy.out" 2>"$T/proxy.err"
PX=$SPAWNED
up() { [ "$(get a.test "$PS")" = 200 ]; }
if wait_until 10 up; then
  ok "curl --resolve a.test --cacert: 200 through the https entry point"
else
  not_ok "curl --resolve a.test --cacert: 200 through the https entry point"
  grep -v '^  ' "$T/proxy.err" | tail -5 | sed 's/^/# /'
  finish
fi
check "the upstream saw X-Forwarded-Proto https" grep -qF '["X-Forwarded-Proto", "https"]' "$T/body"
check "curl --resolve b.test --cacert: 200 (the b.test certificate verifies)" test "$(get b.test "$PS")" = 200

s=$(subject "$PS" a.test)
check "SNI a.test gets CN=a.test with SAN a.test ($s)" has "$s" "CN = a.test"
check "... and its SAN is DNS:a.test" has "$s" "DNS:a.test"
s=$(subject "$PS" b.test)
check "SNI b.test gets CN=b.test ($s)" has "$s" "DNS:b.test"
s=$(subject "$PS" A.Test)
check "SNI is matched without regard to case: A.Test gets a.test ($s)" has "$s" "DNS:a.test"
s=$(subject "$PS" x.w.test)
check "SNI x.w.test gets the *.w.test certificate ($s)" has "$s" "DNS:*.w.test"
s=$(subject "$PS" y.x.w.test)
check "the wildcard covers one label only: y.x.w.test gets the default ($s)" has "$s" "CN = default.test"
s=$(subject "$PS" c.test)
check "a certificate from the top-level tls list is served for c.test ($s)" has "$s" "DNS:c.test"
check "curl --resolve c.test --cacert: 200" test "$(get c.test "$PS")" = 200
s=$(subject "$PT" c.test)
check "the top-level tls certificate is only on the entry points it names (strict refuses c.test)" \
  test "$s" = NOCERT
s=$(subject "$PS" unknown.test)
check "unknown SNI gets the default certificate ($s)" has "$s" "CN = default.test"
s=$(subject "$PS" "")
check "no SNI gets the default certificate ($s)" has "$s" "CN = default.test"
r=$(get unknown.test "$PS")
check "curl asking for unknown.test fails verification of the default certificate ($r)" test "$r" = "000 rc=60"

s=$(subject "$PT" a.test)
check "sniStrict: SNI a.test still gets its certificate ($s)" has "$s" "DNS:a.test"
check "sniStrict: an unknown SNI is refused in the handshake" test "$(subject "$PT" unknown.test)" = NOCERT
check "sniStrict: no SNI is refused in the handshake" test "$(subject "$PT" "")" = NOCERT
check "sniStrict: the entry point keeps serving a.test (200)" test "$(get a.test "$PT")" = 200

# Entry point redirects.
r=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
  --resolve "a.test:$PH:127.0.0.1" "http://a.test:$PH/some/path?q=1")
check "http entry point redirects: 302 to https://a.test:$PS/some/path?q=1 ($r)" \
  test "$r" = "302 https://a.test:$PS/some/path?q=1"
r=$(curl -s --max-time 10 -o /dev/null -w '%{http_code} %{redirect_url}' \
  --resolve "a.test:$PP:127.0.0.1" "http://a.test:$PP/x")
check "permanent redirect: 301 to https://a.test:$PS/x ($r)" test "$r" = "301 https://a.test:$PS/x"
r=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -L --cacert "$C/ca.pem" \
  --resolve "a.test:$PH:127.0.0.1" --resolve "a.test:$PS:127.0.0.1" "http://a.test:$PH/follow")
check "following the redirect ends in 200 over TLS" test "$r" = 200

# Keep-alive over TLS.
python3 "$SESSION" many --port="$PS" --tls --sni=a.test --ca="$C/ca.pem" --host=a.test --count=5 \
  >"$T/many.out" 2>&1
check "TLS keep-alive: 5 requests on one connection, all 200" \
  test "$(grep -c '^req [0-9] 200 s1' "$T/many.out")" = 5

# Plain HTTP on the TLS port.
python3 "$SESSION" plain --port="$PS" >"$T/plain.out" 2>&1
if grep -q '^closed' "$T/plain.out" && ! grep -q "HTTP/1.1 200" "$T/plain.out"; then
  ok "a plain-HTTP request to the TLS port is refused and the connection closed ($(cat "$T/plain.out"))"
else
  not_ok "a plain-HTTP request to the TLS port is refused and the connection closed ($(cat "$T/plain.out"))"
fi
check "the TLS port keeps serving after it" test "$(get a.test "$PS")" = 200

# Mutual TLS.
r=$(get a.test "$PM")
check "clientCA: no client certificate is refused in the handshake ($r)" handshake_refused "$r"
r=$(get a.test "$PM" --cert "$C/rogue.pem" --key "$C/rogue.key")
check "clientCA: a certificate from another CA is refused in the handshake ($r)" handshake_refused "$r"
check "clientCA: a certificate from the client CA gets 200" \
  test "$(get a.test "$PM" --cert "$C/client.pem" --key "$C/client.key")" = 200
check "clientCA optional: no client certificate gets 200" test "$(get a.test "$PO")" = 200
check "clientCA optional: a certificate from the client CA gets 200" \
  test "$(get a.test "$PO" --cert "$C/client.pem" --key "$C/client.key")" = 200
r=$(get a.test "$PO" --cert "$C/rogue.pem" --key "$C/rogue.key")
check "clientCA optional: a certificate from another CA gets no response ($r)" \
  test "${r%% *}" = 000

# Session resumption (TLS 1.2 session IDs): a client that kept its session resumes it instead of
# a full handshake; an entry point with a client CA never resumes (it would skip the check).
# resumed PORT: "New"/"Reused" for each of the 5 reconnections of s_client -reconnect.
resumed() {
  timeout 20 openssl s_client -connect "127.0.0.1:$1" -servername a.test -tls1_2 -reconnect \
    ${2:+-cert "$2" -key "$3"} </dev/null 2>/dev/null | grep -c '^Reused'
}
n=$(resumed "$PS")
check "a client reconnecting with its session resumes it (${n} of 5 reconnections reused)" \
  test "$n" -ge 4
n=$(resumed "$PM" "$C/client.pem" "$C/client.key")
check "an entry point with a client CA never resumes a session (${n} reused)" test "$n" = 0

# A certificate changed by a reload is served on new connections.
applied() { [ "$(grep -c "routing document applied.*revision=$1\$" "$T/proxy.err")" -ge 1 ]; }
refused() { [ "$(grep -c "routing document refused" "$T/proxy.err")" -gt "$1" ]; }
REV=$((REV + 1))
write_doc "$REV" a2.pem a2.key
kill -HUP "$PX"
wait_until 10 applied "$REV"
s=$(subject "$PS" a.test)
check "after a reload, new connections get the new a.test certificate ($s)" has "$s" "O = v2"
check "... on the sniStrict and mTLS entry points too" \
  test "$(subject "$PT" a.test | grep -c 'O = v2')" = 1 -a "$(subject "$PM" a.test | grep -c 'O = v2')" = 1
check "... and curl verifies it (200)" test "$(get a.test "$PS")" = 200

# A connection accepted before a reload, its handshake after it: served (then closed), not cut.
rm -f "$T/go"
python3 "$SESSION" late --port="$PS" --tls --sni=a.test --ca="$C/ca.pem" --host=a.test \
  --go="$T/go" >"$T/late.out" 2>&1 &
LATE=$!
REGRESS_PIDS+=("$LATE")
wait_until 10 file_has "$T/late.out" ready
REV=$((REV + 1))
write_doc "$REV" a2.pem a2.key
kill -HUP "$PX"
wait_until 10 applied "$REV"
: >"$T/go"
wait "$LATE"
check "a TLS connection accepted before a reload does its handshake and request after it ($(tail -1 "$T/late.out"))" \
  grep -q '^req 1 200 s1' "$T/late.out"

# New TLS connections (one request each) while the document is reloaded every 200 ms: none fails.
write_doc 999999 a2.pem a2.key
mv "$DOC" "$T/template.json"
if command -v wrk >/dev/null; then
  wrk -t2 -c10 -d3s --timeout 10s -H "Connection: close" "https://127.0.0.1:$PS/" >"$T/load.out" 2>&1 &
else
  python3 "$SESSION" load --port="$PS" --tls --conns=10 --seconds=3 --close >"$T/load.out" 2>&1 &
fi
LOAD=$!
REGRESS_PIDS+=("$LOAD")
n=0
while kill -0 "$LOAD" 2>/dev/null; do
  REV=$((REV + 1))
  sed "s/\"revision\": 999999/\"revision\": $REV/" "$T/template.json" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  kill -HUP "$PX"
  n=$((n + 1))
  sleep 0.2
done
wait "$LOAD"
if grep -q 'requests in' "$T/load.out"; then
  req=$(awk '/requests in/{print $1}' "$T/load.out")
else
  req=$(awk '/^requests / && $4 == 0 && $6 == 0 {print $2}' "$T/load.out")
fi
if [ "${req:-0}" -ge 20 ] && [ "$n" -ge 5 ] && ! grep -qE 'Socket errors|Non-2xx' "$T/load.out"; then
  ok "$req new TLS connections during $n reloads, none failed"
else
  not_ok "new TLS connections during $n reloads, none failed: $(grep -E 'requests|Socket errors|Non-2xx' "$T/load.out" | tr '\n' ' ')"
fi
wait_until 10 applied "$REV"

# The same entry point (name and address) turned from plain HTTP to TLS by a reload.
plain_flip() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PF/" 2>/dev/null; }
check "entry point flip serves plain HTTP before (200)" test "$(plain_flip)" = 200
REV=$((REV + 1))
write_doc "$REV" a2.pem a2.key 1
kill -HUP "$PX"
wait_until 10 applied "$REV"
check "after a reload adding tls to it, flip serves a.test over TLS (200)" test "$(get a.test "$PF")" = 200
check "... and a plain-HTTP request there gets no HTTP answer" test "$(plain_flip)" = 000

# Bad PEM in a reload: refused, the v2 certificate stays.
try_bad() { # DESC CERT KEY NEEDLE
  local n
  n=$(grep -c "routing document refused" "$T/proxy.err")
  write_doc $((REV + 1)) "$2" "$3" 1
  kill -HUP "$PX"
  if wait_until 10 refused "$n" && grep "routing document refused" "$T/proxy.err" | tail -1 | grep -qF -- "$4"; then
    ok "$1 is refused, the log naming $4"
  else
    not_ok "$1 is refused, the log naming $4"
    grep "routing document refused" "$T/proxy.err" | tail -1 | sed 's/^/# /'
  fi
  s=$(subject "$PS" a.test)
  check "after $1, a.test still gets the v2 certificate" has "$s" "O = v2"
}
try_bad "a certFile that is not PEM" text.pem a.key "entryPoints.https.tls.certificates[0].certFile: not a PEM"
try_bad "a certFile with a broken PEM body" garbage.pem a.key "entryPoints.https.tls.certificates[0].certFile"
try_bad "a keyFile that does not match its certFile" a.pem b.key "entryPoints.https.tls.certificates[0].keyFile"
check "the proxy still serves a.test (200)" test "$(get a.test "$PS")" = 200

# Keep-alive TLS load while the document is reloaded every 200 ms with the same certificates:
# the TLS configurations are shared by the tables, so no connection is cut (zero errors), and an
# idle TLS keep-alive connection opened before the reloads serves a request after them.
REV=$((REV + 1))
write_doc "$REV" a2.pem a2.key 1
kill -HUP "$PX"
wait_until 10 applied "$REV"
write_doc 999999 a2.pem a2.key 1
mv "$DOC" "$T/template.json"
rm -f "$T/go"
python3 "$SESSION" hold --port="$PS" --tls --sni=a.test --ca="$C/ca.pem" --host=a.test \
  --go="$T/go" >"$T/hold.out" 2>&1 &
HOLD=$!
REGRESS_PIDS+=("$HOLD")
wait_until 10 file_has "$T/hold.out" ready
if command -v wrk >/dev/null; then
  wrk -t2 -c20 -d5s --timeout 10s "https://127.0.0.1:$PS/" >"$T/kaload.out" 2>&1 &
else
  python3 "$SESSION" load --port="$PS" --tls --conns=20 --seconds=5 >"$T/kaload.out" 2>&1 &
fi
LOAD=$!
REGRESS_PIDS+=("$LOAD")
n=0
while kill -0 "$LOAD" 2>/dev/null; do
  REV=$((REV + 1))
  sed "s/\"revision\": 999999/\"revision\": $REV/" "$T/template.json" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  kill -HUP "$PX"
  n=$((n + 1))
  sleep 0.2
done
wait "$LOAD"
if grep -q 'requests in' "$T/kaload.out"; then
  req=$(awk '/requests in/{print $1}' "$T/kaload.out")
else
  req=$(awk '/^requests / && $4 == 0 && $6 == 0 {print $2}' "$T/kaload.out")
fi
if [ "${req:-0}" -ge 200 ] && [ "$n" -ge 10 ] && ! grep -qE 'Socket errors|Non-2xx' "$T/kaload.out"; then
  ok "$req keep-alive TLS requests from 20 connections during $n reloads, zero errors"
else
  not_ok "keep-alive TLS requests during $n reloads, zero errors: $(grep -E 'requests|Socket errors|Non-2xx' "$T/kaload.out" | tr '\n' ' ')"
fi
wait_until 10 applied "$REV"
: >"$T/go"
wait "$HOLD"
check "an idle TLS keep-alive connection opened before $n reloads serves a request after them" \
  grep -q '^req 2 200 s1' "$T/hold.out"
# TLS tunnels hold no routing table: six opened across six reloads (max_tables 4), then one
# more reload is applied and every tunnel still echoes.
rm -f "$T/go_ws"
WSPIDS=()
nref=$(grep -c "routing document refused" "$T/proxy.err")
for k in 1 2 3 4 5 6; do
  python3 "$SESSION" ws --port="$PS" --tls --sni=a.test --ca="$C/ca.pem" --go="$T/go_ws" \
    >"$T/ws$k.out" 2>&1 &
  WSPIDS+=("$!")
  REGRESS_PIDS+=("$!")
  wait_until 10 file_has "$T/ws$k.out" ready
  REV=$((REV + 1))
  sed "s/\"revision\": 999999/\"revision\": $REV/" "$T/template.json" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
  kill -HUP "$PX"
  wait_until 10 applied "$REV" || not_ok "TLS tunnels: reload $k with $k tunnels open is applied"
done
REV=$((REV + 1))
sed "s/\"revision\": 999999/\"revision\": $REV/" "$T/template.json" >"$DOC.tmp" && mv "$DOC.tmp" "$DOC"
kill -HUP "$PX"
check "with 6 TLS tunnels opened across 6 reloads, one more reload is applied" wait_until 10 applied "$REV"
check "... and no document was refused" test "$(grep -c "routing document refused" "$T/proxy.err")" = "$nref"
: >"$T/go_ws"
for p in "${WSPIDS[@]}"; do wait "$p"; done
n=$(cat "$T"/ws[1-6].out | grep -c '^echo 2 ok')
check "all 6 TLS tunnels still echo after the reloads ($n of 6)" test "$n" = 6

# Memory: an idle TLS keep-alive connection gives its engine's I/O buffer back (tls_conn_trim,
# 250 ms into the idle period). A fresh proxy with one TLS entry point; 200 connections make
# one request each, then stay idle; the RSS they add is ~5 kB each (46 kB without the trim).
read -r PI < <(free_ports 1)
python3 - "$C" "$PI" "$U1" >"$T/idle.json" <<'PY'
import json, sys
c, port, up = sys.argv[1:]
rd = lambda n: open("%s/%s" % (c, n)).read()
print(json.dumps({"version": 1, "revision": 1, "defaultEntryPoints": ["https"],
  "entryPoints": {"https": {"address": "127.0.0.1:" + port,
                            "tls": {"certificates": [{"certFile": rd("a.pem"), "keyFile": rd("a.key")}]}}},
  "frontends": {"web": {"entryPoints": ["https"], "backend": "web",
                        "routes": {"r1": {"rule": "PathPrefix:/"}}}},
  "backends": {"web": {"servers": {"s1": {"url": "http://127.0.0.1:" + up}}}}}))
PY
cat >"$T/idle.py" <<'PY'
# idle.py PORT N CA: N TLS connections, one request each, then held idle ("ready N").
import socket, ssl, sys, time
port, n, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
held = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="a.test")
    s.sendall(b"GET /idle HTTP/1.1\r\nHost: a.test\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        d = s.recv(65536)
        if not d:
            print("closed", i, flush=True)
            sys.exit(1)
        got += d
    held.append(s)
print("ready", len(held), flush=True)
time.sleep(120)
PY
spawn "$BIN/traefikee" start-data-node --standalone="$T/idle.json" >"$T/idle_px.out" 2>"$T/idle_px.err"
IPX=$SPAWNED
idle_up() { [ "$(get a.test "$PI")" = 200 ]; }
if wait_until 10 idle_up; then
  sleep 0.5
  before=$(awk '/^VmRSS/ {print $2}' "/proc/$IPX/status")
  spawn python3 "$T/idle.py" "$PI" 200 "$C/ca.pem" >"$T/idle_cl.out" 2>&1
  ICL=$SPAWNED
  wait_until 60 grep -q "ready\|closed\|Error" "$T/idle_cl.out"
  sleep 1
  after=$(awk '/^VmRSS/ {print $2}' "/proc/$IPX/status")
  per=$(((after - before) * 1024 / 200))
  echo "# 200 idle TLS connections: RSS $before -> $after kB, $per B each"
  check "200 idle TLS keep-alive connections are held" grep -q "ready 200" "$T/idle_cl.out"
  check "an idle TLS connection adds < 24 kB of RSS ($per B)" test "$per" -lt 24576
  # Closing them wipes their slots without faulting the trimmed buffers back in
  # (tls_conn_wipe_release): the free slots keep one page each, not 48 kB.
  kill "$ICL" 2>/dev/null
  closed_all() { ! ss -tn state established "( sport = :$PI )" 2>/dev/null | grep -q ":$PI"; }
  wait_until 10 closed_all
  sleep 0.5
  closed=$(awk '/^VmRSS/ {print $2}' "/proc/$IPX/status")
  perc=$(((closed - before) * 1024 / 200))
  echo "# after closing them: RSS $closed kB, $perc B per freed slot"
  check "a closed idle TLS connection's slot keeps < 8 kB of RSS ($perc B)" test "$perc" -lt 8192
else
  not_ok "a second proxy with one TLS entry point serves (idle memory check)"
fi
kill "$IPX" 2>/dev/null

# tls.cipherSuites and tls.minVersion: entry point "only256" allows ECDHE-ECDSA-AES256-GCM-SHA384
# (and names a CBC suite we do not serve: dropped with a warning), "open" has no restriction.
read -r PC PU < <(free_ports 2 | tr '\n' ' ')
# suites_doc REV SUITES-JSON [MINVERSION]
suites_doc() {
  python3 - "$C" "$PC" "$PU" "$U1" "$1" "$2" "${3:-VersionTLS12}" >"$T/suites.json.tmp" <<'PY' && mv "$T/suites.json.tmp" "$T/suites.json"
import json, sys
c, pc, pu, up, rev, suites, minv = sys.argv[1:]
rd = lambda n: open("%s/%s" % (c, n)).read()
a = {"certFile": rd("a.pem"), "keyFile": rd("a.key")}
print(json.dumps({"version": 1, "revision": int(rev), "defaultEntryPoints": ["only256", "open"],
  "entryPoints": {
    "only256": {"address": "127.0.0.1:" + pc,
                "tls": {"minVersion": minv, "cipherSuites": json.loads(suites), "certificates": [a]}},
    "open": {"address": "127.0.0.1:" + pu, "tls": {"certificates": [a]}}},
  "frontends": {"web": {"backend": "web", "routes": {"r1": {"rule": "PathPrefix:/"}}}},
  "backends": {"web": {"servers": {"s1": {"url": "http://127.0.0.1:" + up}}}}}))
PY
}
# cipher PORT OPENSSL-CIPHER: the suite s_client negotiated, "NONE" when the handshake failed.
cipher() {
  local c
  c=$(timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername a.test -tls1_2 -cipher "$2" \
    </dev/null 2>/dev/null | sed -n 's/^New, TLSv1.2, Cipher is //p' | head -1)
  echo "${c:-NONE}"
}
suites_doc 1 '["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_RSA_WITH_AES_128_CBC_SHA"]' VersionTLS10
spawn "$BIN/traefikee" start-data-node --standalone="$T/suites.json" >"$T/suites_px.out" 2>"$T/suites_px.err"
SPX=$SPAWNED
suites_up() { [ "$(get a.test "$PU")" = 200 ]; }
if wait_until 10 suites_up; then
  r=$(cipher "$PC" ECDHE-ECDSA-AES128-GCM-SHA256)
  check "cipherSuites [AES256-GCM]: a client offering only ECDHE-ECDSA-AES128-GCM-SHA256 cannot connect ($r)" \
    test "$r" = NONE
  r=$(cipher "$PC" ECDHE-ECDSA-AES256-GCM-SHA384)
  check "cipherSuites [AES256-GCM]: a client offering ECDHE-ECDSA-AES256-GCM-SHA384 negotiates it ($r)" \
    test "$r" = ECDHE-ECDSA-AES256-GCM-SHA384
  r=$(cipher "$PC" ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384)
  check "cipherSuites [AES256-GCM]: a client offering both gets AES256-GCM ($r)" \
    test "$r" = ECDHE-ECDSA-AES256-GCM-SHA384
  check "cipherSuites [AES256-GCM], minVersion VersionTLS10: curl gets 200" test "$(get a.test "$PC")" = 200
  r=$(cipher "$PU" ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384)
  check "an entry point without cipherSuites still negotiates ECDHE-ECDSA-AES128-GCM-SHA256 ($r)" \
    test "$r" = ECDHE-ECDSA-AES128-GCM-SHA256
  check "the CBC suite named in cipherSuites is logged as ignored" \
    grep -q 'tls.cipherSuites: suites not supported.*entrypoint="only256" ignored="TLS_RSA_WITH_AES_128_CBC_SHA"' \
    "$T/suites_px.err"
  # Refused reloads keep the running document (and its restriction).
  srefused() { [ "$(grep -c "routing document refused" "$T/suites_px.err")" -gt "$1" ]; }
  suites_bad() { # DESC REV SUITES MINVERSION NEEDLE
    local n
    n=$(grep -c "routing document refused" "$T/suites_px.err")
    suites_doc "$2" "$3" "$4"
    kill -HUP "$SPX"
    if wait_until 10 srefused "$n" && grep "routing document refused" "$T/suites_px.err" | tail -1 | grep -qF -- "$5"; then
      ok "$1 is refused, the log naming $5"
    else
      not_ok "$1 is refused, the log naming $5"
      grep "routing document refused" "$T/suites_px.err" | tail -1 | sed 's/^/# /'
    fi
  }
  suites_bad "an unknown cipher suite name" 2 '["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_FOO"]' VersionTLS12 \
    'entryPoints.only256.tls.cipherSuites[1]: unknown cipher suite \"TLS_FOO\"'
  suites_bad "cipherSuites with no suite we serve" 3 '["TLS_RSA_WITH_AES_128_CBC_SHA"]' VersionTLS12 \
    'entryPoints.only256.tls.cipherSuites: no supported cipher suite listed (supported: TLS_ECDHE_ECDSA_WITH_'
  suites_bad "minVersion VersionTLS13" 4 '["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]' VersionTLS13 \
    'entryPoints.only256.tls.minVersion: VersionTLS13 is not supported (TLS 1.2 only)'
  r=$(cipher "$PC" ECDHE-ECDSA-AES128-GCM-SHA256)
  check "after the refused reloads the restriction still holds ($r)" test "$r" = NONE
else
  not_ok "a proxy with a cipherSuites entry point serves"
  tail -5 "$T/suites_px.err" | sed 's/^/# /'
fi
kill "$SPX" 2>/dev/null
finish
