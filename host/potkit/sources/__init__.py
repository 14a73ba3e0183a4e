"""Time sources: each reads the time from one server and returns a Reading.

The shared vocabulary of all sources (NTP, NTS, Roughtime, HTTPS Date) and of
the synthesis that combines them (potkit.synth):

- Reading: one successful measurement, in integer nanoseconds.
- SourceError: a failed measurement, with a `kind` telling why, so that the
  synthesis can report attacks (e.g. SOURCE_AUTH) rather than mere outages.
"""
import select
import time

# SourceError kinds
UNREACHABLE = "UNREACHABLE"   # timeout, refused, DNS failure
BAD_REPLY = "BAD_REPLY"       # malformed, stratum 0/16, zero transmit, KoD ...
DELAYED = "DELAYED"           # round trip above the configured bound
SOURCE_AUTH = "SOURCE_AUTH"   # signature, MAC, certificate or TLS check failed
UNCERTAIN = "UNCERTAIN"       # a reading whose uncertainty exceeds the synthesis bound (potkit.synth)


class Deadline:
    """The one deadline of a query, on the monotonic clock: left() is the time
    still allowed, never below 0."""

    def __init__(self, timeout):
        self.timeout = timeout
        self.end = time.monotonic() + timeout

    def left(self):
        return max(0.0, self.end - time.monotonic())


def tls_call(fn, sock, deadline, wants, timed_out, *args):
    """fn(*args) on a non-blocking TLS socket, retried until it completes.

    wants: the library's (want-read, want-write) exception classes (ssl's
    for HTTPS Date, pyOpenSSL's for NTS-KE: both ask to be called again once
    the socket is readable or writable). Each wait is a select() for the
    deadline's time left; when it runs out, the SourceError that
    timed_out() returns is raised.
    """
    want_read, want_write = wants
    while True:
        try:
            return fn(*args)
        except want_read:
            waits = ([sock], [])
        except want_write:
            waits = ([], [sock])
        left = deadline.left()
        if left <= 0 or not any(select.select(waits[0], waits[1], [], left)[:2]):
            raise timed_out()


class SourceError(Exception):
    def __init__(self, kind, source, message):
        Exception.__init__(self, "%s: %s: %s" % (source, kind, message))
        self.kind = kind
        self.source = source
        self.message = message


class Reading:
    """One time measurement.

    time_ns         the server's time at the moment `local_ns` was taken,
                    in ns since the Unix epoch (for NTP: T4 + offset)
    local_ns        time.time_ns() of this host at that moment, so readings
                    taken at different moments can be compared
    uncertainty_ns  half-width of the interval the true time lies in
                    (NTP: delay/2 + dispersion; Roughtime: RADI;
                    HTTPS Date: 0.5 s + delay/2)
    """

    __slots__ = ("source", "operator", "kind", "authenticated", "time_ns", "local_ns",
                 "uncertainty_ns", "delay_ns", "stratum", "detail")

    def __init__(self, source, operator, kind, authenticated, time_ns, local_ns,
                 uncertainty_ns, delay_ns=0, stratum=None, detail=None):
        self.source = source                # "host:port" or URL
        self.operator = operator            # administrative domain, e.g. "nist.gov"
        self.kind = kind                    # "ntp" | "nts" | "roughtime" | "https"
        self.authenticated = authenticated  # NTS, Roughtime, HTTPS: True; plain NTP: False
        self.time_ns = time_ns
        self.local_ns = local_ns
        self.uncertainty_ns = uncertainty_ns
        self.delay_ns = delay_ns
        self.stratum = stratum
        self.detail = detail or {}

    @property
    def offset_ns(self):
        # Server time minus local time.
        return self.time_ns - self.local_ns

    def __repr__(self):
        return "Reading(%s %s offset=%+.6fs +-%.6fs%s)" % (
            self.kind, self.source, self.offset_ns / 1e9, self.uncertainty_ns / 1e9,
            " auth" if self.authenticated else "")
