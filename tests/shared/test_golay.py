#: heapsize=64k
# Golay(23,12,7) (docs/spec.md 2.3): word and shard coding, every
# correctable error pattern, and what happens beyond the code's radius.
# Runs on CPython (pytest) and the MicroPython Unix port.
from testlib import Rng, heap_alloc, IS_MICROPYTHON

from pot import golay, golay_decode

G = 0xC75  # g(x) = x^11+x^10+x^6+x^5+x^4+x^2+1, written here independently


def poly_mod(v):
    # v mod g over GF(2), bit by bit (v < 2**23): the definition, not the
    # tables the module uses.
    for b in range(22, 10, -1):
        if v >> b & 1:
            v ^= G << (b - 11)
    return v


def weight(v):
    n = 0
    while v:
        v &= v - 1
        n += 1
    return n


def each_path(check):
    # Run check(encode_shard, decode_shard) through every implementation
    # this runtime has: the firmware's kernels (machine code on MicroPython,
    # plain Python on CPython) and, on CPython, the host's whole-shard ints.
    check(golay.encode_shard, golay_decode.decode_shard)
    if not IS_MICROPYTHON:
        from pot import fastpath

        check(fastpath.golay_encode_shard, fastpath.golay_decode_shard)


def patterns(w):
    # Every 23-bit error pattern of weight w (w = 1..4).
    if w == 1:
        for a in range(23):
            yield 1 << a
        return
    for p in patterns(w - 1):
        top = 0
        while p >> (top + 1):
            top += 1
        for b in range(top + 1, 23):
            yield p | (1 << b)


def test_encode_word_is_systematic_remainder_for_all_messages():
    for m in range(4096):
        c = golay_decode.encode_word(m)
        assert c >> 11 == m
        assert c == (m << 11) | poly_mod(m << 11)
        assert poly_mod(c) == 0  # a multiple of g: a codeword of the cyclic code


def test_known_words():
    # Computed by hand from the definition: x^11 mod g = g - x^11.
    assert golay_decode.encode_word(0) == 0
    assert golay_decode.encode_word(1) == (1 << 11) | (G ^ (1 << 11))
    assert golay_decode.encode_word(1) == 0xC75
    assert golay_decode.encode_word(0xFFF) == (0xFFF << 11) | poly_mod(0xFFF << 11)


def test_pattern_counts():
    # Counted, not listed: a list of 1,771 ints would not fit a small heap.
    for w, expected in ((1, 23), (2, 253), (3, 1771), (4, 8855)):
        n = 0
        for e in patterns(w):
            assert weight(e) == w and e < 1 << 23
            n += 1
        assert n == expected


def test_all_2047_error_patterns_of_weight_up_to_3_are_corrected():
    rng = Rng(0x601A1)
    seen = 0
    for w in (1, 2, 3):
        for e in patterns(w):
            c = golay_decode.encode_word(rng.below(4096))
            assert golay_decode.decode_word(c ^ e) == c
            seen += 1
    assert seen == 2047


def test_no_error_decodes_to_itself():
    rng = Rng(5)
    for _ in range(200):
        c = golay_decode.encode_word(rng.below(4096))
        assert golay_decode.decode_word(c) == c


def test_weight_4_errors_decode_to_a_different_codeword():
    # Beyond the radius the perfect code always lands on ANOTHER codeword
    # (at distance 3 from the received word, 7 from the sent one): never
    # silently on the original. The shard tag (spec 2.4, GRG tests) is what
    # rejects such a shard.
    rng = Rng(0x4444)
    n = 0
    for e in patterns(4):
        c = golay_decode.encode_word(rng.below(4096))
        d = golay_decode.decode_word(c ^ e)
        assert d != c
        assert poly_mod(d) == 0
        assert weight(d ^ c ^ e) == 3
        assert weight(d ^ c) == 7
        n += 1
    assert n == 8855


def reference_coded_shard(data):
    # The spec's layout built bit by bit with encode_word: 12-bit words MSB
    # first, 23-bit codewords concatenated, zero bits to a byte boundary.
    nbits = len(data) * 8
    bits = 0
    for b in data:
        bits = (bits << 8) | b
    words = nbits // 12
    out = 0
    for k in range(words):
        m = (bits >> (nbits - 12 * (k + 1))) & 0xFFF
        out = (out << 23) | golay_decode.encode_word(m)
    total = words * 23
    pad = (8 - total % 8) % 8
    out <<= pad
    n = (total + pad) // 8
    res = bytearray(n)
    for i in range(n):
        res[n - 1 - i] = (out >> (8 * i)) & 0xFF
    return bytes(res)


def test_encode_shard_layout_15_to_29():
    def check(encode_shard, decode_shard):
        rng = Rng(29)
        for _ in range(50):
            src = rng.bytes(15)
            dst = bytearray(b"\xaa" * 29)  # stale content must be overwritten
            encode_shard(src, dst)
            assert bytes(dst) == reference_coded_shard(src)
            assert dst[28] & 3 == 0  # the two padding bits
        assert golay_decode.coded_len(15) == 29

    each_path(check)


