"""The audit log below the service: signed notes, entries, AuditLog on both
stores (SQLite and a real PostgreSQL), restarts, and tampering found by
`potkit audit verify` naming the first bad index."""
import base64
import hashlib
import json
import os
import sqlite3
import struct
import threading

import pytest
from nacl.signing import SigningKey

from potkit import cli
from potkit.auditlog import LogCorrupt, LogUnavailable, entry as E, merkle, note
from potkit.auditlog.check import verify_store
from potkit.auditlog.log import AuditLog
from potkit.auditlog.store import PostgresStore, SqliteStore


# --- signed notes ----------------------------------------------------------------
def test_vkey_example_from_the_signed_note_spec():
    # c2sp.org/signed-note's example verifier key: its key id is SHA-256(name || 0x0A || 0x01 || key)[:4].
    name, pub, typ = note.parse_vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    assert name == "PeterNeumann" and typ == note.ED25519 and len(pub) == 32
    assert hashlib.sha256(b"PeterNeumann\n\x01" + pub).digest()[:4].hex() == "c74f20a3"
    with pytest.raises(note.NoteError):
        note.parse_vkey("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_checkpoint_sign_verify_and_cosign():
    sk, wk = SigningKey.generate(), SigningKey.generate()
    pub = bytes(sk.verify_key)
    text = note.checkpoint_text("example.com/log", 5, b"\x07" * 32)
    assert text == "example.com/log\n5\n" + base64.b64encode(b"\x07" * 32).decode() + "\n"
    signed = text + "\n" + note.sign_text(text, "example.com/log", sk)
    line = signed.split("\n")[-2]
    assert line.startswith("\u2014 example.com/log ")
    raw = base64.b64decode(line.split(" ")[-1])
    assert raw[:4] == hashlib.sha256(b"example.com/log\n\x01" + pub).digest()[:4]
    # The signature is plain Ed25519 over the text (RFC 8032, checked with libsodium directly).
    sk.verify_key.verify(text.encode(), raw[4:])
    cp = note.open_checkpoint(signed, "example.com/log", pub)
    assert (cp.size, cp.root) == (5, b"\x07" * 32)
    # cosignature/v1: timestamp || Ed25519 over "cosignature/v1\ntime T\n" || text
    cos = signed + note.cosign_text(text, "w.example/1", wk, 1700000000)
    craw = base64.b64decode(cos.split("\n")[-2].split(" ")[-1])
    assert craw[:4] == hashlib.sha256(b"w.example/1\n\x04" + bytes(wk.verify_key)).digest()[:4]
    assert struct.unpack(">Q", craw[4:12])[0] == 1700000000
    wk.verify_key.verify(b"cosignature/v1\ntime 1700000000\n" + text.encode(), craw[12:])
    cp2 = note.parse_checkpoint(cos)
    assert cp2.note.verified_by("w.example/1", bytes(wk.verify_key), note.COSIG_V1) == 1700000000
    assert cp2.note.verified_by("w.example/1", bytes(sk.verify_key), note.COSIG_V1) is None
    with pytest.raises(note.NoteError):
        note.open_checkpoint(signed.replace("\n5\n", "\n6\n"), "example.com/log", pub)
    with pytest.raises(note.NoteError):
        note.open_checkpoint(signed, "example.com/log", bytes(wk.verify_key))


def test_entry_encoding_is_byte_exact():
    ctx = b"\x00\x07board-1"
    rec = bytes(range(143))
    data = E.encode(E.VERIFY, 0x0102030405060708, index=9, transport=1, tier=2, verdict=6,
                    attack=E.ATTACK_CODES["REPLAY"], ctx_hash=hashlib.sha256(ctx).digest(),
                    record_hash=hashlib.sha256(rec).digest(), peer="127.0.0.1:5", detail="")
    want = (b"\x01\x02" + (9).to_bytes(8, "big") + bytes.fromhex("0102030405060708") + b"\x01\x02\x06\x01"
            + hashlib.sha256(ctx).digest() + hashlib.sha256(rec).digest() + b"\x0b127.0.0.1:5" + b"\x00\x00")
    assert data == want
    e = E.decode(data)
    assert (e.kind, e.index, e.verdict, E.ATTACK_NAMES[e.attack], e.peer) == (E.VERIFY, 9, 6, "REPLAY", "127.0.0.1:5")
    for bad in (data[:-1], data + b"\x00", b"\x02" + data[1:]):
        with pytest.raises(E.EntryError):
            E.decode(bad)
    assert len(E.ATTACK_TYPES) == 13
    # The store's indexed copies of the fields, unpacked in one go by the writer.
    assert E.COLUMNS.unpack_from(data) == (E.VERIFY, 0x0102030405060708, E.ATTACK_CODES["REPLAY"],
                                           hashlib.sha256(ctx).digest())


# --- the log on both stores ---------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def store_spec(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "audit.db")
    return request.getfixturevalue("postgres").new_database()


def open_store(spec):
    return PostgresStore(spec) if spec.startswith("postgresql://") else SqliteStore(spec)


class Committed:
    """on_commit collector: wait(seq) until that seq is reported."""

    def __init__(self):
        self.cv = threading.Condition()
        self.done = 0
        self.failed = []

    def __call__(self, last, failed_from, reason):
        with self.cv:
            self.done = max(self.done, last)
            if failed_from is not None:
                self.failed.append((failed_from, last, reason))
            self.cv.notify_all()

    def wait(self, seq):
        with self.cv:
            assert self.cv.wait_for(lambda: self.done >= seq, 30)


def make_entries(n, start=0):
    return [E.encode(E.VERIFY, 1000 + i, transport=1, verdict=0, ctx_hash=hashlib.sha256(b"c%d" % (i % 3)).digest(),
                     peer="p%d" % i) for i in range(start, start + n)]


def run_log(spec, sk, datas):
    c = Committed()
    log = AuditLog(open_store(spec), sk, on_commit=c)
    log.start()
    seq = 0
    for d in datas:
        seq = log.append(d)
    if seq:
        c.wait(seq)
    cp = log.checkpoint
    log.stop()
    return cp, c


def test_log_appends_restarts_and_stays_consistent(store_spec):
    sk = SigningKey.generate()
    cp1, _ = run_log(store_spec, sk, make_entries(600))
    c1 = note.open_checkpoint(cp1, AuditLog_origin(sk), bytes(sk.verify_key))
    assert c1.size == 600
    # Independently: the root of the stored entries, by the RFC's recursion.
    st = open_store(store_spec)
    rows = list(st.iter_entries())
    assert [i for i, _, _ in rows] == list(range(600))
    assert merkle.Tree(merkle.leaf_hash(d) for _, d, _ in rows).root() == c1.root
    assert all(E.decode(d).index == i for i, d, _ in rows)
    st.close()
    # Restart: the new log continues from the stored state; its checkpoint extends the old one.
    cp2, _ = run_log(store_spec, sk, make_entries(300, 600))
    c2 = note.open_checkpoint(cp2, AuditLog_origin(sk), bytes(sk.verify_key))
    assert c2.size == 900
    log = AuditLog(open_store(store_spec), sk)
    assert merkle.verify_consistency(600, 900, c1.root, c2.root, log.consistency_proof(600, 900))
    for i in (0, 599, 899):
        assert merkle.verify_inclusion(i, 900, log.tree.leaf(i), log.inclusion_proof(i, 900), c2.root)
    log.store.close()
    # Batches hold at most 256 entries: 600 entries cannot be fewer than 3 transactions.
    st = open_store(store_spec)
    assert st.count() == 900
    n, k = verify_store(st, AuditLog_origin(sk), bytes(sk.verify_key))
    assert n == 900 and k >= 2
    st.close()


def AuditLog_origin(sk):
    from potkit.auditlog.log import default_origin

    return default_origin(bytes(sk.verify_key))


def test_a_log_signed_by_another_key_does_not_start(store_spec):
    run_log(store_spec, SigningKey.generate(), make_entries(3))
    with pytest.raises(LogCorrupt):
        AuditLog(open_store(store_spec), SigningKey.generate())


def test_sqlite_wal_is_merged_by_the_writer_between_batches(tmp_path):
    # SQLite does not merge the WAL inside a commit (wal_autocheckpoint=0);
    # the writer does every MERGE_EVERY commits: the database file gets the
    # pages and the WAL file is rewritten from its start instead of growing.
    from potkit.auditlog.log import MERGE_EVERY

    path = str(tmp_path / "audit.db")
    c = Committed()
    log = AuditLog(SqliteStore(path), SigningKey.generate(), gather_s=0, on_commit=c)
    log.start()
    empty = os.path.getsize(path)
    commits = 8 * MERGE_EVERY
    for d in make_entries(commits):
        c.wait(log.append(d))       # one commit each: at least its entries page and the checkpoint's
    grown, wal = os.path.getsize(path), os.path.getsize(path + "-wal")
    log.stop()
    assert grown > empty
    assert wal < commits * 2 * 4096 / 2
    st = SqliteStore(path)
    assert st.count() == commits
    st.close()


TAMPER = {
    "edit": "UPDATE entries SET data = {new} WHERE idx = 37",
    "delete": "DELETE FROM entries WHERE idx = 37",
    "reorder": "UPDATE entries SET idx = -1 WHERE idx = 37; UPDATE entries SET idx = 37 WHERE idx = 38;"
               " UPDATE entries SET idx = 38 WHERE idx = -1",
    "rewrite": "UPDATE entries SET data = {new}, leaf = {leaf} WHERE idx = 37",
}


@pytest.mark.parametrize("how", sorted(TAMPER))
def test_tampering_is_found_and_named(store_spec, how, tmp_path, capsys):
    sk = SigningKey.generate()
    pub = bytes(sk.verify_key)
    cp_before, _ = run_log(store_spec, sk, make_entries(100))
    cp_file = tmp_path / "before.cp"
    cp_file.write_text(cp_before)
    pubhex = pub.hex()
    assert cli.main(["audit", "verify", "--log", store_spec, "--pubkey", pubhex]) == 0
    old = E.decode(make_entries(100)[37])
    new = E.with_index(E.encode(E.VERIFY, old.time_ns, transport=1, verdict=4, attack=E.ATTACK_CODES["FORGE"],
                                ctx_hash=old.ctx_hash, peer=old.peer), 37)
    pg = store_spec.startswith("postgresql://")
    lit = (lambda b: "'\\x%s'::bytea" % b.hex()) if pg else (lambda b: "X'%s'" % b.hex())
    sql = TAMPER[how].format(new=lit(new), leaf=lit(merkle.leaf_hash(new)))
    if pg:
        import psycopg

        with psycopg.connect(store_spec, autocommit=True) as c:
            for stmt in sql.split(";"):
                c.execute(stmt)
    else:
        c = sqlite3.connect(store_spec)
        c.executescript(sql)
        c.commit()
        c.close()
    capsys.readouterr()
    assert cli.main(["audit", "verify", "--log", store_spec, "--pubkey", pubhex]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if how == "rewrite":
        # Data and leaf hash rewritten together: the signed checkpoint proves it, down to its range.
        assert "first bad index in 0..99" in err, err
    else:
        assert "first bad index 37" in err, err
    # The service would refuse to start on it, too.
    with pytest.raises(LogCorrupt):
        AuditLog(open_store(store_spec), sk)
