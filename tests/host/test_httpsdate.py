"""HTTPS Date against Python's own HTTPS server on loopback, with the test CA
of conftest.py (peers.TestCA)."""
import datetime
import http.server
import ssl
import threading
import time

import pytest

import peers
from potkit.sources import BAD_REPLY, SOURCE_AUTH, UNREACHABLE, SourceError
from potkit.sources.httpsdate import parse_http_date, query_https_date


class DateHandler(http.server.BaseHTTPRequestHandler):
    shift_s = 0          # the server's clock error
    send_date = True

    def date_time_string(self, timestamp=None):
        return http.server.BaseHTTPRequestHandler.date_time_string(self, time.time() + self.shift_s)

    def send_response(self, code, message=None):
        if self.send_date:
            http.server.BaseHTTPRequestHandler.send_response(self, code, message)
        else:   # status line and Server only: no Date header
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Server", self.version_string())

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class HttpsServer:
    """A real TLS HTTP server in a thread; `handler` decides what Date it sends."""

    def __init__(self, cert, key, shift_s=0, send_date=True):
        handler = type("Handler", (DateHandler,), {"shift_s": shift_s, "send_date": send_date})
        self.httpd = http.server.ThreadingHTTPServer((peers.LOOPBACK, 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = "https://127.0.0.1:%d/" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(2)


def expect_error(kind, fn, *a, **kw):
    with pytest.raises(SourceError) as info:
        fn(*a, **kw)
    assert info.value.kind == kind, str(info.value)
    return info.value


def test_good_server(test_ca, server_cert):
    with HttpsServer(*server_cert) as srv:
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
    with HttpsServer(*server_cert, shift_s=30) as srv:
        r = query_https_date(srv.url, cafile=test_ca.ca_file)
    assert abs(r.offset_ns - 30 * 10**9) <= r.uncertainty_ns


def test_wrong_ca_is_source_auth(other_ca, server_cert):
    with HttpsServer(*server_cert) as srv:
        e = expect_error(SOURCE_AUTH, query_https_date, srv.url, cafile=other_ca.ca_file)
    assert "TLS" in e.message


def test_system_ca_rejects_test_certificate(server_cert):
    with HttpsServer(*server_cert) as srv:
        expect_error(SOURCE_AUTH, query_https_date, srv.url)


def test_wrong_name_is_source_auth(test_ca):
    cert = test_ca.issue(("time.example.net",))
    with HttpsServer(*cert) as srv:
        expect_error(SOURCE_AUTH, query_https_date, srv.url, cafile=test_ca.ca_file)


def test_expired_certificate_is_source_auth(test_ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = test_ca.issue(("127.0.0.1",), not_before=now - datetime.timedelta(days=3),
                         not_after=now - datetime.timedelta(days=1))
    with HttpsServer(*cert) as srv:
        expect_error(SOURCE_AUTH, query_https_date, srv.url, cafile=test_ca.ca_file)


def test_missing_date_is_bad_reply(test_ca, server_cert):
    with HttpsServer(*server_cert, send_date=False) as srv:
        e = expect_error(BAD_REPLY, query_https_date, srv.url, cafile=test_ca.ca_file)
    assert "Date" in e.message


def test_nothing_listening_is_unreachable(test_ca):
    url = "https://127.0.0.1:%d/" % peers.free_port()
    expect_error(UNREACHABLE, query_https_date, url, cafile=test_ca.ca_file, timeout=1.0)


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
