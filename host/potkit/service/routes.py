"""PotService: the service's routes and their work, whatever the transport."""
import json

from pot.spec import MAX_CTX, TIER_NAMES
from potkit import PotkitError
from potkit.auditlog import LogUnavailable
from potkit.issuer import onchain_anchor, parse_tier, verdict_names
from potkit.logs import LogLimiter
from potkit.service.board import (BOARD_ERR_AUTH, BOARD_ERR_INTERNAL, BOARD_ERR_TIER, BOARD_ERR_UNAVAILABLE,
                                  BOARD_FRAME_MIN)
from potkit.service.http import JSON_TYPE, METRICS_TYPE, HttpError, hex_field, json_body
from potkit.service.metrics import Metrics
from potkit.service.verify import DEFAULT_CACHE_CAPACITY, ServiceVerifier
from potkit.timebase import TimeBaseUnavailable


class PotService:
    """Routes and their work; the protocols (potkit.service.http, .board) only move bytes."""

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
        req = json_body(body, ("ctx", "tier", "challenge", "anchor"))
        ctx = hex_field(req, "ctx", max_len=MAX_CTX)
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
        challenge = hex_field(req, "challenge", 32, required=False)
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
        req = json_body(body, ("record", "ctx", "challenge"))
        record = hex_field(req, "record", 143)
        ctx = hex_field(req, "ctx", max_len=MAX_CTX)
        challenge = hex_field(req, "challenge", 32, required=False)
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

