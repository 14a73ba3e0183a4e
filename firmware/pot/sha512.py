# SHA-512 (FIPS 180-4) for the Ed25519 verifier.
#
#   from pot.sha512 import sha512
#   digest = sha512(b"abc")                 # bytes-like
#   digest = sha512((r, a, message))        # a tuple/list of parts: no concat
#
# CPython (and the few MicroPython ports built with it) have hashlib.sha512;
# the stock MicroPython hashlib has only sha256, so this module carries a
# compact pure implementation, `sha512_pure`, used when hashlib lacks it.
# Tests force the pure one on CPython too and compare it with hashlib.
#
# Why 32-bit halves: a 64-bit SHA-512 word would be a heap-allocated big int
# on every MicroPython port (small ints are 62 bits on 64-bit ports, 30 bits
# on 32-bit boards). Each word is a (hi, lo) pair of 32-bit halves.
#
# Speed: the compression function is @micropython.viper, so the halves are
# machine words and a round costs no allocation at all (on the Unix port
# ~15 us per block instead of ~170 us as plain bytecode). Viper words are 32
# bits on the boards and 64 bits on the 64-bit Unix port, and the same
# source also runs undecorated on CPython (unbounded ints), so the code is
# written to mean the same on all three: every value is kept below 2**32 by
# `& m` after each left shift or addition (m = 0xFFFFFFFF; on a 32-bit
# board that AND changes nothing, the hardware already wrapped), and a carry
# out of a low half is detected portably as "the wrapped sum is smaller than
# an operand", never as sum >> 32. Right shifts and comparisons only ever
# see masked values, and shift counts stay within 1..31.
#
# Memory: the round constants, one 160-word schedule (80 words as hi/lo
# pairs) and the 16-word chaining value are uint32 arrays made at import;
# one 128-byte block buffer; all reused by every call (not re-entrant: the
# device verifies one signature at a time).
try:
    from hashlib import sha512 as _hashlib_sha512
except ImportError:
    _hashlib_sha512 = None

from array import array

try:  # MicroPython: the compiler consumes @micropython.viper and the casts
    import micropython
except ImportError:  # CPython: the same code runs undecorated

    class micropython:
        @staticmethod
        def viper(f):
            return f

    def uint(x):
        return x

    def ptr8(buf):
        return buf

    ptr32 = ptr8  # the uint32 arrays below index by word on CPython too


_M32 = 0xFFFFFFFF  # an object on 32-bit ports: viper converts it once per call

# Round constants, (hi, lo) interleaved: K[2t] is the high half of K_t.
_K = array("I", (
    0x428A2F98, 0xD728AE22, 0x71374491, 0x23EF65CD, 0xB5C0FBCF, 0xEC4D3B2F,
    0xE9B5DBA5, 0x8189DBBC, 0x3956C25B, 0xF348B538, 0x59F111F1, 0xB605D019,
    0x923F82A4, 0xAF194F9B, 0xAB1C5ED5, 0xDA6D8118, 0xD807AA98, 0xA3030242,
    0x12835B01, 0x45706FBE, 0x243185BE, 0x4EE4B28C, 0x550C7DC3, 0xD5FFB4E2,
    0x72BE5D74, 0xF27B896F, 0x80DEB1FE, 0x3B1696B1, 0x9BDC06A7, 0x25C71235,
    0xC19BF174, 0xCF692694, 0xE49B69C1, 0x9EF14AD2, 0xEFBE4786, 0x384F25E3,
    0x0FC19DC6, 0x8B8CD5B5, 0x240CA1CC, 0x77AC9C65, 0x2DE92C6F, 0x592B0275,
    0x4A7484AA, 0x6EA6E483, 0x5CB0A9DC, 0xBD41FBD4, 0x76F988DA, 0x831153B5,
    0x983E5152, 0xEE66DFAB, 0xA831C66D, 0x2DB43210, 0xB00327C8, 0x98FB213F,
    0xBF597FC7, 0xBEEF0EE4, 0xC6E00BF3, 0x3DA88FC2, 0xD5A79147, 0x930AA725,
    0x06CA6351, 0xE003826F, 0x14292967, 0x0A0E6E70, 0x27B70A85, 0x46D22FFC,
    0x2E1B2138, 0x5C26C926, 0x4D2C6DFC, 0x5AC42AED, 0x53380D13, 0x9D95B3DF,
    0x650A7354, 0x8BAF63DE, 0x766A0ABB, 0x3C77B2A8, 0x81C2C92E, 0x47EDAEE6,
    0x92722C85, 0x1482353B, 0xA2BFE8A1, 0x4CF10364, 0xA81A664B, 0xBC423001,
    0xC24B8B70, 0xD0F89791, 0xC76C51A3, 0x0654BE30, 0xD192E819, 0xD6EF5218,
    0xD6990624, 0x5565A910, 0xF40E3585, 0x5771202A, 0x106AA070, 0x32BBD1B8,
    0x19A4C116, 0xB8D2D0C8, 0x1E376C08, 0x5141AB53, 0x2748774C, 0xDF8EEB99,
    0x34B0BCB5, 0xE19B48A8, 0x391C0CB3, 0xC5C95A63, 0x4ED8AA4A, 0xE3418ACB,
    0x5B9CCA4F, 0x7763E373, 0x682E6FF3, 0xD6B2B8A3, 0x748F82EE, 0x5DEFB2FC,
    0x78A5636F, 0x43172F60, 0x84C87814, 0xA1F0AB72, 0x8CC70208, 0x1A6439EC,
    0x90BEFFFA, 0x23631E28, 0xA4506CEB, 0xDE82BDE9, 0xBEF9A3F7, 0xB2C67915,
    0xC67178F2, 0xE372532B, 0xCA273ECE, 0xEA26619C, 0xD186B8C7, 0x21C0C207,
    0xEADA7DD6, 0xCDE0EB1E, 0xF57D4F7F, 0xEE6ED178, 0x06F067AA, 0x72176FBA,
    0x0A637DC5, 0xA2C898A6, 0x113F9804, 0xBEF90DAE, 0x1B710B35, 0x131C471B,
    0x28DB77F5, 0x23047D84, 0x32CAAB7B, 0x40C72493, 0x3C9EBE0A, 0x15C9BEBC,
    0x431D67C4, 0x9C100D4C, 0x4CC5D4BE, 0xCB3E42B6, 0x597F299C, 0xFC657E2A,
    0x5FCB6FAB, 0x3AD6FAEC, 0x6C44198C, 0x4A475817,
))

