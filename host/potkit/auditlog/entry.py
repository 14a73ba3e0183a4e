"""The audit log entry: byte-exact encoding (docs/spec.md section 9.1).

    offset size field
    0      1    version = 1
    1      1    kind: 1 ISSUE, 2 VERIFY, 3 DEVICE (a verdict a board reported), 4 ALARM
    2      8    index, u64 big-endian: the entry's position in the log (so a
                moved or renumbered row names itself)
    10     8    time_ns, u64 big-endian: the service's trusted time (its
                timebase) when it has one, else the host's wall clock
    18     1    transport: 0 none, 1 http, 2 tcp, 3 udp, 4 serial (board link)
    19     1    tier 0..3, 0xFF none
    20     1    verdict: the verifier's code (spec 4.2), 0xFF none
    21     1    attack_type: 0 NONE, 1..13 (ATTACK_TYPES)
    22     32   ctx_hash = SHA-256(ctx), 32 zero bytes when there is no ctx
    54     32   record_hash = SHA-256(the 143-byte record), zeros when none
    86     1    peer_len, then peer_len bytes of UTF-8 ("ip:port", a source name)
    ..     2    detail_len u16 big-endian (<= 1024), then detail_len bytes of UTF-8
The leaf hash is SHA-256(0x00 || entry) (RFC 9162).
"""
import hashlib
import struct

from potkit import PotkitError

VERSION = 1
ISSUE, VERIFY, DEVICE, ALARM = 1, 2, 3, 4
KINDS = {ISSUE: "ISSUE", VERIFY: "VERIFY", DEVICE: "DEVICE", ALARM: "ALARM"}
TRANSPORTS = {0: "", 1: "http", 2: "tcp", 3: "udp", 4: "serial"}
TRANSPORT_CODES = dict((v, k) for k, v in TRANSPORTS.items())
NONE = 0xFF
MAX_PEER = 255
MAX_DETAIL = 1024
ZERO32 = bytes(32)

# The seed's 13 attack types, in its order; code = position + 1 (0 = NONE).
ATTACK_TYPES = ("REPLAY", "DRIFT", "FORGE", "FLOOD", "ORDERING", "CROSS_POOL", "SYBIL", "GPS_SPOOF",
                "NTP_INJECT", "BGP_HIJACK", "DNS_POISON", "SDN_MANIP", "PROTO_VIOLATION")
ATTACK_CODES = dict((name, i + 1) for i, name in enumerate(ATTACK_TYPES))
ATTACK_NAMES = dict((i + 1, name) for i, name in enumerate(ATTACK_TYPES))
ATTACK_NAMES[0] = "NONE"

# Verifier verdict (spec 4.2) -> attack type. STALE: a record presented after
# its window (a late replay); CHALLENGE: a record made for another challenge.
VERDICT_ATTACK = {"OK": None, "PROTO_VIOLATION": "PROTO_VIOLATION", "FUTURE": "DRIFT",
                  "CROSS_CONTEXT": "CROSS_POOL", "FORGE": "FORGE", "STALE": "REPLAY",
                  "REPLAY": "REPLAY", "BUSY": "FLOOD", "ORDERING": "ORDERING", "CHALLENGE": "REPLAY"}
# Synthesis alarm kind (spec 6.2) -> attack type; others (UNREACHABLE,
# BAD_REPLY, ERROR) are logged with attack_type NONE.
ALARM_ATTACK = {"NTP_INJECT": "NTP_INJECT", "OUTLIER": "DRIFT", "SOURCE_AUTH": "DNS_POISON",
                "DELAYED": "SDN_MANIP"}

_HEAD = struct.Struct(">BBQQBBBB32s32s")
# byte offsets the store and the counters read without decoding
OFF_KIND, OFF_INDEX, OFF_TIME, OFF_ATTACK, OFF_CTX = 1, 2, 10, 21, 22


class EntryError(PotkitError):
    pass


def attack_code(name):
    return ATTACK_CODES[name] if name else 0


