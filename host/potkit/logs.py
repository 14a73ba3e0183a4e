"""Logging of `potkit serve`: timestamped, levelled lines (stdlib logging).

    --log-format text   2026-12-03T07:00:00.123Z INFO potkit.timebase: issuance resumed: ...
    --log-format json   {"ts": "...", "level": "INFO", "logger": "potkit.timebase", "msg": "..."}
    --log-level         debug | info | warning | error
    --access-log        one line per HTTP request (logger potkit.access)

Everything goes to stderr (journald and `docker logs` collect it there).
Whatever a client can trigger again and again is written through a
LogLimiter: at most one line per kind and interval.
"""
import json
import logging
import sys
import time
import traceback

LEVELS = ("debug", "info", "warning", "error")


def _ts(record):
    t = time.gmtime(record.created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".%03dZ" % int(record.msecs)


class TextFormatter(logging.Formatter):
    def format(self, record):
        line = "%s %s %s: %s" % (_ts(record), record.levelname, record.name, record.getMessage())
        return " ".join(line.split("\n"))


class JsonFormatter(logging.Formatter):
    def format(self, record):
        doc = {"ts": _ts(record), "level": record.levelname, "logger": record.name, "msg": record.getMessage()}
        doc.update(getattr(record, "fields", None) or {})
        return json.dumps(doc, sort_keys=False)


def setup(fmt="text", level="info", stream=None):
    """Configures the "potkit" logger tree; returns its root logger."""
    root = logging.getLogger("potkit")
    for h in list(root.handlers):
        root.removeHandler(h)
    h = logging.StreamHandler(stream or sys.stderr)
    h.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(h)
    root.setLevel(getattr(logging, level.upper()))
    root.propagate = False
    return root


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
