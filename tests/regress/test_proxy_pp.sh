#!/usr/bin/env bash
# PROXY protocol on entry points (docs/internals/proxy-pp.md) through the static binary:
# `traefikee start-data-node --standalone=FILE` with entry points that trust 127.0.0.1 (plain,
# with a whitelist, and TLS with the generated default certificate), one that trusts only
# 10.0.0.0/8 and one without proxyProtocol, in front of a python echo upstream. curl
# --haproxy-protocol, then raw v1 / v2 headers from python: the upstream's X-Forwarded-For /
# X-Real-Ip and the access log must carry the header's source address; split and slow
# headers, no header, untrusted peers (400), malformed headers (closed), the whitelist using
# the PROXY address, PROXY v1 / v2 followed by TLS, a reload that stops trusting the peer, and
# the header timeout. PP_KEEP=1 prints the proxy's output at the end.
. "$(dirname "$0")/lib.sh"
[ -n "${PP_KEEP:-}" ] && trap "cat \"$REGRESS_TMP/tee.out\" >&2; regress_cleanup" EXIT

T="$BIN/traefikee"
UP="$REGRESS_TOP/tests/regress/proxy_upstream.py"
D="$REGRESS_TMP"

spawn python3 "$UP" --name=s1 >"$D/s1.out" 2>&1
S1=$(upstream_port s1) || { not_ok "upstream starts"; finish; }
read -r PP UNTR WL TLSP PLAIN MET INS INS2 <<<"$(free_ports 8)"

cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["pp", "untr", "wl", "tlsp", "plain"],
  "entryPoints": {
    "pp":    { "address": "127.0.0.1:$PP", "proxyProtocol": { "trustedIPs": ["127.0.0.1/32"] } },
    "untr":  { "address": "127.0.0.1:$UNTR", "proxyProtocol": { "trustedIPs": ["10.0.0.0/8"] } },
    "wl":    { "address": "127.0.0.1:$WL", "proxyProtocol": { "trustedIPs": ["127.0.0.0/8"] },
               "whitelist": { "sourceRange": ["203.0.113.0/24"] } },
    "tlsp":  { "address": "127.0.0.1:$TLSP", "tls": {},
               "proxyProtocol": { "trustedIPs": ["127.0.0.1/32", "::1/128"] } },
    "plain": { "address": "127.0.0.1:$PLAIN" }
  },
  "frontends": {
    "web": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/" } } }
  },
  "backends": { "a": { "servers": { "s1": { "url": "http://127.0.0.1:$S1" } } } }
}
EOF

# ppc.py PORT [--tls] [--split N] [--pause S] DATA: sends DATA (python escapes) on one connection
# (--split: N bytes, a pause, the rest; --tls: DATA's PROXY header in clear, sent with the
# ClientHello or a pause before it (--split N gives a v2 header's length), the rest inside) and
# prints, per response, "status=N xff=... xri=... proto=..." from the upstream's echo; "closed"
# when the proxy closed without a byte.
cat >"$D/ppc.py" <<'EOF'
import json, socket, ssl, sys, time
args = sys.argv[1:]
port = int(args.pop(0))
tls = split = None
pause = 0.0
while args[0].startswith("--"):
    o = args.pop(0)
    if o == "--tls": tls = True
    elif o == "--split": split = int(args.pop(0))
    elif o == "--pause": pause = float(args.pop(0))
data = args[0].encode("latin-1").decode("unicode_escape").encode("latin-1")
s = socket.create_connection(("127.0.0.1", port), timeout=10)
def tls_exchange(prefix, req):
    # a memory-BIO TLS client: its ClientHello goes out right behind the PROXY header, in the
    # same send unless --pause asks for a gap
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    o = ctx.wrap_bio(inc, out, server_side=False)
    first = True
    while True:
        try:
            o.do_handshake()
            break
        except ssl.SSLWantReadError:
            pass
        data_out = out.read()
        if first:
            if pause:
                s.sendall(prefix); time.sleep(pause); s.sendall(data_out)
            else:
                s.sendall(prefix + data_out)
            first = False
        elif data_out:
            s.sendall(data_out)
        b = s.recv(65536)
        if not b:
            return b""
        inc.write(b)
    s.sendall(out.read())
    o.write(req)
    s.sendall(out.read())
    got = b""
    while True:
        try:
            chunk = o.read(65536)
            if not chunk: break
            got += chunk
            continue
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        b = s.recv(65536)
        if not b: break
        inc.write(b)
    return got
if tls:
    cut = data.index(b"\r\n") + 2 if data.startswith(b"PROXY") else split or 0
    buf = tls_exchange(data[:cut], data[cut:])
