"""Which time sources the issuer reads, and how a configured source is queried.

The default list names real public servers of distinct operators, so that a
fresh install has >= 3 independent, mostly authenticated sources. Tests
never use it: they build their own list of loopback servers.

A config file is JSON:

    {
      "sources": [
        {"kind": "nts", "host": "time.cloudflare.com", "operator": "cloudflare.com"},
        {"kind": "ntp", "host": "time.nist.gov", "port": 123, "operator": "nist.gov"},
        {"kind": "roughtime", "host": "roughtime.int08h.com", "port": 2002,
         "key": "AW5uAoTSTDfG5NfY1bTh08GUnOqlRb+HVhbJ3ODJvsE=", "version": ["0x1", "0x8000000c"]},
        {"kind": "https", "url": "https://www.google.com/", "cafile": null}
      ],
      "synthesis": {"min_sources": 3, "tolerance_ms": 100, "timeout_s": 3.0,
                    "max_uncertainty_ms": 10000}
    }

Per source: kind (ntp | nts | roughtime | https), host and port (not for
https), url (https only), key (roughtime: base64 or hex Ed25519 long-term
key; mandatory, it is what makes the source authenticated), version
(roughtime: one or a list of numbers or "0x..." strings; default: RFC 1,
drafts 0x8000000b and 0x8000000c), cafile (nts, https: a CA bundle instead
of the system one), operator (the administrative domain; default: the host
name without its first label, e.g. time.nist.gov -> nist.gov), timeout
(seconds, above 0 up to 60). A top-level JSON list is read as {"sources": list}.
Synthesis: min_sources 3..64 (fewer cannot outvote one wrong source),
tolerance_ms 0..60000, timeout_s above 0 up to 60, max_uncertainty_ms above 0
up to 60000 (a reading claiming more is not a witness: potkit.synth).

Where the config comes from: --config FILE, else $POTKIT_CONFIG, else the
built-in public servers (DEFAULT_SOURCES). examples/ holds configs for
public servers, a LAN with its own chrony/NTS servers and a lab on loopback.
"""
import json
import os

from potkit import PotkitError, synth, validate
from potkit.sources.ntp import format_source

KINDS = ("ntp", "nts", "roughtime", "https")
DEFAULT_PORTS = {"ntp": 123, "nts": 4460, "roughtime": 2002}
DEFAULT_TIMEOUT_S = 2.0
CONFIG_ENV = "POTKIT_CONFIG"   # the config file when --config is not given


class ConfigError(PotkitError):
    exit_code = validate.EXIT_USAGE


def config_path_from_env():
    return os.environ.get(CONFIG_ENV) or None


def config_from_args(path=None):
    """--config FILE, else $POTKIT_CONFIG, else the default public servers."""
    path = path or config_path_from_env()
    cfg = load_config(path) if path else default_config()
    try:
        cfg.check()
    except ConfigError as e:
        raise ConfigError("config %s: %s" % (path, e) if path else str(e))
    return cfg


def default_operator(host):
    """time.nist.gov -> nist.gov; a bare name or an IP address stays as it is."""
    labels = host.split(".")
    if len(labels) > 2 and not host.replace(".", "").isdigit():
        return ".".join(labels[1:])
    return host


def _parse_version(value):
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(_parse_version(v) for v in value)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise ConfigError("bad Roughtime version %r (a number or \"0x...\")" % (value,))


def _text(value, what):
    if not isinstance(value, str) or not value:
        raise ConfigError("%s must be a non-empty string, got %r" % (what, value))
    return value


def _number(value, convert, what):
    # bool is an int in Python; "port": true is a mistake, not port 1.
    if isinstance(value, bool):
        raise ConfigError("%s must be a number, got %r" % (what, value))
    try:
        return convert(value)
    except (TypeError, ValueError):
        raise ConfigError("%s must be a number, got %r" % (what, value))


