"""`potkit audit`: check the log offline, export it, witness it.

    potkit audit verify --log DB --pubkey KEY            every stored entry and checkpoint
    potkit audit verify --export FILE --pubkey KEY       an export: each entry's inclusion proof
    potkit audit verify --url URL --index N --pubkey KEY one entry, proof fetched from the service
    potkit audit verify --url URL|--log DB --old CP --pubkey KEY   the log grew from CP (consistency)
    potkit audit export --log DB [--format json|jsonld] [--start S --end E] [--checkpoint CP] [-o FILE]
    potkit audit witness --key WKEY --name NAME --state FILE --pubkey KEY (--url URL | --log DB)
                         [--checkpoint CP] [-o FILE] [--submit]
    potkit audit checkpoint --url URL|--log DB           print the latest signed checkpoint
    potkit audit tiles --log DB -o DIR                   a static C2SP tlog-tiles copy of the log
    potkit audit verify --tiles URL|DIR (--index N | --old CP) --pubkey KEY   the same checks from tiles

KEY: the log's public key (hex, a .pub file, or a vkey); --witness VKEY (repeatable)
and --quorum K make verify require K valid cosignatures on the checkpoint.
"""
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

from potkit import PotkitError
from potkit.auditlog import LogCorrupt, entry as E, merkle, note

JSONLD_CONTEXT = "https://potkit.invalid/ns/audit/v1"   # documented in docs/audit-context.jsonld


# --- keys -----------------------------------------------------------------------
def read_pubkey(text, origin=None):
    """(name, public key) from hex, a file holding hex or a vkey, or a vkey."""
    from potkit import keys

    if os.path.exists(text):
        with open(text) as f:
            text = f.read().strip()
    if "+" in text:
        name, pub, typ = note.parse_vkey(text)
        return name, pub
    pub = keys.parse_public_hex(text, "log public key")
    from potkit.auditlog.log import default_origin

    return origin or default_origin(pub), pub


def read_witnesses(specs):
    out = []
    for s in specs or ():
        if os.path.exists(s):
            with open(s) as f:
                s = f.read().strip()
        name, pub, typ = note.parse_vkey(s)
        if typ != note.COSIG_V1:
            raise PotkitError("witness key %s is not a cosignature/v1 (type 0x04) vkey" % name)
        out.append((name, pub))
    return out


def check_quorum(cp, witnesses, quorum):
    good = [name for name, pub in witnesses if cp.note.verified_by(name, pub, note.COSIG_V1) is not None]
    if len(good) < quorum:
        raise LogCorrupt("checkpoint (size %d) carries %d valid cosignature(s) of the %d witnesses given, "
                         "%d required" % (cp.size, len(good), len(witnesses), quorum))
    return good


# --- sources: a local store or a running service ------------------------------------
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


def source_from_args(args):
    if getattr(args, "tiles", None):
        return TileSource(args.tiles)
    if getattr(args, "url", None):
        return HttpSource(args.url)
    if getattr(args, "log", None):
        return DbSource(args.log)
    raise PotkitError("give --log DB or --url URL")


# --- verification ---------------------------------------------------------------
def verify_store(store, name, pub, trusted=()):
    """Every row against its neighbours, its leaf hash and every signed checkpoint.

    Returns (entries, checkpoints checked); raises LogCorrupt naming the first bad index."""
    tree = merkle.Tree()
    bad = None
    for idx, data, leaf in store.iter_entries():
        i = tree.size
        if idx != i:
            bad = bad or (i, "entry %d is missing (the next stored row is %d)" % (i, idx))
            break
        lh = merkle.leaf_hash(data)
        if E.index_of(data) != idx:
            bad = bad or (i, "entry %d holds the data of entry %s (rows moved)" % (i, E.index_of(data)))
        elif lh != leaf:
            bad = bad or (i, "entry %d was changed (its data no longer matches its leaf hash)" % i)
        else:
            try:
                E.decode(data)
            except E.EntryError as e:
                bad = bad or (i, "entry %d does not decode: %s" % (i, e))
        tree.append(lh)
    if bad:
        raise LogCorrupt("audit log: first bad index %d: %s" % bad)
    texts = [t for _, t in store.checkpoints()]
    latest = store.latest_checkpoint()
    if latest:
        texts.append(latest)
    texts.extend(trusted)
    cps = []
    for t in texts:
        try:
            cps.append(note.open_checkpoint(t, name, pub))
        except note.NoteError as e:
            raise LogCorrupt("audit log: a stored checkpoint does not verify: %s" % e)
    if not cps:
        raise LogCorrupt("audit log: no signed checkpoint")
    cps.sort(key=lambda c: c.size)
    prev = 0
    for cp in cps:
        if cp.size > tree.size:
            raise LogCorrupt("audit log: first bad index %d: the checkpoint of size %d was signed, only %d "
                             "entries are stored (entries deleted)" % (tree.size, cp.size, tree.size))
        if tree.root(cp.size) != cp.root:
            raise LogCorrupt("audit log: first bad index in %d..%d: the tree of size %d does not match its "
                             "signed checkpoint (entries changed; the checkpoint proves it)"
                             % (prev, cp.size - 1, cp.size))
        prev = cp.size
    if cps[-1].size != tree.size:
        raise LogCorrupt("audit log: entries %d..%d are stored but no checkpoint signs them"
                         % (cps[-1].size, tree.size - 1))
    return tree.size, len(cps)


