"""One validator per value, shared by the CLI, the config file, the HTTP API
and the provisioning file.

Every validator takes the raw value (a command-line string, a JSON value)
and the name it was given under (`--skew-ms`, `synthesis.min_sources`,
`field 'tier'`), and returns the checked value or raises BadValue, a
PotkitError whose message reads "NAME: what is wrong; how to fix it". The
CLI turns BadValue into exit status 2, the service into a 400.

Ranges are the ones the receiving code can honour: a skew the board's
verifier accepts, a refresh interval that does not busy-loop the time
sources, a cache that can hold at least one record, a port that exists.
"""
import math
import re

from pot.spec import MAX_CTX as MAX_CTX_LEN, MIN_SOURCES, TIER_NAMES  # docs/spec.md numbers have one home
from potkit import PotkitError

# Exit statuses of every potkit command (README "Exit status").
EXIT_OK = 0
EXIT_REJECTED = 1      # the command ran; the answer is no (verify, device send/sync: not OK)
EXIT_USAGE = 2         # bad usage or input: nothing was done
EXIT_NO_TIME = 3       # no trusted time: the sources are too few or disagree
EXIT_UNREACHABLE = 4   # a server, issuer or board could not be reached or did not answer
EXIT_INTERNAL = 70     # a bug in potkit (EX_SOFTWARE)


class BadValue(PotkitError):
    """A value outside what potkit accepts (exit status 2, HTTP 400)."""

    exit_code = EXIT_USAGE


MAX_SKEW_MS = 600000            # 10 min: beyond that a "fresh" record means little
MAX_CACHE_CAPACITY = 10000000
MAX_TOLERANCE_MS = 60000.0
MAX_TIMEOUT_S = 60.0
MIN_REFRESH_S = 1.0             # below this the sources are hammered for nothing
MAX_SECONDS = 86400.0 * 7
MAX_DRIFT_PPM = 100000
BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000,
              2000000, 3000000)


def _bad(name, got, expected, fix=None):
    msg = "%s: %s, got %s" % (name, expected, _show(got))
    return BadValue(msg + ("; " + fix if fix else ""))


def _show(v):
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _int(value, name, lo, hi, what="a whole number"):
    if isinstance(value, bool):
        raise _bad(name, value, "expected %s from %d to %d" % (what, lo, hi))
    if isinstance(value, str):
        t = value.strip()
        if not re.fullmatch(r"[+-]?\d+", t):
            raise _bad(name, value, "expected %s from %d to %d" % (what, lo, hi))
        value = int(t)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(name, value, "expected %s from %d to %d" % (what, lo, hi))
    return value


def _float(value, name, lo, hi, lo_open=False, unit=""):
    rng = "%s %g%s to %g%s" % ("above" if lo_open else "from", lo, unit, hi, unit)
    if isinstance(value, bool):
        raise _bad(name, value, "expected a number " + rng)
    try:
        f = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise _bad(name, value, "expected a number " + rng)
    if not math.isfinite(f) or f > hi or f < lo or (lo_open and f == lo):
        raise _bad(name, value, "expected a number " + rng)
    return f


# --- numbers -------------------------------------------------------------------------
def port(value, name="port", allow_zero=False):
    """A UDP/TCP port; 0 ("any free port") only for listeners."""
    return _int(value, name, 0 if allow_zero else 1, 65535, "a port")


def skew_ms(value, name="--skew-ms"):
    return _int(value, name, 0, MAX_SKEW_MS, "milliseconds")


def cache_capacity(value, name="--cache-capacity"):
    return _int(value, name, 1, MAX_CACHE_CAPACITY, "a number of entries")


def min_sources(value, name="min_sources"):
    v = _int(value, name, MIN_SOURCES, 64, "a number of sources")
    return v


def tolerance_ms(value, name="tolerance_ms"):
    return _float(value, name, 0.0, MAX_TOLERANCE_MS, unit=" ms")


