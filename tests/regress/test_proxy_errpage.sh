#!/usr/bin/env bash
# Frontend error pages through the static binary (docs/internals/proxy-errpage.md):
# `traefikee start-data-node --standalone=FILE` with python upstreams: an application server
# answering any status, an error server serving /errors/<code>.html (text/html), statuses in
# and out of the ranges, the first page of the document winning, the proxy's own 502 (dead
# server), 503 (no healthy server) and 504 (response header timeout) replaced, an error backend that is refused (the
# original status with the proxy's body) or has no healthy server (the upstream's own answer),
# an error page answer never replaced again, Host and method of the page request, keep-alive
# across replaced answers, HEAD, a 300 KB error body dropped without hanging, request bodies
# not read (a dead server; an upstream answering mid-upload: closed after the answer, no
# reset), and the access log's status.
. "$(dirname "$0")/lib.sh"

T="$BIN/traefikee"
D="$REGRESS_TMP"

# A small HTTP/1.1 keep-alive server: /…/status/N answers N ("<name> status N"), /…/big/N
# answers 500 with N bytes, /…/slow/MS answers 200 after MS ms, /…/early
# answers 500 before reading the request body, /errors/<code>.html and /second/<code> answer 200 text/html
# pages, /health 200. Every request is logged as "METHOD PATH HOST" in <name>.log.
cat >"$D/srv.py" <<'EOF'
import http.server, socketserver, sys, re, time
name, logf = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self, body_ok):
        with open(logf, "a") as f:
            f.write("%s %s %s\n" % (self.command, self.path, self.headers.get("Host", "-")))
        n = int(self.headers.get("Content-Length", "0") or "0")
        p = self.path
        if p.endswith("/early"):  # answer 500 first, then drain the body
            self.send_response(500)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"early\n")
            self.wfile.flush()
            while n > 0:
                got = self.rfile.read(min(n, 65536))
                if not got: break
                n -= len(got)
            return
        if n: self.rfile.read(n)
        st, ctype, body = 200, "text/plain", ("%s ok\n" % name).encode()
        m = re.search(r"/errors/(\d+)\.html$", p)
        m2 = re.search(r"/second/(\d+)$", p)
        m3 = re.search(r"/status/(\d+)$", p)
        m4 = re.search(r"/big/(\d+)$", p)
        m5 = re.search(r"/slow/(\d+)$", p)
        if m5: time.sleep(int(m5.group(1)) / 1000.0)
        if m:
            ctype, body = "text/html; charset=utf-8", ("<h1>custom error %s from %s</h1>\n" % (m.group(1), name)).encode()
        elif m2:
            ctype, body = "text/html", ("second page %s\n" % m2.group(1)).encode()
        elif m3:
            st, body = int(m3.group(1)), ("%s status %s\n" % (name, m3.group(1))).encode()
        elif m4:
            st, body = 500, b"y" * int(m4.group(1))
        self.send_response(st)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Server", name)
        self.end_headers()
        if body_ok: self.wfile.write(body)
    def do_GET(self): self.answer(True)
    def do_POST(self): self.answer(True)
    def do_HEAD(self): self.answer(False)
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print("PORT %d" % s.server_address[1], flush=True)
s.serve_forever()
EOF

spawn python3 "$D/srv.py" app "$D/app.log" >"$D/app.out" 2>&1
spawn python3 "$D/srv.py" err "$D/err.log" >"$D/err.out" 2>&1
APP=$(upstream_port app) && ERRS=$(upstream_port err) || { not_ok "upstreams start"; finish; }
read -r WEB DEAD DOWN <<<"$(free_ports 3)" # DEAD, DOWN: nothing listens there

