# SHA-512 (FIPS 180-4) for the Ed25519 verifier.
#
#   from pot.sha512 import sha512
#   digest = sha512(b"abc")                 # bytes-like
#   digest = sha512((r, a, message))        # a tuple/list of parts: no concat
#
# The stock MicroPython hashlib has only sha256, so this module carries a
# compact pure implementation, which every port uses (a port whose hashlib
# has sha512 would save ~25 us of a ~20 ms verify: not worth the code a
# device loads). CPython runs the same code (the host verifies with
# libsodium, never with pot.ed25519); tests compare it with hashlib there.
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
# written to mean the same on all three:
# - every working value is a viper `uint`: a ptr32 load is a signed `int`,
#   so each load is cast with uint(), and then `>>` is a logical shift and
#   `<` an unsigned compare on 32 bits too (on an `int` holding a value
#   >= 2**31, `>>` would drag the sign bit in and `<` would see a negative
#   number);
# - every value is kept below 2**32 by `& m` after each left shift or
#   addition (m = 0xFFFFFFFF; on a 32-bit board that AND changes nothing,
#   the hardware already wrapped);
# - a carry out of a low half is detected as "the wrapped sum is smaller
#   than an operand", never as sum >> 32; shift counts stay within 1..31.
#
# Memory: the round constants are a bytes literal (below); a 32-word
# schedule (16 words as hi/lo pairs, rolling: word t is computed over word
# t - 16 when round t needs it, not all 80 up front) and the 16-word
# chaining value are uint32 arrays made at import; one 128-byte block
# buffer; all reused by every call (not re-entrant: the device verifies one
# signature at a time).
from array import array

from pot.compat import micropython, ptr8, ptr32, uint


_M32 = 0xFFFFFFFF  # an object on 32-bit ports: viper converts it once per call

