# The GRG pipeline (docs/spec.md sections 2.1-2.7): G1 (rice) -> R (rs) ->
# G2 (golay) -> H (per-shard HMAC tags) -> SHA-256 commitment; the context
# gate; the sharded frame.
#
# Every buffer is allocated once (the forward path's in Grg(), the frame
# receive path's on the first open_frame). What a gate or frame still
# allocates per call (about 3 KB on the Unix port) is hashlib's:
# MicroPython's sha256 objects cannot be copied or reset, so each HMAC
# makes two hash objects and two digests (tools/bench/bench_codec.py).
#   g = Grg(); g.set_context(ctx)
#   g.commit(payload) -> memoryview(32)    forward path; leaves the six
#                                          tagged shards in g.tagged (222)
#   g.check(payload_or_record, commitment=None) -> bool   the context gate
#   g.open_frame(frame286) -> memoryview(47) payload; g.verdicts[i] is 0 (ok),
#                                          n (bits corrected) or spec.ERASED
#   context_device(device_id), context_message(device_id, message)
# Hosts and tests: pot.host has the allocating forms (commitment, make_frame,
# open_frame ...), on one cached Grg.
#
# A verifier only runs the forward path (commit, check). The frame receive
# path (Golay decoding, RS rebuild, the strict G1 decoder, 0.4 KB of
# buffers) is pot.grg_frame, loaded on the first open_frame; it imports the
# stages, never this module.
#
# Speed: the stages are the firmware modules' loops (viper kernels on
# MicroPython, plain Python on CPython). A host that needs more speed hands
# its own forms of the stages to the constructor: Grg(fast=pot.fastpath),
# CPython's bytes.translate and long-int forms (the same bytes; tests run
# both), as Verifier(ed25519=...) takes the host's Ed25519.
import hashlib

from pot import golay, rice, rs
from pot.rice import copy_bytes
from pot.hmacsha256 import HmacKey, crypto_verify, crypto_verify_at

from pot.compat import const

# Sizes (docs/spec.md 2.6): private copies of pot.spec's, folded by the
# compiler (no heap on a device).
_PAYLOAD_LEN = const(47)
_RECORD_LEN = const(143)
_COMMITMENT_LEN = const(32)
_SIGNATURE_LEN = const(64)
_SHARDS = const(6)
_DATA_SHARDS = const(4)
_SHARD_LEN = const(15)
_AREA_LEN = const(60)  # _DATA_SHARDS * _SHARD_LEN
_CODED_LEN = const(29)
_TAG_LEN = const(8)
_TAGGED_LEN = const(37)  # _CODED_LEN + _TAG_LEN
_TAGGED_ALL = const(222)  # _SHARDS * _TAGGED_LEN
_FRAME_LEN = const(286)  # _TAGGED_ALL + _SIGNATURE_LEN
_MAX_CTX = const(255)

_KEY_LABEL = b"tttps/ctx/v1"
_CTX_DEVICE = const(0x00)
_CTX_MESSAGE = const(0x01)
_MAX_DEVICE_ID = const(64)


class GrgError(ValueError):
    pass


def derive_key(ctx):
    # k = SHA-256("tttps/ctx/v1" || ctx), spec 2.4.
    if len(ctx) > _MAX_CTX:
        raise GrgError("context longer than 255 bytes")
    h = hashlib.sha256(_KEY_LABEL)
    h.update(ctx)
    return h.digest()


