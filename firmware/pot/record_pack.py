# Host side of the record: packing the 47-byte payload after checking every
# sender rule of docs/spec.md section 1. Reached as record.pack_payload
# (pot.record loads this module on first use: a device never needs it).
from pot.compat import const

# The layout of pot.record.
_VERSION = const(1)
_OFF_HEADER = const(0)
_OFF_SOURCES = const(1)
_OFF_RESERVED = const(2)
_OFF_TIMESTAMP = const(3)
_OFF_CONFIDENCE = const(11)
_OFF_NONCE = const(15)
_NONCE_LEN = const(32)
_PAYLOAD_LEN = const(47)
_MAX_TIER = const(3)
_MIN_SOURCES = const(3)
_MAX_CONFIDENCE_PPM = const(1000000)


def pack_payload(tier, sources, ts_ns, confidence_ppm, nonce):
    # Host side: the 47-byte payload P of a record, after checking every
    # sender rule of section 1 (so an issuer cannot emit a record that a
    # conforming receiver rejects). Allocates; not for the device hot path.
    if not 0 <= tier <= _MAX_TIER:
        raise ValueError("tier must be 0..3")
    if not _MIN_SOURCES <= sources <= 255:
        raise ValueError("source count must be 3..255")
    if not 0 <= ts_ns < (1 << 64):
        raise ValueError("timestamp must be a u64 of nanoseconds")
    if not 0 <= confidence_ppm <= _MAX_CONFIDENCE_PPM:
        raise ValueError("confidence must be 0..1000000 ppm")
    if len(nonce) != _NONCE_LEN:
        raise ValueError("nonce must be 32 bytes")
    p = bytearray(_PAYLOAD_LEN)
    p[_OFF_HEADER] = _VERSION << 4 | tier
    p[_OFF_SOURCES] = sources
    p[_OFF_RESERVED] = 0
    for i in range(8):  # big-endian u64, byte by byte (no struct 'Q' needed)
        p[_OFF_TIMESTAMP + 7 - i] = (ts_ns >> (8 * i)) & 0xFF
    for i in range(4):
        p[_OFF_CONFIDENCE + 3 - i] = (confidence_ppm >> (8 * i)) & 0xFF
    p[_OFF_NONCE:_PAYLOAD_LEN] = nonce
    return bytes(p)
