"""Checking a log: the keys to check it with, a stored log row by row, an export's proofs, a quorum."""
import os

from potkit import PotkitError
from potkit.auditlog import LogCorrupt, entry as E, merkle, note


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
