"""AuditLog: batched appends into a Store, one signed checkpoint per batch.

The event loop calls append(entry bytes) -> seq (and cosign(...) for a
witness's cosignatures); a writer thread, woken only when it sleeps idle,
lets the batch fill for GATHER_S and takes what is pending (at most
MAX_BATCH entries; Tessera's batching), extends the in-memory tree, signs the
new checkpoint and stores rows + checkpoint (+ cosignatures) in one
transaction; then it tells the loop
(on_commit) which seqs are durable, and the loop sends the responses that
waited for them. A failed transaction (disk full, read-only database) drops
its batch, whose requests are answered 503, and marks the log unavailable
until a probe write succeeds again: no request is answered while its entry
is not stored.
"""
import collections
import threading
import time

from potkit.auditlog import LogCorrupt, LogUnavailable, entry as E, merkle, note

MAX_BATCH = 256
MAX_DELAY_S = 0.25
HISTORY_EVERY_NS = 1000000000   # a checkpoint into the history table at most once a second
PROBE_EVERY_S = 0.5
# How long the writer lets a batch fill once an entry is pending (Tessera's
# batch age; a request waits this much more for its commit).
GATHER_S = 0.005
# Commits between two merges of SQLite's write-ahead log into its database
# file (Store.merge_wal), done by the writer while a batch gathers or before
# it idles, so no commit (and no response waiting for one) pays for it.
MERGE_EVERY = 64


def default_origin(public_key):
    return "potkit.local/audit/" + public_key[:8].hex()


