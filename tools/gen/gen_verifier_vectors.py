#!/usr/bin/env python3
"""Generate tests/vectors/verifier_records.txt: signed PoT records and
single-shot verifier scenarios, for tests that must also run on MicroPython
(where no Ed25519 signer exists).

    .venv/bin/python tools/gen/gen_verifier_vectors.py            write the file
    .venv/bin/python tools/gen/gen_verifier_vectors.py --check    compare only

Deterministic: fixed key seeds, fixed nonce PRNG seeds, fixed timestamps;
running it twice gives the same bytes. Records are built with the
independent reference of tools/gen/gen_vectors.py (payload bytes, GRG
commitment), signed with PyNaCl; the windows and skew are docs/spec.md's.
Nothing expected here comes from the firmware under test: the firmware's
pot.verifier (with PyNaCl as Ed25519) only confirms every verdict before
the file is written or checked.
"""
import argparse
import hashlib
import os
import random
import sys

from nacl.signing import SigningKey

from gen_vectors import ref_commitment, ref_context_device
from genlib import ROOT, VECTORS, hx, write_or_check

OUT = os.path.join(VECTORS, "verifier_records.txt")

KEY = SigningKey(hashlib.sha256(b"potkit test key: verifier").digest())
OTHER_KEY = SigningKey(hashlib.sha256(b"potkit test key: someone else").digest())
CTX_A = ref_context_device(b"verifier-test")  # the context tests verify against
CTX_B = ref_context_device(b"other-device")
T = 1767225600123456789  # 2026-01-01T00:00:00.123456789Z
MS = 1000000
# docs/spec.md 4.3 (recency window per tier) and 4.4 (default future skew).
TIER_WINDOW_MS = (60000, 2000, 12000, 100)
DEFAULT_SKEW_MS = 500
SKEW = DEFAULT_SKEW_MS * MS
WIN = tuple(w * MS for w in TIER_WINDOW_MS)
CHALLENGE = hashlib.sha256(b"potkit verifier challenge").digest()
L = 2**252 + 27742317777372353535851937790883648493  # Ed25519 group order


def nonce(seed):
    return random.Random(seed).randbytes(32)


def raw_payload(header, sources, reserved, ts, conf, nonce32):
    # Any 47 bytes (spec section 1), including invalid ones (for PROTO vectors).
    return bytes([header, sources, reserved]) + ts.to_bytes(8, "big") + conf.to_bytes(4, "big") + nonce32


def build(payload, ctx=CTX_A, key=KEY):
    signed = payload + ref_commitment(payload, ctx)
    return signed + key.sign(signed).signature


def good(tier, ts, seed, ctx=CTX_A, key=KEY, nonce32=None):
    return build(raw_payload(0x10 | tier, 4, 0, ts, 999000, nonce32 or nonce(seed)), ctx, key)


def scenarios():
    # (name, now_ns or None, challenge or None, record bytes, expected)
    out = []
    for tier in range(4):
        r = good(tier, T, 100 + tier)
        out.append(("fresh_t%d" % tier, T + 1 * MS, None, r, "OK"))
        out.append(("window_edge_t%d" % tier, T + WIN[tier], None, r, "OK"))
        out.append(("stale_t%d" % tier, T + WIN[tier] + 1 * MS, None, r, "STALE"))  # C.6
    r = good(1, T, 110)
    out.append(("future_edge", T - SKEW, None, r, "OK"))
    out.append(("future", T - SKEW - 1, None, r, "FUTURE"))
    out.append(("cross_context", T, None, good(1, T, 111, ctx=CTX_B), "CROSS_CONTEXT"))
    out.append(("forge_other_key", T, None, good(1, T, 112, key=OTHER_KEY), "FORGE"))
    r = bytearray(good(1, T, 113))
    r[100] ^= 0x01
    out.append(("forge_signature_bit", T, None, bytes(r), "FORGE"))
    # S + L: the same signature in a non-canonical encoding (RFC 8032 5.1.7
    # requires S < L). Must be FORGE, else signatures are malleable.
    r = good(1, T, 114)
    s = int.from_bytes(r[111:143], "little") + L
    assert s < 2**256
    out.append(("forge_s_plus_l", T, None, r[:111] + s.to_bytes(32, "little"), "FORGE"))
    # Structure: each record is otherwise perfect (right commitment for its
    # bytes, valid signature), so only the section 1 rules can stop it.
    n = nonce(120)
    for name, hdr, src, res, conf in (
        ("proto_version2", 0x21, 4, 0, 999000),
        ("proto_version0", 0x01, 4, 0, 999000),
        ("proto_tier4", 0x14, 4, 0, 999000),
        ("proto_sources2", 0x11, 2, 0, 999000),
        ("proto_reserved1", 0x11, 4, 1, 999000),
        ("proto_confidence_over", 0x11, 4, 0, 1000001),
        ("proto_confidence_top_byte", 0x11, 4, 0, 0x01000000),
    ):
        out.append((name, T, None, build(raw_payload(hdr, src, res, T, conf, n)), "PROTO_VIOLATION"))
    r = good(1, T, 121)
    out.append(("proto_short", T, None, r[:142], "PROTO_VIOLATION"))
    out.append(("proto_long", T, None, r + b"\x00", "PROTO_VIOLATION"))
    out.append(("proto_empty", T, None, b"", "PROTO_VIOLATION"))
    # Edge values that ARE valid: 3 sources, confidence exactly 1,000,000.
    out.append(("edge_valid_limits", T, None, build(raw_payload(0x13, 3, 0, T, 1000000, n)), "OK"))
    # Challenge mode.
    rc = good(1, T, 0, nonce32=CHALLENGE)
    out.append(("challenge_no_clock", None, CHALLENGE, rc, "OK"))
    out.append(("challenge_no_clock_old", None, CHALLENGE, good(0, T - 10**18, 0, nonce32=CHALLENGE), "OK"))
    out.append(("challenge_required", None, None, rc, "CHALLENGE"))
    out.append(("challenge_wrong", None, nonce(130), rc, "CHALLENGE"))
    out.append(("challenge_with_clock", T, CHALLENGE, rc, "OK"))
    out.append(("challenge_with_clock_wrong", T, CHALLENGE, good(1, T, 131), "CHALLENGE"))
    out.append(("challenge_no_clock_forged", None, CHALLENGE, good(1, T, 0, key=OTHER_KEY, nonce32=CHALLENGE), "FORGE"))
    return out


