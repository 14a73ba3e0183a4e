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
# GRG (sections 2.4-2.6), on one cached Grg (the host's fast stages on CPython):
#   commitment(payload, ctx) -> bytes(32)
#   grg_encode(payload, ctx) -> (tagged_shards222, commitment)
#   make_frame(record143, ctx) -> bytes(286)
#   open_frame(frame286, ctx) -> (record143, verdicts)    raises GrgError
# AdaptiveSwitch (section 4.8):
#   event_for(verdict) -> MATCH, MISS, FAILURE or NOT_A_BLOCK
# The device link (section 8.1):
#   encode_frame(ftype, seq, payload=b"") -> one complete frame
from pot import rice, rice_decode, spec
from pot.compat import IS_MICROPYTHON
from pot.grg import Grg, GrgError
from pot.link import finish_frame
from pot.spec import (MAX_CONFIDENCE_PPM, MAX_TIER, MIN_SOURCES, NONCE_LEN, OFF_CONFIDENCE, OFF_HEADER,
                      OFF_NONCE, OFF_RESERVED, OFF_SOURCES, OFF_TIMESTAMP, PAYLOAD_LEN, VERSION)


# --- the record -------------------------------------------------------------
def pack_payload(tier, sources, ts_ns, confidence_ppm, nonce):
    # The 47-byte payload P of a record, after checking every sender rule of
    # section 1 (so an issuer cannot emit a record that a conforming
    # receiver rejects).
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
    area = bytearray(spec.AREA_LEN)
    n = rice.encode(payload, area)
    return bytes(area[:n])


def rice_decode_bytes(stream):
    # The payload of a G1 stream (trailing bytes must be zero, as in the area).
    out = bytearray(spec.PAYLOAD_LEN)
    rice_decode.decode(stream, out)
    return bytes(out)


def rice_code_length(v, field):
    # Bits that value v takes in `field` (k, E, W), such as spec.F_SECONDS.
    k, e, w = field
    q = v >> k
    return q + 1 + k if q < e else e + w


# --- GRG (pot.grg) ------------------------------------------------------------
# One cached Grg per process (not thread-safe: one per thread), with the
# host's fast stages on CPython.
_grg = None


def grg_for(ctx):
    # The cached Grg, set to ctx.
    global _grg
    if _grg is None:
        fast = None
        if not IS_MICROPYTHON:
            from pot import fastpath as fast
        _grg = Grg(fast)
    ctx = bytes(ctx)
    if _grg.ctx != ctx:
        _grg.set_context(ctx)
    return _grg


def _check_payload(payload):
    if len(payload) != spec.PAYLOAD_LEN:
        raise GrgError("payload must be 47 bytes")


def commitment(payload, ctx):
    # The 32-byte commitment of a 47-byte payload for ctx.
    _check_payload(payload)
    return bytes(grg_for(ctx).commit(payload))


def grg_encode(payload, ctx):
    # (the six tagged shards, 222 bytes; the commitment, 32 bytes)
    _check_payload(payload)
    g = grg_for(ctx)
    c = bytes(g.commit(payload))
    return bytes(g.tagged), c


def make_frame(record, ctx):
    # The sharded frame of a record: tagged shards || signature (286 bytes).
    # Refuses a record whose commitment is not the one of ctx (its frame
    # could never be verified).
    if len(record) != spec.RECORD_LEN:
        raise GrgError("record must be 143 bytes")
    record = bytes(record)
    g = grg_for(ctx)
    if not g.check(record):
        raise GrgError("record commitment does not match this context")
    return bytes(g.tagged) + record[spec.OFF_SIGNATURE:]


def open_frame(frame, ctx):
    # (the 143-byte record rebuilt from a frame, its verdicts as a list of
    # 6 ints); raises GrgError.
    g = grg_for(ctx)
    payload = bytes(g.open_frame(frame))
    verdicts = list(g.verdicts)
    sig = bytes(g.frame_signature)
    return payload + bytes(g.commit(payload)) + sig, verdicts


# --- AdaptiveSwitch (pot.switch) ------------------------------------------------
def event_for(verdict):
    # The event a verifier verdict counts as: MATCH, MISS, FAILURE or
    # NOT_A_BLOCK (pot.spec), by the table pot.switch holds a copy of.
    return spec.EVENT_OF_VERDICT[verdict]


# --- the device link (pot.link) -------------------------------------------------
def encode_frame(ftype, seq, payload=b""):
    # One complete frame: header, payload and CRC (pot.link.finish_frame,
    # the device's own writer, fills in everything but the payload).
    n = len(payload)
    if n > spec.MAX_PAYLOAD:
        raise ValueError("frame payload longer than %d bytes" % spec.MAX_PAYLOAD)
    buf = bytearray(spec.OVERHEAD + n)
    buf[spec.HEADER_LEN:spec.HEADER_LEN + n] = payload
    if IS_MICROPYTHON:
        finish_frame(buf, ftype, seq, n)
    else:
        from pot.fastpath import crc_frame

        finish_frame(buf, ftype, seq, n, crc_frame)
    return bytes(buf)