def verify_export(doc, name, pub, witnesses=(), quorum=0):
    cp = note.open_checkpoint(doc["checkpoint"], name, pub)
    check_quorum(cp, witnesses, quorum)
    n = 0
    for e in doc["entries"]:
        data = bytes.fromhex(e["data"])
        idx = e["index"]
        proof = [bytes.fromhex(h) for h in e["proof"]]
        if E.index_of(data) != idx or not merkle.verify_inclusion(idx, cp.size, merkle.leaf_hash(data), proof,
                                                                    cp.root):
            raise LogCorrupt("export: entry %d is not in the checkpoint of size %d (bad inclusion proof)"
                             % (idx, cp.size))
        n += 1
    return cp, n


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PotkitError("cannot read %s: %s" % (path, e.strerror or e))


# --- commands ---------------------------------------------------------------------
def audit_args(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    v = sub.add_parser("verify", help="check the log, an export, one entry or the log's growth")
    v.add_argument("--pubkey", required=True, help="the log's public key (hex, .pub file or vkey)")
    v.add_argument("--origin", help="the log's origin (default: from the key)")
    v.add_argument("--log", help="an SQLite file or postgresql:// URL")
    v.add_argument("--url", help="a running service, http://HOST:PORT")
    v.add_argument("--tiles", help="a C2SP tlog-tiles store: a base URL or a directory (potkit audit tiles)")
    v.add_argument("--export", help="an export file (potkit audit export)")
    v.add_argument("--index", type=int, help="with --url/--log: check this entry's inclusion proof")
    v.add_argument("--old", help="a checkpoint file seen before: check the log only grew since")
    v.add_argument("--witness", action="append", help="a witness vkey (repeatable)")
    v.add_argument("--quorum", type=int, default=0, help="cosignatures required of the --witness keys")
    x = sub.add_parser("export", help="entries with their inclusion proofs (json or jsonld)")
    x.add_argument("--log", required=True)
    x.add_argument("--format", choices=("json", "jsonld"), default="json")
    x.add_argument("--start", type=int, default=0)
    x.add_argument("--end", type=int)
    x.add_argument("--checkpoint", help="export against this (e.g. cosigned) checkpoint file")
    x.add_argument("--pubkey", help="the log's public key: check the checkpoint before exporting")
    x.add_argument("-o", "--output", help="output file (default: stdout)")
    w = sub.add_parser("witness", help="check consistency with the last checkpoint seen and cosign")
    w.add_argument("--key", required=True, help="the witness's Ed25519 key (created if missing)")
    w.add_argument("--name", required=True, help="the witness's key name, e.g. witness.example/w1")
    w.add_argument("--state", required=True, help="file of the last checkpoint this witness cosigned")
    w.add_argument("--pubkey", required=True, help="the log's public key")
    w.add_argument("--origin")
    w.add_argument("--url")
    w.add_argument("--log")
    w.add_argument("--checkpoint", help="cosign this checkpoint file (default: the log's latest)")
    w.add_argument("-o", "--output", help="write the cosigned checkpoint here (default: stdout)")
    w.add_argument("--vkey", action="store_true", help="print the witness's vkey and exit")
    w.add_argument("--submit", action="store_true",
                   help="POST the cosigned checkpoint to the service (--url), which stores and serves it")
    t = sub.add_parser("tiles", help="write the log as a static C2SP tlog-tiles directory")
    t.add_argument("--log", required=True)
    t.add_argument("-o", "--output", required=True, help="the directory (created)")
    c = sub.add_parser("checkpoint", help="print the latest signed checkpoint")
    c.add_argument("--log")
    c.add_argument("--url")


def audit_run(args):
    return {"verify": run_verify, "export": run_export, "witness": run_witness,
            "checkpoint": run_checkpoint, "tiles": run_tiles}[args.action](args)


def run_tiles(args):
    from potkit.auditlog import tiles

    src = DbSource(args.log)
    text = src.checkpoint()
    cp = note.parse_checkpoint(text)
    tree = src.tree()
    if cp.size > tree.size or tree.root(cp.size) != cp.root:
        raise LogCorrupt("the stored log does not match its checkpoint of size %d" % cp.size)
    entries = [d for _, d in src.entries(0, cp.size)]
    n = tiles.write_tiles(args.output, tree, cp.size, text, entries)
    print("potkit audit tiles: %d files for %d entries -> %s" % (n, cp.size, args.output), file=sys.stderr)
    return 0


def run_checkpoint(args):
    sys.stdout.write(source_from_args(args).checkpoint())


class CheckFailed(PotkitError):
    # A check that ran and failed (a bad signature, a proof that does not
    # verify): exit 1, as a verdict other than OK (README, exit status).
    exit_code = 1


def _open_cp(text, name, pub):
    try:
        return note.open_checkpoint(text, name, pub)
    except note.NoteError as e:
        raise CheckFailed("checkpoint: %s" % e)


def run_verify(args):
    name, pub = read_pubkey(args.pubkey, args.origin)
    witnesses = read_witnesses(args.witness)
    if args.quorum > len(witnesses):
        raise PotkitError("--quorum %d needs at least that many --witness keys" % args.quorum)
    if args.export:
        try:
            doc = json.loads(_read(args.export))
            cp, n = verify_export(doc, name, pub, witnesses, args.quorum)
        except (ValueError, KeyError, TypeError) as e:
            raise PotkitError("export %s is malformed: %s" % (args.export, e))
        except note.NoteError as e:
            raise CheckFailed("export %s: %s" % (args.export, e))
        print("OK: %d entries of the export are in the checkpoint of size %d" % (n, cp.size))
        return 0
    src = source_from_args(args)
    # With a quorum to meet, a service's cosigned checkpoint (the latest one moves on).
    text = src.cosigned_checkpoint() if args.quorum and hasattr(src, "cosigned_checkpoint") else src.checkpoint()
    cp = _open_cp(text, name, pub)
    check_quorum(cp, witnesses, args.quorum)
    if args.old:
        old = _open_cp(_read(args.old).decode("utf-8", "replace"), name, pub)
        if old.size > cp.size:
            raise LogCorrupt("the log shrank: it signed size %d before, %d now" % (old.size, cp.size))
        proof = src.consistency(old.size, cp.size)
        if not merkle.verify_consistency(old.size, cp.size, old.root, cp.root, proof):
            raise LogCorrupt("the log of size %d is NOT an extension of the checkpoint of size %d "
                             "(consistency proof fails)" % (cp.size, old.size))
        print("OK: the log grew from %d to %d entries, consistently" % (old.size, cp.size))
        return 0
    if args.index is not None:
        if not 0 <= args.index < cp.size:
            raise PotkitError("--index %d is not in the log of size %d" % (args.index, cp.size))
        (idx, data), = src.entries(args.index, args.index + 1)
        leaf, proof = src.inclusion(args.index, cp.size)
        if merkle.leaf_hash(data) != leaf or not merkle.verify_inclusion(args.index, cp.size, leaf, proof, cp.root):
            raise LogCorrupt("entry %d is NOT in the checkpoint of size %d" % (args.index, cp.size))
        print("OK: entry %d is in the checkpoint of size %d: %s" % (
            args.index, cp.size, json.dumps(E.decode(data).to_dict(_names()))))
        return 0
    if not isinstance(src, DbSource):
        raise PotkitError("with --url or --tiles give --index N or --old CHECKPOINT")
    n, k = verify_store(src.store, name, pub)
    print("OK: %d entries, %d signed checkpoint(s), tree root %s" % (n, k, base64.b64encode(cp.root).decode()))
    return 0


def _names():
    from potkit.issuer import verdict_names

    return verdict_names()


def run_export(args):
    src = DbSource(args.log)
    text = _read(args.checkpoint).decode("utf-8", "replace") if args.checkpoint else src.checkpoint()
    try:
        cp = note.parse_checkpoint(text)
        if args.pubkey:
            name, pub = read_pubkey(args.pubkey)
            cp = note.open_checkpoint(text, name, pub)
    except note.NoteError as e:
        raise PotkitError("checkpoint: %s" % e)
    tree = src.tree()
    if cp.size > tree.size or tree.root(cp.size) != cp.root:
        raise LogCorrupt("the stored log does not match the checkpoint of size %d" % cp.size)
    end = cp.size if args.end is None else min(args.end, cp.size)
    names = _names()
    entries = []
    for idx, data in src.entries(args.start, end):
        d = E.decode(data).to_dict(names)
        d.update({"index": idx, "data": data.hex(), "leaf": tree.leaf(idx).hex(),
                  "proof": [h.hex() for h in tree.inclusion_proof(idx, cp.size)]})
        entries.append(d)
    doc = {"origin": cp.origin, "tree_size": cp.size, "root_hash": base64.b64encode(cp.root).decode(),
           "checkpoint": text, "entries": entries}
    if args.format == "jsonld":
        doc = jsonld(doc)
    out = json.dumps(doc, indent=1, sort_keys=True) + "\n"
    if args.output:
        from potkit import keys

        keys.write_atomic(args.output, out.encode(), 0o644, True)
        print("potkit audit export: %d entries -> %s" % (len(entries), args.output), file=sys.stderr)
    else:
        sys.stdout.write(out)


def jsonld(doc):
    """The export as JSON-LD over W3C PROV-O (docs/audit-context.jsonld gives the context)."""
    ctx = json.loads(_read(os.path.join(os.path.dirname(os.path.abspath(__file__)), "context.jsonld")))["@context"]
    graph = []
    for e in doc["entries"]:
        node = {"@id": "%s#%d" % (doc["origin"], e["index"]),
                "@type": ["prov:Activity", "pot:" + e["kind"].capitalize()],
                "prov:endedAtTime": _iso(e["time_ns"]), "pot:timeNs": e["time_ns"]}
        for k in ("index", "transport", "tier", "verdict", "attack_type", "ctx_hash", "record_hash", "peer",
                  "detail", "data", "leaf", "proof"):
            if e.get(k) not in (None, ""):
                node[k] = e[k]
        graph.append(node)
    return {"@context": ctx, "@id": doc["origin"], "@type": "pot:AuditLogExport",
            "origin": doc["origin"], "tree_size": doc["tree_size"], "root_hash": doc["root_hash"],
            "checkpoint": doc["checkpoint"], "entries": graph}


def _iso(ns):
    import datetime

    t = datetime.datetime.fromtimestamp(ns // 1000000000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%09dZ" % (ns % 1000000000)


def run_witness(args):
    from potkit import keys
    from potkit.auditlog.web import load_or_create_key

    wsk = load_or_create_key(args.key)
    note.check_name(args.name)
    if args.vkey:
        print(note.vkey(args.name, bytes(wsk.verify_key), note.COSIG_V1))
        return 0
    name, pub = read_pubkey(args.pubkey, args.origin)
    src = source_from_args(args)
    text = _read(args.checkpoint).decode("utf-8", "replace") if args.checkpoint else src.checkpoint()
    cp = _open_cp(text, name, pub)
    if os.path.exists(args.state):
        last = _open_cp(_read(args.state).decode("utf-8", "replace"), name, pub)
        if cp.size < last.size:
            raise LogCorrupt("refusing to cosign: size %d is older than the %d this witness saw" % (cp.size, last.size))
        proof = src.consistency(last.size, cp.size)
        if not merkle.verify_consistency(last.size, cp.size, last.root, cp.root, proof):
            raise LogCorrupt("refusing to cosign: the checkpoint of size %d is inconsistent with the size %d "
                             "this witness cosigned before (a split view or a rewritten log)" % (cp.size, last.size))
    line = note.cosign_text(cp.note.text, args.name, wsk, int(time.time()))
    out = cp.note.serialize() + line
    # Persist first (atomically): the witness never forgets a size it cosigned.
    keys.write_atomic(args.state, out.encode(), 0o644, True)
    if args.output:
        keys.write_atomic(args.output, out.encode(), 0o644, True)
    else:
        sys.stdout.write(out)
    print("potkit audit witness: cosigned size %d" % cp.size, file=sys.stderr)
    if args.submit:
        if not isinstance(src, HttpSource):
            raise PotkitError("--submit needs --url")
        r = src.submit_cosignature(out)
        print("potkit audit witness: the service stored the cosignature of %s on size %d"
              % (", ".join(r["accepted"]), r["size"]), file=sys.stderr)
    return 0
