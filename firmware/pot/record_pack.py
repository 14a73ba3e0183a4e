# Host side of the record: its layout constants by name, and packing the
# 47-byte payload after checking every sender rule of docs/spec.md section
# 1. Reached as record.pack_payload, record.RECORD_LEN and the like
# (pot.record loads this module on first use: a device never needs it).
# The record's layout (docs/spec.md section 1), public: pot.record keeps
# private const() copies (folded into its code) and serves these names.
VERSION = 1
OFF_HEADER = 0
OFF_SOURCES = 1
OFF_RESERVED = 2
OFF_TIMESTAMP = 3
OFF_CONFIDENCE = 11
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

# Verdicts of pot.record.structural_verdict (and Record.load).
OK = 0
PROTO_VIOLATION = 1


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