cat >"$D/doc.json" <<EOF
{
  "version": 1, "revision": 1,
  "defaultEntryPoints": ["web"],
  "entryPoints": { "web": { "address": "127.0.0.1:$WEB" } },
  "frontends": {
    "app": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/app" } },
             "errors": { "five": { "status": ["500-599"], "backend": "err", "query": "/errors/{status}.html" },
                         "b":    { "status": ["418", "500"], "backend": "err", "query": "second/{status}" } } },
    "dead": { "backend": "dead", "routes": { "r": { "rule": "PathPrefix:/dead" } },
              "errors": { "x": { "status": ["502"], "backend": "err", "query": "/errors/{status}.html" } } },
    "sick": { "backend": "sick", "routes": { "r": { "rule": "PathPrefix:/sick" } },
              "errors": { "x": { "status": ["503"], "backend": "err", "query": "/errors/{status}.html" } } },
    "refused": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/refused" } },
              "errors": { "x": { "status": ["500-599"], "backend": "errdown", "query": "/errors/{status}.html" } } },
    "refdead": { "backend": "dead", "routes": { "r": { "rule": "PathPrefix:/refdead" } },
              "errors": { "x": { "status": ["500-599"], "backend": "errdown", "query": "/errors/{status}.html" } } },
    "nohealthy": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/nohealthy" } },
              "errors": { "x": { "status": ["500-599"], "backend": "errsick", "query": "/errors/{status}.html" } } },
    "loop": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/loop" } },
              "errors": { "x": { "status": ["500-599"], "backend": "err", "query": "/status/{status}" } } },
    "plain": { "backend": "a", "routes": { "r": { "rule": "PathPrefix:/plain" } } }
  },
  "backends": {
    "a":       { "servers": { "s": { "url": "http://127.0.0.1:$APP" } } },
    "err":     { "servers": { "s": { "url": "http://127.0.0.1:$ERRS" } } },
    "dead":    { "servers": { "s": { "url": "http://127.0.0.1:$DEAD" } } },
    "errdown": { "servers": { "s": { "url": "http://127.0.0.1:$DOWN" } } },
    "sick":    { "servers": { "s": { "url": "http://127.0.0.1:$DEAD" } },
                 "healthCheck": { "path": "/health", "interval": "1s", "timeout": "500ms" } },
    "errsick": { "servers": { "s": { "url": "http://127.0.0.1:$DOWN" } },
                 "healthCheck": { "path": "/health", "interval": "1s", "timeout": "500ms" } }
  }
}
EOF

ALOG="$D/access.log"
spawn "$T" start-data-node --standalone="$D/doc.json" --accesslog.filepath="$ALOG" \
  --limit response_header_timeout_ms=1s >"$D/tee.out" 2>&1
TEE=$SPAWNED
wait_for 10 curl -s -o /dev/null -m 1 "http://127.0.0.1:$WEB/plain/x" ||
  { not_ok "proxy starts: $(tail -3 "$D/tee.out")"; finish; }

# req PATH [CURL ARGS...]: CODE, BODY, headers in $D/hdrs.
req() {
  local path=$1; shift
  CODE=$(curl -s -m 10 -o "$D/body" -D "$D/hdrs.raw" -w '%{http_code}' "$@" \
    "http://127.0.0.1:$WEB$path")
  tr -d '\r' <"$D/hdrs.raw" >"$D/hdrs"
  BODY=$(cat "$D/body")
}
hdr() { awk -v n="$1" 'tolower($0) ~ "^" tolower(n) ":" {sub(/^[^:]*: */, ""); print; exit}' "$D/hdrs"; }
errlog_count() { grep -c -- "$1" "$D/err.log" 2>/dev/null || true; }

# 1. Upstream 500 -> 500 with the error page's head fields and body.
req /app/status/500
check "upstream 500 -> client 500 (got $CODE)" test "$CODE" = 500
check "upstream 500 -> the error page body (got '$BODY')" \
  test "$BODY" = "<h1>custom error 500 from err</h1>"
check "upstream 500 -> the error page's Content-Type ($(hdr Content-Type))" \
  test "$(hdr Content-Type)" = "text/html; charset=utf-8"
check "upstream 500 -> served by the error server (X-Server $(hdr X-Server))" \
  test "$(hdr X-Server)" = err
check "the page request: GET, {status} substituted, Host = the error server's authority" \
  grep -qxF "GET /errors/500.html 127.0.0.1:$ERRS" "$D/err.log"

# 2. Other statuses of the range; the first page in document order wins (both cover 500).
req /app/status/503
check "upstream 503 -> 503 + page 503 (got $CODE '$BODY')" \
  test "$CODE" = 503 -a "$BODY" = "<h1>custom error 503 from err</h1>"
