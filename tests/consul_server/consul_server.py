#!/usr/bin/env python3
"""consul_server.py — a small Consul KV agent for the provider tests (Consul is not in Debian).

It implements the part of Consul's HTTP API the Consul provider uses, with the semantics that
matter to a watcher (docs/internals/providers.md, "The Consul test server"):

  GET    /v1/kv/<key>[?recurse][&index=N][&wait=D]   JSON list, base64 values, sorted by key
  PUT    /v1/kv/<key>            body = raw value     -> true
  DELETE /v1/kv/<key>[?recurse]                       -> true

  * every response carries X-Consul-Index, also a 404 (no key under the prefix);
  * the index of a listing is the highest ModifyIndex under the prefix, counting deletions
    (tombstones) too; with nothing ever written there it is the store's current index;
  * blocking: with index=N > 0 the request waits while that index is <= N, at most `wait`
    (default 5m, max 10m) plus up to wait/16 of jitter, then answers with whatever is there;
  * with --token T every /v1 request needs T (X-Consul-Token, "Authorization: Bearer T" or
    ?token=T), else 403 "Permission denied".

Test hooks (not Consul API):
  POST /test/restore      renumber every index from 1, drop tombstones: indexes go backwards,
                          as after a snapshot restore
  POST /test/fail?n=N&status=S&mode=M
                                 the next N GETs and POSTs (also /v3: the etcd tests) fail:
                                 mode=status  answer status S (default 500)
                                 mode=badjson 200 with a bad JSON body and a higher index
                                 mode=truncated  200, Content-Length 100 bytes over the body,
                                              then the connection closes
                                 mode=junk    bytes that are not HTTP, then close
                                 mode=stale   200 "[]" with X-Consul-Index 1 (an old index)
  GET  /test/log          JSON list of the /v1 requests seen: [method, path?query, token]
  POST /test/clear-log

With --proxy it also serves CONNECT host:port (a tunnel, for the provider's HTTPS_PROXY path);
without it CONNECT is answered 501. Absolute-form targets (GET http://h:p/v1/kv/...) are
always understood, so the server can stand in for an HTTP_PROXY too.

Usage: consul_server.py [--port P] [--token T] [--proxy]; prints "PORT <n>" once listening.
Single file, standard library only; one thread per connection (blocking queries hold one).
"""

import base64
import json
import random
import select
import socket
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


class Store:
    def __init__(self):
        self.cv = threading.Condition()
        self.index = 1          # the raft index of the last write
        self.keys = {}          # key -> [value bytes, create index, modify index]
        self.tombs = {}         # deleted key -> index of the deletion

    def _bump(self):
        self.index += 1
        return self.index

    def put(self, key, value):
        with self.cv:
            i = self._bump()
            old = self.keys.get(key)
            self.keys[key] = [value, old[1] if old else i, i]
            self.tombs.pop(key, None)
            self.cv.notify_all()

    def delete(self, key, recurse):
        with self.cv:
            gone = [k for k in self.keys if (k.startswith(key) if recurse else k == key)]
            if gone:
                i = self._bump()
                for k in gone:
                    del self.keys[k]
                    self.tombs[k] = i
                self.cv.notify_all()

    def restore(self):
        """Renumber indexes from 1 (ordered by old modify index): every index goes down."""
        with self.cv:
            i = 0
            for k, v in sorted(self.keys.items(), key=lambda kv: kv[1][2]):
                i += 1
                v[1] = min(v[1], i)
                v[2] = i
            self.tombs.clear()
            self.index = max(i, 1)
            self.cv.notify_all()

    def _view(self, key, recurse):
        """(entries, index) for a read; caller holds the lock."""
        if recurse:
            ents = sorted((k, v) for k, v in self.keys.items() if k.startswith(key))
            idx = max([v[2] for _, v in ents] +
                      [i for k, i in self.tombs.items() if k.startswith(key)] + [0])
        else:
            ents = [(key, self.keys[key])] if key in self.keys else []
            idx = ents[0][1][2] if ents else self.tombs.get(key, 0)
        return ents, (idx or self.index)

    def read(self, key, recurse, min_index, wait):
        with self.cv:
            ents, idx = self._view(key, recurse)
            if min_index > 0:
                deadline = time.monotonic() + wait + random.uniform(0, wait / 16)
                while idx <= min_index:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.cv.wait(left)
                    ents, idx = self._view(key, recurse)
            return ents, idx


