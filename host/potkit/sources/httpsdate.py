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
"""
import datetime
import email.utils
import http.client
import ssl
import time
import urllib.parse

from potkit.sources import BAD_REPLY, DELAYED, SOURCE_AUTH, UNREACHABLE, Reading, SourceError

NS_PER_S = 1000000000
HALF_SECOND_NS = 500000000
DEFAULT_MAX_DELAY_NS = 2000000000
USER_AGENT = "potkit-httpsdate/1"


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


def query_https_date(url, cafile=None, timeout=3.0, operator=None, max_delay_ns=DEFAULT_MAX_DELAY_NS):
    """HEAD `url` over verified TLS -> Reading(kind "https", authenticated True)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("HTTPS Date needs an https:// URL, got %r" % url)
    host = parts.hostname
    port = parts.port or 443
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # The default context: CA bundle (or `cafile` alone), hostname check,
    # TLS >= 1.2 as the ssl module sets it.
    context = ssl.create_default_context(cafile=cafile)
    conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    try:
        try:
            conn.connect()
        except OSError as e:
            raise connection_error(e, url)
        try:
            t1 = time.time_ns()
            conn.request("HEAD", path, headers={"User-Agent": USER_AGENT, "Cache-Control": "no-cache"})
            response = conn.getresponse()
            t4 = time.time_ns()
            date = response.getheader("Date")
            response.read()
        except (OSError, http.client.HTTPException) as e:
            raise connection_error(e, url)
    finally:
        conn.close()
    if date is None:
        raise SourceError(BAD_REPLY, url, "no Date header (HTTP %d)" % response.status)
    date_ns = parse_http_date(date)
    if date_ns is None:
        raise SourceError(BAD_REPLY, url, "unparsable Date header %r" % date)
    delay = t4 - t1
    if delay > max_delay_ns:
        raise SourceError(DELAYED, url, "round trip %.3f s" % (delay / 1e9))
    return Reading(url, operator or host, "https", True, date_ns + HALF_SECOND_NS, (t1 + t4) // 2,
                   HALF_SECOND_NS + delay // 2, delay_ns=delay,
                   detail={"date": date, "status": response.status})
