# HMAC-SHA256 (RFC 2104) on every target, against RFC 4231 section 4, and
# the constant-time comparison.
from testlib import IS_MICROPYTHON, Rng, unhex, vectors

from pot.hmacsha256 import HmacKey, crypto_verify, crypto_verify_at, hmac_sha256


def _key_variants(key):
    # Every keyed form: re-hashing the pad blocks (what MicroPython runs),
    # and on CPython copying saved states, with the firmware's pads and with
    # the host's (pot.fastpath.hmac_pads).
    out = [HmacKey(key, use_copy=False)]
    if not IS_MICROPYTHON:
        from pot import fastpath

        out.append(HmacKey(key, use_copy=True))
        out.append(HmacKey(key, pads=fastpath.hmac_pads))
    return out


def test_rfc4231_vectors():
    n = 0
    for vid, flags, key, data, mac in vectors("hmac_sha256.txt"):
        k = unhex(key)
        d = unhex(data)
        want = unhex(mac)
        assert hmac_sha256(k, d)[: len(want)] == want, vid
        for hk in _key_variants(k):
            assert hk.mac(d)[: len(want)] == want, vid
        n += 1
    assert n == 7


def test_two_part_mac_equals_concatenation():
    rng = Rng(3)
    for klen in (0, 1, 32, 64, 65, 100):
        key = rng.bytes(klen)
        for hk in _key_variants(key):
            for mlen in (0, 1, 29, 63, 64, 65, 200):
                m = rng.bytes(mlen)
                cut = rng.below(mlen + 1)
                assert hk.mac(m[:cut], m[cut:]) == hmac_sha256(key, m)
                assert hk.mac(memoryview(m)) == hmac_sha256(key, m)


def test_keyed_form_is_reusable():
    hk = HmacKey(b"k" * 32)
    a = hk.mac(b"one")
    hk.mac(b"two")
    assert hk.mac(b"one") == a


def test_key_longer_than_block_is_hashed():
    import hashlib

    key = bytes(range(100))
    assert hmac_sha256(key, b"x") == hmac_sha256(hashlib.sha256(key).digest(), b"x")


def test_crypto_verify():
    rng = Rng(9)
    a = rng.bytes(32)
    assert crypto_verify(a, bytes(a))
    assert crypto_verify(a, bytearray(a))
    assert crypto_verify(b"", b"")
    assert not crypto_verify(a, a[:31])
    for i in range(32):
        for bit in range(8):
            b = bytearray(a)
            b[i] ^= 1 << bit
            assert not crypto_verify(a, b)


def test_crypto_verify_at():
    a = bytes(range(40))
    b = bytes(10) + bytes(range(5, 25)) + b"\xff"
    assert crypto_verify_at(a, 5, b, 10, 20)
    assert not crypto_verify_at(a, 5, b, 10, 21)
    try:
        crypto_verify_at(a, 5, b, 10, 22)
    except IndexError:
        pass
    else:
        assert False, "out-of-range compare accepted"
    assert not crypto_verify_at(a, 4, b, 10, 20)
    assert crypto_verify_at(a, 0, b, 0, 0)
