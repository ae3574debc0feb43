#!/usr/bin/env bash
# test_proxy_https_upstream.sh — https:// backend servers through
# `traefikee start-data-node --standalone`: upstreams are proxy_tls_upstream.py (python ssl)
# with ECDSA certificates made here by openssl (a CA, another CA, a self-signed one).
#  - rootCAs: GET and POST with a body through https://localhost:PORT (SNI localhost seen by
#    the upstream), https://127.0.0.1:PORT (IP SAN, no SNI); keep-alive reuse (one upstream
#    TLS connection for several requests);
#  - verification: wrong CA, wrong host name, self-signed → 502 with a log line naming the
#    server and the TLS error; insecureSkipVerify accepts the self-signed one; neither rootCAs
#    nor insecureSkipVerify → 502 (no silent skip); bad rootCAs and unknown keys refused;
#  - the upstream closing mid-response (no close_notify) cuts the client's body like plain
#    http does; closing before the head → 502; a close-delimited body arrives whole;
#  - health checks over TLS keep a healthy https server in rotation, take a bad one out;
#  - a reload (SIGHUP) while TLS connections are pooled; h2c:// → 502;
#  - max_upstream_tls_conns=1 (second proxy): two concurrent slow requests → one 200, one 503
#    with a log line naming the limit, then recovery.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$REGRESS_TMP
C=$T/certs
UP="$HERE/proxy_tls_upstream.py"
DOC="$T/routing.json"
mkdir -p "$C"

count() { grep -c -- "$2" "$1" 2>/dev/null || true; } # count FILE PATTERN: matching lines

# ---- certificates (ECDSA P-256)
mkca() { # NAME CN
  openssl ecparam -genkey -name prime256v1 -noout -out "$C/$1.key" 2>/dev/null &&
    openssl req -x509 -new -key "$C/$1.key" -subj "/CN=$2" -days 30 -out "$C/$1.pem" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
}
mkleaf() { # NAME CN SAN CA
  openssl ecparam -genkey -name prime256v1 -noout -out "$C/$1.key" 2>/dev/null &&
    openssl req -new -key "$C/$1.key" -subj "/CN=$2" -out "$C/$1.csr" 2>/dev/null &&
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' "$3" >"$C/$1.ext" &&
    openssl x509 -req -in "$C/$1.csr" -CA "$C/$4.pem" -CAkey "$C/$4.key" -CAcreateserial \
      -days 30 -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null
}
if mkca ca "Test CA" && mkca otherca "Other CA" &&
  mkleaf good localhost "DNS:localhost,IP:127.0.0.1" ca &&
  mkleaf rogue localhost "DNS:localhost,IP:127.0.0.1" otherca &&
  mkleaf other other.test "DNS:other.test" ca &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/self.key" \
    -out "$C/self.pem" -subj "/CN=self.test" -addext "subjectAltName=DNS:self.test" -days 30 2>/dev/null; then
  ok "openssl made the CAs and the server certificates"
else
  not_ok "openssl made the CAs and the server certificates"
  finish
fi

start_up() { # start_up NAME CERT|plain: sets UPORT
  if [ "$2" = plain ]; then
    spawn python3 "$UP" --name="$1" --plain >"$T/$1.out" 2>&1
  else
    spawn python3 "$UP" --name="$1" --cert="$C/$2.pem" --key="$C/$2.key" >"$T/$1.out" 2>&1
  fi
  wait_until 10 file_has "$T/$1.out" "PORT " || { not_ok "upstream $1 starts"; finish; }
  UPORT=$(awk '/^PORT /{print $2; exit}' "$T/$1.out")
}
start_up good good; UG=$UPORT
start_up rogue rogue; UR=$UPORT
start_up other other; UO=$UPORT
start_up self self; US=$UPORT
start_up plain plain; UP_PLAIN=$UPORT
start_up hcgood good; UHG=$UPORT
start_up hcbad rogue; UHB=$UPORT
read -r PX PX2 < <(free_ports 2)

