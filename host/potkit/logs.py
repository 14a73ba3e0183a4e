"""Logging of `potkit serve`: timestamped, levelled lines (stdlib logging).

    --log-format text   2026-12-03T07:00:00.123Z INFO potkit.timebase: issuance resumed: ...
    --log-format json   {"ts": "...", "level": "INFO", "logger": "potkit.timebase", "msg": "..."}
    --log-level         debug | info | warning | error
    --access-log        one line per HTTP request (logger potkit.access)

Everything goes to stderr (journald and `docker logs` collect it there).
"""
import json
import logging
import sys
import time

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
