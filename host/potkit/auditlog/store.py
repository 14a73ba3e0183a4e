"""Storage of the audit log: SQLite (default, WAL) and PostgreSQL, one interface.

Tables (the same in both):
    entries(idx, data, leaf, time_ns, kind, ctx_hash, attack)
        one row per entry; leaf = its RFC 9162 leaf hash (the level-0 hashes
        a static tile store would serve); ctx_hash, time_ns, kind, attack are
        copies of entry fields, indexed for the /v1/audit query
    checkpoint(id = 1, size, note)    the latest signed checkpoint
    checkpoints(size, note)           one signed checkpoint per second of appends, and
                                      every checkpoint a witness cosigned
    cosignatures(size, name, line)    a witness's cosignature line on the checkpoint of that size

append_batch() writes a batch's rows, the new latest checkpoint and (when
due) a history checkpoint in ONE transaction: after a crash either all of a
batch is stored with the checkpoint that covers it, or none of it is, so the
log never restarts from a state its last signed checkpoint disagrees with.
"""
import os

from potkit import PotkitError
from potkit.auditlog import LogUnavailable

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS entries (idx {int_key} PRIMARY KEY, data {blob} NOT NULL, leaf {blob} NOT NULL,"
    " time_ns BIGINT NOT NULL, kind INTEGER NOT NULL, ctx_hash {blob} NOT NULL, attack INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS entries_ctx_time ON entries (ctx_hash, time_ns)",
    "CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY, size BIGINT NOT NULL, note TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS checkpoints (size BIGINT PRIMARY KEY, note TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cosignatures (size BIGINT NOT NULL, name TEXT NOT NULL, line TEXT NOT NULL,"
    " PRIMARY KEY (size, name))",
]


