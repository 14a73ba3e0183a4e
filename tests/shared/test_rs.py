#: heapsize=64k
# Reed-Solomon(4,6) over GF(2^8) (docs/spec.md 2.2): field arithmetic, the
# encoding matrix rebuilt from its definition, parity, and every erasure
# pattern. Runs on CPython (pytest) and the MicroPython Unix port.
from testlib import Rng, heap_alloc, IS_MICROPYTHON

from pot import rs, rs_rebuild, rs_tables, spec

POLY = 0x11D  # x^8+x^4+x^3+x^2+1, written here independently


def mul(a, b):
    # GF(2^8) product by definition (shift and add), no tables.
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= POLY
        b >>= 1
    return r


def power(a, e):
    r = 1  # 0^0 = 1
    for _ in range(e):
        r = mul(r, a)
    return r


def inverse(a):
    for x in range(1, 256):
        if mul(a, x) == 1:
            return x
    raise ZeroDivisionError


def mat_mul(a, b):
    return [[_dot(row, [b[k][j] for k in range(len(b))]) for j in range(len(b[0]))] for row in a]


def _dot(u, v):
    s = 0
    for x, y in zip(u, v):
        s ^= mul(x, y)
    return s


def mat_inv(m):
    n = len(m)
    a = [list(m[i]) + [1 if i == j else 0 for j in range(n)] for i in range(n)]
    for col in range(n):
        p = col
        while a[p][col] == 0:
            p += 1  # IndexError = singular, a test failure
        a[col], a[p] = a[p], a[col]
        f = inverse(a[col][col])
        a[col] = [mul(f, x) for x in a[col]]
        for r in range(n):
            if r != col and a[r][col]:
                g = a[r][col]
                a[r] = [x ^ mul(g, y) for x, y in zip(a[r], a[col])]
    return [row[n:] for row in a]


def each_path(check):
    # Run check(encode_parity, reconstruct) through every implementation this
    # runtime has: the firmware's kernels (machine code on MicroPython, plain
    # Python on CPython) and, on CPython, the host's bytes.translate path.
    check(rs.encode_parity, rs_rebuild.reconstruct)
    if not IS_MICROPYTHON:
        from pot import fastpath

        check(fastpath.rs_encode_parity, fastpath.rs_reconstruct)


def encoding_matrix():
    vand = [[power(r, c) for c in range(4)] for r in range(6)]
    return mat_mul(vand, mat_inv(vand[:4]))


def test_gf_mul_matches_definition():
    # All of b for a spread of a (full 65,536 pairs on CPython).
    step = 7 if IS_MICROPYTHON else 1
    for a in range(0, 256, step):
        for b in range(256):
            assert rs_rebuild.gf_mul(a, b) == mul(a, b)
    for a in range(256):
        assert rs_rebuild.gf_mul(a, 0) == 0 and rs_rebuild.gf_mul(a, 1) == a


def test_encoding_matrix_from_its_definition():
    enc = encoding_matrix()
    for r in range(4):
        assert enc[r] == [1 if c == r else 0 for c in range(4)]
    assert bytes(enc[4] + enc[5]) == rs_tables.PARITY_ROWS == spec.PARITY_ROWS
    # ... and the rows printed in the spec.
    assert spec.PARITY_ROWS == bytes([0x1B, 0x1C, 0x12, 0x14, 0x1C, 0x1B, 0x14, 0x12])
    assert spec.SHARDS == 6 and spec.DATA_SHARDS == 4


def random_shards(rng, n):
    return [bytearray(rng.bytes(n)) for _ in range(4)] + [bytearray(n), bytearray(n)]


def test_encode_parity_is_the_matrix_product():
    def check(encode_parity, reconstruct):
        rng = Rng(0x5EED)
        rows = encoding_matrix()
        for n in (1, 15, 40):
            for _ in range(5):
                shards = random_shards(rng, n)
                encode_parity(shards)
                for r in (4, 5):
                    for i in range(n):
                        assert shards[r][i] == _dot(rows[r], [shards[c][i] for c in range(4)])

    each_path(check)


def test_known_parity():
    # Unit vectors: parity byte = the coefficient of that data shard.
    def check(encode_parity, reconstruct):
        for c in range(4):
            shards = [bytearray(1) for _ in range(6)]
            shards[c][0] = 1
            encode_parity(shards)
            assert shards[4][0] == rs_tables.PARITY_ROWS[c]
            assert shards[5][0] == rs_tables.PARITY_ROWS[4 + c]

    each_path(check)


def popcount6(m):
    return sum(m >> i & 1 for i in range(6))


