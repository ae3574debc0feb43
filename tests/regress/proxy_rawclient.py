#!/usr/bin/env python3
"""proxy_rawclient.py — raw-socket HTTP/1.1 client for the proxy regression tests.

Prints facts on stdout (key=value words); the calling test_*.sh asserts on them.
DATA arguments are Python escape strings ("GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n", "\\x00"),
decoded and concatenated.

  send --port P [--count-port U] [--methods GET,HEAD] [--keep N] [--timeout S] [--shut S] DATA...
      sends the bytes at once, then reads and parses responses until EOF (or --timeout, or N
      final responses with --keep). Prints
        statuses=400,200 eof=1|0|rst elapsed=S left=N delta=D   (left: unparsed bytes)
        r<i> status=.. len=.. target=.. count=.. server=.. version=..   (one per response)
      delta = requests the upstream at --count-port parsed meanwhile (its /_count, asked
      directly before and after; the "after" query itself is not counted).
  batch --port P --count-port U FILE
      one send per line of FILE (WANT <TAB> KIND <TAB> DESC <TAB> DATA), each on its own
      connection; prints WANT <TAB> KIND <TAB> DESC <TAB> the facts of send, " | "-joined
  multi --port P [--count-port U] FILE
      one send per line of FILE (NAME <TAB> OPTIONS <TAB> DATA; OPTIONS: keep=N,
      methods=A;B, shut=S, timeout=S, count=0, pause=S), each on its own connection; prints
      "=== NAME" and the facts of send for each
  slow --port P [--interval S] [--timeout S] DATA...
      sends one byte every --interval until the bytes run out or the proxy answers/closes,
      then reads until EOF. Prints statuses=.. eof=.. elapsed=.. sent=N
  slowmany --port P --n N [--interval S] [--timeout S] [--normal-path /x]
      N slow clients trickle a never-ending head, while a normal client sends a request on a
      fresh connection every 0.2 s. Prints
        slow_408=K slow_closed=K slow_max=S normal_ok=A/B normal_max=S
  expect --port P --count-port U
      Expect: 100-continue with a 5-byte body: waits for the interim 100 before sending it.
      Prints interim=100|none final=200 body_len=5 wait100=S
  caps --port P --hold N --extra K
      N clients each complete one keep-alive request and stay connected; K more send a request:
      they must get nothing while the N hold; then the N close. Prints
        held=N queued=K' (no answer within 1 s) served_after=K'' after_max=S
  slowread --port P --path /x [--host H] [--wait S] [--timeout S]
      asks for PATH (a big response) with a small receive buffer, reads its first 64 KiB,
      then nothing for --wait seconds, then reads until EOF. Prints got=BYTES eof=1|0|rst
      elapsed=S
  ws --port P [--path /_ws]
      Upgrade request, expects 101, echoes 200 KB of random bytes through the tunnel both
      ways, then half-closes. Prints status=101 echo=ok|bad bytes=N eof_after_shutdown=1|0
"""
import argparse
import codecs
import os
import re
import select
import socket
import sys
import threading
import time


def decode(parts):
    return b"".join(codecs.escape_decode(p.encode("latin-1"))[0] for p in parts)


def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def upstream_count(port):
    s = connect(port)
    s.sendall(b"GET /_count HTTP/1.1\r\nHost: c\r\n\r\n")
    r = Reader(s, []).one(time.monotonic() + 5)
    s.close()
    return int(r["body"].strip())


