#!/usr/bin/env python3
"""proxy_upstream.py — the upstream server the proxy regression tests put behind traefikee.

    python3 tests/regress/proxy_upstream.py --name=s1 [--port=0] [--bind=127.0.0.1]

Prints "PORT <n>" on its first line of stdout once it listens (port 0 picks a free one), then
serves HTTP/1.1 with keep-alive, one thread per connection, until killed. Request bodies may be
Content-Length or chunked; "Expect: 100-continue" is answered with 100 first.

Paths (the first segment decides; anything else is the echo):
  /<anything>          200 JSON: {"server", "method", "target", "version", "headers": [[k, v]...],
                       "body_len", "body_sha256", "count"}; header X-Upstream: <name>
  /_status/N           status N (body "status N\n", none for 1xx/204/304)
  /_delay/MS           sleep MS milliseconds, then the echo
  /_bytes/N            N bytes of "x" with Content-Length
  /_chunked/N          N bytes of "x", chunked in 4 KiB pieces
  /_health             200 "ok", or 503 after GET /_control/down (until /_control/up)
  /_control/down|up    health switch (ask the upstream directly, not through the proxy)
  /_count              number of requests this server has parsed so far (text)
  /_close              close the connection without answering
  /_garbage            answer bytes that are not HTTP
  /_reset              close with a TCP RST (SO_LINGER 0)
  /_ws                 WebSocket-style upgrade: 101, then echo every byte back raw
  /_setcookie          200 with a Set-Cookie and Cache-Control header (header handling tests)
HEAD gets the echo's headers without a body.
"""
import argparse
import hashlib
import json
import socket
import struct
import sys
import threading
import time

state = {"healthy": True, "count": 0}
lock = threading.Lock()


def read_line(f, limit=65536):
    line = f.readline(limit + 1)
    if len(line) > limit:
        raise ValueError("line too long")
    return line


def read_body(f, headers):
    te = headers.get("transfer-encoding", "").lower()
    if "chunked" in te:
        h = hashlib.sha256()
        n = 0
        while True:
            size_line = read_line(f).split(b";")[0].strip()
            size = int(size_line, 16)
            if size == 0:
                while read_line(f) not in (b"\r\n", b"\n", b""):
                    pass
                return n, h.hexdigest()
            data = f.read(size)
            f.read(2)
            h.update(data)
            n += len(data)
    cl = int(headers.get("content-length", "0") or "0")
    h = hashlib.sha256()
    left = cl
    while left > 0:
        data = f.read(min(left, 65536))
        if not data:
            raise ValueError("short body")
        h.update(data)
        left -= len(data)
    return cl, h.hexdigest()


def send(conn, status, reason, headers, body=b"", head=False):
    out = ["HTTP/1.1 %d %s" % (status, reason)]
    for k, v in headers:
        out.append("%s: %s" % (k, v))
    conn.sendall(("\r\n".join(out) + "\r\n\r\n").encode() + (b"" if head else body))


def handle(conn, name):
    f = conn.makefile("rb")
    try:
        while True:
            line = read_line(f)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            parts = line.decode("latin-1").rstrip("\r\n").split(" ")
            if len(parts) != 3:
                return
            method, target, version = parts
            hdrs = []
            hmap = {}
            while True:
                hl = read_line(f)
                if hl in (b"\r\n", b"\n", b""):
                    break
                k, _, v = hl.decode("latin-1").partition(":")
                hdrs.append([k, v.strip()])
                hmap[k.strip().lower()] = v.strip()
            with lock:
                state["count"] += 1
                count = state["count"]
            if hmap.get("expect", "").lower() == "100-continue":
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            body_len, body_sha = read_body(f, hmap)
            head = method == "HEAD"
            seg = target.split("?")[0].split("/")
            first = seg[1] if len(seg) > 1 else ""
            arg = seg[2] if len(seg) > 2 else ""
            base = [("X-Upstream", name)]
            if first == "_status":
                st = int(arg)
                body = b"" if st < 200 or st in (204, 304) else b"status %d\n" % st
                hh = base + ([] if st < 200 or st in (204, 304) else [("Content-Length", len(body))])
                send(conn, st, "Status", hh, body, head)
                continue
            if first == "_delay":
                time.sleep(int(arg) / 1000.0)
            if first == "_bytes":
                body = b"x" * int(arg)
                send(conn, 200, "OK", base + [("Content-Length", len(body))], body, head)
                continue
            if first == "_chunked":
                n = int(arg)
                send(conn, 200, "OK", base + [("Transfer-Encoding", "chunked")], b"", True)
                if not head:
                    while n > 0:
                        k = min(n, 4096)
                        conn.sendall(b"%x\r\n" % k + b"x" * k + b"\r\n")
                        n -= k
                    conn.sendall(b"0\r\n\r\n")
                continue
            if first == "_health":
                ok = state["healthy"]
                body = b"ok\n" if ok else b"down\n"
                send(conn, 200 if ok else 503, "OK" if ok else "Down",
                     base + [("Content-Length", len(body))], body, head)
                continue
            if first == "_control":
                state["healthy"] = arg == "up"
                send(conn, 200, "OK", base + [("Content-Length", 3)], b"ok\n", head)
                continue
            if first == "_count":
                body = b"%d\n" % (count - 1)
                send(conn, 200, "OK", base + [("Content-Length", len(body))], body, head)
                continue
            if first == "_close":
                return
            if first == "_garbage":
                conn.sendall(b"this is not http\r\n\r\n")
                return
            if first == "_reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            if first == "_ws":
                send(conn, 101, "Switching Protocols",
                     [("Upgrade", hmap.get("upgrade", "websocket")), ("Connection", "Upgrade")])
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    conn.sendall(data)
            if first == "_setcookie":
                body = b"cookie\n"
                send(conn, 200, "OK", base + [("Set-Cookie", "a=b; Path=/"),
                                              ("Cache-Control", "no-store"),
                                              ("Content-Length", len(body))], body, head)
                continue
            body = json.dumps({"server": name, "method": method, "target": target,
                               "version": version, "headers": hdrs, "body_len": body_len,
                               "body_sha256": body_sha, "count": count}).encode() + b"\n"
            send(conn, 200, "OK", base + [("Content-Type", "application/json"),
                                          ("Content-Length", len(body))], body, head)
            if hmap.get("connection", "").lower() == "close" or version == "HTTP/1.0":
                return
    except (ValueError, OSError):
        return
    finally:
        try:
            f.close()
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="up")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    a = ap.parse_args()
    fam = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.bind, a.port))
    s.listen(512)
    print("PORT %d" % s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(conn, a.name), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
