"""`potkit serve`: the PoT service.

One asyncio event loop serves
- HTTP/1.1 with keep-alive and pipelining, parsed by the small
  HttpProtocol below (no framework: per request it is a find, a few splits
  and one write; the crypto dominates, and one core serves about 5,000
  issue+verify requests per second);
- a TCP and a UDP endpoint for boards: a challenge frame in, a 143-byte
  challenge-mode record out.
The wire formats are in docs/spec.md sections 7.5 and 7.6.

Why one process: the verifier's replay cache must see every record; worker
processes behind SO_REUSEPORT would each have their own cache, and a record
could be accepted once per worker. Issuing and verifying are CPU work done
inline in the loop (tens of microseconds, shorter than a thread hand-off).
The timebase refreshes in its own thread (time sources are network I/O).
The command is potkit.commands.serve.
"""
import asyncio
import collections
import heapq
import json
import sys
import time
import traceback

from pot.spec import MAX_CTX as MAX_CTX_LEN, TIER_NAMES
from potkit import PotkitError
from potkit.auditlog import LogUnavailable
from potkit.auth import context_device
from potkit.issuer import make_verifier, onchain_anchor, parse_tier, verdict_names
from potkit.timebase import TimeBaseUnavailable

MAX_BODY = 4096          # bytes of JSON; a verify request is ~400
MAX_HEADER = 8192        # request line + headers
IDLE_TIMEOUT_S = 60.0    # an idle keep-alive connection is closed after this
HEADER_TIMEOUT_S = 10.0  # a request's line and headers (a board frame) must arrive within this
BODY_TIMEOUT_S = 10.0    # and its body within this, after the headers: else 408
MAX_PER_CLIENT = 64      # connections from one address
TOKEN_WAIT_S = 2.0       # board TCP: a frame whose token field has not begun this long after its ctx gets error 5
# Replay-cache entries: records accepted per tier window. 300,000 covers
# 5,000 T0 records/s for their 60 s window; about 250 bytes each when full.
DEFAULT_CACHE_CAPACITY = 300000
BOARD_FRAME_MIN = 34     # challenge(32) tier(1) ctx_len(1)
# No amplification: a reply (<= 143 bytes) is never larger than its request.
# No reflection: a request is at least 144 bytes, so no reply of any issuer
# (a 143-byte record, a 2-byte error) is ever a valid request to another.
UDP_MIN_REQUEST = 144
UDP_MAX_REQUEST = 1232

# Board error replies: 0xEE then one code byte.
BOARD_ERR_FRAME = 1         # malformed frame (length, padding)
BOARD_ERR_TIER = 2          # tier > 3
BOARD_ERR_UNAVAILABLE = 3   # the timebase refuses (no trusted time now)
BOARD_ERR_INTERNAL = 4
BOARD_ERR_AUTH = 5          # no valid token, or the context is outside its scope

REASONS = {100: "Continue", 200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed",
           408: "Request Timeout", 413: "Content Too Large", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
           505: "HTTP Version Not Supported"}

JSON_TYPE = b"application/json"
METRICS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class HttpError(Exception):
    def __init__(self, status, reason, close=False, headers=()):
        Exception.__init__(self, reason)
        self.status = status
        self.reason = reason
        self.close = close
        self.headers = headers


def _hex_field(obj, name, length=None, required=True, max_len=None):
    v = obj.get(name)
    if v is None:
        if required:
            raise HttpError(400, "missing field %r" % name)
        return None
    if not isinstance(v, str):
        raise HttpError(400, "field %r must be a hex string" % name)
    try:
        b = bytes.fromhex(v)
    except ValueError:
        raise HttpError(400, "field %r is not valid hex" % name)
    if length is not None and len(b) != length:
        raise HttpError(400, "field %r must be %d bytes (got %d)" % (name, length, len(b)))
    if max_len is not None and len(b) > max_len:
        raise HttpError(400, "field %r must be at most %d bytes (got %d)" % (name, max_len, len(b)))
    return b


def _json_body(body, fields=None):
    """The request object; 400 for bad JSON (a 2,000-deep array included:
    RecursionError), a non-object, or a field not in `fields` (a typo such
    as "chalenge" must not be ignored)."""
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise HttpError(400, "bad JSON: %s" % (str(e)[:100] if not isinstance(e, RecursionError)
                                                else "nested too deeply"))
    if not isinstance(obj, dict):
        raise HttpError(400, "the body must be a JSON object")
    if fields is not None:
        extra = sorted(set(obj) - set(fields))
        if extra:
            raise HttpError(400, "unknown field(s) %s; the fields are %s"
                            % (", ".join(repr(k[:40]) for k in extra), ", ".join(fields)))
    return obj


# --- logging -----------------------------------------------------------------
class LogLimiter:
    """Rate-limited log lines: at most one line per key and `interval_s`.

    Whatever a client can trigger repeatedly (a bug path, EMFILE on accept)
    is logged through here, so an attacker cannot turn requests into
    megabytes of log: the first occurrence is written in full (one line,
    plus the traceback for a bug), later ones within the interval are only
    counted and the count is written with the next line of that key.
    """

    def __init__(self, interval_s=10.0, stream=None, clock=time.monotonic):
        self.interval_s = interval_s
        self.stream = stream
        self.clock = clock
        self._last = {}        # key -> monotonic time of the last line written
        self._suppressed = {}  # key -> lines not written since
        self.written = 0

    def log(self, key, text, exc_info=False):
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        n = self._suppressed.pop(key, 0)
        if len(self._last) > 1000:  # keys are few; never let them grow without bound
            self._last.clear()
        self._last[key] = now
        stream = self.stream or sys.stderr
        line = "potkit serve: %s" % text
        if n:
            line += " (%d more like this not logged)" % n
        if exc_info:
            line += "\n" + traceback.format_exc().rstrip()
        print(line, file=stream, flush=True)
        self.written += 1
        return True

    def loop_exception_handler(self, loop, context):
        """For loop.set_exception_handler: asyncio's own errors (e.g. EMFILE on accept), rate-limited."""
        exc = context.get("exception")
        msg = context.get("message", "event loop error")
        key = (msg, type(exc).__name__ if exc else None)
        self.log(key, "%s%s" % (msg, ": %s: %s" % (type(exc).__name__, exc) if exc else ""))


