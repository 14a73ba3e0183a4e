# The verifier pipeline: one record in, one verdict out (docs/spec.md,
# verifier section). Cheapest checks first, and the expensive Ed25519
# verify only for records that are structurally valid, not from the future,
# answer our challenge (if any) and carry the right context commitment:
#
#   1  structure (pot.record)                         PROTO_VIOLATION
#   2  timestamp > now + skew                         FUTURE      (clock known)
#   3  nonce != our challenge (or no challenge        CHALLENGE
#      given while there is no trusted clock)
#   4  GRG commitment for OUR ctx != bytes 47-78      CROSS_CONTEXT (no Ed25519!)
#   5  Ed25519 over bytes 0-78                        FORGE
#   6  now - timestamp > tier window                  STALE       (clock known)
#   7  nonce live in the replay cache                 REPLAY      (clock known)
#   8  cache full of live entries                     BUSY        (fail closed)
#   9  timestamp < last accepted timestamp            ORDERING    (unless off)
#   -> OK: the nonce is remembered until timestamp + window, and the
#      timestamp becomes the new ordering floor. A rejection changes no state.
#
# Memory: the record buffer, the GRG working state and the nonce cache are
# allocated once in the constructor; the context key is recomputed only
# when ctx changes. The pipeline's own steps allocate nothing on a 64-bit
# port (the GRG gate's hashing makes ~3 KB of short-lived hash objects, in
# pot.grg); on 32-bit boards the u64 timestamp arithmetic also makes a few
# small long ints.
from pot.compat import const
from pot.record import Record
from pot.nonces import NonceCache
from pot.grg import Grg
# Constant-time comparison (the reason is written at its definition): used
# for the commitment and the challenge. Neither value is secret (anyone can
# recompute a commitment, a challenge travels in clear), but a uniform rule
# keeps every comparison in the pipeline from becoming a probing oracle.
from pot.hmacsha256 import crypto_verify

# The verdict codes (spec section 4), folded into the code as private
# const()s; their public names are pot.spec's (OK ... CHALLENGE,
# VERDICT_NAMES), which a device never loads. The names a module defines
# are interned when it loads and stay for good; on the Unix port, which
# keeps them in its heap, each one counts (tools/heap_report.py).
_OK = const(0)
_PROTO_VIOLATION = const(1)
_FUTURE = const(2)
_CROSS_CONTEXT = const(3)
_FORGE = const(4)
_STALE = const(5)
_REPLAY = const(6)
_BUSY = const(7)
_ORDERING = const(8)
_CHALLENGE = const(9)
_DEFAULT_SKEW_MS = const(500)
_DEFAULT_CACHE_CAPACITY = const(32)

# pot.nonces' lookup answers.
_FOUND = const(-1)
_FULL = const(-2)


class Verifier:
    # cache: a replay cache with NonceCache's lookup/store (the host's, for
    # thousands of records a second), else a NonceCache of cache_capacity.
    # ordering: step 9 (spec 4.7), on for a device, which receives one
    # issuer's records in order; off for a verifier serving many clients,
    # whose arrival order says nothing about issuing order.
    def __init__(self, public_key32, skew_ms=_DEFAULT_SKEW_MS, cache_capacity=_DEFAULT_CACHE_CAPACITY, ed25519=None,
                 grg=None, cache=None, ordering=True):
        if len(public_key32) != 32:
            raise ValueError("public key must be 32 bytes")
        if skew_ms < 0:
            raise ValueError("skew_ms")
        # The buffers first (the nonce cache is the largest block, 1 KB for
        # 32 slots), then the import of pot.ed25519: MicroPython never moves
        # objects, and loading modules leaves the heap in small pieces, so
        # a small heap may hold the buffers only before that import.
        self.cache = NonceCache(cache_capacity) if cache is None else cache
        self.record = Record()  # the last loaded record, for callers
        # The context gate: the firmware's stages unless the host hands in
        # its own (Grg(fast=pot.fastpath): the same bytes, faster on CPython).
        self._grg = Grg() if grg is None else grg
        self._pk = bytes(public_key32)
        self.skew_ns = skew_ms * 1000000
        # Recency window per tier (T0_epoch, T1_block, T2_slot, T3_micro):
        # 60 s, 2 s, 12 s, 100 ms, draft-03 section 8 (pot.spec's
        # TIER_WINDOW_MS; the reasons are in the spec), in ns.
        self.windows_ns = (60000000000, 2000000000, 12000000000, 100000000)
        self.ordering = ordering
        # The ordering floor: the last accepted timestamp (ns). A device
        # puts it back after a clock sync, which leaves it alone (spec 4.7).
        self.last_ts = -1
        if ed25519 is None:  # the default, loaded only when no other is given
            from pot.ed25519 import crypto_ed25519_verify as ed25519
        self._ed25519 = ed25519

    def _set_context(self, ctx):
        # Recompute k = SHA-256(label || ctx) only when ctx changes; the
        # comparison of two bytes objects allocates nothing.
        # (The Grg keeps ctx, as bytes: no second copy here.)
        g = self._grg
        if g.ctx is None or ctx != g.ctx:
            g.set_context(ctx)

    def verify(self, data, ctx, now_ns, challenge=None, future_now_ns=None):
        # data: the 143-byte record; ctx: the context we expect (bytes);
        # now_ns: our trusted time at RECEPTION (take it when the record
        # arrives, not after queueing), or None before the first clock
        # sync; challenge: the 32-byte nonce we asked the issuer to use.
        # future_now_ns: the time step 2 judges against when it is not
        # now_ns (steps 6-8 always use now_ns): a device's clock is an
        # interval, and it passes the earliest possible time as now_ns and
        # the latest here, so that neither STALE nor FUTURE rejects a
        # record the true time would accept; the service passes its
        # high-water time as now_ns and the current time here.
        rec = self.record
        # 1. structure
        if rec.load(data) != _OK:
            return _PROTO_VIOLATION
        ts = rec.timestamp_ns()
        # 2. future
        if now_ns is not None:
            if ts - (now_ns if future_now_ns is None else future_now_ns) > self.skew_ns:
                return _FUTURE
        # 3. challenge: required without a clock, binding when given
        if challenge is not None or now_ns is None:
            if challenge is None:
                return _CHALLENGE
            if not crypto_verify(rec.nonce, challenge):
                return _CHALLENGE
        # 4. context gate: Ed25519 never runs past a failure here
        self._set_context(ctx)
        # Grg.check recomputes the commitment of bytes 0-46 and compares it
        # with bytes 47-78 in constant time (crypto_verify_at).
        if not self._grg.check(rec.signed):
            return _CROSS_CONTEXT
        # 5. signature
        if not self._ed25519(self._pk, rec.signed, rec.signature):
            return _FORGE
        window = self.windows_ns[rec.tier()]
        slot = -1
        if now_ns is not None:
            # 6. recency
            if now_ns - ts > window:
                return _STALE
            # 7, 8. replay cache (fail closed when full of live entries)
            slot = self.cache.lookup(rec.nonce, now_ns)
            if slot == _FOUND:
                return _REPLAY
            if slot == _FULL:
                return _BUSY
        # 9. ordering: non-decreasing timestamps per issuer
        if self.ordering and ts < self.last_ts:
            return _ORDERING
        if slot >= 0:
            self.cache.store(slot, rec.nonce, ts + window)
        self.last_ts = ts
        return _OK

