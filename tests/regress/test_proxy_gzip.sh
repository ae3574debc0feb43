#!/usr/bin/env bash
# Entry point compression through the static binary (docs/internals/proxy-gzip.md):
# `traefikee start-data-node --standalone=FILE --limit max_gzip_streams=1` with a `compress`
# entry point and a plain one, in front of a python upstream (written below) serving text with
# Content-Length, chunked and close-delimited, a 100-byte body, an already gzip-encoded body,
# 304, 206, no-transform, Vary, a slow streamed (SSE-like) body. Bodies are compared byte for
# byte with what the upstream sent, decoded by curl --compressed and by `gzip -dc` on the raw
# bytes; identity when Accept-Encoding is absent or gzip;q=0, for HEAD, gRPC and the plain
# entry point; HTTP/1.0 (close-delimited); several compressed responses on one keep-alive
# connection; a SYNC flush lets the client decode the first event while the upstream waits;
# the pool's cap (one stream) answers a concurrent response uncompressed but whole, logs it,
# and the slot serves again afterwards.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"

cat >"$D/up.py" <<'PY'
import socket, sys, threading, time, zlib

def text(n):
    words = [b"<li>traefik ", b"entry point ", b"compress ", b"gzip</li>\n", b"%d "]
    out, i = bytearray(), 0
    while len(out) < n:
        w = words[(i * 7 + i // 3) % 5]
        out += (w % i) if b"%d" in w else w
        i += 1
    return bytes(out[:n])

def handle(c):
    f = c.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            method, target, version = line.decode().split()
            h = {}
            while True:
                l = f.readline()
                if l in (b"\r\n", b""):
                    break
                k, _, v = l.decode().partition(":")
                h[k.strip().lower()] = v.strip()
            path = target.split("?")[0].split("/")
            kind = path[1]
            n = int(path[2]) if len(path) > 2 and path[2].isdigit() else 0
            head = method == "HEAD"
            def send(status, hdrs, body=b""):
                s = "HTTP/1.1 %s\r\n" % status + "".join("%s: %s\r\n" % kv for kv in hdrs) + "\r\n"
                c.sendall(s.encode() + (b"" if head else body))
            if kind == "text":
                b = text(n)
                send("200 OK", [("Content-Type", "text/plain"), ("ETag", '"t%d"' % n),
                                ("Content-Length", len(b))], b)
            elif kind == "chunked":
                b = text(n)
                send("200 OK", [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")])
                if not head:
                    for i in range(0, len(b), 3000):
                        p = b[i:i + 3000]
                        c.sendall(b"%x\r\n" % len(p) + p + b"\r\n")
                    c.sendall(b"0\r\n\r\n")
            elif kind == "close":
                send("200 OK", [("Content-Type", "text/plain"), ("Connection", "close")], text(n))
                return
            elif kind == "small":
                send("200 OK", [("Content-Type", "text/plain"), ("Content-Length", 100)], text(100))
            elif kind == "encoded":
                co = zlib.compressobj(9, zlib.DEFLATED, 31)
                b = co.compress(text(n)) + co.flush()
                send("200 OK", [("Content-Encoding", "gzip"), ("Content-Length", len(b))], b)
            elif kind == "notmod":
                send("304 Not Modified", [("ETag", '"x"')])
            elif kind == "range":
                b = text(n)
                send("206 Partial Content", [("Content-Range", "bytes 0-%d/99999" % (n - 1)),
                                             ("Content-Length", len(b))], b)
            elif kind == "notransform":
                b = text(n)
                send("200 OK", [("Cache-Control", "no-transform"), ("Content-Length", len(b))], b)
            elif kind == "vary":
                b = text(n)
                send("200 OK", [("Vary", "Accept-Encoding"), ("Content-Length", len(b))], b)
            elif kind == "conns":
                b = b"%d" % accepted[0]
                send("200 OK", [("Content-Length", len(b)), ("Cache-Control", "no-store")], b)
            elif kind == "slow":
                # SSE-like: one event, a pause of n ms, a second event, the end.
                send("200 OK", [("Content-Type", "text/event-stream"),
                                ("Transfer-Encoding", "chunked")])
                for i, ev in enumerate((b"data: first event\n\n", b"data: second event\n\n")):
                    if i:
                        time.sleep(n / 1000.0)
                    c.sendall(b"%x\r\n" % len(ev) + ev + b"\r\n")
                c.sendall(b"0\r\n\r\n")
            else:
                send("404 Not Found", [("Content-Length", 0)])
            if version == "HTTP/1.0":
                return
    except (OSError, ValueError):
        pass
    finally:
        c.close()

if sys.argv[1] == "text":
    sys.stdout.buffer.write(text(int(sys.argv[2])))
    sys.exit(0)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
print("PORT %d" % s.getsockname()[1], flush=True)
accepted = [0]
while True:
    c, _ = s.accept()
    accepted[0] += 1
    threading.Thread(target=handle, args=(c,), daemon=True).start()
PY

spawn python3 "$D/up.py" serve >"$D/up.out" 2>&1
UPP=$(upstream_port up) || { not_ok "upstream starts"; finish; }
read -r GZ PLAIN GZS MET <<<"$(free_ports 4)"

cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["gz", "plain", "gzs"],
  "entryPoints": {
    "gz":    { "address": "127.0.0.1:$GZ", "compress": true },
    "plain": { "address": "127.0.0.1:$PLAIN" },
    "gzs":   { "address": "127.0.0.1:$GZS", "tls": {}, "compress": true }
  },
  "frontends": { "all": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/" } } } },
  "backends": { "a": { "servers": { "s1": { "url": "http://127.0.0.1:$UPP" } } } }
}
EOF

run "$T" start-data-node --standalone="$D/doc.json" --limit max_gzip_streams=1 --print-limits
check "--print-limits counts the gzip streams (max_gzip_streams 1)" \
  has "$OUT$ERR" "max_gzip_streams 1"

run "$T" start-data-node --standalone="$D/doc.json" --limit max_gzip_streams=65537 --print-limits
check "max_gzip_streams=65537 refused at start, naming the limit" \
  sh -c "test $RC -ne 0 && printf '%s' \"\$1\" | grep -q 'max_gzip_streams 65537 over 65536'" _ "$OUT$ERR"

spawn "$T" start-data-node --standalone="$D/doc.json" --limit max_gzip_streams=1 \
  --metrics.listen="127.0.0.1:$MET" >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 "http://127.0.0.1:$GZ/small" || { not_ok "proxy starts"; finish; }

for n in 100 100000 300000 3000000; do python3 "$D/up.py" text $n >"$D/want.$n"; done

# get PORT PATH [CURL ARGS...]: CODE, headers in $D/h (CR stripped), body in $D/b.
get() {
  local port=$1 path=$2; shift 2
  rm -f "$D/b"
  CODE=$(curl -s -m 10 -o "$D/b" -D "$D/h.raw" -w '%{http_code}' "$@" "http://127.0.0.1:$port$path")
  tr -d '\r' <"$D/h.raw" >"$D/h"
}
hdr() { awk -v n="$1" 'tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}' "$D/h"; }
nhdr() { grep -ci "^$1:" "$D/h"; }
same() { cmp -s "$1" "$2"; }
bsize() { if [ -f "$D/b" ]; then stat -c %s "$D/b"; else echo 0; fi; }
gunz() { gzip -dc <"$D/b" >"$D/b.dec" 2>/dev/null; }

# 1. 100 KB text with Content-Length, curl --compressed.
get "$GZ" /text/100000 --compressed
check "CL body: 200, Content-Encoding: gzip" test "$CODE:$(hdr Content-Encoding)" = "200:gzip"
check "CL body: Vary: Accept-Encoding, chunked, no Content-Length" \
  test "$(hdr Vary):$(hdr Transfer-Encoding):$(nhdr Content-Length)" = "Accept-Encoding:chunked:0"
check "CL body: decoded by curl --compressed, identical" same "$D/b" "$D/want.100000"
check "CL body: the ETag is passed unchanged (as gziphandler)" test "$(hdr ETag)" = '"t100000"'

# 2. the same, raw bytes through gzip -dc
get "$GZ" /text/100000 -H 'Accept-Encoding: gzip'
RAW=$(bsize)
check "raw gzip bytes: gzip -dc gives the body" sh -c "gzip -dc <'$D/b' | cmp -s - '$D/want.100000'"
check "raw gzip bytes: smaller than the body ($RAW < 100000)" test "$RAW" -lt 50000
echo "# 100000 text bytes -> $RAW gzip bytes"

# 3. chunked upstream body, 300 KB
get "$GZ" /chunked/300000 -H 'Accept-Encoding: br, gzip;q=0.5'
check "chunked body: gzip, decodes to the body" \
  sh -c "test '$(hdr Content-Encoding)' = gzip && gzip -dc <'$D/b' | cmp -s - '$D/want.300000'"

# 4. close-delimited upstream body: compressed, and the client connection stays (chunked)
CE=$(curl -s -m 10 --compressed -o "$D/b1" -o "$D/b2" -w '%{num_connects} ' \
  "http://127.0.0.1:$GZ/close/100000" "http://127.0.0.1:$GZ/text/100")
check "close-delimited body: decoded identical" same "$D/b1" "$D/want.100000"
check "close-delimited body: client connection kept (1 connect for 2 requests)" test "$CE" = "1 0 "

# 5. 100 bytes: under gziphandler's 1400-byte minimum
get "$GZ" /small -H 'Accept-Encoding: gzip'
check "100-byte body: identity, Content-Length 100, Vary" \
  test "$(nhdr Content-Encoding):$(hdr Content-Length):$(hdr Vary)" = "0:100:Accept-Encoding"
check "100-byte body: identical" same "$D/b" "$D/want.100"

# 6. already encoded: passed through untouched (one gzip layer)
get "$GZ" /encoded/100000 -H 'Accept-Encoding: gzip'
check "already encoded: one Content-Encoding: gzip, Content-Length kept" \
  test "$(nhdr Content-Encoding):$(hdr Content-Length)" = "1:$(bsize)"
check "already encoded: gzip -dc once gives the text" sh -c "gzip -dc <'$D/b' | cmp -s - '$D/want.100000'"

# 7. HEAD, 304, 206, no-transform
get "$GZ" /text/100000 -I -H 'Accept-Encoding: gzip'
check "HEAD: identity, Content-Length 100000" \
  test "$CODE:$(nhdr Content-Encoding):$(hdr Content-Length)" = "200:0:100000"
get "$GZ" /notmod -H 'Accept-Encoding: gzip'
check "304: no Content-Encoding, no body" test "$CODE:$(nhdr Content-Encoding):$(bsize)" = "304:0:0"
get "$GZ" /range/5000 -H 'Accept-Encoding: gzip'
check "206 with Content-Range: identity" test "$CODE:$(nhdr Content-Encoding):$(hdr Content-Length)" = "206:0:5000"
get "$GZ" /notransform/100000 -H 'Accept-Encoding: gzip'
check "Cache-Control no-transform: identity" \
  test "$(nhdr Content-Encoding):$(hdr Content-Length)" = "0:100000"
get "$GZ" /vary/100000 -H 'Accept-Encoding: gzip'
check "upstream Vary: Accept-Encoding: compressed, not repeated" \
  test "$(hdr Content-Encoding):$(nhdr Vary)" = "gzip:1"

# 8. the client does not accept gzip
get "$GZ" /text/100000
check "no Accept-Encoding: identity, Content-Length 100000, Vary" \
  test "$(nhdr Content-Encoding):$(hdr Content-Length):$(hdr Vary)" = "0:100000:Accept-Encoding"
check "no Accept-Encoding: identical" same "$D/b" "$D/want.100000"
get "$GZ" /text/100000 -H 'Accept-Encoding: gzip;q=0, deflate'
check "gzip;q=0: identity" test "$(nhdr Content-Encoding):$(hdr Content-Length)" = "0:100000"
get "$GZ" /text/100000 -H 'Accept-Encoding: gzip' -H 'Content-Type: application/grpc'
check "gRPC request: identity, no Vary (Traefik skips gziphandler)" \
  test "$(nhdr Content-Encoding):$(nhdr Vary)" = "0:0"

# 9. the plain entry point is not compressed
get "$PLAIN" /text/100000 -H 'Accept-Encoding: gzip'
check "entry point without compress: identity, no Vary" \
  test "$(nhdr Content-Encoding):$(nhdr Vary):$(hdr Content-Length)" = "0:0:100000"

# 10. HTTP/1.0 client: compressed, delimited by the close
get "$GZ" /chunked/100000 -0 -H 'Accept-Encoding: gzip'
check "HTTP/1.0: gzip, no Transfer-Encoding, Connection: close" \
  test "$(hdr Content-Encoding):$(nhdr Transfer-Encoding):$(hdr Connection)" = "gzip:0:close"
check "HTTP/1.0: gzip -dc gives the body" sh -c "gzip -dc <'$D/b' | cmp -s - '$D/want.100000'"

# 11. keep-alive: several compressed responses on one connection (and one upstream connection)
U0=$(curl -s -m 5 "http://127.0.0.1:$UPP/conns")
NC=$(curl -s -m 20 --compressed -o "$D/k1" -o "$D/k2" -o "$D/k3" -o "$D/k4" -w '%{num_connects} ' \
  "http://127.0.0.1:$GZ/text/100000" "http://127.0.0.1:$GZ/chunked/300000" \
  "http://127.0.0.1:$GZ/small" "http://127.0.0.1:$GZ/text/100000")
check "keep-alive: 4 responses on 1 connection" test "$NC" = "1 0 0 0 "
U1=$(curl -s -m 5 "http://127.0.0.1:$UPP/conns")
check "keep-alive: upstream connections reused (count $U0 -> $U1, probes included)" \
  test "$U1" -le $((U0 + 2))
check "keep-alive: every body identical" sh -c "cmp -s '$D/k1' '$D/want.100000' && \
  cmp -s '$D/k2' '$D/want.300000' && cmp -s '$D/k3' '$D/want.100' && cmp -s '$D/k4' '$D/want.100000'"

# 12. streaming: the first event is decodable while the upstream waits (SYNC flush)
cat >"$D/sse.py" <<'PY'
import socket, sys, time, zlib
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /slow/1500 HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n")
t0, buf, d, first, out = time.time(), b"", zlib.decompressobj(31), None, b""
s.settimeout(5)
while True:
    data = s.recv(65536)
    if not data:
        break
    buf += data
    if b"\r\n\r\n" not in buf:
        continue
    head, _, body = buf.partition(b"\r\n\r\n")
    # de-chunk what is whole so far
    raw, rest = b"", body
    while b"\r\n" in rest:
        size_s, _, after = rest.partition(b"\r\n")
        size = int(size_s, 16)
        if len(after) < size + 2:
            break
        raw += after[:size]
        rest = after[size + 2:]
        if size == 0:
            break
    out = d.decompress(raw) if raw else b""
    d = zlib.decompressobj(31)
    if first is None and b"first event" in out:
        first = time.time() - t0
    if b"second event" in out and rest == b"":
        break
print("first=%.2f whole=%d" % (first if first is not None else -1,
      out == b"data: first event\n\ndata: second event\n\n"))
PY
R=$(python3 "$D/sse.py" "$GZ")
FIRST=${R#first=}; FIRST=${FIRST%% *}
check "streaming: the first event decodes before the upstream's pause ends ($R)" \
  python3 -c "import sys; sys.exit(0 if 0 <= $FIRST < 1.2 else 1)"
check "streaming: the whole stream decodes to both events" has "$R" "whole=1"

# 13. the cap: one stream; a concurrent response goes uncompressed, whole, and is logged
# cres RESULT: traefikee_compress_responses_total{result="RESULT"} in /metrics.
cres() {
  curl -s -m 2 "http://127.0.0.1:$MET/metrics" |
    awk -v k="traefikee_compress_responses_total{result=\"$1\"}" 'index($0, k " ") == 1 { print $2 }'
}
G0=$(cres gzip)
P0=$(cres pool_full)
check "/metrics: compressed responses counted so far (gzip $G0 > 0), none left identity (pool_full $P0)" \
  [ "${G0:-0}" -gt 0 -a "$P0" = 0 ]
curl -s -m 10 --compressed -o "$D/slow.b" -D "$D/slow.h" "http://127.0.0.1:$GZ/slow/1500" &
SLOW=$!
sleep 0.4
get "$GZ" /text/100000 -H 'Accept-Encoding: gzip'
check "cap reached: the concurrent response is identity, Content-Length kept" \
  test "$CODE:$(nhdr Content-Encoding):$(hdr Content-Length)" = "200:0:100000"
check "cap reached: its body is whole" same "$D/b" "$D/want.100000"
wait "$SLOW"
check "cap reached: the stream holding the slot finished compressed" \
  sh -c "grep -qi '^content-encoding: gzip' '$D/slow.h' && grep -q 'second event' '$D/slow.b'"
wait_for 3 file_has "$D/tee.out" "gzip streams full" 
check "cap reached: logged naming max_gzip_streams" file_has "$D/tee.out" "setting=max_gzip_streams"
get "$GZ" /text/100000 --compressed
check "after the cap: the slot serves again (gzip, identical)" \
  sh -c "test '$(hdr Content-Encoding)' = gzip && cmp -s '$D/b' '$D/want.100000'"
check "/metrics: pool_full +1 ($P0 -> $(cres pool_full)), gzip +2: the slow stream and the one after ($G0 -> $(cres gzip))" \
  [ "$(cres pool_full)" = "$((P0 + 1))" -a "$(cres gzip)" = "$((G0 + 2))" ]

# 14. TLS entry point with compress (self-signed default certificate), 3 MB chunked
CODE=$(curl -sk -m 20 --compressed -o "$D/b" -D "$D/h.raw" -w '%{http_code}' \
  "https://127.0.0.1:$GZS/chunked/3000000")
tr -d '\r' <"$D/h.raw" >"$D/h"
check "TLS: 3 MB chunked body compressed (gzip) and identical" \
  sh -c "test '$CODE:$(hdr Content-Encoding)' = 200:gzip && cmp -s '$D/b' '$D/want.3000000'"

# 15. a slow reader (the proxy's writes block, the upstream is held back), then a client that
# gives up mid-body: its stream goes back to the pool (one slot) and serves the next response
curl -s -m 20 --limit-rate 60k --compressed -o "$D/b" "http://127.0.0.1:$GZ/chunked/3000000"
check "slow reader: 3 MB compressed body identical" same "$D/b" "$D/want.3000000"
curl -s -m 1 --limit-rate 5k -H 'Accept-Encoding: gzip' -o /dev/null \
  "http://127.0.0.1:$GZ/chunked/3000000"
sleep 0.3
get "$GZ" /text/100000 --compressed
check "client gone mid-body: the slot is free again (gzip, identical)" \
  sh -c "test '$(hdr Content-Encoding)' = gzip && cmp -s '$D/b' '$D/want.100000'"

# 16. the proxy is still healthy: a plain request and no crash
get "$PLAIN" /small
check "proxy alive after all of the above" test "$CODE" = 200
kill -USR1 "$TEE"
wait_for 5 grep -q "proxy feature stats.* gzip_pool_full=1 " "$D/tee.out"
check "SIGUSR1: the feature stats line says gzip_pool_full=1 and gzip=$(cres gzip)" \
  grep -q "proxy feature stats.* gzip=$(cres gzip) gzip_pool_full=1 " "$D/tee.out"

finish