# --- metrics -----------------------------------------------------------------
class Metrics:
    """The service's counters, exposed through prometheus-client at scrape time.

    Plain ints, not prometheus_client.Counter: the event-loop thread is
    their only writer, so they need no lock, and `n += 1` costs a fraction
    of a Counter's locked inc() on a path run thousands of times a second.
    """

    def __init__(self, timebase, expose_detail=False):
        from prometheus_client import CollectorRegistry

        self.names = verdict_names()
        self.issued = {"http": 0, "tcp": 0, "udp": 0}
        self.verdicts = [0] * len(self.names)
        self.refused = 0
        self.unauthorized = 0
        self.errors = {}  # (transport, status) -> count
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.registry.register(TimebaseCollector(timebase, expose_detail))

    def verdict(self, code):
        self.verdicts[code] += 1

    def error(self, transport, status):
        key = (transport, str(status))
        self.errors[key] = self.errors.get(key, 0) + 1

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        m = CounterMetricFamily("pot_issued", "PoT records issued", labels=["transport"])
        for t, n in self.issued.items():
            m.add_metric([t], n)
        yield m
        yield CounterMetricFamily("pot_verified", "records that verified OK", value=self.verdicts[0])
        m = CounterMetricFamily("pot_rejected", "records rejected by the verifier, by verdict", labels=["verdict"])
        for code in range(1, len(self.names)):
            m.add_metric([self.names[code]], self.verdicts[code])
        yield m
        yield CounterMetricFamily("pot_refused", "requests refused because the timebase had no trusted time",
                                  value=self.refused)
        yield CounterMetricFamily("pot_unauthorized", "issue requests refused: no valid token for the context",
                                  value=self.unauthorized)
        m = CounterMetricFamily("pot_request_errors", "requests answered with an error, by transport and status",
                                labels=["transport", "status"])
        for (t, st), n in sorted(self.errors.items()):
            m.add_metric([t, st], n)
        yield m


class TimebaseCollector:
    """Synthesis and per-source gauges, read from the timebase at scrape time."""

    def __init__(self, timebase, expose_detail=False):
        self.timebase = timebase
        self.expose_detail = expose_detail

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        tb = self.timebase
        st = tb.status()
        yield GaugeMetricFamily("pot_timebase_ok", "1 if the service can issue now", value=1 if st["ok"] else 0)
        yield CounterMetricFamily("pot_synthesis_refreshes", "successful time syntheses", value=st["refreshes"])
        yield CounterMetricFamily("pot_synthesis_failures", "aborted time syntheses", value=st["failures"])
        if st["ok"]:
            yield GaugeMetricFamily("pot_synthesis_confidence_ppm", "confidence of the current synthesis",
                                    value=st["confidence_ppm"])
            yield GaugeMetricFamily("pot_synthesis_sources", "sources in the current synthesis",
                                    value=st["source_count"])
            yield GaugeMetricFamily("pot_synthesis_age_seconds", "age of the current synthesis", value=st["age_s"])
            yield GaugeMetricFamily("pot_synthesis_uncertainty_seconds",
                                    "uncertainty now, drift over the age included", value=st["uncertainty_ns"] / 1e9)
        alarms = GaugeMetricFamily("pot_synthesis_alarms", "alarms of the last synthesis attempt, by kind",
                                   labels=["kind"])
        counts = {}
        for a in getattr(tb.last_attempt, "alarms", None) or ():
            counts[a[0]] = counts.get(a[0], 0) + 1
        for kind, n in sorted(counts.items()):
            alarms.add_metric([str(kind)], n)
        yield alarms
        if not self.expose_detail:
            # Source addresses, offsets and health tell an attacker which
            # source to attack and how far it may go: operators only.
            return
        offset = GaugeMetricFamily("pot_source_offset_seconds", "server time minus local time, per source",
                                   labels=["source", "operator", "kind"])
        unc = GaugeMetricFamily("pot_source_uncertainty_seconds", "uncertainty of the last reading, per source",
                                labels=["source", "operator", "kind"])
        health = GaugeMetricFamily("pot_source_healthy", "1 if the source's last reading was usable",
                                   labels=["source", "operator"])
        for src in source_health(tb.last_attempt):
            labels = [src["source"], src.get("operator", ""), src.get("kind", "")]
            if src.get("offset_ns") is not None:
                offset.add_metric(labels, src["offset_ns"] / 1e9)
                unc.add_metric(labels, src["uncertainty_ns"] / 1e9)
            health.add_metric([src["source"], src["operator"]], 1 if src["healthy"] else 0)
        yield offset
        yield unc
        yield health


def source_health(attempt):
    """Per-source dicts from the last synthesis attempt: the adapter to potkit.synth.

    A Synthesis has `used` (agreeing), `redundant` (a second server of an
    operator already used), `isolated` (disagreeing: alarms) readings and
    `errors` (SourceError: no usable reading). A SynthesisError (the
    attempt aborted) carries `readings` and `errors`: nothing agreed, so
    no source counts as healthy.
    """
    out = []
    if attempt is None:
        return out

    def add(r, healthy):
        out.append({"source": str(r.source), "operator": str(r.operator or ""), "kind": str(r.kind or ""),
                    "offset_ns": r.offset_ns, "uncertainty_ns": r.uncertainty_ns, "healthy": healthy})

    if hasattr(attempt, "used"):
        for r in attempt.used:
            add(r, True)
        for r in getattr(attempt, "redundant", ()):
            add(r, True)
        for r in getattr(attempt, "isolated", ()):
            add(r, False)
    else:
        for r in getattr(attempt, "readings", ()):
            add(r, False)
    for e in getattr(attempt, "errors", ()):
        out.append({"source": str(getattr(e, "source", "?")), "operator": str(getattr(e, "operator", "") or ""),
                    "kind": str(getattr(e, "kind", "")), "healthy": False})
    return out


