"""HTTP/1.1 for the service: HttpProtocol, HttpError and the request and response helpers."""
import json

from potkit.service.connection import TrackedProtocol

MAX_BODY = 4096          # bytes of JSON; a verify request is ~400
MAX_HEADER = 8192        # request line + headers

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


def hex_field(obj, name, length=None, required=True, max_len=None):
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


def json_body(body, fields=None):
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



def response(status, ctype, body, headers=(), close=False):
    head = [b"HTTP/1.1 %d %s" % (status, REASONS.get(status, "Unknown").encode()),
            b"Content-Type: " + ctype, b"Content-Length: %d" % len(body)]
    head.extend(headers)
    if close:
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + body



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
        self.transport.write(response(503, JSON_TYPE, body, (b"Retry-After: 1",), True))
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
        self.send(response(status, ctype, body, headers, e.close), e.close)

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
        resp = response(status, ctype, rbody, headers, close)
        if method == b"HEAD":  # the headers of GET, Content-Length included, no body
            resp = resp[:len(resp) - len(rbody)]
        if svc.audit is not None:  # sent once the log has stored the request's entry
            svc.audit.http_reply(self, svc.seq, resp, close)
        else:
            self.send(resp, close)
        if not close:
            self.after_reply()
        return True