# write_doc FILE REV MODE [PORT]: MODE ca (rootCAs = [ca.pem]), insecure (insecureSkipVerify),
# none (neither), bundle (rootCAs = [otherca.pem + ca.pem] in one string), nohc (ca, without
# the health-checked backends).
write_doc() {
  python3 - "$C" "$2" "$3" "${4:-$PX}" "$UG" "$UR" "$UO" "$US" "$UP_PLAIN" "$UHG" "$UHB" >"$1.tmp" <<'EOF' && mv "$1.tmp" "$1"
import json, sys
c, rev, mode, px, ug, ur, uo, us, upl, uhg, uhb = sys.argv[1:]
rd = lambda n: open("%s/%s" % (c, n)).read()
fe = {}
be = {}
def route(name, url, health=None):
    fe[name] = {"backend": name, "routes": {"r": {"rule": "Host:%s.test" % name}}}
    be[name] = {"servers": {"s": {"url": url}}}
    if health:
        be[name]["healthCheck"] = {"path": health, "interval": "500ms", "timeout": "2s"}
route("good", "https://localhost:" + ug)
route("ip", "https://127.0.0.1:" + ug)
route("rogue", "https://localhost:" + ur)
route("other", "https://localhost:" + uo)
route("self", "https://localhost:" + us)
route("plain", "http://127.0.0.1:" + upl)
route("h2c", "h2c://127.0.0.1:" + upl)
fe["ws"] = {"backend": "good", "priority": 1000, "routes": {"r": {"rule": "Path:/_ws"}}}
if mode != "nohc":  # health probes take upstream TLS slots too
    route("hcgood", "https://localhost:" + uhg, "/_health")
    route("hcbad", "https://localhost:" + uhb, "/_health")
doc = {"version": 1, "revision": int(rev),
       "entryPoints": {"http": {"address": "127.0.0.1:" + px}},
       "frontends": fe, "backends": be}
if mode in ("ca", "nohc"):
    doc["rootCAs"] = [rd("ca.pem")]
elif mode == "bundle":
    doc["rootCAs"] = [rd("otherca.pem") + rd("ca.pem")]
elif mode == "insecure":
    doc["insecureSkipVerify"] = True
print(json.dumps(doc))
EOF
}

# get HOST [PATH [curl args...]]: "STATUS rc=N" through the proxy; the body in $T/body.
get() {
  local host=$1 path=${2:-/hello} code rc; shift; [ $# -gt 0 ] && shift
  code=$(curl -s --max-time 10 -o "$T/body" -w '%{http_code}' -H "Host: $host.test" "$@" \
    "http://127.0.0.1:$PX$path" 2>/dev/null)
  rc=$?
  echo "$code rc=$rc"
}
body_has() { grep -qF -- "$1" "$T/body"; }
conns() { count "$T/$1.out" '^CONN '; }

write_doc "$DOC" 1 ca
spawn "$BIN/traefikee" start-data-node --standalone="$DOC" >"$T/proxy.out" 2>"$T/proxy.err"
PXPID=$SPAWNED
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PX/")" != 000 ]; }
if wait_until 10 answers; then
  ok "the proxy starts with https:// servers and rootCAs"
else
  not_ok "the proxy starts with https:// servers and rootCAs"
  sed 's/^/# /' "$T/proxy.err" | tail -5
  finish
fi
check "no 'only http:// servers' warning for https servers" \
  sh -c "! grep -q 'only http://' '$T/proxy.err'"
check "h2c:// is still reported as unsupported" file_has "$T/proxy.err" "h2c:// servers are not supported"

# ---- basic requests
r=$(get good /hello)
check "GET through https://localhost (rootCAs): 200 ($r)" test "$r" = "200 rc=0"
check "... answered by the TLS upstream, SNI localhost sent" body_has '"sni": "localhost"'
head -c 200000 /dev/urandom >"$T/post.bin"
want=$(sha256sum <"$T/post.bin" | cut -d' ' -f1)
r=$(get good /post --data-binary "@$T/post.bin" -H "Content-Type: application/octet-stream")
check "POST of 200000 bytes through https: 200 ($r)" test "$r" = "200 rc=0"
check "... the upstream got every byte (sha256 matches)" body_has "\"body_sha256\": \"$want\""
check "... and the method POST" body_has '"method": "POST"'
r=$(get good /chunked -H "Transfer-Encoding: chunked" --data-binary "@$T/post.bin")
check "chunked POST through https: 200, same sha256 ($r)" \
  sh -c "test '$r' = '200 rc=0' && grep -qF '$want' '$T/body'"
