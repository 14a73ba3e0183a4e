"""Roughtime client: RFC 10049 (version 1) and the drafts servers still speak.

A Roughtime reply is signed: the server's long-term Ed25519 key signs a
delegation certificate (CERT: DELE = {PUBK, MINT, MAXT}), the delegated key
signs the time response (SREP = {ROOT, MIDP, RADI, ...}), and ROOT is the
root of a Merkle tree whose leaf is our request (or our nonce, in older
drafts). So a valid reply proves that the server, holding the key we pinned,
vouched for MIDP +- RADI *after* it saw our fresh nonce.

Wire format (all versions here): a packet is
    "ROUGHTIM" (8 bytes) || uint32 LE message length || message
and a message is a tag -> value map:
    uint32 N || (N-1) uint32 offsets || N uint32 tags || values
tags ascending as little-endian uint32, offsets multiples of 4.

What differs between versions is collected in one table, PROFILES; the
normative summary is docs/spec.md section 6.4 ("Roughtime").

    version     request tags             leaf hashed         H             MIDP/RADI        DELE context
    1           VER NONC TYPE SRV ZZZZ   0x00||request pkt   SHA-512[:32]  s / s            "...signature\\0"
    0x8000000c  VER NONC TYPE SRV ZZZZ   0x00||request pkt   SHA-512[:32]  s / s            "...signature\\0"
    0x8000000b  VER NONC SRV ZZZZ        0x00||nonce         SHA-512[:32]  s / s            "...signature--\\0"
    0x80000007  VER NONC PAD             0x00||nonce         SHA-512/256   MJD-us / us      "...signature\\0"

(0x80000007 is what pyroughtime 1.0.1 speaks: its tree uses FIPS SHA-512/256,
which has its own initial values and is NOT SHA-512 truncated; its
timestamps are Modified Julian Day << 40 | microseconds in the day; its
replies come without the ROUGHTIM header, which we accept for 07 only.
0x8000000b is Cloudflare's server, whose delegation context keeps the "--"
of Google's original protocol.)

Errors: malformed packets -> BAD_REPLY; any failed check of signatures,
certificate window, Merkle path or nonce echo -> SOURCE_AUTH (that is how a
spoofed or hijacked server shows up in the synthesis).
"""

import base64
import binascii
import hashlib
import os
import struct

from potkit.sources import BAD_REPLY, DELAYED, SOURCE_AUTH, Reading, SourceError
from potkit.sources.ntp import format_source, udp_exchange

VERSION_RFC = 0x00000001
VERSION_DRAFT_0C = 0x8000000C
VERSION_DRAFT_0B = 0x8000000B
VERSION_DRAFT_07 = 0x80000007

# Offered together by default: servers pick one and ignore the others. The
# three share one request layout (TYPE is ignored by 0x8000000b servers), so
# the reply is verified with the profile of the version the server chose.
DEFAULT_VERSIONS = (VERSION_RFC, VERSION_DRAFT_0B, VERSION_DRAFT_0C)

MAGIC = b"ROUGHTIM"
REQUEST_SIZE = 1024            # whole request packet, header included (amplification guard)
NONCE_SIZE = 32
MAX_PATH_NODES = 32
DEFAULT_MAX_DELAY_NS = 2000000000

CONTEXT_DELE = b"RoughTime v1 delegation signature\x00"
CONTEXT_DELE_DASHES = b"RoughTime v1 delegation signature--\x00"
CONTEXT_SREP = b"RoughTime v1 response signature\x00"

NS_PER_S = 1000000000
MJD_UNIX_EPOCH = 40587         # Modified Julian Day of 1970-01-01
US_PER_DAY = 86400000000


def tag(name):
    """Tag name ("VER", "NONC") -> its uint32 (first letter in the low byte)."""
    raw = name.encode("ascii").ljust(4, b"\x00")
    return struct.unpack("<I", raw)[0]


def tag_name(value):
    return struct.pack("<I", value).rstrip(b"\x00").decode("ascii", "replace")


