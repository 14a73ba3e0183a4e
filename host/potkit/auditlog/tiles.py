"""The C2SP tlog-tiles layout (c2sp.org/tlog-tiles) of the audit log.

    <prefix>/checkpoint                    the latest signed checkpoint
    <prefix>/tile/<L>/<N>[.p/<W>]          hashes: tile N of level L
    <prefix>/tile/entries/<N>[.p/<W>]      entries N*256 .. N*256+W-1

A level-L tile holds up to 256 consecutive hashes of tree level 8L (level 0:
the leaf hashes; level 8L: the hashes of the aligned perfect subtrees of 2^8L
leaves), 32 bytes each. A full tile has 256; the last tile of a level, while
the tree does not fill it, is partial: `.p/<W>` with its width W (1..255).
An entry bundle is the entries, each a big-endian uint16 length and the
entry's bytes (9.1). N is written in 3-digit groups, all but the last with a
leading "x": 1234067 -> x001/x234/067.

TileTree computes any subtree hash, and so RFC 9162 proofs, from tiles alone:
a verifier needs only a static store (a directory or any HTTP server).
"""
import os
import struct
import urllib.error
import urllib.request

from potkit import PotkitError
from potkit.auditlog import merkle

WIDTH = 256
HEIGHT = 8
HASH = 32


class TileError(PotkitError):
    pass


def encode_index(n):
    """The path form of a tile index: 1234067 -> "x001/x234/067"."""
    out = "%03d" % (n % 1000)
    n //= 1000
    while n:
        out = "x%03d/" % (n % 1000) + out
        n //= 1000
    return out


def tile_path(level, index, width=WIDTH):
    """tile/<L>/<N>[.p/<W>]; level is an int or "entries"."""
    p = "tile/%s/%s" % (level, encode_index(index))
    return p if width == WIDTH else p + ".p/%d" % width