# --- verification state for many clients ------------------------------------------
def cache_partition(ctx):
    """The replay-cache partition of a context: its device, or the context itself.

    A device context and the stamped-message contexts of that device
    (spec 2.7) share the device's partition: a token for one device can
    mint any number of message contexts, and must not use more room by it.
    Any other context is a partition of its own.
    """
    dev = context_device(ctx)
    return b"d" + dev if dev is not None else b"c" + bytes(ctx)


class HostNonceCache:
    """pot.nonces.NonceCache's interface (lookup/store/live) on a dict and a heap, in partitions.

    The device cache scans its slots linearly, right for tens of entries; a
    service accepts thousands of records per second, each remembered for its
    tier window (60 s for T0), so it needs O(1) lookups. Same rules: an entry
    lives until its expiry, and a cache full of live entries fails closed
    (FULL -> the verifier answers BUSY), never evicting a live nonce.

    Partitions (cache_partition: one per device, or per other context): the
    verifier's lookup and store act on `self.partition`, set by the caller
    for each record. At most `capacity` live entries in all (bounded
    memory) and at most `per_partition` in one, so a flood of records for
    one device fills its own share and leaves every other device room: it
    takes capacity / per_partition flooded partitions to fill the cache.
    A nonce is remembered per partition (a replay is the same record, so
    the same context).
    """

    def __init__(self, capacity, per_partition=None):
        from pot.nonces import FOUND, FULL

        self.capacity = capacity
        self.per_partition = per_partition or max(1, capacity // 10)
        self.FOUND, self.FULL = FOUND, FULL
        self.partition = b""
        self._expiry = {}   # (partition, nonce bytes) -> expiry ns
        self._heap = []     # (expiry ns, partition, nonce bytes), to drop dead entries in order
        self._count = {}    # partition -> live entries

    def _purge(self, now_ns):
        heap, expiry, count = self._heap, self._expiry, self._count
        while heap and heap[0][0] < now_ns:
            exp, part, nonce = heapq.heappop(heap)
            if expiry.get((part, nonce)) == exp:
                del expiry[(part, nonce)]
                n = count[part] - 1
                if n:
                    count[part] = n
                else:
                    del count[part]

    def lookup(self, nonce, now_ns):
        self._purge(now_ns)
        exp = self._expiry.get((self.partition, bytes(nonce)))
        if exp is not None and exp >= now_ns:
            return self.FOUND
        if len(self._expiry) >= self.capacity or self._count.get(self.partition, 0) >= self.per_partition:
            return self.FULL
        return 0  # a "slot": store() ignores it

    def store(self, slot, nonce, expiry_ns):
        key = (self.partition, bytes(nonce))
        self._expiry[key] = expiry_ns
        heapq.heappush(self._heap, (expiry_ns, key[0], key[1]))
        self._count[key[0]] = self._count.get(key[0], 0) + 1

    def live(self, now_ns, partition=None):
        self._purge(now_ns)
        return len(self._expiry) if partition is None else self._count.get(partition, 0)

    def clear(self):
        self._expiry.clear()
        self._count.clear()
        del self._heap[:]


class ServiceVerifier:
    """pot.verifier.Verifier (pynacl Ed25519) as the service runs it.

    Three differences from a device, all about serving many clients on a
    clock that may step:
    - the replay cache is a HostNonceCache of `cache_capacity` entries, at
      most `per_partition` for one device (or one other context);
    - staleness and the purge of the cache are judged against the highest
      time this verifier has ever been given, not the current one. A
      forward step of the timebase (sources stepped +120 s for one
      refresh) would otherwise purge the nonces of fresh records, and once
      the time stepped back those records would verify OK again. FUTURE is
      judged against the current time;
    - no ORDERING floor: a device receives one issuer's records in order,
      but the service verifies records that many clients fetched
      concurrently, so arrival order says nothing about issuing order
      (freshness still rests on STALE and REPLAY).
    """

    def __init__(self, public_key, skew_ms=None, cache_capacity=DEFAULT_CACHE_CAPACITY, per_partition=None):
        self.cache = HostNonceCache(cache_capacity, per_partition)
        self.verifier = make_verifier(public_key, skew_ms, cache=self.cache, ordering=False)
        self.high_water_ns = None   # the highest `now` seen

    def verify(self, data, ctx, now_ns, challenge=None):
        if self.high_water_ns is None or now_ns > self.high_water_ns:
            self.high_water_ns = now_ns
        self.cache.partition = cache_partition(ctx)
        # STALE and the cache against the high-water time, FUTURE against now.
        return self.verifier.verify(data, ctx, self.high_water_ns, challenge, now_ns)


# --- the service (transport-independent) ---------------------------------------
class PotService:
    """Routes and their work; the protocols below only move bytes."""

    def __init__(self, issuer, timebase, verifier=None, skew_ms=None, cache_capacity=None,
                 expose_detail=False, log=None, authorizer=None, cache_per_device=None):
        """authorizer: a potkit.auth.Authorizer (or anything with authorize(token, ctx)),
        or None for an open service (--insecure-open): anyone may stamp anything."""
        self.issuer = issuer
        self.authorizer = authorizer
        self.timebase = timebase
        self.verifier = verifier or ServiceVerifier(issuer.public_key, skew_ms,
                                                    cache_capacity or DEFAULT_CACHE_CAPACITY, cache_per_device)
        self.expose_detail = expose_detail
        self.log = log or LogLimiter()
        self.metrics = Metrics(timebase, expose_detail)
        self.names = verdict_names()
        # The audit log (potkit.auditlog.web.AuditHook, --log) and what its
        # hooks need from the request being handled.
        self.audit = None
        self.conn = None
        self.query = b""
        self.seq = 0
        self.path = b""
        # path prefix -> methods, for routes with parameters in the path (the log's tiles)
        self.prefix_routes = {}
        self.routes = {
            b"/v1/issue": {b"POST": self.http_issue},
            b"/v1/verify": {b"POST": self.http_verify},
            b"/metrics": {b"GET": self.http_metrics},
            b"/health": {b"GET": self.http_health, b"HEAD": self.http_health},
            b"/": {b"GET": self.http_index},
        }

    def handle(self, method, path, body, token=None):
        """(status, content type, body bytes, extra header bytes, close) for one request.

        token: the caller's API token (from "Authorization: Bearer ..."), or None."""
        methods = self.routes.get(path)
        if methods is None:
            self.path = path
            methods = next((m for pre, m in self.prefix_routes.items() if path.startswith(pre)), None)
        if methods is None:
            return self.error("http", HttpError(404, "no route %s" % path.decode("latin-1")))
        fn = methods.get(method)
        if fn is None:
            allow = b", ".join(sorted(methods))
            return self.error("http", HttpError(405, "method %s not allowed on %s (allowed: %s)"
                                                % (method.decode("latin-1"), path.decode("latin-1"),
                                                   allow.decode()), headers=(b"Allow: " + allow,)))
        try:
            return fn(body, token) if path == b"/v1/issue" else fn(body)  # only issuing needs the token
        except HttpError as e:
            return self.error("http", e)
        except TimeBaseUnavailable as e:
            self.metrics.refused += 1
            return self.error("http", HttpError(503, self.refusal(e), headers=(b"Retry-After: 1",)))
        except LogUnavailable as e:
            return self.error("http", HttpError(503, str(e), headers=(b"Retry-After: 1",)))
        except Exception as e:  # a bug must cost one request, never the service
            self.log.log(("bug", path, type(e).__name__), "internal error on %s: %s: %s" % (
                path.decode("latin-1"), type(e).__name__, e), exc_info=True)
            return self.error("http", HttpError(500, "internal error: %s" % type(e).__name__, close=True))

    def refusal(self, e):
        """The reason a caller is told for a TimeBaseUnavailable: detail only if the operator chose it."""
        return str(e) if self.expose_detail else e.public

    def error(self, transport, e):
        self.metrics.error(transport, e.status)
        body = json.dumps({"error": e.reason, "status": e.status}).encode()
        return e.status, JSON_TYPE, body, e.headers, e.close

    # POST /v1/issue {"ctx": hex, "tier": 0..3 | name, "challenge": hex?, "anchor": bool?}
    def http_issue(self, body, token=None):
        req = _json_body(body, ("ctx", "tier", "challenge", "anchor"))
        ctx = _hex_field(req, "ctx", max_len=MAX_CTX_LEN)
        self.authorize_http(token, ctx)
        anchor = req.get("anchor", False)
        if anchor is not True and anchor is not False:
            raise HttpError(400, "field 'anchor' must be true or false, got %s" % json.dumps(anchor)[:40])
        if "tier" not in req:
            raise HttpError(400, "missing field 'tier'")
        try:
            tier = parse_tier(req["tier"])
        except PotkitError as e:
            raise HttpError(400, str(e))
        challenge = _hex_field(req, "challenge", 32, required=False)
        if self.audit:
            self.audit.check()
        record, now = self.issuer.issue_at(ctx, tier, challenge)
        self.metrics.issued["http"] += 1
        if self.audit:
            self.seq = self.audit.issued("http", self.conn, ctx, tier, record, now.time_ns)
        resp = {"record": record.hex(), "tier": TIER_NAMES[tier], "timestamp_ns": now.time_ns,
                "uncertainty_ns": now.uncertainty_ns, "sources": now.source_count,
                "confidence_ppm": now.confidence_ppm}
        if anchor:
            resp["anchor"] = onchain_anchor(record, ctx).hex()
        return 200, JSON_TYPE, json.dumps(resp).encode(), (), False

    # POST /v1/verify {"record": hex, "ctx": hex, "challenge": hex?}
    def authorize_http(self, token, ctx):
        if self.authorizer is None:
            return
        from potkit.auth import AuthError

        try:
            self.authorizer.authorize(token, ctx)
        except AuthError as e:
            self.metrics.unauthorized += 1
            headers = (b'WWW-Authenticate: Bearer realm="potkit"',) if e.status == 401 else ()
            raise HttpError(e.status, e.reason, headers=headers)

    def http_verify(self, body, token=None):
        req = _json_body(body, ("record", "ctx", "challenge"))
        record = _hex_field(req, "record", 143)
        ctx = _hex_field(req, "ctx", max_len=MAX_CTX_LEN)
        challenge = _hex_field(req, "challenge", 32, required=False)
        if self.audit:
            self.audit.check()
        now_ns = self.timebase.now().time_ns
        code = self.verifier.verify(record, ctx, now_ns, challenge)
        self.metrics.verdict(code)
        if self.audit:
            self.seq = self.audit.verified("http", self.conn, ctx, record, code, now_ns)
        resp = {"verdict": self.names[code], "code": code, "ok": code == 0}
        return 200, JSON_TYPE, json.dumps(resp).encode(), (), False

    def http_metrics(self, body, token=None):
        from prometheus_client import generate_latest

        return 200, METRICS_TYPE, generate_latest(self.metrics.registry), (), False

    def http_index(self, body, token=None):
        """GET /: the routes, so that a person with curl finds their way."""
        routes = {p.decode(): sorted(m.decode() for m in ms) for p, ms in sorted(self.routes.items())}
        doc = {"service": "potkit", "routes": routes, "spec": "docs/spec.md section 7"}
        return 200, JSON_TYPE, json.dumps(doc, indent=1).encode(), (), False

    def http_health(self, body, token=None):
        st = self.timebase.status()
        public = st.pop("public_reason", None)
        if not self.expose_detail:
            st.pop("last_error", None)
            if "reason" in st:
                st["reason"] = public
        st["status"] = "ok" if st["ok"] else "unavailable"
        st["public_key"] = self.issuer.public_key.hex()
        return (200 if st["ok"] else 503), JSON_TYPE, json.dumps(st).encode(), (), False

    # Board frame: challenge(32) || tier(1) || ctx_len(1) || ctx(ctx_len)
    #              [|| token_len(1) || token(token_len)]   (when the service requires tokens)
    def board_frame_len(self, buf):
        """The length of the frame at the start of buf, or None if more bytes are needed."""
        if len(buf) < BOARD_FRAME_MIN:
            return None
        n = BOARD_FRAME_MIN + buf[33]
        if self.authorizer is not None:
            if len(buf) <= n:
                return None
            n += 1 + buf[n]
        return n if len(buf) >= n else None

    def board_issue(self, frame, transport, conn=None, addr=None):
        """The 143-byte record for one board frame, or a 2-byte error reply."""
        challenge = bytes(frame[0:32])
        tier = frame[32]
        end = 34 + frame[33]
        ctx = bytes(frame[34:end])
        if tier > 3:
            self.metrics.error(transport, "tier")
            return bytes((0xEE, BOARD_ERR_TIER))
        if self.authorizer is not None:
            from potkit.auth import AuthError

            token = bytes(frame[end + 1:end + 1 + frame[end]]) if end < len(frame) else b""
            try:
                self.authorizer.authorize(token.decode("ascii", "replace"), ctx)
            except AuthError:
                self.metrics.unauthorized += 1
                self.metrics.error(transport, "auth")
                return bytes((0xEE, BOARD_ERR_AUTH))
        try:
            if self.audit:
                self.audit.check()
            record, now = self.issuer.issue_at(ctx, tier, challenge)
        except (TimeBaseUnavailable, LogUnavailable):
            self.metrics.refused += 1
            return bytes((0xEE, BOARD_ERR_UNAVAILABLE))
        except Exception as e:
            self.log.log(("bug", transport, type(e).__name__), "internal error on %s: %s: %s" % (
                transport, type(e).__name__, e), exc_info=True)
            self.metrics.error(transport, "internal")
            return bytes((0xEE, BOARD_ERR_INTERNAL))
        self.metrics.issued[transport] += 1
        if self.audit:
            self.seq = self.audit.issued(transport, conn, ctx, tier, record, now.time_ns, addr)
        return record


# --- HTTP/1.1 ------------------------------------------------------------------
def _response(status, ctype, body, headers=(), close=False):
    head = [b"HTTP/1.1 %d %s" % (status, REASONS.get(status, "Unknown").encode()),
            b"Content-Type: " + ctype, b"Content-Length: %d" % len(body)]
    head.extend(headers)
    if close:
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body


class TrackedProtocol(asyncio.Protocol):
    """What every connection of the service shares: its place in the
    server's connection table (for the caps, eviction and shutdown), a
    receive buffer, a deadline, and write flow control: a client that sends
    requests but does not read the answers fills our write buffer; then we
    stop reading (and answering) until it drains, so memory stays bounded.

    Deadlines (checked by Server._sweep): a request or frame that has begun
    must be complete within `header_timeout` (HTTP: its headers; then its
    body within `body_timeout`), whatever trickle of bytes keeps arriving:
    a slowloris client sending one byte every 25 s is answered 408 and
    closed. Between requests a connection may stay idle `idle_timeout`; a
    client that stops reading our answers gets `idle_timeout` to resume.
    """

    #: a new connection starts in this phase: "idle" (idle_timeout) or "request" (header_timeout)
    first_phase = "idle"

    def __init__(self, service, server):
        self.service = service
        self.server = server
        self.buf = bytearray()
        self.transport = None
        self.paused = False
        self.last = 0.0
        self.peer = None
        self.counted = False
        self.phase = "idle"      # idle | request | body | paused
        self.deadline = 0.0
        self.raw_sock = None     # the accepted socket (Listener), to free its descriptor on eviction
        self.pending = False     # accepted by a Listener, not yet admitted

    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) and peer else peer
        self.last = time.monotonic()
        if self.server.admit(self):
            self.set_phase(self.first_phase)

    def connection_lost(self, exc):
        self.server.release(self)

    def set_phase(self, phase):
        srv = self.server
        self.phase = phase
        self.deadline = time.monotonic() + (srv.idle_timeout if phase in ("idle", "paused") else
                                            srv.body_timeout if phase == "body" else srv.header_timeout)

    def activity(self):
        """Bytes arrived: move to the busy end of the eviction order; a first byte starts the request clock."""
        self.last = time.monotonic()
        self.server.touch(self)
        if self.phase == "idle":
            self.set_phase("request")

    def after_reply(self):
        """A reply went out: the next request's clock starts with its first byte (or now, if pipelined)."""
        if not self.paused:
            self.set_phase("request" if self.buf else "idle")

    def expire(self):
        """The deadline passed (called by the sweeper)."""
        self.server.timeouts += 1
        self.transport.abort() if self.phase == "paused" else self.transport.close()

    def refuse(self, reason):
        """Not admitted (too many connections): close at once."""
        self.transport.abort()

    def evict(self):
        """Closed to make room for a new connection (the server is at its cap)."""
        self.transport.abort()
        if self.raw_sock is not None:
            # abort() has unregistered the descriptor; closing it now (not at
            # the next loop turn) frees it for the accept this eviction makes room for.
            self.raw_sock.close()

    def pause_writing(self):
        self.paused = True
        self.transport.pause_reading()
        self.set_phase("paused")

    def resume_writing(self):
        self.paused = False
        if not self.transport.is_closing():
            self.transport.resume_reading()
            self.set_phase("request" if self.buf else "idle")
            self.data_received(b"")