r=$(get ip /hello)
check "https://127.0.0.1 (IP SAN): 200 ($r)" test "$r" = "200 rc=0"
check "... and no SNI sent for an IP literal" body_has '"sni": "-"'
r=$(get plain /hello)
check "a plain http:// server beside them still works ($r)" test "$r" = "200 rc=0"

# ---- keep-alive reuse: several requests, one upstream TLS connection
get good /warm >/dev/null
c0=$(conns good)
okc=0
for i in 1 2 3 4 5 6; do [ "$(get good /ka$i)" = "200 rc=0" ] && okc=$((okc + 1)); done
c1=$(conns good)
check "6 more requests through https: all 200 ($okc)" test "$okc" = 6
check "... on the pooled upstream TLS connection: no new handshake ($c0 -> $c1)" test "$c0" = "$c1"
cid=$(sed -n 's/.*"conn": \([0-9]*\).*/\1/p' "$T/body")
check "... the last one served on connection $cid, one of the $c1 made" test -n "$cid"
# The client's own keep-alive connection: 5 requests in one curl, still no handshake.
curl -s --max-time 10 -H "Host: good.test" -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
  -o /dev/null "http://127.0.0.1:$PX/a" "http://127.0.0.1:$PX/b" "http://127.0.0.1:$PX/c" \
  "http://127.0.0.1:$PX/d" "http://127.0.0.1:$PX/e"
check "5 requests on one client connection reuse it too ($(conns good) == $c1)" test "$(conns good)" = "$c1"

# ---- idle pooled TLS connections give their I/O buffer back after a second
# 12 concurrent slow requests grow the pool to 12 TLS connections (48 kB slots, resident);
# idle for 2.5 s they are trimmed to 16 kB each: the RSS drops by about 12 x 32 kB. A request
# afterwards still reuses one of them.
rss() { awk '/^VmRSS/ {print $2}' "/proc/$PXPID/status"; }
c0=$(conns good)
cpids=()
for _ in $(seq 12); do
  curl -s --max-time 10 -o /dev/null -H "Host: good.test" "http://127.0.0.1:$PX/_delay/400" &
  cpids+=($!)
done
wait "${cpids[@]}"
c1=$(conns good)
r0=$(rss)
sleep 2.5
r1=$(rss)
echo "# 12 pooled TLS upstream connections ($c0 -> $c1 handshakes): RSS $r0 kB -> $r1 kB after 2.5 s idle"
check "idle pooled TLS upstream connections give their buffers back (RSS $r0 -> $r1 kB, >= 200 kB less)" \
  test "$((r0 - r1))" -ge 200
r=$(get good /after-trim)
check "... and a trimmed connection serves the next request ($r, no new handshake)" \
  test "$r" = "200 rc=0" -a "$(conns good)" = "$c1"

# ---- verification failures
r=$(get rogue /x)
check "server certificate from another CA: 502 ($r)" test "$r" = "502 rc=0"
check "... logged with the server and the TLS error (not trusted)" \
  grep -q "upstream TLS handshake failed.*url=https://localhost:$UR .*NOT_TRUSTED" "$T/proxy.err"
r=$(get other /x)
check "certificate for other.test at https://localhost: 502 ($r)" test "$r" = "502 rc=0"
check "... logged as a bad server name" \
  grep -q "upstream TLS handshake failed.*url=https://localhost:$UO .*BAD_SERVER_NAME" "$T/proxy.err"
r=$(get self /x)
check "self-signed certificate without insecureSkipVerify: 502 ($r)" test "$r" = "502 rc=0"
check "... logged" grep -q "upstream TLS handshake failed.*url=https://localhost:$US " "$T/proxy.err"
check "the upstreams saw the refused handshakes end (no request reached them)" \
  test "$(count "$T/rogue.out" '^REQ ')$(count "$T/other.out" '^REQ ')$(count "$T/self.out" '^REQ ')" = 000
r=$(get h2c /x)
check "h2c:// server: 502 ($r)" test "$r" = "502 rc=0"

# ---- the upstream closes mid-response, without close_notify
r=$(get good /_cut)
check "Content-Length 100000 cut after 1000 bytes over TLS: the client sees the cut ($r)" \
  test "$r" = "200 rc=18"