def test_every_erasure_pattern():
    # 64 masks: 0 erasures (1), 1 erasure (6), 2 erasures (15) rebuild all
    # six shards exactly; 3 or more erasures (42) raise.
    def check(encode_parity, reconstruct):
        rng = Rng(0xE7A5)
        shards = random_shards(rng, 15)
        encode_parity(shards)
        good = [bytes(s) for s in shards]
        rebuilt = {0: 0, 1: 0, 2: 0}
        refused = 0
        for mask in range(64):
            work = [bytearray(good[i]) if mask >> i & 1 else bytearray(b"\xee" * 15) for i in range(6)]
            erasures = 6 - popcount6(mask)
            try:
                reconstruct(work, mask)
            except ValueError as e:
                assert erasures > 2
                assert str(e) == "too many erasures"
                refused += 1
                continue
            assert erasures <= 2
            assert [bytes(w) for w in work] == good
            rebuilt[erasures] += 1
        assert rebuilt == {0: 1, 1: 6, 2: 15}
        assert refused == 42

    each_path(check)


def test_two_erasures_many_random_payloads():
    def check(encode_parity, reconstruct):
        rng = Rng(0x2E2E)
        for _ in range(20):
            shards = random_shards(rng, 15)
            encode_parity(shards)
            good = [bytes(s) for s in shards]
            a = rng.below(6)
            b = (a + 1 + rng.below(5)) % 6
            shards[a][:] = rng.bytes(15)
            shards[b][:] = rng.bytes(15)
            reconstruct(shards, 0x3F & ~(1 << a) & ~(1 << b))
            assert [bytes(s) for s in shards] == good

    each_path(check)


def test_present_bits_above_5_are_ignored():
    def check(encode_parity, reconstruct):
        shards = random_shards(Rng(9), 15)
        encode_parity(shards)
        good = [bytes(s) for s in shards]
        shards[0][:] = bytes(15)
        reconstruct(shards, 0xFE | 0x3C0)  # shard 0 missing, junk high bits
        assert [bytes(s) for s in shards] == good

    each_path(check)


def test_memoryview_slices_of_one_buffer():
    # The GRG layout: one 90-byte buffer, six 15-byte memoryview slices.
    def check(encode_parity, reconstruct):
        buf = bytearray(90)
        buf[:60] = Rng(61).bytes(60)
        mv = memoryview(buf)
        shards = [mv[15 * i : 15 * i + 15] for i in range(6)]
        encode_parity(shards)
        copy = bytes(buf)
        ref = [bytearray(copy[15 * i : 15 * i + 15]) for i in range(6)]
        ref[4][:] = bytes(15)
        ref[5][:] = bytes(15)
        encode_parity(ref)
        assert b"".join(bytes(r) for r in ref) == copy
        buf[15:30] = bytes(15)
        buf[75:90] = bytes(15)
        reconstruct(shards, 0b011101)
        assert bytes(buf) == copy

    each_path(check)


def test_encode_parity_does_not_allocate():
    if not IS_MICROPYTHON:
        return  # heap figures mean something on MicroPython only
    import gc

    shards = random_shards(Rng(4), 15)
    enc = rs.encode_parity
    enc(shards)
    gc.collect()
    a0 = heap_alloc()
    for _ in range(10):
        enc(shards)
    assert heap_alloc() - a0 == 0


def test_reconstruct_does_not_allocate():
    if not IS_MICROPYTHON:
        return  # heap figures mean something on MicroPython only
    import gc

    shards = random_shards(Rng(5), 15)
    rs.encode_parity(shards)
    rec = rs_rebuild.reconstruct
    rec(shards, 0b110110)
    gc.collect()
    a0 = heap_alloc()
    for _ in range(10):
        rec(shards, 0b110110)
    assert heap_alloc() - a0 == 0


def test_vectors():
    # tests/vectors/rs.txt (tools/gen/gen_fec_vectors.py): parity of each area,
    # and every 2-erasure rebuild of it.
    from testlib import vectors, unhex

    def check(encode_parity, reconstruct):
        n = 0
        for vid, flags, area, parity in vectors("rs.txt"):
            area = unhex(area)
            parity = unhex(parity)
            shards = [bytearray(area[15 * i : 15 * i + 15]) for i in range(4)] + [bytearray(15), bytearray(15)]
            encode_parity(shards)
            assert bytes(shards[4]) + bytes(shards[5]) == parity, vid
            full = area + parity
            for a in range(6):
                for b in range(a + 1, 6):
                    shards[a][:] = bytes(15)
                    shards[b][:] = bytes(15)
                    reconstruct(shards, 0x3F ^ (1 << a) ^ (1 << b))
                    assert b"".join([bytes(s) for s in shards]) == full, vid
            n += 1
        assert n == 16

    each_path(check)
