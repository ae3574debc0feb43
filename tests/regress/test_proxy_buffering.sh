#!/usr/bin/env bash
# test_proxy_buffering.sh — backend `buffering` limits through
# `traefikee start-data-node --standalone` (docs/internals/proxy-ptc.md): maxRequestBodyBytes 1000
# and maxResponseBodyBytes 5000 on one backend, none on another, zeros (no limit) and the
# ignored keys on a third. Upstreams: proxy_upstream.py (echo with body length and SHA-256,
# /_bytes/N, /_chunked/N, /_count) and a small server here that sends a body in two parts with
# a pause between them (chunked, or delimited by closing). Both sides of every limit.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$REGRESS_TMP
DOC="$T/routing.json"

cat >"$T/slow.py" <<'PY'
import socket, sys, threading, time
# /chunked/N/M: chunked body of N bytes, a pause, M more; /close/N/M: the same, delimited by
# closing; /once/N: chunked, the whole body in the same send as the head.
def serve(c):
    try:
        data = b""
        while b"\r\n\r\n" not in data:
            d = c.recv(4096)
            if not d:
                return
            data += d
        path = data.split(b" ")[1].decode().strip("/").split("/")
        kind, sizes = path[0], [int(x) for x in path[1:]]
        if kind == "once":
            n = sizes[0]
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      b"%x\r\n" % n + b"o" * n + b"\r\n0\r\n\r\n")
        elif kind == "chunked":
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      b"%x\r\n" % sizes[0] + b"a" * sizes[0] + b"\r\n")
            time.sleep(0.4)
            c.sendall(b"%x\r\n" % sizes[1] + b"b" * sizes[1] + b"\r\n0\r\n\r\n")
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"a" * sizes[0])
            time.sleep(0.4)
            c.sendall(b"b" * sizes[1])
        time.sleep(0.2)
    except OSError:
        pass
    finally:
        c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(64)
print("PORT", s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY

spawn python3 "$HERE/proxy_upstream.py" --name=s1 >"$T/s1.out" 2>&1
U1=$(upstream_port s1) || { not_ok "upstream starts"; finish; }
spawn python3 "$T/slow.py" >"$T/slow.out" 2>&1
US=$(upstream_port slow) || { not_ok "slow upstream starts"; finish; }
read -r P < <(free_ports 1)

python3 - "$P" "$U1" "$US" >"$DOC" <<'PY'
import json, sys
p, u1, us = sys.argv[1:]
fe = lambda host, be: {"entryPoints": ["web"], "backend": be, "routes": {"r": {"rule": "Host:" + host}}}
srv = lambda port: {"servers": {"s": {"url": "http://127.0.0.1:" + port}}}
print(json.dumps({
  "version": 1, "revision": 1,
  "entryPoints": {"web": {"address": "127.0.0.1:" + p}},
  "frontends": {"lim": fe("lim.test", "lim"), "free": fe("free.test", "free"),
                "zero": fe("zero.test", "zero"), "slow": fe("slow.test", "slow")},
  "backends": {
    "lim": dict(srv(u1), buffering={"maxRequestBodyBytes": 1000, "maxResponseBodyBytes": 5000}),
    "free": srv(u1),
    "zero": dict(srv(u1), buffering={"maxRequestBodyBytes": 0, "maxResponseBodyBytes": 0,
                                     "memRequestBodyBytes": 10, "memResponseBodyBytes": 10,
                                     "retryExpression": "IsNetworkError() && Attempts() <= 2"}),
    "slow": dict(srv(us), buffering={"maxResponseBodyBytes": 5000}),
  },
}))
PY
spawn "$BIN/traefikee" start-data-node --standalone="$DOC" >"$T/proxy.out" 2>"$T/proxy.err"
PX=$SPAWNED

head -c 1000 /dev/urandom >"$T/b1000"
head -c 1001 /dev/urandom >"$T/b1001"
head -c 5000 /dev/urandom >"$T/b5000"
sha() { sha256sum "$1" | cut -d' ' -f1; }
# post HOST FILE [curl args]: POST the file through the proxy; status printed, echo in $T/post.json
post() {
  local host=$1 file=$2; shift 2
  curl -s --max-time 10 -o "$T/post.json" -w '%{http_code}' -H "Host: $host" \
    --data-binary "@$file" "$@" "http://127.0.0.1:$P/echo"
}
echo_field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/post.json" "$1"; }
# get HOST PATH: status, bytes received and curl's exit status of a GET; body in $T/get.body
get() {
  curl -s --max-time 10 -o "$T/get.body" -w '%{http_code} %{size_download}' -H "Host: $1" \
    "http://127.0.0.1:$P$2"
  echo " rc=$?"
}
count() { curl -s --max-time 5 "http://127.0.0.1:$U1/_count"; }

up() { [ "$(post free.test "$T/b1000")" = 200 ]; }
wait_until 10 up || { not_ok "the proxy answers"; tail -5 "$T/proxy.err" | sed 's/^/# /'; finish; }

# ---- request bodies
r=$(post lim.test "$T/b1000")
check "Content-Length 1000 = maxRequestBodyBytes: 200 ($r)" test "$r" = 200
check "... the upstream got the same 1000 bytes" \
  test "$(echo_field body_len) $(echo_field body_sha256)" = "1000 $(sha "$T/b1000")"
n0=$(count)
r=$(post lim.test "$T/b1001")
n1=$(count)
check "Content-Length 1001: 413 ($r)" test "$r" = 413
check "... and the upstream never saw the request (/_count $n0 -> $n1)" test "$n1" = "$((n0 + 1))"
r=$(post lim.test "$T/b1000" -H "Transfer-Encoding: chunked")
check "chunked body of 1000: 200 and the same bytes upstream ($r)" \
  test "$r $(echo_field body_len) $(echo_field body_sha256)" = "200 1000 $(sha "$T/b1000")"
n0=$(count)
r=$(post lim.test "$T/b1001" -H "Transfer-Encoding: chunked")
n1=$(count)
check "chunked body of 1001 sent at once: 413 ($r)" test "$r" = 413
check "... and the upstream never saw it (/_count $n0 -> $n1)" test "$n1" = "$((n0 + 1))"

# A chunked body that grows past the limit after the request went upstream: 413, then close.
python3 - "$P" >"$T/grow.out" 2>&1 <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"POST /echo HTTP/1.1\r\nHost: lim.test\r\nTransfer-Encoding: chunked\r\n\r\n"
          b"258\r\n" + b"x" * 600 + b"\r\n")
