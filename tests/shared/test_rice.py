# G1, the Golomb-Rice field coder (docs/spec.md section 2.1): the streams of
# tests/vectors/grg.txt, strict decoding of tests/vectors/g1.txt, canonical
# decoding under every single-bit change, and the 50-byte worst case.
from testlib import IS_MICROPYTHON, Rng, skip, tohex, unhex, vectors

from pot import rice, rice_decode, spec
from pot.host import rice_code_length, rice_decode_bytes, rice_encode_bytes


def _encoders():
    out = [("portable", rice.encode)]
    if not IS_MICROPYTHON:  # CPython: the host's fast path is tested too
        from pot import fastpath

        out.append(("fast", fastpath.rice_encode))
    return out


def test_encode_vectors():
    n = 0
    for vid, payload, ctx, stream, shards, commitment in vectors("grg.txt"):
        p = unhex(payload)
        s = unhex(stream)
        for name, enc in _encoders():
            area = bytearray(b"\xee" * 60)  # dirty: encode must zero the rest
            got = enc(p, area)
            assert got == len(s), (vid, name)
            assert bytes(area) == s + bytes(60 - len(s)), (vid, name)
        assert rice_encode_bytes(p) == s, vid
        assert rice_decode_bytes(s) == p, vid
        n += 1
    assert n >= 40


def test_decode_vectors_strict():
    out = bytearray(47)
    nvalid = ninvalid = 0
    for vid, validity, area, expected in vectors("g1.txt"):
        a = unhex(area)
        if validity == "valid":
            rice_decode.decode(a, out)
            assert tohex(out) == expected, vid
            nvalid += 1
        else:
            try:
                rice_decode.decode(a, out)
            except ValueError as e:
                assert str(e).startswith("G1: "), (vid, str(e))
                ninvalid += 1
                continue
            assert False, "accepted invalid stream " + vid
    assert nvalid >= 8 and ninvalid >= 15


def test_round_trip_random_bytes():
    # G1 is lossless for any 47 bytes, not only valid records.
    rng = Rng(2024)
    area = bytearray(60)
    out = bytearray(47)
    for _ in range(150):
        p = rng.bytes(47)
        n = rice.encode(p, area)
        assert 34 <= n <= 50
        assert rice_decode.decode(area, out) == n
        assert bytes(out) == p


def test_worst_case_is_50_bytes():
    worst = b"\xff\xff\xff" + b"\xff" * 8 + b"\xff" * 4 + bytes(32)
    assert len(rice_encode_bytes(worst)) == spec.STREAM_MAX == 50
    # Each field at its longest form, and the sum the spec states.
    total = 0
    for k, e, w in spec.FIELDS:
        total += e + w if e else w
    assert total == 129 and 33 + (total + 7) // 8 == 50
    rng = Rng(5)
    for _ in range(100):
        assert len(rice_encode_bytes(rng.bytes(47))) <= 50


def test_typical_record_is_43_bytes():
    from pot.host import pack_payload

    rng = Rng(43)
    for _ in range(30):
        ts = (1735689600 + rng.below(5 * 365 * 86400)) * 1000000000 + rng.below(1000000000)
        p = pack_payload(rng.below(4), 4, ts, 997953 + rng.below(2048), rng.bytes(32))
        assert len(rice_encode_bytes(p)) == 43


def test_every_single_bit_change_is_rejected_or_canonical():
    # Strictness: a changed area either fails to decode, or decodes to a
    # payload whose own stream is exactly that area. So no payload has two
    # accepted streams.
    rng = Rng(77)
    out = bytearray(47)
    again = bytearray(60)
    for p in (rng.bytes(47), unhex(next(vectors("grg.txt"))[1])):
        area = bytearray(60)
        rice.encode(p, area)
        accepted = 0
        for bit in range(60 * 8):
            a = bytearray(area)
            a[bit >> 3] ^= 0x80 >> (bit & 7)
            try:
                rice_decode.decode(a, out)
            except ValueError:
                continue
            accepted += 1
            rice.encode(out, again)
            assert again == a, bit
        # Nonce bits always decode (to another nonce); structure bits mostly not.
        assert accepted >= 256


def test_field_maps():
    assert rice.zigzag(0) == 0 and rice.zigzag(-1) == 1 and rice.zigzag(1) == 2
    for d in (0, 1, -1, 5, -5, 1 << 33, -(1 << 33)):
        assert rice_decode.unzigzag(rice.zigzag(d)) == d
    assert rice_code_length(0, spec.F_HEADER) == 3
    assert rice_code_length(4, spec.F_HEADER) == 9
    assert rice_code_length(1, spec.F_RESERVED) == 9
    assert rice_code_length(0, spec.F_NANOS) == 30


def test_short_payload_rejected():
    for name, enc in _encoders():
        try:
            enc(bytes(46), bytearray(60))
        except ValueError:
            continue
        assert False, name


def test_fast_and_portable_agree_on_random_bytes():
    if IS_MICROPYTHON:
        skip("the fast encoder is CPython-only")
    from pot import fastpath

    rng = Rng(99)
    a = bytearray(60)
    b = bytearray(60)
    for _ in range(300):
        p = rng.bytes(47)
        assert rice.encode(p, a) == fastpath.rice_encode(p, b)
        assert a == b
