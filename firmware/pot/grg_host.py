# Host conveniences of GRG (they allocate): one cached Grg, not
# thread-safe (one per thread). Reached as grg.commitment, grg.encode,
# grg.make_frame and grg.open_frame (pot.grg loads this module on first
# use, so a device verifier never spends heap on it).
#   commitment(payload, ctx) -> bytes(32)
#   encode(payload, ctx) -> (tagged_shards222, commitment)
#   make_frame(record143, ctx) -> bytes(286)
#   open_frame(frame286, ctx) -> (record143, verdicts)    raises GrgError
from pot.compat import const
from pot.grg import Grg, GrgError

_PAYLOAD_LEN = const(47)
_RECORD_LEN = const(143)
_COMMITMENT_LEN = const(32)

_host = None


def _host_grg(ctx):
    global _host
    if _host is None:
        _host = Grg()
    ctx = bytes(ctx)
    if _host.ctx != ctx:
        _host.set_context(ctx)
    return _host


def _check_payload(payload):
    if len(payload) != _PAYLOAD_LEN:
        raise GrgError("payload must be 47 bytes")


def commitment(payload, ctx):
    _check_payload(payload)
    return bytes(_host_grg(ctx).commit(payload))


def encode(payload, ctx):
    # (the six tagged shards, 222 bytes; the commitment, 32 bytes)
    _check_payload(payload)
    g = _host_grg(ctx)
    c = bytes(g.commit(payload))
    return bytes(g.tagged), c


def make_frame(record, ctx):
    # The sharded frame of a record: tagged shards || signature. Refuses a
    # record whose commitment is not the one of ctx (its frame could never
    # be verified).
    if len(record) != _RECORD_LEN:
        raise GrgError("record must be 143 bytes")
    record = bytes(record)
    g = _host_grg(ctx)
    if not g.check(record):
        raise GrgError("record commitment does not match this context")
    return bytes(g.tagged) + record[_PAYLOAD_LEN + _COMMITMENT_LEN :]


def open_frame(frame, ctx):
    # (record143 rebuilt from the frame, verdicts as a list of 6 ints)
    g = _host_grg(ctx)
    payload = bytes(g.open_frame(frame))
    verdicts = list(g.verdicts)
    sig = bytes(g.frame_signature)
    return payload + bytes(g.commit(payload)) + sig, verdicts
