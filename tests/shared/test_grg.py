# The GRG pipeline (docs/spec.md 2.1-2.7): commitments of tests/vectors/
# grg.txt (both forward paths on CPython), the context gate (C.3, C.5),
# round trips through the sharded frame (C.1) with bit errors, erasures and
# weight-4 errors, and the context strings.
import hashlib

from testlib import IS_MICROPYTHON, Rng, unhex, vectors

from pot import grg, host
from pot.grg import Grg, GrgError
from pot.host import pack_payload
from pot.spec import ERASED


def _pipelines():
    # The firmware's stages, and on CPython the host's (Grg(pot.fastpath)).
    out = [Grg()]
    if not IS_MICROPYTHON:
        from pot import fastpath

        out.append(Grg(fastpath))
    return out


def test_commitment_vectors():
    n = 0
    pipes = _pipelines()
    for vid, payload, ctx, stream, shards, commitment in vectors("grg.txt"):
        p = unhex(payload)
        c = unhex(commitment)
        for g in pipes:
            g.set_context(unhex(ctx))
            assert bytes(g.commit(p)) == c, (vid, g.fast is not None)
            assert bytes(g.shard_buf) == unhex(shards), (vid, g.fast is not None)
            assert hashlib.sha256(g.tagged).digest() == c, (vid, g.fast is not None)
            assert g.check(p, c)
            assert g.check(p + c)
        assert host.commitment(p, unhex(ctx)) == c, vid
        n += 1
    assert n >= 40


def _record(rng, ctx):
    p = pack_payload(rng.below(4), 3 + rng.below(10), rng.u32() * 1000000000 + rng.below(1000000000),
                     990000 + rng.below(10001), rng.bytes(32))
    return p + host.commitment(p, ctx) + rng.bytes(64)


def _ctx(rng):
    return grg.context_device(rng.bytes(1 + rng.below(64)))


def test_c1_frame_round_trip():
    rng = Rng(101)
    for _ in range(12):
        ctx = _ctx(rng)
        rec = _record(rng, ctx)
        frame = host.make_frame(rec, ctx)
        assert len(frame) == 286 and frame[222:] == rec[79:]
        back, verdicts = host.open_frame(frame, ctx)
        assert back == rec
        assert verdicts == [0] * 6


def test_encode_returns_tagged_shards():
    rng = Rng(5)
    ctx = _ctx(rng)
    p = _record(rng, ctx)[:47]
    tagged, c = host.grg_encode(p, ctx)
    assert len(tagged) == 222 and hashlib.sha256(tagged).digest() == c
    assert c == host.commitment(p, ctx)


def test_c3_context_separation():
    rng = Rng(303)
    p = _record(rng, b"")[:47]
    ctxs = [b"", b"\x00", b"\x00\x00", grg.context_device(b"a"), grg.context_device(b"b"),
            grg.context_message(b"a", b"m"), grg.context_message(b"a", b"n"), bytes(255)]
    seen = {}
    for ctx in ctxs:
        tagged, c = host.grg_encode(p, ctx)
        assert c not in seen
        seen[c] = tagged
    # Different contexts differ in every shard tag, not only in the digest.
    values = list(seen.values())
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            for s in range(6):
                o = 37 * s + 29
                assert values[i][o : o + 8] != values[j][o : o + 8]
    for g in _pipelines():
        g.set_context(ctxs[3])
        c = bytes(g.commit(p))
        g.set_context(ctxs[4])
        assert not g.check(p, c)
        g.set_context(ctxs[3])
        assert g.check(p, c)


def test_c5_every_single_bit_flip_fails_the_gate():
    rng = Rng(505)
    ctx = _ctx(rng)
    rec = bytearray(_record(rng, ctx))
    for g in _pipelines():
        g.set_context(ctx)
        assert g.check(rec)
        for bit in range(79 * 8):  # payload (376 bits) and commitment (256)
            rec[bit >> 3] ^= 0x80 >> (bit & 7)
            ok = g.check(rec)
            rec[bit >> 3] ^= 0x80 >> (bit & 7)
            assert not ok, bit
        assert g.check(rec)


def _flip(buf, bit):
    buf[bit >> 3] ^= 0x80 >> (bit & 7)


def _distinct_bits(rng, n, width):
    picked = []
    while len(picked) < n:
        b = rng.below(width)
        if b not in picked:
            picked.append(b)
    return picked


def test_frame_corrects_three_errors_in_every_codeword():
    rng = Rng(3)
    for trial in range(4):
        ctx = _ctx(rng)
        rec = _record(rng, ctx)
        frame = bytearray(host.make_frame(rec, ctx))
        expected = [0] * 6
        for s in range(6):
            for w in range(10):
                k = 1 + (trial + s + w) % 3 if trial else 3
                for b in _distinct_bits(rng, k, 23):
                    _flip(frame, s * 296 + w * 23 + b)
                expected[s] += k
            # the two padding bits are ignored
            _flip(frame, s * 296 + 230 + rng.below(2))
        back, verdicts = host.open_frame(frame, ctx)
        assert back == rec
        assert verdicts == expected