class HttpProtocol(TrackedProtocol):
    """A lean HTTP/1.1 server connection: Content-Length bodies, keep-alive, pipelining."""

    first_phase = "request"   # the first request is due within header_timeout of the connect

    def __init__(self, service, server):
        TrackedProtocol.__init__(self, service, server)
        self.closing = False
        self.sent_continue = False

    def resume_writing(self):
        if self.closing:
            self.paused = False
            return
        TrackedProtocol.resume_writing(self)

    def expire(self):
        if self.phase in ("request", "body") and self.buf and not self.closing:
            self.server.timeouts += 1
            what = "body" if self.phase == "body" else "request line and headers"
            self.fail(HttpError(408, "%s not received within %g s" % (
                what, self.server.body_timeout if self.phase == "body" else self.server.header_timeout),
                close=True))
        else:
            TrackedProtocol.expire(self)

    def refuse(self, reason):
        self.closing = True
        self.service.metrics.error("http", 503)
        body = json.dumps({"error": reason, "status": 503}).encode()
        self.transport.write(_response(503, JSON_TYPE, body, (b"Retry-After: 1",), True))
        self.transport.close()

    def data_received(self, data):
        if self.closing:
            return
        if data:
            self.activity()
        self.buf += data
        try:
            while self.buf and not self.closing and not self.paused:
                if not self.one_request():
                    break
        except Exception as e:  # never let a parser bug take the loop down
            self.service.log.log(("bug", "http-parser", type(e).__name__), "internal error in the HTTP parser: "
                                 "%s: %s" % (type(e).__name__, e), exc_info=True)
            self.fail(HttpError(500, "internal error", close=True))

    def fail(self, e):
        status, ctype, body, headers, _ = self.service.error("http", e)
        self.send(_response(status, ctype, body, headers, e.close), e.close)

    def send(self, data, close):
        self.transport.write(data)
        if close:
            self.closing = True
            self.transport.close()

    def one_request(self):
        """Handles the first complete request in the buffer; False if it needs more bytes."""
        buf = self.buf
        end = buf.find(b"\r\n\r\n", 0, MAX_HEADER + 4)
        if end < 0:
            if buf.find(b"\n\n", 0, MAX_HEADER + 2) >= 0:
                # Bare LF line ends (printf without \r): answered, not left hanging.
                self.fail(HttpError(400, "lines must end in CRLF (\\r\\n), not a bare LF", close=True))
                return False
            if len(buf) > MAX_HEADER:
                self.fail(HttpError(431, "request line and headers exceed %d bytes" % MAX_HEADER, close=True))
            return False
        lines = bytes(buf[:end]).split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            self.fail(HttpError(400, "malformed request line", close=True))
            return False
        method, target, version = parts
        if version != b"HTTP/1.1" and version != b"HTTP/1.0":
            if not version.startswith(b"HTTP/"):
                self.fail(HttpError(400, "malformed request line", close=True))
            else:
                self.fail(HttpError(505, "only HTTP/1.1 and HTTP/1.0", close=True))
            return False
        length = None
        keep_alive = version == b"HTTP/1.1"
        expect_continue = False
        token = None
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not name or name != name.strip():
                self.fail(HttpError(400, "malformed header line", close=True))
                return False
            name = name.lower()
            value = value.strip()
            if name == b"content-length":
                # At most 12 digits: int() refuses 4,301+ digits with a ValueError.
                if not value.isdigit() or len(value) > 12 or (length is not None and int(value) != length):
                    self.fail(HttpError(400, "bad Content-Length", close=True))
                    return False
                length = int(value)
            elif name == b"transfer-encoding":
                self.fail(HttpError(501, "Transfer-Encoding is not supported: send a Content-Length", close=True))
                return False
            elif name == b"connection":
                v = value.lower()
                if b"close" in v:
                    keep_alive = False
                elif b"keep-alive" in v:
                    keep_alive = True
            elif name == b"expect" and value.lower() == b"100-continue":
                expect_continue = True
            elif name == b"authorization":
                scheme, _, cred = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    token = cred.strip().decode("latin-1")
        length = length or 0
        if length > MAX_BODY:
            self.fail(HttpError(413, "body of %d bytes exceeds %d" % (length, MAX_BODY), close=True))
            return False
        start = end + 4
        if len(buf) < start + length:
            if self.phase != "body":
                self.set_phase("body")   # the body's own deadline starts now
            if expect_continue and not self.sent_continue:
                self.sent_continue = True
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            return False
        body = bytes(buf[start:start + length])
        del buf[:start + length]
        self.sent_continue = False
        path, _, query = target.partition(b"?")
        svc = self.service
        svc.conn, svc.query, svc.seq = self, query, 0
        status, ctype, rbody, headers, close = svc.handle(method, path, body, token)
        if self.server.access_log is not None:
            peer = self.transport.get_extra_info("peername") or ("?", 0)
            self.server.access_log.info("%s %s %s %d %d", peer[0], method.decode("latin-1"),
                                        path.decode("latin-1")[:200], status, len(rbody))
        # Any error but 503 (no time now: retry) ends the connection: one
        # answer per bad connection, whatever was pipelined behind it.
        close = close or not keep_alive or (status >= 400 and status != 503)
        resp = _response(status, ctype, rbody, headers, close)
        if method == b"HEAD":  # the headers of GET, Content-Length included, no body
            resp = resp[:len(resp) - len(rbody)]
        if svc.audit is not None:  # sent once the log has stored the request's entry
            svc.audit.http_reply(self, svc.seq, resp, close)
        else:
            self.send(resp, close)
        if not close:
            self.after_reply()
        return True


