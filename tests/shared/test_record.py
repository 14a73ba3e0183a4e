# The PoT record (docs/spec.md section 1): structural receiver rules from
# tests/vectors/record.txt, the payload packer (pot.host), the accessors,
# and the promise that Record.load() allocates nothing on MicroPython.
from testlib import IS_MICROPYTHON, Rng, skip, unhex, vectors

from pot import record, spec
from pot.host import pack_payload, record_fields
from pot.record import Record
from pot.spec import OK, PROTO_VIOLATION

CODES = {"OK": OK, "PROTO_VIOLATION": PROTO_VIOLATION}


def test_record_vectors():
    r = Record()
    n = 0
    for vid, flags, data, expected in vectors("record.txt"):
        got = r.load(unhex(data))
        assert got == CODES[expected], vid
        if flags != "length":
            assert record.structural_verdict(unhex(data)) == got, vid
        n += 1
    assert n >= 30


def test_vector_file_covers_every_rule():
    flags = set(v[1] for v in vectors("record.txt"))
    for rule in ("valid", "version", "tier", "sources", "reserved", "confidence", "length"):
        assert rule in flags, rule


def test_layout_constants():
    assert spec.RECORD_LEN == 143 and spec.PAYLOAD_LEN == 47 and spec.SIGNED_LEN == 79
    assert spec.OFF_NONCE + spec.NONCE_LEN == spec.OFF_COMMITMENT
    assert spec.OFF_COMMITMENT + spec.COMMITMENT_LEN == spec.OFF_SIGNATURE
    assert spec.OFF_SIGNATURE + spec.SIGNATURE_LEN == spec.RECORD_LEN


def test_pack_payload_and_accessors():
    rng = Rng(7)
    r = Record()
    for tier in range(4):
        nonce = rng.bytes(32)
        ts = 1760000000123456789 + tier
        p = pack_payload(tier, 3 + tier, ts, 999000 + tier, nonce)
        assert len(p) == 47
        tail = rng.bytes(96)
        assert r.load(p + tail) == OK
        assert r.tier() == tier and r.timestamp_ns() == ts
        f = record_fields(r.buf)
        assert f["version"] == 1 and f["tier"] == tier and f["sources"] == 3 + tier
        assert f["reserved"] == 0 and f["nonce"] == nonce
        assert f["timestamp_ns"] == ts and f["timestamp_s"] == 1760000000
        assert f["confidence_ppm"] == 999000 + tier
        assert bytes(r.nonce) == nonce
        assert bytes(r.payload) == p
        assert bytes(r.commitment) == tail[:32]
        assert bytes(r.signature) == tail[32:]
        assert bytes(r.signed) == p + tail[:32]
        assert bytes(r.buf) == p + tail


def test_pack_payload_byte_layout():
    p = pack_payload(3, 5, 0x0102030405060708, 1000000, bytes(range(32)))
    assert p[0] == 0x13 and p[1] == 5 and p[2] == 0
    assert p[3:11] == bytes((1, 2, 3, 4, 5, 6, 7, 8))
    assert p[11:15] == bytes((0x00, 0x0F, 0x42, 0x40))
    assert p[15:] == bytes(range(32))


def test_pack_payload_refuses_what_receivers_reject():
    good = (0, 3, 0, 0, bytes(32))
    bad = [
        (4, 3, 0, 0, bytes(32)),
        (-1, 3, 0, 0, bytes(32)),
        (0, 2, 0, 0, bytes(32)),
        (0, 256, 0, 0, bytes(32)),
        (0, 3, -1, 0, bytes(32)),
        (0, 3, 1 << 64, 0, bytes(32)),
        (0, 3, 0, 1000001, bytes(32)),
        (0, 3, 0, -1, bytes(32)),
        (0, 3, 0, 0, bytes(31)),
    ]
    pack_payload(*good)
    for args in bad:
        try:
            pack_payload(*args)
        except ValueError:
            continue
        assert False, args


def test_every_packed_payload_passes_the_structural_check():
    rng = Rng(11)
    r = Record()
    for _ in range(50):
        p = pack_payload(rng.below(4), 3 + rng.below(253), rng.u32() * rng.u32(), rng.below(1000001), rng.bytes(32))
        assert r.load(p + bytes(96)) == OK


def test_single_bytes_outside_the_rules_are_rejected():
    # Exhaustive over each structural byte: exactly the spec's values pass.
    base = bytearray(pack_payload(2, 4, 1, 999000, bytes(32)) + bytes(96))
    r = Record()
    for v in range(256):
        b = bytearray(base)
        b[0] = v
        assert (r.load(b) == OK) == (v >> 4 == 1 and v & 15 <= 3), v
        b = bytearray(base)
        b[1] = v
        assert (r.load(b) == OK) == (v >= 3), v
        b = bytearray(base)
        b[2] = v
        assert (r.load(b) == OK) == (v == 0), v
        b = bytearray(base)
        b[11] = v
        assert (r.load(b) == OK) == (v == 0), v
        b = bytearray(base)
        b[12] = v
        assert (r.load(b) == OK) == (v <= 0x0F), v


def test_confidence_boundary_bytewise():
    r = Record()
    for c, ok in ((1000000, True), (1000001, False), (0x000F42FF, False), (0x000F423F, True),
                  (0x000F4140, True), (0x000F4340, False), (0x00100000, False), (0, True)):
        b = bytearray(pack_payload(0, 3, 0, 0, bytes(32)) + bytes(96))
        for i in range(4):
            b[14 - i] = (c >> (8 * i)) & 0xFF
        assert (r.load(b) == OK) == ok, c


def test_wrong_length_leaves_record_unloaded():
    r = Record()
    good = pack_payload(0, 3, 0, 0, bytes(32)) + bytes(96)
    assert r.load(good) == OK and r.loaded
    for n in (0, 1, 47, 79, 142, 144, 286):
        assert r.load(bytes(n)) == PROTO_VIOLATION
        assert not r.loaded
    assert bytes(r.buf) == good


def test_load_allocates_nothing():
    if not IS_MICROPYTHON:
        skip("heap accounting exists only on MicroPython")
    import gc

    r = Record()
    good = pack_payload(3, 4, 1760000000123456789, 999999, bytes(range(32))) + bytes(96)
    samples = [good, bytearray(good), memoryview(good)]
    for i, v in ((0, 0x25), (1, 2), (2, 1), (11, 1), (13, 0x43)):
        b = bytearray(good)
        b[i] = v
        samples.append(bytes(b))
    samples.append(good[:142])
    results = bytearray(len(samples))
    r.load(good)
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(20):
            for i in range(len(samples)):
                results[i] = r.load(samples[i])
        after = gc.mem_alloc()
    finally:
        gc.enable()
    # The loop also proves the verdicts were real ones.
    assert bytes(results) == bytes((OK, OK, OK) + (PROTO_VIOLATION,) * 6)
    assert after - before == 0, after - before