# Round constants K_t, as 160 32-bit words (hi, lo) interleaved: word 2t
# is the high half of K_t. One bytes literal of little-endian words, read
# by viper a byte at a time: no array copy and no tuple of 160 ints on the
# heap, and a frozen module keeps it in flash. Never read it through
# ptr32: a bytes literal (in flash or in the heap) is only byte-aligned,
# and an unaligned word load faults on Cortex-M0+ and Xtensa.
_K = (
    b"\x98\x2f\x8a\x42\x22\xae\x28\xd7\x91\x44\x37\x71\xcd\x65\xef\x23\xcf\xfb\xc0\xb5\x2f\x3b\x4d\xec\xa5\xdb\xb5\xe9\xbc\xdb\x89\x81"
    b"\x5b\xc2\x56\x39\x38\xb5\x48\xf3\xf1\x11\xf1\x59\x19\xd0\x05\xb6\xa4\x82\x3f\x92\x9b\x4f\x19\xaf\xd5\x5e\x1c\xab\x18\x81\x6d\xda"
    b"\x98\xaa\x07\xd8\x42\x02\x03\xa3\x01\x5b\x83\x12\xbe\x6f\x70\x45\xbe\x85\x31\x24\x8c\xb2\xe4\x4e\xc3\x7d\x0c\x55\xe2\xb4\xff\xd5"
    b"\x74\x5d\xbe\x72\x6f\x89\x7b\xf2\xfe\xb1\xde\x80\xb1\x96\x16\x3b\xa7\x06\xdc\x9b\x35\x12\xc7\x25\x74\xf1\x9b\xc1\x94\x26\x69\xcf"
    b"\xc1\x69\x9b\xe4\xd2\x4a\xf1\x9e\x86\x47\xbe\xef\xe3\x25\x4f\x38\xc6\x9d\xc1\x0f\xb5\xd5\x8c\x8b\xcc\xa1\x0c\x24\x65\x9c\xac\x77"
    b"\x6f\x2c\xe9\x2d\x75\x02\x2b\x59\xaa\x84\x74\x4a\x83\xe4\xa6\x6e\xdc\xa9\xb0\x5c\xd4\xfb\x41\xbd\xda\x88\xf9\x76\xb5\x53\x11\x83"
    b"\x52\x51\x3e\x98\xab\xdf\x66\xee\x6d\xc6\x31\xa8\x10\x32\xb4\x2d\xc8\x27\x03\xb0\x3f\x21\xfb\x98\xc7\x7f\x59\xbf\xe4\x0e\xef\xbe"
    b"\xf3\x0b\xe0\xc6\xc2\x8f\xa8\x3d\x47\x91\xa7\xd5\x25\xa7\x0a\x93\x51\x63\xca\x06\x6f\x82\x03\xe0\x67\x29\x29\x14\x70\x6e\x0e\x0a"
    b"\x85\x0a\xb7\x27\xfc\x2f\xd2\x46\x38\x21\x1b\x2e\x26\xc9\x26\x5c\xfc\x6d\x2c\x4d\xed\x2a\xc4\x5a\x13\x0d\x38\x53\xdf\xb3\x95\x9d"
    b"\x54\x73\x0a\x65\xde\x63\xaf\x8b\xbb\x0a\x6a\x76\xa8\xb2\x77\x3c\x2e\xc9\xc2\x81\xe6\xae\xed\x47\x85\x2c\x72\x92\x3b\x35\x82\x14"
    b"\xa1\xe8\xbf\xa2\x64\x03\xf1\x4c\x4b\x66\x1a\xa8\x01\x30\x42\xbc\x70\x8b\x4b\xc2\x91\x97\xf8\xd0\xa3\x51\x6c\xc7\x30\xbe\x54\x06"
    b"\x19\xe8\x92\xd1\x18\x52\xef\xd6\x24\x06\x99\xd6\x10\xa9\x65\x55\x85\x35\x0e\xf4\x2a\x20\x71\x57\x70\xa0\x6a\x10\xb8\xd1\xbb\x32"
    b"\x16\xc1\xa4\x19\xc8\xd0\xd2\xb8\x08\x6c\x37\x1e\x53\xab\x41\x51\x4c\x77\x48\x27\x99\xeb\x8e\xdf\xb5\xbc\xb0\x34\xa8\x48\x9b\xe1"
    b"\xb3\x0c\x1c\x39\x63\x5a\xc9\xc5\x4a\xaa\xd8\x4e\xcb\x8a\x41\xe3\x4f\xca\x9c\x5b\x73\xe3\x63\x77\xf3\x6f\x2e\x68\xa3\xb8\xb2\xd6"
    b"\xee\x82\x8f\x74\xfc\xb2\xef\x5d\x6f\x63\xa5\x78\x60\x2f\x17\x43\x14\x78\xc8\x84\x72\xab\xf0\xa1\x08\x02\xc7\x8c\xec\x39\x64\x1a"
    b"\xfa\xff\xbe\x90\x28\x1e\x63\x23\xeb\x6c\x50\xa4\xe9\xbd\x82\xde\xf7\xa3\xf9\xbe\x15\x79\xc6\xb2\xf2\x78\x71\xc6\x2b\x53\x72\xe3"
    b"\xce\x3e\x27\xca\x9c\x61\x26\xea\xc7\xb8\x86\xd1\x07\xc2\xc0\x21\xd6\x7d\xda\xea\x1e\xeb\xe0\xcd\x7f\x4f\x7d\xf5\x78\xd1\x6e\xee"
    b"\xaa\x67\xf0\x06\xba\x6f\x17\x72\xc5\x7d\x63\x0a\xa6\x98\xc8\xa2\x04\x98\x3f\x11\xae\x0d\xf9\xbe\x35\x0b\x71\x1b\x1b\x47\x1c\x13"
    b"\xf5\x77\xdb\x28\x84\x7d\x04\x23\x7b\xab\xca\x32\x93\x24\xc7\x40\x0a\xbe\x9e\x3c\xbc\xbe\xc9\x15\xc4\x67\x1d\x43\x4c\x0d\x10\x9c"
    b"\xbe\xd4\xc5\x4c\xb6\x42\x3e\xcb\x9c\x29\x7f\x59\x2a\x7e\x65\xfc\xab\x6f\xcb\x5f\xec\xfa\xd6\x3a\x8c\x19\x44\x6c\x17\x58\x47\x4a"
)

# Initial hash value H(0), (hi, lo) interleaved.
_IV = (
    0x6A09E667, 0xF3BCC908, 0xBB67AE85, 0x84CAA73B, 0x3C6EF372, 0xFE94F82B,
    0xA54FF53A, 0x5F1D36F1, 0x510E527F, 0xADE682D1, 0x9B05688C, 0x2B3E6C1F,
    0x1F83D9AB, 0xFB41BD6B, 0x5BE0CD19, 0x137E2179,
)