# Initial hash value H(0), (hi, lo) interleaved.
_IV = (
    0x6A09E667, 0xF3BCC908, 0xBB67AE85, 0x84CAA73B, 0x3C6EF372, 0xFE94F82B,
    0xA54FF53A, 0x5F1D36F1, 0x510E527F, 0xADE682D1, 0x9B05688C, 0x2B3E6C1F,
    0x1F83D9AB, 0xFB41BD6B, 0x5BE0CD19, 0x137E2179,
)

_W = array("I", bytes(640))  # message schedule, reused
_H = array("I", bytes(64))  # chaining value, reused
_BUF = bytearray(128)  # one block being filled


@micropython.viper
def _compress(block, w, hs, k, mask):
    # One 128-byte block (any buffer, read at offset 0) into the state hs;
    # w, hs, k: uint32 arrays (schedule, state, constants); mask: _M32.
    blk = ptr8(block)
    W = ptr32(w)
    H = ptr32(hs)
    K = ptr32(k)
    m = uint(mask)
    i = 0
    while i < 32:
        j = i << 2
        W[i] = (blk[j] << 24) | (blk[j + 1] << 16) | (blk[j + 2] << 8) | blk[j + 3]
        i += 1
    t = 32
    while t < 160:
        # sigma1(W[t-2]) = ROTR19 ^ ROTR61 ^ SHR6; ROTR61 = swap, ROTR29.
        xh = W[t - 4]
        xl = W[t - 3]
        s1h = (xh >> 19) ^ (xl >> 29) ^ (xh >> 6) ^ (((xl << 13) ^ (xh << 3)) & m)
        s1l = (xl >> 19) ^ (xh >> 29) ^ (xl >> 6) ^ (((xh << 13) ^ (xl << 3) ^ (xh << 26)) & m)
        # sigma0(W[t-15]) = ROTR1 ^ ROTR8 ^ SHR7
        xh = W[t - 30]
        xl = W[t - 29]
        s0h = (xh >> 1) ^ (xh >> 8) ^ (xh >> 7) ^ (((xl << 31) ^ (xl << 24)) & m)
        s0l = (xl >> 1) ^ (xl >> 8) ^ (xl >> 7) ^ (((xh << 31) ^ (xh << 24) ^ (xh << 25)) & m)
        # W[t] = sigma1 + W[t-7] + sigma0 + W[t-16], 64-bit, carries by compare
        x = W[t - 13]
        lo = (s1l + x) & m
        hi = s1h + W[t - 14]
        if lo < x:
            hi += 1
        lo = (lo + s0l) & m
        hi += s0h
        if lo < s0l:
            hi += 1
        x = W[t - 31]
        lo = (lo + x) & m
        hi += W[t - 32]
        if lo < x:
            hi += 1
        W[t] = hi & m
        W[t + 1] = lo
        t += 2
    ah = H[0]
    al = H[1]
    bh = H[2]
    bl = H[3]
    ch = H[4]
    cl = H[5]
    dh = H[6]
    dl = H[7]
    eh = H[8]
    el = H[9]
    fh = H[10]
    fl = H[11]
    gh = H[12]
    gl = H[13]
    hh = H[14]
    hl = H[15]
    t = 0
    while t < 160:
        # T1 = h + Sigma1(e) + Ch(e, f, g) + K[t] + W[t]
        # Sigma1(e) = ROTR14 ^ ROTR18 ^ ROTR41 (ROTR41 = swap, ROTR9)
        x = (el >> 14) ^ (el >> 18) ^ (eh >> 9) ^ (((eh << 18) ^ (eh << 14) ^ (el << 23)) & m)
        lo = (hl + x) & m
        hi = hh + ((eh >> 14) ^ (eh >> 18) ^ (el >> 9) ^ (((el << 18) ^ (el << 14) ^ (eh << 23)) & m))
        if lo < x:
            hi += 1
        # Ch(e, f, g) = (e & f) ^ (~e & g), written without ~
        x = gl ^ (el & (fl ^ gl))
        lo = (lo + x) & m
        hi += gh ^ (eh & (fh ^ gh))
        if lo < x:
            hi += 1
        x = K[t + 1]
        lo = (lo + x) & m
        hi += K[t]
        if lo < x:
            hi += 1
        x = W[t + 1]
        t1l = (lo + x) & m
        t1h = hi + W[t]
        if t1l < x:
            t1h += 1
        # T2 = Sigma0(a) + Maj(a, b, c)
        # Sigma0(a) = ROTR28 ^ ROTR34 ^ ROTR39 (34, 39 = swap, ROTR2, ROTR7)
        x = (al >> 28) ^ (ah >> 2) ^ (ah >> 7) ^ (((ah << 4) ^ (al << 30) ^ (al << 25)) & m)
        lo = (x + ((al & bl) | (cl & (al | bl)))) & m
        hi = ((ah >> 28) ^ (al >> 2) ^ (al >> 7) ^ (((al << 4) ^ (ah << 30) ^ (ah << 25)) & m)) + ((ah & bh) | (ch & (ah | bh)))
        if lo < x:
            hi += 1
        hh = gh
        hl = gl
        gh = fh
        gl = fl
        fh = eh
        fl = el
        # e = d + T1
        el = (dl + t1l) & m
        eh = dh + t1h
        if el < t1l:
            eh += 1
        eh &= m
        dh = ch
        dl = cl
        ch = bh
        cl = bl
        bh = ah
        bl = al
        # a = T1 + T2
        al = (t1l + lo) & m
        ah = t1h + hi
        if al < lo:
            ah += 1
        ah &= m
        t += 2
    # H += (a, b, .., h): park the working variables in the (now unused)
    # first 16 schedule words, then one short loop.
    W[0] = ah
    W[1] = al
    W[2] = bh
    W[3] = bl
    W[4] = ch
    W[5] = cl
    W[6] = dh
    W[7] = dl
    W[8] = eh
    W[9] = el
    W[10] = fh
    W[11] = fl
    W[12] = gh
    W[13] = gl
    W[14] = hh
    W[15] = hl
    i = 0
    while i < 16:
        x = W[i + 1]
        lo = (H[i + 1] + x) & m
        hi = H[i] + W[i]
        if lo < x:
            hi += 1
        H[i] = hi & m
        H[i + 1] = lo
        i += 2


