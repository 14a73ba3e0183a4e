# The 143-byte PoT record (docs/spec.md section 1): layout constants, the
# host-side payload packer, and `Record`, a fixed buffer that a verifier
# loads each received record into.
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
from pot.compat import const

VERSION = const(1)

# Offsets and lengths.
OFF_HEADER = const(0)
OFF_SOURCES = const(1)
OFF_RESERVED = const(2)
OFF_TIMESTAMP = const(3)
OFF_CONFIDENCE = const(11)
OFF_NONCE = const(15)
OFF_COMMITMENT = const(47)
OFF_SIGNATURE = const(79)
NONCE_LEN = const(32)
COMMITMENT_LEN = const(32)
SIGNATURE_LEN = const(64)
PAYLOAD_LEN = const(47)  # bytes 0-46, the input of GRG
SIGNED_LEN = const(79)  # bytes 0-78, what Ed25519 signs
RECORD_LEN = const(143)

# Tiers (the low nibble of byte 0); their recency windows live in the verifier.
T0_EPOCH = const(0)
T1_BLOCK = const(1)
T2_SLOT = const(2)
T3_MICRO = const(3)
TIER_NAMES = ("T0_epoch", "T1_block", "T2_slot", "T3_micro")
MAX_TIER = const(3)

MIN_SOURCES = const(3)
MAX_CONFIDENCE_PPM = const(1000000)  # 0x000F4240

# Verdict of the structural check. The other verdict codes live in
# pot/verifier.py, which imports this one from here.
OK = const(0)
PROTO_VIOLATION = const(1)


def pack_payload(tier, sources, ts_ns, confidence_ppm, nonce):
    # Host side: the 47-byte payload P of a record, after checking every
    # sender rule of section 1 (so an issuer cannot emit a record that a
    # conforming receiver rejects). Allocates; not for the device hot path.
    if not 0 <= tier <= MAX_TIER:
        raise ValueError("tier must be 0..3")
    if not MIN_SOURCES <= sources <= 255:
        raise ValueError("source count must be 3..255")
    if not 0 <= ts_ns < (1 << 64):
        raise ValueError("timestamp must be a u64 of nanoseconds")
    if not 0 <= confidence_ppm <= MAX_CONFIDENCE_PPM:
        raise ValueError("confidence must be 0..1000000 ppm")
    if len(nonce) != NONCE_LEN:
        raise ValueError("nonce must be 32 bytes")
    p = bytearray(PAYLOAD_LEN)
    p[OFF_HEADER] = VERSION << 4 | tier
    p[OFF_SOURCES] = sources
    p[OFF_RESERVED] = 0
    for i in range(8):  # big-endian u64, byte by byte (no struct 'Q' needed)
        p[OFF_TIMESTAMP + 7 - i] = (ts_ns >> (8 * i)) & 0xFF
    for i in range(4):
        p[OFF_CONFIDENCE + 3 - i] = (confidence_ppm >> (8 * i)) & 0xFF
    p[OFF_NONCE:PAYLOAD_LEN] = nonce
    return bytes(p)


def structural_verdict(b):
    # The receiver rules of section 1 on a 143-byte buffer `b` (any object
    # indexable by byte): OK or PROTO_VIOLATION. No allocation: only byte
    # reads and comparisons of small ints.
    h = b[OFF_HEADER]
    if h >> 4 != VERSION or h & 0x0F > MAX_TIER:
        return PROTO_VIOLATION
    if b[OFF_SOURCES] < MIN_SOURCES:
        return PROTO_VIOLATION
    if b[OFF_RESERVED] != 0:
        return PROTO_VIOLATION
    # confidence <= 1,000,000 = 0x000F4240, bytewise: the top byte must be
    # 0 and the low 24 bits (a small int on every port) <= 0x0F4240.
    if b[OFF_CONFIDENCE] != 0:
        return PROTO_VIOLATION
    low24 = (b[OFF_CONFIDENCE + 1] << 16) | (b[OFF_CONFIDENCE + 2] << 8) | b[OFF_CONFIDENCE + 3]
    if low24 > MAX_CONFIDENCE_PPM:
        return PROTO_VIOLATION
    return OK


class Record:
    # One preallocated record buffer with fixed views on its fields. The
    # views are made once here, so reading a field later allocates nothing.
    def __init__(self):
        self.buf = bytearray(RECORD_LEN)
        mv = memoryview(self.buf)
        self.view = mv
        self.payload = mv[0:PAYLOAD_LEN]
        self.signed = mv[0:SIGNED_LEN]
        self.nonce = mv[OFF_NONCE:OFF_NONCE + NONCE_LEN]
        self.commitment = mv[OFF_COMMITMENT:OFF_COMMITMENT + COMMITMENT_LEN]
        self.signature = mv[OFF_SIGNATURE:RECORD_LEN]
        self.loaded = False

    def load(self, data):
        # Copies `data` into the buffer and applies the structural receiver
        # rules. Returns OK (0) or PROTO_VIOLATION; allocates nothing.
        # A wrong length leaves the buffer untouched and not loaded.
        if len(data) != RECORD_LEN:
            self.loaded = False
            return PROTO_VIOLATION
        self.view[:] = data
        self.loaded = True
        return structural_verdict(self.buf)

    # Accessors (valid after load()). Small ints, no allocation, except
    # timestamp_ns() (a u64 is a long int on every port) and
    # confidence_ppm() of a record that failed the check (up to 2**32).
    def version(self):
        return self.buf[OFF_HEADER] >> 4

    def tier(self):
        return self.buf[OFF_HEADER] & 0x0F

    def sources(self):
        return self.buf[OFF_SOURCES]

    def reserved(self):
        return self.buf[OFF_RESERVED]

    def confidence_ppm(self):
        b = self.buf
        c = 0
        for i in range(OFF_CONFIDENCE, OFF_CONFIDENCE + 4):
            c = (c << 8) | b[i]
        return c

    def timestamp_ns(self):
        b = self.buf
        t = 0
        for i in range(OFF_TIMESTAMP, OFF_TIMESTAMP + 8):
            t = (t << 8) | b[i]
        return t

    def timestamp_s(self):
        # Whole seconds since the epoch (allocates, like timestamp_ns).
        return self.timestamp_ns() // 1000000000

    def to_bytes(self):
        # A copy (allocates).
        return bytes(self.buf)
