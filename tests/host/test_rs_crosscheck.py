# RS(4,6) against an independent implementation of GF(2^8): the PyPI
# library reedsolo (its own log/exp tables and its carry-less multiply),
# with the systematic encoding matrix rebuilt here using only reedsolo's
# arithmetic. (That the committed tables are what tools/gen/gen_tables.py
# generates today is checked by test_generated_files.py.)
import itertools

import reedsolo
from hypothesis import given, settings, strategies as st

from pot import gf_tables, rs, rs_rebuild, rs_tables

reedsolo.init_tables(prim=0x11D, generator=2, c_exp=8)


def rmul(a, b):
    return reedsolo.gf_mul(a, b)


def rdot(row, col):
    s = 0
    for x, y in zip(row, col):
        s ^= rmul(x, y)
    return s


def rinv_matrix(m):
    # Gauss-Jordan with reedsolo's gf_inverse / gf_mul.
    n = len(m)
    a = [list(m[i]) + [int(i == j) for j in range(n)] for i in range(n)]
    for col in range(n):
        p = next(r for r in range(col, n) if a[r][col])
        a[col], a[p] = a[p], a[col]
        f = reedsolo.gf_inverse(a[col][col])
        a[col] = [rmul(f, x) for x in a[col]]
        for r in range(n):
            if r != col and a[r][col]:
                g = a[r][col]
                a[r] = [x ^ rmul(g, y) for x, y in zip(a[r], a[col])]
    return [row[n:] for row in a]


def rmat_mul(a, b):
    return [[rdot(row, [b[k][j] for k in range(len(b))]) for j in range(len(b[0]))] for row in a]


def encoding_matrix():
    vand = [[reedsolo.gf_pow(r, c) if r else int(c == 0) for c in range(4)] for r in range(6)]
    return rmat_mul(vand, rinv_matrix(vand[:4]))


ENC = encoding_matrix()


def test_gf_tables_match_reedsolo():
    log, exp, charac = reedsolo.init_tables(prim=0x11D, generator=2, c_exp=8)
    assert charac == 255
    assert list(gf_tables.EXP[:255]) == list(exp[:255])
    assert all(gf_tables.LOG[a] == log[a] for a in range(1, 256))
    assert len(gf_tables.EXP) == 512


def test_gf_mul_matches_reedsolo_on_all_pairs():
    for a in range(256):
        for b in range(256):
            assert rs_rebuild.gf_mul(a, b) == reedsolo.gf_mult_noLUT(a, b, prim=0x11D)


def test_encoding_matrix_matches_reedsolo_construction():
    assert ENC[:4] == [[int(r == c) for c in range(4)] for r in range(4)]
    assert bytes(ENC[4] + ENC[5]) == rs_tables.PARITY_ROWS


def test_rebuild_table_inverts_every_four_shard_subset():
    # For each of the 15 subsets: REBUILD row j * (the subset's rows of the
    # encoding matrix) must equal row j of the encoding matrix.
    masks = [sum(1 << i for i in s) for s in itertools.combinations(range(6), 4)]
    assert sorted(masks) == [m for m in range(64) if bin(m).count("1") == 4]
    for mask in masks:
        k = gf_tables.SET_INDEX[mask]
        rows = [i for i in range(6) if mask >> i & 1]
        expected = rmat_mul(ENC, rinv_matrix([ENC[i] for i in rows]))
        got = [list(gf_tables.REBUILD[24 * k + 4 * j : 24 * k + 4 * j + 4]) for j in range(6)]
        assert got == expected
    assert sorted(gf_tables.SET_INDEX[m] for m in masks) == list(range(15))
    assert all(gf_tables.SET_INDEX[m] == 0xFF for m in range(64) if m not in masks)


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=60, max_size=60), st.sets(st.integers(0, 5), max_size=2))
def test_parity_and_rebuild_match_reedsolo_arithmetic(data, lost):
    shards = [bytearray(data[15 * i : 15 * i + 15]) for i in range(4)] + [bytearray(15), bytearray(15)]
    rs.encode_parity(shards)
    for r in (4, 5):
        assert bytes(shards[r]) == bytes(rdot(ENC[r], [shards[c][i] for c in range(4)]) for i in range(15))
    good = [bytes(s) for s in shards]
    for i in lost:
        shards[i][:] = b"\x5a" * 15
    rs_rebuild.reconstruct(shards, 0x3F & ~sum(1 << i for i in lost))
    assert [bytes(s) for s in shards] == good
