#!/usr/bin/env python3
"""proxy_session.py — client sessions for the proxy regression tests (reload, TLS).

    proxy_session.py hold  --port=P [--tls --sni=NAME --ca=FILE] [--path=/] [--go=FILE]
    proxy_session.py ws    --port=P [--go=FILE]
    proxy_session.py many  --port=P [--tls ...] [--count=N] [--path=/]
    proxy_session.py late  --port=P --tls [--sni=NAME --ca=FILE] --go=FILE
    proxy_session.py plain --port=P
    proxy_session.py load  --port=P [--tls] [--conns=20] [--seconds=6] [--path=/] [--close]

hold   one connection: a request, the line "ready", then waits (at most 30 s) for the file named
       by --go to exist and sends a second request on the same connection. One line per request:
       "req N STATUS UPSTREAM" (UPSTREAM from the X-Upstream header, "-" when none), or
       "req N ERR reason". Exit 0 when every request got 200 on the one connection.
ws     the same with a WebSocket-style upgrade to /_ws: "ws 101", then "echo 1 ok" / "echo 2 ok"
       for a payload echoed before and after --go.
many   --count requests on one keep-alive connection: "req N STATUS UPSTREAM" each.
late   a TCP connection, "ready", then (after --go) the TLS handshake and one request on it:
       "req 1 STATUS UPSTREAM" or "req 1 ERR reason".
plain  a plain-HTTP request to a TLS port: "closed N BYTES" when the proxy ends the connection
       (N bytes received, first bytes shown), "hang" when it did not within 5 s.
load   keep-alive load from --conns threads for --seconds (when wrk is missing):
       "requests N non2xx N errors N" and "upstream NAME N" per upstream; --close: one request
       per connection.
"""
import argparse
import os
import socket
import ssl
import sys
import threading
import time


def connect(a, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.ca) if a.ca else ssl._create_unverified_context()
        if not a.ca:
            ctx.check_hostname = False
        s = ctx.wrap_socket(s, server_hostname=a.sni or None)
    return s


class Reader:
    def __init__(self, s):
        self.s = s
        self.buf = b""

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head_only=False):
        head = self.until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ")[1])
        h = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, _, v = ln.partition(":")
                h[k.strip().lower()] = v.strip()
        body = b""
        if head_only or status in (101, 204, 304) or status < 200:
            return status, h, body
        if "chunked" in h.get("transfer-encoding", "").lower():
            while True:
                size = int(self.until(b"\r\n").split(b";")[0].strip(), 16)
                if size == 0:
                    while self.until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self.exact(size)
                self.exact(2)
        else:
            body = self.exact(int(h.get("content-length", "0")))
        return status, h, body


def request(s, r, path, host="x.test", extra=""):
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (path, host, extra)).encode())
    return r.response()


def wait_file(path, limit=30.0):
    end = time.time() + limit
    while not os.path.exists(path):
        if time.time() > end:
            return False
        time.sleep(0.02)
    return True


def cmd_hold(a):
    good = True
    try:
        s = connect(a)
        r = Reader(s)
    except (OSError, ssl.SSLError) as e:
        print("req 1 ERR %s" % e, flush=True)
        return 1
    for n in (1, 2):
        if n == 2:
            print("ready", flush=True)
            if a.go and not wait_file(a.go):
                print("req 2 ERR no go file", flush=True)
                return 1
        try:
            st, h, _ = request(s, r, a.path, a.host)
            print("req %d %d %s" % (n, st, h.get("x-upstream", "-")), flush=True)
            good = good and st == 200
        except (OSError, EOFError, ValueError, ssl.SSLError) as e:
            print("req %d ERR %s" % (n, e), flush=True)
            return 1
    return 0 if good else 1