def sequence():
    # Valid T1 records 10 ms apart for the stateful tests (replay, busy,
    # ordering, switch): seq_i has timestamp T + 10 ms * i; "twin5" has the
    # timestamp of seq5 and another nonce (equal timestamps are allowed).
    out = [("seq%d" % i, good(1, T + 10 * MS * i, 200 + i)) for i in range(24)]
    out.append(("twin5", good(1, T + 10 * MS * 5, 299)))
    return out


def render():
    lines = [
        "# Verifier vectors: generated by tools/gen/gen_verifier_vectors.py (deterministic, do not edit).",
        "# Records: payload and GRG commitment by the reference of tools/gen/gen_vectors.py (spec sections 1-2)",
        "# + Ed25519 (PyNaCl) with a fixed test key",
        "# SigningKey(SHA-256(b'potkit test key: verifier')); OTHER_KEY = SHA-256(b'potkit test key: someone else').",
        "# ctx A = context_device(b'verifier-test') (verify against this), ctx B = context_device(b'other-device').",
        "# T = %d ns (2026-01-01T00:00:00.123456789Z), default skew %d ms, windows (ms) %s." % (T, DEFAULT_SKEW_MS, TIER_WINDOW_MS),
        "# Line kinds (first field):",
        "#   key   NAME  -      -         -          PUBLIC_KEY  -",
        "#   ctx   NAME  -      -         -          CTX         -",
        "#   seq   NAME  T_NS   -         -          RECORD      -        (valid T1 records for stateful tests)",
        "#   case  NAME  FLAGS  NOW_NS    CHALLENGE  RECORD      EXPECTED (one verify on a fresh Verifier(key),",
        "#         default skew and cache, ctx A; NOW_NS '-' = no trusted clock; FLAGS valid|invalid)",
        "key public_key - - - %s -" % KEY.verify_key.encode().hex(),
        "key other_key - - - %s -" % OTHER_KEY.verify_key.encode().hex(),
        "ctx ctx_a - - - %s -" % CTX_A.hex(),
        "ctx ctx_b - - - %s -" % CTX_B.hex(),
    ]
    for name, r in sequence():
        ts = int.from_bytes(r[3:11], "big")
        lines.append("seq %s %d - - %s -" % (name, ts, r.hex()))
    for name, now, ch, r, exp in scenarios():
        flag = "valid" if exp == "OK" else "invalid"
        lines.append("case %s %s %s %s %s %s" % (name, flag, "-" if now is None else now, hx(ch), hx(r), exp))
    return "\n".join(lines) + "\n"


def self_check(text):
    # Every case must give its expected verdict with the real verifier and
    # PyNaCl as Ed25519 (the firmware Ed25519 is checked by the tests).
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    sys.path.insert(0, os.path.join(ROOT, "firmware"))
    from pot.spec import VERDICT_NAMES as NAMES
    from pot.verifier import Verifier

    def ed(pk, msg, sig):
        try:
            VerifyKey(bytes(pk)).verify(bytes(msg), bytes(sig))
            return True
        except BadSignatureError:
            return False

    for line in text.splitlines():
        f = line.split()
        if not f or f[0] != "case":
            continue
        v = Verifier(KEY.verify_key.encode(), ed25519=ed)
        rec = b"" if f[5] == "-" else bytes.fromhex(f[5])
        ch = None if f[4] == "-" else bytes.fromhex(f[4])
        now = None if f[3] == "-" else int(f[3])
        got = NAMES[v.verify(rec, CTX_A, now, ch)]
        if got != f[6]:
            raise SystemExit("self-check: %s gives %s, expected %s" % (f[1], got, f[6]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only compare with the committed file")
    args = ap.parse_args()
    text = render()
    self_check(text)
    return write_or_check("gen_verifier_vectors", {OUT: text}, args.check)


if __name__ == "__main__":
    sys.exit(main())