def parse_wait(s):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", s or "")
    if not m:
        return 300.0
    n, unit = int(m.group(1)), m.group(2) or "s"
    secs = n / 1000.0 if unit == "ms" else n * 60.0 if unit == "m" else float(n)
    return min(secs, 600.0)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    store = None
    token = None
    proxy = False
    fail = {"n": 0, "status": 500, "mode": "status"}
    log = []
    lock = threading.Lock()

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without NODELAY the body waits for the
        # client's delayed ACK (40 ms) on a kept-alive connection, as Consul's Go server never does
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status, body=b"", index=None, ctype="application/json"):
        self.send_response(status)
        if index is not None:
            self.send_header("X-Consul-Index", str(index))
            self.send_header("X-Consul-KnownLeader", "true")
            self.send_header("X-Consul-LastContact", "0")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _route(self, method):
        u = urlsplit(self.path)
        q = parse_qs(u.query, keep_blank_values=True)
        if u.path.startswith("/test/"):
            return self._test(method, u.path, q)
        is_kv = u.path.startswith("/v1/kv")
        if not is_kv:
            f = self._take_fail(method)
            return self._inject(f) if f else self._send(404, b"", ctype="text/plain")
        tok = self.headers.get("X-Consul-Token") or ""
        auth = self.headers.get("Authorization") or ""
        if not tok and auth.startswith("Bearer "):
            tok = auth[7:]
        tok = tok or (q.get("token") or [""])[0]
        with Handler.lock:
            Handler.log.append([method, self.path, tok])
        if Handler.token is not None and tok != Handler.token:
            return self._send(403, b"Permission denied", ctype="text/plain")
        key = unquote(u.path[len("/v1/kv/"):]) if u.path.startswith("/v1/kv/") else ""
        f = self._take_fail(method)
        if f:
            return self._inject(f)
        if method == "GET":
            recurse = "recurse" in q
            if not key and not recurse:
                return self._send(400, b"Missing key name", ctype="text/plain")
            index = int((q.get("index") or ["0"])[0] or 0)
            ents, idx = self.store.read(key, recurse, index, parse_wait((q.get("wait") or [""])[0]))
            if not ents:
                return self._send(404, b"", index=idx, ctype="text/plain")
            out = [{"LockIndex": 0, "Key": k, "Flags": 0,
                    "Value": base64.b64encode(v[0]).decode() if v[0] else None,
                    "CreateIndex": v[1], "ModifyIndex": v[2]} for k, v in ents]
            return self._send(200, json.dumps(out).encode(), index=idx)
        if not key:
            return self._send(400, b"Missing key name", ctype="text/plain")
        if method == "PUT":
            self.store.put(key, self._body())
            return self._send(200, b"true", index=self.store.index)
        if method == "DELETE":
            self.store.delete(key, "recurse" in q)
            return self._send(200, b"true", index=self.store.index)
        return self._send(405, b"", ctype="text/plain")

    def _take_fail(self, method):
        """The injected failure this request gets (POST /test/fail), or None."""
        if method not in ("GET", "POST"):
            return None
        with Handler.lock:
            if Handler.fail["n"] <= 0:
                return None
            Handler.fail["n"] -= 1
            return dict(Handler.fail)

    def _inject(self, f):
        """One injected failure (POST /test/fail): see the module docstring."""
        mode = f["mode"]
        if mode == "badjson":
            return self._send(200, b'[{"Key":"traefik/x","Value":', index=self.store.index + 1)
        if mode == "stale":
            return self._send(200, b"[]", index=1)
        if mode == "truncated":
            body = b'[{"Key":"traefik/backends/b/servers/s/url","Value":"aHR0cDovLzEwLjAuMC4'
            self.send_response(200)
            self.send_header("X-Consul-Index", str(self.store.index + 1))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) + 100))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            return None
        if mode == "junk":
            self.wfile.write(b"\x00\xffSSH-2.0-not-http\r\n\r\n garbage \x01\x02\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(f["status"], b"injected failure", ctype="text/plain")

    def _test(self, method, path, q):
        if path == "/test/restore" and method == "POST":
            self.store.restore()
        elif path == "/test/fail" and method == "POST":
            with Handler.lock:
                Handler.fail = {"n": int(q.get("n", ["1"])[0]),
                                "status": int(q.get("status", ["500"])[0]),
                                "mode": q.get("mode", ["status"])[0]}
        elif path == "/test/log" and method == "GET":
            with Handler.lock:
                return self._send(200, json.dumps(Handler.log).encode())
        elif path == "/test/clear-log" and method == "POST":
            with Handler.lock:
                Handler.log = []
        else:
            return self._send(404, b"", ctype="text/plain")
        return self._send(200, b"true")

    def do_GET(self):
        self._body()
        self._route("GET")

    def do_PUT(self):
        self._route("PUT")

    def do_DELETE(self):
        self._body()
        self._route("DELETE")

    def do_CONNECT(self):
        with Handler.lock:
            Handler.log.append(["CONNECT", self.path, ""])
        if not Handler.proxy:
            return self._send(501, b"", ctype="text/plain")
        host, _, port = self.path.rpartition(":")
        try:
            up = socket.create_connection((host, int(port)), timeout=5)
        except (OSError, ValueError):
            return self._send(502, b"", ctype="text/plain")
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        peers = {self.connection: up, up: self.connection}
        try:
            while True:
                ready, _, _ = select.select(list(peers), [], [], 60)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peers[s].sendall(data)
        except OSError:
            pass
        finally:
            up.close()

    def do_POST(self):
        self._body()
        self._route("POST")


def main():
    port, token = 0, None
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "--port":
            port = int(args.pop(0))
        elif a == "--token":
            token = args.pop(0)
        elif a == "--proxy":
            Handler.proxy = True
        else:
            sys.exit("usage: consul_server.py [--port P] [--token T] [--proxy]")
    Handler.store = Store()
    Handler.token = token
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.handle_error = lambda request, address: None  # clients hanging up are normal
    print("PORT %d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