def test_frame_survives_any_two_erased_shards():
    rng = Rng(22)
    ctx = _ctx(rng)
    rec = _record(rng, ctx)
    clean = host.make_frame(rec, ctx)
    n = 0
    for a in range(6):
        for b in range(a + 1, 6):
            frame = bytearray(clean)
            _flip(frame, a * 296 + 230 + 2 + rng.below(64))  # a tag bit
            for byte in range(37 * b, 37 * b + 29):  # garbage shard
                frame[byte] ^= 0x5A
            back, verdicts = host.open_frame(frame, ctx)
            assert back == rec
            for s in range(6):
                assert (verdicts[s] == ERASED) == (s in (a, b)), (a, b, verdicts)
            n += 1
    assert n == 15


def test_three_erased_shards_are_refused():
    rng = Rng(33)
    ctx = _ctx(rng)
    clean = host.make_frame(_record(rng, ctx), ctx)
    for erased in ((0, 1, 2), (3, 4, 5), (0, 2, 5)):
        frame = bytearray(clean)
        for s in erased:
            frame[37 * s + 30] ^= 1
        try:
            host.open_frame(frame, ctx)
        except GrgError:
            continue
        assert False, erased


def test_weight_four_errors_never_give_a_wrong_payload():
    # Golay "corrects" 4 errors to a wrong codeword; the tag must catch it:
    # the shard is erased (or, were the tag fooled, the payload would still
    # have to come out right). Never a wrong payload.
    rng = Rng(44)
    ctx = _ctx(rng)
    rec = _record(rng, ctx)
    clean = host.make_frame(rec, ctx)
    for s in range(6):
        for w in (0, 5, 9):
            frame = bytearray(clean)
            for b in _distinct_bits(rng, 4, 23):
                _flip(frame, s * 296 + w * 23 + b)
            back, verdicts = host.open_frame(frame, ctx)
            assert back == rec
            assert verdicts[s] == ERASED
    # Weight 4 in three shards at once: too many erasures, refused.
    frame = bytearray(clean)
    for s in (1, 2, 4):
        for b in _distinct_bits(rng, 4, 23):
            _flip(frame, s * 296 + 23 * 3 + b)
    try:
        back, verdicts = host.open_frame(frame, ctx)
    except GrgError:
        back = None
    assert back is None or back == rec


def test_frame_for_another_context_is_refused():
    rng = Rng(55)
    ctx = _ctx(rng)
    frame = host.make_frame(_record(rng, ctx), ctx)
    try:
        host.open_frame(frame, grg.context_device(b"someone else"))
    except GrgError as e:
        assert "erased" in str(e)
        return
    assert False


def test_make_frame_refuses_record_of_other_context():
    rng = Rng(66)
    rec = _record(rng, grg.context_device(b"x"))
    try:
        host.make_frame(rec, grg.context_device(b"y"))
    except GrgError:
        return
    assert False


def test_device_open_frame_fills_verdicts_in_place():
    rng = Rng(77)
    ctx = _ctx(rng)
    rec = _record(rng, ctx)
    frame = bytearray(host.make_frame(rec, ctx))
    _flip(frame, 2 * 296 + 7)
    g = Grg()
    g.set_context(ctx)
    p = g.open_frame(frame)
    assert bytes(p) == rec[:47]
    assert bytes(g.verdicts) == bytes((0, 0, 1, 0, 0, 0))
    assert bytes(g.frame_signature) == rec[79:]
    assert g.check(p, rec[47:79])


def test_context_strings():
    assert grg.context_device(b"abc") == b"\x00\x03abc"
    assert grg.context_device("abc") == b"\x00\x03abc"
    dev = b"d" * 64
    assert grg.context_device(dev) == b"\x00\x40" + dev
    m = grg.context_message(b"abc", b"hello")
    assert m == b"\x01\x03abc" + hashlib.sha256(b"hello").digest()
    for bad in (b"", b"x" * 65):
        for f in (lambda: grg.context_device(bad), lambda: grg.context_message(bad, b"")):
            try:
                f()
            except GrgError:
                continue
            assert False
    # the two constructions never collide: their first byte differs
    assert grg.context_device(b"\x03abc")[0] != grg.context_message(b"abc", b"")[0]


def test_context_longer_than_255_is_refused():
    g = Grg()
    g.set_context(bytes(255))
    try:
        g.set_context(bytes(256))
    except GrgError:
        return
    assert False


def test_commit_without_context_is_refused():
    try:
        Grg().commit(bytes(47))
    except GrgError:
        return
    assert False


def test_frame_of_another_length_is_refused():
    rng = Rng(41)
    ctx = _ctx(rng)
    frame = host.make_frame(_record(rng, ctx), ctx)
    for bad in (frame[:285], frame + b"\x00", b""):
        try:
            host.open_frame(bad, ctx)
        except GrgError:
            continue
        assert False, len(bad)


def test_tag_key_is_label_then_ctx_without_length_prefix():
    # spec 2.4: the label is its 12 ASCII bytes, ctx follows directly
    label = bytes((0x74, 0x74, 0x74, 0x70, 0x73, 0x2F, 0x63, 0x74, 0x78, 0x2F, 0x76, 0x31))
    assert len(label) == 12
    for ctx in (b"", b"\x00\x01d", bytes(range(255))):
        assert grg.derive_key(ctx) == hashlib.sha256(label + ctx).digest()
