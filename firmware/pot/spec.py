# The public numbers and names of docs/spec.md, one home for each: the
# record layout, the GRG sizes and parameters, the verdicts, the tiers and
# their windows, AdaptiveSwitch, the device link's frame types, formats and
# flags, the secure clock and the flood limit.
#
# Hosts and tests import them from here. Device code never does: a device
# module keeps private const() copies of the numbers it uses (the compiler
# folds them into its code, so they cost no heap and no interned name), and
# tests/host/test_spec_constants.py holds every copy in firmware/pot to the
# value here. Pure data: this module imports nothing.

# --- 1. The PoT record ----------------------------------------------------
VERSION = 1
OFF_HEADER = 0  # version << 4 | tier
OFF_SOURCES = 1
OFF_RESERVED = 2
OFF_TIMESTAMP = 3  # u64, ns since the Unix epoch
OFF_CONFIDENCE = 11  # u32, ppm
OFF_NONCE = 15
OFF_COMMITMENT = 47
OFF_SIGNATURE = 79
NONCE_LEN = 32
COMMITMENT_LEN = 32
SIGNATURE_LEN = 64
PAYLOAD_LEN = 47  # bytes 0-46, the input of GRG
SIGNED_LEN = 79  # bytes 0-78, what Ed25519 signs
RECORD_LEN = 143
MAX_TIER = 3
MIN_SOURCES = 3
MAX_CONFIDENCE_PPM = 1000000

# Tiers (the low nibble of byte 0) and their recency windows (4.3).
T0_EPOCH = 0
T1_BLOCK = 1
T2_SLOT = 2
T3_MICRO = 3
TIER_NAMES = ("T0_epoch", "T1_block", "T2_slot", "T3_micro")
TIER_WINDOW_MS = (60000, 2000, 12000, 100)

# --- 2.1 G1: Golomb-Rice field coding -------------------------------------
EPOCH_2025 = 1735689600  # 2025-01-01T00:00:00Z, the origin of F4
NS_PER_S = 1000000000
# (k, E, W) of F1..F6 (header, source count, reserved, seconds,
# nanoseconds, confidence); E = 0: always W raw bits.
F_HEADER = (2, 1, 8)
F_SOURCES = (2, 2, 8)
F_RESERVED = (0, 1, 8)
F_SECONDS = (28, 2, 35)
F_NANOS = (0, 0, 30)
F_CONFIDENCE = (10, 2, 32)
FIELDS = (F_HEADER, F_SOURCES, F_RESERVED, F_SECONDS, F_NANOS, F_CONFIDENCE)
STREAM_MAX = 50  # 1 + 32 + 17: the longest G1 stream of any payload

# --- 2.2 R: Reed-Solomon(4,6) over GF(2^8) --------------------------------
GF_POLY = 0x11D
SHARDS = 6
DATA_SHARDS = 4
SHARD_LEN = 15
AREA_LEN = 60  # the RS data area: DATA_SHARDS * SHARD_LEN
PARITY_ROWS = b"\x1b\x1c\x12\x14\x1c\x1b\x14\x12"  # rows 4 and 5 of the encoding matrix

# --- 2.3 G2: Golay(23,12,7) -----------------------------------------------
GOLAY_GENERATOR = 0xC75
CODED_LEN = 29  # a coded shard: 10 codewords of 23 bits and 2 zero bits

# --- 2.4-2.6 H, the commitment, the sharded frame -------------------------
KEY_LABEL = b"tttps/ctx/v1"  # its 12 ASCII bytes, no length prefix
MAX_CTX = 255
TAG_LEN = 8
TAGGED_LEN = 37  # CODED_LEN + TAG_LEN
TAGGED_ALL = 222  # SHARDS * TAGGED_LEN
FRAME_LEN = 286  # TAGGED_ALL + SIGNATURE_LEN
ERASED = 255  # a shard's verdict in Grg.verdicts when its tag did not match

# --- 2.7 Context strings --------------------------------------------------
CTX_DEVICE = 0x00  # 0x00 || len(id) || id
CTX_MESSAGE = 0x01  # 0x01 || len(id) || id || SHA-256(message)
MAX_DEVICE_ID = 64

# --- 4.2 Verdicts ---------------------------------------------------------
OK = 0
PROTO_VIOLATION = 1
FUTURE = 2
CROSS_CONTEXT = 3
FORGE = 4
STALE = 5
REPLAY = 6
BUSY = 7
ORDERING = 8
CHALLENGE = 9
NO_CLOCK = 10  # the device service's own verdict (8.3, 8.4)
VERDICT_NAMES = ("OK", "PROTO_VIOLATION", "FUTURE", "CROSS_CONTEXT", "FORGE", "STALE", "REPLAY",
                 "BUSY", "ORDERING", "CHALLENGE", "NO_CLOCK")

# 4.4, 4.6: the verifier's defaults.
DEFAULT_SKEW_MS = 500
DEFAULT_CACHE_CAPACITY = 32

