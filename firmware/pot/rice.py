# G1: the Golomb-Rice field coder of GRG (docs/spec.md section 2.1).
#
#   stream = L (1 byte, 47) || nonce (P[15:47]) || bits (six Rice-coded
#            fields, MSB first, zero-padded to a byte)
#
# encode(payload, area) writes the stream into the RS data area and zeroes
# the rest of it; decode(area, payload_out) is strict: every payload has
# exactly one stream, and anything else raises ValueError("G1: ...").
#
# This module is the encoder, what a verifier's context gate runs; the
# strict decoder is pot.rice_decode (it imports this module, never the
# reverse), loaded only by a device that opens sharded frames. The field
# parameters by name and the stream's bounds are pot.spec's; the host's
# allocating helpers pot.host's.
#
# The encoder writes bits through a small-int accumulator into the caller's
# buffer (the accumulator stays below 2**26, so on 32-bit boards only the
# timestamp arithmetic, F4-F6 values of up to 35 bits, makes long ints). The
# host's issuer uses pot.fastpath.rice_encode, the same bytes with one long
# int (CPython only; tests run both against the same vectors).
from pot.compat import const, micropython, ptr8


@micropython.viper
def copy_bytes(dst, dst_off: int, src, src_off: int, n: int):
    # dst[dst_off:dst_off+n] = src[src_off:src_off+n] without the slice of
    # src that MicroPython would allocate (the caller checks the bounds).
    # A viper loop: machine code on the boards, plain Python on CPython.
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < n:
        d[dst_off + i] = s[src_off + i]
        i += 1

# Private copies of pot.spec's numbers: the compiler folds them (no heap on
# a device).
_PAYLOAD_LEN = const(47)
_EPOCH_2025 = const(1735689600)  # 2025-01-01T00:00:00Z, the F4 origin
_NS_PER_S = const(1000000000)
_MILLION = const(1000000)

# Field parameters (k, E, W) for F1..F6, spec 2.1 table (pot.spec.FIELDS),
# three bytes per field: F1 (2, 1, 8), F2 (2, 2, 8), F3 (0, 1, 8),
# F4 (28, 2, 35), F5 (0, 0, 30), F6 (10, 2, 32). E = 0: W raw bits.
_FIELDS = const(b"\x02\x01\x08\x02\x02\x08\x00\x01\x08\x1c\x02\x23\x00\x00\x1e\x0a\x02\x20")


# --- field value maps (raw payload value <-> coded value v) ---------------
def zigzag(d):
    return 2 * d if d >= 0 else -2 * d - 1


def field_values(p):
    # The six coded values v of payload p (spec 2.1 table).
    ts = 0
    for i in range(3, 11):
        ts = (ts << 8) | p[i]
    c = (p[11] << 24) | (p[12] << 16) | (p[13] << 8) | p[14]
    s = ts // _NS_PER_S
    return (
        p[0] ^ 0x10,
        p[1],
        p[2],
        zigzag(s - _EPOCH_2025),
        ts - s * _NS_PER_S,
        (_MILLION - c) & 0xFFFFFFFF,
    )


def encode(p, out):
    # Writes the G1 stream of the 47-byte payload p (p[0:47]: a record
    # or its signed part may be passed as is) into out (a writable
    # buffer of at least 50 bytes) and zeroes out to its end.
    # Returns the stream length. One flat loop with local variables:
    # method calls per bit group cost more than the bits themselves.
    if len(p) < _PAYLOAD_LEN:
        raise ValueError("G1: payload shorter than 47 bytes")
    out[0] = _PAYLOAD_LEN
    copy_bytes(out, 1, p, 15, 32)  # the nonce
    vals = field_values(p)
    acc = 0  # pending bits, fewer than 8 between fields: acc < 2**26
    nb = 0
    pos = 33
    for i in range(6):
        v = vals[i]
        k = _FIELDS[3 * i]
        e = _FIELDS[3 * i + 1]
        w = _FIELDS[3 * i + 2]
        q = v >> k
        if q < e:  # q one-bits and a zero, then the k low bits of v
            acc = (acc << (q + 1)) | ((1 << (q + 1)) - 2)
            nb += q + 1
            n = k
        else:  # e one-bits (none when e = 0), then v in w bits
            acc = (acc << e) | ((1 << e) - 1)
            nb += e
            n = w
        while n > 0:  # the n low bits of v, at most 16 at a time
            take = n if n < 16 else 16
            n -= take
            acc = (acc << take) | ((v >> n) & ((1 << take) - 1))
            nb += take
            while nb >= 8:
                nb -= 8
                out[pos] = (acc >> nb) & 0xFF
                pos += 1
            acc &= (1 << nb) - 1
    if nb:  # zero bits to the byte boundary
        out[pos] = (acc << (8 - nb)) & 0xFF
        pos += 1
    for i in range(pos, len(out)):
        out[i] = 0
    return pos
