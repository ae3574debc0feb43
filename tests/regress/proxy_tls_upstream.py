#!/usr/bin/env python3
"""proxy_tls_upstream.py — an HTTPS (or plain, --plain) upstream for the upstream TLS tests.

    python3 tests/regress/proxy_tls_upstream.py --name=s1 --cert=C.pem --key=K.pem [--plain]

Prints "PORT <n>" once it listens on 127.0.0.1 (a free port), then serves HTTP/1.1 with
keep-alive over TLS (python ssl, TLS 1.2 allowed), one thread per connection, until killed.
On stdout, one line per event (the tests count them):
  CONN <n> sni=<server name or ->     a TLS handshake completed (n counts connections)
  REQ <conn> <method> <target>        a request was read on connection <conn>
  END <conn>                          the connection ended

Paths:
  /_delay/MS     sleep MS milliseconds, then the echo
  /_cut          Content-Length 100000, 1000 bytes, then the socket is closed (no close_notify)
  /_close        close without answering
  /_eof/N        N bytes without a length, then close (a close-delimited body)
  /_health       200 "ok"
  /_ws           101, then every byte echoed raw until the proxy's end (WS_EOF <conn>)
  anything else  200 JSON {"server", "conn", "sni", "method", "target", "body_len",
                 "body_sha256"}
"""
import argparse
import hashlib
import json
import socket
import ssl
import sys
import threading
import time

lock = threading.Lock()
state = {"conns": 0}


def say(line):
    with lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def read_body(f, hmap):
    h = hashlib.sha256()
    n = 0
    if "chunked" in hmap.get("transfer-encoding", "").lower():
        while True:
            size = int(f.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return n, h.hexdigest()
            data = f.read(size)
            f.read(2)
            h.update(data)
            n += len(data)
    left = int(hmap.get("content-length", "0") or "0")
    while left > 0:
        data = f.read(min(left, 65536))
        if not data:
            raise ValueError("short body")
        h.update(data)
        n += len(data)
        left -= len(data)
    return n, h.hexdigest()


def handle(conn, name, cid, sni):
    f = conn.makefile("rb")
    try:
        while True:
            line = f.readline(65537)
            if not line:
                return
            if line in (b"\r\n", b"\n"):
                continue
            method, target, _version = line.decode("latin-1").rstrip("\r\n").split(" ")
            hmap = {}
            while True:
                hl = f.readline(65537)
                if hl in (b"\r\n", b"\n", b""):
                    break
                k, _, v = hl.decode("latin-1").partition(":")
                hmap[k.strip().lower()] = v.strip()
            say("REQ %d %s %s" % (cid, method, target))
            body_len, body_sha = read_body(f, hmap)
            seg = target.split("?")[0].split("/")
            first = seg[1] if len(seg) > 1 else ""
            arg = seg[2] if len(seg) > 2 else ""
            if first == "_delay":
                time.sleep(int(arg) / 1000.0)
            if first == "_cut":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
                time.sleep(0.2)
                return
            if first == "_close":
                return
            if first == "_eof":
                conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * int(arg))
                return
            if first == "_ws":
                conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             b"Connection: Upgrade\r\n\r\n")
                while True:
                    data = conn.recv(65536)
                    if not data:
                        say("WS_EOF %d" % cid)
                        return
                    conn.sendall(data)
            if first == "_health":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                continue
            body = json.dumps({"server": name, "conn": cid, "sni": sni, "method": method,
                               "target": target, "body_len": body_len,
                               "body_sha256": body_sha}).encode() + b"\n"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)
            if hmap.get("connection", "").lower() == "close":
                return
    except (ValueError, OSError):
        return
    finally:
        say("END %d" % cid)
        try:
            f.close()
            conn.close()  # no unwrap: no close_notify, like many servers
        except OSError:
            pass


def serve(raw, ctx, name):
    try:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw.settimeout(30)
        sni = "-"
        if ctx is not None:
            ctx_conn = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            try:
                ctx_conn.do_handshake()
            except (ssl.SSLError, OSError) as e:
                say("HANDSHAKE_FAILED %s" % str(e).replace("\n", " "))
                ctx_conn.close()
                return
            names = getattr(ctx_conn, "_sni", None)
            sni = names or "-"
            conn = ctx_conn
        else:
            conn = raw
        with lock:
            state["conns"] += 1
            cid = state["conns"]
        say("CONN %d sni=%s" % (cid, sni))
        handle(conn, name, cid, sni)
    except OSError:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="up")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--plain", action="store_true")
    a = ap.parse_args()
    ctx = None
    if not a.plain:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(a.cert, a.key)

        def on_sni(sock, server_name, _ctx):
            sock._sni = server_name  # read after the handshake
        ctx.sni_callback = on_sni
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    say("PORT %d" % s.getsockname()[1])
    while True:
        raw, _ = s.accept()
        threading.Thread(target=serve, args=(raw, ctx, a.name), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
