#!/usr/bin/env python3
"""Generate the codec test vectors from fixed seeds, with an independent
reference implementation of docs/spec.md sections 1 and 2 (written from the
spec text alone: bit strings, schoolbook GF(2^8) and polynomial arithmetic,
Python's hmac module; it shares no code or table with firmware/pot).

    tools/gen/gen_vectors.py              write tests/vectors/{grg,g1,record}.txt
    tools/gen/gen_vectors.py --check      exit 1 if the committed files differ
    tools/gen/gen_vectors.py --g1-table   print G1's real size effect on records
"""
import argparse
import hashlib
import hmac
import os
import random
import struct
import sys

from genlib import VECTORS, hx, write_or_check

EPOCH_2025 = 1735689600
NS = 10**9

# ---------------------------------------------------------------- G1 (2.1)
# (k, E, W) per field F1..F6
FIELDS = ((2, 1, 8), (2, 2, 8), (0, 1, 8), (28, 2, 35), (0, 0, 30), (10, 2, 32))


def zigzag(d):
    return 2 * d if d >= 0 else -2 * d - 1


def rice_bits(v, k, e, w, force_escape=False):
    # The code of v as a string of '0'/'1'. force_escape writes the long
    # form even when the short one applies (a non-canonical stream).
    q = v >> k
    if q < e and not force_escape:
        return "1" * q + "0" + (format(v & ((1 << k) - 1), "0%db" % k) if k else "")
    return "1" * e + format(v, "0%db" % w)