# --- board endpoints -------------------------------------------------------------
class BoardTcpProtocol(TrackedProtocol):
    """Frames in, records out, on one connection; an error reply closes it.

    A frame without its token field (a board set up for an open service)
    looks like a frame whose token has not arrived yet. It is answered
    error 5 (not authorized) once no byte has followed its ctx for
    TOKEN_WAIT_S, or at once when the client half-closes: not left to the
    header deadline and a silent close.
    """

    def data_received(self, data):
        if self.transport.is_closing():
            return
        if data:
            self.activity()
        self.buf += data
        while len(self.buf) >= BOARD_FRAME_MIN and not self.paused:
            n = self.service.board_frame_len(self.buf)
            if n is None:
                if self.lacks_token():
                    self.deadline = min(self.deadline, time.monotonic() + min(TOKEN_WAIT_S, self.server.header_timeout))
                return
            frame = bytes(self.buf[:n])
            del self.buf[:n]
            svc = self.service
            svc.seq = 0
            reply = svc.board_issue(frame, "tcp", conn=self)
            if svc.audit is not None:  # sent once the log has stored the entry
                t = self.transport

                def ok(r=reply):
                    if not t.is_closing():
                        t.write(r)
                        if len(r) != 143:
                            t.close()

                def fail():
                    if not t.is_closing():
                        t.write(bytes((0xEE, BOARD_ERR_UNAVAILABLE)))
                        t.close()

                svc.audit.board_reply(self, svc.seq, ok, fail)
                if len(reply) != 143:
                    return
                continue
            self.transport.write(reply)
            if len(reply) != 143:
                self.transport.close()
                return
            self.after_reply()

    def lacks_token(self):
        """The buffer holds a whole frame up to its ctx and nothing more, where a token field must follow."""
        buf = self.buf
        return (self.service.authorizer is not None and len(buf) >= BOARD_FRAME_MIN
                and len(buf) == BOARD_FRAME_MIN + buf[33])

    def refuse_tokenless(self):
        self.service.seq = 0
        self.transport.write(self.service.board_issue(bytes(self.buf), "tcp", conn=self))  # error 5: no token
        del self.buf[:]
        self.transport.close()

    def expire(self):
        if not self.paused and not self.transport.is_closing() and self.lacks_token():
            self.server.timeouts += 1
            self.refuse_tokenless()
        else:
            TrackedProtocol.expire(self)

    def eof_received(self):
        if not self.paused and not self.transport.is_closing() and self.lacks_token():
            self.refuse_tokenless()
        return False


