# G2 receive side: Golay(23,12,7) decoding (docs/spec.md section 2.3),
# apart from the encoder (pot.golay) so that only a device that opens
# sharded frames loads it (and the 4 KB syndrome table): a verifier never
# does. Also the single-word encoder (encode_word) and coded_len; the
# method is described in pot/golay.py. The shard decoder is a viper kernel
# (machine code on MicroPython, plain Python on CPython);
# pot.fastpath.golay_decode_shard is the host's whole-shard-int form.
from pot.compat import micropython, ptr8
from pot.golay_tables import PAR_HI, PAR_LO
from pot.golay_syndrome import SYNDROME


def _pairs(data_len):
    if data_len % 3:
        raise ValueError("shard length must be a multiple of 3 bytes")
    return data_len // 3


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
    return (_pairs(data_len) * 46 + 7) >> 3


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
    pairs = _pairs(len(dst))
    if len(src) < (pairs * 46 + 7) >> 3:
        raise ValueError("coded shard too short")
    return _decode_kernel(src, dst, pairs, PAR_HI, PAR_LO, SYNDROME)
