#!/usr/bin/env bash
# test_proxy_bighead.sh — request heads at the edge of a streaming buffer (buf_size 16384, the
# default) through `traefikee start-data-node --standalone`: heads of 16300 .. 16400 bytes with
# a 100-byte body, sent in one write or with the body 200 ms later, so the head ends just before,
# at or after the buffer's end and the request moves to a large head buffer before or after it
# was routed (the routing view moves with it). Each must reach the upstream whole: status 200,
# the long field and the field after it intact, X-Forwarded-Host, the target and the body; then
# a 20000-byte field on a kept-alive connection's second request.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
T=$REGRESS_TMP
DOC="$T/routing.json"

spawn python3 "$HERE/proxy_upstream.py" --name=s1 >"$T/s1.out" 2>&1
U1=$(upstream_port s1) || { not_ok "upstream starts"; finish; }
read -r P < <(free_ports 1)
printf '{"version":1,"revision":1,"entryPoints":{"web":{"address":"127.0.0.1:%s"}},
 "frontends":{"f":{"entryPoints":["web"],"backend":"b","routes":{"r":{"rule":"Host:big.test"}}}},
 "backends":{"b":{"servers":{"s":{"url":"http://127.0.0.1:%s"}}}}}\n' "$P" "$U1" >"$DOC"
spawn "$BIN/traefikee" start-data-node --standalone="$DOC" >"$T/proxy.out" 2>"$T/proxy.err"
listens() { (exec 3<>"/dev/tcp/127.0.0.1/$P") 2>/dev/null; }
wait_for 10 listens || { not_ok "the proxy listens"; tail -n 3 "$T/proxy.err" "$T/proxy.out"; finish; }

# One line per case: TOTAL SPLIT STATUS PAD AFTER XFH BODY TARGET
python3 - "$P" >"$T/cases.out" <<'PY'
import json, socket, sys, time
port = int(sys.argv[1])

def exchange(sock, data_parts):
    for i, part in enumerate(data_parts):
        if i:
            time.sleep(0.2)
        sock.sendall(part)
    data = b""
    sock.settimeout(5)
    while True:
        d = sock.recv(65536)
        if not d:
            break
        data += d
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
            if cl and len(body) >= int(cl[0].split(b":")[1]):
                return head, body[:int(cl[0].split(b":")[1])]
    return data, b""

def report(label, head, body):
    status = head.split(b"\r\n")[0].decode(errors="replace")
    try:
        j = json.loads(body)
        h = dict((k.lower(), v) for k, v in j["headers"])
        print(label, status.replace(" ", "_"), len(h.get("x-pad", "")), h.get("x-after"),
              h.get("x-forwarded-host"), j.get("body_len"), j.get("target"))
    except Exception:
        print(label, status.replace(" ", "_"), "-", "-", "-", "-", "-")

for total in (16300, 16383, 16384, 16385, 16400):
    for split in (0, 1):
        body = b"B" * 100
        base = "POST /edge?q=1 HTTP/1.1\r\nHost: big.test\r\nContent-Length: 100\r\nX-Pad: "
        tail = "\r\nX-After: tail-ok\r\n\r\n"
        head = (base + "p" * (total - len(base) - len(tail)) + tail).encode()
        s = socket.create_connection(("127.0.0.1", port))
        parts = [head, body] if split else [head + body]
        h, b = exchange(s, parts)
        s.close()
        report("%d %d" % (total, split), h, b)

# keep-alive: a small request, then one with a 20000-byte field, on one connection
s = socket.create_connection(("127.0.0.1", port))
exchange(s, [b"GET /one HTTP/1.1\r\nHost: big.test\r\n\r\n"])
req = ("POST /two HTTP/1.1\r\nHost: big.test\r\nContent-Length: 6\r\nX-Pad: " + "p" * 20000 +
       "\r\nX-After: tail-ok\r\n\r\nsecond").encode()
h, b = exchange(s, [req])
report("ka 0", h, b)
PY
while read -r total split status pad after xfh body target; do
  if [ "$total" = ka ]; then
    want_pad=20000 want_body=6 want_target=/two
  else # the head less its other 91 bytes (request line, Host, Content-Length, X-After, CRLFs)
    want_pad=$((total - 91)) want_body=100 want_target=/edge?q=1
  fi
  what="head of $total bytes$([ "$split" = 1 ] && echo ", body 200 ms later")"
  [ "$total" = ka ] && what="second request on a kept-alive connection, a 20000-byte field"
  check "$what: $status, field of $pad bytes, $after, X-Forwarded-Host $xfh, body $body, $target" \
    bash -c '[ "$0" = HTTP/1.1_200_OK ] && [ "$1" = "$2" ] && [ "$3" = tail-ok ] && [ "$4" = big.test ] &&
      [ "$5" = "$6" ] && [ "$7" = "$8" ]' "$status" "$pad" "$want_pad" "$after" "$xfh" "$body" "$want_body" "$target" "$want_target"
done <"$T/cases.out"
check "eleven cases ran" [ "$(grep -c . "$T/cases.out")" -eq 11 ]
finish