# --- 4.8 AdaptiveSwitch ---------------------------------------------------
FULL = 0
TURBO = 1
SWITCH_WINDOW = 20  # blocks
ENTRY_MATCHES = 19  # 0.95 * SWITCH_WINDOW
KEEP_MATCHES = 17  # 0.85 * SWITCH_WINDOW
BACKOFF_BASE = 20  # cooldown = BACKOFF_BASE * 2^(f-1) blocks
F_MAX = 5  # f is capped here, where the cooldown reaches 320
# What a verdict counts as (block kinds), by verdict code OK .. CHALLENGE.
MATCH = 0
MISS = 1
FAILURE = 2
NOT_A_BLOCK = 3
#                OK PV FU CC FO ST RE BU OR CH
EVENT_OF_VERDICT = b"\x00\x02\x02\x02\x02\x02\x01\x03\x01\x01"

# --- 8.1 The device link: frames ------------------------------------------
SYNC0 = 0xA5
SYNC1 = 0x5A
HEADER_LEN = 6  # sync 2, length 2, type 1, seq 1
CRC_LEN = 4
OVERHEAD = 10  # HEADER_LEN + CRC_LEN
MAX_PAYLOAD = 512
MAX_FRAME = 522  # OVERHEAD + MAX_PAYLOAD
IDLE_MS = 200  # an incomplete candidate is TRUNCATED after this idle time

# 8.2 Frame types: requests below 0x80, an answer is the request's type | 0x80.
T_STATUS_REQ = 0x01
T_SYNC_REQ = 0x02
T_SYNC_RECORD = 0x03
T_STAMPED = 0x04
T_ECHO = 0x05
T_STATUS = 0x81
T_CHALLENGE = 0x82  # seq 0 when the device asks for a resync on its own
T_SYNC_RESULT = 0x83
T_VERDICT = 0x84
T_ECHO_REPLY = 0x85
T_ERROR = 0xFF
TYPE_NAMES = {
    0x01: "STATUS_REQ", 0x02: "SYNC_REQ", 0x03: "SYNC_RECORD", 0x04: "STAMPED",
    0x05: "ECHO", 0x81: "STATUS", 0x82: "CHALLENGE", 0x83: "SYNC_RESULT",
    0x84: "VERDICT", 0x85: "ECHO_REPLY", 0xFF: "ERROR",
}

# ERROR codes (the first payload byte of an ERROR frame).
E_CRC = 1
E_LENGTH = 2
E_TRUNCATED = 3
E_TYPE = 4
E_PAYLOAD = 5
E_STATE = 6
ERROR_NAMES = ("-", "CRC", "LENGTH", "TRUNCATED", "TYPE", "PAYLOAD", "STATE")

# STAMPED payload bounds.
MAX_SENDER = 32
MAX_MESSAGE = 320
SENDERS = 8  # AdaptiveSwitch entries of a device, by default (8.3)

# VERDICT and SYNC_RESULT payload: verdict, mode, flags, 0, time_us, uncertainty_us.
VERDICT_FORMAT = ">BBBBII"
VERDICT_LEN = 12
MODE_UNTRACKED = 0xFF  # the mode byte when the sender has no switch
F_RATE_LIMITED = 0x01
F_CLOCK_VALID = 0x02
F_RESYNC = 0x04
NO_UNCERTAINTY = 0xFFFFFFFF  # uncertainty_us without a clock

# STATUS payload: version, flags, id_len, 0, heap_alloc, heap_free, frames,
# link errors, noise bytes, examined, accepted, rate-limited, syncs, now_ns,
# uncertainty_us; then the device id.
STATUS_FORMAT = ">BBBBIIIIIIIIIQI"
STATUS_LEN = 52
STATUS_VERSION = 1
S_CLOCK_VALID = 0x01
S_SYNC_PENDING = 0x02
S_SYNCED = 0x04

# --- 8.4 The secure clock, 8.5 the flood limit ----------------------------
MAX_RTT_MS = 5000  # a challenge expires after this
DRIFT_PPM = 200
RESYNC_US = 20000  # ask for a resync above this uncertainty
RESYNC_INTERVAL_MS = 3600000  # and at least hourly
RESYNC_GAP_MS = 10000  # at most one unsolicited CHALLENGE per 10 s
MAX_UNCERTAINTY_US = 250000  # stop vouching above this uncertainty
WRAP_GUARD_MS = 259200000  # or 3 days after the last sync
REBASE_MS = 60000  # the clock's base instant moves forward every 60 s
# 8.5 Flood limit and hostile links (defaults of board.json's keys)
BURST = 10  # token bucket per sender: serial line, TCP peer address, UDP source address
RATE_PER_S = 20
MAX_CLIENTS = 2  # TCP connections at once
CLIENT_IDLE_MS = 30000  # a TCP connection with no whole frame this long is closed
EVICT_IDLE_MS = 1000  # a full TCP server replaces a connection idle at least this long
TCP_PEERS = 8  # TCP peer addresses whose buckets are kept across reconnects
UDP_PEERS = 8  # UDP source addresses with a session
STALL_MS = 200  # a stream peer that takes no byte of an answer this long is stalled