elif split:
    s.sendall(data[:split]); time.sleep(pause); s.sendall(data[split:])
else:
    s.sendall(data)
if not tls:
    buf = b""
    try:
        while True:
            b = s.recv(65536)
            if not b: break
            buf += b
    except (ConnectionResetError, socket.timeout):
        pass
if not buf:
    print("closed"); sys.exit(0)
while buf:
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    st = lines[0].split(" ")[1]
    hd = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    n = int(hd.get("content-length", "0"))
    body, buf = rest[:n], rest[n:]
    out = "status=" + st
    try:
        h = {k.lower(): v for k, v in json.loads(body)["headers"]}
        out += " xff=%s xri=%s proto=%s" % (h.get("x-forwarded-for", "-"), h.get("x-real-ip", "-"),
                                            h.get("x-forwarded-proto", "-"))
    except Exception:
        pass
    print(out)
EOF
ppc() { python3 "$D/ppc.py" "$@" 2>&1; }

ALOG="$D/access.log"
spawn "$T" start-data-node --standalone="$D/doc.json" --accesslog.filepath="$ALOG" \
  --log.level=debug --metrics.listen="127.0.0.1:$MET" >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 "http://127.0.0.1:$PLAIN/" || { not_ok "proxy starts"; finish; }

G='GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'
GK='GET /k HTTP/1.1\r\nHost: a\r\n\r\n'
v2() { # v2 CMD FAM SRC DST SPORT DPORT [TLV_BYTES]: a v2 header as python escapes
  python3 - "$@" <<'EOF'
import ipaddress, struct, sys
cmd, fam = int(sys.argv[1], 16), int(sys.argv[2], 16)
body = b""
if len(sys.argv) > 3:
    body = (ipaddress.ip_address(sys.argv[3]).packed + ipaddress.ip_address(sys.argv[4]).packed +
            struct.pack(">HH", int(sys.argv[5]), int(sys.argv[6])))
    body += b"\x00" * int(sys.argv[7] if len(sys.argv) > 7 else 0)
h = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([cmd, fam]) + struct.pack(">H", len(body)) + body
print("".join("\\x%02x" % c for c in h))
EOF
}

# ---- curl --haproxy-protocol (v1 with curl's own addresses)
CODE=$(curl -s -m 10 -o "$D/body" -w '%{http_code}' --haproxy-protocol "http://127.0.0.1:$PP/c")
check "curl --haproxy-protocol on a trusting entry point: 200 (got $CODE)" test "$CODE" = 200
check "curl's PROXY source (127.0.0.1) in X-Forwarded-For" \
  has "$(cat "$D/body")" '["X-Forwarded-For", "127.0.0.1"]'
CODE=$(curl -s -m 10 -o /dev/null -w '%{http_code}' --haproxy-protocol "http://127.0.0.1:$PLAIN/c")
check "curl --haproxy-protocol on an entry point without proxyProtocol: 400 (got $CODE)" \
  test "$CODE" = 400

# ---- v1 with a chosen address
R=$(ppc "$PP" "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n$G")
check "v1 TCP4 203.0.113.7: X-Forwarded-For and X-Real-Ip are the PROXY source ($R)" \
  test "$R" = "status=200 xff=203.0.113.7 xri=203.0.113.7 proto=http"
wait_for 5 file_has "$ALOG" '203.0.113.7 - - ['
check "access log line starts with the PROXY source" file_has "$ALOG" '203.0.113.7 - - ['
R=$(ppc "$PP" "PROXY TCP6 2001:db8::7 ::1 5555 80\r\n$G")
check "v1 TCP6 2001:db8::7 ($R)" test "$R" = "status=200 xff=2001:db8::7 xri=2001:db8::7 proto=http"
R=$(ppc "$PP" "PROXY UNKNOWN\r\n$G")
check "v1 UNKNOWN keeps the real peer ($R)" test "$R" = "status=200 xff=127.0.0.1 xri=127.0.0.1 proto=http"
R=$(ppc "$PP" "PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n$GK$G")
check "keep-alive: both requests after one header carry its source ($(echo $R))" \
  test "$(echo $R)" = "status=200 xff=203.0.113.9 xri=203.0.113.9 proto=http status=200 xff=203.0.113.9 xri=203.0.113.9 proto=http"

