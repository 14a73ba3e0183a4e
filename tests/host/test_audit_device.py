"""DEVICE entries: verdicts a real board (the firmware on the MicroPython
Unix port) reports over TCP, logged by the host that talks to it; ORDERING
is the attack type only a board detects (a service has no ordering floor)."""
import os

import pytest
from nacl.signing import SigningKey

from pot.grg import context_message
from potkit import cli, keys
from potkit.board import hostlink
from potkit.auditlog import entry as E
from potkit.auditlog.device_log import DeviceAudit
from potkit.auditlog.store import SqliteStore
from potkit.board.unix import UnixBoard
from potkit.issuer import Issuer
from potkit.timebase import FixedTimeBase

KEY = SigningKey(b"\x33" * 32)
DEVICE = "audit-door"


@pytest.fixture(scope="module")
def board():
    b = UnixBoard(bytes(KEY.verify_key), DEVICE, serial=None, tcp=0,
                  extra={"flood": {"rate_per_s": 500, "burst": 100}})
    b.start()
    yield b
    b.stop()


def test_board_verdicts_are_logged(board, tmp_path, capsys):
    issuer = Issuer(KEY, FixedTimeBase())
    db = str(tmp_path / "device.db")
    audit = DeviceAudit(db, None)
    dl = hostlink.DeviceLink(board.tcp_transport())
    try:
        dl.drain(0.2)
        dl.challenges.clear()
        v = dl.sync(lambda ch, ctx: issuer.issue(ctx, 3, ch))
        assert v["name"] == "OK"
        dl.issue = lambda ch, ctx: issuer.issue(ctx, 3, ch)

        def send(msg, rec):
            v = dl.send_stamped("alice", msg, rec)
            audit.verdict(v, context_message(DEVICE, msg), rec, "tcp", "alice")
            return v["name"]

        m = b"open"
        older = issuer.issue(context_message(DEVICE, m), 2)
        newer = issuer.issue(context_message(DEVICE, m), 2)
        assert send(m, newer) == "OK"
        assert send(m, newer) == "REPLAY"
        assert send(m, older) == "ORDERING"       # issued before one the board already accepted
    finally:
        dl.close()
    audit.close()
    st = SqliteStore(db, readonly=True)
    ents = [E.decode(d) for _, d, _ in st.iter_entries()]
    st.close()
    assert [e.kind for e in ents] == [E.DEVICE] * 3
    assert [E.ATTACK_NAMES[e.attack] for e in ents] == ["NONE", "REPLAY", "ORDERING"]
    assert all(e.transport == 2 and e.peer == "alice" for e in ents)
    pub = keys.load_public_key(db + ".key").hex()
    assert cli.main(["audit", "verify", "--log", db, "--index", "2", "--pubkey", pub]) == 0
    assert '"attack_type": "ORDERING"' in capsys.readouterr().out
