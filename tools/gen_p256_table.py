#!/usr/bin/env python3
"""gen_p256_table.py — the constants and the generator table of src/tls/tls_p256.c.

    python3 tools/gen_p256_table.py > table.txt

Plain integer affine arithmetic on P-256; every value printed in Montgomery form (x * 2^256
mod p) as four 64-bit limbs, least significant first: p256_gtab[i][j - 1] = j * 16^i * G.
tests/unit/test_tls_p256.c checks every table entry against BearSSL's m31 code."""
p = 2**256 - 2**224 + 2**192 + 2**96 - 1
n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
b = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b
Gx = 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296
Gy = 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5
R = 2**256
def limbs(v): return [(v >> (64*i)) & (2**64-1) for i in range(4)]
def fmt(v): return "{" + ", ".join("0x%016xu" % l for l in limbs(v)) + "}"
def add(P, Q):
    if P is None: return Q
    if Q is None: return P
    (x1,y1),(x2,y2) = P,Q
    if x1 == x2:
        if (y1 + y2) % p == 0: return None
        l = (3*x1*x1 - 3) * pow(2*y1, -1, p) % p
    else:
        l = (y2-y1) * pow(x2-x1, -1, p) % p
    x3 = (l*l - x1 - x2) % p
    return (x3, (l*(x1-x3) - y1) % p)
G = (Gx, Gy)
assert (Gy*Gy - Gx**3 + 3*Gx - b) % p == 0
import sys
out = sys.stdout
out.write("/* constants */\n")
out.write("RR = %s\n" % fmt(R*R % p))
out.write("ONE = %s\n" % fmt(R % p))
out.write("B = %s\n" % fmt(b*R % p))
out.write("N = %s\n" % fmt(n))
out.write("P = %s\n" % fmt(p))
tab = out
base = G
for i in range(64):
    tab.write("\t{ /* j * 2^%d * G */\n" % (4*i))
    Q = None
    for j in range(1, 16):
        Q = add(Q, base)
        tab.write("\t\t{%s,\n\t\t %s},\n" % (fmt(Q[0]*R % p), fmt(Q[1]*R % p)))
    tab.write("\t},\n")
    for _ in range(4): base = add(base, base)