class Reader:
    """Parses responses out of a socket's byte stream."""

    def __init__(self, sock, methods):
        self.s = sock
        self.buf = b""
        self.eof = "0"
        self.methods = methods
        self.responses = []  # dicts
        self.finals = 0

    def fill(self, deadline):
        if self.eof != "0":
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([self.s], [], [], left)
        if not r:
            return False
        try:
            d = self.s.recv(262144)
        except ConnectionResetError:
            self.eof = "rst"
            return False
        if not d:
            self.eof = "1"
            return False
        self.buf += d
        return True

    def need(self, n, deadline):
        while len(self.buf) < n:
            if not self.fill(deadline):
                return False
        return True

    def line(self, deadline):
        while b"\r\n" not in self.buf:
            if not self.fill(deadline):
                return None
        i = self.buf.index(b"\r\n")
        ln, self.buf = self.buf[:i], self.buf[i + 2:]
        return ln

    def one(self, deadline):
        """Parse one response; None when the stream ends or times out first."""
        while b"\r\n\r\n" not in self.buf:
            if not self.fill(deadline):
                if self.buf:
                    self.responses.append({"status": "partial", "len": len(self.buf)})
                    self.buf = b""
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            self.responses.append({"status": "bad", "len": len(head)})
            return None
        st = int(m.group(1))
        hdr = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdr[k.strip().lower()] = v.strip()
        resp = {"status": st, "headers": hdr, "version": lines[0][:8]}
        method = self.methods[self.finals] if self.finals < len(self.methods) else "GET"
        body = b""
        complete = True
        if st < 200 or st in (204, 304) or method == "HEAD":
            pass
        elif "chunked" in hdr.get("transfer-encoding", "").lower():
            while True:
                ln = self.line(deadline)
                if ln is None:
                    complete = False
                    break
                n = int(ln.split(b";")[0], 16)
                if not self.need(n + 2, deadline):
                    body += self.buf
                    self.buf = b""
                    complete = False
                    break
                body += self.buf[:n]
                self.buf = self.buf[n + 2:]
                if n == 0:
                    while True:
                        t = self.line(deadline)
                        if not t:
                            break
                    break
        elif "content-length" in hdr:
            n = int(hdr["content-length"])
            if not self.need(n, deadline):
                complete = False
                n = len(self.buf)
            body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while self.fill(deadline):
                pass
            body, self.buf = self.buf, b""
        resp["body"] = body
        resp["complete"] = complete
        self.responses.append(resp)
        if st >= 200 or st == 101:
            self.finals += 1
        return resp if complete else None


def describe(r):
    out = ["status=%s" % r["status"]]
    if "body" in r:
        b = r["body"]
        out.append("len=%d" % len(b))
        out.append("complete=%d" % (1 if r["complete"] else 0))
        for key in ("target", "server", "version", "body_len", "count", "method"):
            m = re.search(rb'"' + key.encode() + rb'": ("([^"]*)"|\d+)', b)
            if m:
                v = m.group(2) if m.group(2) is not None else m.group(1)
                out.append("%s=%s" % (key, v.decode("latin-1")))
        up = r["headers"].get("x-upstream")
        if up:
            out.append("x_upstream=%s" % up)
        cl = r["headers"].get("content-length")
        if cl is not None:
            out.append("cl=%s" % cl)
    else:
        out.append("len=%d" % r["len"])
    return " ".join(out)


def report(rd, t0, extra=""):
    sts = ",".join(str(r["status"]) for r in rd.responses) or "none"
    out = ["statuses=%s eof=%s elapsed=%.3f left=%d%s" % (sts, rd.eof, time.monotonic() - t0,
                                                         len(rd.buf), extra)]
    for i, r in enumerate(rd.responses):
        out.append("r%d %s" % (i, describe(r)))
    return "\n".join(out)


def do_send(port, data, count_port=0, methods=(), keep=0, timeout=4.0, settle=0.1,
            shut=0.0):
    before = upstream_count(count_port) if count_port else 0
    s = connect(port)
    t0 = time.monotonic()
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    if shut:
        if shut > 0:
            time.sleep(shut)  # the end of input in its own segment
        s.shutdown(socket.SHUT_WR)
    rd = Reader(s, list(methods))
    deadline = t0 + timeout
    while rd.eof == "0" and time.monotonic() < deadline:
        if keep and rd.finals >= keep:
            break
        if rd.one(deadline) is None and not rd.buf and rd.eof == "0":
            break
    # the final responses are complete; a closing proxy sends FIN right after them
    if rd.eof == "0" and not keep:
        rd.fill(deadline)
    s.close()
    extra = ""
    if count_port:
        time.sleep(settle)
        extra = " delta=%d" % (upstream_count(count_port) - before - 1)
    return report(rd, t0, extra)


def cmd_send(a):
    print(do_send(a.port, decode(a.data), a.count_port,
                  a.methods.split(",") if a.methods else [], a.keep, a.timeout, a.settle,
                  a.shut))


def cmd_batch(a):
    """Each line of FILE: WANT <TAB> KIND <TAB> DESC <TAB> DATA; prints the line's first three
    fields and the facts of do_send (its lines joined by " | "), one line per vector."""
    with open(a.file, encoding="latin-1") as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if not ln:
                continue
            want, kind, desc, data = ln.split("\t", 3)
            res = do_send(a.port, decode([data]), a.count_port, timeout=a.timeout,
                          settle=a.settle)
            print("%s\t%s\t%s\t%s" % (want, kind, desc, res.replace("\n", " | ")), flush=True)