class SourceConfig:
    """One configured source; `query()` returns a Reading or raises SourceError.

    Everything is checked here, when the config is read (ConfigError), so
    that a typo cannot surface later as a failing source in every synthesis.
    """

    def __init__(self, kind, host=None, port=None, url=None, key=None, version=None,
                 cafile=None, operator=None, timeout=DEFAULT_TIMEOUT_S):
        if kind not in KINDS:
            raise ConfigError("unknown source kind %r (one of %s)" % (kind, ", ".join(KINDS)))
        if kind == "https":
            if not isinstance(url, str) or not url.startswith("https://"):
                raise ConfigError("an https source needs an https:// url")
            import urllib.parse
            try:
                parts = urllib.parse.urlsplit(url)
                parts.port  # raises ValueError on a bad port
            except ValueError as e:
                raise ConfigError("bad url %r: %s" % (url, e))
            host = parts.hostname
            if not host:
                raise ConfigError("url %r names no host" % url)
        else:
            host = _text(host, "the host of a %s source" % kind)
        version = _parse_version(version)
        if kind == "roughtime":
            if not key:
                raise ConfigError("roughtime source %s needs its long-term public key" % host)
            from potkit.sources.roughtime import offered_versions, parse_public_key
            try:
                parse_public_key(key)
                if version is not None:
                    offered_versions(version)
            except ValueError as e:
                raise ConfigError("roughtime source %s: %s" % (host, e))
        self.kind = kind
        self.host = host
        try:
            self.port = validate.port(port, "port of %s" % host) if port is not None else DEFAULT_PORTS.get(kind)
        except validate.BadValue as e:
            raise ConfigError(str(e))
        self.url = url
        self.key = key
        self.version = version
        if cafile is not None and not os.path.isfile(_text(cafile, "cafile")):
            # Else every query would fail inside the TLS library, as a client bug.
            raise ConfigError("cafile %s is not a file" % cafile)
        self.cafile = cafile
        self.operator = _text(operator, "operator") if operator else default_operator(host)
        try:
            self.timeout = validate.timeout_s(timeout, "timeout of %s" % host)
        except validate.BadValue as e:
            raise ConfigError(str(e))
        self._nts = None   # the NtsSession of an nts source, made on its first query

    @property
    def name(self):
        # The same spelling as the clients' Reading.source and SourceError.source.
        return self.url if self.kind == "https" else format_source(self.host, self.port)

    def __repr__(self):
        return "SourceConfig(%s %s op=%s)" % (self.kind, self.name, self.operator)

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict) or "kind" not in d:
            raise ConfigError("a source must be an object with a \"kind\": %r" % (d,))
        known = ("kind", "host", "port", "url", "key", "version", "cafile", "operator", "timeout")
        extra = sorted(set(d) - set(known))
        if extra:
            raise ConfigError("unknown source field(s) %s in %r" % (", ".join(extra), d))
        return cls(**d)

    def query(self):
        """Read this source once (imports only the client it needs)."""
        if self.kind == "ntp":
            from potkit.sources.ntp import query_ntp
            return query_ntp(self.host, self.port, timeout=self.timeout, operator=self.operator)
        if self.kind == "nts":
            # One session per source: one NTS-KE handshake buys 8 cookies,
            # each spent on one query and never reused.
            if self._nts is None:
                from potkit.sources.nts import NtsSession
                self._nts = NtsSession(self.host, self.port, ca_file=self.cafile,
                                       timeout=self.timeout, operator=self.operator)
            return self._nts.query()
        if self.kind == "roughtime":
            from potkit.sources.roughtime import DEFAULT_VERSIONS, query_roughtime
            return query_roughtime(self.host, self.port, self.key,
                                   version=self.version if self.version is not None else DEFAULT_VERSIONS,
                                   timeout=self.timeout, operator=self.operator)
        from potkit.sources.httpsdate import query_https_date
        return query_https_date(self.url, cafile=self.cafile, timeout=self.timeout, operator=self.operator)


