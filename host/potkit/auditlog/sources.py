"""Where `potkit audit` reads a log: a local store, a running service, or C2SP tiles.

Each source gives checkpoint(), consistency(old, new), inclusion(index,
size) and entries(start, end); HttpSource also the cosigned checkpoint and
the submission of a cosignature.
"""
import json
import urllib.error
import urllib.request

from potkit import PotkitError
from potkit.auditlog import CheckFailed, merkle, note


class DbSource:
    def __init__(self, spec):
        from potkit.auditlog.store import open_store

        self.store = open_store(spec, readonly=True)
        self._tree = None

    def tree(self):
        if self._tree is None:
            self._tree = merkle.Tree(merkle.leaf_hash(d) for _, d, _ in self.store.iter_entries())
        return self._tree

    def checkpoint(self):
        t = self.store.latest_checkpoint()
        if t is None:
            raise PotkitError("the audit log has no checkpoint")
        return t

    def consistency(self, old, new):
        return self.tree().consistency_proof(old, new)

    def inclusion(self, index, size):
        t = self.tree()
        return t.leaf(index), t.inclusion_proof(index, size)

    def entries(self, start, end):
        return [(i, d) for i, d, _ in self.store.iter_entries(start, end)]


class HttpSource:
    def __init__(self, url):
        self.url = url.rstrip("/")

    def _get(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read()).get("error")
            except Exception:
                msg = e.reason
            raise PotkitError("%s%s: HTTP %d: %s" % (self.url, path, e.code, msg))
        except (urllib.error.URLError, OSError) as e:
            raise PotkitError("%s%s: %s" % (self.url, path, getattr(e, "reason", e)))

    def checkpoint(self):
        return self._get("/v1/log/checkpoint").decode("utf-8", "replace")

    def cosigned_checkpoint(self):
        """The largest checkpoint the service holds cosignatures for, with them."""
        return self._get("/v1/log/checkpoint?cosigned=1").decode("utf-8", "replace")

    def submit_cosignature(self, text):
        req = urllib.request.Request(self.url + "/v1/log/cosignature", data=text.encode(), method="POST",
                                     headers={"Content-Type": "text/plain; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read()).get("error")
            except Exception:
                msg = e.reason
            # 400/403: the service checked the cosignature and refused it (exit 1)
            err = CheckFailed if e.code in (400, 403) else PotkitError
            raise err("%s/v1/log/cosignature: HTTP %d: %s" % (self.url, e.code, msg))
        except (urllib.error.URLError, OSError) as e:
            raise PotkitError("%s/v1/log/cosignature: %s" % (self.url, getattr(e, "reason", e)))

    def consistency(self, old, new):
        return [bytes.fromhex(h) for h in json.loads(self._get("/v1/log/proof/consistency?old=%d&new=%d"
                                                               % (old, new)))["proof"]]

    def inclusion(self, index, size):
        r = json.loads(self._get("/v1/log/proof/inclusion?index=%d&size=%d" % (index, size)))
        return bytes.fromhex(r["leaf"]), [bytes.fromhex(h) for h in r["proof"]]

    def entries(self, start, end):
        out = []
        while start < end:
            r = json.loads(self._get("/v1/log/entries?start=%d&end=%d" % (start, end)))["entries"]
            if not r:
                break
            out.extend((e["index"], bytes.fromhex(e["data"])) for e in r)
            start = r[-1]["index"] + 1
        return out


class TileSource:
    """A C2SP tlog-tiles store: a URL (a running service, any static server) or a directory."""

    def __init__(self, base):
        from potkit.auditlog import tiles

        self.tiles = tiles
        self.fetcher = tiles.TileFetcher(base)
        self._trees = {}
        self.size = None

    def _tree(self, size):
        t = self._trees.get(size)
        if t is None:
            t = self._trees[size] = self.tiles.TileTree(self.fetcher, size)
        return t

    def _call(self, fn, *a):
        try:
            return fn(*a)
        except self.tiles.TileError as e:
            raise PotkitError("tiles: %s" % e)

    def checkpoint(self):
        text = self._call(self.fetcher.get, "checkpoint").decode("utf-8", "replace")
        try:
            self.size = note.parse_checkpoint(text).size   # the tree size its tiles are read at
        except note.NoteError:
            pass
        return text

    def consistency(self, old, new):
        return self._call(self._tree(new).consistency_proof, old, new)

    def inclusion(self, index, size):
        t = self._tree(size)
        return self._call(t.leaf, index), self._call(t.inclusion_proof, index, size)

    def entries(self, start, end):
        t = self._tree(self.size)
        return [(i, self._call(t.entry, i)) for i in range(start, end)]