def test_encode_shard_other_lengths():
    def check(encode_shard, decode_shard):
        rng = Rng(30)
        for n in (3, 6, 12, 30, 48):
            src = rng.bytes(n)
            dst = bytearray(golay_decode.coded_len(n))
            encode_shard(src, dst)
            assert bytes(dst) == reference_coded_shard(src)
            out = bytearray(n)
            assert decode_shard(dst, out) == 0
            assert bytes(out) == src

    each_path(check)


def test_bad_lengths_raise():
    def check(encode_shard, decode_shard):
        for call in (
            lambda: encode_shard(bytes(14), bytearray(29)),
            lambda: encode_shard(bytes(15), bytearray(28)),
            lambda: decode_shard(bytes(28), bytearray(15)),
            lambda: decode_shard(bytes(29), bytearray(16)),
        ):
            try:
                call()
            except ValueError:
                continue
            assert False, "no ValueError"

    each_path(check)


def flip_in_word(buf, word, e):
    # XOR the 23-bit pattern e into codeword number `word` of a coded shard.
    for b in range(23):
        if e >> (22 - b) & 1:
            pos = word * 23 + b
            buf[pos >> 3] ^= 0x80 >> (pos & 7)


def test_decode_shard_corrects_up_to_3_bits_per_word_and_counts_them():
    def check(encode_shard, decode_shard):
        rng = Rng(0xDEC0)
        for _ in range(60):
            src = rng.bytes(15)
            coded = bytearray(29)
            encode_shard(src, coded)
            expected = 0
            for word in range(10):
                w = rng.below(4)
                e = 0
                while weight(e) < w:
                    e |= 1 << rng.below(23)
                flip_in_word(coded, word, e)
                expected += w
            out = bytearray(b"\x55" * 15)
            assert decode_shard(coded, out) == expected
            assert bytes(out) == src

    each_path(check)


def test_decode_shard_ignores_padding_bits():
    def check(encode_shard, decode_shard):
        src = Rng(1).bytes(15)
        coded = bytearray(29)
        encode_shard(src, coded)
        coded[28] ^= 0x03
        out = bytearray(15)
        assert decode_shard(coded, out) == 0
        assert bytes(out) == src

    each_path(check)


def test_decode_shard_with_4_errors_in_a_word_miscorrects():
    # 4 flipped bits in word 3 (data bytes 4-5): the decoder reports 3
    # corrections and returns wrong data there; the tag must catch it.
    def check(encode_shard, decode_shard):
        src = Rng(44).bytes(15)
        coded = bytearray(29)
        encode_shard(src, coded)
        flip_in_word(coded, 3, 0b10010001000000000000001)
        out = bytearray(15)
        assert decode_shard(coded, out) == 3
        assert bytes(out) != src
        assert bytes(out[:4]) == src[:4] and bytes(out[6:]) == src[6:]

    each_path(check)


def test_shard_coding_works_on_memoryviews():
    # GRG keeps all shards in one buffer and passes memoryview slices.
    def check(encode_shard, decode_shard):
        rng = Rng(77)
        data = bytearray(rng.bytes(30))
        coded = bytearray(58)
        encode_shard(memoryview(data)[15:30], memoryview(coded)[29:58])
        assert bytes(coded[29:]) == reference_coded_shard(data[15:])
        assert coded[:29] == bytearray(29)
        out = bytearray(30)
        assert decode_shard(memoryview(coded)[29:], memoryview(out)[:15]) == 0
        assert out[:15] == data[15:]

    each_path(check)


def test_shard_coding_does_not_allocate():
    if not IS_MICROPYTHON:
        return  # heap figures mean something on MicroPython only
    import gc

    src = Rng(3).bytes(15)
    coded = bytearray(29)
    out = bytearray(15)
    enc = golay.encode_shard
    dec = golay_decode.decode_shard
    enc(src, coded)
    dec(coded, out)
    gc.collect()
    a0 = heap_alloc()
    for _ in range(10):
        enc(src, coded)
        dec(coded, out)
    assert heap_alloc() - a0 == 0


def test_vectors():
    # tests/vectors/golay.txt (tools/gen/gen_fec_vectors.py, brute-force
    # reference): words, and shards clean / with errors / beyond the radius.
    from testlib import vectors, unhex

    def check(encode_shard, decode_shard):
        words = shards = 0
        for v in vectors("golay.txt"):
            if v[0] == "word":
                m = int(v[2], 16)
                c = int(v[3], 16)
                assert golay_decode.encode_word(m) == c, v[1]
                assert golay_decode.decode_word(c) == c, v[1]
                words += 1
                continue
            assert v[0] == "shard"
            vid, flags, data, received, bits, decoded = v[1:]
            data = unhex(data)
            coded = bytearray(29)
            encode_shard(data, coded)
            if flags == "clean":
                assert bytes(coded) == unhex(received), vid
            out = bytearray(15)
            assert decode_shard(unhex(received), out) == int(bits), vid
            assert bytes(out) == unhex(decoded), vid
            assert (bytes(out) == data) == (flags != "beyond_radius"), vid
            shards += 1
        assert words == 16 and shards == 16

    each_path(check)
