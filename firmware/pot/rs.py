# R: Reed-Solomon(4,6) over GF(2^8), docs/spec.md section 2.2.
#
# Field: polynomial 0x11D, generator 2. Encoding matrix: the 6x4 Vandermonde
# matrix made systematic (Backblaze/klauspost construction); rows 0-3 are
# the identity, so only the two parity rows are ever multiplied:
#   parity_4[i] = 1b*d0[i] ^ 1c*d1[i] ^ 12*d2[i] ^ 14*d3[i]
#   parity_5[i] = 1c*d0[i] ^ 1b*d1[i] ^ 14*d2[i] ^ 12*d3[i]
# Row 5 uses the same four coefficients as row 4, permuted. Every
# coefficient is a sum of powers of 2 (1b = 10+8+2+1, 1c = 10+8+4,
# 12 = 10+2, 14 = 10+4), and multiplying by 2 (xtime: shift, then XOR 0x11D
# on overflow) is linear, so with s = d0^d1^d2^d3, u = 4 s ^ 2 (d0^d1):
#   parity_4 = 2 (2 (u ^ d1^d3) ^ d0^d2) ^ d0
#   parity_5 = 2 (2 (u ^ d0^d2) ^ d1^d3) ^ d1
# six xtimes per byte position and no table.
#
# This module is the forward path, what a verifier's context gate runs, and
# needs no table. Rebuilding erased shards (gf_mul, reconstruct, with the
# log/exp and rebuild tables) is pot.rs_rebuild, loaded only by a device that
# opens sharded frames; the parity rows are pot.spec.PARITY_ROWS (and
# rs_tables.PARITY_ROWS, generated, for the receive side and tests).
#
# The byte loop is a @micropython.viper kernel: machine code on the boards,
# no allocation; the compiler recognises the decorator by its spelling, and
# on CPython the compat shim makes it the identity (ptr8(x) is x), so the
# same kernel runs (and is tested) there. Every value stays below 2**16, so
# viper's machine-word ints and Python's ints agree. The host's issuer uses
# pot.fastpath.rs_encode_parity, whole shards through bytes.translate (the
# same bytes; tests run both).
from pot.compat import micropython, ptr8


@micropython.viper
def _parity_kernel(d0, d1, d2, d3, p4, p5, n: int):
    # The parity bytes by the xtime form at the top of this file; xtime(x)
    # = (x << 1) ^ (x >> 7) * 0x11D keeps every value below 2**9.
    a = ptr8(d0)
    b = ptr8(d1)
    c = ptr8(d2)
    d = ptr8(d3)
    p = ptr8(p4)
    q = ptr8(p5)
    i = 0
    while i < n:
        w = int(a[i])
        x = int(b[i])
        ac = w ^ int(c[i])
        bd = x ^ int(d[i])
        u = ac ^ bd  # s
        u = (u << 1) ^ (u >> 7) * 0x11D
        u ^= w ^ x
        u = (u << 1) ^ (u >> 7) * 0x11D
        y = u ^ bd
        y = (y << 1) ^ (y >> 7) * 0x11D
        y ^= ac
        p[i] = ((y << 1) ^ (y >> 7) * 0x11D) ^ w
        y = u ^ ac
        y = (y << 1) ^ (y >> 7) * 0x11D
        y ^= bd
        q[i] = ((y << 1) ^ (y >> 7) * 0x11D) ^ x
        i += 1


def encode_parity(shards):
    # shards: 6 equal-length writable buffers; fills shards[4] and
    # shards[5] from shards[0..3]. No allocation on MicroPython.
    _parity_kernel(shards[0], shards[1], shards[2], shards[3], shards[4], shards[5], len(shards[0]))
