# Conveniences for issuers and tests: they allocate, check their arguments
# with clear errors and return bytes. A device never imports this module
# (its code paths are in pot.record, pot.grg and the receive modules, on
# preallocated buffers); on CPython and in the shared tests on MicroPython
# the very same firmware code runs underneath.
#
# The record (docs/spec.md section 1):
#   pack_payload(tier, sources, ts_ns, confidence_ppm, nonce) -> bytes(47)
#   record_fields(record) -> dict of the header fields
# G1 (section 2.1):
#   rice_encode_bytes(payload) -> the stream; rice_decode_bytes(stream) -> the payload
#   rice_code_length(v, field) -> bits of value v in a field of spec.FIELDS
from pot import spec


# --- the record -------------------------------------------------------------
def pack_payload(tier, sources, ts_ns, confidence_ppm, nonce):
    # The 47-byte payload P of a record, after checking every sender rule of
    # section 1 (so an issuer cannot emit a record that a conforming
    # receiver rejects).
    if not 0 <= tier <= spec.MAX_TIER:
        raise ValueError("tier must be 0..3")
    if not spec.MIN_SOURCES <= sources <= 255:
        raise ValueError("source count must be 3..255")
    if not 0 <= ts_ns < (1 << 64):
        raise ValueError("timestamp must be a u64 of nanoseconds")
    if not 0 <= confidence_ppm <= spec.MAX_CONFIDENCE_PPM:
        raise ValueError("confidence must be 0..1000000 ppm")
    if len(nonce) != spec.NONCE_LEN:
        raise ValueError("nonce must be 32 bytes")
    p = bytearray(spec.PAYLOAD_LEN)
    p[spec.OFF_HEADER] = spec.VERSION << 4 | tier
    p[spec.OFF_SOURCES] = sources
    p[spec.OFF_RESERVED] = 0
    for i in range(8):  # big-endian u64, byte by byte (no struct 'Q' needed)
        p[spec.OFF_TIMESTAMP + 7 - i] = (ts_ns >> (8 * i)) & 0xFF
    for i in range(4):
        p[spec.OFF_CONFIDENCE + 3 - i] = (confidence_ppm >> (8 * i)) & 0xFF
    p[spec.OFF_NONCE:spec.PAYLOAD_LEN] = nonce
    return bytes(p)


def record_fields(record):
    # The header fields of a record, a payload or a signed part (any
    # buffer of at least 47 bytes): version, tier, sources, reserved,
    # timestamp_ns, timestamp_s, confidence_ppm, nonce.
    b = bytes(record[:spec.PAYLOAD_LEN])
    if len(b) < spec.PAYLOAD_LEN:
        raise ValueError("a record's payload is 47 bytes")
    ts = int.from_bytes(b[spec.OFF_TIMESTAMP:spec.OFF_CONFIDENCE], "big")
    return {
        "version": b[spec.OFF_HEADER] >> 4,
        "tier": b[spec.OFF_HEADER] & 0x0F,
        "sources": b[spec.OFF_SOURCES],
        "reserved": b[spec.OFF_RESERVED],
        "timestamp_ns": ts,
        "timestamp_s": ts // spec.NS_PER_S,
        "confidence_ppm": int.from_bytes(b[spec.OFF_CONFIDENCE:spec.OFF_NONCE], "big"),
        "nonce": b[spec.OFF_NONCE:spec.PAYLOAD_LEN],
    }


# --- G1 (pot.rice, pot.rice_decode) -----------------------------------------
def rice_encode_bytes(payload):
    # The G1 stream of a payload, exactly its length.
    from pot import rice

    area = bytearray(spec.AREA_LEN)
    n = rice.encode(payload, area)
    return bytes(area[:n])


def rice_decode_bytes(stream):
    # The payload of a G1 stream (trailing bytes must be zero, as in the area).
    from pot import rice_decode

    out = bytearray(spec.PAYLOAD_LEN)
    rice_decode.decode(stream, out)
    return bytes(out)


def rice_code_length(v, field):
    # Bits that value v takes in `field` (k, E, W), such as spec.F_SECONDS.
    k, e, w = field
    q = v >> k
    return q + 1 + k if q < e else e + w