T_VER, T_NONC, T_TYPE, T_SRV, T_ZZZZ, T_PAD = (tag(n) for n in ("VER", "NONC", "TYPE", "SRV", "ZZZZ", "PAD"))
T_SIG, T_PATH, T_SREP, T_CERT, T_INDX = (tag(n) for n in ("SIG", "PATH", "SREP", "CERT", "INDX"))
T_ROOT, T_MIDP, T_RADI, T_VERS = (tag(n) for n in ("ROOT", "MIDP", "RADI", "VERS"))
T_DELE, T_PUBK, T_MINT, T_MAXT = (tag(n) for n in ("DELE", "PUBK", "MINT", "MAXT"))


# --- hashes ---------------------------------------------------------------

def sha512_trunc32(data):
    """H of RFC 10049: the first 32 bytes of SHA-512."""
    return hashlib.sha512(data).digest()[:32]


def sha512_256(data):
    """FIPS 180-4 SHA-512/256 (pyroughtime's tree hash for draft 07)."""
    try:
        return hashlib.new("sha512_256", data).digest()
    except ValueError:  # an OpenSSL without it: pycryptodome is a test dependency anyway
        from Crypto.Hash import SHA512
        return SHA512.new(data, truncate="256").digest()


class Profile:
    """Everything that differs between the supported versions."""

    def __init__(self, version, name, hash_, leaf_is_request, send_type, send_srv,
                 pad_tag, time_in_seconds, dele_context):
        self.version = version
        self.name = name
        self.hash = hash_
        self.leaf_is_request = leaf_is_request    # leaf = 0x00 || whole request packet
        self.send_type = send_type                # TYPE = 0 in requests, TYPE = 1 checked in replies
        self.send_srv = send_srv                  # SRV = H(0xff || long-term key)
        self.pad_tag = pad_tag
        self.time_in_seconds = time_in_seconds    # else MJD << 40 | us-in-day, RADI in us
        self.dele_context = dele_context


PROFILES = {
    VERSION_RFC: Profile(VERSION_RFC, "RFC 10049", sha512_trunc32, True, True, True,
                         T_ZZZZ, True, CONTEXT_DELE),
    VERSION_DRAFT_0C: Profile(VERSION_DRAFT_0C, "draft-ietf-ntp-roughtime-12..19", sha512_trunc32,
                              True, True, True, T_ZZZZ, True, CONTEXT_DELE),
    VERSION_DRAFT_0B: Profile(VERSION_DRAFT_0B, "draft-ietf-ntp-roughtime-11", sha512_trunc32,
                              False, False, True, T_ZZZZ, True, CONTEXT_DELE_DASHES),
    VERSION_DRAFT_07: Profile(VERSION_DRAFT_07, "draft-ietf-ntp-roughtime-07 (pyroughtime)",
                              sha512_256, False, False, False, T_PAD, False, CONTEXT_DELE),
}


def version_name(version):
    p = PROFILES.get(version)
    return p.name if p else "0x%08x" % version


# --- messages ---------------------------------------------------------------

class MalformedError(ValueError):
    pass


def encode_message(fields):
    """{tag uint32: bytes} -> message bytes (tags sorted, offsets implicit)."""
    tags = sorted(fields)
    out = [struct.pack("<I", len(tags))]
    offset = 0
    for t in tags[:-1]:
        offset += len(fields[t])
        out.append(struct.pack("<I", offset))
    for t in tags:
        if len(fields[t]) % 4:
            raise ValueError("value of %s is not a multiple of 4 bytes" % tag_name(t))
        out.append(struct.pack("<I", t))
    for t in tags:
        out.append(bytes(fields[t]))
    return b"".join(out)