class AuditLog:
    def __init__(self, store, signing_key, origin=None, gather_s=GATHER_S, on_commit=None):
        from nacl.signing import SigningKey

        if not isinstance(signing_key, SigningKey):
            signing_key = SigningKey(bytes(signing_key))
        self.sk = signing_key
        self.public_key = bytes(signing_key.verify_key)
        self.origin = note.check_name(origin or default_origin(self.public_key))
        self.store = store
        self.gather_s = min(gather_s, MAX_DELAY_S)
        self._signer = note.Signer(self.origin, signing_key)
        self.on_commit = on_commit      # fn(last_seq, failed_from_seq or None, reason), any thread
        self.tree = merkle.Tree()
        self.checkpoint = None          # serialized latest signed checkpoint
        self.checkpoint_size = 0
        self.cosigned = None            # (size, log-signed note, [cosignature lines]) of the largest cosigned
        self.healthy = True
        self.reason = ""
        self.failures = 0
        self.attacks = collections.Counter()   # attack code -> entries appended (this run)
        self.kinds = collections.Counter()
        self._pending = []              # entry bytes, seqs _seq - len + 1 .. _seq
        self._idle = False              # the writer waits for an append to wake it
        self._seq = 0
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._stop = False
        self._thread = None
        self._last_history = -HISTORY_EVERY_NS
        self._unmerged = 0              # commits since the last Store.merge_wal()
        self._load()

    # --- start-up: the stored log must be what its last checkpoint signed ---
    def _load(self):
        tree = self.tree
        for idx, data, leaf in self.store.iter_entries():
            if idx != tree.size:
                raise LogCorrupt("audit log entry %d is missing (next stored row is %d)" % (tree.size, idx))
            if merkle.leaf_hash(data) != leaf:
                raise LogCorrupt("audit log entry %d does not match its stored leaf hash" % idx)
            if E.index_of(data) != idx:
                raise LogCorrupt("audit log entry %d is stored as entry %s" % (idx, E.index_of(data)))
            tree.append(leaf)
            self._count(data)
        text = self.store.latest_checkpoint()
        if text is None:
            if tree.size:
                raise LogCorrupt("audit log has %d entries but no checkpoint" % tree.size)
            self._commit_batch([])         # the signed empty tree
            return
        try:
            cp = note.open_checkpoint(text, self.origin, self.public_key, self.origin)
        except note.NoteError as e:
            raise LogCorrupt("the stored checkpoint does not verify with this log key: %s" % e)
        if cp.size != tree.size or cp.root != tree.root(cp.size):
            raise LogCorrupt("the stored entries (%d) do not match the last signed checkpoint (size %d): "
                             "run `potkit audit verify` to find the first bad entry" % (tree.size, cp.size))
        self.checkpoint, self.checkpoint_size = text, cp.size
        self.cosigned = self.store.latest_cosigned()

    def _count(self, data):
        self.kinds[data[E.OFF_KIND]] += 1
        self.attacks[data[E.OFF_ATTACK]] += 1

    # --- loop side ------------------------------------------------------------
    def check(self):
        if not self.healthy:
            raise LogUnavailable("audit log unavailable: %s" % self.reason)

    def append(self, data):
        """Queues one encoded entry; returns its seq (on_commit reports when it is stored).

        The writer is woken only when it sleeps idle; while it gathers or
        commits, an append is one lock and one list append."""
        with self._lock:
            self._seq += 1
            self._pending.append(data)
            if self._idle:
                self._idle = False
                self._cv.notify()
            return self._seq

    def cosign(self, size, log_note, lines):
        """Queues cosignatures [(witness name, line)] of the checkpoint `size` (its note as
        this log signed it); returns a seq as append() does: stored with the next batch."""
        with self._lock:
            self._seq += 1
            self._pending.append((size, log_note, list(lines)))
            if self._idle:
                self._idle = False
                self._cv.notify()
            return self._seq

    def cosigned_checkpoint(self):
        """The largest checkpoint witnesses cosigned, with their lines (text), or None."""
        c = self.cosigned
        return c[1] + "".join(c[2]) if c else None

    # --- writer -----------------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def stop(self):
        with self._cv:
            self._stop = True
            self._cv.notify()
        if self._thread:
            self._thread.join(30)
        self.store.close()

    def _run(self):
        cv = self._cv
        while True:
            merged_s = 0.0
            if self._unmerged >= MERGE_EVERY:
                t = time.monotonic()
                self._unmerged = 0
                self.store.merge_wal()
                merged_s = time.monotonic() - t
            with cv:
                while not self._pending and not self._stop:
                    self._idle = True
                    merged_s = 0.0
                    cv.wait(PROBE_EVERY_S if not self.healthy else None)
                    if not self.healthy and not self._pending:
                        break
                self._idle = False
                if self._stop and not self._pending:
                    return
                gather = self.gather_s if len(self._pending) < MAX_BATCH and not self._stop else 0
            if gather > merged_s:
                # Let the batch fill without waking on every append: one
                # transaction, one signature and one wake-up of the loop serve
                # every request that arrives meanwhile. A merge of the WAL
                # while entries were pending was part of that time.
                time.sleep(gather - merged_s)
            with cv:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                last_seq = self._seq - len(self._pending)
            if not batch:
                self._probe()
                continue
            try:
                self._commit_batch(batch)
            except LogUnavailable as e:
                self._fail(str(e))
                if self.on_commit:
                    self.on_commit(last_seq, last_seq - len(batch) + 1, self.reason)
                continue
            if self.on_commit:
                self.on_commit(last_seq, None, None)

    def _commit_batch(self, batch):
        datas = [d for d in batch if type(d) is bytes]
        cosigned = [c for c in batch if type(c) is tuple] if len(datas) != len(batch) else ()
        tree = self.tree
        old = tree.size
        rows = []
        leaf_hash, append, pack_index, columns = merkle.leaf_hash, tree.append, E.INDEX.pack, E.COLUMNS.unpack_from
        kinds, attacks = self.kinds, self.attacks
        lo, hi = E.OFF_INDEX, E.OFF_TIME
        idx = old
        for d in datas:
            d = d[:lo] + pack_index(idx) + d[hi:]
            lh = leaf_hash(d)
            append(lh)
            kind, time_ns, attack, ctx_hash = columns(d)
            rows.append((idx, d, lh, time_ns, kind, ctx_hash, attack))
            idx += 1
        size = tree.size
        text = note.checkpoint_text(self.origin, size, tree.root())
        signed = text + "\n" + self._signer(text)
        now = time.monotonic_ns()
        history = now - self._last_history >= HISTORY_EVERY_NS or size == 0
        try:
            self.store.append_batch(rows, size, signed, history, cosigned)
        except LogUnavailable:
            tree.truncate(old)
            raise
        self._unmerged += 1
        if history:
            self._last_history = now
        for r in rows:
            kinds[r[4]] += 1
            attacks[r[6]] += 1
        self.checkpoint, self.checkpoint_size = signed, size
        for c in cosigned:
            if self.cosigned is None or c[0] > self.cosigned[0]:
                self.cosigned = (c[0], c[1], [line for _, line in c[2]])
            elif c[0] == self.cosigned[0]:
                self.cosigned = self.store.latest_cosigned()
        if not self.healthy:
            self.healthy, self.reason = True, ""

    def _fail(self, reason):
        self.failures += 1
        self.healthy = False
        self.reason = reason

    def _probe(self):
        """While unavailable: rewrite the latest checkpoint; success means storage is back."""
        try:
            self.store.append_batch([], self.checkpoint_size, self.checkpoint, False)
        except LogUnavailable as e:
            self.reason = str(e)
            return
        self._unmerged += 1
        self.healthy, self.reason = True, ""

    # --- reads (any thread; only up to the published checkpoint) -----------------
    def signed_tree(self):
        """(size, checkpoint text) of the latest published checkpoint."""
        return self.checkpoint_size, self.checkpoint

    def inclusion_proof(self, index, size):
        return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, old, new):
        return self.tree.consistency_proof(old, new)