# ---- v2 binary
R=$(ppc "$PP" "$(v2 21 11 198.51.100.9 127.0.0.1 4000 80)$G")
check "v2 PROXY AF_INET 198.51.100.9 ($R)" test "$R" = "status=200 xff=198.51.100.9 xri=198.51.100.9 proto=http"
R=$(ppc "$PP" "$(v2 21 21 2001:db8::8 ::1 4000 80)$G")
check "v2 PROXY AF_INET6 2001:db8::8 ($R)" test "$R" = "status=200 xff=2001:db8::8 xri=2001:db8::8 proto=http"
R=$(ppc "$PP" "$(v2 21 11 198.51.100.10 127.0.0.1 4000 80 40)$G")
check "v2 with 40 bytes of TLVs ($R)" test "$R" = "status=200 xff=198.51.100.10 xri=198.51.100.10 proto=http"
R=$(ppc "$PP" "$(v2 20 00)$G")
check "v2 LOCAL keeps the real peer ($R)" test "$R" = "status=200 xff=127.0.0.1 xri=127.0.0.1 proto=http"

# ---- split / slow header, no header
R=$(ppc "$PP" --split 17 --pause 0.7 "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n$G")
check "v1 header in two writes 0.7 s apart ($R)" test "$R" = "status=200 xff=203.0.113.7 xri=203.0.113.7 proto=http"
R=$(ppc "$PP" --split 9 --pause 0.5 "$(v2 21 11 198.51.100.9 127.0.0.1 4000 80)$G")
check "v2 header split inside its signature ($R)" test "$R" = "status=200 xff=198.51.100.9 xri=198.51.100.9 proto=http"
R=$(ppc "$PP" "$G")
check "no header from a trusted peer: served as is ($R)" \
  test "$R" = "status=200 xff=127.0.0.1 xri=127.0.0.1 proto=http"

# pph RESULT: traefikee_proxyprotocol_headers_total{result="RESULT"} in /metrics.
pph() {
  curl -s -m 2 "http://127.0.0.1:$MET/metrics" |
    awk -v k="traefikee_proxyprotocol_headers_total{result=\"$1\"}" 'index($0, k " ") == 1 { print $2 }'
}
OK0=$(pph ok)
check "/metrics: the headers so far counted ok ($OK0 > 10), none malformed ($(pph malformed))" \
  [ "${OK0:-0}" -gt 10 -a "$(pph malformed)" = 0 ]
check "no proxyProtocol.insecure warning for trustedIPs entry points" \
  sh -c "! grep -q 'proxyProtocol.insecure' '$D/tee.out'"

# ---- untrusted peers, malformed headers
R=$(ppc "$UNTR" "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n$G")
check "peer outside trustedIPs: the header reaches the HTTP parser, 400 ($R)" test "$R" = "status=400"
R=$(ppc "$UNTR" "$G")
check "peer outside trustedIPs without a header: 200 with its own address ($R)" \
  test "$R" = "status=200 xff=127.0.0.1 xri=127.0.0.1 proto=http"
R=$(ppc "$PP" "PROXY TCP4 203.0.113.7 127.0.0.1 5555 99999\r\n$G")
check "malformed v1 (port 99999) from a trusted peer: closed, no answer ($R)" test "$R" = closed
R=$(ppc "$PP" "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\n$G")
check "malformed v1 (LF without CR): closed ($R)" test "$R" = closed
R=$(ppc "$PP" "$(v2 21 41)$G")
check "malformed v2 (family 4): closed ($R)" test "$R" = closed
R=$(ppc "$PP" "$(v2 21 11 198.51.100.9 127.0.0.1 4000 80 600)$G")
check "v2 over 512 bytes: closed ($R)" test "$R" = closed
check "malformed headers logged at debug" has "$(cat "$D/tee.out")" 'PROXY protocol header malformed'
check "/metrics: 4 malformed headers counted ($(pph malformed)), untrusted peers not ok ($OK0 -> $(pph ok))" \
  [ "$(pph malformed)" = 4 -a "$(pph ok)" = "$OK0" ]

# ---- whitelist on the PROXY address
R=$(ppc "$WL" "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n$G")
check "whitelist 203.0.113.0/24 admits the PROXY source 203.0.113.7 ($R)" \
  test "$R" = "status=200 xff=203.0.113.7 xri=203.0.113.7 proto=http"
R=$(ppc "$WL" "PROXY TCP4 198.51.100.1 127.0.0.1 5555 80\r\n$G")
check "whitelist refuses the PROXY source 198.51.100.1: 403 ($R)" test "$R" = "status=403"
R=$(ppc "$WL" "$G")
check "whitelist refuses the real peer without a header: 403 ($R)" test "$R" = "status=403"
check "/metrics: the two whitelist headers counted ok ($OK0 -> $(pph ok))" \
  [ "$(pph ok)" = "$((OK0 + 2))" -a "$(pph malformed)" = 4 ]