def encode(kind, time_ns, index=0, transport=0, tier=NONE, verdict=NONE, attack=0, ctx_hash=ZERO32,
           record_hash=ZERO32, peer="", detail=""):
    p = peer.encode("utf-8", "replace")[:MAX_PEER]
    d = detail.encode("utf-8", "replace")[:MAX_DETAIL]
    return (_HEAD.pack(VERSION, kind, index, time_ns, transport, tier, verdict, attack, ctx_hash, record_hash)
            + bytes((len(p),)) + p + struct.pack(">H", len(d)) + d)


def peer_block(peer):
    """peer_len || peer, as encode() writes it."""
    p = peer.encode("utf-8", "replace")[:MAX_PEER]
    return bytes((len(p),)) + p


def encode_answer(kind, time_ns, transport, tier, verdict, attack, ctx_hash, record_hash, peer):
    """encode() for the entries of the request path: index 0 (the writer sets
    it), no detail, `peer` already a peer_block()."""
    return _HEAD.pack(VERSION, kind, 0, time_ns, transport, tier, verdict, attack, ctx_hash, record_hash) + peer + b"\0\0"


def sha256(data):
    return hashlib.sha256(data).digest()


class Entry:
    __slots__ = ("kind", "index", "time_ns", "transport", "tier", "verdict", "attack", "ctx_hash", "record_hash",
                 "peer", "detail")

    def to_dict(self, verdict_names=None):
        d = {"index": self.index, "kind": KINDS.get(self.kind, str(self.kind)), "time_ns": self.time_ns,
             "transport": TRANSPORTS.get(self.transport, str(self.transport)),
             "tier": None if self.tier == NONE else self.tier,
             "verdict": None if self.verdict == NONE else (
                 verdict_names[self.verdict] if verdict_names and self.verdict < len(verdict_names)
                 else self.verdict),
             "attack_type": ATTACK_NAMES.get(self.attack, str(self.attack)),
             "ctx_hash": self.ctx_hash.hex(), "record_hash": self.record_hash.hex(),
             "peer": self.peer, "detail": self.detail}
        return d


def decode(data):
    """Entry from its bytes; EntryError if they are not exactly one v1 entry."""
    data = bytes(data)
    if len(data) < _HEAD.size + 3:
        raise EntryError("entry of %d bytes is too short" % len(data))
    f = _HEAD.unpack_from(data)
    if f[0] != VERSION:
        raise EntryError("entry version %d is not %d" % (f[0], VERSION))
    if f[1] not in KINDS:
        raise EntryError("unknown entry kind %d" % f[1])
    e = Entry()
    (_, e.kind, e.index, e.time_ns, e.transport, e.tier, e.verdict, e.attack, e.ctx_hash, e.record_hash) = f
    if e.attack not in ATTACK_NAMES:
        raise EntryError("unknown attack_type %d" % e.attack)
    pos = _HEAD.size
    n = data[pos]
    pos += 1
    try:
        e.peer = data[pos:pos + n].decode("utf-8")
        pos += n
        if len(data) < pos + 2:
            raise EntryError("entry truncated in detail_len")
        (dn,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if dn > MAX_DETAIL:
            raise EntryError("detail_len %d exceeds %d" % (dn, MAX_DETAIL))
        e.detail = data[pos:pos + dn].decode("utf-8")
    except UnicodeDecodeError:
        raise EntryError("entry text is not UTF-8")
    if len(data) != pos + dn:
        raise EntryError("entry is %d bytes, its fields say %d" % (len(data), pos + dn))
    return e


INDEX = struct.Struct(">Q")
# (kind, time_ns, attack_type, ctx_hash) of an entry in one unpack: the store's indexed copies
COLUMNS = struct.Struct(">xB8xQ3xB32s")


def with_index(data, index):
    return data[:OFF_INDEX] + INDEX.pack(index) + data[OFF_TIME:]


def index_of(data):
    return struct.unpack_from(">Q", data, OFF_INDEX)[0] if len(data) >= OFF_TIME else None
