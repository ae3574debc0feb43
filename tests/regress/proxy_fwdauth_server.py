#!/usr/bin/env python3
"""proxy_fwdauth_server.py — the forward auth server of tests/regress/test_proxy_fwdauth.sh.

    python3 tests/regress/proxy_fwdauth_server.py --log=FILE [--port=0]
        [--tls-cert=PEM --tls-key=PEM [--client-ca=PEM]]

With --tls-cert it speaks HTTPS (with --client-ca it asks for an optional client
certificate; the log line then has "peer_cn", the subject CN of the one given, or "").

Prints "PORT <n>" once it listens, then answers HTTP/1.1 (one thread per connection, keep-alive
if the proxy asks for it). Every request's head is appended to FILE as one JSON line:
{"path", "method", "headers": [[k, v]...]} (before answering, so a hang is recorded too).

Paths (the auth request's own path; the client's path arrives in X-Forwarded-Uri):
  /auth        decides by the client's fields: "Cookie: session=good" or "X-Token: good" -> 200
               with X-Auth-User: alice, X-Auth-Role: admin, X-Unlisted: nope; an
               X-Forwarded-Uri starting with /fwd/login -> 302 with Location and two Set-Cookie;
               else 401 with WWW-Authenticate: Bearer realm="fwd", X-Auth-Reason and a body
  /slow?ms=N   sleep N ms, then 200 with X-Auth-User: slow
  /hang        never answers (holds the connection 60 s)
  /close       closes the connection without answering
  /garbage     answers bytes that are not HTTP
  /chunked401  401 with a chunked body
  /big         401 with a 200000-byte body (over the proxy's buffer)
"""
import argparse
import json
import socket
import ssl
import sys
import threading
import time

lock = threading.Lock()


def handle(conn, logf, ctx):
    peer_cn = None
    if ctx is not None:
        try:
            conn.settimeout(10)
            conn = ctx.wrap_socket(conn, server_side=True)
            conn.settimeout(None)
            cert = conn.getpeercert()
            peer_cn = ""
            for rdn in (cert or {}).get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        peer_cn = v
        except (OSError, ssl.SSLError):
            conn.close()
            return
    f = conn.makefile("rb")
    try:
        while True:
            line = f.readline(65536)
            if not line:
                return
            parts = line.decode("latin-1").split()
            if len(parts) != 3:
                return
            method, target = parts[0], parts[1]
            headers = []
            while True:
                h = f.readline(65536)
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers.append([k.strip(), v.strip()])
            with lock:
                with open(logf, "a") as lf:
                    rec = {"path": target, "method": method, "headers": headers}
                    if peer_cn is not None:
                        rec["peer_cn"] = peer_cn
                    lf.write(json.dumps(rec) + "\n")
            hmap = {}
            for k, v in headers:
                hmap.setdefault(k.lower(), v)
            path, _, query = target.partition("?")
            ka = hmap.get("connection", "").lower() != "close"
            conn_hdr = b"" if ka else b"Connection: close\r\n"
            if path == "/hang":
                time.sleep(60)
                return
            if path == "/close":
                return
            if path == "/garbage":
                conn.sendall(b"this is not HTTP at all\r\n\r\n")
                return
            if path == "/slow":
                ms = int(query.split("=", 1)[1]) if query.startswith("ms=") else 1000
                time.sleep(ms / 1000.0)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Auth-User: slow\r\nContent-Length: 0\r\n" + conn_hdr + b"\r\n")
            elif path == "/chunked401":
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n"
                             b"Content-Type: text/plain\r\n" + conn_hdr + b"\r\n"
                             b"7\r\nchunked\r\n7\r\n denial\r\n1\r\n\n\r\n0\r\n\r\n")
            elif path == "/big":
                body = b"y" * 200000
                conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: %d\r\n" % len(body) + conn_hdr + b"\r\n" + body)
            else:
                cookie = hmap.get("cookie", "")
                uri = hmap.get("x-forwarded-uri", "")
                if "session=good" in cookie or hmap.get("x-token") == "good":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Auth-User: alice\r\nX-Auth-Role: admin\r\n"
                                 b"X-Unlisted: nope\r\nContent-Length: 3\r\n" + conn_hdr + b"\r\nok\n")
                elif uri.startswith("/fwd/login"):
                    body = b"redirecting\n"
                    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: https://login.example/?rd=%s\r\n"
                                 % uri.encode() +
                                 b"Set-Cookie: csrf=abc123; Path=/\r\nSet-Cookie: flow=xyz; HttpOnly\r\n"
                                 b"Keep-Alive: timeout=5\r\nContent-Length: %d\r\n" % len(body) +
                                 conn_hdr + b"\r\n" + body)
                else:
                    body = b"denied by the auth server\n"
                    conn.sendall(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"fwd\"\r\n"
                                 b"X-Auth-Reason: no token\r\nContent-Type: text/plain\r\n"
                                 b"Content-Length: %d\r\n" % len(body) + conn_hdr + b"\r\n" + body)
            if not ka:
                return
    except (OSError, ValueError):
        return
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--client-ca")
    a = ap.parse_args()
    ctx = None
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        if a.client_ca:
            ctx.load_verify_locations(a.client_ca)
            ctx.verify_mode = ssl.CERT_OPTIONAL
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", a.port))
    s.listen(128)
    print("PORT %d" % s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=handle, args=(c, a.log, ctx), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
