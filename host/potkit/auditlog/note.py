"""C2SP signed notes (c2sp.org/signed-note), checkpoints (c2sp.org/tlog-checkpoint)
and cosignatures (c2sp.org/tlog-cosignature), Ed25519 only.

A note is text (ending in a newline), a blank line, then one line per signature:
    "\u2014 " name " " base64(key_id(4) || signature) "\n"
key_id = SHA-256(name || "\\n" || type || public_key)[:4], type 0x01 for an
Ed25519 note signature (signed message: the text), 0x04 for a cosignature/v1
(signature = timestamp u64 big-endian || Ed25519 signature over
"cosignature/v1\\ntime <timestamp>\\n" || text).
A checkpoint's text is "<origin>\\n<size>\\n<base64 root hash>\\n" (+ extension lines).
"""
import base64
import hashlib
import struct

from potkit import PotkitError

ED25519 = 0x01
COSIG_V1 = 0x04
DASH = "\u2014 "


class NoteError(PotkitError):
    pass


def key_id(name, public_key, sig_type=ED25519):
    return hashlib.sha256(name.encode() + b"\n" + bytes((sig_type,)) + bytes(public_key)).digest()[:4]


def check_name(name):
    if not name or any(c.isspace() for c in name) or "+" in name:
        raise NoteError("key name %r must be non-empty, without spaces or '+'" % name)
    return name


def vkey(name, public_key, sig_type=ED25519):
    """The verifier key text: name+hex(key id)+base64(type || public key)."""
    check_name(name)
    return "%s+%s+%s" % (name, key_id(name, public_key, sig_type).hex(),
                         base64.b64encode(bytes((sig_type,)) + bytes(public_key)).decode())


