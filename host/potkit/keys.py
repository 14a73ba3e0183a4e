"""Issuer keys: create, store, load and export the Ed25519 key pair.

Files (docs/spec.md section 7.1, "Key files"):

- private key: PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"), the 48-byte DER
  form RFC 8410 gives Ed25519 (fixed 16-byte prefix, then the 32-byte seed).
  It is what `openssl genpkey -algorithm ed25519` writes, so keys move
  between potkit, OpenSSL and HSM tooling without conversion. Mode 0600.
- public key: `<private key path>.pub`, the 32-byte key as 64 lowercase hex
  digits and a newline: the form boards are provisioned with.

Writes are atomic (temporary file created 0600, fsync, then link/rename), a
key is never overwritten without --force, and loading refuses a private key
file that group or others may read, as ssh does: a leaked issuer key lets
anyone sign any time.
"""
import base64
import binascii
import os
import stat

from potkit import PotkitError

# RFC 8410 section 7: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 },
# OCTET STRING { OCTET STRING (32) } }: everything before the seed.
PKCS8_ED25519_PREFIX = bytes.fromhex("302e020100300506032b657004220420")
PEM_BEGIN = "-----BEGIN PRIVATE KEY-----"
PEM_END = "-----END PRIVATE KEY-----"

KEY_ENV = "POTKIT_KEY"  # overrides the default path for every command
# Outside any checkout, so that `git add -A` cannot commit a private key:
# $XDG_CONFIG_HOME/potkit/issuer.key, by default ~/.config/potkit/issuer.key.
DEFAULT_KEY_PATH = "$XDG_CONFIG_HOME/potkit/issuer.key"


def config_dir():
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "potkit")


def default_key_path():
    return os.environ.get(KEY_ENV) or os.path.join(config_dir(), "issuer.key")


def public_key_path(key_path):
    return key_path + ".pub"


# --- encodings ------------------------------------------------------------
def encode_private_pem(seed):
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    b64 = base64.b64encode(PKCS8_ED25519_PREFIX + seed).decode()
    return "%s\n%s\n%s\n" % (PEM_BEGIN, b64, PEM_END)