def parse_tile_path(path):
    """(level or "entries", index, width) from "tile/..."; TileError if malformed."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TileError("not a tile path: %r" % path[:80])
    level = parts[1]
    if level != "entries":
        if not level.isdigit() or len(level) > 2 or (len(level) > 1 and level[0] == "0") or int(level) > 63:
            raise TileError("tile level %r is not 0..63" % level[:10])
        level = int(level)
    rest = parts[2:]
    width = WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        w = rest[-1]
        if not w.isdigit() or w[0] == "0" or not 1 <= int(w) < WIDTH:
            raise TileError("partial tile width %r is not 1..255" % w[:10])
        width = int(w)
        rest = rest[:-2] + [rest[-2][:-2]]
    index = 0
    for i, g in enumerate(rest):
        last = i == len(rest) - 1
        digits = g if last else g[1:]
        if (not last and not g.startswith("x")) or len(digits) != 3 or not digits.isdigit():
            raise TileError("tile index element %r is malformed" % g[:10])
        index = index * 1000 + int(digits)
    if encode_index(index) != "/".join(rest):
        raise TileError("tile index %r is not in canonical form" % "/".join(rest)[:40])
    return level, index, width


def tile_width(size, level, index):
    """How many hashes tile `index` of `level` has in a tree of `size` leaves (0: none yet)."""
    n = size >> (HEIGHT * level)
    return max(0, min(WIDTH, n - index * WIDTH))


def hash_tile(tree, size, level, index, width):
    """The bytes of a hash tile from a merkle.Tree of at least `size` leaves; None if absent."""
    have = tile_width(size, level, index)
    if not 1 <= width <= have:   # a partial tile of a width once current is a prefix of today's
        return None
    k = HEIGHT * level
    if k >= len(tree.levels):
        return None
    start = index * WIDTH
    return b"".join(tree.levels[k][start:start + width])


def entry_bundle(entries):
    """The bytes of an entry bundle from entry byte strings."""
    return b"".join(struct.pack(">H", len(d)) + d for d in entries)


def parse_bundle(data):
    out = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise TileError("entry bundle truncated")
        (n,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if pos + n > len(data):
            raise TileError("entry bundle truncated")
        out.append(bytes(data[pos:pos + n]))
        pos += n
    return out


# --- reading tiles: a directory or a URL ------------------------------------------------
class TileFetcher:
    """get(relative path) -> bytes from a base URL (http://...) or a directory."""

    def __init__(self, base):
        self.base = base.rstrip("/")
        self.http = base.startswith(("http://", "https://"))

    def get(self, rel):
        if self.http:
            try:
                with urllib.request.urlopen(self.base + "/" + rel, timeout=10) as r:
                    return r.read()
            except urllib.error.HTTPError as e:
                raise TileError("%s/%s: HTTP %d" % (self.base, rel, e.code))
            except (urllib.error.URLError, OSError) as e:
                raise TileError("%s/%s: %s" % (self.base, rel, getattr(e, "reason", e)))
        try:
            with open(os.path.join(self.base, *rel.split("/")), "rb") as f:
                return f.read()
        except OSError as e:
            raise TileError("%s/%s: %s" % (self.base, rel, e.strerror or e))


class TileTree(merkle.Tree):
    """The tree of `size` leaves as its tiles show it: merkle.Tree's proofs, hashes fetched.

    Every hash comes from a tile of the width that tree size implies, and each
    tile is checked to be exactly that long."""

    def __init__(self, fetcher, size):
        self.fetcher = fetcher
        self._size = size
        self._tiles = {}

    @property
    def size(self):
        return self._size

    def tile(self, level, index):
        key = (level, index)
        t = self._tiles.get(key)
        if t is None:
            width = tile_width(self._size, level, index)
            if width == 0:
                raise TileError("tile %d/%d is beyond the tree of size %d" % (level, index, self._size))
            t = self.fetcher.get(tile_path(level, index, width))
            if len(t) != width * HASH:
                raise TileError("tile %s is %d bytes, not %d" % (tile_path(level, index, width), len(t), width * HASH))
            self._tiles[key] = t
        return t

    def node(self, height, k):
        """The hash of the perfect subtree of 2^height leaves starting at leaf k * 2^height."""
        level, r = divmod(height, HEIGHT)
        first = k << r                    # its first hash on tree level 8*level
        t = self.tile(level, first // WIDTH)
        pos = first % WIDTH
        hashes = [t[(pos + i) * HASH:(pos + i + 1) * HASH] for i in range(1 << r)]
        while len(hashes) > 1:
            hashes = [merkle.node_hash(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
        return hashes[0]

    def leaf(self, index):
        self._check_size(index + 1)
        return self.node(0, index)

    def hash_range(self, start, end):
        n = end - start
        if n == 0:
            return merkle.EMPTY_ROOT
        if n & (n - 1) == 0 and start & (n - 1) == 0:
            h = n.bit_length() - 1
            return self.node(h, start >> h)
        k = merkle._split(n)
        return merkle.node_hash(self.hash_range(start, start + k), self.hash_range(start + k, end))

    def entry(self, index):
        """The bytes of entry `index`, from its entry bundle."""
        self._check_size(index + 1)
        n = index // WIDTH
        width = tile_width(self._size, 0, n)
        bundle = parse_bundle(self.fetcher.get(tile_path("entries", n, width)))
        if len(bundle) != width:
            raise TileError("entry bundle %d holds %d entries, not %d" % (n, len(bundle), width))
        return bundle[index % WIDTH]


# --- writing a static copy ---------------------------------------------------------------
def write_tiles(out_dir, tree, size, checkpoint, entries):
    """Every tile of the tree of `size` leaves, the entry bundles and the checkpoint, into out_dir.

    entries: the entry bytes 0..size-1 in order. Returns the number of files written."""
    from potkit import keys

    n = 0

    def put(rel, data):
        path = os.path.join(out_dir, *rel.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        keys.write_atomic(path, data, 0o644, True)

    level = 0
    while level == 0 or (size >> (HEIGHT * level)) > 0:
        for index in range(((size >> (HEIGHT * level)) + WIDTH - 1) // WIDTH):
            width = tile_width(size, level, index)
            put(tile_path(level, index, width), hash_tile(tree, size, level, index, width))
            n += 1
        level += 1
    for index in range((size + WIDTH - 1) // WIDTH):
        width = tile_width(size, 0, index)
        put(tile_path("entries", index, width), entry_bundle(entries[index * WIDTH:index * WIDTH + width]))
        n += 1
    put("checkpoint", checkpoint.encode())
    return n + 1
