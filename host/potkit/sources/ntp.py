"""SNTPv4 client (RFC 5905 / RFC 4330), in integer nanoseconds.

One request, one reply, four timestamps:

    T1  our clock when the request left      (time.time_ns(), never sent)
    T2  server clock when the request arrived (reply "receive" field)
    T3  server clock when the reply left      (reply "transmit" field)
    T4  our clock when the reply arrived      (time.time_ns())

    offset = ((T2 - T1) + (T3 - T4)) / 2      server minus us
    delay  = (T4 - T1) - (T3 - T2)            network round trip

The request carries 8 random bytes in its transmit field instead of our
clock (RFC 9109 "data minimisation"): the server must echo them in its
origin field, so they are a cookie against off-path spoofed replies and
they leak nothing about our clock.

The packet layer here (build_request, NtpReply, udp_exchange,
reading_from_reply) is shared with the NTS client (nts.py), which adds
extension fields and authentication around the same exchange.
"""

import os
import socket
import struct
import time

from potkit.sources import (BAD_REPLY, DELAYED, SOURCE_AUTH, UNREACHABLE, Reading,
                            SourceError)

NTP_VERSION = 4
MODE_CLIENT = 3
MODE_SERVER = 4
HEADER_LEN = 48

# Seconds from the NTP prime epoch (1900-01-01) to the Unix epoch (1970-01-01).
NTP_UNIX_OFFSET_S = 2208988800
NS_PER_S = 1000000000

# A reply whose round trip exceeds this is DELAYED: the delay bounds how far
# an on-path attacker who holds packets back can shift the offset (delay/2).
DEFAULT_MAX_DELAY_NS = 1000000000

_HEADER = struct.Struct(">BBbbII4sQQQQ")


# --- timestamp conversions (exact, integer only) -----------------------------