def cmd_multi(a):
    """Each line of FILE: NAME <TAB> OPTIONS <TAB> DATA, OPTIONS a comma list of keep=N,
    methods=A;B, shut=S, timeout=S, count=0, pause=S (sleep first) or "-"; prints
    "=== NAME" then send's facts."""
    with open(a.file, encoding="latin-1") as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if not ln:
                continue
            name, opts, data = ln.split("\t", 2)
            o = dict(kv.split("=", 1) for kv in opts.split(",") if "=" in kv)
            time.sleep(float(o.get("pause", 0)))
            res = do_send(a.port, decode([data]),
                          a.count_port if o.get("count", "1") != "0" else 0,
                          o["methods"].split(";") if "methods" in o else [],
                          int(o.get("keep", 0)), float(o.get("timeout", a.timeout)),
                          a.settle, float(o.get("shut", 0)))
            print("=== %s\n%s" % (name, res), flush=True)


def cmd_slow(a):
    data = decode(a.data)
    s = connect(a.port)
    t0 = time.monotonic()
    sent = 0
    rd = Reader(s, [])
    for i in range(len(data)):
        r, _, _ = select.select([s], [], [], 0)
        if r:
            break
        try:
            s.send(data[i:i + 1])
        except OSError:
            break
        sent += 1
        if time.monotonic() - t0 > a.timeout:
            break
        time.sleep(a.interval)
    deadline = t0 + a.timeout
    while rd.eof == "0" and rd.one(deadline) is not None:
        pass
    s.close()
    print(report(rd, t0, " sent=%d" % sent))


def cmd_slowmany(a):
    socks = []
    for _ in range(a.n):
        s = connect(a.port)
        s.setblocking(False)
        socks.append(s)
    t0 = time.monotonic()
    head = b"GET /slow HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"a" * 100000
    pos = [0] * a.n
    got408 = [False] * a.n
    closed_at = [None] * a.n
    rbuf = [b""] * a.n
    normal = {"ok": 0, "n": 0, "max": 0.0}

    def normal_client():
        while time.monotonic() - t0 < a.normal_for:
            t = time.monotonic()
            normal["n"] += 1
            try:
                c = connect(a.port, timeout=3)
                c.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % a.normal_path.encode())
                rd = Reader(c, [])
                r = rd.one(time.monotonic() + 3)
                if r and r["status"] == 200:
                    normal["ok"] += 1
                c.close()
            except OSError:
                pass
            normal["max"] = max(normal["max"], time.monotonic() - t)
            time.sleep(0.2)

    th = threading.Thread(target=normal_client)
    th.start()
    next_send = t0
    while time.monotonic() - t0 < a.timeout and any(c is None for c in closed_at):
        now = time.monotonic()
        if now >= next_send:
            for i, s in enumerate(socks):
                if closed_at[i] is None:
                    try:
                        s.send(head[pos[i]:pos[i] + 1])
                        pos[i] += 1
                    except OSError:
                        pass
            next_send = now + a.interval
        r, _, _ = select.select([s for i, s in enumerate(socks) if closed_at[i] is None], [], [],
                                max(0.0, min(0.05, next_send - time.monotonic())))
        for s in r:
            i = socks.index(s)
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if d:
                rbuf[i] += d
                if rbuf[i].startswith(b"HTTP/1.1 408"):
                    got408[i] = True
            else:
                closed_at[i] = time.monotonic() - t0
    th.join()
    for s in socks:
        s.close()
    done = [c for c in closed_at if c is not None]
    print("slow_408=%d slow_closed=%d slow_max=%.3f normal_ok=%d/%d normal_max=%.3f" % (
        sum(got408), len(done), max(done) if done else -1, normal["ok"], normal["n"],
        normal["max"]))


def cmd_expect(a):
    before = upstream_count(a.count_port)
    s = connect(a.port)
    t0 = time.monotonic()
    s.sendall(b"POST /expect HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
              b"Expect: 100-continue\r\n\r\n")
    rd = Reader(s, [])
    r = rd.one(t0 + 3)
    interim = "none"
    wait = time.monotonic() - t0
    if r and r["status"] == 100:
        interim = "100"
        s.sendall(b"hello")
        r = rd.one(time.monotonic() + 3)
    elif r is None:
        s.sendall(b"hello")
        r = rd.one(time.monotonic() + 3)
    s.close()
    after = upstream_count(a.count_port)
    print("interim=%s wait100=%.3f final=%s %s delta=%d" % (
        interim, wait, r["status"] if r else "none", describe(r) if r else "",
        after - before - 1))