def cmd_ws(a):
    try:
        s = connect(a)
        r = Reader(s)
        s.sendall(b"GET /_ws HTTP/1.1\r\nHost: x.test\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        st, _, _ = r.response(head_only=True)
        print("ws %d" % st, flush=True)
        if st != 101:
            return 1
        for n in (1, 2):
            if n == 2:
                print("ready", flush=True)
                if a.go and not wait_file(a.go):
                    print("echo 2 ERR no go file", flush=True)
                    return 1
            msg = b"payload-%d-" % n + os.urandom(8).hex().encode()
            s.sendall(msg)
            got = r.exact(len(msg))
            print("echo %d %s" % (n, "ok" if got == msg else "bad"), flush=True)
            if got != msg:
                return 1
    except (OSError, EOFError, ValueError, ssl.SSLError) as e:
        print("ws ERR %s" % e, flush=True)
        return 1
    return 0


def cmd_many(a):
    try:
        s = connect(a)
        r = Reader(s)
        for n in range(1, a.count + 1):
            st, h, _ = request(s, r, a.path, a.host)
            print("req %d %d %s" % (n, st, h.get("x-upstream", "-")), flush=True)
            if st != 200:
                return 1
    except (OSError, EOFError, ValueError, ssl.SSLError) as e:
        print("req ERR %s" % e, flush=True)
        return 1
    return 0


def cmd_late(a):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    print("ready", flush=True)
    if a.go and not wait_file(a.go):
        print("req 1 ERR no go file", flush=True)
        return 1
    try:
        ctx = ssl.create_default_context(cafile=a.ca) if a.ca else ssl._create_unverified_context()
        t = ctx.wrap_socket(s, server_hostname=a.sni or None)
        st, h, _ = request(t, Reader(t), a.path, a.host)
        print("req 1 %d %s" % (st, h.get("x-upstream", "-")), flush=True)
        return 0 if st == 200 else 1
    except (OSError, EOFError, ValueError, ssl.SSLError) as e:
        print("req 1 ERR %r" % e, flush=True)
        return 1


def cmd_plain(a):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
    got = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except socket.timeout:
        print("hang %d" % len(got), flush=True)
        return 1
    except ConnectionResetError:
        pass
    print("closed %d %r" % (len(got), got[:16]), flush=True)
    return 0


def cmd_load(a):
    stats = {"requests": 0, "non2xx": 0, "errors": 0}
    ups = {}
    lock = threading.Lock()
    end = time.time() + a.seconds

    def worker():
        s = r = None
        while time.time() < end:
            try:
                if s is None:
                    s = connect(a)
                    r = Reader(s)
                st, h, _ = request(s, r, a.path, a.host,
                                   "Connection: close\r\n" if a.close else "")
                if a.close:
                    s.close()
                    s = None
                with lock:
                    stats["requests"] += 1
                    if not 200 <= st < 300:
                        stats["non2xx"] += 1
                    u = h.get("x-upstream", "-")
                    ups[u] = ups.get(u, 0) + 1
            except (OSError, EOFError, ValueError, ssl.SSLError):
                with lock:
                    stats["errors"] += 1
                if s is not None:
                    s.close()
                s = None
        if s is not None:
            s.close()

    th = [threading.Thread(target=worker) for _ in range(a.conns)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    print("requests %d non2xx %d errors %d" % (stats["requests"], stats["non2xx"],
                                               stats["errors"]))
    for k in sorted(ups):
        print("upstream %s %d" % (k, ups[k]))
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["hold", "ws", "many", "late", "plain", "load"])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--sni", default="")
    ap.add_argument("--ca", default="")
    ap.add_argument("--host", default="x.test")
    ap.add_argument("--path", default="/")
    ap.add_argument("--go", default="")
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=6)
    ap.add_argument("--close", action="store_true")
    a = ap.parse_args()
    sys.exit({"hold": cmd_hold, "ws": cmd_ws, "many": cmd_many, "late": cmd_late,
              "plain": cmd_plain, "load": cmd_load}[a.mode](a))


if __name__ == "__main__":
    main()