class Store:
    """The interface; `p` is the driver's parameter placeholder."""
    p = "?"
    blob = "BLOB"
    int_key = "BIGINT"
    url = ""

    def _exec(self, sql, args=()):
        raise NotImplementedError

    def _q(self, sql):
        return sql.replace("?", self.p)

    def setup(self):
        cur = self._cursor()
        for s in SCHEMA:
            cur.execute(s.format(blob=self.blob, int_key=self.int_key))
        self.conn.commit()

    def iter_entries(self, start=0, end=None, batch=10000):
        """(idx, data, leaf) in index order, from `start` to `end` (exclusive)."""
        done = start
        for attempt in (1, 2):
            try:
                for row in self._iter_entries(done, end, batch):
                    done = row[0] + 1
                    yield row
                return
            except self.errors as e:
                self._rollback()
                self._after_write_error()   # a dropped session: one retry on a new one
                if attempt == 2:
                    raise LogUnavailable("cannot read the audit log (%s): %s" % (self.kind, _one_line(e)))

    def _iter_entries(self, start, end, batch):
        pos = start
        while True:
            hi = pos + batch if end is None else min(end, pos + batch)
            if hi <= pos:
                return
            cur = self._cursor()
            cur.execute(self._q("SELECT idx, data, leaf FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"),
                        (pos, hi))
            rows = cur.fetchall()
            self._end_read()
            for idx, data, leaf in rows:
                yield idx, bytes(data), bytes(leaf)
            if end is None and not rows:
                # A gap is not the end: look for any later row (a deleted row).
                cur = self._cursor()
                cur.execute(self._q("SELECT MIN(idx) FROM entries WHERE idx >= ?"), (hi,))
                nxt = cur.fetchone()[0]
                self._end_read()
                if nxt is None:
                    return
                hi = nxt
            pos = hi

    def count(self):
        cur = self._cursor()
        cur.execute("SELECT COUNT(*) FROM entries")
        n = cur.fetchone()[0]
        self._end_read()
        return n

    def latest_checkpoint(self):
        cur = self._cursor()
        cur.execute("SELECT note FROM checkpoint WHERE id = 1")
        row = cur.fetchone()
        self._end_read()
        return row[0] if row else None

    def checkpoints(self):
        cur = self._cursor()
        cur.execute("SELECT size, note FROM checkpoints ORDER BY size")
        rows = cur.fetchall()
        self._end_read()
        return rows

    def latest_cosigned(self):
        """(size, log-signed note, [cosignature lines]) of the largest cosigned checkpoint, or None."""
        cur = self._cursor()
        cur.execute("SELECT MAX(size) FROM cosignatures")
        size = cur.fetchone()[0]
        if size is None:
            self._end_read()
            return None
        cur.execute(self._q("SELECT note FROM checkpoints WHERE size = ?"), (size,))
        row = cur.fetchone()
        cur.execute(self._q("SELECT line FROM cosignatures WHERE size = ? ORDER BY name"), (size,))
        lines = [r[0] for r in cur.fetchall()]
        self._end_read()
        return (size, row[0], lines) if row else None

    def append_batch(self, rows, size, note, history, cosigned=()):
        """rows: [(idx, data, leaf, time_ns, kind, ctx_hash, attack)];
        cosigned: [(size, log-signed note, [(witness name, cosignature line)])]. Raises LogUnavailable."""
        try:
            cur = self._cursor()
            self._begin(cur)
            if rows:
                self._insert(cur, rows)
            cur.execute(self._upsert_checkpoint, (size, note))
            if history:
                cur.execute(self._upsert_history, (size, note))
            for csize, cnote, lines in cosigned:
                cur.execute(self._upsert_history, (csize, cnote))
                for name, line in lines:
                    cur.execute(self._q("INSERT INTO cosignatures (size, name, line) VALUES (?, ?, ?)"
                                        " ON CONFLICT (size, name) DO UPDATE SET line = excluded.line"),
                                (csize, name, line))
            self.conn.commit()
        except self.errors as e:
            self._rollback()
            self._after_write_error()
            raise LogUnavailable("cannot store the audit log (%s): %s" % (self.kind, _one_line(e)))

    def audit_counts(self, ctx_hash, since_ns, kinds):
        """{attack code: count} of entries of `kinds` for ctx_hash with time_ns >= since_ns."""
        try:
            return self._audit_counts(ctx_hash, since_ns, kinds)
        except self.errors:
            self._rollback()
            self._after_write_error()
        try:
            return self._audit_counts(ctx_hash, since_ns, kinds)
        except self.errors as e:
            self._rollback()
            raise LogUnavailable("cannot read the audit log (%s): %s" % (self.kind, _one_line(e)))

    def _audit_counts(self, ctx_hash, since_ns, kinds):
        cur = self._cursor()
        marks = ", ".join([self.p] * len(kinds))
        cur.execute(self._q("SELECT attack, COUNT(*) FROM entries WHERE ctx_hash = ? AND time_ns >= ?"
                            " AND kind IN (%s) GROUP BY attack" % marks), (ctx_hash, since_ns) + tuple(kinds))
        rows = cur.fetchall()
        self._end_read()
        return dict(rows)

    def _insert(self, cur, rows):
        cur.executemany(self._q("INSERT INTO entries (idx, data, leaf, time_ns, kind, ctx_hash, attack)"
                                " VALUES (?, ?, ?, ?, ?, ?, ?)"), rows)

    @property
    def _upsert_checkpoint(self):
        return self._q("INSERT INTO checkpoint (id, size, note) VALUES (1, ?, ?)"
                       " ON CONFLICT (id) DO UPDATE SET size = excluded.size, note = excluded.note")

    @property
    def _upsert_history(self):
        return self._q("INSERT INTO checkpoints (size, note) VALUES (?, ?)"
                       " ON CONFLICT (size) DO UPDATE SET note = excluded.note")

    def merge_wal(self):
        """Copies committed write-ahead log pages into the database file where the
        store keeps such a log itself (SQLite); never raises: a storage error
        shows in the next append_batch()."""

    def _begin(self, cur):
        pass

    def _cursor(self):
        return self.conn.cursor()

    def _after_write_error(self):
        pass

    def _end_read(self):
        pass

    def _rollback(self):
        try:
            self.conn.rollback()
        except self.errors:
            pass

    def close(self):
        try:
            self.conn.close()
        except Exception:
            pass


def _one_line(e):
    return " ".join(str(e).split()) or type(e).__name__


_MULTI_INSERT = {}