def cmd_caps(a):
    holders = []
    for _ in range(a.hold):
        s = connect(a.port)
        s.sendall(b"GET /hold HTTP/1.1\r\nHost: a\r\n\r\n")
        r = Reader(s, []).one(time.monotonic() + 5)
        if r and r["status"] == 200:
            holders.append(s)
    extras = []
    for _ in range(a.extra):
        s = connect(a.port)
        s.sendall(b"GET /extra HTTP/1.1\r\nHost: a\r\n\r\n")
        extras.append(s)
    r, _, _ = select.select(extras, [], [], 1.0)
    queued = len(extras) - len(r)
    for s in holders:
        s.close()
    t1 = time.monotonic()
    served = 0
    after_max = 0.0
    for s in extras:
        resp = Reader(s, []).one(t1 + 5)
        if resp and resp["status"] == 200:
            served += 1
            after_max = max(after_max, time.monotonic() - t1)
        s.close()
    print("held=%d queued=%d served_after=%d after_max=%.3f" % (len(holders), queued, served,
                                                                after_max))


def cmd_slowread(a):
    s = connect(a.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    t0 = time.monotonic()
    s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (a.path.encode(), a.host.encode()))
    got = 0
    eof = "0"
    # the response flows (the upstream is producing), then the client stops reading
    deadline = time.monotonic() + a.timeout
    while got < 65536 and time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.5)
        if r:
            d = s.recv(65536 - got)
            if not d:
                break
            got += len(d)
    time.sleep(a.wait)
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.5)
        if not r:
            continue
        try:
            d = s.recv(1 << 20)
        except ConnectionResetError:
            eof = "rst"
            break
        if not d:
            eof = "1"
            break
        got += len(d)
    s.close()
    print("got=%d eof=%s elapsed=%.3f" % (got, eof, time.monotonic() - t0))


def cmd_ws(a):
    s = connect(a.port)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
              % a.path.encode())
    rd = Reader(s, [])
    r = rd.one(time.monotonic() + 5)
    st = r["status"] if r else "none"
    echo = "bad"
    total = 0
    eof = 0
    if st == 101:
        payload = os.urandom(200000)
        got = rd.buf
        rd.buf = b""
        ok = True
        # several rounds: a small message, then bigger writes while reading
        for chunk in (b"hello ws\n", payload[:1000], payload):
            s.sendall(chunk)
            want = len(chunk)
            deadline = time.monotonic() + 5
            while len(got) < want and time.monotonic() < deadline:
                rr, _, _ = select.select([s], [], [], 0.5)
                if rr:
                    d = s.recv(262144)
                    if not d:
                        break
                    got += d
            if got[:want] != chunk:
                ok = False
                break
            total += want
            got = got[want:]
        echo = "ok" if ok and not got else "bad"
        s.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            rr, _, _ = select.select([s], [], [], 0.5)
            if rr:
                try:
                    d = s.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    eof = 1
                    break
    s.close()
    print("status=%s echo=%s bytes=%d eof_after_shutdown=%d" % (st, echo, total, eof))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("send")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count-port", type=int, default=0)
    p.add_argument("--methods", default="")
    p.add_argument("--keep", type=int, default=0)
    p.add_argument("--timeout", type=float, default=4.0)
    p.add_argument("--settle", type=float, default=0.1)
    p.add_argument("--shut", type=float, default=0.0,
                   help="half-close after sending: -1 at once, S > 0 after S seconds")
    p.add_argument("data", nargs="+")
    p = sub.add_parser("batch")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count-port", type=int, default=0)
    p.add_argument("--timeout", type=float, default=4.0)
    p.add_argument("--settle", type=float, default=0.05)
    p.add_argument("file")
    p = sub.add_parser("multi")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count-port", type=int, default=0)
    p.add_argument("--timeout", type=float, default=4.0)
    p.add_argument("--settle", type=float, default=0.05)
    p.add_argument("file")
    p = sub.add_parser("slow")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=6.0)
    p.add_argument("data", nargs="+")
    p = sub.add_parser("slowmany")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--n", type=int, default=50)
    p.add_argument("--interval", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=6.0)
    p.add_argument("--normal-for", type=float, default=1.0)
    p.add_argument("--normal-path", default="/normal")
    p = sub.add_parser("expect")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count-port", type=int, required=True)
    p = sub.add_parser("caps")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hold", type=int, required=True)
    p.add_argument("--extra", type=int, required=True)
    p = sub.add_parser("slowread")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--host", default="a")
    p.add_argument("--wait", type=float, default=4.0)
    p.add_argument("--timeout", type=float, default=5.0)
    p = sub.add_parser("ws")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/_ws")
    a = ap.parse_args()
    {"send": cmd_send, "batch": cmd_batch, "multi": cmd_multi, "slow": cmd_slow, "slowmany": cmd_slowmany, "expect": cmd_expect,
     "caps": cmd_caps, "slowread": cmd_slowread, "ws": cmd_ws}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
