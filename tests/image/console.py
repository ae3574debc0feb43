#!/usr/bin/env python3
"""console.py — drive a VM's serial console over qemu's unix-socket chardev.

    console.py SOCKET [--timeout SECONDS] [--transcript FILE] STEP...

Steps run in order:
    expect:REGEX   wait until REGEX (Python re, MULTILINE) matches what the
                   console printed since the previous match
    send:TEXT      type TEXT; the escapes \\r \\n \\t \\\\ are understood
    sleep:SECONDS  wait

Everything received is appended to the transcript file (default: stdout at
the end). Exit status 0 when every step passed, 1 when an expect timed out
(the step is named on stderr), 2 on usage or connection errors. The
timeout is for each expect step (default 30 s).
"""
import os
import re
import select
import socket
import sys
import time


def unescape(text):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            out.append({"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}.get(n, "\\" + n))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main(argv):
    args = list(argv)
    timeout = 30.0
    transcript = None
    steps = []
    path = None
    while args:
        a = args.pop(0)
        if a == "--timeout":
            timeout = float(args.pop(0))
        elif a == "--transcript":
            transcript = args.pop(0)
        elif path is None:
            path = a
        else:
            steps.append(a)
    if path is None or not steps:
        print(__doc__, file=sys.stderr)
        return 2

    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            sock.connect(path)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                print(f"console.py: cannot connect to {path}: {e}", file=sys.stderr)
                return 2
            time.sleep(0.1)
    sock.setblocking(False)

    out = open(transcript, "ab") if transcript else None
    seen = b""
    buf = b""

    def receive(wait):
        nonlocal buf, seen
        r, _, _ = select.select([sock], [], [], wait)
        if not r:
            return True
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return True
        if not data:
            return False
        buf += data
        seen += data
        if out:
            out.write(data)
            out.flush()
        return True

    status = 0
    for step in steps:
        kind, _, arg = step.partition(":")
        if kind == "send":
            sock.setblocking(True)
            sock.sendall(unescape(arg).encode())
            sock.setblocking(False)
        elif kind == "sleep":
            end = time.monotonic() + float(arg)
            while time.monotonic() < end:
                if not receive(max(0.0, end - time.monotonic())):
                    break
        elif kind == "expect":
            rx = re.compile(arg.encode(), re.MULTILINE)
            end = time.monotonic() + timeout
            while True:
                m = rx.search(buf)
                if m:
                    buf = buf[m.end():]
                    break
                left = end - time.monotonic()
                if left <= 0 or not receive(min(left, 0.5)):
                    if not rx.search(buf):
                        print(f"console.py: timed out on step {step!r}", file=sys.stderr)
                        status = 1
                    break
            if status:
                break
        else:
            print(f"console.py: unknown step {step!r}", file=sys.stderr)
            status = 2
            break
    sock.close()
    if out:
        out.close()
    else:
        sys.stdout.write(seen.decode("utf-8", "replace"))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
