# G1: the Golomb-Rice field coder of GRG (docs/spec.md section 2.1).
#
#   stream = L (1 byte, 47) || nonce (P[15:47]) || bits (six Rice-coded
#            fields, MSB first, zero-padded to a byte)
#
# encode(payload, area) writes the stream into the RS data area and zeroes
# the rest of it; decode(area, payload_out) is strict: every payload has
# exactly one stream, and anything else raises ValueError("G1: ...").
#
# Memory (the device budget): this module is the encoder (what a
# verifier's context gate runs); the strict decoder and the host's helpers
# are pot.rice_decode, loaded on first use (see __getattr__ at the end), so
# a verifier never spends heap on them.
#
# Two implementations of the encoder, tested against the same vectors:
# - the portable one (`encode_portable`) writes bits through a small-int
#   accumulator into the caller's buffer (the accumulator stays below
#   2**26, so on 32-bit boards only the timestamp arithmetic, F4-F6 values
#   of up to 35 bits, makes long ints);
# - on CPython, `encode_fast` packs all fields into one long int and writes
#   it with int.to_bytes: a few microseconds instead of tens, which the host
#   issuer needs for its 10,000 records per second. Its code is in
#   pot.fastpath, which MicroPython never loads (so it costs no heap there).
from pot.compat import IS_MICROPYTHON, const, micropython, ptr8


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

# Private: the compiler folds them (no heap on a device). pot.fastpath
# has its own copies.
_PAYLOAD_LEN = const(47)
_EPOCH_2025 = const(1735689600)  # 2025-01-01T00:00:00Z, the F4 origin
_NS_PER_S = const(1000000000)
_MILLION = const(1000000)

# Field parameters (k, E, W) for F1..F6, spec 2.1 table, three bytes per
# field: F1 (2, 1, 8), F2 (2, 2, 8), F3 (0, 1, 8), F4 (28, 2, 35),
# F5 (0, 0, 30), F6 (10, 2, 32). E = 0: W raw bits. One bytes object (a
# tuple of tuples was seven heap objects); rice.FIELDS, the tuples, and
# F_HEADER .. F_CONFIDENCE come from pot.rice_decode.
_FIELDS = b"\x02\x01\x08\x02\x02\x08\x00\x01\x08\x1c\x02\x23\x00\x00\x1e\x0a\x02\x20"


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


def encode_portable(p, out):
    # Writes the G1 stream of the 47-byte payload p (p[0:47]: a record
    # or its signed part may be passed as is) into out (a writable
    # buffer of at least STREAM_MAX bytes) and zeroes out to its end.
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


# --- CPython path (pot.fastpath; never loaded on MicroPython) ---------------
if IS_MICROPYTHON:
    encode = encode_portable
else:
    from pot import fastpath

    encode = fastpath.make(__name__)  # also rice.encode_fast


# --- decoding and host conveniences: pot.rice_decode, loaded on first use ---
def __getattr__(name):
    # rice.decode, decode_bytes, encode_bytes, unzigzag, code_length,
    # STREAM_MAX, AREA_LEN, FIELDS and F_HEADER .. F_CONFIDENCE (and `from pot.rice
    # import decode`) work as if defined here, but live in pot.rice_decode,
    # loaded when first asked for: a verifier never is, so it spends no
    # heap on them (nor on their names). The value is then stored here, so
    # later look-ups are plain module attributes.
    from pot import rice_decode

    value = getattr(rice_decode, name)
    globals()[name] = value
    return value
