"""HTTPS Date: the time from the Date header of a certificate-checked HTTPS reply.

Any big web site is a time source, coarse but authenticated by TLS: an
attacker who wants to move it must hold a certificate for the site, which
is a different (and more expensive) attack from spoofing NTP packets.

Resolution: the Date header (RFC 9110 section 6.6.1) carries whole seconds,
and servers write it at some moment while producing the reply. We send a
HEAD request on an already-established TLS connection (so the handshake does
not count in the round trip) and attribute the header to the midpoint of
request and reply:

    time_ns        = Date + 0.5 s    (the centre of the second it names)
    local_ns       = (t_send + t_receive) / 2
    uncertainty_ns = 0.5 s + rtt / 2

TLS or certificate failures are SOURCE_AUTH (a wrong certificate is exactly
what DNS poisoning or a route hijack looks like); no Date header or an
unparsable one is BAD_REPLY; connection problems, including a server that
hangs up mid-handshake without a TLS alert, are UNREACHABLE.

One overall deadline (`timeout`) covers connect, handshake, request and
reply: the socket is non-blocking and every wait is a select() for the time
left, so a server that trickles one byte a second cannot stretch a query
(a per-read timeout restarts with every byte). The reply head is read by
this module, at most MAX_HEAD bytes; a HEAD reply has no body to read.
"""
import datetime
import email.utils
import socket
import ssl
import time
import urllib.parse

from potkit.sources import BAD_REPLY, DELAYED, SOURCE_AUTH, UNREACHABLE, Deadline, Reading, SourceError, tls_call

NS_PER_S = 1000000000
HALF_SECOND_NS = 500000000
DEFAULT_MAX_DELAY_NS = 2000000000
USER_AGENT = "potkit-httpsdate/1"
MAX_HEAD = 16384     # status line and headers of the reply, bytes


def parse_http_date(value):
    """An HTTP-date (IMF-fixdate or the obsolete forms) -> ns since the epoch, or None."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        # asctime() form: no zone written, GMT by definition (RFC 9110 says
        # recipients accept it). "-0000" also parses without a zone but
        # means "zone unknown": refuse it.
        if value.strip().endswith("-0000"):
            return None
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return int(parsed.timestamp()) * NS_PER_S


def connection_error(e, url):
    """The SourceError for a failed connection, by the rule NTS-KE follows too.

    A TLS check that fails (certificate, hostname, protocol) is SOURCE_AUTH.
    A peer that just hangs up, before or during the handshake and without a
    TLS alert, is an outage like a reset or a timeout (UNREACHABLE): anyone
    on the path can cause it, and it proves nothing false.
    """
    if isinstance(e, ssl.SSLError) and not isinstance(e, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return SourceError(SOURCE_AUTH, url, "TLS: %s" % e)
    return SourceError(UNREACHABLE, url, str(e))


_SSL_WANTS = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


def _tls_call(fn, sock, deadline, url, *args):
    """One call on the non-blocking TLS socket, within the query's deadline."""
    return tls_call(fn, sock, deadline, _SSL_WANTS,
                    lambda: SourceError(UNREACHABLE, url, "no complete reply within the deadline of %.3f s"
                                        % deadline.timeout), *args)


def read_head(sock, deadline, url):
    """The reply's status line and headers (bytes up to the blank line), within the deadline."""
    head = b""
    while True:
        chunk = _tls_call(sock.recv, sock, deadline, url, 4096)
        if not chunk:
            raise SourceError(UNREACHABLE, url, "connection closed after %d bytes of the reply" % len(head))
        head += chunk
        end = head.find(b"\r\n\r\n")
        if end >= 0:
            return head[:end]
        if len(head) > MAX_HEAD:
            raise SourceError(BAD_REPLY, url, "reply head longer than %d bytes" % MAX_HEAD)


def parse_head(head, url):
    """(status, Date header value or None) of a reply head; BAD_REPLY if it is not HTTP/1.x."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (parts[1].isascii() and parts[1].isdigit()):
        raise SourceError(BAD_REPLY, url, "not an HTTP/1.x status line: %r" % lines[0][:60])
    dates = [v.strip() for n, _, v in (line.partition(":") for line in lines[1:]) if n.strip().lower() == "date"]
    if len(dates) > 1:
        raise SourceError(BAD_REPLY, url, "%d Date headers" % len(dates))
    return int(parts[1]), (dates[0] if dates else None)


def query_https_date(url, cafile=None, timeout=3.0, operator=None, max_delay_ns=DEFAULT_MAX_DELAY_NS):
    """HEAD `url` over verified TLS -> Reading(kind "https", authenticated True), all within `timeout` s."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("HTTPS Date needs an https:// URL, got %r" % url)
    deadline = Deadline(timeout)
    host = parts.hostname
    port = parts.port or 443
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # The default context: CA bundle (or `cafile` alone), hostname check,
    # TLS >= 1.2 as the ssl module sets it.
    context = ssl.create_default_context(cafile=cafile)
    request = ("HEAD %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nCache-Control: no-cache\r\n"
               "Connection: close\r\n\r\n" % (path, parts.netloc.rpartition("@")[2], USER_AGENT)).encode("ascii")
    try:
        raw = socket.create_connection((host, port), timeout=max(deadline.left(), 0.001))
    except (OSError, UnicodeError) as e:
        raise connection_error(e, url) if isinstance(e, OSError) else SourceError(UNREACHABLE, url, str(e))
    try:
        raw.setblocking(False)
        try:
            sock = context.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        except OSError as e:
            raise connection_error(e, url)
        try:
            _tls_call(sock.do_handshake, sock, deadline, url)
            t1 = time.time_ns()
            sent = 0
            while sent < len(request):
                sent += _tls_call(sock.send, sock, deadline, url, request[sent:])
            head = read_head(sock, deadline, url)
            t4 = time.time_ns()
        except OSError as e:
            raise connection_error(e, url)
        finally:
            sock.close()
    finally:
        raw.close()
    status, date = parse_head(head, url)
    if date is None:
        raise SourceError(BAD_REPLY, url, "no Date header (HTTP %d)" % status)
    date_ns = parse_http_date(date)
    if date_ns is None:
        raise SourceError(BAD_REPLY, url, "unparsable Date header %r" % date)
    delay = t4 - t1
    if delay > max_delay_ns:
        raise SourceError(DELAYED, url, "round trip %.3f s" % (delay / 1e9))
    return Reading(url, operator or host, "https", True, date_ns + HALF_SECOND_NS, (t1 + t4) // 2,
                   HALF_SECOND_NS + delay // 2, delay_ns=delay,
                   detail={"date": date, "status": status})
