# AdaptiveSwitch, SwitchTable and FiloQueue: deterministic transitions
# (draft-03 section 6 as defined in docs/spec.md, verifier section).
from pot import spec
from pot.filo import FiloQueue
from pot.host import event_for
from pot.spec import FULL, TURBO, MATCH, MISS, FAILURE, NOT_A_BLOCK
from pot.switch import AdaptiveSwitch, SwitchTable

# Verdict numbers (pot.verifier); the cross-check with the verifier module
# itself is test_verdict_numbers_agree_with_verifier.
OK, PROTO, FUTURE, CROSS, FORGE, STALE, REPLAY, BUSY, ORDERING, CHALLENGE = range(10)


def feed(sw, kind, n):
    for _ in range(n):
        mode = sw.event(kind)
    return mode


def test_new_sender_needs_a_full_window_of_matches():
    sw = AdaptiveSwitch()
    assert sw.mode == FULL
    for i in range(19):
        assert sw.event(MATCH) == FULL, i
    assert sw.event(MATCH) == TURBO  # the 20th match completes the window
    assert sw.matches() == 20 and sw.fails == 0


def test_entry_threshold_is_19_of_20():
    sw = AdaptiveSwitch()
    sw.event(MISS)
    feed(sw, MATCH, 18)
    assert sw.seen == 19 and sw.mode == FULL
    assert sw.event(MATCH) == TURBO  # 19 matches of 20 = 0.95
    sw = AdaptiveSwitch()
    feed(sw, MISS, 2)
    assert feed(sw, MATCH, 18) == FULL  # 18/20 = 0.90 < 0.95
    assert sw.event(MATCH) == TURBO  # the oldest miss left the window: 19/20


def test_turbo_upkeep_threshold_is_17_of_20():
    sw = AdaptiveSwitch()
    feed(sw, MATCH, 20)
    assert sw.mode == TURBO
    assert feed(sw, MISS, 3) == TURBO  # 17/20 = 0.85 keeps TURBO
    assert sw.event(MISS) == FULL  # 16/20 < 0.85
    assert sw.fails == 0 and sw.cooldown == 0  # misses are not failures
    # Hysteresis: back at 17/20 matches is not enough to re-enter.
    assert feed(sw, MATCH, 1) == FULL


def test_every_failure_verdict_forces_full_and_backoff():
    for v in (PROTO, FUTURE, CROSS, FORGE, STALE):
        sw = AdaptiveSwitch()
        feed(sw, MATCH, 20)
        assert sw.mode == TURBO
        assert sw.record(v) == FULL, v
        assert sw.fails == 1 and sw.cooldown == 20, v


def test_misses_and_busy_classification():
    assert event_for(OK) == MATCH
    for v in (PROTO, FUTURE, CROSS, FORGE, STALE):
        assert event_for(v) == FAILURE
    for v in (REPLAY, ORDERING, CHALLENGE):
        assert event_for(v) == MISS
    assert event_for(BUSY) == NOT_A_BLOCK
    # The switch's own table counts each verdict as that event.
    for v in range(10):
        by_verdict = AdaptiveSwitch()
        by_event = AdaptiveSwitch()
        for i in range(25):
            assert by_verdict.record(v if i % 3 else OK) == by_event.event(event_for(v) if i % 3 else MATCH), v
            assert (by_verdict.ring, by_verdict.seen, by_verdict.fails, by_verdict.cooldown) == \
                (by_event.ring, by_event.seen, by_event.fails, by_event.cooldown), v
    sw = AdaptiveSwitch()
    feed(sw, MATCH, 20)
    ring, seen = sw.ring, sw.seen
    for _ in range(50):
        assert sw.record(BUSY) == TURBO  # not a block: nothing changes
    assert sw.ring == ring and sw.seen == seen


def test_backoff_doubles_per_consecutive_failure_and_caps_at_320():
    sw = AdaptiveSwitch()
    expected = (20, 40, 80, 160, 320, 320, 320)
    for f, cool in enumerate(expected):
        sw.event(FAILURE)
        assert sw.fails == min(f + 1, 5)
        assert sw.cooldown == cool, (f, sw.cooldown)
        # Good behaviour in between that does not reach TURBO keeps f.
        feed(sw, MATCH, 10)
        assert sw.mode == FULL


def test_cooldown_delays_turbo_entry_exactly():
    sw = AdaptiveSwitch()
    sw.event(FAILURE)
    sw.event(FAILURE)  # f = 2: 40 blocks
    assert sw.cooldown == 40
    assert feed(sw, MATCH, 39) == FULL
    assert sw.event(MATCH) == TURBO  # the 40th match ends the cooldown
    assert sw.fails == 0  # entering TURBO resets f


def test_c6_stale_submission_drives_turbo_to_full():
    sw = AdaptiveSwitch()
    feed(sw, MATCH, 25)
    assert sw.mode == TURBO
    assert sw.record(STALE) == FULL