def parse_vkey(text):
    """(name, public_key, sig_type) from a vkey; NoteError if malformed."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("verifier key %r: expected name+keyid+key" % text[:80])
    name, kid, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
        kid = bytes.fromhex(kid)
    except ValueError:
        raise NoteError("verifier key %r: bad hex or base64" % text[:80])
    if len(raw) != 33 or raw[0] not in (ED25519, COSIG_V1):
        raise NoteError("verifier key %r: not an Ed25519 key" % text[:80])
    if key_id(name, raw[1:], raw[0]) != kid:
        raise NoteError("verifier key %r: key id does not match the key" % text[:80])
    return name, raw[1:], raw[0]


def _sign(signing_key, message):
    from nacl.signing import SigningKey

    if not isinstance(signing_key, SigningKey):
        signing_key = SigningKey(bytes(signing_key))
    return signing_key.sign(message).signature


def _verify(public_key, message, sig):
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey

    try:
        VerifyKey(bytes(public_key)).verify(message, sig)
        return True
    except (BadSignatureError, ValueError):
        return False


def signature_line(name, kid, blob):
    return DASH + name + " " + base64.b64encode(kid + blob).decode() + "\n"


def sign_text(text, name, signing_key):
    """One note signature line (type 0x01) over `text`."""
    from nacl.signing import SigningKey

    sk = signing_key if isinstance(signing_key, SigningKey) else SigningKey(bytes(signing_key))
    return signature_line(check_name(name), key_id(name, bytes(sk.verify_key)), _sign(sk, text.encode()))


class Signer:
    """sign_text for one key name and key, with its name checked and key id computed once."""

    def __init__(self, name, signing_key):
        from nacl.signing import SigningKey

        self.sk = signing_key if isinstance(signing_key, SigningKey) else SigningKey(bytes(signing_key))
        self.prefix = DASH + check_name(name) + " "
        self.kid = key_id(name, bytes(self.sk.verify_key))

    def __call__(self, text):
        return self.prefix + base64.b64encode(self.kid + self.sk.sign(text.encode()).signature).decode() + "\n"


def cosign_text(text, name, signing_key, timestamp):
    """One cosignature/v1 line (type 0x04) over a checkpoint text."""
    from nacl.signing import SigningKey

    sk = signing_key if isinstance(signing_key, SigningKey) else SigningKey(bytes(signing_key))
    msg = ("cosignature/v1\ntime %d\n" % timestamp + text).encode()
    blob = struct.pack(">Q", timestamp) + _sign(sk, msg)
    return signature_line(check_name(name), key_id(name, bytes(sk.verify_key), COSIG_V1), blob)


class Note:
    """A parsed note: .text and .signatures [(name, key_id, blob)]."""

    def __init__(self, text, signatures):
        self.text = text
        self.signatures = signatures

    def serialize(self):
        return self.text + "\n" + "".join(signature_line(n, k, b) for n, k, b in self.signatures)

    def add(self, line):
        self.signatures.extend(parse(self.text + "\n" + line).signatures)

    def verified_by(self, name, public_key, sig_type=ED25519):
        """For a note signature: True. For a cosignature: its timestamp. None if absent or bad."""
        kid = key_id(name, public_key, sig_type)
        for n, k, blob in self.signatures:
            if n != name or k != kid:
                continue
            if sig_type == ED25519 and len(blob) == 64 and _verify(public_key, self.text.encode(), blob):
                return True
            if sig_type == COSIG_V1 and len(blob) == 72:
                (ts,) = struct.unpack(">Q", blob[:8])
                msg = ("cosignature/v1\ntime %d\n" % ts + self.text).encode()
                if ts < 1 << 63 and _verify(public_key, msg, blob[8:]):
                    return ts
        return None


def parse(data):
    """A Note from its serialized form; NoteError if it is not a well-formed note."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("note is not UTF-8")
    if len(data) > 1 << 20:
        raise NoteError("note larger than 1 MiB")
    i = data.rfind("\n\n")
    if i < 0 or not data.endswith("\n"):
        raise NoteError("note has no blank line before its signatures")
    text, sigs = data[:i + 1], data[i + 2:]
    out = []
    for line in sigs.split("\n")[:-1]:
        if not line.startswith(DASH):
            raise NoteError("malformed signature line %r" % line[:80])
        name, sep, b64 = line[len(DASH):].rpartition(" ")
        try:
            raw = base64.b64decode(b64, validate=True)
        except ValueError:
            raw = b""
        if not sep or not name or len(raw) < 5:
            raise NoteError("malformed signature line %r" % line[:80])
        out.append((name, raw[:4], raw[4:]))
    if not out:
        raise NoteError("note has no signature")
    return Note(text, out)


# --- checkpoints ---------------------------------------------------------------
def checkpoint_text(origin, size, root, extensions=()):
    return "%s\n%d\n%s\n" % (origin, size, base64.b64encode(root).decode()) + "".join(e + "\n" for e in extensions)


class Checkpoint:
    """(origin, size, root) of a signed checkpoint note, plus the note itself."""

    def __init__(self, note_obj, origin, size, root):
        self.note = note_obj
        self.origin = origin
        self.size = size
        self.root = root

    def serialize(self):
        return self.note.serialize()


def parse_checkpoint(data):
    n = parse(data)
    lines = n.text.split("\n")
    if len(lines) < 4:
        raise NoteError("checkpoint text needs origin, size and root lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise NoteError("checkpoint origin or size line is malformed")
    try:
        root = base64.b64decode(root, validate=True)
    except ValueError:
        root = b""
    if len(root) != 32:
        raise NoteError("checkpoint root hash is not 32 bytes of base64")
    return Checkpoint(n, origin, int(size), root)


def open_checkpoint(data, name, public_key, origin=None):
    """The Checkpoint if the log key `name`/`public_key` signed it, else NoteError."""
    cp = parse_checkpoint(data)
    if origin is not None and cp.origin != origin:
        raise NoteError("checkpoint origin %r is not the log's %r" % (cp.origin, origin))
    if cp.note.verified_by(name, public_key) is not True:
        raise NoteError("checkpoint is not signed by log key %s" % name)
    return cp
