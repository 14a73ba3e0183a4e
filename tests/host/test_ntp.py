"""SNTP client against real chronyd servers on loopback, and its arithmetic.

Attacks and broken servers are played by peers.UdpProxy between the client
and a real chronyd: the replies are chrony's own, altered one field at a time.
"""

import random
import struct

import pytest

import peers
from potkit.sources import BAD_REPLY, DELAYED, UNREACHABLE, SourceError
from potkit.sources.ntp import (NS_PER_S, NTP_UNIX_OFFSET_S, NtpReply, build_request,
                                ntp_to_unix_ns, query_ntp, reading_from_reply,
                                short_to_ns, unix_ns_to_ntp)

MS = 1000000


# --- arithmetic ------------------------------------------------------------------

def test_ntp_timestamp_known_values():
    # 1970-01-01 is NTP second 2208988800 of era 0.
    assert unix_ns_to_ntp(0) == NTP_UNIX_OFFSET_S << 32
    assert ntp_to_unix_ns(NTP_UNIX_OFFSET_S << 32, 0) == 0
    # Half a second is fraction 2**31.
    assert unix_ns_to_ntp(NS_PER_S // 2) == (NTP_UNIX_OFFSET_S << 32) | (1 << 31)
    # Era 1 starts 2036-02-07T06:28:16Z = Unix 2085978496: NTP timestamp 0.
    era1 = 2085978496 * NS_PER_S
    assert unix_ns_to_ntp(era1) == 0
    assert ntp_to_unix_ns(0, era1) == era1
    # The same 0 read near 1950 is 1900-01-01 (era 0).
    assert ntp_to_unix_ns(0, -20 * 365 * 86400 * NS_PER_S) == -NTP_UNIX_OFFSET_S * NS_PER_S
    # Short format 16.16: 1.5 s.
    assert short_to_ns(0x00018000) == 1500000000


def test_ntp_timestamp_round_trip_is_exact_across_eras():
    rng = random.Random(123)           # fixed seed: the same 5000 values every run
    # From 1968 to 2105: both sides of the 2036 era rollover.
    lo, hi = -2 * 365 * 86400 * NS_PER_S, 135 * 365 * 86400 * NS_PER_S
    for _ in range(5000):
        ns = rng.randint(lo, hi)
        ts = unix_ns_to_ntp(ns)
        assert 0 <= ts < 1 << 64
        # Pivot anywhere within 60 years of the true value gives it back.
        assert ntp_to_unix_ns(ts, ns + 60 * 365 * 86400 * NS_PER_S) == ns
        assert ntp_to_unix_ns(ts, ns - 60 * 365 * 86400 * NS_PER_S) == ns
    # Around the rollover second itself, ns by ns.
    era1 = 2085978496 * NS_PER_S
    for ns in range(era1 - 3, era1 + 3):
        assert ntp_to_unix_ns(unix_ns_to_ntp(ns), era1) == ns


def _server_reply(t2_ns, t3_ns, root_delay=0, root_disp=0, stratum=2, cookie=b"\x01" * 8):
    return struct.pack(">BBbbII4sQ8sQQ", 0x24, stratum, 0, -20, root_delay, root_disp,
                       b"GPS\0", 0, cookie, unix_ns_to_ntp(t2_ns), unix_ns_to_ntp(t3_ns))


def test_offset_delay_uncertainty_integer_ns():
    base = 1767225600 * NS_PER_S          # 2026-01-01
    # We send at T1, the server (1.25 s ahead) receives 10 ms later, holds the
    # packet 3 ms, we receive 14 ms after that: delay 24 ms, offset 1.25 s + 2 ms.
    t1 = base
    t2 = base + 1250 * MS + 10 * MS
    t3 = t2 + 3 * MS
    t4 = t1 + 10 * MS + 3 * MS + 14 * MS
    reply = NtpReply(_server_reply(t2, t3, root_delay=0x00008000, root_disp=0x00004000), "x")
    r = reading_from_reply(reply, t1, t4, "x:123", "op", "ntp", False, 100 * MS)
    assert r.delay_ns == 24 * MS
    assert r.offset_ns == ((t2 - t1) + (t3 - t4)) // 2 == 1250 * MS - 2 * MS
    assert r.time_ns == t4 + r.offset_ns and r.local_ns == t4
    # delay/2 + root dispersion (0.25 s) + root delay/2 (0.5 s / 2)
    assert r.uncertainty_ns == 12 * MS + 250 * MS + 250 * MS
    assert (r.kind, r.authenticated, r.stratum, r.operator) == ("ntp", False, 2, "op")
    with pytest.raises(SourceError) as e:
        reading_from_reply(reply, t1, t4, "x:123", "op", "ntp", False, 20 * MS)
    assert e.value.kind == DELAYED


def test_reply_claiming_more_hold_time_than_round_trip_rejected():
    base = 1767225600 * NS_PER_S
    reply = NtpReply(_server_reply(base, base + 50 * MS), "x")
    with pytest.raises(SourceError) as e:
        reading_from_reply(reply, base, base + 10 * MS, "x", "op", "ntp", False, NS_PER_S)
    assert e.value.kind == BAD_REPLY


def test_request_layout():
    req = build_request(b"ABCDEFGH")
    assert len(req) == 48 and req[0] == 0x23 and req[40:] == b"ABCDEFGH"
    assert req[1:40] == bytes(39)


# --- real servers ----------------------------------------------------------------

def test_honest_chrony_offset_near_zero(chrony):
    r = query_ntp(chrony.host, chrony.ntp_port, timeout=2.0)
    assert r.kind == "ntp" and not r.authenticated
    assert r.stratum == 1
    assert abs(r.offset_ns) < 50 * MS
    assert 0 <= r.delay_ns < 50 * MS
    assert r.uncertainty_ns >= r.delay_ns // 2
    assert r.source == "127.0.0.1:%d" % chrony.ntp_port
    assert r.operator == "127.0.0.1"


def test_faketime_chrony_is_30s_ahead(chrony_offset):
    r = query_ntp(chrony_offset.host, chrony_offset.ntp_port, operator="fake.test")
    assert abs(r.offset_ns - 30 * NS_PER_S) < 500 * MS
    assert r.operator == "fake.test"


def _query_through(chrony, mangle=None, **kw):
    proxy_kw = {k: kw.pop(k) for k in ("delay_s", "reply_delay_s") if k in kw}
    with peers.UdpProxy((chrony.host, chrony.ntp_port), mangle=mangle, **proxy_kw) as proxy:
        try:
            return query_ntp(proxy.host, proxy.port, **kw)
        finally:
            assert proxy.requests == 1


def _expect(kind, chrony, mangle=None, **kw):
    # A rejected reply does not end the exchange (the client waits for a
    # valid one until its deadline): a short deadline keeps these tests quick.
    kw.setdefault("timeout", 0.5)
    return peers.expect_source_error(kind, _query_through, chrony, mangle, **kw)


def _set(offset, value):
    def mangle(reply, request):
        return reply[:offset] + value + reply[offset + len(value):]
    return mangle


def test_proxy_untouched_reply_accepted(chrony):
    # The control experiment for all the mangling tests below.
    r = _query_through(chrony)
    assert abs(r.offset_ns) < 50 * MS


@pytest.mark.parametrize("code", [b"RATE", b"DENY", b"RSTR"])
def test_kiss_of_death_reports_code(chrony, code):
    err = _expect(BAD_REPLY, chrony, lambda rep, req: rep[:1] + b"\0" + rep[2:12] + code + rep[16:])
    assert code.decode() in err.message


def test_stratum_16_rejected(chrony):
    err = _expect(BAD_REPLY, chrony, _set(1, b"\x10"))
    assert "unsynchronised" in err.message


def test_leap_3_rejected(chrony):
    err = _expect(BAD_REPLY, chrony, lambda rep, req: bytes([rep[0] | 0xC0]) + rep[1:])
    assert "leap" in err.message


def test_zero_transmit_rejected(chrony):
    err = _expect(BAD_REPLY, chrony, _set(40, bytes(8)))
    assert "transmit" in err.message


def test_origin_mismatch_rejected(chrony):
    # What a blind off-path forger produces: everything right but our cookie.
    err = _expect(BAD_REPLY, chrony, lambda rep, req: rep[:24] + bytes(a ^ 1 for a in rep[24:32]) + rep[32:])
    assert "origin" in err.message


def test_wrong_mode_rejected(chrony):
    err = _expect(BAD_REPLY, chrony, lambda rep, req: bytes([(rep[0] & 0xF8) | 3]) + rep[1:])
    assert "mode" in err.message


def test_wrong_version_rejected(chrony):
    err = _expect(BAD_REPLY, chrony, lambda rep, req: bytes([(rep[0] & 0xC7) | (3 << 3)]) + rep[1:])
    assert "version" in err.message


def test_short_packet_rejected(chrony):
    err = _expect(BAD_REPLY, chrony, lambda rep, req: rep[:47])
    assert "short" in err.message


def test_delayed_reply_rejected(chrony):
    _expect(DELAYED, chrony, delay_s=0.25, max_delay_ns=100 * MS)


def test_delay_attack_stays_within_uncertainty(chrony):
    # Holding the request back 200 ms shifts the offset by +100 ms, but the
    # reading's interval (offset +- uncertainty) still holds the truth (0).
    r = _query_through(chrony, delay_s=0.2, max_delay_ns=NS_PER_S)
    assert 90 * MS < r.offset_ns < 150 * MS
    assert r.delay_ns >= 200 * MS
    assert abs(r.offset_ns) <= r.uncertainty_ns
    r = _query_through(chrony, reply_delay_s=0.2, max_delay_ns=NS_PER_S)
    assert -150 * MS < r.offset_ns < -90 * MS
    assert abs(r.offset_ns) <= r.uncertainty_ns


def test_silent_server_unreachable(chrony):
    _expect(UNREACHABLE, chrony, lambda rep, req: None, timeout=0.3)


def test_closed_port_unreachable():
    port = peers.free_port()
    with pytest.raises(SourceError) as e:
        query_ntp("127.0.0.1", port, timeout=0.5)
    assert e.value.kind == UNREACHABLE


@pytest.mark.parametrize("junk", [
    b"\x00garbage",                                                    # not NTP at all
    None,                                                              # a reply with the wrong origin
])
def test_an_injected_datagram_before_the_reply_is_skipped(chrony, junk):
    # Issue 10: the first datagram used to decide the query, so one forged
    # datagram to the client's port knocked the source out (BAD_REPLY).
    # Now the client reads on until a reply validates.
    def inject(reply, request):
        bad = junk if junk is not None else reply[:24] + bytes(a ^ 0xFF for a in reply[24:32]) + reply[32:]
        return [bad, reply]
    r = _query_through(chrony, inject, timeout=2.0)
    assert abs(r.offset_ns) < 50 * MS


def test_only_invalid_datagrams_report_the_most_telling_error(chrony):
    # Garbage, then the real reply with a wrong origin: no valid reply by the
    # deadline; the error names the check that failed, not "no reply".
    err = _expect(BAD_REPLY, chrony, lambda rep, req: [b"x", rep[:24] + bytes(8) + rep[32:]])
    assert "origin" in err.message or "short" in err.message