class Grg:
    def __init__(self, fast=None):
        # fast: None (the firmware's stages), or the host's forms of them:
        # the module pot.fastpath on CPython (commit, hmac_pads and, for
        # open_frame, golay_decode_shard, golay_encode_shard, rs_reconstruct).
        self.fast = fast
        # RS shards: one 90-byte buffer; the data area (G1 stream padded to
        # 60) is its first 60 bytes, so G1 writes straight into the shards.
        self.shard_buf = bytearray(_SHARDS * _SHARD_LEN)
        sm = memoryview(self.shard_buf)
        self.area = sm[0:_AREA_LEN]
        self.shards = [sm[i * _SHARD_LEN : (i + 1) * _SHARD_LEN] for i in range(_SHARDS)]
        # Tagged shards: coded_i || tag_i, six times.
        self.tagged = bytearray(_TAGGED_ALL)
        tm = memoryview(self.tagged)
        self.coded = [tm[i * _TAGGED_LEN : i * _TAGGED_LEN + _CODED_LEN] for i in range(_SHARDS)]
        # The shard index byte that prefixes each tagged message (spec
        # 2.4): one byte rewritten per shard, so tagging needs no six
        # one-byte constants.
        self.index = bytearray(1)
        self.commit_buf = bytearray(_COMMITMENT_LEN)
        self.commit_view = memoryview(self.commit_buf)
        # Frame receive buffers (frame, frame_coded, frame_signature,
        # payload, payload_view, verdicts): made by the first open_frame.
        self.frame = None
        self.ctx = None
        self.key = None

    def set_context(self, ctx):
        # Derives the tag key of ctx (bytes, 0..255): once per context, not
        # per record.
        # The key object is made once and rekeyed in place after (see
        # HmacKey.rekey: no long-lived blocks left between a verify's
        # temporaries).
        ctx = bytes(ctx)
        k = derive_key(ctx)
        if self.key is None:
            self.key = HmacKey(k, None if self.fast is None else self.fast.hmac_pads)
        else:
            self.key.rekey(k)
        self.ctx = ctx

    # --- forward path ------------------------------------------------------
    def commit(self, payload):
        # The commitment of payload (its first 47 bytes: a payload, signed
        # part or record) for the current context, as a view of an internal
        # buffer (valid until the next call). Leaves the six tagged shards
        # in self.tagged.
        if self.key is None:
            raise GrgError("no context set")
        if len(payload) < _PAYLOAD_LEN:
            raise GrgError("payload shorter than 47 bytes")
        if self.fast is not None:
            return self.fast.commit(self, payload)
        rice.encode(payload, self.area)
        shards = self.shards
        coded = self.coded
        rs.encode_parity(shards)
        tagged = self.tagged
        key = self.key
        index = self.index
        for i in range(_SHARDS):
            golay.encode_shard(shards[i], coded[i])
            index[0] = i
            t = key.mac(index, coded[i])
            # tag_i = t[0:8] (a slice of t would allocate)
            copy_bytes(tagged, i * _TAGGED_LEN + _CODED_LEN, t, 0, _TAG_LEN)
        self.commit_view[:] = hashlib.sha256(tagged).digest()
        return self.commit_view

    def check(self, payload, commitment=None):
        # The context gate: recompute the commitment of payload for the
        # current context and compare (constant time). With commitment None,
        # `payload` is a record (or signed part) carrying it at bytes 47-78.
        c = self.commit(payload)
        if commitment is None:
            if len(payload) < _PAYLOAD_LEN + _COMMITMENT_LEN:
                raise GrgError("no commitment given and none in the record")
            return crypto_verify_at(c, 0, payload, _PAYLOAD_LEN, _COMMITMENT_LEN)
        return crypto_verify(c, commitment)

    # --- sharded frame receive (spec 2.6): pot.grg_frame ---------------------
    def open_frame(self, frame):
        # Returns the 47-byte payload (a view of an internal buffer) and
        # fills self.verdicts[i]: 0 (ok), n (bits corrected) or ERASED (255);
        # raises GrgError when the frame is not 286 bytes, fewer than 4
        # shards pass their tags or the rebuilt data is not a canonical G1
        # stream. The signature is in self.frame_signature. The caller
        # recomputes the commitment (commit) and verifies the record as any
        # other. The receive path is loaded on first use (see the top of
        # this file) and kept in a global (an import statement per call
        # would allocate).
        if self.key is None:
            raise GrgError("no context set")
        global _frame_module
        if _frame_module is None:
            from pot import grg_frame as _frame_module
        try:
            return _frame_module.open_frame(self, frame)
        except ValueError as e:
            raise GrgError(str(e))


_frame_module = None


# --- context strings (spec 2.7) --------------------------------------------
def _as_bytes(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def context_device(device_id):
    # ctx = 0x00 || len(id) || id   (id: 1..64 bytes)
    i = _as_bytes(device_id)
    if not 1 <= len(i) <= _MAX_DEVICE_ID:
        raise GrgError("device id must be 1..64 bytes")
    return bytes((_CTX_DEVICE, len(i))) + i


def context_message(device_id, message):
    # ctx = 0x01 || len(id) || id || SHA-256(message)
    i = _as_bytes(device_id)
    if not 1 <= len(i) <= _MAX_DEVICE_ID:
        raise GrgError("device id must be 1..64 bytes")
    return bytes((_CTX_MESSAGE, len(i))) + i + hashlib.sha256(_as_bytes(message)).digest()
