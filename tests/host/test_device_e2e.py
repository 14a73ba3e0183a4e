"""End to end: the firmware on the MicroPython Unix port as a virtual board,
linked by a pseudo-terminal (pyserial on the host side), by TCP and by UDP.

Records come from the real issuer (potkit.issuer.Issuer, libsodium) on a
FixedTimeBase (the host clock; time-source tests live elsewhere): what is
under test here is the device: framing, the secure clock, the verifier
pipeline per stamped message, the flood limit and the error frames.
"""
import time

import pytest
from nacl.signing import SigningKey

from pot import host, spec
from pot.grg import context_message
from potkit.board import hostlink
from potkit.board.unix import UnixBoard
from potkit.issuer import Issuer
from potkit.timebase import FixedTimeBase

KEY = SigningKey(b"\x11" * 32)
OTHER_KEY = SigningKey(b"\x22" * 32)
DEVICE = "door-7"


@pytest.fixture(scope="module")
def issuer():
    return Issuer(KEY, FixedTimeBase())


@pytest.fixture(scope="module")
def board():
    b = UnixBoard(bytes(KEY.verify_key), DEVICE, serial="pty", tcp=0, udp=0,
                  extra={"flood": {"rate_per_s": 500, "burst": 100}})
    b.start()
    yield b
    b.stop()


def sync_fn(issuer):
    return lambda ch, ctx: issuer.issue(ctx, 3, ch)


def stamp(issuer, message, device=DEVICE, tier=2):
    return issuer.issue(context_message(device, message), tier)


def test_serial_pty_full_story(board, issuer):
    dl = hostlink.DeviceLink(board.serial_transport())
    try:
        st = dl.status()
        assert st["device_id"] == DEVICE and st["version"] == 1
        msg = b"unlock"
        # Before any sync: no trusted time, the device asks for a challenge.
        v = dl.send_stamped("alice", msg, stamp(issuer, msg))
        assert v["name"] == "NO_CLOCK" and v["resync"]
        dl.drain(0.3)
        assert dl.challenges, "no unsolicited CHALLENGE after NO_CLOCK"
        dl.challenges.clear()
        # The explicit sync.
        r = dl.sync(sync_fn(issuer))
        assert r["name"] == "OK" and r["clock_valid"]
        assert 0 < r["uncertainty_us"] < 100000 and r["time_us"] > 0
        st = dl.status()
        assert st["synced"] and st["clock_valid"] and st["syncs"] >= 1
        # The device's clock agrees with ours within its own bound (+ 50 ms
        # for the status round trip itself).
        assert abs(st["now_ns"] - time.time_ns()) < st["uncertainty_us"] * 1000 + 50_000_000
        rec = stamp(issuer, msg)
        assert dl.send_stamped("alice", msg, rec)["name"] == "OK"
        assert dl.send_stamped("alice", msg, rec)["name"] == "REPLAY"
        assert dl.send_stamped("alice", msg, stamp(issuer, msg, device="door-8"))["name"] == "CROSS_CONTEXT"
        assert dl.send_stamped("alice", b"lock", stamp(issuer, msg))["name"] == "CROSS_CONTEXT"
        forged = Issuer(OTHER_KEY, issuer.timebase).issue(context_message(DEVICE, msg), 2)
        assert dl.send_stamped("mallory", msg, forged)["name"] == "FORGE"
        flipped = bytearray(stamp(issuer, msg))
        flipped[100] ^= 1
        assert dl.send_stamped("mallory", msg, bytes(flipped))["name"] == "FORGE"
        old = Issuer(KEY, FixedTimeBase(offset_ns=-5_000_000_000)).issue(context_message(DEVICE, msg), 3)
        assert dl.send_stamped("bob", msg, old)["name"] == "STALE"
        ahead = Issuer(KEY, FixedTimeBase(offset_ns=30_000_000_000)).issue(context_message(DEVICE, msg), 3)
        assert dl.send_stamped("bob", msg, ahead)["name"] == "FUTURE"
        bad = bytearray(stamp(issuer, msg))
        bad[2] = 1  # reserved byte
        assert dl.send_stamped("bob", msg, bytes(bad))["name"] == "PROTO_VIOLATION"
        v = dl.send_stamped("alice", b"status?", stamp(issuer, b"status?"))
        assert v["name"] == "OK" and v["mode"] == "FULL" and v["clock_valid"]
        st = dl.status()
        assert st["accepted"] >= 2 and st["requests"] >= 10
    finally:
        dl.close()


def test_sync_rejects_wrong_challenge_and_missing_challenge(board, issuer):
    dl = hostlink.DeviceLink(board.serial_transport())
    try:
        # A record that answers some other challenge.
        r = dl.sync(lambda ch, ctx: issuer.issue(ctx, 3, bytes(32)))
        assert r["name"] == "CHALLENGE"
        # A record for another device's context.
        r = dl.sync(lambda ch, ctx: issuer.issue(b"\x00\x06door-8", 3, ch))
        assert r["name"] == "CROSS_CONTEXT"
        # A sync record with no challenge outstanding: an ERROR frame.
        dl.sync(sync_fn(issuer))
        with pytest.raises(hostlink.LinkError, match="STATE"):
            dl.request(spec.T_SYNC_RECORD, issuer.issue(b"\x00\x06door-7", 3, bytes(32)))
    finally:
        dl.close()


