# The sharded frame receive path of GRG (docs/spec.md section 2.6), apart
# from pot.grg so that only a device that receives frames loads it (with
# the Golay decoder, the RS rebuild and the strict G1 decoder): a verifier
# never does. Grg.open_frame loads it on first use and turns its
# ValueErrors into GrgError; it imports the stages, never pot.grg. Its
# buffers are allocated once per Grg, on the first frame.
from pot import golay, golay_decode, rice_decode, rs_rebuild
from pot.compat import const
from pot.hmacsha256 import crypto_verify_at

# Sizes (docs/spec.md 2.6): private copies of pot.spec's.
_PAYLOAD_LEN = const(47)
_SHARDS = const(6)
_DATA_SHARDS = const(4)
_CODED_LEN = const(29)
_TAG_LEN = const(8)
_TAGGED_LEN = const(37)
_TAGGED_ALL = const(222)
_FRAME_LEN = const(286)
_ERASED = const(255)  # the verdict of a shard whose tag did not match


def _allocate(g):
    # A copy of the frame, the decoded payload, the verdicts.
    g.frame = bytearray(_FRAME_LEN)
    fm = memoryview(g.frame)
    g.frame_coded = [fm[i * _TAGGED_LEN : i * _TAGGED_LEN + _CODED_LEN] for i in range(_SHARDS)]
    g.frame_signature = fm[_TAGGED_ALL:_FRAME_LEN]
    g.payload = bytearray(_PAYLOAD_LEN)
    g.payload_view = memoryview(g.payload)
    g.verdicts = bytearray(_SHARDS)


def open_frame(g, frame):
    # Grg.open_frame for the Grg g, which has a context (its comment says
    # what it returns); raises ValueError.
    if len(frame) != _FRAME_LEN:
        raise ValueError("frame must be 286 bytes")
    if g.frame is None:
        _allocate(g)
    g.frame[:] = frame
    key = g.key
    fr = g.frame
    shards = g.shards
    verdicts = g.verdicts
    fast = g.fast  # the host's forms of the stages, or None
    decode_shard = golay_decode.decode_shard if fast is None else fast.golay_decode_shard
    encode_shard = golay.encode_shard if fast is None else fast.golay_encode_shard
    good = 0
    count = 0
    for i in range(_SHARDS):
        fixed = decode_shard(g.frame_coded[i], shards[i])
        # Re-encode the corrected words: the tag covers the clean coded
        # shard, never the received bits (g.coded is scratch here).
        clean = g.coded[i]
        encode_shard(shards[i], clean)
        g.index[0] = i
        t = key.mac(g.index, clean)
        if crypto_verify_at(t, 0, fr, i * _TAGGED_LEN + _CODED_LEN, _TAG_LEN):
            verdicts[i] = fixed if fixed < _ERASED else _ERASED - 1
            good |= 1 << i
            count += 1
        else:
            verdicts[i] = _ERASED
    if count < _DATA_SHARDS:
        raise ValueError("too many erased shards (%d good of 6)" % count)
    if good & 0x0F != 0x0F:  # a data shard is missing: rebuild it
        (rs_rebuild.reconstruct if fast is None else fast.rs_reconstruct)(shards, good)
    rice_decode.decode(g.area, g.payload)
    return g.payload_view