_W = array("I", bytes(128))  # message schedule (16 rolling hi/lo pairs), reused
_H = array("I", bytes(64))  # chaining value, reused
_BUF = bytearray(128)  # one block being filled


@micropython.viper
def _compress(block, w, hs, k, mask):
    # One 128-byte block (any buffer, read at offset 0) into the state hs;
    # w, hs: uint32 arrays (schedule, state); k: the constants' bytes;
    # mask: _M32.
    blk = ptr8(block)
    W = ptr32(w)
    H = ptr32(hs)
    K = ptr8(k)
    m = uint(mask)
    i = 0
    while i < 32:
        j = i << 2
        W[i] = (blk[j] << 24) | (blk[j + 1] << 16) | (blk[j + 2] << 8) | blk[j + 3]
        i += 1
    ah = uint(H[0])
    al = uint(H[1])
    bh = uint(H[2])
    bl = uint(H[3])
    ch = uint(H[4])
    cl = uint(H[5])
    dh = uint(H[6])
    dl = uint(H[7])
    eh = uint(H[8])
    el = uint(H[9])
    fh = uint(H[10])
    fl = uint(H[11])
    gh = uint(H[12])
    gl = uint(H[13])
    hh = uint(H[14])
    hl = uint(H[15])
    t = 0
    while t < 160:
        # The schedule is 16 words (hi, lo pairs) rolling: W_r lives at
        # pair r mod 16, where W_(r-16) was, computed when round r needs it.
        j = t & 31
        if t >= 32:
            # W_r = sigma1(W_(r-2)) + W_(r-7) + sigma0(W_(r-15)) + W_(r-16)
            # sigma1 = ROTR19 ^ ROTR61 ^ SHR6; ROTR61 = swap, ROTR29.
            p = (j - 4) & 31
            xh = uint(W[p])
            xl = uint(W[p + 1])
            s1h = (xh >> 19) ^ (xl >> 29) ^ (xh >> 6) ^ (((xl << 13) ^ (xh << 3)) & m)
            s1l = (xl >> 19) ^ (xh >> 29) ^ (xl >> 6) ^ (((xh << 13) ^ (xl << 3) ^ (xh << 26)) & m)
            # sigma0 = ROTR1 ^ ROTR8 ^ SHR7
            p = (j - 30) & 31
            xh = uint(W[p])
            xl = uint(W[p + 1])
            s0h = (xh >> 1) ^ (xh >> 8) ^ (xh >> 7) ^ (((xl << 31) ^ (xl << 24)) & m)
            s0l = (xl >> 1) ^ (xl >> 8) ^ (xl >> 7) ^ (((xh << 31) ^ (xh << 24) ^ (xh << 25)) & m)
            # 64-bit sums, carries by compare
            p = (j - 14) & 31
            hi = s1h + uint(W[p])
            x = uint(W[p + 1])
            lo = (s1l + x) & m
            if lo < x:
                hi += 1
            lo = (lo + s0l) & m
            hi += s0h
            if lo < s0l:
                hi += 1
            x = uint(W[j + 1])
            lo = (lo + x) & m
            hi += uint(W[j])
            if lo < x:
                hi += 1
            W[j] = hi & m
            W[j + 1] = lo
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
        # K_t: two little-endian words at byte 4t, read a byte at a time
        # (a bytes literal is only byte-aligned, frozen or not).
        p = t << 2
        x = uint(K[p + 4] | (K[p + 5] << 8) | (K[p + 6] << 16) | (K[p + 7] << 24)) & m
        lo = (lo + x) & m
        hi += uint(K[p] | (K[p + 1] << 8) | (K[p + 2] << 16) | (K[p + 3] << 24))
        if lo < x:
            hi += 1
        x = uint(W[j + 1])
        t1l = (lo + x) & m
        t1h = hi + uint(W[j])
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
        x = uint(W[i + 1])
        lo = (uint(H[i + 1]) + x) & m
        hi = uint(H[i]) + uint(W[i])
        if lo < x:
            hi += 1
        H[i] = hi & m
        H[i + 1] = lo
        i += 2


def sha512(data_or_parts):
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
