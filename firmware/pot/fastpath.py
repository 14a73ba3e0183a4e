# The host's (CPython's) forms of the GRG stages: the same bytes as the
# firmware's portable code, with C-level primitives (bytes.translate, long
# ints, int.to_bytes), so that the host issuer reaches its 10,000 records
# per second. Tests run both forms against the same vectors.
#
# CPython only, and injected by the host: Grg(fast=pot.fastpath) runs
# commit() and hmac_pads() below instead of the firmware's stages, and the
# tests call the stage forms (rice_encode, rs_encode_parity, ...) next to
# the firmware's; the host hands crc_frame to pot.link's Parser and
# finish_frame. No firmware module imports this one. It imports the
# firmware modules whose tables it shares, none of which imports it back,
# so no import cycle starts here.
# It lives apart because a .mpy or frozen module loads the code of every
# branch, run or not (its bytecode and its interned names): kept here, none
# of it reaches a device's heap.
import hashlib
import zlib

from pot import spec
from pot.gf_tables import EXP, LOG, REBUILD, SET_INDEX
from pot.golay_decode import encode_word
from pot.golay_syndrome import SYNDROME
from pot.rice import zigzag
from pot.rs_rebuild import gf_mul
from pot.rs_tables import PARITY_ROWS


# --- G1 (pot.rice) ------------------------------------------------------------
_G1_FIELDS = spec.FIELDS


def rice_encode(p, out):
    # pot.rice.encode's bytes, the fields packed in one long int.
    if len(p) < spec.PAYLOAD_LEN:
        raise ValueError("G1: payload shorter than 47 bytes")
    ts = int.from_bytes(p[3:11], "big")
    s, ns = divmod(ts, spec.NS_PER_S)
    vals = (
        p[0] ^ 0x10,
        p[1],
        p[2],
        zigzag(s - spec.EPOCH_2025),
        ns,
        (1000000 - int.from_bytes(p[11:15], "big")) & 0xFFFFFFFF,
    )
    acc = 0
    nbits = 0
    for i in range(6):
        v = vals[i]
        k, e, w = _G1_FIELDS[i]
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
    out[0] = spec.PAYLOAD_LEN
    out[1:33] = p[15:47]
    out[33:n] = (acc << (nbytes * 8 - nbits)).to_bytes(nbytes, "big")
    out[n:] = bytes(len(out) - n)
    return n


# --- R (pot.rs, pot.rs_rebuild) ------------------------------------------------
_rows = {}  # coefficient -> its 256-byte translate table x -> c * x


def rs_mul_row(c):
    # The translate table of c (built once, cached: at most 255 of 256 bytes).
    row = _rows.get(c)
    if row is None:
        lc = LOG[c]
        row = bytes([EXP[LOG[x] + lc] if x else 0 for x in range(256)])
        _rows[c] = row
    return row


def rs_encode_parity(shards):
    # pot.rs.encode_parity: the parity of whole shards with the translate
    # tables, XORed as long ints.
    d0 = bytes(shards[0])  # translate() is a bytes method: memoryview has none
    d1 = bytes(shards[1])
    d2 = bytes(shards[2])
    d3 = bytes(shards[3])
    n = len(d0)
    t0 = rs_mul_row(PARITY_ROWS[0])
    t1 = rs_mul_row(PARITY_ROWS[1])
    t2 = rs_mul_row(PARITY_ROWS[2])
    t3 = rs_mul_row(PARITY_ROWS[3])
    fb = int.from_bytes
    p = fb(d0.translate(t0), "big") ^ fb(d1.translate(t1), "big") ^ fb(d2.translate(t2), "big") ^ fb(d3.translate(t3), "big")
    shards[4][:] = p.to_bytes(n, "big")
    # Row 5 swaps the coefficients pairwise: 1c 1b 14 12.
    p = fb(d0.translate(t1), "big") ^ fb(d1.translate(t0), "big") ^ fb(d2.translate(t3), "big") ^ fb(d3.translate(t2), "big")
    shards[5][:] = p.to_bytes(n, "big")