def decode_message(data):
    """Message bytes -> {tag: bytes}; strict (MalformedError on any defect).

    Strict because the signed parts (SREP, DELE) are verified over their raw
    bytes but read through this parser: one meaning per byte string.
    """
    data = bytes(data)
    if len(data) < 4 or len(data) % 4:
        raise MalformedError("message length %d is not a positive multiple of 4" % len(data))
    n = struct.unpack_from("<I", data, 0)[0]
    if n == 0:
        if len(data) != 4:
            raise MalformedError("empty message with trailing bytes")
        return {}
    header = 8 * n
    if n > 512 or header > len(data):
        raise MalformedError("header of %d tags does not fit in %d bytes" % (n, len(data)))
    offsets = [0] + list(struct.unpack_from("<%dI" % (n - 1), data, 4)) if n > 1 else [0]
    tags = struct.unpack_from("<%dI" % n, data, 4 * n)
    body = len(data) - header
    fields = {}
    for i in range(n):
        start = offsets[i]
        end = offsets[i + 1] if i + 1 < n else body
        if start % 4 or start > end or end > body:
            raise MalformedError("bad offset for tag %s" % tag_name(tags[i]))
        if i and tags[i] <= tags[i - 1]:
            raise MalformedError("tags not strictly ascending at %s" % tag_name(tags[i]))
        fields[tags[i]] = data[header + start:header + end]
    return fields


def frame(message):
    return MAGIC + struct.pack("<I", len(message)) + message


def unframe(packet):
    packet = bytes(packet)
    if len(packet) < 12 or packet[:8] != MAGIC:
        raise MalformedError("missing ROUGHTIM header")
    length = struct.unpack_from("<I", packet, 8)[0]
    if length != len(packet) - 12:
        raise MalformedError("header length %d, packet carries %d" % (length, len(packet) - 12))
    return packet[12:]


# --- keys -------------------------------------------------------------------

def parse_public_key(key):
    """32 raw bytes, 64 hex digits or base64 (as in server lists) -> 32 bytes."""
    if isinstance(key, (bytes, bytearray)):
        raw = bytes(key)
    elif not isinstance(key, str):
        raise ValueError("Roughtime public key must be bytes or text, got %r" % (key,))
    else:
        text = key.strip()
        try:
            raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise ValueError("Roughtime public key is neither hex nor base64: %r" % key)
    if len(raw) != 32:
        raise ValueError("Roughtime public key must be 32 bytes, got %d" % len(raw))
    return raw


def srv_value(public_key, hash_=sha512_trunc32):
    return hash_(b"\xff" + public_key)


def verify_ed25519(public_key, message, signature):
    """True when the signature is valid (pynacl: libsodium, strict encodings)."""
    from nacl.exceptions import BadSignatureError
    from nacl.signing import VerifyKey
    try:
        VerifyKey(public_key).verify(message, signature)
        return True
    except (BadSignatureError, ValueError, TypeError):
        return False


# --- requests ---------------------------------------------------------------

def offered_versions(version):
    """One version or several -> the ascending tuple a request offers (ValueError if unsupported)."""
    if isinstance(version, int):
        versions = (version,)
    else:
        versions = tuple(sorted(set(version)))
    if not versions:
        raise ValueError("no Roughtime version given")
    for v in versions:
        if v not in PROFILES:
            raise ValueError("unsupported Roughtime version 0x%08x" % v)
    if VERSION_DRAFT_07 in versions and len(versions) > 1:
        # pyroughtime drops requests with tags it does not know (ZZZZ, SRV,
        # TYPE), and its VER is a single value: draft 07 is asked alone.
        raise ValueError("Roughtime draft 07 cannot be offered with other versions")
    return versions


def build_request(nonce, version=DEFAULT_VERSIONS, public_key=None):
    """The request packet (REQUEST_SIZE bytes) for one version or a list of them."""
    versions = offered_versions(version)
    if len(nonce) != NONCE_SIZE:
        raise ValueError("nonce must be %d bytes" % NONCE_SIZE)
    profiles = [PROFILES[v] for v in versions]
    fields = {T_VER: b"".join(struct.pack("<I", v) for v in versions), T_NONC: bytes(nonce)}
    if any(p.send_type for p in profiles):
        fields[T_TYPE] = struct.pack("<I", 0)
    if public_key is not None and any(p.send_srv for p in profiles):
        fields[T_SRV] = srv_value(public_key)
    pad_tag = profiles[0].pad_tag
    fields[pad_tag] = b""
    used = 12 + len(encode_message(fields))
    fields[pad_tag] = bytes(REQUEST_SIZE - used)
    packet = frame(encode_message(fields))
    assert len(packet) == REQUEST_SIZE
    return packet


