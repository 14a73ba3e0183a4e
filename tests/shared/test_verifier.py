# The verifier pipeline (docs/spec.md, verifier section): every verdict,
# the order of the checks, the replay cache, ordering, and the draft-03
# properties C.5 (every single-bit flip rejected), C.6 (delay -> STALE ->
# FULL) and C.7 (a wrong context never reaches Ed25519).
#
# Records come from tests/vectors/verifier_records.txt (signed on the host by
# tools/gen/gen_verifier_vectors.py); verification uses the firmware Ed25519,
# wrapped to count its calls.
from testlib import vectors, unhex, Rng
from pot.verifier import Verifier
from pot.spec import TIER_WINDOW_MS, VERDICT_NAMES as NAMES, OK, PROTO_VIOLATION, FUTURE, CROSS_CONTEXT, FORGE, STALE, REPLAY, BUSY, ORDERING, CHALLENGE
from pot.spec import FULL, TURBO
from pot.switch import AdaptiveSwitch
from pot.ed25519 import crypto_ed25519_verify

MS = 1000000
VECTORS = "verifier_records.txt"


class CountingEd25519:
    # The real verify function, counting calls (C.7 is about calls, not time).
    def __init__(self):
        self.calls = 0

    def __call__(self, pk, msg, sig):
        self.calls += 1
        return crypto_ed25519_verify(pk, msg, sig)


def load(kinds):
    # {name: fields} for the vector lines of the given kinds.
    out = {}
    for f in vectors(VECTORS):
        if f[0] in kinds:
            out[f[1]] = f
    return out


_fixed = None


def fixed():
    # (public key, ctx A, ctx B, {seq name: (ts, record)})
    global _fixed
    if _fixed is None:
        kc = load(("key", "ctx", "seq"))
        seq = {}
        for name, f in kc.items():
            if f[0] == "seq":
                seq[name] = (int(f[2]), unhex(f[5]))
        _fixed = (unhex(kc["public_key"][5]), unhex(kc["ctx_a"][5]), unhex(kc["ctx_b"][5]), seq)
    return _fixed


def make(**kw):
    ed = CountingEd25519()
    return Verifier(fixed()[0], ed25519=ed, **kw), ed


def t0():
    return fixed()[3]["seq0"][0]


# Verdicts decided before the signature check, which must not run Ed25519.
_BEFORE_ED25519 = (PROTO_VIOLATION, FUTURE, CROSS_CONTEXT, CHALLENGE)


def test_every_vector_case():
    pk, ctx_a, _, _ = fixed()
    seen = set()
    n = 0
    for f in vectors(VECTORS):
        if f[0] != "case":
            continue
        name, flag, now, ch, rec, expected = f[1], f[2], f[3], f[4], f[5], f[6]
        v, ed = make()
        got = v.verify(unhex(rec), ctx_a, None if now == "-" else int(now), None if ch == "-" else unhex(ch))
        assert NAMES[got] == expected, (name, NAMES[got], expected)
        assert (flag == "valid") == (got == OK), name
        if got in _BEFORE_ED25519:
            assert ed.calls == 0, name
        else:
            assert ed.calls == 1, name
        seen.add(got)
        n += 1
    assert n >= 30
    # every verdict that a single verify on a fresh verifier can give
    for code in (OK, PROTO_VIOLATION, FUTURE, CROSS_CONTEXT, FORGE, STALE, CHALLENGE):
        assert code in seen, NAMES[code]


def test_c7_wrong_context_never_calls_ed25519():
    pk, ctx_a, ctx_b, seq = fixed()
    ts, rec = seq["seq0"]
    v, ed = make()
    assert v.verify(rec, ctx_b, ts) == CROSS_CONTEXT
    rng = Rng(7)
    for i in range(20):  # arbitrary other contexts, including the empty one
        ctx = rng.bytes(rng.below(80))
        if ctx == ctx_a:
            continue
        assert v.verify(rec, ctx, ts) == CROSS_CONTEXT
    assert ed.calls == 0
    assert v.verify(rec, ctx_a, ts) == OK and ed.calls == 1


def test_context_key_is_derived_only_when_ctx_changes():
    pk, ctx_a, ctx_b, seq = fixed()
    v, ed = make()
    calls = [0]
    real = v._grg.set_context

    def counting(ctx):
        calls[0] += 1
        real(ctx)

    v._grg.set_context = counting
    ts, rec = seq["seq1"]
    for _ in range(3):
        v.verify(rec, bytes(ctx_a), ts)  # an equal ctx, not the same object
    assert calls[0] == 1
    v.verify(rec, ctx_b, ts)
    v.verify(rec, ctx_a, ts)
    assert calls[0] == 3