def max_uncertainty_ms(value, name="max_uncertainty_ms"):
    return _float(value, name, 0.0, MAX_TOLERANCE_MS, lo_open=True, unit=" ms")


def timeout_s(value, name="timeout"):
    return _float(value, name, 0.0, MAX_TIMEOUT_S, lo_open=True, unit=" s")


def refresh_s(value, name="--refresh-s"):
    return _float(value, name, MIN_REFRESH_S, MAX_SECONDS, unit=" s")


def max_age_s(value, name="--max-age-s"):
    return _float(value, name, 0.0, MAX_SECONDS, lo_open=True, unit=" s")


def idle_timeout_s(value, name="--idle-timeout"):
    return _float(value, name, 0.0, MAX_SECONDS, lo_open=True, unit=" s")


def drift_ppm(value, name="--drift-ppm"):
    return _int(value, name, 0, MAX_DRIFT_PPM, "ppm")


def baud(value, name="--baud"):
    v = _int(value, name, 1, 4000000, "a baud rate")
    if v not in BAUD_RATES:
        raise _bad(name, value, "expected a standard baud rate (%s)" % ", ".join(map(str, BAUD_RATES[:8])) + ", ...")
    return v


def now_ns(value, name="--now-ns"):
    return _int(value, name, 0, 2 ** 64 - 1, "nanoseconds since 1970")


def tier(value, name="tier"):
    """0..3 or a tier name (T1_block, t1_block, T1, block): the tier number."""
    ok = "unknown tier; expected 0..3 or one of %s" % ", ".join(TIER_NAMES)
    if isinstance(value, bool):
        raise _bad(name, value, ok)
    if isinstance(value, int):
        if 0 <= value <= 3:
            return value
        raise _bad(name, value, ok)
    if isinstance(value, str):
        t = value.strip().lower()
        if t.isascii() and t.isdigit() and int(t) <= 3:  # int() also takes "²" and "٣"
            return int(t)
        for i, n in enumerate(TIER_NAMES):
            short, word = n.lower().split("_")
            if t in (n.lower(), short, word):
                return i
    raise _bad(name, value, ok)


def boolean(value, name):
    """JSON true/false only ("yes", 1 and "true" are mistakes, not yes)."""
    if value is True or value is False:
        return value
    raise _bad(name, value, "expected true or false")


# --- bytes and text -------------------------------------------------------------------
def hex_bytes(value, name, length=None, max_len=None):
    if not isinstance(value, str):
        raise _bad(name, value, "expected a hex string")
    t = value.strip()
    if t.startswith(("0x", "0X")):
        t = t[2:]
    try:
        b = bytes.fromhex(t)
    except ValueError:
        raise _bad(name, value, "expected hex digits (0-9, a-f), two per byte")
    if length is not None and len(b) != length:
        raise BadValue("%s: expected %d bytes (%d hex digits), got %d bytes" % (name, length, 2 * length, len(b)))
    if max_len is not None and len(b) > max_len:
        raise BadValue("%s: at most %d bytes, got %d" % (name, max_len, len(b)))
    return b


def ctx(value, name="--ctx"):
    return hex_bytes(value, name, max_len=MAX_CTX_LEN)


def challenge(value, name="--challenge"):
    return hex_bytes(value, name, length=32)


def record(value, name="record"):
    return hex_bytes(value, name, length=143)


def public_key(value, name="--public-key"):
    """An issuer public key (64 hex digits) that is a usable Ed25519 key.

    A board given anything else refuses every record (or fails at boot),
    so a typo is caught here, before it is provisioned.
    """
    b = hex_bytes(value, name, length=32)
    from nacl.bindings import crypto_core_ed25519_is_valid_point

    if not crypto_core_ed25519_is_valid_point(b):
        raise BadValue("%s: not a valid Ed25519 public key (a point of small order or off the curve); "
                       "copy it from `potkit pubkey`" % name)
    return b


