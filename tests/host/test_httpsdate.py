"""HTTPS Date against Python's own HTTPS server on loopback, with the test CA
of conftest.py (peers.TestCA)."""
import datetime
import socket
import threading
import time

import pytest

import peers
from peers import expect_source_error
from potkit.sources import BAD_REPLY, SOURCE_AUTH, UNREACHABLE
from potkit.sources.httpsdate import parse_http_date, query_https_date


def test_good_server(test_ca, server_cert):
    with peers.HttpsServer(*server_cert) as srv:
        before = time.time_ns()
        r = query_https_date(srv.url, cafile=test_ca.ca_file, timeout=3.0, operator="example.org")
        after = time.time_ns()
    assert r.kind == "https" and r.authenticated and r.operator == "example.org"
    assert before <= r.local_ns <= after
    assert r.uncertainty_ns >= 500000000
    assert r.uncertainty_ns == 500000000 + r.delay_ns // 2
    # Same clock on both ends: the true offset (0) lies within the uncertainty.
    assert abs(r.offset_ns) <= r.uncertainty_ns
    assert r.time_ns % 10**9 == 500000000       # whole seconds, attributed to the middle


def test_shifted_server_is_measured(test_ca, server_cert):
    with peers.HttpsServer(*server_cert, shift_s=30) as srv:
        r = query_https_date(srv.url, cafile=test_ca.ca_file)
    assert abs(r.offset_ns - 30 * 10**9) <= r.uncertainty_ns


def test_wrong_ca_is_source_auth(other_ca, server_cert):
    with peers.HttpsServer(*server_cert) as srv:
        e = expect_source_error(SOURCE_AUTH, query_https_date, srv.url, cafile=other_ca.ca_file)
    assert "TLS" in e.message


def test_system_ca_rejects_test_certificate(server_cert):
    with peers.HttpsServer(*server_cert) as srv:
        expect_source_error(SOURCE_AUTH, query_https_date, srv.url)


def test_wrong_name_is_source_auth(test_ca):
    cert = test_ca.issue(("time.example.net",))
    with peers.HttpsServer(*cert) as srv:
        expect_source_error(SOURCE_AUTH, query_https_date, srv.url, cafile=test_ca.ca_file)


def test_expired_certificate_is_source_auth(test_ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = test_ca.issue(("127.0.0.1",), not_before=now - datetime.timedelta(days=3),
                         not_after=now - datetime.timedelta(days=1))
    with peers.HttpsServer(*cert) as srv:
        expect_source_error(SOURCE_AUTH, query_https_date, srv.url, cafile=test_ca.ca_file)


def test_missing_date_is_bad_reply(test_ca, server_cert):
    with peers.HttpsServer(*server_cert, send_date=False) as srv:
        e = expect_source_error(BAD_REPLY, query_https_date, srv.url, cafile=test_ca.ca_file)
    assert "Date" in e.message


def test_nothing_listening_is_unreachable(test_ca):
    url = "https://127.0.0.1:%d/" % peers.free_port()
    expect_source_error(UNREACHABLE, query_https_date, url, cafile=test_ca.ca_file, timeout=1.0)


def test_server_hanging_up_in_the_handshake_is_unreachable(test_ca):
    # Reads the ClientHello, then closes without a TLS alert: an outage, not
    # a failed check (the same rule as NTS-KE).
    listener = socket.create_server((peers.LOOPBACK, 0))

    def serve():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.shutdown(socket.SHUT_WR)
            conn.recv(65536)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        url = "https://127.0.0.1:%d/" % listener.getsockname()[1]
        expect_source_error(UNREACHABLE, query_https_date, url, cafile=test_ca.ca_file, timeout=3.0)
    finally:
        t.join(3)
        listener.close()


def test_parse_http_date():
    t = 784111777 * 10**9     # RFC 9110's example instant, in its three forms
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == t
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == t
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == t
    for bad in ("", "yesterday", "Sun, 06 Nov 1994 08:49:37 -0000"):
        assert parse_http_date(bad) is None


def test_only_https_urls():
    with pytest.raises(ValueError):
        query_https_date("http://127.0.0.1/")


def test_a_trickling_server_cannot_stretch_the_query(test_ca, server_cert):
    # A valid reply sent one byte every 0.2 s: a per-read timeout restarts
    # with every byte, so the query used to last as long as the server liked
    # (a 1 s timeout took 19.4 s for a 97-byte reply; a thread and a socket
    # per synthesis stayed behind). The overall deadline ends it.
    with peers.TricklingHttpsServer(*server_cert, interval_s=0.2, reply_bytes=200) as srv:
        outcome = []
        t = threading.Thread(target=lambda: outcome.append(
            expect_source_error(UNREACHABLE, query_https_date, srv.url, cafile=test_ca.ca_file, timeout=1.0)))
        t.start()
        t.join(20)     # a guard for a hung query, not a timing check: a deadline-less query runs ~60 s
        assert not t.is_alive(), "the query is still running long after its deadline"
        assert outcome and "deadline" in outcome[0].message, outcome
        # The client closed its socket: the server stops at its next send.
        end = time.monotonic() + 10
        while srv.open_now and time.monotonic() < end:
            time.sleep(0.05)
        assert srv.open_now == 0 and srv.connections == 1
        assert srv.bytes_sent < len(srv.reply)


def test_reply_head_is_bounded(test_ca, server_cert):
    with peers.TricklingHttpsServer(*server_cert, interval_s=0, reply_bytes=20000) as srv:
        e = expect_source_error(BAD_REPLY, query_https_date, srv.url, cafile=test_ca.ca_file, timeout=5.0)
    assert "longer than" in e.message