# --- replies ----------------------------------------------------------------

def _get(fields, t, size=None, where="reply"):
    if t not in fields:
        raise MalformedError("%s lacks %s" % (where, tag_name(t)))
    value = fields[t]
    if size is not None and len(value) != size:
        raise MalformedError("%s %s is %d bytes, expected %d" % (where, tag_name(t), len(value), size))
    return value


def _u32(b):
    return struct.unpack("<I", b)[0]


def _u64(b):
    return struct.unpack("<Q", b)[0]


def timestamp_to_ns(value, profile):
    """MIDP/MINT/MAXT -> ns since the Unix epoch."""
    if profile.time_in_seconds:
        return value * NS_PER_S
    mjd, us = value >> 40, value & ((1 << 40) - 1)
    if us >= US_PER_DAY:
        raise MalformedError("MJD timestamp with %d us in a day" % us)
    return ((mjd - MJD_UNIX_EPOCH) * US_PER_DAY + us) * 1000


def radius_to_ns(value, profile):
    return value * (NS_PER_S if profile.time_in_seconds else 1000)


def merkle_root(leaf_hash, index, path, hash_):
    """Climb from a leaf to the root (RFC 10049 section 5.3.1); None if INDX is inconsistent."""
    h = leaf_hash
    for i in range(0, len(path), 32):
        node = path[i:i + 32]
        h = hash_(b"\x01" + h + node) if index & 1 == 0 else hash_(b"\x01" + node + h)
        index >>= 1
    if index != 0:   # bits of INDX left over: the path is too short for this index
        return None
    return h


class RoughtimeResult:
    """A verified reply (all values already checked)."""

    def __init__(self, version, midp_ns, radi_ns, mint_ns, maxt_ns, path_len):
        self.version = version
        self.midp_ns = midp_ns
        self.radi_ns = radi_ns
        self.mint_ns = mint_ns
        self.maxt_ns = maxt_ns
        self.path_len = path_len