def test_c5_every_single_bit_flip_is_rejected():
    # 143 * 8 = 1,144 flips of a valid record: none is accepted; the 512 in
    # the signature are FORGE after exactly one Ed25519 call each, and no
    # flip in bytes 0-78 reaches Ed25519 (structure, FUTURE or the context
    # gate stops it first).
    pk, ctx_a, _, seq = fixed()
    ts, rec = seq["seq3"]
    v, ed = make()
    now = ts + 1 * MS
    buf = bytearray(rec)
    counts = [0] * len(NAMES)
    for byte in range(143):
        for bit in range(8):
            buf[byte] ^= 1 << bit
            calls = ed.calls
            got = v.verify(buf, ctx_a, now)
            buf[byte] ^= 1 << bit
            assert got != OK, (byte, bit)
            counts[got] += 1
            if byte >= 79:
                assert got == FORGE and ed.calls == calls + 1, (byte, bit, NAMES[got])
            else:
                assert got in _BEFORE_ED25519 and ed.calls == calls, (byte, bit, NAMES[got])
    assert ed.calls == 512 and counts[FORGE] == 512
    assert sum(counts) == 1144
    assert counts[CROSS_CONTEXT] > 0 and counts[PROTO_VIOLATION] > 0 and counts[FUTURE] > 0
    assert v.verify(rec, ctx_a, now) == OK  # the original still verifies


def test_replay_is_rejected_within_the_window():
    pk, ctx_a, _, seq = fixed()
    ts, rec = seq["seq0"]
    v, ed = make()
    assert v.verify(rec, ctx_a, ts + 5 * MS) == OK
    assert v.verify(rec, ctx_a, ts + 6 * MS) == REPLAY
    assert v.verify(rec, ctx_a, ts + 2000 * MS) == REPLAY  # last instant of T1
    assert v.verify(rec, ctx_a, ts + 2000 * MS + 1) == STALE  # then STALE


def test_cache_full_of_live_entries_is_busy_then_reusable_after_expiry():
    pk, ctx_a, _, seq = fixed()
    v, ed = make(cache_capacity=4)
    now = seq["seq4"][0]
    for i in range(4):
        assert v.verify(seq["seq%d" % i][1], ctx_a, now) == OK
    assert v.cache.live(now) == 4
    # Full of live entries: fail closed, nothing evicted.
    assert v.verify(seq["seq4"][1], ctx_a, now) == BUSY
    assert v.verify(seq["seq4"][1], ctx_a, now + 1 * MS) == BUSY
    for i in range(4):  # every remembered nonce is still refused
        assert v.verify(seq["seq%d" % i][1], ctx_a, now) == REPLAY
    # seq0's entry expires at seq0.ts + 2 s: one ns later its slot is free.
    later = t0() + 2000 * MS + 1
    assert v.verify(seq["seq4"][1], ctx_a, later) == OK
    assert v.verify(seq["seq0"][1], ctx_a, later) == STALE  # never REPLAY-able again
    assert v.verify(seq["seq5"][1], ctx_a, later) == BUSY  # seq1..4 still live


def test_ordering_is_non_decreasing():
    pk, ctx_a, _, seq = fixed()
    v, ed = make()
    now = seq["seq9"][0]
    assert v.verify(seq["seq5"][1], ctx_a, now) == OK
    assert v.verify(seq["twin5"][1], ctx_a, now) == OK  # equal timestamp allowed
    live = v.cache.live(now)
    assert v.verify(seq["seq3"][1], ctx_a, now) == ORDERING
    assert v.cache.live(now) == live  # a rejected record takes no cache slot
    assert v.verify(seq["seq3"][1], ctx_a, now) == ORDERING
    assert v.verify(seq["seq6"][1], ctx_a, now) == OK
    assert v.last_ts == seq["seq6"][0]


def test_ordering_off_accepts_any_order_and_replay_still_holds():
    # ordering=False (a service: many clients, arrival order is not issuing
    # order): an older record is accepted, a replay is still REPLAY.
    pk, ctx_a, _, seq = fixed()
    v, ed = make(ordering=False)
    now = seq["seq9"][0]
    assert v.verify(seq["seq5"][1], ctx_a, now) == OK
    assert v.verify(seq["seq3"][1], ctx_a, now) == OK
    assert v.verify(seq["seq3"][1], ctx_a, now) == REPLAY
    assert v.verify(seq["seq5"][1], ctx_a, now) == REPLAY


class ListCache:
    # A replay cache with NonceCache's lookup/store, as a host hands in.
    FOUND, FULL = -1, -2

    def __init__(self):
        self.stored = []

    def lookup(self, nonce, now_ns):
        for n, expiry in self.stored:
            if n == bytes(nonce) and expiry >= now_ns:
                return self.FOUND
        return 0

    def store(self, slot, nonce, expiry_ns):
        self.stored.append((bytes(nonce), expiry_ns))