def _text(value, name, lo, hi, what):
    if not isinstance(value, str):
        raise _bad(name, value, "expected %s" % what)
    n = len(value.encode())
    if not lo <= n <= hi:
        raise BadValue("%s: %s must be %d to %d bytes, got %d" % (name, what, lo, hi, n))
    return value


def device_id(value, name="--device-id"):
    v = _text(value, name, 1, 64, "a device id")
    if any(ord(c) < 0x20 or ord(c) == 0x7f for c in v):
        raise BadValue("%s: control characters are not allowed in a device id" % name)
    return v


def sender(value, name="--sender"):
    return _text(value, name, 1, 32, "a sender id")


HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+|[0-9A-Fa-f:]+)$")


def host(value, name="host"):
    if not isinstance(value, str) or not value or not HOST_RE.match(value) or len(value) > 253:
        raise _bad(name, value, "expected a host name or IP address")
    return value.strip("[]")


def hostport(value, name, default_host="127.0.0.1", allow_zero=False):
    """"HOST:PORT" (or ":PORT", [v6]:PORT) -> (host, port)."""
    if not isinstance(value, str):
        raise _bad(name, value, "expected HOST:PORT")
    h, sep, p = value.rpartition(":")
    if not sep:
        raise _bad(name, value, "expected HOST:PORT, e.g. 127.0.0.1:8123", "add the port")
    p = port(p, name + " port", allow_zero)
    if not h:
        return default_host, p
    return host(h, name + " host"), p


def issuer_url(value, name="--issuer-url"):
    """tcp://HOST:PORT or udp://HOST:PORT (a `potkit serve` board endpoint),
    or http(s)://HOST[:PORT][/path] (its HTTP API)."""
    import urllib.parse

    if not isinstance(value, str):
        raise _bad(name, value, "expected a URL")
    try:
        u = urllib.parse.urlsplit(value)
        u_port = u.port
    except ValueError:
        u = None
    fix = "e.g. tcp://10.0.0.2:8123 or https://issuer.example/"
    if u is None or u.scheme not in ("tcp", "udp", "http", "https") or not u.hostname or " " in value:
        raise _bad(name, value, "expected tcp://HOST:PORT, udp://HOST:PORT or http(s)://HOST[:PORT]", fix)
    if u.scheme in ("tcp", "udp") and (not u_port or (u.path not in ("", "/"))):
        raise _bad(name, value, "a %s:// issuer needs a port and no path" % u.scheme, fix)
    host(u.hostname, name + " host")
    return value


def message_text(value, name="--message"):
    b = value.encode() if isinstance(value, str) else bytes(value)
    return b


# --- JSON objects -----------------------------------------------------------------------
def known_fields(obj, allowed, name="request"):
    """Refuse unknown keys: a typo ("chalenge") must not be ignored."""
    extra = sorted(set(obj) - set(allowed))
    if extra:
        raise BadValue("%s: unknown field(s) %s; the fields are %s"
                       % (name, ", ".join(repr(x) for x in extra), ", ".join(sorted(allowed))))


def provisioning(doc, name="provisioning", check_point=True):
    """The checks a board's start-up would otherwise fail at boot (spec 7.1).

    check_point=False: any 32 bytes as the key (tests of the link layer
    provision boards with dummy keys that verify nothing)."""
    if check_point:
        public_key(doc.get("issuer_public_key"), name + " issuer_public_key")
    else:
        hex_bytes(doc.get("issuer_public_key"), name + " issuer_public_key", length=32)
    device_id(doc.get("device_id"), name + " device_id")
    if doc.get("skew_ms") is not None:
        if not isinstance(doc["skew_ms"], int) or isinstance(doc["skew_ms"], bool):
            raise _bad(name + " skew_ms", doc["skew_ms"], "expected a whole number of milliseconds")
        skew_ms(doc["skew_ms"], name + " skew_ms")
    if doc.get("issuer_url") is not None:
        issuer_url(doc["issuer_url"], name + " issuer_url")
    return doc