def test_malformed_frames_get_error_frames_and_service_continues(board, issuer):
    dl = hostlink.DeviceLink(board.serial_transport())
    try:
        with pytest.raises(hostlink.LinkError, match="TYPE"):
            dl.request(0x42)
        with pytest.raises(hostlink.LinkError, match="PAYLOAD"):
            dl.request(spec.T_STAMPED, b"\x05abc")
        with pytest.raises(hostlink.LinkError, match="PAYLOAD"):
            dl.request(spec.T_SYNC_REQ, b"x")
        # A corrupted frame: an ERROR frame with seq 0 (CRC), then normal service.
        f = bytearray(host.encode_frame(spec.T_ECHO, 9, b"hello"))
        f[8] ^= 0xFF
        dl.t.send(b"noise" + bytes(f))
        assert dl.echo(b"after") == b"after"
        assert any(p[:1] == bytes([spec.E_CRC]) for p in dl.error_frames)
        # A truncated frame: the device's idle timer expires it.
        dl.t.send(host.encode_frame(spec.T_ECHO, 10, b"cut")[:7])
        time.sleep(0.5)
        assert dl.echo(b"again") == b"again"
        assert any(p[:1] == bytes([spec.E_TRUNCATED]) for p in dl.error_frames)
        assert dl.status()["link_errors"] >= 2
    finally:
        dl.close()


def test_tcp_link_and_two_connections(board, issuer):
    a = hostlink.DeviceLink(board.tcp_transport())
    b = hostlink.DeviceLink(board.tcp_transport())
    try:
        assert a.status()["device_id"] == DEVICE
        assert b.echo(b"x" * spec.MAX_PAYLOAD) == b"x" * spec.MAX_PAYLOAD
        assert a.sync(sync_fn(issuer))["name"] == "OK"
        msg = b"tcp message"
        rec = stamp(issuer, msg)
        assert a.send_stamped("carol", msg, rec)["name"] == "OK"
        # The replay cache is the device's, not the connection's.
        assert b.send_stamped("carol", msg, rec)["name"] == "REPLAY"
    finally:
        a.close()
        b.close()


def test_udp_link(board, issuer):
    dl = hostlink.DeviceLink(board.udp_transport())
    try:
        assert dl.status()["device_id"] == DEVICE
        assert dl.echo(b"datagram") == b"datagram"
        msg = b"udp message"
        assert dl.send_stamped("dave", msg, stamp(issuer, msg))["name"] in ("OK", "NO_CLOCK")
    finally:
        dl.close()


def test_flood_limit_answers_busy_and_recovers(issuer):
    b = UnixBoard(bytes(KEY.verify_key), DEVICE, serial="pipe", extra={"flood": {"rate_per_s": 1, "burst": 4}})
    with b:
        dl = hostlink.DeviceLink(b.pipe_transport())
        assert dl.sync(sync_fn(issuer))["name"] == "OK"  # 2 tokens: SYNC_REQ, SYNC_RECORD
        names = []
        for i in range(6):
            m = b"cmd %d" % i
            names.append(dl.send_stamped("eve", m, stamp(issuer, m))["name"])
        assert names[:2] == ["OK", "OK"] and names[2:] == ["BUSY"] * 4, names
        assert dl.status()["rate_limited"] == 4
        time.sleep(1.1)  # > one token at 1 per second
        m = b"later"
        v = dl.send_stamped("eve", m, stamp(issuer, m))
        assert v["name"] == "OK" and not v["rate_limited"]


def test_turbo_mode_after_a_run_of_good_messages(issuer):
    b = UnixBoard(bytes(KEY.verify_key), DEVICE, serial="pipe", extra={"flood": {"rate_per_s": 1000, "burst": 100}})
    with b:
        dl = hostlink.DeviceLink(b.pipe_transport())
        assert dl.sync(sync_fn(issuer))["name"] == "OK"
        modes = []
        for i in range(21):
            m = b"tick %d" % i
            v = dl.send_stamped("frank", m, stamp(issuer, m))
            assert v["name"] == "OK"
            modes.append(v["mode"])
        assert modes[0] == "FULL" and modes[-1] == "TURBO"
        # One forged message drops the sender back to FULL at once.
        forged = Issuer(OTHER_KEY, issuer.timebase).issue(context_message(DEVICE, b"x"), 2)
        v = dl.send_stamped("frank", b"x", forged)
        assert v["name"] == "FORGE" and v["mode"] == "FULL"


@pytest.mark.parametrize("link, message", [
    ({"serial": {"uart": 1, "tx": 4, "rx": 5}}, 'the Unix port has "stdio" only'),
    ({"serial": "stdio", "wifi": True}, "only a board has Wi-Fi"),
])
def test_board_only_links_are_refused_on_the_unix_port(link, message):
    # A board's UART and Wi-Fi (pot.board_hw) do not exist on the Unix
    # port: start-up stops with a clear error instead of serving without
    # the link it was asked for.
    from potkit import PotkitError

    b = UnixBoard(bytes(SigningKey(b"\x31" * 32).verify_key), "cfg-1", serial=None, extra={"link": link})
    with pytest.raises(PotkitError) as e:
        b.start(timeout=10)
    b.stop()
    assert message in str(e.value), str(e.value)
