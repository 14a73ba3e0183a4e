# Properties of the GRG pipeline with hypothesis, against the independent
# reference implementation in tools/gen/gen_vectors.py (written from the spec
# text alone): both forward paths equal the reference for any payload and
# context; G1 round-trips any 47 bytes; frames survive any error pattern the
# spec promises to correct and never yield a wrong payload otherwise.
from hypothesis import given, settings
from hypothesis import strategies as st

import gen_vectors as ref
from pot import fastpath, host, rice, rice_decode
from pot.grg import Grg, GrgError
from pot.spec import ERASED

PORTABLE = Grg()
FAST = Grg(fastpath)

payloads = st.binary(min_size=47, max_size=47)
contexts = st.binary(max_size=255)


@settings(max_examples=200, deadline=None)
@given(p=payloads, ctx=contexts)
def test_forward_paths_equal_the_reference(p, ctx):
    stream, shards, tagged = ref.ref_tagged(p, ctx)
    for g in (PORTABLE, FAST):
        g.set_context(ctx)
        c = bytes(g.commit(p))
        assert bytes(g.tagged) == tagged
        assert bytes(g.shard_buf) == b"".join(shards)
    assert c == ref.ref_commitment(p, ctx) == host.commitment(p, ctx)
    assert host.rice_encode_bytes(p) == stream == ref.ref_g1(p)


@settings(max_examples=300, deadline=None)
@given(p=payloads)
def test_g1_round_trip_any_bytes(p):
    s = host.rice_encode_bytes(p)
    assert len(s) <= 50
    assert host.rice_decode_bytes(s) == p
    area = bytearray(60)
    out = bytearray(47)
    rice.encode(p, area)
    rice_decode.decode(area, out)
    assert bytes(out) == p


@settings(max_examples=300, deadline=None)
@given(area=st.binary(min_size=60, max_size=60))
def test_g1_decoder_accepts_only_canonical_areas(area):
    out = bytearray(47)
    try:
        rice_decode.decode(area, out)
    except ValueError:
        return
    again = bytearray(60)
    rice.encode(out, again)
    assert bytes(again) == area


def _frame(p, ctx, sig):
    rec = p + host.commitment(p, ctx) + sig
    return rec, bytearray(host.make_frame(rec, ctx))


error_pattern = st.lists(st.lists(st.sets(st.integers(0, 22), max_size=3), min_size=10, max_size=10),
                         min_size=6, max_size=6)


@settings(max_examples=60, deadline=None)
@given(p=payloads, ctx=contexts, sig=st.binary(min_size=64, max_size=64), errors=error_pattern)
def test_frame_corrects_up_to_three_errors_per_codeword(p, ctx, sig, errors):
    rec, frame = _frame(p, ctx, sig)
    for s in range(6):
        for w in range(10):
            for b in errors[s][w]:
                bit = s * 296 + w * 23 + b
                frame[bit >> 3] ^= 0x80 >> (bit & 7)
    back, verdicts = host.open_frame(bytes(frame), ctx)
    assert back == rec
    assert verdicts == [sum(len(x) for x in errors[s]) for s in range(6)]


@settings(max_examples=60, deadline=None)
@given(p=payloads, ctx=contexts, sig=st.binary(min_size=64, max_size=64),
       erased=st.sets(st.integers(0, 5), max_size=2), noise=st.binary(min_size=37, max_size=37))
def test_frame_survives_two_erasures(p, ctx, sig, erased, noise):
    rec, frame = _frame(p, ctx, sig)
    for s in erased:
        for i in range(37):
            frame[37 * s + i] ^= noise[i] | 1  # never a no-op
    back, verdicts = host.open_frame(bytes(frame), ctx)
    assert back == rec
    for s in range(6):
        if s not in erased:
            assert verdicts[s] != ERASED


@settings(max_examples=100, deadline=None)
@given(p=payloads, ctx=contexts, sig=st.binary(min_size=64, max_size=64),
       hits=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9),
                               st.sets(st.integers(0, 22), min_size=4, max_size=7)), min_size=1, max_size=4))
def test_heavy_errors_never_give_a_wrong_payload(p, ctx, sig, hits):
    # 4 to 7 errors in some codewords: shards are erased, the frame may be
    # refused, but a payload that comes out is the right one.
    rec, frame = _frame(p, ctx, sig)
    for s, w, bits in hits:
        for b in bits:
            bit = s * 296 + w * 23 + b
            frame[bit >> 3] ^= 0x80 >> (bit & 7)
    try:
        back, verdicts = host.open_frame(bytes(frame), ctx)
    except GrgError:
        return
    assert back == rec
