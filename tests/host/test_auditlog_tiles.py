"""The C2SP tlog-tiles layout (docs/spec.md 9.4): path encoding, tile contents
computed again here from the leaves with the RFC 9162 recursion (a level-L
tile holds the hashes of the level-8L subtrees), and proofs built from tiles
alone that verify against a root computed independently."""
import hashlib
import os

import pytest

from potkit.auditlog import merkle, tiles
from potkit.auditlog.tiles import TileError


def sha(b):
    return hashlib.sha256(b).digest()


def mth(leaves):
    """RFC 9162 2.1.1 MTH over leaf hashes, written again (not merkle.Tree)."""
    n = len(leaves)
    if n == 0:
        return sha(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return sha(b"\x01" + mth(leaves[:k]) + mth(leaves[k:]))


@pytest.mark.parametrize("n, path", [(0, "000"), (7, "007"), (234, "234"), (1000, "x001/000"),
                                     (1234067, "x001/x234/067"), (10 ** 9, "x001/x000/x000/000")])
def test_index_path_encoding(n, path):
    assert tiles.encode_index(n) == path
    assert tiles.parse_tile_path("tile/3/" + path) == (3, n, 256)
    assert tiles.parse_tile_path("tile/entries/" + path + ".p/17") == ("entries", n, 17)


@pytest.mark.parametrize("bad", ["tile/0/1", "tile/0/x000/000", "tile/0/001/002", "tile/00/000", "tile/64/000",
                                 "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/07", "tile/x/000",
                                 "tile/0/x01/000", "tiles/0/000"])
def test_malformed_tile_paths_are_refused(bad):
    with pytest.raises(TileError):
        tiles.parse_tile_path(bad)


def test_tiles_are_the_level_8L_subtree_hashes_and_give_proofs(tmp_path):
    # 65536 + 300 entries: full and partial level-0 tiles, a full and a partial
    # level-1 tile, a level-2 tile of width 1.
    size = 65536 + 300
    entries = [b"entry %d" % i + bytes(i % 7) for i in range(size)]
    leaves = [sha(b"\x00" + e) for e in entries]
    tree = merkle.Tree(leaves)
    out = str(tmp_path / "tiles")
    cp = "example.test/log\n%d\nX\n\n" % size       # the checkpoint file is copied as given
    tiles.write_tiles(out, tree, size, cp, entries)

    def read(rel):
        with open(os.path.join(out, *rel.split("/")), "rb") as f:
            return f.read()

    # Level 0: the leaf hashes, 256 per tile; the last tile is partial (width 300).
    assert read("tile/0/000") == b"".join(leaves[:256])
    assert read("tile/0/256") == b"".join(leaves[65536:65536 + 256])
    assert read("tile/0/257.p/44") == b"".join(leaves[65536 + 256:])
    # Level 1: hash i of tile N = MTH of leaves [(256N + i) * 256, +256).
    lvl1 = [mth(leaves[j * 256:(j + 1) * 256]) for j in range(size // 256)]
    assert len(lvl1) == 257
    assert read("tile/1/000") == b"".join(lvl1[:256])
    assert read("tile/1/001.p/1") == lvl1[256]
    # Level 2: one hash, the MTH of the first 65536 leaves.
    assert read("tile/2/000.p/1") == mth(leaves[:65536])
    assert not os.path.exists(os.path.join(out, "tile", "3"))
    # Entry bundles: uint16 length + entry.
    b = read("tile/entries/257.p/44")
    assert tiles.parse_bundle(b) == entries[65536 + 256:]
    assert b[:2] == len(entries[65536 + 256]).to_bytes(2, "big")
    assert read("checkpoint") == cp.encode()

    # Proofs from the tiles alone verify against the independently computed roots.
    ft = tiles.TileTree(tiles.TileFetcher(out), size)
    root = mth(leaves)
    for index in (0, 1, 255, 256, 40000, 65535, 65536, 65536 + 299):
        proof = ft.inclusion_proof(index, size)
        assert proof == tree.inclusion_proof(index, size)
        assert merkle.verify_inclusion(index, size, ft.leaf(index), proof, root)
        assert ft.entry(index) == entries[index]
        assert not merkle.verify_inclusion(index, size, sha(b"\x00other"), proof, root)
    for old in (1, 255, 256, 257, 1000, 65536, 65537):
        proof = ft.consistency_proof(old, size)
        assert merkle.verify_consistency(old, size, mth(leaves[:old]), root, proof)
    # (A static copy holds only the tiles of its own size: a tree of 1000 needs
    # tile/0/003.p/232, which this copy does not have.)
    small = tiles.TileTree(tiles.TileFetcher(out), 1000)
    with pytest.raises(TileError, match="003.p/232"):
        small.inclusion_proof(999, 1000)
    # A tile of the wrong length is refused, not read.
    with open(os.path.join(out, "tile", "0", "000"), "ab") as f:
        f.write(b"x")
    with pytest.raises(TileError, match="bytes, not"):
        tiles.TileTree(tiles.TileFetcher(out), size).leaf(3)
