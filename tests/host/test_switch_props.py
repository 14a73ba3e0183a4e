"""Property tests of AdaptiveSwitch against the draft-03 TLA+ invariants.

The real pot.switch is driven with random verdict sequences (hypothesis) and
checked after every step against:
  S1 NoForcedTurbo:            TURBO => match rate >= 0.85 and f = 0
  S2 DelayRejectionTriggersFull: a STALE/FUTURE verdict leaves the sender FULL
  S3 FailureExcludesTurbo:     f > 0 => FULL
  L1 EventualTurbo:            from ANY reachable state, sustained good
                               behaviour (OK verdicts) reaches TURBO within
                               max(20, cooldown) <= 320 blocks
and step by step against an independent, list-based reference model of the
definition in docs/spec.md (so a wrong threshold or off-by-one shows up as
a divergence, not only as an invariant violation). Also: SwitchTable never
creates TURBO by eviction, and FiloQueue serves max-timestamp first.
"""
from hypothesis import given, settings, strategies as st

from pot.filo import FiloQueue
from pot.host import event_for
from pot.spec import FULL, NOT_A_BLOCK, TURBO
from pot.switch import AdaptiveSwitch, SwitchTable

OK, PROTO, FUTURE, CROSS, FORGE, STALE, REPLAY, BUSY, ORDERING, CHALLENGE = range(10)
FAILURES = (PROTO, FUTURE, CROSS, FORGE, STALE)
OUT_OF_TOLERANCE = (FUTURE, STALE)

# Sequences biased towards long good runs (otherwise TURBO is rarely seen).
verdict = st.one_of(st.just(OK), st.just(OK), st.just(OK), st.integers(0, 9))
run = st.tuples(verdict, st.integers(1, 40))  # (verdict, repeat count)
histories = st.lists(run, max_size=40).map(lambda rs: [v for v, n in rs for _ in range(n)])


class Reference:
    """The spec's definition, written plainly: a list window, no bit tricks."""

    def __init__(self):
        self.mode, self.window, self.f, self.cooldown = "FULL", [], 0, 0

    def step(self, v):
        if v == BUSY:
            return
        self.window = (self.window + [v == OK])[-20:]
        self.cooldown = max(0, self.cooldown - 1)
        if v in FAILURES:
            self.mode = "FULL"
            self.f = min(self.f + 1, 5)
            self.cooldown = min(20 * 2 ** (self.f - 1), 320)
            return
        m = sum(self.window)
        if self.mode == "TURBO":
            if m / 20 < 0.85:
                self.mode = "FULL"
        elif len(self.window) == 20 and m / 20 >= 0.95 and self.cooldown == 0:
            self.mode = "TURBO"
            self.f = 0


def check_invariants(sw, v):
    rate = sw.matches() / 20
    if sw.mode == TURBO:  # S1 NoForcedTurbo
        assert rate >= 0.85 and sw.fails == 0
    if v in OUT_OF_TOLERANCE:  # S2 DelayRejectionTriggersFull
        assert sw.mode == FULL
    if sw.fails > 0:  # S3 FailureExcludesTurbo
        assert sw.mode == FULL
    if v in FAILURES:
        assert sw.mode == FULL


@settings(max_examples=300, deadline=None)
@given(histories)
def test_invariants_and_reference_model(history):
    sw, ref = AdaptiveSwitch(), Reference()
    for v in history:
        before = sw.mode
        sw.record(v)
        ref.step(v)
        check_invariants(sw, v)
        assert (sw.mode == TURBO) == (ref.mode == "TURBO"), (v, history)
        assert (sw.fails, sw.cooldown, sw.matches()) == (ref.f, ref.cooldown, sum(ref.window))
        if before == FULL and sw.mode == TURBO:  # entry only with a clean full window
            assert sw.seen == 20 and sw.matches() >= 19 and sw.cooldown == 0


@settings(max_examples=300, deadline=None)
@given(histories)
def test_eventual_turbo_within_bound(history):
    # L1 with an explicit bound: from the state any history leaves, OK
    # verdicts reach TURBO after exactly max(needed window, cooldown)
    # blocks at most, and never more than 320.
    sw = AdaptiveSwitch()
    for v in history:
        sw.record(v)
    bound = max(20, sw.cooldown)
    assert bound <= 320
    steps = 0
    while sw.mode != TURBO:
        sw.record(OK)
        steps += 1
        assert steps <= bound, (steps, bound)
    # and TURBO is kept under sustained good behaviour
    for _ in range(100):
        assert sw.record(OK) == TURBO


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), verdict), max_size=400), st.integers(1, 4))
def test_table_never_creates_turbo_by_eviction(events, capacity):
    t = SwitchTable(capacity)
    blocks = {}  # sender -> its whole history of blocks (verdicts, BUSY excluded)
    for sid, v in events:
        sender = bytes([sid])
        t.record(sender, v)
        if event_for(v) != NOT_A_BLOCK:
            blocks.setdefault(sender, []).append(v)
        for s, h in blocks.items():
            if t.mode(s) == TURBO:
                last = h[-20:]
                assert len(last) == 20
                assert sum(1 for x in last if x == OK) >= 17
                assert not any(x in FAILURES for x in last)
        n_turbo = sum(1 for s in blocks if t.mode(s) == TURBO)
        assert n_turbo <= capacity


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 50), st.none()), max_size=200), st.integers(1, 8))
def test_filo_order(ops, capacity):
    # Reference: a plain list; pop = max timestamp, latest push among ties;
    # a push into a full queue drops the min timestamp, earliest push among
    # ties (the newcomer itself when it is strictly the oldest).
    q, ref, seq = FiloQueue(capacity), [], 0
    for op in ops:
        if op is None:
            got = q.pop()
            if not ref:
                assert got is None
                continue
            best = max(ref, key=lambda e: (e[0], e[1]))
            ref.remove(best)
            assert got == best[1]
        else:
            seq += 1
            item = seq
            dropped = q.push(op, item)
            ref.append((op, item))
            if len(ref) > capacity:
                worst = min(ref, key=lambda e: (e[0], e[1]))
                ref.remove(worst)
                assert dropped == worst[1]
            else:
                assert dropped is None
        assert len(q) == len(ref)