class BoardUdpProtocol(asyncio.DatagramProtocol):
    """One datagram, one reply; the request is padded so it is never smaller than the reply."""

    def __init__(self, service):
        self.service = service

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        try:
            n = len(data)
            if n < UDP_MIN_REQUEST or n > UDP_MAX_REQUEST:
                # Too short: answering would amplify a spoofed request; drop it.
                self.service.metrics.error("udp", "frame")
                return
            end = BOARD_FRAME_MIN + data[33]
            if self.service.authorizer is not None and end < n:
                end += 1 + data[end]   # the token field
            # Malformed: a ctx (or token) running past the datagram (it
            # would be signed truncated), or padding that is not all zero.
            if end > n or any(data[end:]):
                self.service.metrics.error("udp", "frame")
                self.transport.sendto(bytes((0xEE, BOARD_ERR_FRAME)), addr)
                return
            svc = self.service
            svc.seq = 0
            reply = svc.board_issue(data[:end], "udp", addr=addr)
            if svc.audit is not None and svc.seq:
                t = self.transport
                svc.audit.board_reply(self, svc.seq, lambda: t.sendto(reply, addr),
                                      lambda: t.sendto(bytes((0xEE, BOARD_ERR_UNAVAILABLE)), addr))
                return
            self.transport.sendto(reply, addr)
        except Exception as e:
            self.service.log.log(("bug", "udp", type(e).__name__), "internal error on udp: %s: %s" % (
                type(e).__name__, e), exc_info=True)

    def error_received(self, exc):
        pass