check "... after exactly the 1000 bytes" test "$(wc -c <"$T/body")" = 1000
r=$(get plain /_cut)
check "... the same as through a plain http:// server ($r)" test "$r" = "200 rc=18"
r=$(get good /_close)
check "the TLS upstream closing before any answer: 502 ($r)" test "$r" = "502 rc=0"
r=$(get plain /_close)
check "... as for plain http ($r)" test "$r" = "502 rc=0"
r=$(get good /_eof/5000)
check "a close-delimited body over TLS (no close_notify): 200, all 5000 bytes ($r)" \
  sh -c "test '$r' = '200 rc=0' && test \$(wc -c <'$T/body') = 5000"
r=$(get good /after)
check "the https server is served normally after the faults ($r)" test "$r" = "200 rc=0"

# ---- an upgrade (tunnel) through an https:// server
OUT=$(python3 "$HERE/proxy_rawclient.py" ws --port "$PX" 2>&1)
check "Upgrade through https: 101" has "$OUT" "status=101"
check "tunnel over upstream TLS: 200 KB echo both ways, byte for byte ($OUT)" \
  has "$OUT" "echo=ok bytes=201009"
check "tunnel: the client's half close reaches the TLS upstream (close_notify) and ends it" \
  has "$OUT" "eof_after_shutdown=1"
wait_until 5 grep -q '^WS_EOF' "$T/good.out"
check "... the upstream saw the end of the tunnel's stream" grep -q '^WS_EOF' "$T/good.out"

# ---- health checks over TLS
sleep 1.5
check "health check over TLS: the probes reached the https server" \
  test "$(count "$T/hcgood.out" 'REQ [0-9]* GET /_health')" -ge 2
r=$(get hcgood /x)
check "... and it stays in rotation: 200 ($r)" test "$r" = "200 rc=0"
r=$(get hcbad /x)
check "a health-checked server whose certificate fails verification is out of rotation: 503 ($r)" \
  test "$r" = "503 rc=0"
check "... logged as out of rotation with the TLS reason" \
  grep -q "server out of rotation.*url=https://localhost:$UHB .*TLS handshake failed" "$T/proxy.err"

# ---- reload while TLS connections are pooled
get good /pool >/dev/null
c0=$(conns good)
e0=$(count "$T/good.out" '^END ')
write_doc "$DOC" 2 bundle
kill -HUP "$PXPID"
wait_until 10 file_has "$T/proxy.err" "revision=2" || sleep 1
r=$(get good /reloaded)
check "after a reload (rootCAs now a two-CA bundle): 200 ($r)" test "$r" = "200 rc=0"
check "... on a new upstream TLS connection made with the new table ($c0 -> $(conns good))" \
  test "$(conns good)" = $((c0 + 1))
wait_until 5 test "$(count "$T/good.out" '^END ')" -gt "$e0"
check "... the idle ones of the old table were closed ($e0 -> $(count "$T/good.out" '^END ') ended)" \
  test "$(count "$T/good.out" '^END ')" -gt "$e0"
r=$(get rogue /x)
check "... and the other CA is trusted now (bundle): 200 ($r)" test "$r" = "200 rc=0"

write_doc "$DOC" 3 insecure
kill -HUP "$PXPID"
wait_until 10 file_has "$T/proxy.err" "revision=3" || sleep 1
check "insecureSkipVerify is logged loudly" file_has "$T/proxy.err" "insecureSkipVerify"
r=$(get self /x)
check "insecureSkipVerify: the self-signed server answers 200 ($r)" test "$r" = "200 rc=0"
r=$(get other /x)
check "insecureSkipVerify: the name is not checked either: 200 ($r)" test "$r" = "200 rc=0"

write_doc "$DOC" 4 none
kill -HUP "$PXPID"
wait_until 10 file_has "$T/proxy.err" "revision=4" || sleep 1
r=$(get good /x)
check "neither rootCAs nor insecureSkipVerify: 502, not a silent skip ($r)" test "$r" = "502 rc=0"
check "... logged, naming the server and the missing rootCAs" \
  grep -q "upstream TLS connection failed.*url=https://localhost:$UG .*no rootCAs" "$T/proxy.err"
