# G2 receive side: Golay(23,12,7) decoding (docs/spec.md section 2.3),
# split from pot.golay so that only a device that opens sharded frames
# loads it (and the 4 KB syndrome table): a verifier never does. Also the
# single-word encoder (encode_word) and coded_len. Use them through
# golay.decode_word, golay.decode_shard, ... (golay.__getattr__ loads this
# module on first use); the method is described in pot/golay.py.
#
# Two paths with one result, chosen per call by golay._CPYTHON (tests flip
# it to run the viper kernel on CPython too): the kernel (machine code on
# MicroPython, plain Python on CPython) and, on CPython only, whole-shard
# ints with tuples built at import (defined in an `if` block that
# MicroPython never runs, so it costs no heap there).
from pot import golay
from pot.compat import IS_MICROPYTHON, micropython, ptr8
from pot.golay_tables import PAR_HI, PAR_LO
from pot.golay_syndrome import SYNDROME



def _parity(m):
    h = (m >> 5) & 0x7E  # 2 * (m >> 6): byte offset of the u16 entry
    l = (m & 0x3F) << 1
    return ((PAR_HI[h] << 8) | PAR_HI[h + 1]) ^ ((PAR_LO[l] << 8) | PAR_LO[l + 1])


def encode_word(m):
    # 12-bit message -> 23-bit codeword.
    m &= 0xFFF
    return (m << 11) | _parity(m)


def coded_len(data_len):
    # Bytes of a coded shard for data_len data bytes: 46 bits per 3 bytes,
    # rounded up to a byte (15 -> 29).
    return (golay._pairs(data_len) * 46 + 7) >> 3


def decode_word(r):
    # 23-bit received word -> the nearest codeword (at distance <= 3).
    m = (r >> 11) & 0xFFF
    s = ((r & 0x7FF) ^ _parity(m)) << 1
    m ^= ((SYNDROME[s] << 8) | SYNDROME[s + 1]) & 0xFFF
    return (m << 11) | _parity(m)


@micropython.viper
def _decode_kernel(src, dst, pairs: int, par_hi, par_lo, syndrome) -> int:
    # pairs x (46 received bits -> 2 corrected words -> 3 bytes). Returns
    # the number of corrected bits.
    s = ptr8(src)
    d = ptr8(dst)
    hi = ptr8(par_hi)
    lo = ptr8(par_lo)
    sy = ptr8(syndrome)
    acc = 0  # pending input bits (at most 30 after a refill)
    nbits = 0
    ip = 0
    o = 0
    fixed = 0
    end = pairs * 3
    while o < end:
        # first word
        while nbits < 23:
            acc = (acc << 8) | int(s[ip])
            ip += 1
            nbits += 8
        nbits -= 23
        r = acc >> nbits
        acc &= (1 << nbits) - 1
        m = r >> 11
        h = (m >> 5) & 0x7E
        l = (m & 0x3F) << 1
        x = ((r & 0x7FF) ^ ((int(hi[h]) << 8) | int(hi[h + 1])) ^ ((int(lo[l]) << 8) | int(lo[l + 1]))) << 1
        e = (int(sy[x]) << 8) | int(sy[x + 1])
        fixed += e >> 12
        m1 = m ^ (e & 0xFFF)
        # second word
        while nbits < 23:
            acc = (acc << 8) | int(s[ip])
            ip += 1
            nbits += 8
        nbits -= 23
        r = acc >> nbits
        acc &= (1 << nbits) - 1
        m = r >> 11
        h = (m >> 5) & 0x7E
        l = (m & 0x3F) << 1
        x = ((r & 0x7FF) ^ ((int(hi[h]) << 8) | int(hi[h + 1])) ^ ((int(lo[l]) << 8) | int(lo[l + 1]))) << 1
        e = (int(sy[x]) << 8) | int(sy[x + 1])
        fixed += e >> 12
        m = m ^ (e & 0xFFF)
        d[o] = m1 >> 4
        d[o + 1] = ((m1 << 4) | (m >> 8)) & 0xFF
        d[o + 2] = m & 0xFF
        o += 3
    return fixed


def decode_shard(src, dst):
    # src: 29 received bytes -> dst: 15 corrected data bytes (the length of
    # dst sets the size). Returns the number of corrected bits over all
    # words; the padding bits of src (and any bytes after) are ignored.
    pairs = golay._pairs(len(dst))
    if len(src) < (pairs * 46 + 7) >> 3:
        raise ValueError("coded shard too short")
    if golay._CPYTHON:
        return _decode_int(src, dst, pairs)
    return _decode_kernel(src, dst, pairs, PAR_HI, PAR_LO, SYNDROME)


# --- CPython path: whole-shard ints (never defined on MicroPython) --------
if not IS_MICROPYTHON:
    from pot.fastpath import golay_codewords

    _PARITY = tuple([c & 0x7FF for c in golay_codewords()])
    _ERROR = tuple([(SYNDROME[2 * s] << 8) | SYNDROME[2 * s + 1] for s in range(2048)])

    def _decode_int(src, dst, pairs):
        nbytes = (pairs * 46 + 7) >> 3
        x = int.from_bytes(src[:nbytes], "big") >> (nbytes * 8 - pairs * 46)
        par = _PARITY
        err = _ERROR
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