# --- server ------------------------------------------------------------------------
def default_max_connections(nofile=None):
    """The connection cap: below the descriptor limit, with room left for time sources and files.

    Under `ulimit -n 1024` that is 896: accept() never meets EMFILE because of
    our own connections, and the time sources (a socket and a thread each
    per synthesis) always find a descriptor.
    """
    if nofile is None:
        import resource

        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if nofile == resource.RLIM_INFINITY:
            nofile = 1 << 16
    reserve = max(64, nofile // 8)
    return max(16, min(nofile - reserve, 60000))


class Listener:
    """A listening TCP socket whose accept makes room first, in bounded bursts.

    asyncio's own server accepts up to `backlog` sockets per wake-up before
    any of their protocols runs, so at the connection cap a crowd of
    reconnecting slowloris sockets took every descriptor; accept() then
    failed with EMFILE, and asyncio 3.11 went on calling it (one error and
    one more 1 s retry timer per call: 420,000 in 10 s) while the listener
    stayed paused for a second: a canary waited 0.4 to 1.7 s for /health.
    Here every accept is preceded by Server.make_room (the evicted
    connection's descriptor is closed at once), a wake-up accepts at most
    ACCEPT_BURST sockets, and a failed accept pauses this listener for
    ACCEPT_PAUSE_S once.
    """

    ACCEPT_BURST = 16
    ACCEPT_PAUSE_S = 0.1

    def __init__(self, server, factory, hostport, backlog):
        import socket

        self.server = server
        self.factory = factory
        self.loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in hostport[0] else socket.AF_INET
        self.sock = socket.create_server(hostport, family=family, backlog=backlog)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()[:2]
        self.closed = False
        self.loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self):
        import errno

        for _ in range(self.ACCEPT_BURST):
            self.server.make_room()
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as e:
                if e.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                self.server.service.log.log("accept", "accept() failed: %s; pausing the listener %g s"
                                            % (e, self.ACCEPT_PAUSE_S))
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(self.ACCEPT_PAUSE_S, self._resume)
                return
            conn.setblocking(False)
            self.server.pending += 1
            self.loop.create_task(self._connect(conn))

    async def _connect(self, conn):
        made = []

        def factory():
            p = self.factory()
            p.raw_sock, p.pending = conn, True
            made.append(p)
            return p

        try:
            await self.loop.connect_accepted_socket(factory, conn)
        except Exception:
            if not made or made[0].pending:
                self.server.pending -= 1
            conn.close()

    def _resume(self):
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def close(self):
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class Server:
    """Binds the endpoints on a running loop; `await start()`, then `close()`.

    Connection limits (docs/spec.md 7.5, "Limits"):
    - at most `max_connections` at once (default: below the descriptor
      limit, default_max_connections). A new connection beyond it evicts
      the connection that has been silent longest, so a crowd of stalled
      sockets cannot lock a live client out;
    - at most `max_per_client` from one address; more are refused at once
      (HTTP: a 503);
    - the deadlines of TrackedProtocol: header_timeout, body_timeout
      (408 when they pass) and idle_timeout.
    """

    def __init__(self, service, http=("127.0.0.1", 8080), tcp=None, udp=None, idle_timeout=IDLE_TIMEOUT_S,
                 header_timeout=HEADER_TIMEOUT_S, body_timeout=BODY_TIMEOUT_S, max_connections=None,
                 max_per_client=MAX_PER_CLIENT):
        self.service = service
        self.want = {"http": http, "tcp": tcp, "udp": udp}
        self.idle_timeout = idle_timeout
        # A request never gets longer than an idle connection would.
        self.header_timeout = min(header_timeout, idle_timeout)
        self.body_timeout = min(body_timeout, idle_timeout)
        self.max_connections = max_connections or default_max_connections()
        self.max_per_client = max_per_client
        self.connections = collections.OrderedDict()   # conn -> None, least recently active first
        self.per_client = {}
        self.pending = 0         # accepted sockets whose protocol has not started yet (Listener)
        self.evicted = 0
        self.refused = 0
        self.timeouts = 0
        self.access_log = None   # a logging.Logger: one line per HTTP request
        self.addresses = {}
        self._servers = []
        self._udp = None
        self._sweeper = None

    # -- the connection table ------------------------------------------------------
    def make_room(self):
        """Before an accept: evict the longest silent connections until one more fits under the cap."""
        self._evict_until(self.max_connections - self.pending)

    def _evict_until(self, room):
        # Close the longest silent connections until fewer than `room` are open.
        while self.connections and len(self.connections) >= room:
            victim = next(iter(self.connections))
            self._forget(victim)
            self.evicted += 1
            self.service.log.log("evict", "%d connections (--max-connections): closing the longest silent ones"
                                 % self.max_connections)
            victim.evict()

    def admit(self, conn):
        """Called by a new connection: True if it may stay (and is counted)."""
        if conn.pending:
            conn.pending = False
            self.pending -= 1
        n = self.per_client.get(conn.peer, 0)
        if self.max_per_client and n >= self.max_per_client:
            self.refused += 1
            self.service.log.log(("per-client", conn.peer), "refusing connections from %s: %d open "
                                 "(--max-per-client %d)" % (conn.peer, n, self.max_per_client))
            conn.refuse("too many connections from your address (%d)" % n)
            return False
        self._evict_until(self.max_connections)
        self.connections[conn] = None
        self.per_client[conn.peer] = n + 1
        conn.counted = True
        return True

    def touch(self, conn):
        if conn.counted:
            self.connections.move_to_end(conn)

    def _forget(self, conn):
        if conn.counted:
            conn.counted = False
            self.connections.pop(conn, None)
            n = self.per_client.get(conn.peer, 1) - 1
            if n > 0:
                self.per_client[conn.peer] = n
            else:
                self.per_client.pop(conn.peer, None)

    def release(self, conn):
        self._forget(conn)

    async def start(self):
        """Binds every endpoint; a PotkitError naming the address if one cannot be bound."""
        try:
            return await self._start()
        except OSError as e:
            self.close()
            kind, addr = self._binding
            raise PotkitError("cannot listen on %s %s:%d: %s; choose another --%s address or stop what uses it"
                              % (kind.upper(), addr[0], addr[1], e.strerror or e, kind))

    async def _start(self):
        loop = asyncio.get_running_loop()
        self._binding = ("http", self.want["http"])
        if self.want["http"]:
            s = Listener(self, lambda: HttpProtocol(self.service, self), self.want["http"], 4096)
            self._servers.append(s)
            self.addresses["http"] = s.address
        self._binding = ("tcp", self.want["tcp"])
        if self.want["tcp"]:
            s = Listener(self, lambda: BoardTcpProtocol(self.service, self), self.want["tcp"], 1024)
            self._servers.append(s)
            self.addresses["tcp"] = s.address
        self._binding = ("udp", self.want["udp"])
        if self.want["udp"]:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: BoardUdpProtocol(self.service),
                                                               local_addr=self.want["udp"])
            self.addresses["udp"] = self._udp.get_extra_info("sockname")[:2]
        self._sweeper = loop.create_task(self._sweep())
        return self.addresses

    async def _sweep(self):
        # Enforces the deadlines: 408 for stalled requests, close for idle connections.
        period = min(max(min(self.header_timeout, self.idle_timeout) / 4, 0.05), 1.0)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for c in [c for c in self.connections if c.deadline < now]:
                try:
                    c.expire()
                except Exception as e:
                    self.service.log.log(("bug", "sweep", type(e).__name__), "closing a connection: %s: %s"
                                         % (type(e).__name__, e))
                    c.transport.abort()
                self._forget(c)

    async def drain(self, seconds):
        """Stop listening; let the answers already queued reach their clients
        (at most `seconds`), then return (close() ends the connections)."""
        for s in self._servers:
            s.close()
        if self._udp:
            self._udp.close()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(
                not c.transport.is_closing() and c.transport.get_write_buffer_size() for c in self.connections):
            await asyncio.sleep(0.02)

    def close(self):
        if self._sweeper:
            self._sweeper.cancel()
        for s in self._servers:
            s.close()
        if self._udp:
            self._udp.close()
        for c in list(self.connections):
            c.transport.close()
