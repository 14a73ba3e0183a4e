# The 143-byte PoT record (docs/spec.md section 1) on the device:
# `Record`, a fixed buffer that a verifier loads each received record into,
# and the structural receiver rules. The layout's public names are
# pot.spec's; issuers pack payloads with pot.host.pack_payload.
#
#   byte  0      version << 4 | tier
#   byte  1      source count (>= 3)
#   byte  2      reserved (0)
#   3-10         timestamp, u64 ns since the Unix epoch
#   11-14        confidence, u32 ppm (<= 1,000,000)
#   15-46        nonce (32)
#   47-78        GRG commitment (32)
#   79-142       Ed25519 signature (64) over bytes 0-78
#
# Record.load() must not allocate: a verifier on a board loads records in a
# loop, and every allocation there brings the next garbage collection (a
# pause of milliseconds) closer. So load() copies into a preallocated buffer
# through a slice assignment (MicroPython builds that slice on the stack),
# reads single bytes (small ints) and never builds an integer >= 2**30.
from pot.compat import WORD_BITS, const, micropython, ptr8

# Layout constants: private copies of pot.spec's (the compiler folds them,
# so they cost no heap on a device; tests/host/test_spec_constants.py holds
# them to the spec).
_VERSION = const(1)

# Offsets and lengths.
_OFF_HEADER = const(0)
_OFF_SOURCES = const(1)
_OFF_RESERVED = const(2)
_OFF_TIMESTAMP = const(3)
_OFF_CONFIDENCE = const(11)
_OFF_NONCE = const(15)
_OFF_COMMITMENT = const(47)
_OFF_SIGNATURE = const(79)
_NONCE_LEN = const(32)
_COMMITMENT_LEN = const(32)
_PAYLOAD_LEN = const(47)  # bytes 0-46, the input of GRG
_SIGNED_LEN = const(79)  # bytes 0-78, what Ed25519 signs
_RECORD_LEN = const(143)

# Tiers: the low nibble of byte 0 (names and windows: pot.spec).
_MAX_TIER = const(3)

_MIN_SOURCES = const(3)
_MAX_CONFIDENCE_PPM = const(1000000)  # 0x000F4240

# Verdict of the structural check (the verifier's first two codes).
_OK = const(0)
_PROTO_VIOLATION = const(1)


@micropython.viper
def structural_verdict(buf) -> int:
    # The receiver rules of section 1 on a 143-byte buffer (bytes,
    # bytearray or memoryview): OK or PROTO_VIOLATION. Machine code on a
    # board: byte loads and compares of values below 2**24, the same at 32
    # and 64 bits; no allocation.
    b = ptr8(buf)
    h = b[_OFF_HEADER]
    if (h >> 4) != _VERSION or (h & 0x0F) > _MAX_TIER:
        return _PROTO_VIOLATION
    if b[_OFF_SOURCES] < _MIN_SOURCES:
        return _PROTO_VIOLATION
    if b[_OFF_RESERVED] != 0:
        return _PROTO_VIOLATION
    # confidence <= 1,000,000 = 0x000F4240, bytewise: the top byte must be
    # 0 and the low 24 bits <= 0x0F4240.
    if b[_OFF_CONFIDENCE] != 0:
        return _PROTO_VIOLATION
    low24 = (b[_OFF_CONFIDENCE + 1] << 16) | (b[_OFF_CONFIDENCE + 2] << 8) | b[_OFF_CONFIDENCE + 3]
    if low24 > _MAX_CONFIDENCE_PPM:
        return _PROTO_VIOLATION
    return _OK


class Record:
    # One preallocated record buffer with fixed views on its fields. The
    # views are made once here, so reading a field later allocates nothing.
    def __init__(self):
        self.buf = bytearray(_RECORD_LEN)
        mv = memoryview(self.buf)
        self.payload = mv[0:_PAYLOAD_LEN]
        self.signed = mv[0:_SIGNED_LEN]
        self.nonce = mv[_OFF_NONCE:_OFF_NONCE + _NONCE_LEN]
        self.commitment = mv[_OFF_COMMITMENT:_OFF_COMMITMENT + _COMMITMENT_LEN]
        self.signature = mv[_OFF_SIGNATURE:_RECORD_LEN]
        self.timestamp = mv[_OFF_TIMESTAMP:_OFF_CONFIDENCE]
        self.loaded = False

    def load(self, data):
        # Copies `data` into the buffer and applies the structural receiver
        # rules. Returns OK (0) or PROTO_VIOLATION (1); allocates nothing.
        # A wrong length leaves the buffer untouched and not loaded.
        if len(data) != _RECORD_LEN:
            self.loaded = False
            return _PROTO_VIOLATION
        b = self.buf
        b[:] = data
        self.loaded = True
        return structural_verdict(b)

    # Accessors (valid after load()). Small ints, no allocation, except
    # timestamp_ns(): a u64 of about 1.8e18 is a small int on a 64-bit port
    # (62 bits), built bytewise with no allocation, but a long int on a
    # 32-bit board (31 bits), where one int.from_bytes of the field view
    # makes exactly one (48 B on the 32-bit Unix port) and a shift-and-or
    # loop one per step (304 B). (int.from_bytes on a 64-bit port makes a
    # long int first: 32 B.)
    def tier(self):
        return self.buf[_OFF_HEADER] & 0x0F

    # The word size picks one of the two forms when the class is made, not
    # on every call.
    if WORD_BITS == 32:
        def timestamp_ns(self):
            return int.from_bytes(self.timestamp, "big")
    else:
        def timestamp_ns(self):
            b = self.buf
            t = 0
            for i in range(_OFF_TIMESTAMP, _OFF_TIMESTAMP + 8):
                t = (t << 8) | b[i]
            return t