def test_liveness_bound_320_from_worst_state():
    # Worst state: f saturated, cooldown 320, window full of misses.
    sw = AdaptiveSwitch()
    for _ in range(6):
        sw.event(FAILURE)
    assert sw.cooldown == 320
    assert feed(sw, MATCH, 319) == FULL
    assert sw.event(MATCH) == TURBO


def test_table_evicts_least_recent_full_sender_never_turbo():
    t = SwitchTable(3)
    for _ in range(20):
        t.record(b"A", OK)
    assert t.mode(b"A") == TURBO
    t.record(b"B", OK)
    t.record(b"C", OK)
    t.record(b"B", OK)  # C is now the least recently seen FULL sender
    t.record(b"D", OK)  # evicts C, not A (TURBO, and older than both)
    assert t.find(b"C") < 0 and t.find(b"A") >= 0 and t.find(b"B") >= 0
    assert t.mode(b"D") == FULL and t.get(b"D").seen == 1


def test_table_prefers_evicting_unpenalised_senders():
    t = SwitchTable(2)
    t.record(b"bad", FORGE)  # penalised, least recent
    t.record(b"ok", OK)
    t.record(b"new", OK)  # evicts "ok" (f == 0) before "bad" (f == 1)
    assert t.find(b"bad") >= 0 and t.find(b"ok") < 0
    assert t.get(b"bad").fails == 1 and t.get(b"bad").cooldown == 20


def test_table_full_of_turbo_does_not_track_newcomers():
    t = SwitchTable(2)
    for _ in range(20):
        t.record(b"A", OK)
        t.record(b"B", OK)
    assert t.mode(b"A") == TURBO and t.mode(b"B") == TURBO
    assert t.get(b"C") is None
    for _ in range(100):
        assert t.record(b"C", OK) is None  # untracked (treated as FULL): never TURBO
    assert t.mode(b"A") == TURBO and t.mode(b"B") == TURBO and t.mode(b"C") == FULL


def test_table_eviction_never_creates_turbo():
    # A sender evicted and coming back starts over in FULL.
    t = SwitchTable(1)
    for _ in range(19):
        t.record(b"X", OK)
    t.record(b"Y", OK)  # evicts X
    assert t.record(b"X", OK) == FULL
    assert t.get(b"X").seen == 1


def test_filo_pops_most_recent_first_and_breaks_ties_by_push_order():
    q = FiloQueue(8)
    for ts, name in ((5, "a"), (9, "b"), (1, "c"), (9, "d"), (7, "e")):
        assert q.push(ts, name) is None
    assert len(q) == 5
    assert q.peek() == "d"
    out = [q.pop() for _ in range(5)]
    assert out == ["d", "b", "e", "a", "c"], out
    assert q.pop() is None and len(q) == 0


def test_filo_full_drops_the_oldest_timestamp():
    q = FiloQueue(3)
    q.push(10, "a")
    q.push(30, "b")
    q.push(20, "c")
    assert q.push(40, "d") == "a"  # oldest dropped
    assert q.push(5, "e") == "e"  # newcomer older than all: dropped itself
    assert q.push(20, "f") == "c"  # ties: the earliest pushed goes
    assert [q.pop() for _ in range(3)] == ["d", "b", "f"]


def test_verdict_numbers_agree_with_spec():
    # The switch's verdict table is indexed by these numbers (pot.spec).
    names = ("OK", "PROTO_VIOLATION", "FUTURE", "CROSS_CONTEXT", "FORGE", "STALE", "REPLAY", "BUSY", "ORDERING", "CHALLENGE")
    assert spec.VERDICT_NAMES[:10] == names  # then the device's NO_CLOCK
    assert (spec.FUTURE, spec.CROSS_CONTEXT, spec.FORGE, spec.STALE) == (FUTURE, CROSS, FORGE, STALE)
    assert (spec.REPLAY, spec.BUSY, spec.ORDERING, spec.CHALLENGE) == (REPLAY, BUSY, ORDERING, CHALLENGE)
    assert spec.PROTO_VIOLATION == PROTO and spec.OK == OK


def test_table_use_stamps_renumber_keeping_lru_order():
    # The last-use clock restarts before it would leave the small-int range
    # of 32-bit boards; the least-recently-used order must survive that.
    t = SwitchTable(3)
    t.record(b"A", OK)
    t.record(b"B", OK)
    t.record(b"C", OK)
    t._clock = 0x3FFFFFFF - 2
    t.record(b"A", OK)  # A most recent: order B, C, A
    t.record(b"B", OK)  # crosses the limit: renumbered; order C, A, B
    assert t._clock < 100
    t.record(b"D", OK)  # evicts C, the least recently seen
    assert t.find(b"C") < 0 and t.find(b"A") >= 0 and t.find(b"B") >= 0