def unix_ns_to_ntp(unix_ns):
    """Unix ns -> 64-bit NTP timestamp (32.32 fixed point, era folded in).

    The fraction is rounded UP so that ntp_to_unix_ns() gives back exactly
    unix_ns: 2**32 fraction units per second is finer than 10**9 ns, so
    each ns value owns at least one fraction value and the ceiling is it.
    """
    seconds, ns = divmod(unix_ns + NTP_UNIX_OFFSET_S * NS_PER_S, NS_PER_S)
    fraction = -((-ns << 32) // NS_PER_S)          # ceil(ns * 2**32 / 10**9)
    return ((seconds & 0xFFFFFFFF) << 32) | fraction


def ntp_to_unix_ns(ntp64, pivot_ns=None):
    """64-bit NTP timestamp -> Unix ns (fraction truncated toward -inf).

    NTP timestamps carry seconds modulo 2**32 (an "era" is ~136 years; era 1
    starts 2036-02-07). The era is chosen so that the result lies within
    +-68 years of pivot_ns (default: our clock now), RFC 5905 section 6.
    """
    if pivot_ns is None:
        pivot_ns = time.time_ns()
    seconds = ntp64 >> 32
    ns = ((ntp64 & 0xFFFFFFFF) * NS_PER_S) >> 32
    pivot_s = pivot_ns // NS_PER_S + NTP_UNIX_OFFSET_S
    # seconds + k * 2**32 closest to pivot_s
    delta = (seconds - pivot_s) & 0xFFFFFFFF
    if delta >= 1 << 31:
        delta -= 1 << 32
    ntp_s = pivot_s + delta
    return (ntp_s - NTP_UNIX_OFFSET_S) * NS_PER_S + ns


def short_to_ns(u32):
    """NTP short format (16.16 seconds: root delay, root dispersion) -> ns."""
    return (u32 * NS_PER_S) >> 16


# --- packets ------------------------------------------------------------------

def new_cookie():
    """8 random bytes for the transmit field; never zero (zero means "none")."""
    while True:
        cookie = os.urandom(8)
        if cookie != bytes(8):
            return cookie


def build_request(cookie):
    """48-byte client request: LI 0, VN 4, mode 3, all zero but the cookie."""
    return bytes([(0 << 6) | (NTP_VERSION << 3) | MODE_CLIENT]) + bytes(39) + cookie


class NtpReply:
    """The parsed 48-byte header of a reply; `extensions` is what follows."""

    __slots__ = ("leap", "version", "mode", "stratum", "poll", "precision",
                 "root_delay_ns", "root_dispersion_ns", "refid", "reference",
                 "origin", "receive", "transmit", "extensions", "raw")

    def __init__(self, data, source):
        if len(data) < HEADER_LEN:
            raise SourceError(BAD_REPLY, source, "short packet (%d bytes)" % len(data))
        (first, self.stratum, self.poll, self.precision, root_delay, root_disp,
         self.refid, self.reference, origin, self.receive, self.transmit) = \
            _HEADER.unpack_from(data, 0)
        self.leap = first >> 6
        self.version = (first >> 3) & 7
        self.mode = first & 7
        self.root_delay_ns = short_to_ns(root_delay)
        self.root_dispersion_ns = short_to_ns(root_disp)
        self.origin = struct.pack(">Q", origin)
        self.extensions = bytes(data[HEADER_LEN:])
        self.raw = bytes(data)

    def kiss_code(self):
        """The 4-letter kiss-o'-death code (stratum 0), e.g. 'RATE', 'DENY'."""
        return self.refid.rstrip(b"\0").decode("ascii", "replace")


def check_origin(reply, cookie, source):
    # The echo of our random transmit bytes: an off-path forger must guess
    # 64 random bits. Compared with == : the cookie is not a long-term secret
    # and a wrong guess burns this one request only, so timing leaks nothing.
    if reply.origin != cookie:
        raise SourceError(BAD_REPLY, source, "origin timestamp does not match our request")


def check_header(reply, source):
    """The RFC 5905 / 4330 sanity checks of a server reply, in this order."""
    if reply.version != NTP_VERSION:
        raise SourceError(BAD_REPLY, source, "version %d, expected %d" % (reply.version, NTP_VERSION))
    if reply.mode != MODE_SERVER:
        raise SourceError(BAD_REPLY, source, "mode %d, expected 4 (server)" % reply.mode)
    if reply.stratum == 0:
        raise SourceError(BAD_REPLY, source, "kiss-o'-death %s" % reply.kiss_code())
    if reply.stratum >= 16:
        raise SourceError(BAD_REPLY, source, "stratum %d: server unsynchronised" % reply.stratum)
    if reply.leap == 3:
        raise SourceError(BAD_REPLY, source, "leap indicator 3: server unsynchronised")
    if reply.transmit == 0:
        raise SourceError(BAD_REPLY, source, "zero transmit timestamp")
    if reply.receive == 0:
        raise SourceError(BAD_REPLY, source, "zero receive timestamp")


def reading_from_reply(reply, t1, t4, source, operator, kind, authenticated,
                       max_delay_ns, detail=None):
    """Offset, delay and uncertainty of a checked reply, as a Reading."""
    t2 = ntp_to_unix_ns(reply.receive, t1)
    t3 = ntp_to_unix_ns(reply.transmit, t1)
    if t3 < t2:
        raise SourceError(BAD_REPLY, source, "transmit timestamp before receive timestamp")
    delay = (t4 - t1) - (t3 - t2)
    if delay < 0:
        # The server claims to have held the packet longer than the whole
        # round trip took: its timestamps are not to be trusted.
        raise SourceError(BAD_REPLY, source, "negative round-trip delay %d ns" % delay)
    if delay > max_delay_ns:
        raise SourceError(DELAYED, source, "round trip %.6f s above the bound %.6f s"
                          % (delay / 1e9, max_delay_ns / 1e9))
    offset = ((t2 - t1) + (t3 - t4)) // 2
    uncertainty = delay // 2 + reply.root_dispersion_ns + reply.root_delay_ns // 2
    info = {"refid": reply.refid, "leap": reply.leap,
            "root_delay_ns": reply.root_delay_ns,
            "root_dispersion_ns": reply.root_dispersion_ns,
            "t1": t1, "t2": t2, "t3": t3, "t4": t4}
    if detail:
        info.update(detail)
    return Reading(source, operator, kind, authenticated, t4 + offset, t4,
                   uncertainty, delay_ns=delay, stratum=reply.stratum, detail=info)


# --- transport ----------------------------------------------------------------

# When no datagram validates by the deadline, the error reported is the most
# telling one seen: a failed check of a signature or MAC first (an attack
# signal), then a malformed reply, then a delayed one.
_ERROR_RANK = {SOURCE_AUTH: 3, BAD_REPLY: 2, DELAYED: 1}


def udp_exchange(host, port, packet, timeout, source, accept, max_reply=2048):
    """Send one datagram; read replies until one is accepted or `timeout` s have passed.

    accept(data, t1, t4) checks one datagram and returns what the caller
    wants from it, or raises SourceError if it is not a valid reply to this
    request. An invalid datagram does not end the exchange: anyone who can
    send a datagram with the server's address (an off-path forger guessing
    the port, an observer of the request) could otherwise knock a source
    out of every query with one bad packet. Reading goes on until a reply
    validates or the deadline passes; then the most telling rejection
    (_ERROR_RANK) is raised, or UNREACHABLE if nothing came.

    Returns (accepted value, T1, T4): time.time_ns() just before sending
    and just after receiving the accepted datagram. The socket is
    connected, so the kernel drops datagrams from any other address.
    Shared by NTP, NTS and Roughtime.
    """
    try:
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        raise SourceError(UNREACHABLE, source, "cannot resolve: %s" % e)
    family, socktype, proto, _, address = infos[0]
    deadline = time.monotonic() + timeout
    rejected = None
    sock = socket.socket(family, socktype, proto)
    try:
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            t1 = time.time_ns()
            sock.send(packet)
        except OSError as e:
            raise SourceError(UNREACHABLE, source, "network error: %s" % e)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                data = sock.recv(max_reply)
            except socket.timeout:
                break
            except OSError as e:
                # An ICMP error (port unreachable): the host's kernel answering
                # for a server that is not there. It ends the exchange, as
                # waiting would make every synthesis with a dead source last
                # the whole timeout; forging one takes the client's port and
                # the quoted request header, which the kernel checks.
                raise SourceError(UNREACHABLE, source, "network error: %s" % e)
            t4 = time.time_ns()
            try:
                return accept(data, t1, t4), t1, t4
            except SourceError as e:
                if rejected is None or _ERROR_RANK.get(e.kind, 0) > _ERROR_RANK.get(rejected.kind, 0):
                    rejected = e
    finally:
        sock.close()
    if rejected is not None:
        raise rejected
    raise SourceError(UNREACHABLE, source, "no reply within %.3f s" % timeout)


def format_source(host, port):
    """host:port, an IPv6 literal in brackets ("[::1]:123")."""
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def query_ntp(host, port=123, timeout=2.0, max_delay_ns=DEFAULT_MAX_DELAY_NS, operator=None):
    """Ask one (unauthenticated) NTP server for the time: a Reading, or SourceError."""
    source = format_source(host, port)
    cookie = new_cookie()

    def accept(data, t1, t4):
        reply = NtpReply(data, source)
        check_origin(reply, cookie, source)
        check_header(reply, source)
        return reading_from_reply(reply, t1, t4, source, operator or host, "ntp", False, max_delay_ns)

    return udp_exchange(host, port, build_request(cookie), timeout, source, accept)[0]