def sha512_pure(data_or_parts):
    # The pure implementation; data_or_parts is one bytes-like object or a
    # tuple/list of them (hashed as their concatenation).
    parts = data_or_parts if isinstance(data_or_parts, (tuple, list)) else (data_or_parts,)
    hs = _H
    for i in range(16):
        hs[i] = _IV[i]
    buf = _BUF
    fill = 0  # bytes waiting in buf
    total = 0
    for part in parts:
        mv = memoryview(part)
        n = len(mv)
        total += n
        pos = 0
        if fill:
            take = min(128 - fill, n)
            buf[fill:fill + take] = mv[:take]
            fill += take
            pos = take
            if fill < 128:
                continue
            _compress(buf, _W, hs, _K, _M32)
            fill = 0
        while n - pos >= 128:
            _compress(mv[pos:pos + 128], _W, hs, _K, _M32)
            pos += 128
        if pos < n:
            buf[0:n - pos] = mv[pos:]
            fill = n - pos
    # Padding: 0x80, zeros, then the 128-bit big-endian bit length.
    buf[fill] = 0x80
    fill += 1
    if fill > 112:
        for i in range(fill, 128):
            buf[i] = 0
        _compress(buf, _W, hs, _K, _M32)
        fill = 0
    for i in range(fill, 120):
        buf[i] = 0
    bits = total * 8  # < 2**62 for any message a device holds: small int
    for i in range(8):
        buf[127 - i] = (bits >> (8 * i)) & 0xFF
    _compress(buf, _W, hs, _K, _M32)
    out = bytearray(64)
    for i in range(16):
        x = hs[i]
        j = 4 * i
        out[j] = x >> 24
        out[j + 1] = (x >> 16) & 0xFF
        out[j + 2] = (x >> 8) & 0xFF
        out[j + 3] = x & 0xFF
    return bytes(out)


def _sha512_hashlib(data_or_parts):
    if isinstance(data_or_parts, (tuple, list)):
        h = _hashlib_sha512()
        for part in data_or_parts:
            h.update(part)
        return h.digest()
    return _hashlib_sha512(data_or_parts).digest()


# The entry point: hashlib's where the port has it, else the pure one.
sha512 = _sha512_hashlib if _hashlib_sha512 is not None else sha512_pure
