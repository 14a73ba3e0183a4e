"""API tokens: who may have the issuer stamp a device's context.

A record proves time, and that the issuer signed it for a context. Without
authorization anyone who can reach `potkit serve` could have it stamp
`01 || len || "door-1" || SHA-256("unlock door")` and get a record the door
accepts. So by default the service stamps a context only for a caller that
presents an API token scoped to the device the context names
(docs/spec.md section 7.7):

    device context   00 || len || id             needs a token for `id`
    stamped message  01 || len || id || SHA-256  needs a token for `id`
    any other ctx                                needs a token for every device ("*")

Tokens are `pot_<id>_<secret>`: 8 hex digits naming the entry, then 256
random bits (base64url). The token file (JSON, mode 0600, written
atomically) keeps only SHA-256 of each token, its device ids, a label and
its creation time, so the file lets nobody issue: a leaked file is a list
of device names, not of credentials. The service rereads the file when it
changes, so `potkit token revoke` takes effect at once, without a restart.

    potkit token add --device door-1 [--device door-2 | --all-devices] [--label "ops laptop"]
    potkit token list
    potkit token revoke ID

(the command: potkit.commands.token)
"""
import datetime
import hashlib
import hmac
import json
import os
import secrets
import stat
import time

from potkit import PotkitError

DEFAULT_TOKENS_PATH = "tokens.json"
TOKENS_ENV = "POTKIT_TOKENS"   # overrides the default path for every command
TOKEN_PREFIX = "pot_"
ANY_DEVICE = "*"
FILE_VERSION = 1
MAX_DEVICE_ID = 64
MAX_TOKEN_LEN = 128            # the board frames carry the token after a length byte


class AuthError(PotkitError):
    """A caller may not have this context stamped: `status` 401 (no valid token) or 403 (out of scope)."""

    def __init__(self, status, reason):
        PotkitError.__init__(self, reason)
        self.status = status
        self.reason = reason


def default_tokens_path():
    return os.environ.get(TOKENS_ENV) or DEFAULT_TOKENS_PATH


def token_hash(token):
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def new_token():
    """(id, token): a fresh token and the id that names its entry."""
    tid = secrets.token_hex(4)
    return tid, "%s%s_%s" % (TOKEN_PREFIX, tid, secrets.token_urlsafe(32))