def verify_reply(reply_packet, request_packet, nonce, public_key, version=DEFAULT_VERSIONS,
                 source="roughtime"):
    """Check a reply against our request and the pinned key; RoughtimeResult or SourceError."""
    offered = offered_versions(version)
    public_key = parse_public_key(public_key)

    def auth(msg):
        return SourceError(SOURCE_AUTH, source, msg)

    try:
        reply_packet = bytes(reply_packet)
        if offered == (VERSION_DRAFT_07,) and reply_packet[:8] != MAGIC:
            # pyroughtime 1.0.1 frames its requests but sends bare replies.
            reply = decode_message(reply_packet)
        else:
            reply = decode_message(unframe(reply_packet))
        srep_raw = _get(reply, T_SREP)
        srep = decode_message(srep_raw)
        cert = decode_message(_get(reply, T_CERT))
        dele_raw = _get(cert, T_DELE, where="CERT")
        dele = decode_message(dele_raw)
        dele_sig = _get(cert, T_SIG, 64, "CERT")
        srep_sig = _get(reply, T_SIG, 64)
        echoed = _get(reply, T_NONC)
        path = _get(reply, T_PATH)
        index = _u32(_get(reply, T_INDX, 4))
        root = _get(srep, T_ROOT, 32, "SREP")
        midp = _u64(_get(srep, T_MIDP, 8, "SREP"))
        radi = _u32(_get(srep, T_RADI, 4, "SREP"))
        pubk = _get(dele, T_PUBK, 32, "DELE")
        mint = _u64(_get(dele, T_MINT, 8, "DELE"))
        maxt = _u64(_get(dele, T_MAXT, 8, "DELE"))
        # The server's choice: signed VER in SREP (drafts >= 12, RFC), else the
        # top-level VER (drafts 07 and 11).
        ver_raw = srep.get(T_VER, reply.get(T_VER))
        if ver_raw is None:
            if len(offered) != 1:
                raise MalformedError("reply names no version")
            chosen = offered[0]
        else:
            if len(ver_raw) != 4:
                raise MalformedError("reply VER is %d bytes" % len(ver_raw))
            chosen = _u32(ver_raw)
        if chosen not in offered:
            raise MalformedError("server answered with %s, not offered" % version_name(chosen))
        profile = PROFILES[chosen]
        if profile.send_type:
            if T_TYPE in reply and _get(reply, T_TYPE, 4) != struct.pack("<I", 1):
                raise MalformedError("reply TYPE is not 1")
            if chosen == VERSION_RFC and T_TYPE not in reply:
                raise MalformedError("reply lacks TYPE")
        if len(path) % 32 or len(path) > 32 * MAX_PATH_NODES:
            raise MalformedError("PATH of %d bytes" % len(path))
        if profile.time_in_seconds and radi == 0:
            raise MalformedError("RADI is zero")
        midp_ns = timestamp_to_ns(midp, profile)
        # MINT/MAXT may be the "unbounded" extremes: compare raw values (both
        # encodings are monotone) and convert only for display.
        mint_ns = timestamp_to_ns(mint, profile) if mint < (1 << 62) else None
        maxt_ns = timestamp_to_ns(maxt, profile) if maxt < (1 << 62) else None
    except (MalformedError, struct.error) as e:
        raise SourceError(BAD_REPLY, source, str(e))

    # Nonce: public data, a plain comparison is fine (no secret to leak).
    if echoed != bytes(nonce):
        raise auth("reply does not echo our nonce")
    if not verify_ed25519(public_key, profile.dele_context + dele_raw, dele_sig):
        raise auth("delegation certificate not signed by the pinned long-term key")
    if not verify_ed25519(pubk, CONTEXT_SREP + srep_raw, srep_sig):
        raise auth("response signature invalid for the delegated key")
    if not mint <= midp <= maxt:
        raise auth("MIDP outside the delegation window MINT..MAXT")
    leaf = profile.hash(b"\x00" + (bytes(request_packet) if profile.leaf_is_request else bytes(nonce)))
    computed = merkle_root(leaf, index, path, profile.hash)
    if computed is None or computed != root:
        raise auth("Merkle path from our request does not lead to ROOT")
    return RoughtimeResult(chosen, midp_ns, radius_to_ns(radi, profile), mint_ns, maxt_ns, len(path) // 32)


# --- the query ----------------------------------------------------------------

def query_roughtime(host, port, public_key, version=DEFAULT_VERSIONS, timeout=2.0, operator=None,
                    max_delay_ns=DEFAULT_MAX_DELAY_NS):
    """One Roughtime exchange over UDP -> Reading(kind "roughtime", authenticated).

    Uncertainty = RADI + delay/2: MIDP is some instant between our send and
    receive, attributed to their midpoint.
    """
    source = format_source(host, port)
    key = parse_public_key(public_key)
    versions = offered_versions(version)
    nonce = os.urandom(NONCE_SIZE)
    request = build_request(nonce, versions, key)

    def accept(reply, t1, t4):
        result = verify_reply(reply, request, nonce, key, versions, source)
        if t4 - t1 > max_delay_ns:
            raise SourceError(DELAYED, source, "round trip %.3f s" % ((t4 - t1) / 1e9))
        return result

    # Replies that fail a check do not end the exchange (udp_exchange): one
    # forged datagram must not knock the source out.
    result, t1, t4 = udp_exchange(host, port, request, timeout, source, accept, max_reply=65536)
    delay = t4 - t1
    return Reading(source, operator or host, "roughtime", True, result.midp_ns, (t1 + t4) // 2,
                   result.radi_ns + delay // 2, delay_ns=delay,
                   detail={"version": version_name(result.version), "radi_ns": result.radi_ns,
                           "path_len": result.path_len})