req /app/status/418
check "upstream 418 -> 418 + the second page, the only one covering it (got $CODE '$BODY')" \
  test "$CODE" = 418 -a "$BODY" = "second page 418"
check "500 covered by both pages: the first one was asked, never the second" \
  test "$(errlog_count 'GET /second/500 ')" = 0

# 3. Outside the ranges: the upstream's own answer.
req /app/status/404
check "upstream 404 (outside the ranges) -> its own body (got $CODE '$BODY')" \
  test "$CODE" = 404 -a "$BODY" = "app status 404"
req /app/status/200
check "upstream 200 -> untouched (got $CODE '$BODY')" test "$CODE" = 200 -a "$BODY" = "app status 200"
n0=$(wc -l <"$D/err.log")
req /plain/status/500
check "frontend without errors: upstream 500 passes (got $CODE '$BODY')" \
  test "$CODE" = 500 -a "$BODY" = "app status 500"
check "frontend without errors: no page request" test "$(wc -l <"$D/err.log")" = "$n0"

# 4. The proxy's own 502 (refused) and 503 (no healthy server) are replaced too.
req /dead/x
check "dead server -> 502 + page 502 (got $CODE '$BODY')" \
  test "$CODE" = 502 -a "$BODY" = "<h1>custom error 502 from err</h1>"
ok503=0
for _ in $(seq 60); do
  req /sick/x
  [ "$CODE" = 503 ] && { ok503=1; break; }
  sleep 0.1
done
check "no healthy server -> 503 + page 503 (got $CODE '$BODY')" \
  test "$ok503" = 1 -a "$BODY" = "<h1>custom error 503 from err</h1>"

t0=$(date +%s%N)
req /app/slow/4000
ms=$((($(date +%s%N) - t0) / 1000000))
check "response header timeout (1 s) -> 504 + page 504 (got $CODE '$BODY', ${ms} ms)" \
  test "$CODE" = 504 -a "$BODY" = "<h1>custom error 504 from err</h1>" -a "$ms" -lt 3500

# 5. The error backend fails too: the original answer as the proxy would make it.
req /refused/status/500
check "error server refused, upstream 500 -> 500 with the proxy's own body (got $CODE '$BODY')" \
  test "$CODE" = 500 -a "$BODY" = "Internal Server Error"
req /refdead/x
check "error server refused, dead server -> 502 'Bad Gateway' (got $CODE '$BODY')" \
  test "$CODE" = 502 -a "$BODY" = "Bad Gateway"
# errsick's only server is probed down (interval 1s): no server to pick.
for _ in $(seq 60); do
  req /nohealthy/status/502
  [ "$BODY" = "app status 502" ] && break
  sleep 0.1
done
check "error backend without a healthy server -> the upstream's own 502 (got $CODE '$BODY')" \
  test "$CODE" = 502 -a "$BODY" = "app status 502"

# 6. Never a loop: the page request's own 5xx is what the client gets.
n0=$(wc -l <"$D/err.log")
req /loop/status/504
check "page answer 504 is not replaced again: 504 + the error server's body (got $CODE '$BODY')" \
  test "$CODE" = 504 -a "$BODY" = "err status 504"
check "exactly one page request for it" test "$(($(wc -l <"$D/err.log") - n0))" = 1

# 7. Keep-alive: replaced and plain answers on one client connection.
OUT2=$(curl -s -m 10 -w '%{http_code} %{num_connects}\n' -o /dev/null \
  "http://127.0.0.1:$WEB/app/status/500" -o /dev/null "http://127.0.0.1:$WEB/app/ok" \
  -o /dev/null "http://127.0.0.1:$WEB/dead/x" -o "$D/ka4" "http://127.0.0.1:$WEB/app/status/200")
check "keep-alive: 500 (page), 200, 502 (page), 200 on one connection (got $(echo $OUT2))" \
  test "$(echo $OUT2)" = "500 1 200 0 502 0 200 0"
check "keep-alive: the last answer is the app's" test "$(cat "$D/ka4")" = "app status 200"