# ---- TLS entry point: PROXY v1 in clear, then the handshake
R=$(ppc "$TLSP" --tls --pause 0.3 "PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n$G")
check "TLS entry point: PROXY v1 then TLS ($R)" \
  test "$R" = "status=200 xff=203.0.113.7 xri=203.0.113.7 proto=https"
R=$(ppc "$TLSP" --tls "PROXY TCP4 203.0.113.8 127.0.0.1 5555 443\r\n$G")
check "TLS entry point: PROXY v1 and ClientHello back to back ($R)" \
  test "$R" = "status=200 xff=203.0.113.8 xri=203.0.113.8 proto=https"
R=$(ppc "$TLSP" --tls --split 28 --pause 0.2 "$(v2 21 11 198.51.100.9 127.0.0.1 4000 443)$G")
check "TLS entry point: PROXY v2 then TLS ($R)" \
  test "$R" = "status=200 xff=198.51.100.9 xri=198.51.100.9 proto=https"
R=$(ppc "$TLSP" --tls "$G")
check "TLS entry point: no header, TLS as usual ($R)" \
  test "$R" = "status=200 xff=127.0.0.1 xri=127.0.0.1 proto=https"

# ---- reload: trust follows the current document (decided at each accept)
sed -e 's/"revision": 1/"revision": 2/' \
  -e 's|"pp":    { "address": "127.0.0.1:'"$PP"'", "proxyProtocol": { "trustedIPs": \["127.0.0.1/32"\] } }|"pp": { "address": "127.0.0.1:'"$PP"'", "proxyProtocol": { "trustedIPs": ["10.0.0.0/8"] } }|' \
  "$D/doc.json" >"$D/doc2.json"
check "reload document differs only in pp's trustedIPs" \
  test "$(diff "$D/doc.json" "$D/doc2.json" | grep -c '^[<>]')" = 4
mv "$D/doc2.json" "$D/doc.json"
kill -HUP "$TEE"
wait_for 5 grep -q 'revision=2' "$D/tee.out"
R=$(ppc "$PP" "PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n$G")
check "after a reload that stops trusting 127.0.0.1: the header is answered 400 ($R)" \
  test "$R" = "status=400"

# ---- header timeout (client_header_timeout, 10 s by default): a header that never ends
START=$SECONDS
python3 - "$WL" >"$D/hto.out" <<'EOF' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"PROXY TCP4 203.0")
try:
    print("closed" if s.recv(100) == b"" else "answered")
except ConnectionResetError:
    print("closed")  # the unread header bytes make the close a reset
EOF
HTO=$!
sleep 1
kill -USR1 "$TEE" # meanwhile: SIGUSR1 shows the connection waiting for its header
wait_for 5 grep -q 'proxy stats.* proxyhdr=1 ' "$D/tee.out"
check "SIGUSR1: the unfinished header's connection is counted as proxyhdr=1" \
  grep -q 'proxy stats.* proxyhdr=1 ' "$D/tee.out"
check "SIGUSR1: the feature stats line counts the headers (pp_ok=$(pph ok) pp_malformed=4)" \
  grep -q "proxy feature stats.* pp_ok=$(pph ok) pp_malformed=4" "$D/tee.out"
wait "$HTO"
R=$(cat "$D/hto.out")
EL=$((SECONDS - START))
check "an unfinished header is closed by client_header_timeout ($R after ${EL}s)" \
  test "$R" = closed -a "$EL" -ge 8 -a "$EL" -le 14

check "proxy still running" kill -0 "$TEE"

# ---- proxyProtocol.insecure: a warning at load naming the entry point (headers from any peer)
cat >"$D/ins.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["ins", "safe"],
  "entryPoints": {
    "ins":  { "address": "127.0.0.1:$INS", "proxyProtocol": { "insecure": true } },
    "safe": { "address": "127.0.0.1:$INS2", "proxyProtocol": { "trustedIPs": ["127.0.0.1/32"] } }
  },
  "frontends": { "web": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/" } } } },
  "backends": { "a": { "servers": { "s1": { "url": "http://127.0.0.1:$S1" } } } }
}
EOF
spawn "$T" start-data-node --standalone="$D/ins.json" >"$D/ins.out" 2>&1
INSP=$SPAWNED
wait_for 10 grep -q 'routing document applied' "$D/ins.out"
check "proxyProtocol.insecure: warned at load, naming the entry point" \
  grep -q 'level=warn msg="proxyProtocol.insecure.*entrypoint="ins"' "$D/ins.out"
check "... once: not for the trustedIPs entry point" \
  test "$(grep -c 'proxyProtocol.insecure' "$D/ins.out")" = 1
kill "$INSP"
finish
