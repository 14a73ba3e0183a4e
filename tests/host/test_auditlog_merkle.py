"""The audit log's Merkle tree (RFC 9162) against the RFC's algorithms written
again here, independently: the recursive MTH, PATH and PROOF of RFC 9162
2.1.1-2.1.4 over plain lists of entries, without any of potkit's code."""
import hashlib
import os
import random

import pytest

from potkit.auditlog import merkle


def H(b):
    return hashlib.sha256(b).digest()


def mth(d):
    n = len(d)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + d[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return H(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m, d):
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def entries(n, seed=1):
    r = random.Random(seed)
    return [bytes(r.getrandbits(8) for _ in range(r.randrange(0, 40))) for _ in range(n)]


def tree_of(d):
    return merkle.Tree(merkle.leaf_hash(x) for x in d)


def test_rfc_known_values():
    # Independent fixed points: the empty tree and a single leaf (RFC 9162 2.1.1).
    assert merkle.Tree().root() == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert tree_of([b""]).root() == H(b"\x00")
    assert merkle.node_hash(b"a" * 32, b"b" * 32) == H(b"\x01" + b"a" * 32 + b"b" * 32)


@pytest.mark.parametrize("n", list(range(1, 40)) + [64, 65, 127, 128, 129, 300])
def test_roots_and_proofs_match_the_rfc(n):
    d = entries(n, n)
    t = tree_of(d)
    for size in range(0, n + 1):
        assert t.root(size) == mth(d[:size])
    for size in sorted(set([1, n // 2 or 1, n - 1 or 1, n])):
        root = mth(d[:size])
        for m in range(size):
            p = t.inclusion_proof(m, size)
            assert p == path(m, d[:size])
            assert merkle.verify_inclusion(m, size, merkle.leaf_hash(d[m]), p, root)
        for old in range(0, size + 1):
            p = t.consistency_proof(old, size)
            want = [] if old in (0, size) else subproof(old, d[:size], True)
            assert p == want
            assert merkle.verify_consistency(old, size, mth(d[:old]), root, p)


def test_bad_proofs_fail():
    d = entries(77)
    t = tree_of(d)
    root = t.root()
    for m in (0, 1, 40, 76):
        p = t.inclusion_proof(m)
        lh = merkle.leaf_hash(d[m])
        assert not merkle.verify_inclusion(m, 77, merkle.leaf_hash(d[m] + b"x"), p, root)
        assert not merkle.verify_inclusion(m ^ 1, 77, lh, p, root)
        assert not merkle.verify_inclusion(m, 77, lh, p, mth(d[:76]))
        assert not merkle.verify_inclusion(m, 77, lh, p[:-1], root)
        assert not merkle.verify_inclusion(m, 77, lh, p + [root], root)
        bad = list(p)
        bad[0] = bytes(32)
        assert not merkle.verify_inclusion(m, 77, lh, bad, root)
    for old in (1, 2, 31, 32, 33, 76):
        p = t.consistency_proof(old)
        oroot = t.root(old)
        assert merkle.verify_consistency(old, 77, oroot, root, p)
        assert not merkle.verify_consistency(old, 77, H(b"other"), root, p)
        assert not merkle.verify_consistency(old, 77, oroot, H(b"other"), p)
        assert not merkle.verify_consistency(old, 77, oroot, root, p[:-1])
        # A rewritten history: the same sizes, one old entry changed.
        d2 = list(d)
        d2[0] = b"rewritten"
        t2 = tree_of(d2)
        assert not merkle.verify_consistency(old, 77, oroot, t2.root(), t2.consistency_proof(old))


def test_truncate_undoes_appends():
    d = entries(50)
    t = tree_of(d[:20])
    r20 = t.root()
    for x in d[20:]:
        t.append(merkle.leaf_hash(x))
    t.truncate(20)
    assert t.size == 20 and t.root() == r20
    for x in d[20:]:
        t.append(merkle.leaf_hash(x))
    assert t.root() == mth(d)