def field_values(p):
    ts = int.from_bytes(p[3:11], "big")
    c = int.from_bytes(p[11:15], "big")
    return [p[0] ^ 0x10, p[1], p[2], zigzag(ts // NS - EPOCH_2025), ts % NS, (1000000 - c) % 2**32]


def bits_to_stream(nonce, bits, length_byte=47):
    bits += "0" * (-len(bits) % 8)
    return bytes([length_byte]) + nonce + int(bits, 2).to_bytes(len(bits) // 8, "big")


def ref_g1(p):
    assert len(p) == 47
    bits = "".join(rice_bits(v, *f) for v, f in zip(field_values(p), FIELDS))
    return bits_to_stream(p[15:47], bits)


# ------------------------------------------------------- R: RS(4,6) (2.2)
def gf_mul(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a & 0x100:
            a ^= 0x11D
    return r


def gf_pow(a, n):
    r = 1
    for _ in range(n):
        r = gf_mul(r, a)
    return r


def gf_inv(a):
    return next(x for x in range(1, 256) if gf_mul(a, x) == 1)


def mat_inv(m):
    n = len(m)
    a = [row[:] + [1 if i == j else 0 for j in range(n)] for i, row in enumerate(m)]
    for col in range(n):
        piv = next(r for r in range(col, n) if a[r][col])
        a[col], a[piv] = a[piv], a[col]
        inv = gf_inv(a[col][col])
        a[col] = [gf_mul(x, inv) for x in a[col]]
        for r in range(n):
            if r != col and a[r][col]:
                f = a[r][col]
                a[r] = [x ^ gf_mul(f, y) for x, y in zip(a[r], a[col])]
    return [row[n:] for row in a]


def mat_mul(a, b):
    out = []
    for row in a:
        out_row = []
        for j in range(len(b[0])):
            s = 0
            for k in range(len(b)):
                s ^= gf_mul(row[k], b[k][j])
            out_row.append(s)
        out.append(out_row)
    return out


VANDERMONDE = [[gf_pow(r, c) for c in range(4)] for r in range(6)]
RS_MATRIX = mat_mul(VANDERMONDE, mat_inv(VANDERMONDE[:4]))
assert RS_MATRIX[4] == [0x1B, 0x1C, 0x12, 0x14] and RS_MATRIX[5] == [0x1C, 0x1B, 0x14, 0x12]


def ref_rs(area):
    data = [area[15 * j : 15 * j + 15] for j in range(4)]
    shards = list(data)
    for r in (4, 5):
        shards.append(bytes(
            gf_mul(RS_MATRIX[r][0], data[0][i]) ^ gf_mul(RS_MATRIX[r][1], data[1][i])
            ^ gf_mul(RS_MATRIX[r][2], data[2][i]) ^ gf_mul(RS_MATRIX[r][3], data[3][i])
            for i in range(15)))
    return shards


# ------------------------------------------------------ G2: Golay (2.3)
def poly_mod(a, g=0xC75):
    while a.bit_length() >= g.bit_length():
        a ^= g << (a.bit_length() - g.bit_length())
    return a


def ref_golay_shard(shard):
    v = int.from_bytes(shard, "big")
    bits = ""
    for j in range(10):
        m = (v >> (108 - 12 * j)) & 0xFFF
        bits += format((m << 11) | poly_mod(m << 11), "023b")
    return int(bits + "00", 2).to_bytes(29, "big")


# -------------------------------------------------- H and commitment (2.4-5)
def ref_tagged(payload, ctx):
    stream = ref_g1(payload)
    area = stream + bytes(60 - len(stream))
    shards = ref_rs(area)
    k = hashlib.sha256(b"tttps/ctx/v1" + ctx).digest()
    tagged = b""
    for i, s in enumerate(shards):
        coded = ref_golay_shard(s)
        tagged += coded + hmac.new(k, bytes([i]) + coded, hashlib.sha256).digest()[:8]
    return stream, shards, tagged


def ref_commitment(payload, ctx):
    return hashlib.sha256(ref_tagged(payload, ctx)[2]).digest()


def ref_context_device(dev):
    return b"\x00" + bytes([len(dev)]) + dev


def ref_context_message(dev, msg):
    return b"\x01" + bytes([len(dev)]) + dev + hashlib.sha256(msg).digest()


# ----------------------------------------------------------------- helpers
def payload(tier=2, sources=4, ts=None, conf=999000, nonce=None, rng=None, version=1, reserved=0):
    rng = rng or random.Random(0)
    if ts is None:
        ts = rng.randrange(EPOCH_2025 * NS, (EPOCH_2025 + 5 * 365 * 86400) * NS)
    nonce = nonce if nonce is not None else rng.randbytes(32)
    return struct.pack(">BBBQI", version << 4 | tier, sources, reserved, ts, conf) + nonce


HEADER = """# GENERATED by tools/gen/gen_vectors.py (fixed seeds): do not edit.
# Reference: an independent implementation of docs/spec.md written from the
# spec text (bit strings, schoolbook GF(2^8), polynomial division, Python hmac).
"""


# ------------------------------------------------------------ grg.txt
def grg_vectors():
    rng = random.Random(20250101)
    cases = []
    # (name, payload, ctx)
    dev = ref_context_device(b"esp32-0001")
    cases.append(("typical_device_ctx", payload(rng=rng), dev))
    cases.append(("typical_empty_ctx", payload(rng=rng), b""))
    cases.append(("message_ctx", payload(rng=rng), ref_context_message(b"esp32-0001", b"hello world")))
    cases.append(("ctx_255_bytes", payload(rng=rng), rng.randbytes(255)))
    cases.append(("ts_zero", payload(ts=0, rng=rng), dev))
    cases.append(("ts_max_u64", payload(ts=2**64 - 1, rng=rng), dev))
    cases.append(("ts_2025_epoch", payload(ts=EPOCH_2025 * NS, rng=rng), dev))
    cases.append(("ts_just_before_2025", payload(ts=EPOCH_2025 * NS - 1, rng=rng), dev))
    cases.append(("ts_2034", payload(ts=2018000000 * NS + 5, rng=rng), dev))
    cases.append(("conf_zero", payload(conf=0, rng=rng), dev))
    cases.append(("conf_million", payload(conf=1000000, rng=rng), dev))
    cases.append(("conf_997953", payload(conf=997953, rng=rng), dev))
    cases.append(("conf_u32_max", payload(conf=2**32 - 1, rng=rng), dev))
    cases.append(("sources_3", payload(sources=3, rng=rng), dev))
    cases.append(("sources_8", payload(sources=8, rng=rng), dev))
    cases.append(("sources_255", payload(sources=255, rng=rng), dev))
    cases.append(("sources_0", payload(sources=0, rng=rng), dev))
    cases.append(("reserved_ff", payload(reserved=0xFF, rng=rng), dev))
    cases.append(("header_ff", payload(version=15, tier=15, rng=rng), dev))
    cases.append(("header_00", payload(version=0, tier=0, rng=rng), dev))
    cases.append(("nonce_zero", payload(nonce=bytes(32), rng=rng), dev))
    cases.append(("worst_case_size", payload(version=15, tier=15, sources=255, reserved=255,
                                             ts=2**64 - 1, conf=2**32 - 1, rng=rng), dev))
    for i in range(4):
        cases.append(("tier_%d" % i, payload(tier=i, rng=rng), dev))
    for i in range(12):
        cases.append(("random_bytes_%d" % i, rng.randbytes(47), rng.randbytes(rng.randrange(0, 80))))
    for i in range(12):
        cases.append(("random_record_%d" % i, payload(tier=rng.randrange(4), sources=rng.randrange(3, 12),
                                                      conf=rng.randrange(990000, 1000001), rng=rng),
                      ref_context_device(rng.randbytes(rng.randrange(1, 65)))))
    lines = [HEADER + "# GRG commitments (spec 2.1-2.5).\n"
             "# fields: id payload(47) ctx(0..255, '-' empty) g1_stream rs_shards(6x15) commitment"]
    for i, (name, p, ctx) in enumerate(cases):
        stream, shards, tagged = ref_tagged(p, ctx)
        c = hashlib.sha256(tagged).digest()
        lines.append("%d_%s %s %s %s %s %s" % (i, name, hx(p), hx(ctx), hx(stream), hx(b"".join(shards)), hx(c)))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------- g1.txt
def g1_vectors():
    rng = random.Random(47)
    lines = [HEADER + "# G1 decoding of the 60-byte RS data area (spec 2.1), valid and invalid.\n"
             "# fields: id validity area(60) expected  (expected: the payload, or the word 'invalid')"]

    def area_of(stream):
        return stream + bytes(60 - len(stream)) if len(stream) <= 60 else stream

    def add(name, area, expect):
        valid = "valid" if expect != "invalid" else "invalid"
        lines.append("%d_%s %s %s %s" % (len(lines), name, valid, hx(area), expect))

    for i in range(8):
        p = payload(tier=i % 4, rng=rng) if i < 4 else rng.randbytes(47)
        add("valid_%d" % i, area_of(ref_g1(p)), hx(p))
    p = payload(rng=rng)
    nonce = p[15:47]
    vals = field_values(p)

    def stream_with(values=None, escapes=(), length_byte=47, extra_bits="", pad_bits=None):
        values = values or vals
        bits = "".join(rice_bits(v, *f, force_escape=(i in escapes)) for i, (v, f) in enumerate(zip(values, FIELDS)))
        bits += extra_bits
        if pad_bits is not None:
            bits += pad_bits
        return bits_to_stream(nonce, bits, length_byte)

    add("length_byte_46", area_of(stream_with(length_byte=46)), "invalid")
    add("length_byte_0", area_of(stream_with(length_byte=0)), "invalid")
    for f in (0, 1, 2, 3, 5):
        add("escape_not_needed_F%d" % (f + 1), area_of(stream_with(escapes=(f,))), "invalid")
    # Non-zero padding: append a 1 bit where the zero padding goes (the
    # stream of `vals` has 79 bits: 1 bit of padding is free).
    nbits = len("".join(rice_bits(v, *f) for v, f in zip(vals, FIELDS)))
    assert nbits % 8 != 0
    add("nonzero_padding", area_of(stream_with(extra_bits="1")), "invalid")
    s = bytearray(area_of(ref_g1(p)))
    s[59] = 1
    add("nonzero_after_stream", bytes(s), "invalid")
    s = bytearray(area_of(ref_g1(p)))
    s[len(ref_g1(p))] = 0x80
    add("nonzero_byte_right_after_stream", bytes(s), "invalid")
    # s < 0: d = -1735689601 (zigzag odd) needs the long form
    v = list(vals)
    v[3] = zigzag(-EPOCH_2025 - 1)
    add("seconds_negative", area_of(stream_with(values=v)), "invalid")
    v = list(vals)
    v[4] = NS
    add("nanoseconds_1e9", area_of(stream_with(values=v)), "invalid")
    v = list(vals)
    v[4] = 2**30 - 1
    add("nanoseconds_max30", area_of(stream_with(values=v)), "invalid")
    # ts >= 2^64: s = (2^64 - 1) // 10^9 with n = 10^9 - 1 exceeds it
    v = list(vals)
    v[3] = zigzag((2**64 - 1) // NS - EPOCH_2025)
    v[4] = NS - 1
    add("timestamp_over_u64", area_of(stream_with(values=v)), "invalid")
    v = list(vals)
    v[3] = zigzag((2**64 - 1) // NS - EPOCH_2025)
    v[4] = (2**64 - 1) % NS
    p_max = p[:3] + (2**64 - 1).to_bytes(8, "big") + p[11:]
    add("timestamp_u64_max", area_of(stream_with(values=v)), hx(p_max))
    # Largest F4 value: zigzag < 2^35 always, so v = 2^35 - 1 means s < 0
    v = list(vals)
    v[3] = 2**35 - 1
    add("seconds_code_max", area_of(stream_with(values=v)), "invalid")
    # An area shorter than the 60 bytes of spec 2.2 (a typical stream, its
    # last byte cut off): the fields run past its end.
    add("truncated_area", ref_g1(p)[:-1], "invalid")
    add("all_ones_area", b"\xff" * 60, "invalid")
    add("all_zero_area", bytes(60), "invalid")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------- record.txt
def record_vectors():
    rng = random.Random(143)
    lines = [HEADER + "# Structural receiver rules of a PoT record (spec section 1).\n"
             "# fields: id flags record expected   (expected: OK or PROTO_VIOLATION;\n"
             "# flags name the rule; commitment and signature are random: only\n"
             "# the structure is judged here)"]

    def rec(**kw):
        return payload(rng=rng, **kw) + rng.randbytes(96)

    def add(name, flags, r, expect):
        lines.append("%d_%s %s %s %s" % (len(lines), name, flags, hx(r), expect))

    for t in range(4):
        add("tier_%d" % t, "valid", rec(tier=t), "OK")
    add("sources_3", "valid", rec(sources=3), "OK")
    add("sources_255", "valid", rec(sources=255), "OK")
    add("conf_0", "valid", rec(conf=0), "OK")
    add("conf_1000000", "valid", rec(conf=1000000), "OK")
    add("ts_0", "valid", rec(ts=0), "OK")
    add("ts_max", "valid", rec(ts=2**64 - 1), "OK")
    for v in (0, 2, 15):
        add("version_%d" % v, "version", rec(version=v), "PROTO_VIOLATION")
    for t in (4, 7, 15):
        add("tier_%d" % t, "tier", rec(tier=t), "PROTO_VIOLATION")
    for s in (0, 1, 2):
        add("sources_%d" % s, "sources", rec(sources=s), "PROTO_VIOLATION")
    for r in (1, 0x80, 0xFF):
        add("reserved_%02x" % r, "reserved", rec(reserved=r), "PROTO_VIOLATION")
    for c in (1000001, 0x000F4300, 0x00FFFFFF, 0x01000000, 0x80000000, 0xFFFFFFFF):
        add("conf_%d" % c, "confidence", rec(conf=c), "PROTO_VIOLATION")
    r = rec()
    add("length_142", "length", r[:142], "PROTO_VIOLATION")
    add("length_144", "length", r + b"\x00", "PROTO_VIOLATION")
    add("length_47", "length", r[:47], "PROTO_VIOLATION")
    add("length_79", "length", r[:79], "PROTO_VIOLATION")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------ --g1-table
def g1_table():
    rng = random.Random(1)
    lo, hi = EPOCH_2025, 1893456000  # 2025-01-01 .. 2030-01-01
    sizes = []
    for _ in range(20000):
        p = payload(tier=rng.randrange(4), sources=4, ts=rng.randrange(lo * NS, hi * NS),
                    conf=rng.randrange(997953, 1000001), rng=rng)
        sizes.append(len(ref_g1(p)))
    worst = payload(version=15, tier=15, sources=255, reserved=255, ts=2**64 - 1, conf=2**32 - 1, rng=rng)
    worst_rand = max(len(ref_g1(rng.randbytes(47))) for _ in range(20000))
    w = len(ref_g1(worst))
    field_max = sum(e + wd if e else wd for k, e, wd in FIELDS)
    print("G1 stream sizes (reference coder, %d records, 4 sources, confidence >= 997953 ppm, 2025-2029):" % len(sizes))
    for n in sorted(set(sizes)):
        print("  %2d bytes: %5.1f %%" % (n, 100.0 * sizes.count(n) / len(sizes)))
    typ = max(set(sizes), key=sizes.count)
    print("| payload | G1 stream | change |")
    print("|---------|-----------|--------|")
    print("| 47 bytes | %d bytes typical | %+d bytes (%+.1f %%) |" % (typ, typ - 47, 100.0 * (typ - 47) / 47))
    print("| 47 bytes | %d bytes worst case (any 47 bytes) | %+d bytes (%+.1f %%) |" % (w, w - 47, 100.0 * (w - 47) / 47))
    print("worst-case field bits: %d (%d bytes); largest of 20000 random 47-byte payloads: %d bytes" % (
        field_max, (field_max + 7) // 8, worst_rand))


FILES = {"grg.txt": grg_vectors, "g1.txt": g1_vectors, "record.txt": record_vectors}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--g1-table", action="store_true")
    a = ap.parse_args()
    if a.g1_table:
        g1_table()
        return 0
    outputs = {os.path.join(VECTORS, name): fn() for name, fn in FILES.items()}
    return write_or_check("gen_vectors", outputs, a.check)


if __name__ == "__main__":
    sys.exit(main())