time.sleep(0.4)
try:
    s.sendall(b"258\r\n" + b"y" * 600 + b"\r\n0\r\n\r\n")
except OSError:
    pass
data = b""
while True:
    try:
        d = s.recv(65536)
    except OSError:
        break
    if not d:
        break
    data += d
print(data.split(b"\r\n")[0].decode(), "closed")
PY
check "chunked body growing past the limit mid-stream: 413, then the connection closes ($(cat "$T/grow.out"))" \
  grep -q "^HTTP/1.1 413 .* closed$" "$T/grow.out"
r=$(post free.test "$T/b5000")
check "a backend without buffering takes 5000 bytes ($r)" \
  test "$r $(echo_field body_len)" = "200 5000"
r=$(post zero.test "$T/b5000")
check "limits 0 mean none; memRequestBodyBytes and retryExpression change nothing ($r)" \
  test "$r $(echo_field body_sha256)" = "200 $(sha "$T/b5000")"

# ---- response bodies
r=$(get lim.test /_bytes/5000)
check "Content-Length 5000 = maxResponseBodyBytes: 200, the whole body ($r)" \
  test "$r/$(tr -d x <"$T/get.body" | wc -c)" = "200 5000 rc=0/0"
r=$(get lim.test /_bytes/5001)
check "Content-Length 5001: 500 ($r)" test "${r%% *}" = 500
r=$(get lim.test /_chunked/5000)
check "chunked 5000 (4 KiB pieces): 200, the whole body ($r)" test "$r" = "200 5000 rc=0"
r=$(curl -s --max-time 10 -o /dev/null -o /dev/null -w '%{http_code}/%{num_connects} ' -H "Host: lim.test" \
  "http://127.0.0.1:$P/_bytes/5001" "http://127.0.0.1:$P/_bytes/10")
check "after a 500 for the length, the client connection serves the next request ($r)" \
  test "$r" = "500/1 200/0 "
# received R LO HI: get's result R is a 200 whose body size is in [LO, HI]
received() { local n; n=$(echo "$1" | cut -d' ' -f2); [ "${1%% *}" = 200 ] && [ "$n" -ge "$2" ] && [ "$n" -le "$3" ]; }
r=$(get slow.test /chunked/3000/3000)
check "chunked response growing past the limit after its head: cut, at most 5000 bytes ($r)" \
  eval 'received "$r" 3000 5000 && [ "${r##* }" = rc=18 ]'
r=$(get slow.test /close/3000/3000)
check "close-delimited response growing past the limit: cut, at most 5000 bytes ($r)" \
  received "$r" 3000 5000
r=$(get slow.test /chunked/2000/3000)
check "the same response at exactly 5000 bytes: whole ($r)" test "$r" = "200 5000 rc=0"
r=$(get slow.test /once/5001)
check "chunked 5001 arriving with its head: 500, or cut before the limit ($r)" \
  eval '[ "${r%% *}" = 500 ] || received "$r" 0 5000'
r=$(get free.test /_bytes/20000)
check "a backend without buffering sends 20000 bytes ($r)" test "$r" = "200 20000 rc=0"
r=$(get zero.test /_chunked/20000)
check "limits 0: 20000 chunked bytes ($r)" test "$r" = "200 20000 rc=0"

check "the over-limit events are logged" \
  test "$(grep -c 'buffering limit exceeded' "$T/proxy.err")" -ge 3
check "... naming the backend and the limit" \
  grep -q 'what="request answered 413" backend=lim limit=1000' "$T/proxy.err"
check "the proxy is still up" kill -0 "$PX"
finish