def test_a_given_cache_is_the_one_used():
    pk, ctx_a, _, seq = fixed()
    ts, rec = seq["seq0"]
    cache = ListCache()
    v, ed = make(cache=cache)
    assert v.cache is cache
    assert v.verify(rec, ctx_a, ts + 5 * MS) == OK
    assert cache.stored == [(bytes(rec[15:47]), ts + TIER_WINDOW_MS[rec[0] & 15] * MS)]
    assert v.verify(rec, ctx_a, ts + 6 * MS) == REPLAY


def test_future_is_judged_against_future_now_when_given():
    # now_ns (steps 6-8) and future_now_ns (step 2) apart: a device's clock
    # interval (earliest, latest), a service's (high water, now).
    pk, ctx_a, _, seq = fixed()
    ts, rec = seq["seq0"]
    window = TIER_WINDOW_MS[rec[0] & 15] * MS
    v, ed = make(skew_ms=0)
    assert v.verify(rec, ctx_a, ts - 1, None, ts) == OK          # ahead of earliest, not of latest
    v, ed = make(skew_ms=0)
    assert v.verify(rec, ctx_a, ts + window, None, ts - 1) == FUTURE
    assert ed.calls == 0
    v, ed = make(skew_ms=0)
    assert v.verify(rec, ctx_a, ts + window + 1, None, ts) == STALE  # recency reads now_ns


def test_ordering_without_clock_and_challenge_checks():
    # Before the first sync (now_ns None) only a record answering our
    # challenge is accepted, and ordering still applies.
    pk, ctx_a, _, seq = fixed()
    v, ed = make()
    ts, rec = seq["seq2"]
    assert v.verify(rec, ctx_a, None) == CHALLENGE
    assert v.verify(rec, ctx_a, None, rec[15:47]) == OK  # its own nonce as challenge
    assert ed.calls == 1
    assert v.verify(rec, ctx_a, None, b"\x00" * 32) == CHALLENGE
    assert v.verify(rec, ctx_a, None, rec[15:46]) == CHALLENGE  # wrong length
    assert ed.calls == 1  # challenge failures never reach Ed25519
    ts1, rec1 = seq["seq1"]
    assert v.verify(rec1, ctx_a, None, rec1[15:47]) == ORDERING


def test_c6_delayed_submission_is_stale_and_drives_switch_to_full():
    pk, ctx_a, _, seq = fixed()
    v, ed = make()
    sw = AdaptiveSwitch()
    for i in range(20):  # 20 good blocks: TURBO
        ts, rec = seq["seq%d" % i]
        sw.record(v.verify(rec, ctx_a, ts + 3 * MS))
    assert sw.mode == TURBO
    ts, rec = seq["seq20"]
    tolerance = TIER_WINDOW_MS[rec[0] & 15] * MS
    verdict = v.verify(rec, ctx_a, ts + tolerance + 1 * MS)  # T + tolerance + 1 ms
    assert verdict == STALE
    assert sw.record(verdict) == FULL
    # The same record within its tolerance would have been accepted.
    assert v.verify(rec, ctx_a, ts + tolerance) == OK


def test_future_skew_is_configurable():
    pk, ctx_a, _, seq = fixed()
    ts, rec = seq["seq0"]
    v, ed = make(skew_ms=0)
    assert v.verify(rec, ctx_a, ts - 1) == FUTURE
    assert v.verify(rec, ctx_a, ts) == OK
    v, ed = make(skew_ms=2000)
    assert v.verify(rec, ctx_a, ts - 2000 * MS) == OK


def test_names_and_codes():
    assert len(NAMES) == 11 and len(set(NAMES)) == 11 and NAMES[10] == "NO_CLOCK"
    codes = (OK, PROTO_VIOLATION, FUTURE, CROSS_CONTEXT, FORGE, STALE, REPLAY, BUSY, ORDERING, CHALLENGE)
    assert codes == tuple(range(10))


def test_nonce_cache_compares_whole_nonces_and_expires_exactly():
    from pot.nonces import NonceCache, FOUND, FULL

    c = NonceCache(3)
    a = bytes(31) + b"\x01"
    b = bytes(31) + b"\x02"  # same first 31 bytes as a
    assert c.lookup(a, 100) == 0  # empty: slot 0 is free
    c.store(0, a, 200)
    assert c.lookup(a, 100) == FOUND and c.lookup(a, 200) == FOUND  # live while now <= expiry
    assert c.lookup(b, 100) == 1  # differs only in the last byte: not a replay
    c.store(1, memoryview(bytearray(b)), 300)  # any bytes-like nonce
    c.store(2, b"\xff" * 32, 150)
    assert c.lookup(b, 250) == FOUND
    assert c.lookup(b"\x07" * 32, 150) == FULL  # all three live at 150
    assert c.lookup(b"\x07" * 32, 151) == 2  # slot 2 expired at 150
    assert c.lookup(a, 201) == 0  # a's entry expired: free, not FOUND
    assert c.live(150) == 3 and c.live(201) == 1
    c.clear()
    assert c.live(0) == 0
