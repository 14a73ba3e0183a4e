#!/usr/bin/env python3
"""Where a device Ed25519 verify spends its time: a per-step breakdown.

    .venv/bin/python tools/bench/bench_ed25519.py [--rounds 5]

Runs pot.ed25519's steps one by one on the MicroPython Unix port
(.venv/bin/micropython, MICROPYPATH=firmware, pure SHA-512) over the same 16
record-sized signatures as tools/bench/bench_compare.py, and prints microseconds
per verify for each step and for a whole verify (best of --rounds passes,
the machine may be shared). The steps are the module's own functions called
in the order crypto_ed25519_verify calls them; their sum is close to a
whole verify (which also parses and checks the inputs).
"""
import argparse
import os
import sys

MP_SCRIPT = """
import sys, binascii, time
import pot.ed25519 as ed
import pot.ed25519_field as fe
from pot.sha512 import sha512
cases = []
with open(sys.argv[1]) as f:
    for line in f:
        pk, msg, sig = [binascii.unhexlify(x) for x in line.split()]
        cases.append((pk, msg, sig))
P = fe.P
M = (1 << 255) - 1
L = fe.L
pre = []
for pk, msg, sig in cases:
    assert ed.crypto_ed25519_verify(pk, msg, sig)
    a = int.from_bytes(pk, "little")
    r = int.from_bytes(sig[:32], "little")
    s = int.from_bytes(sig[32:], "little")
    ax = fe.recover_x(a & M, a >> 255)
    rx = fe.recover_x(r & M, r >> 255)
    h = int.from_bytes(sha512((sig[:32], pk, msg)), "little") % L
    c0, c1 = ed._short_pair(h)
    pre.append((pk, msg, sig, a & M, a >> 255, r & M, r >> 255, ax, rx, h, c0, c1, c1 * s % L))

def step_verify(c):
    ed.crypto_ed25519_verify(c[0], c[1], c[2])
def step_sha512(c):
    sha512((memoryview(c[2])[:32], memoryview(c[0]), memoryview(c[1])))
def step_decode_a(c):
    fe.recover_x(c[3], c[4])
def step_decode_r(c):
    fe.recover_x(c[5], c[6])
def step_short_pair(c):
    ed._short_pair(c[9])
def step_tables(c):
    fe.cached_multiples(ed._AR_TABLE, 0, len(ed._AR_TABLE) // 2, P - c[7], c[3])
    fe.cached_multiples(ed._AR_TABLE, len(ed._AR_TABLE) // 2, len(ed._AR_TABLE) // 2, c[8], c[5])
def step_recode(c):
    ed._wnaf(ed._load_scalar(c[12].to_bytes(32, "little")), ed._B_WIDTH, ed._NAF_S)
    ed._wnaf(ed._load_scalar(c[10].to_bytes(32, "little")), ed._A_WIDTH, ed._NAF_H)
    ed._wnaf(ed._load_scalar(abs(c[11]).to_bytes(32, "little")), ed._A_WIDTH, ed._NAF_R)
steps = [("whole verify", step_verify), ("sha512 (pure, 79-byte message)", step_sha512),
         ("decode A (exponentiation)", step_decode_a), ("decode R (exponentiation)", step_decode_r),
         ("short pair (half Euclid)", step_short_pair), ("tables of -A, -+R", step_tables),
         ("w-NAF recoding x3", step_recode)]
rounds = int(sys.argv[2])
for name, fn in steps:
    best = None
    for _ in range(rounds):
        t0 = time.ticks_us()
        for c in pre:
            fn(c)
        us = time.ticks_diff(time.ticks_us(), t0) / len(pre)
        best = us if best is None else min(best, us)
    print("%s|%.1f" % (name, best))
best = None
for _ in range(rounds):
    total = 0
    for c in pre:
        step_tables(c)
        step_recode(c)
        t0 = time.ticks_us()
        ed._multi_scalarmult(ed._NAF_S, ed._NAF_H, ed._NAF_R, ed._AR_TABLE, memoryview(ed.BASE_NIELS))
        total += time.ticks_diff(time.ticks_us(), t0)
    us = total / len(pre)
    best = us if best is None else min(best, us)
print("%s|%.1f" % ("multi-scalar multiplication", best))
ed._A_CACHED[0] = -1  # the steps above overwrote the cached table of -A
pk, msg, sig = cases[0]
best = None
for _ in range(rounds):
    t0 = time.ticks_us()
    for i in range(len(pre)):
        step_verify(cases[0])
    us = time.ticks_diff(time.ticks_us(), t0) / len(pre)
    best = us if best is None else min(best, us)
print("%s|%.1f" % ("(whole verify, one key: A cached)", best))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from bench_compare import case_file, make_cases, run_unix_port

    with case_file(make_cases()) as path:
        out = run_unix_port(MP_SCRIPT, path, args.rounds)
    rows = [line.split("|") for line in out.strip().splitlines()]
    whole = float(rows[0][1])
    print("pot.ed25519 on the MicroPython Unix port, 16 record-sized signatures, best of %d (load avg %.1f)"
          % (args.rounds, os.getloadavg()[0]))
    parts = 0.0
    for name, us in rows:
        us = float(us)
        if name[0] != "(" and name != "whole verify":
            parts += us
        print("  %-36s %8.1f us  %5.1f %%" % (name, us, 100.0 * us / whole))
    print("  %-36s %8.1f us  (the rest is parsing and checks)" % ("sum of the steps", parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
