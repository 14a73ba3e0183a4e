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
# verifier's context gate runs); the strict decoder is pot.rice_decode,
# loaded on the first decode(), so a verifier never spends heap on it.
#
# Two implementations of the encoder, tested against the same vectors:
# - the portable one (`encode_portable`) writes bits through a small-int
#   accumulator into the caller's buffer (the accumulator stays below
#   2**26, so on 32-bit boards only the timestamp arithmetic, F4-F6 values
#   of up to 35 bits, makes long ints);
# - on CPython, `encode_fast` packs all fields into one long int and writes
#   it with int.to_bytes: a few microseconds instead of tens, which the host
#   issuer needs for its 10,000 records per second. It is defined in an
#   `if` block that MicroPython never runs (so it costs no heap there).
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

PAYLOAD_LEN = const(47)
STREAM_MAX = const(50)  # 1 + 32 + 17: the worst case over all 47-byte payloads
AREA_LEN = const(60)  # the RS data area (4 data shards x 15)
EPOCH_2025 = const(1735689600)  # 2025-01-01T00:00:00Z, the F4 origin
NS_PER_S = const(1000000000)
MILLION = const(1000000)

# Field parameters (k, E, W) for F1..F6, spec 2.1 table. E = 0: W raw bits.
F_HEADER = (2, 1, 8)
F_SOURCES = (2, 2, 8)
F_RESERVED = (0, 1, 8)
F_SECONDS = (28, 2, 35)
F_NANOS = (0, 0, 30)
F_CONFIDENCE = (10, 2, 32)
FIELDS = (F_HEADER, F_SOURCES, F_RESERVED, F_SECONDS, F_NANOS, F_CONFIDENCE)


# --- field value maps (raw payload value <-> coded value v) ---------------
def zigzag(d):
    return 2 * d if d >= 0 else -2 * d - 1


def unzigzag(v):
    return v >> 1 if v & 1 == 0 else -((v + 1) >> 1)


def field_values(p):
    # The six coded values v of payload p (spec 2.1 table).
    ts = 0
    for i in range(3, 11):
        ts = (ts << 8) | p[i]
    c = (p[11] << 24) | (p[12] << 16) | (p[13] << 8) | p[14]
    s = ts // NS_PER_S
    return (
        p[0] ^ 0x10,
        p[1],
        p[2],
        zigzag(s - EPOCH_2025),
        ts - s * NS_PER_S,
        (MILLION - c) & 0xFFFFFFFF,
    )


def code_length(v, field):
    # Bits that value v takes in `field`: used by tools and tests.
    k, e, w = field
    q = v >> k
    return q + 1 + k if q < e else e + w


def encode_portable(p, out):
    # Writes the G1 stream of the 47-byte payload p (p[0:47]: a record
    # or its signed part may be passed as is) into out (a writable
    # buffer of at least STREAM_MAX bytes) and zeroes out to its end.
    # Returns the stream length. One flat loop with local variables:
    # method calls per bit group cost more than the bits themselves.
    if len(p) < PAYLOAD_LEN:
        raise ValueError("G1: payload shorter than 47 bytes")
    out[0] = PAYLOAD_LEN
    copy_bytes(out, 1, p, 15, 32)  # the nonce
    vals = field_values(p)
    acc = 0  # pending bits, fewer than 8 between fields: acc < 2**26
    nb = 0
    pos = 33
    for i in range(6):
        v = vals[i]
        k, e, w = FIELDS[i]
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


# --- CPython path (never defined on MicroPython) ---------------------------
if not IS_MICROPYTHON:

    def encode_fast(p, out):
        # CPython only (long ints and int.to_bytes are cheap there): the same
        # bits as encode_portable, assembled in one long int.
        if len(p) < PAYLOAD_LEN:
            raise ValueError("G1: payload shorter than 47 bytes")
        ts = int.from_bytes(p[3:11], "big")
        s, ns = divmod(ts, NS_PER_S)
        vals = (
            p[0] ^ 0x10,
            p[1],
            p[2],
            zigzag(s - EPOCH_2025),
            ns,
            (MILLION - int.from_bytes(p[11:15], "big")) & 0xFFFFFFFF,
        )
        acc = 0
        nbits = 0
        for i in range(6):
            v = vals[i]
            k, e, w = FIELDS[i]
            q = v >> k
            if q < e:
                # q ones, a zero, then the k low bits of v
                acc = (((acc << (q + 1)) | ((1 << (q + 1)) - 2)) << k) | (v & ((1 << k) - 1))
                nbits += q + 1 + k
            else:
                acc = (((acc << e) | ((1 << e) - 1)) << w) | v
                nbits += e + w
        nbytes = (nbits + 7) >> 3
        n = 33 + nbytes
        out[0] = PAYLOAD_LEN
        out[1:33] = p[15:47]
        out[33:n] = (acc << (nbytes * 8 - nbits)).to_bytes(nbytes, "big")
        out[n:] = bytes(len(out) - n)
        return n


encode = encode_portable if IS_MICROPYTHON else encode_fast

# --- decoding: pot.rice_decode, loaded on first use ------------------------
# (the module is kept in a global on first use: an import statement per call
# would allocate, as MicroPython builds the dotted name to look it up)
_decoder = None


def decode(area, out):
    # Strictly decodes the G1 stream at the start of `area` (the RS data
    # area) into out (a writable 47-byte buffer). Returns the stream
    # length; raises ValueError on any non-canonical input.
    global _decoder
    if _decoder is None:
        from pot import rice_decode as _decoder
    return _decoder.decode(area, out)


# --- host conveniences (allocate) -----------------------------------------
def encode_bytes(p):
    # The G1 stream of payload p, exactly its length.
    area = bytearray(AREA_LEN)
    n = encode(p, area)
    return bytes(area[:n])


def decode_bytes(stream):
    # The payload of a G1 stream (trailing bytes must be zero, as in the area).
    out = bytearray(PAYLOAD_LEN)
    decode(stream, out)
    return bytes(out)