def rs_reconstruct(shards, present):
    # pot.rs_rebuild.reconstruct with whole shards through bytes.translate:
    # the same contract (present: 6-bit mask of good shards; the first
    # four good ones rebuild the others).
    present &= 0x3F
    idx = [i for i in range(spec.SHARDS) if present >> i & 1][:spec.DATA_SHARDS]
    if len(idx) < spec.DATA_SHARDS:
        raise ValueError("too many erasures")
    if present == 0x3F:
        return
    base = SET_INDEX[sum(1 << i for i in idx)] * 24  # 6 rows x 4 per set
    src = [bytes(shards[i]) for i in idx]
    n = len(src[0])
    fb = int.from_bytes
    for j in range(spec.SHARDS):
        if not present >> j & 1:
            v = 0
            for k in range(spec.DATA_SHARDS):
                c = REBUILD[base + 4 * j + k]
                if c:
                    v ^= fb(src[k].translate(rs_mul_row(c)), "big")
            shards[j][:] = v.to_bytes(n, "big")


# --- G2 (pot.golay, pot.golay_decode) ------------------------------------------
_golay = []  # (codewords by message, parity by message, error by syndrome), built once


def golay_tables():
    # The 4,096 codewords and their parity parts, and the error pattern of
    # each of the 2,048 syndromes (built on first use, ~2 ms, host only).
    if not _golay:
        codewords = tuple([encode_word(m) for m in range(4096)])
        parity = tuple([c & 0x7FF for c in codewords])
        error = tuple([(SYNDROME[2 * s] << 8) | SYNDROME[2 * s + 1] for s in range(2048)])
        _golay.append((codewords, parity, error))
    return _golay[0]


_SHIFTS_15 = tuple(range(108, -1, -12))  # the 12-bit words of a 15-byte shard


def _golay_pairs(n):
    if n % 3:
        raise ValueError("shard length must be a multiple of 3 bytes")
    return n // 3


def golay_encode_shard(src, dst):
    # pot.golay.encode_shard: the shard read as one int, 23 bits per word
    # from the codeword tuple.
    pairs = _golay_pairs(len(src))
    nbytes = (pairs * 46 + 7) >> 3
    if len(dst) < nbytes:
        raise ValueError("coded shard buffer too short")
    codeword = golay_tables()[0]
    x = int.from_bytes(src, "big")
    shifts = _SHIFTS_15 if pairs == 5 else range(24 * pairs - 12, -1, -12)
    v = 0
    for s in shifts:
        v = (v << 23) | codeword[(x >> s) & 0xFFF]
    dst[:nbytes] = (v << (nbytes * 8 - pairs * 46)).to_bytes(nbytes, "big")


def golay_decode_shard(src, dst):
    # pot.golay_decode.decode_shard: the received shard as one int; returns
    # the number of corrected bits.
    pairs = _golay_pairs(len(dst))
    nbytes = (pairs * 46 + 7) >> 3
    if len(src) < nbytes:
        raise ValueError("coded shard too short")
    _, par, err = golay_tables()
    x = int.from_bytes(src[:nbytes], "big") >> (nbytes * 8 - pairs * 46)
    fixed = 0
    out = 0
    for s in range(46 * pairs - 23, -1, -23):
        r = (x >> s) & 0x7FFFFF
        m = r >> 11
        e = err[(r & 0x7FF) ^ par[m]]
        fixed += e >> 12
        out = (out << 12) | (m ^ (e & 0xFFF))
    dst[: 3 * pairs] = out.to_bytes(3 * pairs, "big")
    return fixed


# --- H (pot.hmacsha256) -------------------------------------------------------
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))


def hmac_pads(k):
    # HmacKey's pads: (key XOR ipad, key XOR opad) of a 64-byte padded key,
    # each one bytes.translate (a new context per stamped message makes key
    # setup part of the issuer's per-record cost).
    k = bytes(k)
    return k.translate(_IPAD), k.translate(_OPAD)