def token_id(token):
    """The id part of a well-formed token, else None."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_LEN:
        return None
    tid, sep, secret = token[len(TOKEN_PREFIX):].partition("_")
    if not sep or len(tid) != 8 or not secret:
        return None
    return tid


def context_device(ctx):
    """The device id (bytes) a device or stamped-message context names, else None (spec 2.7)."""
    ctx = bytes(ctx)
    if len(ctx) < 3 or ctx[0] not in (0, 1):
        return None
    n = ctx[1]
    if not 1 <= n <= MAX_DEVICE_ID:
        return None
    if len(ctx) != 2 + n + (32 if ctx[0] == 1 else 0):
        return None
    return ctx[2:2 + n]


def _check_device_id(d):
    raw = d.encode("utf-8") if isinstance(d, str) else b""
    if d != ANY_DEVICE and not 1 <= len(raw) <= MAX_DEVICE_ID:
        raise PotkitError("device id %r must be 1 to %d bytes of UTF-8" % (d, MAX_DEVICE_ID))
    return d


class TokenStore:
    """The entries of a token file: {id: {"sha256", "devices", "label", "created"}}."""

    def __init__(self, entries=None):
        self.entries = dict(entries or {})

    # -- file --------------------------------------------------------------------
    @classmethod
    def load(cls, path, missing_ok=True):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            if missing_ok:
                return cls()
            raise PotkitError("no token file %s (create one with `potkit token add`)" % path)
        except OSError as e:
            raise PotkitError("cannot read token file %s: %s" % (path, e.strerror or e))
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise PotkitError("token file %s is not valid JSON: %s" % (path, e))
        if not isinstance(doc, dict) or doc.get("version") != FILE_VERSION or not isinstance(doc.get("tokens"), list):
            raise PotkitError("token file %s: expected {\"version\": 1, \"tokens\": [...]}" % path)
        entries = {}
        for e in doc["tokens"]:
            ok = (isinstance(e, dict) and isinstance(e.get("id"), str) and isinstance(e.get("sha256"), str)
                  and len(e["sha256"]) == 64 and isinstance(e.get("devices"), list)
                  and all(isinstance(d, str) for d in e["devices"]))
            if not ok:
                raise PotkitError("token file %s: malformed entry %r" % (path, e))
            entries[e["id"]] = {"sha256": e["sha256"].lower(), "devices": list(e["devices"]),
                                "label": str(e.get("label") or ""), "created": str(e.get("created") or "")}
        return cls(entries)

    def save(self, path):
        """Atomically, mode 0600 from the start (a temp file in the same directory, then rename)."""
        doc = {"version": FILE_VERSION,
               "tokens": [dict(id=tid, **e) for tid, e in sorted(self.entries.items())]}
        data = (json.dumps(doc, indent=1) + "\n").encode()
        tmp = "%s.tmp-%d" % (path, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, path)
        except OSError as e:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise PotkitError("cannot write token file %s: %s" % (path, e.strerror or e))

    # -- management -----------------------------------------------------------------
    def add(self, devices, label=""):
        """A new token for `devices` (ids, or ["*"]): returns (id, token). Only its hash is kept."""
        devices = [_check_device_id(d) for d in devices]
        if not devices:
            raise PotkitError("a token needs at least one --device (or --all-devices)")
        tid, token = new_token()
        while tid in self.entries:
            tid, token = new_token()
        created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.entries[tid] = {"sha256": token_hash(token), "devices": sorted(set(devices)),
                             "label": label or "", "created": created}
        return tid, token

    def revoke(self, tid):
        if tid not in self.entries:
            raise PotkitError("no token with id %r (see `potkit token list`)" % tid)
        del self.entries[tid]

    # -- checking ---------------------------------------------------------------------
    def entry_for(self, token):
        """The entry of a presented token, or None (unknown, revoked, malformed)."""
        tid = token_id(token)
        e = self.entries.get(tid) if tid else None
        if e is None:
            return None
        # Constant time over the hashes: a mismatch says nothing about the secret.
        if not hmac.compare_digest(e["sha256"], token_hash(token)):
            return None
        return e

    def authorize(self, token, ctx):
        """None if `token` may have `ctx` stamped, else AuthError (401 or 403)."""
        if not token:
            raise AuthError(401, "an API token is required: send \"Authorization: Bearer TOKEN\" "
                                 "(the operator creates one with `potkit token add`)")
        e = self.entry_for(token)
        if e is None:
            raise AuthError(401, "unknown or revoked API token")
        devices = e["devices"]
        if ANY_DEVICE in devices:
            return None
        dev = context_device(ctx)
        if dev is None:
            raise AuthError(403, "this context names no device (spec 2.7): only a token for every "
                                 "device (--all-devices) may have it stamped")
        if dev.decode("utf-8", "replace") not in devices:
            raise AuthError(403, "this token may not stamp contexts of device %r"
                            % dev.decode("utf-8", "replace"))
        return None


class Authorizer:
    """A token file as the service reads it: reloaded when it changes (checked at most once a second).

    A file that turns unreadable or invalid keeps the last good entries (and
    the error is reported through `on_error`), so a half-edited file never
    opens the service, nor locks every caller out.
    """

    def __init__(self, path, check_interval_s=1.0, on_error=None, clock=time.monotonic):
        self.path = path
        self.check_interval_s = check_interval_s
        self.on_error = on_error
        self.clock = clock
        self._stamp = self._file_stamp()
        self.store = TokenStore.load(path)
        self._next_check = clock() + check_interval_s

    def _file_stamp(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _maybe_reload(self):
        now = self.clock()
        if now < self._next_check:
            return
        self._next_check = now + self.check_interval_s
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        try:
            self.store = TokenStore.load(self.path)
            self._stamp = stamp
        except PotkitError as e:
            if self.on_error:
                self.on_error(str(e))

    def authorize(self, token, ctx):
        self._maybe_reload()
        return self.store.authorize(token, ctx)

    def warn_if_unsafe(self):
        """A reason to warn the operator at start-up, or None."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return ("no token file %s: every issue request is refused until `potkit token add`" % self.path)
        except OSError:
            return None
        if st.st_mode & 0o077:
            return "token file %s has mode %04o: others can read it (chmod 600)" % (
                self.path, stat.S_IMODE(st.st_mode))
        if not self.store.entries:
            return "token file %s holds no tokens: every issue request is refused" % self.path
        return None
