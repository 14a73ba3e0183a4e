# The GRG pipeline (docs/spec.md sections 2.1-2.7): G1 (rice) -> R (rs) ->
# G2 (golay) -> H (per-shard HMAC tags) -> SHA-256 commitment; the context
# gate; the sharded frame.
#
# Device API, every buffer allocated once (the forward path's in Grg(),
# the frame receive path's on the first open_frame). What a gate or frame
# still allocates per call (about 3 KB on the Unix port) is hashlib's:
# MicroPython's sha256 objects cannot be copied or reset, so each HMAC
# makes two hash objects and two digests (tools/bench_codec.py).
#   g = Grg(); g.set_context(ctx)
#   g.commit(payload) -> memoryview(32)    forward path; leaves the six
#                                          tagged shards in g.tagged (222)
#   g.check(payload_or_record, commitment=None) -> bool   the context gate
#   g.open_frame(frame286) -> memoryview(47) payload; g.verdicts[i] is 0 (ok),
#                                          n (bits corrected) or ERASED
# Host API (allocates, one cached Grg, not thread-safe: one per thread;
# the code is pot.grg_host, loaded on first use through __getattr__ below):
#   commitment(payload, ctx) -> bytes(32)
#   encode(payload, ctx) -> (tagged_shards222, commitment)
#   make_frame(record143, ctx) -> bytes(286)
#   open_frame(frame286, ctx) -> (record143, verdicts)    raises GrgError
#   context_device(device_id), context_message(device_id, message)
#
# Memory (the device budget): a verifier only runs the forward path
# (commit, check). The frame receive path (open_frame: Golay decoding, RS
# rebuild, the strict G1 decoder, 0.4 KB of buffers) is pot.grg_frame,
# loaded on the first open_frame, so a verifier never spends heap on it.
#
# Two forward paths give the same bytes (tests run both on CPython against
# the same vectors): the portable one runs the firmware modules' loops (on
# MicroPython they are viper/C); on CPython, where those loops would be
# interpreted Python, `fast` mode does RS with bytes.translate and Golay
# with per-byte tables of coded long ints (XOR of 15), so that the host issuer
# reaches its 10,000 records per second. The fast path's code is in
# pot.fastpath, which MicroPython never loads, so it costs no heap there.
import hashlib

from pot import golay, rice, rs
from pot.rice import copy_bytes
from pot.hmacsha256 import HmacKey, crypto_verify, crypto_verify_at

from pot.compat import IS_MICROPYTHON, const

# Sizes (docs/spec.md 2.6). Private: the compiler folds them, so they cost
# no heap on the device; pot.grg_frame and pot.grg_host have their own.
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
ERASED = const(255)  # verdict of a shard whose tag did not match

_KEY_LABEL = b"tttps/ctx/v1"
_CTX_DEVICE = const(0x00)
_CTX_MESSAGE = const(0x01)
_MAX_DEVICE_ID = const(64)

FAST_AVAILABLE = not IS_MICROPYTHON  # bytes.translate, cheap long ints


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
        self.fast = FAST_AVAILABLE if fast is None else bool(fast)
        if self.fast and not FAST_AVAILABLE:
            raise GrgError("fast path is CPython-only")
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
        # 2.4): one byte rewritten per shard, so tagging allocates no
        # one-byte buffers (six bytes constants cost 0.4 KB of heap).
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
            self.key = HmacKey(k, use_copy=self.fast)
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
        if self.fast:
            return _fast(self, payload)
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
        # fills self.verdicts[i]: 0 (ok), n (bits corrected) or ERASED;
        # raises GrgError when fewer than 4 shards pass their tags or the
        # rebuilt data is not a canonical G1 stream. The signature is in
        # self.frame_signature. The caller recomputes the commitment
        # (commit) and verifies the record as any other.
        # The receive path, loaded on first use (see the top of this file)
        # and kept in a global (an import statement per call would allocate).
        global _frame_module
        if _frame_module is None:
            from pot import grg_frame as _frame_module
        return _frame_module.open_frame(self, frame)


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


# --- host conveniences (allocate): pot.grg_host, loaded on first use -------
def __getattr__(name):
    # grg.commitment, grg.encode, grg.make_frame, grg.open_frame (and
    # `from pot.grg import commitment`) work as if defined here, but their
    # code is only loaded when first asked for: a device verifier never
    # needs them. The value is then stored here, so later look-ups are
    # plain module attributes. Any name that is not here is looked up in
    # pot.grg_host (its AttributeError is ours): naming the four here would
    # put their strings on every device's heap.
    from pot import grg_host

    value = getattr(grg_host, name)
    globals()[name] = value
    return value


# --- CPython fast path (pot.fastpath; never loaded on MicroPython) ---------
if FAST_AVAILABLE:
    from pot import fastpath

    _fast = fastpath.make(__name__)  # Grg.commit with the fast stages
