# Golay(23,12,7) against an independent construction: the generator
# matrix built here from the polynomial (rows x^i * g(x), the cyclic code
# itself, not the systematic tables), its weight distribution, and syndrome
# decoding against brute-force nearest-codeword search. (That
# tests/vectors/rs.txt and golay.txt are what tools/gen/gen_fec_vectors.py makes
# today is checked by test_generated_files.py.)
import random

from hypothesis import given, settings, strategies as st

from pot import golay, golay_decode

G = 0xC75


def gf2_span(rows):
    # All 2^k combinations of the rows (Gray-code walk).
    out = [0]
    for r in rows:
        out += [c ^ r for c in out]
    return out


# The non-systematic generator matrix: g(x) * x^i, i = 0..11.
CYCLIC_CODE = set(gf2_span([G << i for i in range(12)]))
# Every codeword of encode_word, listed once.
CODEWORDS = [golay_decode.encode_word(m) for m in range(4096)]


def test_encoder_spans_the_cyclic_code():
    assert len(CYCLIC_CODE) == 4096
    assert set(CODEWORDS) == CYCLIC_CODE


def test_weight_distribution_of_the_binary_golay_code():
    dist = {}
    for c in CODEWORDS:
        w = bin(c).count("1")
        dist[w] = dist.get(w, 0) + 1
    assert dist == {0: 1, 7: 253, 8: 506, 11: 1288, 12: 1288, 15: 506, 16: 253, 23: 1}


def test_encoder_is_linear():
    rng = random.Random(1)
    for _ in range(500):
        a, b = rng.randrange(4096), rng.randrange(4096)
        assert golay_decode.encode_word(a ^ b) == golay_decode.encode_word(a) ^ golay_decode.encode_word(b)


def nearest(r):
    return min(CODEWORDS, key=lambda c: bin(c ^ r).count("1"))


def test_decoder_equals_brute_force_nearest_codeword():
    # Perfect code: the nearest codeword is unique for every 23-bit word.
    rng = random.Random(23)
    for _ in range(300):
        r = rng.getrandbits(23)
        assert golay_decode.decode_word(r) == nearest(r)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, (1 << 23) - 1))
def test_decoder_equals_brute_force_any_word(r):
    d = golay_decode.decode_word(r)
    assert d == nearest(r)
    assert bin(d ^ r).count("1") <= 3


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=15, max_size=15), st.lists(st.integers(0, 231), max_size=12))
def test_shard_round_trip_counts_corrections(data, flips):
    coded = bytearray(29)
    golay.encode_shard(data, coded)
    received = bytearray(coded)
    per_word = [0] * 10
    flipped = set()
    for pos in flips:
        if pos in flipped or (pos < 230 and per_word[pos // 23] == 3):
            continue  # stay within the correctable radius
        flipped.add(pos)
        received[pos >> 3] ^= 0x80 >> (pos & 7)
        if pos < 230:
            per_word[pos // 23] += 1
    out = bytearray(15)
    assert golay_decode.decode_shard(received, out) == sum(per_word)
    assert bytes(out) == data