class SqliteStore(Store):
    kind = "sqlite"
    int_key = "INTEGER"   # the rowid itself: one B-tree less per row than a separate key index

    def __init__(self, path, readonly=False):
        import sqlite3

        self.errors = (sqlite3.Error,)
        self.url = path
        self.path = path
        try:
            if readonly:
                if not os.path.exists(path):
                    raise PotkitError("no audit log at %s" % path)
                self.conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True, check_same_thread=False)
            else:
                self.conn = sqlite3.connect(path, check_same_thread=False, timeout=5.0, cached_statements=300)
                self.conn.execute("PRAGMA journal_mode=WAL")
                # FULL: a commit is on disk (WAL fsynced) before it returns, so an
                # acknowledged entry survives a power cut, not just a kill -9.
                self.conn.execute("PRAGMA synchronous=FULL")
                # The writer merges the WAL between batches (merge_wal), not
                # SQLite inside a commit every 1000 pages.
                self.conn.execute("PRAGMA wal_autocheckpoint=0")
                self.setup()
        except sqlite3.Error as e:
            raise PotkitError("cannot open audit log %s: %s" % (path, _one_line(e)))

    def _begin(self, cur):
        cur.execute("BEGIN IMMEDIATE")

    def merge_wal(self):
        # PASSIVE: copies what no reader still needs, waits for nobody. Once all
        # of the WAL is merged, the next commit writes it from its start again
        # (reusing the file's blocks is cheaper to fsync than growing it).
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except self.errors:
            pass

    def _insert(self, cur, rows):
        # One multi-row INSERT: one sqlite3_step, so the writer thread gives up
        # and retakes the GIL once per batch, not once per row (executemany),
        # and the event loop is not stalled behind a GIL handoff per entry.
        # Statements are cached per row count (at most MAX_BATCH of them).
        sql = _MULTI_INSERT.get(len(rows))
        if sql is None:
            sql = _MULTI_INSERT[len(rows)] = ("INSERT INTO entries (idx, data, leaf, time_ns, kind, ctx_hash, attack)"
                                              " VALUES " + ",".join(["(?,?,?,?,?,?,?)"] * len(rows)))
        cur.execute(sql, [v for r in rows for v in r])

    def reader(self):
        return SqliteStore(self.path, readonly=True)


class PostgresStore(Store):
    kind = "postgresql"
    p = "%s"
    blob = "BYTEA"

    def __init__(self, url):
        try:
            import psycopg
        except ImportError:
            raise PotkitError("--log postgresql://...: the psycopg package is not installed")
        self.errors = (psycopg.Error,)
        self.url = url
        try:
            self.conn = psycopg.connect(url, connect_timeout=10)
            self.setup()
        except psycopg.Error as e:
            raise PotkitError("cannot open audit log %s: %s" % (_redact(url), _one_line(e)))

    def _cursor(self):
        # After a failover, a restart or a terminated session: reconnect.
        if self.conn.closed or self.conn.broken:
            import psycopg

            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = psycopg.connect(self.url, connect_timeout=10)
        return self.conn.cursor()

    def _after_write_error(self):
        # A new session for the next try: it sees the server's settings as they
        # are then (a database made writable again, a promoted standby).
        try:
            self.conn.close()
        except Exception:
            pass

    def _insert(self, cur, rows):
        # One INSERT per batch: each column as one binary array parameter,
        # unnested server-side into rows. psycopg adapts every parameter in
        # Python, so seven arrays cost a fraction of 7 x len(rows) scalars (a
        # multi-row VALUES list) or a Bind/Execute per row (executemany).
        cur.execute("INSERT INTO entries (idx, data, leaf, time_ns, kind, ctx_hash, attack)"
                    " SELECT * FROM unnest(%b::bigint[], %b::bytea[], %b::bytea[], %b::bigint[], %b::integer[],"
                    " %b::bytea[], %b::integer[])", [list(column) for column in zip(*rows)])

    def _end_read(self):
        # End the read transaction psycopg opened (no idle-in-transaction snapshot).
        try:
            self.conn.rollback()
        except self.errors:
            pass

    def reader(self):
        return PostgresStore(self.url)


def _redact(url):
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, sep, cred = head.partition("://")
    return scheme + sep + cred.split(":")[0] + ":***@" + tail


def open_store(spec, readonly=False):
    """A Store for `spec`: a postgresql:// URL or an SQLite file path."""
    if spec.startswith(("postgresql://", "postgres://")):
        return PostgresStore(spec)
    return SqliteStore(spec, readonly=readonly)
