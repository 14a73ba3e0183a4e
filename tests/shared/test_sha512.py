# SHA-512 (pot.sha512): the pure implementation, the same code on every
# target, and on CPython against hashlib.
# Vectors: FIPS 180-4 examples and tests/vectors/sha512_lengths.txt
# (every length 0..300, digests from CPython's hashlib).
import testlib
from testlib import unhex, vectors

from pot.sha512 import sha512

# FIPS 180-4 / NIST CSHS example messages and their SHA-512 digests.
FIPS_EXAMPLES = (
    (b"abc",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
     "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    (b"",
     "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
     "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
     b"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
     "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
)


def message(n):
    # Must match sha512_message() in tools/gen/gen_ed25519_vectors.py.
    b = bytearray(n)
    for i in range(n):
        b[i] = (i * 31 + n * 7 + 1) & 0xFF
    return bytes(b)


def test_fips_examples():
    for msg, digest in FIPS_EXAMPLES:
        assert sha512(msg) == unhex(digest)


def test_million_a_pure():
    # 7,813 blocks: exercises the whole-block path over a long input. The
    # million bytes are one 1,000-byte part given 1,000 times (sha512
    # hashes a tuple of parts as their concatenation; 1,000 is a multiple
    # of no block length, so parts end mid-block), which fits any board.
    part = b"a" * 1000
    assert sha512((part,) * 1000) == unhex(
        "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
        "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b")


def test_every_length_0_to_300_pure():
    n = 0
    for length, digest in vectors("sha512_lengths.txt"):
        assert sha512(message(int(length))) == unhex(digest), length
        n += 1
    assert n == 301


def test_parts_equal_concatenation():
    # Any split of the input into parts hashes like the whole, including
    # splits inside and across block boundaries and empty parts.
    rng = testlib.Rng(512)
    for _ in range(40):
        total = rng.below(400)
        data = rng.bytes(total)
        cuts = sorted([rng.below(total + 1) for _ in range(rng.below(4))])
        parts = []
        prev = 0
        for c in cuts + [total]:
            parts.append(data[prev:c])
            prev = c
        want = sha512(data)
        assert sha512(tuple(parts)) == want
        assert sha512(list(parts)) == want


def test_buffer_types():
    data = message(200)
    want = sha512(data)
    assert sha512(bytearray(data)) == want
    assert sha512(memoryview(data)) == want
    assert sha512((memoryview(data)[:77], bytearray(data[77:]))) == want


def test_pure_against_hashlib_when_present():
    # On CPython (and ports with hashlib.sha512), compare directly on random
    # inputs of many lengths; elsewhere the vector file above covers it.
    try:
        from hashlib import sha512 as ref
    except ImportError:
        testlib.skip("no hashlib.sha512 on this port")
    rng = testlib.Rng(2024)
    for n in list(range(0, 300)) + [511, 512, 513, 1023, 1024, 1025]:
        data = rng.bytes(n)
        assert sha512(data) == ref(data).digest(), n


def test_word_tables_are_aligned():
    # The only buffers read and written through ptr32 are pot.sha512's
    # uint32 arrays _W and _H (tests/host/test_word_alignment.py checks
    # that in the source); here, on the target itself, their addresses.
    # An unaligned word access faults on Cortex-M0+ and Xtensa, and the
    # Cortex-M3 of the emulated board would hide it.
    try:
        import uctypes
    except ImportError:
        testlib.skip("no uctypes on this port")
    from pot import sha512 as mod

    for name in ("_W", "_H"):
        a = getattr(mod, name)
        assert len(bytes(a)) == 4 * len(a), name  # 32-bit words
        assert uctypes.addressof(a) % 4 == 0, (name, uctypes.addressof(a))
