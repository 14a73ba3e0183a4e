"""RFC 9162 (Certificate Transparency 2.0) section 2.1: Merkle tree hashing,
inclusion and consistency proofs, and their verification.

    leaf hash  SHA-256(0x00 || entry)
    node hash  SHA-256(0x01 || left || right)
    MTH({})    SHA-256("")

Tree keeps every leaf hash and the hash of every full (perfect, aligned)
subtree in memory, so any subtree hash the RFC's recursion needs costs
O(log n) and a proof O(log^2 n).
"""
import hashlib

_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(entry):
    return _sha256(b"\x00" + entry).digest()


def node_hash(left, right):
    return _sha256(b"\x01" + left + right).digest()


def _split(n):
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Tree:
    def __init__(self, leaf_hashes=()):
        self.levels = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self):
        return len(self.levels[0])

    def append(self, lh):
        levels = self.levels
        levels[0].append(lh)
        i = len(levels[0]) - 1
        lvl = 0
        while i & 1:
            row = levels[lvl]
            h = node_hash(row[i - 1], row[i])
            lvl += 1
            if len(levels) == lvl:
                levels.append([])
            levels[lvl].append(h)
            i >>= 1

    def truncate(self, size):
        """Back to the first `size` leaves (undoes appends that were not stored)."""
        for k, row in enumerate(self.levels):
            del row[size >> k:]

    def leaf(self, index):
        return self.levels[0][index]

    def hash_range(self, start, end):
        """MTH of leaves [start, end); the ranges the RFC recursion uses are aligned."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0:
            k = n.bit_length() - 1
            if start & (n - 1) == 0 and k < len(self.levels):
                return self.levels[k][start >> k]
        k = _split(n)
        return node_hash(self.hash_range(start, start + k), self.hash_range(start + k, end))

    def root(self, size=None):
        size = self.size if size is None else size
        self._check_size(size)
        return self.hash_range(0, size)

    def _check_size(self, size):
        if not 0 <= size <= self.size:
            raise ValueError("tree size %d is beyond the log's %d entries" % (size, self.size))

    def inclusion_proof(self, index, size=None):
        """RFC 9162 2.1.3.1 PATH(index, D[size])."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError("index %d is not in a tree of size %d" % (index, size))
        proof = []

        def path(m, start, n):
            if n == 1:
                return
            k = _split(n)
            if m < k:
                path(m, start, k)
                proof.append(self.hash_range(start + k, start + n))
            else:
                path(m - k, start + k, n - k)
                proof.append(self.hash_range(start, start + k))

        path(index, 0, size)
        return proof

    def consistency_proof(self, old_size, new_size=None):
        """RFC 9162 2.1.4.1 PROOF(old_size, D[new_size])."""
        new_size = self.size if new_size is None else new_size
        self._check_size(new_size)
        if not 0 <= old_size <= new_size:
            raise ValueError("old size %d is not in 0..%d" % (old_size, new_size))
        proof = []
        if old_size == 0 or old_size == new_size:
            return proof

        def sub(m, start, n, b):
            if m == n:
                if not b:
                    proof.append(self.hash_range(start, start + n))
                return
            k = _split(n)
            if m <= k:
                sub(m, start, k, b)
                proof.append(self.hash_range(start + k, start + n))
            else:
                sub(m - k, start + k, n - k, False)
                proof.append(self.hash_range(start, start + k))

        sub(old_size, 0, new_size, True)
        return proof


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 2.1.3.2: True if `leaf` (a leaf hash) is entry `index` of the tree (size, root)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size, new_size, old_root, new_root, proof):
    """RFC 9162 2.1.4.2: True if the tree (new_size, new_root) extends (old_size, old_root)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    proof = list(proof)
    if old_size & (old_size - 1) == 0:
        proof.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
