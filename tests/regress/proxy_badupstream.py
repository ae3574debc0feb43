#!/usr/bin/env python3
"""proxy_badupstream.py — an upstream that misbehaves on purpose, for the proxy regression tests.

    python3 tests/regress/proxy_badupstream.py [--port=0]

Prints "PORT <n>" on its first line once it listens, then serves one thread per connection
(keep-alive; request bodies by Content-Length only). The path decides the answer:
  /ok              200 "ok\\n" (Content-Length)
  /_count          requests parsed so far, this one excluded (as proxy_upstream.py)
  /trunc           Content-Length 100000, 50000 bytes, then close
  /trunc_chunked   chunked, three 4 KiB chunks, then close without the last chunk
  /stallbody       Content-Length 1000, 10 bytes, then nothing for 10 s
  /stallhead       "HTTP/1.1 200 OK\\r\\n", then nothing for 10 s
  /bighead         a 200 whose head carries a 100 KB field
  /manyheads       a 200 with 1000 fields
  /barelf          a head with bare LF line ends
  /clte            Content-Length and Transfer-Encoding together
  /twocl           two different Content-Length fields
  /badstatus       status code 2000
  /unsolicited101  101 to a request that asked for no upgrade
  /half            half a status line, then close
  /closedelim      a 200 without Content-Length: 5000 bytes delimited by the close
  /extra           "ok\n" with Content-Length 3, followed in the same write by a second,
                   unasked-for response ("evil!") on the same connection
  /extra_late      the same, the unasked-for response 0.3 s later (the connection is idle)
"""
import argparse
import socket
import sys
import threading
import time

state = {"count": 0}
lock = threading.Lock()

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"


def answer(conn, path, count):
    """Sends the answer for path; returns False when the connection must end."""
    if path == "/_count":
        body = b"%d\n" % (count - 1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    elif path == "/trunc":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"t" * 50000)
        return False
    elif path == "/trunc_chunked":
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     (b"1000\r\n" + b"c" * 4096 + b"\r\n") * 3)
        return False
    elif path == "/stallbody":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"s" * 10)
        time.sleep(10)
        return False
    elif path == "/stallhead":
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        time.sleep(10)
        return False
    elif path == "/bighead":
        conn.sendall(b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 100000 +
                     b"\r\nContent-Length: 3\r\n\r\nok\n")
    elif path == "/manyheads":
        conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
                     + b"Content-Length: 3\r\n\r\nok\n")
    elif path == "/barelf":
        conn.sendall(b"HTTP/1.1 200 OK\nContent-Length: 3\n\nok\n")
        return False
    elif path == "/clte":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"3\r\nok\n\r\n0\r\n\r\n")
        return False
    elif path == "/twocl":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nok\n")
        return False
    elif path == "/badstatus":
        conn.sendall(b"HTTP/1.1 2000 Odd\r\nContent-Length: 3\r\n\r\nok\n")
        return False
    elif path == "/unsolicited101":
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\n\r\n")
        time.sleep(1)
        return False
    elif path == "/closedelim":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"d" * 5000)
        return False
    elif path in ("/extra", "/extra_late"):
        evil = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"
        if path == "/extra":
            conn.sendall(OK + evil)
        else:
            conn.sendall(OK)
            time.sleep(0.3)
            conn.sendall(evil)
    elif path == "/half":
        conn.sendall(b"HTTP/1.1 2")
        return False
    else:
        conn.sendall(OK)
    return True


def handle(conn):
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                d = conn.recv(65536)
                if not d:
                    return
                buf += d
            head, buf = buf.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                return
            cl = 0
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                if k.strip().lower() == "content-length":
                    cl = int(v.strip())
            while len(buf) < cl:
                d = conn.recv(65536)
                if not d:
                    return
                buf += d
            buf = buf[cl:]
            with lock:
                state["count"] += 1
                count = state["count"]
            if not answer(conn, parts[1].split("?")[0], count):
                return
    except (OSError, ValueError):
        return
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", a.port))
    s.listen(128)
    print("PORT %d" % s.getsockname()[1], flush=True)
    while True:
        conn, _ = s.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