def decode_private_pem(text, where="key file"):
    lines = [ln.strip() for ln in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != PEM_BEGIN or lines[-1] != PEM_END:
        raise PotkitError("%s: not a PEM private key (expected %s)" % (where, PEM_BEGIN))
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise PotkitError("%s: bad base64 in the PEM body" % where)
    if len(der) != 48 or der[:16] != PKCS8_ED25519_PREFIX:
        raise PotkitError("%s: not an Ed25519 PKCS#8 key (RFC 8410, 48 bytes DER)" % where)
    return der[16:]


def encode_public_hex(public_key):
    return public_key.hex() + "\n"


def parse_public_hex(text, where="public key"):
    t = text.strip().lower()
    if len(t) != 64:
        raise PotkitError("%s: expected 64 hex digits, got %d characters" % (where, len(t)))
    try:
        return bytes.fromhex(t)
    except ValueError:
        raise PotkitError("%s: not hex" % where)


# --- atomic file writing --------------------------------------------------
def write_atomic(path, data, mode, overwrite):
    """Write `data` (bytes) to `path` with `mode`, all or nothing.

    The temporary file is created with the final mode, so the secret is
    never readable by others, not even for a moment. Without `overwrite`,
    os.link publishes it: link fails if `path` exists, so two concurrent
    keygens cannot both win and nothing is replaced. Any failure is a
    PotkitError naming the file.
    """
    try:
        _write_atomic(path, data, mode, overwrite)
    except OSError as e:
        raise PotkitError("cannot write %s: %s; check that its folder exists and is writable" % (path, e.strerror or e))


def _write_atomic(path, data, mode, overwrite):
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, ".%s.tmp%d" % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            os.fchmod(fd, mode)  # the umask may have removed bits we want
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise PotkitError("%s exists (use --force to replace it)" % path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    try:  # make the directory entry durable too
        dfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _read_text(path, what):
    try:
        with open(path) as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise PotkitError("cannot read %s %s: %s" % (what, path, e))


# --- key pair -------------------------------------------------------------
def generate_keypair(key_path, force=False):
    """Create a new key pair; returns the public key (32 bytes)."""
    from nacl.signing import SigningKey

    d = os.path.dirname(os.path.abspath(key_path))
    # Only potkit's own folder is created (mode 0700); a --key in a folder
    # that does not exist is a typo until shown otherwise.
    if not os.path.isdir(d) and d == os.path.abspath(config_dir()):
        try:
            os.makedirs(d, mode=0o700)
        except OSError as e:
            raise PotkitError("cannot create the key directory %s: %s; give --key PATH in a writable place"
                              % (d, e.strerror or e))
    if not force:
        for p in (key_path, public_key_path(key_path)):
            if os.path.exists(p):
                raise PotkitError("%s exists (use --force to replace it)" % p)
    seed = os.urandom(32)
    public = bytes(SigningKey(seed).verify_key)
    write_atomic(key_path, encode_private_pem(seed).encode(), 0o600, force)
    write_atomic(public_key_path(key_path), encode_public_hex(public).encode(), 0o644, True)
    return public


def load_signing_key(key_path):
    """The issuer's nacl SigningKey; refuses a file group/others can read."""
    from nacl.signing import SigningKey

    try:
        st = os.stat(key_path)
    except FileNotFoundError:
        raise PotkitError("no key file %s; create one with `potkit keygen --key %s`" % (key_path, key_path))
    if not stat.S_ISREG(st.st_mode):
        raise PotkitError("%s is not a regular file; give --key the path of a key file" % key_path)
    if st.st_mode & 0o077:
        raise PotkitError("key file %s has mode %04o: group/others may read it; "
                          "run `chmod 600 %s` (or make a new key: the old one may have leaked)"
                          % (key_path, stat.S_IMODE(st.st_mode), key_path))
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise PotkitError("key file %s belongs to another user (uid %d); run potkit as its owner" % (key_path, st.st_uid))
    return SigningKey(decode_private_pem(_read_text(key_path, "key file"), key_path))


def load_public_key(key_path):
    """The public key of `key_path`.

    Derived from the private key when it is there, and `<key>.pub` must
    then hold the same key (a stale .pub would have every board provisioned
    with it answer FORGE). Without the private key (a machine that only
    provisions boards), `<key>.pub` alone.
    """
    pub = public_key_path(key_path)
    if os.path.exists(key_path):
        public = bytes(load_signing_key(key_path).verify_key)
        if os.path.exists(pub):
            stored = parse_public_hex(_read_text(pub, "public key file"), pub)
            if stored != public:
                raise PotkitError("%s does not match %s (a stale public key); remove it, then "
                                  "`potkit pubkey --key %s > %s` writes the right one" % (pub, key_path, key_path, pub))
        return public
    if os.path.exists(pub):
        return parse_public_hex(_read_text(pub, "public key file"), pub)
    raise PotkitError("no key file %s nor %s (create a key pair with `potkit keygen --key %s`)"
                      % (key_path, pub, key_path))


def device_context(device_id, message=None):
    """A board's context (spec 2.7), built by the firmware's own pot.grg.

    00 || len(id) || id, or for a stamped `message` (bytes)
    01 || len(id) || id || SHA-256(message); the id is 1 to 64 bytes.
    """
    from pot import grg

    raw = device_id.encode() if isinstance(device_id, str) else bytes(device_id)
    if not 1 <= len(raw) <= 64:
        raise PotkitError("device id must be 1 to 64 bytes (got %d)" % len(raw))
    return grg.context_device(raw) if message is None else grg.context_message(raw, message)


def provisioning_document(public_key, device_id, issuer_url=None, skew_ms=None, check_point=True):
    """The JSON a board is provisioned with (spec 7.1, "Provisioning file").

    Checked as the board will read it (potkit.validate.provisioning): a bad
    key, id, skew or URL is refused here, not at the board's boot.
    """
    from potkit import validate

    validate.device_id(device_id, "device_id")
    doc = {
        "profile": 1,
        "issuer_public_key": public_key.hex(),
        "device_id": device_id,
        "ctx": device_context(device_id).hex(),
    }
    if issuer_url:
        doc["issuer_url"] = issuer_url
    if skew_ms is not None:
        doc["skew_ms"] = skew_ms
    return validate.provisioning(doc, check_point=check_point)
