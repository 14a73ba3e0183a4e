"""NTS client (RFC 8915) against real chronyd NTS servers on loopback.

Tampering is done by a peers.UdpProxy on 127.0.0.2: the chronyd of the
`proxied` fixture tells NTS-KE clients (`ntsntpserver 127.0.0.2`) to send
their NTP requests there, so the client under test runs unmodified and the
proxy sees and alters chrony's real authenticated replies.
"""

import datetime
import socket
import ssl
import struct
import threading

import pytest
from cryptography import x509

import peers
from peers import expect_source_error
from potkit.sources import BAD_REPLY, DELAYED, SOURCE_AUTH, UNREACHABLE
from potkit.sources.nts import (EF_AUTHENTICATOR, EF_UNIQUE_ID, NtsSession, check_hostname,
                                nts_ke, query_nts)

MS = 1000000


def _nts(chrony, ca, **kw):
    kw.setdefault("timeout", 3.0)
    return query_nts(chrony.host, chrony.nts_ke_port, ca_file=ca.ca_file, **kw)


# --- against honest and offset servers ---------------------------------------------

def test_nts_reading_is_authenticated(chrony, test_ca):
    r = _nts(chrony, test_ca)
    assert r.kind == "nts" and r.authenticated
    assert r.stratum == 1
    assert abs(r.offset_ns) < 50 * MS
    assert r.source == "127.0.0.1:%d" % chrony.ntp_port      # port from NTS-KE
    assert r.detail["nts_ke"] == "127.0.0.1:%d" % chrony.nts_ke_port


def test_nts_faketime_server_30s_ahead(chrony_offset, test_ca):
    # NTS authenticates the server, not the truth: the offset comes through.
    r = _nts(chrony_offset, test_ca)
    assert r.authenticated
    assert abs(r.offset_ns - 30 * 10**9) < 500 * MS


def test_nts_ke_exports_keys_and_cookies(chrony, test_ca):
    ke = nts_ke(chrony.host, chrony.nts_ke_port, ca_file=test_ca.ca_file)
    assert len(ke["c2s"]) == 32 and len(ke["s2c"]) == 32 and ke["c2s"] != ke["s2c"]
    assert len(ke["cookies"]) == 8 and len(set(ke["cookies"])) == 8
    assert ke["port"] == chrony.ntp_port


def test_session_reuses_keys_and_refills_cookies(chrony, test_ca):
    s = NtsSession(chrony.host, chrony.nts_ke_port, ca_file=test_ca.ca_file)
    spent = []
    for _ in range(10):           # more queries than the 8 cookies of one KE
        if s.ke is not None:
            spent.append(s.ke["cookies"][0])          # the one this query sends
        r = s.query()
        assert r.authenticated
        # A spent cookie is never sent again (RFC 8915: unlinkability).
        assert not set(spent) & set(s.ke["cookies"])
    assert len(set(spent)) == len(spent) == 9
    assert s.handshakes == 1
    assert len(s.ke["cookies"]) == 8


# --- TLS failures ------------------------------------------------------------------

def test_wrong_ca_is_source_auth(chrony, other_ca):
    err = expect_source_error(SOURCE_AUTH, _nts, chrony, other_ca)
    assert "certificate verify failed" in err.message


def test_system_trust_does_not_trust_test_ca(chrony):
    # ca_file=None: the system store, which has never heard of our test CA.
    err = expect_source_error(SOURCE_AUTH, query_nts, chrony.host, chrony.nts_ke_port, timeout=3.0)
    assert "certificate verify failed" in err.message


def test_certificate_for_another_name_is_source_auth(test_ca):
    cert, key = test_ca.issue(("ntp.other.test",))
    with peers.start_chrony(nts_ke_port=0, cert=cert, key=key) as srv:
        err = expect_source_error(SOURCE_AUTH, _nts, srv, test_ca)
    assert "does not name" in err.message