# 8. HEAD: the page's head fields, no body; the page is asked with HEAD. A GET follows on
#    the same connection (pipelined): a body after the HEAD answer would come before it.
python3 - "$WEB" >"$D/head.out" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"HEAD /app/status/503 HTTP/1.1\r\nHost: h\r\n\r\n"
          b"GET /app/ok HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
sys.stdout.write(data.decode("latin-1").replace("\r", ""))
PY
H1=$(awk 'BEGIN{RS=""} NR==1' "$D/head.out")
REST=$(awk 'BEGIN{RS=""} NR>1' "$D/head.out")
check "HEAD -> 503 with the page's Content-Type and Content-Length" \
  sh -c "printf '%s' \"\$1\" | head -1 | grep -q '^HTTP/1.1 503' && printf '%s' \"\$1\" | grep -qx 'Content-Type: text/html; charset=utf-8' && printf '%s' \"\$1\" | grep -qx 'Content-Length: 35'" _ "$H1"
check "HEAD -> no body: the next bytes are the pipelined GET's answer" \
  sh -c "printf '%s' \"\$1\" | head -1 | grep -q '^HTTP/1.1 200'" _ "$REST"
check "HEAD -> the page request is a HEAD" grep -qxF "HEAD /errors/503.html 127.0.0.1:$ERRS" "$D/err.log"
OUT2=$(curl -s -m 10 -w '%{http_code} %{num_connects}\n' -o /dev/null -I \
  "http://127.0.0.1:$WEB/app/status/500" -o /dev/null -I "http://127.0.0.1:$WEB/app/ok")
check "HEAD keep-alive: 500 then 200 on one connection (got $(echo $OUT2))" \
  test "$(echo $OUT2)" = "500 1 200 0"

# 9. A 300 KB error body is dropped without hanging; keep-alive goes on.
t0=$(date +%s%N)
OUT2=$(curl -s -m 10 -w '%{http_code} %{num_connects} %{size_download}\n' -o /dev/null \
  "http://127.0.0.1:$WEB/app/big/300000" -o /dev/null "http://127.0.0.1:$WEB/app/big/300000")
ms=$((($(date +%s%N) - t0) / 1000000))
check "300 KB upstream 500 body, twice on one connection -> 500 + the 35-byte page each (got $(echo $OUT2), ${ms} ms)" \
  test "$(echo $OUT2)" = "500 1 35 500 0 35" -a "$ms" -lt 5000

# 10. A request body the proxy never read: answered, then closed (lingering, no reset).
head -c 2000000 /dev/zero >"$D/big.bin"
req /dead/upload --data-binary @"$D/big.bin" -H 'Content-Type: application/octet-stream'
check "2 MB POST to a dead server -> 502 + page, read in full (got $CODE '$BODY')" \
  test "$CODE" = 502 -a "$BODY" = "<h1>custom error 502 from err</h1>"
check "2 MB POST: Connection: close" test "$(hdr Connection)" = close
check "the page request carries no body (GET, no Content-Length reached the error server)" \
  test "$(grep -c '^POST' "$D/err.log")" = 0
# An upstream answering 500 while the client is still uploading (1 MB at 2 MB/s).
head -c 1000000 /dev/zero >"$D/mid.bin"
req /app/early --data-binary @"$D/mid.bin" --limit-rate 2M
check "upload still running, upstream answers 500 -> 500 + page (got $CODE '$BODY')" \
  test "$CODE" = 500 -a "$BODY" = "<h1>custom error 500 from err</h1>"
check "upload still running: Connection: close (the rest of the body is not read)" \
  test "$(hdr Connection)" = close
req /app/status/500 -d 'small=body'
check "small POST, upstream 500 -> 500 + page (got $CODE '$BODY')" \
  test "$CODE" = 500 -a "$BODY" = "<h1>custom error 500 from err</h1>"

# 11. The access log records what the client got.
sleep 0.5
check "access log: /app/status/503 logged with 503" grep -q '"GET /app/status/503 HTTP/1.1" 503 ' "$ALOG"
check "access log: /dead/x logged with 502" grep -q '"GET /dead/x HTTP/1.1" 502 ' "$ALOG"
check "proxy still running" kill -0 "$TEE"
finish
