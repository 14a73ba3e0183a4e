#!/usr/bin/env python3
"""Generate the constant tables of the R and G2 stages (docs/spec.md 2.2, 2.3).

    tools/gen/gen_tables.py            rewrite the four table modules below
    tools/gen/gen_tables.py --check    exit 1 if the committed files differ from what
                                   this tool generates now (run by the tests)

The tables are bytes literals so that a board can freeze them into flash
(no RAM spent on them) and so that the firmware never computes them at
import time. Everything here is derived from first principles (the field
polynomial, the Vandermonde construction, the Golay generator): the only
literal inputs are 0x11D and 0xC75.

Four modules, split by who needs them. A verifier (which only runs the
forward path: RS parity, Golay encode) loads none of them: pot.rs and
pot.golay compute parity with no table (xtime form, long division).
    rs_tables.py       PARITY_ROWS                  the RS encoding rows
    gf_tables.py       EXP, LOG, SET_INDEX, REBUILD  GF arithmetic, RS rebuild
    golay_tables.py    PAR_HI, PAR_LO               Golay parity (decoder)
    golay_syndrome.py  SYNDROME                     Golay decode
"""
import os
import sys

from genlib import ROOT, write_or_check

POT = os.path.join(ROOT, "firmware", "pot")
RS_PATH = os.path.join(POT, "rs_tables.py")
GF_PATH = os.path.join(POT, "gf_tables.py")
GOLAY_PATH = os.path.join(POT, "golay_tables.py")
SYNDROME_PATH = os.path.join(POT, "golay_syndrome.py")

GF_POLY = 0x11D  # x^8 + x^4 + x^3 + x^2 + 1
GOLAY_POLY = 0xC75  # x^11 + x^10 + x^6 + x^5 + x^4 + x^2 + 1
SHARDS, DATA = 6, 4


# --- GF(2^8) by definition (shift and add), no tables --------------------
def gf_mul_slow(a, b):
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= GF_POLY
        b >>= 1
    return r


def gf_pow(a, e):
    r = 1  # a^0 = 1, also for a = 0
    for _ in range(e):
        r = gf_mul_slow(r, a)
    return r


def gf_inv(a):
    # a^254 = a^-1 in GF(2^8)*.
    if a == 0:
        raise ZeroDivisionError("0 has no inverse in GF(2^8)")
    return gf_pow(a, 254)


def mat_mul(a, b):
    out = []
    for row in a:
        r = []
        for j in range(len(b[0])):
            s = 0
            for k in range(len(b)):
                s ^= gf_mul_slow(row[k], b[k][j])
            r.append(s)
        out.append(r)
    return out


def mat_inv(m):
    # Gauss-Jordan elimination over GF(2^8).
    n = len(m)
    a = [list(row) + [1 if i == j else 0 for j in range(n)] for i, row in enumerate(m)]
    for col in range(n):
        pivot = next((r for r in range(col, n) if a[r][col]), None)
        if pivot is None:
            raise ValueError("singular matrix")
        a[col], a[pivot] = a[pivot], a[col]
        inv = gf_inv(a[col][col])
        a[col] = [gf_mul_slow(inv, x) for x in a[col]]
        for r in range(n):
            if r != col and a[r][col]:
                f = a[r][col]
                a[r] = [x ^ gf_mul_slow(f, y) for x, y in zip(a[r], a[col])]
    return [row[n:] for row in a]


def encoding_matrix():
    # 6x4 Vandermonde V[r][c] = r^c times the inverse of its top 4x4 square
    # (the Backblaze / klauspost construction): systematic by design.
    vand = [[gf_pow(r, c) for c in range(DATA)] for r in range(SHARDS)]
    return mat_mul(vand, mat_inv(vand[:DATA]))


def present_sets():
    # The 15 masks with exactly 4 of the 6 shard bits set, ascending.
    return [m for m in range(1 << SHARDS) if bin(m).count("1") == DATA]


def rebuild_rows(enc, mask):
    # For the 4 shards in mask: row j of the result, dotted with those 4
    # shards (ascending index order), gives shard j. That is
    # enc[j] * inverse(enc restricted to the rows in mask).
    rows = [i for i in range(SHARDS) if mask >> i & 1]
    inv = mat_inv([enc[i] for i in rows])
    return mat_mul(enc, inv)