# --- the whole forward path (pot.grg) -----------------------------------------
# Grg.commit's stages with the fast pieces. The tables come from the
# firmware's own, so both paths share one source: 256-byte translate tables
# x -> c*x for the parity coefficients, and, Golay being linear, for each of
# the 15 byte positions of a shard the 256 coded shards (232-bit ints,
# padding included) of that byte alone: a coded shard is then the XOR of 15
# look-ups. Built on the first commit.
_INDEX = tuple(bytes((i,)) for i in range(spec.SHARDS))  # the shard index bytes
_commit_tables = []


def _prepare_commit():
    mul = {}
    for c in PARITY_ROWS:
        if c not in mul:
            mul[c] = bytes(gf_mul(c, x) for x in range(256))
    row4 = tuple(mul[PARITY_ROWS[j]] for j in range(4))
    row5 = tuple(mul[PARITY_ROWS[4 + j]] for j in range(4))
    bit_coded = []  # the coded shard of a shard with only bit p set
    for p in range(spec.SHARD_LEN * 8):
        word, bit = divmod(p, 12)
        cw = encode_word(1 << (11 - bit))
        bit_coded.append(cw << (23 * (9 - word) + 2))
    byte_coded = []
    for j in range(spec.SHARD_LEN):
        table = [0] * 256
        for b in range(1, 256):
            x = 0
            for k in range(8):
                if b >> (7 - k) & 1:
                    x ^= bit_coded[8 * j + k]
            table[b] = x
        byte_coded.append(table)
    _commit_tables.append((row4, row5, tuple(byte_coded)))


def commit(g, payload):
    # Grg.commit for the Grg g (context set, payload checked by Grg.commit):
    # the same buffers written, the same view returned.
    if not _commit_tables:
        _prepare_commit()
    row4, row5, byte_coded = _commit_tables[0]
    shard_len = spec.SHARD_LEN
    area = g.area
    rice_encode(payload, area)
    a = bytes(area)
    fb = int.from_bytes
    # R: multiply each data shard by its coefficients with bytes.translate
    # (one 256-byte table per coefficient), XOR the products as long ints.
    p4 = p5 = 0
    for c in range(spec.DATA_SHARDS):
        lo = c * shard_len
        hi = lo + shard_len
        p4 ^= fb(a[lo:hi].translate(row4[c]), "big")
        p5 ^= fb(a[lo:hi].translate(row5[c]), "big")
    p4b = p4.to_bytes(shard_len, "big")
    p5b = p5.to_bytes(shard_len, "big")
    g.shard_buf[spec.AREA_LEN:] = p4b + p5b
    # G2 and H, shard by shard.
    key = g.key
    parts = []
    for i in range(spec.SHARDS):
        if i < spec.DATA_SHARDS:
            sb = a[i * shard_len : (i + 1) * shard_len]
        else:
            sb = p4b if i == 4 else p5b
        c = 0
        for table, b in zip(byte_coded, sb):
            c ^= table[b]
        cs = c.to_bytes(spec.CODED_LEN, "big")
        parts.append(cs)
        parts.append(key.mac(_INDEX[i], cs)[:spec.TAG_LEN])
    t = b"".join(parts)
    g.tagged[:] = t
    g.commit_buf[:] = hashlib.sha256(t).digest()
    return g.commit_view


# --- the link's CRC (pot.link) -------------------------------------------------
def crc_frame(buf, end, write):
    # pot.link._crc_frame with zlib's CRC-32, the same contract: the CRC of
    # buf[2:end], compared with (write=0) or stored at (write=1) the u32
    # big-endian at buf[end:end + 4].
    c = zlib.crc32(memoryview(buf)[2:end]).to_bytes(4, "big")
    if write:
        buf[end:end + 4] = c
        return 1
    return 1 if bytes(buf[end:end + 4]) == c else 0