# Distinct operators; authenticated where the operator offers it. Keys are
# the operators' published long-term keys (Cloudflare's ecosystem.json).
DEFAULT_SOURCES = (
    {"kind": "nts", "host": "time.cloudflare.com", "operator": "cloudflare.com"},
    {"kind": "nts", "host": "nts.netnod.se", "operator": "netnod.se"},
    {"kind": "ntp", "host": "time.nist.gov", "operator": "nist.gov"},
    {"kind": "nts", "host": "ptbtime1.ptb.de", "operator": "ptb.de"},
    {"kind": "roughtime", "host": "roughtime.int08h.com", "port": 2002,
     "key": "AW5uAoTSTDfG5NfY1bTh08GUnOqlRb+HVhbJ3ODJvsE=", "operator": "int08h.com"},
    {"kind": "roughtime", "host": "time.txryan.com", "port": 2002,
     "key": "iBVjxg/1j7y1+kQUTBYdTabxCppesU/07D4PMDJk2WA=", "operator": "txryan.com"},
    {"kind": "https", "url": "https://www.google.com/", "operator": "google.com"},
    {"kind": "https", "url": "https://www.apple.com/", "operator": "apple.com"},
)

# potkit.synth's defaults, in the units of the config file.
DEFAULT_SYNTHESIS = {"min_sources": synth.MIN_SOURCES, "tolerance_ms": synth.DEFAULT_TOLERANCE_NS / 1e6,
                     "timeout_s": synth.DEFAULT_TIMEOUT_S,
                     "max_uncertainty_ms": synth.DEFAULT_MAX_UNCERTAINTY_NS / 1e6}


class Config:
    def __init__(self, sources, synthesis=None):
        self.sources = list(sources)
        self.synthesis = dict(DEFAULT_SYNTHESIS)
        if synthesis is not None and not isinstance(synthesis, dict):
            raise ConfigError("\"synthesis\" must be an object, got %r" % (synthesis,))
        for k, v in (synthesis or {}).items():
            if k not in DEFAULT_SYNTHESIS:
                raise ConfigError("unknown synthesis setting %r" % k)
            self.set(k, v, "synthesis." + k)
        if not self.sources:
            raise ConfigError("no time sources configured")

    SETTERS = {"min_sources": validate.min_sources, "tolerance_ms": validate.tolerance_ms,
               "timeout_s": validate.timeout_s, "max_uncertainty_ms": validate.max_uncertainty_ms}

    def set(self, key, value, name=None):
        """One synthesis setting, checked by potkit.validate (ConfigError otherwise)."""
        try:
            self.synthesis[key] = self.SETTERS[key](value, name or key)
        except validate.BadValue as e:
            raise ConfigError(str(e))

    def check(self):
        """Settings that cannot all hold: a synthesis that can never succeed."""
        operators = set(s.operator for s in self.sources)
        if len(operators) < self.synthesis["min_sources"]:
            raise ConfigError("%d source(s) of %d distinct operator(s) configured, but min_sources is %d; "
                              "add sources of other operators (each \"operator\" is one independent witness)"
                              % (len(self.sources), len(operators), self.synthesis["min_sources"]))


def default_config():
    return Config([SourceConfig.from_dict(dict(d)) for d in DEFAULT_SOURCES])


def config_from_json(data):
    if isinstance(data, list):
        data = {"sources": data}
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise ConfigError("a config is {\"sources\": [...], \"synthesis\": {...}}")
    extra = sorted(set(data) - {"sources", "synthesis"})
    if extra:
        raise ConfigError("unknown config key(s): %s (the keys are sources, synthesis)" % ", ".join(extra))
    return Config([SourceConfig.from_dict(d) for d in data["sources"]], data.get("synthesis"))


def load_config(path):
    """Read a JSON config file (ConfigError with the reason on any problem)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as e:
        raise ConfigError("cannot read config %s: %s; check --config / $%s (examples/ has configs)"
                          % (path, e.strerror or e, CONFIG_ENV))
    except (ValueError, RecursionError) as e:
        raise ConfigError("config %s is not valid JSON: %s; fix the file (examples/ has configs)" % (path, e))
    try:
        return config_from_json(data)
    except ConfigError as e:
        raise ConfigError("config %s: %s%s" % (path, e, "" if "; " in str(e) else
                                               "; fix the file (examples/ has working configs)"))