def test_expired_certificate_is_source_auth(test_ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = test_ca.issue(("127.0.0.1",), not_before=now - datetime.timedelta(days=10),
                              not_after=now - datetime.timedelta(days=1))
    with peers.start_chrony(nts_ke_port=0, cert=cert, key=key) as srv:
        err = expect_source_error(SOURCE_AUTH, _nts, srv, test_ca)
    assert "certificate verify failed" in err.message


def test_tls_server_without_ntske_alpn_is_bad_reply(test_ca, server_cert):
    # A genuine TLS 1.3 server (right CA, right name) that does not speak NTS-KE.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*server_cert)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(100)
        except (OSError, ssl.SSLError):
            pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        err = expect_source_error(BAD_REPLY, query_nts, "127.0.0.1", port, ca_file=test_ca.ca_file, timeout=3.0)
        assert "ALPN" in err.message
    finally:
        t.join(3)
        listener.close()


def test_ke_server_hanging_up_is_unreachable(test_ca):
    # Accepts the TCP connection, then closes it: an outage, not forgery.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        conn.recv(10)
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        expect_source_error(UNREACHABLE, query_nts, "127.0.0.1", port, ca_file=test_ca.ca_file, timeout=3.0)
    finally:
        t.join(3)
        listener.close()


def test_ke_server_silent_is_unreachable(test_ca):
    listener = socket.create_server(("127.0.0.1", 0))   # accepts (backlog), never answers
    try:
        err = expect_source_error(UNREACHABLE, query_nts, "127.0.0.1", listener.getsockname()[1],
                      ca_file=test_ca.ca_file, timeout=0.5)
        assert "timed out" in err.message
    finally:
        listener.close()


def test_closed_ke_port_unreachable(test_ca):
    expect_source_error(UNREACHABLE, query_nts, "127.0.0.1", peers.free_port(), ca_file=test_ca.ca_file,
            timeout=1.0)


def test_check_hostname_rules(test_ca):
    def cert_for(*names):
        with open(test_ca.issue(names)[0], "rb") as f:
            return x509.load_pem_x509_certificate(f.read())
    c = cert_for("time.example.org", "*.pool.example.org", "192.0.2.7", "::1")
    assert check_hostname(c, "time.example.org")
    assert check_hostname(c, "TIME.Example.org.")
    assert check_hostname(c, "a.pool.example.org")
    assert not check_hostname(c, "pool.example.org")          # wildcard needs a label
    assert not check_hostname(c, "a.b.pool.example.org")      # ... exactly one
    assert not check_hostname(c, "example.org")
    assert check_hostname(c, "192.0.2.7") and check_hostname(c, "::1")
    assert not check_hostname(c, "192.0.2.8")
    assert not check_hostname(cert_for("192.0.2.7"), "time.example.org")
    # An IP written as a DNS name in the SAN does not match the IP literal.
    assert not check_hostname(cert_for("localhost"), "127.0.0.1")


# --- tampering on the NTP path -------------------------------------------------------

@pytest.fixture(scope="module")
def proxied(server_cert):
    """(chrony, proxy): NTS clients are sent to the proxy on 127.0.0.2."""
    cert, key = server_cert
    srv = peers.start_chrony(nts_ke_port=0, cert=cert, key=key, nts_ntp_server="127.0.0.2")
    proxy = peers.UdpProxy((srv.host, srv.ntp_port), host="127.0.0.2", port=srv.ntp_port)
    yield srv, proxy
    proxy.stop()
    srv.stop()


def _through(proxied, test_ca, mangle=None, delay_s=0.0, **kw):
    srv, proxy = proxied
    proxy.mangle, proxy.delay_s = mangle, delay_s
    # A rejected reply does not end the exchange (the client waits for a
    # valid one until its deadline): a short deadline keeps these tests quick.
    kw.setdefault("timeout", 1.0)
    before = proxy.requests
    try:
        return _nts(srv, test_ca, **kw)
    finally:
        proxy.mangle, proxy.delay_s = None, 0.0
        assert proxy.requests == before + 1      # the exchange went through the proxy


def _fields(packet):
    """[(type, start, end)] of the extension fields of an NTP packet."""
    out, pos = [], 48
    while pos + 4 <= len(packet):
        ftype, length = struct.unpack_from(">HH", packet, pos)
        out.append((ftype, pos, pos + length))
        pos += length
    return out


def _flip(pos):
    return lambda rep, req: rep[:pos] + bytes([rep[pos] ^ 0x01]) + rep[pos + 1:]


def test_proxy_untouched_nts_reply_accepted(proxied, test_ca):
    r = _through(proxied, test_ca)
    assert r.authenticated and r.source == "127.0.0.2:%d" % proxied[0].ntp_port


def test_tampered_transmit_timestamp_is_source_auth(proxied, test_ca):
    expect_source_error(SOURCE_AUTH, _through, proxied, test_ca, _flip(44))


def test_forged_kod_inside_authenticated_reply_is_source_auth(proxied, test_ca):
    # Header checks run only after the MAC: a forged stratum 0 is an attack.
    expect_source_error(SOURCE_AUTH, _through, proxied, test_ca,
            lambda rep, req: rep[:1] + b"\0" + rep[2:12] + b"DENY" + rep[16:])


def test_tampered_ciphertext_is_source_auth(proxied, test_ca):
    def mangle(rep, req):
        _, start, end = [f for f in _fields(rep) if f[0] == EF_AUTHENTICATOR][0]
        return _flip(end - 1)(rep, req)
    expect_source_error(SOURCE_AUTH, _through, proxied, test_ca, mangle)


def test_wrong_unique_identifier_is_source_auth(proxied, test_ca):
    def mangle(rep, req):
        _, start, end = [f for f in _fields(rep) if f[0] == EF_UNIQUE_ID][0]
        return _flip(start + 4)(rep, req)
    err = expect_source_error(SOURCE_AUTH, _through, proxied, test_ca, mangle)
    assert "unique identifier" in err.message


def test_garbled_extension_field_length_is_source_auth(proxied, test_ca):
    def mangle(rep, req):
        _, start, end = [f for f in _fields(rep) if f[0] == EF_UNIQUE_ID][0]
        return rep[:start + 2] + struct.pack(">H", 6) + rep[start + 4:]
    err = expect_source_error(SOURCE_AUTH, _through, proxied, test_ca, mangle)
    assert "extension field" in err.message


def test_stripped_authenticator_is_source_auth(proxied, test_ca):
    def mangle(rep, req):
        _, start, end = [f for f in _fields(rep) if f[0] == EF_AUTHENTICATOR][0]
        return rep[:start]
    expect_source_error(SOURCE_AUTH, _through, proxied, test_ca, mangle)


def test_plain_ntp_reply_is_source_auth(proxied, test_ca):
    # A downgrade: the attacker answers as an ordinary NTP server.
    err = expect_source_error(SOURCE_AUTH, _through, proxied, test_ca, lambda rep, req: rep[:48])
    assert "authenticator" in err.message


def test_replayed_reply_is_source_auth(proxied, test_ca):
    # Keep one authentic reply, then serve it again with the new request's
    # origin cookie and Unique Identifier copied in, so that only the MAC
    # (which covers both) can tell.
    saved = []

    def record(rep, req):
        saved.append(rep)
        return rep

    def replay(rep, req):
        old = saved[0]
        _, q_start, q_end = [f for f in _fields(req) if f[0] == EF_UNIQUE_ID][0]
        _, r_start, r_end = [f for f in _fields(old) if f[0] == EF_UNIQUE_ID][0]
        forged = old[:24] + req[40:48] + old[32:r_start] + req[q_start:q_end] + old[r_end:]
        assert len(forged) == len(old)
        return forged

    _through(proxied, test_ca, record)
    err = expect_source_error(SOURCE_AUTH, _through, proxied, test_ca, replay)
    assert "does not verify" in err.message


def test_forged_nts_nak_is_bad_reply(proxied, test_ca):
    # RFC 8915 NAK: stratum 0, "NTSN", unauthenticated by design.
    err = expect_source_error(BAD_REPLY, _through, proxied, test_ca,
                  lambda rep, req: rep[:1] + b"\0" + rep[2:12] + b"NTSN" + rep[16:48])
    assert "NAK" in err.message


def test_delayed_nts_reply_is_delayed(proxied, test_ca):
    # Authentication cannot stop an attacker who holds packets back.
    expect_source_error(DELAYED, _through, proxied, test_ca, None, 0.25, max_delay_ns=100 * MS)


def test_an_injected_forgery_before_the_reply_is_skipped(proxied, test_ca):
    # Issue 10: a datagram with a broken MAC (or none) racing the real reply
    # made the query SOURCE_AUTH. Now the client reads on until a reply
    # authenticates.
    def inject(rep, req):
        return [rep[:48], _flip(44)(rep, req), rep]
    r = _through(proxied, test_ca, inject, timeout=3.0)
    assert r.authenticated and abs(r.offset_ns) < 50 * MS


def test_a_nak_before_the_reply_does_not_drop_the_session(proxied, test_ca):
    # RFC 8915 5.7: a NAK is unauthenticated, so a client waits for a valid reply first.
    srv, proxy = proxied
    session = NtsSession(srv.host, srv.nts_ke_port, ca_file=test_ca.ca_file, timeout=3.0)
    session.query()
    proxy.mangle = lambda rep, req: [rep[:1] + b"\0" + rep[2:12] + b"NTSN" + rep[16:48], rep]
    try:
        assert session.query().authenticated
    finally:
        proxy.mangle = None
    assert session.handshakes == 1