def gf_tables():
    exp = [0] * 512
    log = [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x = gf_mul_slow(x, 2)
    if x != 1:
        raise AssertionError("2 is not a generator of GF(2^8) mod 0x11D")
    for i in range(255, 512):
        # Doubled (and beyond) so exp[log a + log b] never needs a modulo:
        # log a + log b <= 508.
        exp[i] = exp[i % 255]
    enc = encoding_matrix()
    for r in range(DATA):
        if enc[r] != [1 if c == r else 0 for c in range(DATA)]:
            raise AssertionError("encoding matrix is not systematic")
    parity_rows = bytes(enc[4] + enc[5])
    # One 256-byte multiplication table per distinct parity coefficient,
    # in the order of row 4 (row 5 uses the same four values permuted).
    coefs = enc[4]
    if sorted(coefs) != sorted(enc[5]) or len(set(coefs)) != 4:
        raise AssertionError("parity rows are not a permutation of each other")
    sets = present_sets()
    set_index = bytearray(b"\xff" * 64)
    rebuild = bytearray()
    for k, mask in enumerate(sets):
        set_index[mask] = k
        for row in rebuild_rows(enc, mask):
            rebuild += bytes(row)
    return {
        "EXP": bytes(exp),
        "LOG": bytes(log),
        "PARITY_ROWS": parity_rows,
        "SET_INDEX": bytes(set_index),
        "REBUILD": bytes(rebuild),
    }


# --- Golay(23,12,7) by definition -----------------------------------------
def poly_mod(v, g):
    dg = g.bit_length() - 1
    while v and v.bit_length() - 1 >= dg:
        v ^= g << (v.bit_length() - 1 - dg)
    return v


def golay_tables():
    par_hi = bytearray()
    par_lo = bytearray()
    for x in range(64):
        # parity(m) is linear in m, so parity(hi << 6 | lo) =
        # parity(hi << 6) ^ parity(lo): two 64-entry tables of 11 bits.
        par_hi += poly_mod((x << 6) << 11, GOLAY_POLY).to_bytes(2, "big")
        par_lo += poly_mod(x << 11, GOLAY_POLY).to_bytes(2, "big")
    # Syndrome -> error pattern of weight <= 3 (perfect code: a bijection).
    pattern = [None] * 2048
    for a in range(23):
        for b in range(a, 23):
            for c in range(b, 23):
                e = (1 << a) | (1 << b) | (1 << c)  # weight 1, 2 or 3
                s = poly_mod(e, GOLAY_POLY)
                if pattern[s] is not None and pattern[s] != e:
                    raise AssertionError("two patterns share a syndrome")
                pattern[s] = e
    pattern[0] = 0
    if any(p is None for p in pattern):
        raise AssertionError("syndrome table is not complete")
    # Entry: weight << 12 | the error on the 12 message bits. The decoder
    # corrects the message and re-encodes it; the parity-bit part of the
    # error is implied (syndrome ^ parity(message error)).
    syndrome = bytearray()
    for e in pattern:
        syndrome += ((bin(e).count("1") << 12) | (e >> 11)).to_bytes(2, "big")
    return {"PAR_HI": bytes(par_hi), "PAR_LO": bytes(par_lo), "SYNDROME": bytes(syndrome)}


# --- Output ----------------------------------------------------------------
def bytes_literal(name, data, width=16):
    lines = ["%s = (" % name]
    for i in range(0, len(data), width):
        lines.append('    b"' + "".join("\\x%02x" % v for v in data[i : i + width]) + '"')
    lines.append(")")
    return "\n".join(lines)


def render(header, tables, comments):
    out = [header.rstrip(), ""]
    for name, data in tables.items():
        out.append("# " + comments[name])
        out.append(bytes_literal(name, data))
        out.append("")
    return "\n".join(out)


GENERATED = """\
# GENERATED by tools/gen/gen_tables.py: do not edit (make it again, and
# `tools/gen/gen_tables.py --check` fails when this file is stale).
"""
RS_HEADER = GENERATED + """\
# RS(4,6) encoding (docs/spec.md section 2.2): the parity rows (pot.rs
# computes parity without a table). The rebuild side is in gf_tables.py.
"""
GF_HEADER = GENERATED + """\
# GF(2^8) with polynomial 0x11D, generator 2, and the RS(4,6) rebuild
# matrices of docs/spec.md section 2.2 (the receive path only; the encoding
# rows are in rs_tables.py).
"""
GF_COMMENTS = {
    "EXP": "EXP[i] = 2^i, i = 0..511 (doubled: EXP[LOG[a] + LOG[b]] needs no modulo)",
    "LOG": "LOG[a] = log2(a) for a = 1..255 (LOG[0] = 0 is unused)",
    "PARITY_ROWS": "rows 4 and 5 of the systematic encoding matrix, 4 bytes each",
    "SET_INDEX": "6-bit mask with 4 bits set -> its index 0..14 in REBUILD, else 0xff",
    "REBUILD": "per set: 6 rows x 4 coefficients; shard j = row j . (the 4 set shards, ascending)",
}
GOLAY_HEADER = GENERATED + """\
# Golay(23,12,7), generator 0xC75 (docs/spec.md section 2.3): the parity
# tables of the decoder (pot.golay's encoder divides instead). u16 entries,
# big-endian.
"""
SYNDROME_HEADER = GENERATED + """\
# Golay(23,12,7), generator 0xC75 (docs/spec.md section 2.3): the decoder's
# syndrome table (receive path only). u16 entries, big-endian.
"""
GOLAY_COMMENTS = {
    "PAR_HI": "parity of (x << 6) << 11 mod g, x = 0..63 (11 bits)",
    "PAR_LO": "parity of x << 11 mod g, x = 0..63 (11 bits)",
    "SYNDROME": "syndrome s -> weight << 12 | message-bit error (12 bits) of the one pattern of weight <= 3",
}


def _pick(tables, names):
    return {n: tables[n] for n in names}


def generated():
    gf = gf_tables()
    golay = golay_tables()
    return {
        RS_PATH: render(RS_HEADER, _pick(gf, ("PARITY_ROWS",)), GF_COMMENTS),
        GF_PATH: render(GF_HEADER, _pick(gf, ("EXP", "LOG", "SET_INDEX", "REBUILD")), GF_COMMENTS),
        GOLAY_PATH: render(GOLAY_HEADER, _pick(golay, ("PAR_HI", "PAR_LO")), GOLAY_COMMENTS),
        SYNDROME_PATH: render(SYNDROME_HEADER, _pick(golay, ("SYNDROME",)), GOLAY_COMMENTS),
    }


def main(argv):
    return write_or_check("gen_tables", generated(), "--check" in argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
