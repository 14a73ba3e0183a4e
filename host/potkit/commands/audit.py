"""`potkit audit`: check the log offline, export it, witness it (potkit.auditlog).

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

from potkit import PotkitError
from potkit.auditlog import CheckFailed, LogCorrupt, entry as E, merkle, note
from potkit.auditlog.check import check_quorum, read_pubkey, read_witnesses, verify_export, verify_store
from potkit.auditlog.export import jsonld
from potkit.auditlog.sources import DbSource, HttpSource, TileSource


def source_from_args(args):
    if getattr(args, "tiles", None):
        return TileSource(args.tiles)
    if getattr(args, "url", None):
        return HttpSource(args.url)
    if getattr(args, "log", None):
        return DbSource(args.log)
    raise PotkitError("give --log DB or --url URL")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PotkitError("cannot read %s: %s" % (path, e.strerror or e))


def add_arguments(p):
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


def run(args):
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
