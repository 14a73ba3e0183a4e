# Verify-only Ed25519 (pot.ed25519) on every target. The 48 KB heap budget
# is tested by test_ed25519_heap.py (its own interpreter and heap).
# Vectors (tests/vectors, made by tools/gen/gen_ed25519_vectors.py):
#   ed25519_rfc8032.txt     RFC 8032 7.1 TEST 1, 2, 3, 1024, SHA(abc)
#   ed25519_sign_input.txt  the 1,024 sign.input cases (a board runs 1 in 16)
#   ed25519_edge.txt        edge cases with libsodium's verdicts
import sys

import testlib
from testlib import unhex, vectors

import pot.ed25519 as ed
import pot.ed25519_field as fe
from pot.ed25519 import crypto_ed25519_verify, verify

ON_BOARD = testlib.IS_MICROPYTHON and sys.platform not in ("linux", "darwin", "win32")


def _check_file(name, stride=1):
    # Every vector's verdict must be the file's (libsodium's). Returns the
    # numbers of valid and invalid vectors checked.
    counts = [0, 0]
    for i, f in enumerate(vectors(name)):
        if i % stride:
            continue
        pk, msg, sig, expected = unhex(f[-4]), unhex(f[-3]), unhex(f[-2]), f[-1]
        assert expected in ("valid", "invalid"), f[0]
        got = crypto_ed25519_verify(pk, msg, sig)
        assert got is (expected == "valid"), f[0]
        counts[expected == "invalid"] += 1
    return counts


def test_rfc8032_vectors():
    assert _check_file("ed25519_rfc8032.txt") == [5, 0]


def test_rfc8032_mutations_fail():
    # Any single-bit change of R, S, the key or the message must fail.
    rng = testlib.Rng(8032)
    for f in vectors("ed25519_rfc8032.txt"):
        pk, msg, sig = unhex(f[1]), unhex(f[2]), unhex(f[3])
        for _ in range(4):
            bad = bytearray(sig)
            bad[rng.below(64)] ^= 1 << rng.below(8)
            assert not verify(pk, msg, bytes(bad)), f[0]
            badk = bytearray(pk)
            badk[rng.below(32)] ^= 1 << rng.below(8)
            assert not verify(bytes(badk), msg, sig), f[0]
            badm = bytearray(msg) if msg else bytearray(1)
            if msg:
                badm[rng.below(len(msg))] ^= 1 << rng.below(8)
            assert not verify(pk, bytes(badm), sig), f[0]


def test_sign_input_vectors():
    stride = 16 if ON_BOARD else 1
    valid, invalid = _check_file("ed25519_sign_input.txt", stride)
    assert valid == 1024 // stride and invalid == 0


def test_edge_vectors():
    valid, invalid = _check_file("ed25519_edge.txt")
    # The file holds both verdicts (honest and mixed-order-A signatures
    # accepted; S >= L, small-order, non-canonical ... rejected).
    assert valid >= 10 and invalid >= 90


def test_bad_types_and_lengths_give_false():
    f = next(vectors("ed25519_rfc8032.txt"))
    pk, msg, sig = unhex(f[1]), unhex(f[2]), unhex(f[3])
    assert verify(pk, msg, sig)
    for args in ((None, msg, sig), (pk, msg, None), (pk, None, sig), (1, msg, sig),
                 (pk[:31], msg, sig), (pk, msg, sig[:63]), (pk, msg, sig + b"\0"),
                 (b"", b"", b""), ("x" * 32, msg, sig)):
        assert verify(*args) is False


def test_buffer_types_accepted():
    for f in vectors("ed25519_rfc8032.txt"):
        pk, msg, sig = unhex(f[1]), unhex(f[2]), unhex(f[3])
        assert verify(bytearray(pk), memoryview(msg), memoryview(sig))
        assert verify(memoryview(pk), bytearray(msg), bytearray(sig))


def test_wnaf_digits_rebuild_the_scalar():
    # Odd digits below 2**(w-1), at least w-1 zeros after each non-zero
    # digit, and sum(d_i 2**i) == k, for both widths, random scalars < 2**253.
    rng = testlib.Rng(25519)
    for w in (ed._A_WIDTH, ed._B_WIDTH):
        for trial in range(30):
            k = int.from_bytes(rng.bytes(32), "little") >> 3
            if trial == 0:
                k = (1 << 253) - 1
            ed._wnaf(ed._load_scalar(k.to_bytes(32, "little")), w, ed._NAF_H)
            total = 0
            last = -w
            for i in range(256):
                d = ed._NAF_H[i]
                if d:
                    if d > 127:
                        d -= 256
                    assert d & 1 and -(1 << (w - 1)) < d < (1 << (w - 1))
                    assert i - last >= w
                    last = i
                    total += d << i
            assert total == k


def test_field_inversion_and_square_root_chains():
    p = fe.P
    rng = testlib.Rng(19)
    for _ in range(6):
        x = int.from_bytes(rng.bytes(32), "little") % p or 1
        assert x * fe.invert(x) % p == 1
        assert fe.pow22523(x) == pow(x, (p - 5) // 8, p)
        assert fe.sqr_n(x, 7) == pow(x, 128, p)


def test_base_table_matches_group_arithmetic():
    # The flash table (generated from independent affine code) against this
    # module's own doubling and addition: entry i must be (2i+1)B.
    p = fe.P
    by = 4 * fe.invert(5) % p
    bx = fe.recover_x(by, 0)
    X, Y, Z, T = bx, by, 1, bx * by % p
    X2, Y2, Z2, T2 = fe.dbl(bx, by, 1)
    c2 = ((Y2 + X2) % p, (Y2 - X2) % p, 2 * Z2 % p, T2 * fe.D2 % p)
    for i in range(1 << (ed._B_WIDTH - 2)):
        if i:
            X, Y, Z, T = fe.add_cached(X, Y, Z, T, *c2)
        zi = fe.invert(Z)
        x, y = X * zi % p, Y * zi % p
        e = ed.BASE_NIELS[96 * i:96 * i + 96]
        assert int.from_bytes(e[0:32], "little") == (y + x) % p, i
        assert int.from_bytes(e[32:64], "little") == (y - x) % p, i
        assert int.from_bytes(e[64:96], "little") == 2 * fe.D * x * y % p, i