# Logged at most once a second per server: 20 failing requests log one line per second they
# span at most (1 on a quick machine), and the next line, a second later, says how many were
# left out.
n0=$(count "$T/proxy.err" "upstream TLS connection failed.*url=https://localhost:$UG ")
sleep 1.1
t0=$(date +%s%N)
for _ in $(seq 20); do get good /x >/dev/null; done
secs=$((($(date +%s%N) - t0) / 1000000000 + 1))
n1=$(count "$T/proxy.err" "upstream TLS connection failed.*url=https://localhost:$UG ")
check "20 failures in $secs s log at most one line per second ($n0 -> $n1)" \
  test "$((n1 - n0))" -ge 1 -a "$((n1 - n0))" -le "$secs"
sleep 1.1
get good /x >/dev/null
check "... and the next one, a second later, counts those left out" \
  grep -q "upstream TLS connection failed.*url=https://localhost:$UG .*similar_failures_not_logged=[1-9]" "$T/proxy.err"
check "the proxy is still alive" kill -0 "$PXPID"

# ---- bad documents are refused with the key named
cp "$DOC" "$T/keep.json"
write_doc "$T/bad.json" 5 ca
python3 - "$T/bad.json" <<'EOF' >"$T/bad1.json"
import json, sys
d = json.load(open(sys.argv[1])); d["rootCAs"] = ["not a certificate"]; print(json.dumps(d))
EOF
python3 - "$T/bad.json" <<'EOF' >"$T/bad2.json"
import json, sys
d = json.load(open(sys.argv[1])); d["insecureSkipVerify"] = "yes"; print(json.dumps(d))
EOF
python3 - "$T/bad.json" <<'EOF' >"$T/bad3.json"
import json, sys
d = json.load(open(sys.argv[1])); d["rootCA"] = []; print(json.dumps(d))
EOF
for i in 1 2 3; do
  cp "$T/bad$i.json" "$DOC"
  kill -HUP "$PXPID"
  sleep 0.5
done
cp "$T/keep.json" "$DOC"
check "rootCAs with a non-PEM string is refused, naming rootCAs[0]" \
  grep -q 'rootCAs\[0\].*not a PEM certificate' "$T/proxy.err"
check "insecureSkipVerify must be a bool, the key is named" grep -q 'insecureSkipVerify.*expected' "$T/proxy.err"
check "an unknown top-level key is refused" grep -q 'unknown key .*rootCA' "$T/proxy.err"
r=$(get good /x)
check "the running table stays after the refused documents (still 502 without rootCAs: $r)" \
  test "$r" = "502 rc=0"

# ---- max_upstream_tls_conns: a second proxy with a cap of 1
write_doc "$T/cap.json" 1 nohc "$PX2"
spawn "$BIN/traefikee" start-data-node --standalone="$T/cap.json" --limit max_upstream_tls_conns=1 \
  >"$T/cap.out" 2>"$T/cap.err"
CAPPID=$SPAWNED
answers2() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PX2/")" != 000 ]; }
wait_until 10 answers2 || { not_ok "the capped proxy starts"; finish; }
slow() { curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Host: good.test" "http://127.0.0.1:$PX2/_delay/1500"; }
slow >"$T/slow1" &
s1=$!
sleep 0.4
slow >"$T/slow2" &
s2=$!
wait "$s1" "$s2"
pair="$(cat "$T/slow1") $(cat "$T/slow2")"
check "max_upstream_tls_conns=1, two concurrent slow requests: one 200, one 503 ($pair)" \
  test "$pair" = "200 503"
check "... the refusal is logged naming max_upstream_tls_conns" \
  grep -q "upstream TLS connection refused locally.*limit=max_upstream_tls_conns" "$T/cap.err"
r=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Host: good.test" "http://127.0.0.1:$PX2/again")
check "... and the next request is served (recovery): $r" test "$r" = 200
r=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Host: ip.test" "http://127.0.0.1:$PX2/again")
check "... another server name takes the slot from the idle connection: $r" test "$r" = 200
"$BIN/traefikee" start-data-node --standalone="$T/cap.json" --print-limits \
  --limit max_upstream_tls_conns=3 >"$T/limits.out" 2>&1
check "--print-limits counts the upstream TLS slots (3 x 49152)" \
  grep -q "upstream TLS.* 147456 bytes.*max_upstream_tls_conns 3" "$T/limits.out"

kill -TERM "$PXPID" "$CAPPID"
wait_until 10 gone "$PXPID"
check "the proxy exits on SIGTERM" gone "$PXPID"
finish
