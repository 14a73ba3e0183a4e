#: heapsize=64k
# The secure clock (firmware/pot/clock.py): pure logic with simulated ticks,
# on every target. The simulated ticks wrap like MicroPython's (ticks_ms
# after 2**30 ms, ticks_us after 2**30 µs), and the simulated oscillator may
# run fast or slow within the drift bound, so "the true time lies in the
# interval" is checked against a model of the world, not against the code.
from testlib import Rng, skip

from pot import clock

PERIOD = 1 << 30
HALF = PERIOD >> 1


def wrap_diff(a, b):
    # MicroPython's ticks_diff: signed difference modulo the period.
    return ((a - b + HALF) & (PERIOD - 1)) - HALF


class World:
    # True time in ns, and a device oscillator whose rate error is ppm.
    def __init__(self, start_true_ns, ppm=0, ticks_offset_us=0):
        self.true_ns = start_true_ns
        self.ppm = ppm
        self.dev_us = ticks_offset_us  # device µs counter, unwrapped

    def advance_ms(self, ms):
        self.true_ns += ms * 1000000
        self.dev_us += ms * 1000 + ms * self.ppm // 1000

    def ticks(self):
        return (
            lambda: (self.dev_us // 1000) & (PERIOD - 1),
            lambda: self.dev_us & (PERIOD - 1),
            wrap_diff,
        )


class FakeRandom:
    def __init__(self, seed):
        self.rng = Rng(seed)

    def __call__(self, n):
        return self.rng.bytes(n)


class Holder:
    # Where a challenge lives (the device's link sessions are holders).
    def __init__(self):
        self.challenge = None
        self.sent_ms = 0
        self.sent_us = 0


def new_clock(world, **kw):
    c = clock.SecureClock(ticks=world.ticks(), random=FakeRandom(1), **kw)
    c.h = Holder()
    return c


def sync(c, world, rtt_ms, issued_at_ms):
    # The issuer reads its (true) time issued_at_ms into the round trip.
    ch = c.start_sync(c.h)
    world.advance_ms(issued_at_ms)
    ts = world.true_ns
    world.advance_ms(rtt_ms - issued_at_ms)
    return ch, c.finish_sync(ts, c.h)


def test_no_time_before_the_first_sync():
    w = World(1767225600 * 10**9)
    c = new_clock(w)
    assert not c.synced and not c.valid() and c.needs_sync()
    assert c.now_ns() is None and c.interval_ns() is None and c.uncertainty_us() is None
    assert c.finish_sync(w.true_ns, c.h) == clock.SYNC_NO_CHALLENGE
    assert not c.synced


def test_challenges_are_fresh_32_bytes():
    w = World(0)
    c = new_clock(w)
    a = c.start_sync(c.h)
    b = c.start_sync(c.h)
    assert len(a) == 32 and len(b) == 32 and a != b
    assert c.h.challenge == b and c.sync_pending(c.h)


def test_each_holder_has_its_own_challenge():
    # One session's challenge never replaces another's.
    w = World(10**18)
    c = new_clock(w)
    other = Holder()
    ch = c.start_sync(c.h)
    for _ in range(5):
        c.start_sync(other)
    assert c.h.challenge == ch and c.sync_pending(c.h) and c.sync_pending(other)
    w.advance_ms(4)
    assert c.finish_sync(w.true_ns, c.h) == clock.SYNC_OK
    assert c.h.challenge is None and c.sync_pending(other)
    assert c.finish_sync(w.true_ns, c.h) == clock.SYNC_NO_CHALLENGE


def test_sync_sets_middle_of_round_trip():
    w = World(1767225600 * 10**9 + 123456789)
    c = new_clock(w)
    ch, r = sync(c, w, rtt_ms=10, issued_at_ms=3)
    assert r == clock.SYNC_OK and c.synced and c.valid()
    assert c.h.challenge is None and not c.sync_pending(c.h)
    assert c.last_rtt_us == 10000
    # Estimate: ts + 5 ms where ts = true - 7 ms, i.e. true - 2 ms.
    assert c.now_ns() == w.true_ns - 2000000
    assert c.uncertainty_us() == 5000 + 1000
    lo, hi = c.interval_ns()
    assert lo <= w.true_ns <= hi


def test_one_record_per_challenge():
    w = World(10**18)
    c = new_clock(w)
    sync(c, w, 4, 2)
    assert c.finish_sync(w.true_ns, c.h) == clock.SYNC_NO_CHALLENGE
    assert c.syncs == 1


def test_late_answer_is_refused_and_challenge_expires():
    w = World(10**18)
    c = new_clock(w, max_rtt_ms=1000)
    c.start_sync(c.h)
    w.advance_ms(1500)
    assert c.finish_sync(w.true_ns, c.h) == clock.SYNC_RTT
    assert not c.synced and c.h.challenge is None
    c.start_sync(c.h)
    w.advance_ms(1001)
    assert not c.sync_pending(c.h) and c.h.challenge is None


def test_uncertainty_grows_with_drift_then_resync_then_invalid():
    w = World(10**18)
    c = new_clock(w, drift_ppm=200, resync_us=20000, max_uncertainty_us=250000)
    sync(c, w, 2, 1)
    assert c.uncertainty_us() == 2000 and not c.needs_sync()
    w.advance_ms(50000)  # + 10 ms of drift bound
    assert c.uncertainty_us() == 12000 and not c.needs_sync()
    w.advance_ms(50000)  # 22 ms
    assert c.needs_sync() and c.valid()
    w.advance_ms(1200000)  # 262 ms: above the limit
    assert not c.valid() and c.now_ns() is None and c.needs_sync()
    sync(c, w, 2, 1)
    assert c.valid() and c.syncs == 2


def test_periodic_resync():
    w = World(10**18)
    c = new_clock(w, drift_ppm=1, resync_interval_ms=60000)
    sync(c, w, 2, 1)
    w.advance_ms(59000)
    assert not c.needs_sync()
    w.advance_ms(2000)
    assert c.needs_sync() and c.valid()


def test_true_time_stays_inside_the_interval_with_drift_and_wraps():
    # Random worlds: oscillator error within the bound, round trips up to
    # 2 s with the issuer reading anywhere in them, ticks starting near the
    # wrap; the service loop calls tick() every 7 s for 2 simulated hours.
    rng = Rng(31337)
    for k in range(20):
        ppm = rng.below(401) - 200
        w = World(1700000000 * 10**9 + rng.below(10**9), ppm=ppm,
                  ticks_offset_us=PERIOD * 1000 - rng.below(5 * 10**9))
        c = new_clock(w, drift_ppm=200, max_uncertainty_us=10**7, resync_interval_ms=10**9)
        rtt = 1 + rng.below(2000)
        assert sync(c, w, rtt, rng.below(rtt + 1))[1] == clock.SYNC_OK
        for step in range(1000):
            w.advance_ms(7000 + rng.below(300))
            c.tick()
            if step % 97 == 0:
                lo, hi = c.interval_ns()
                assert lo <= w.true_ns <= hi, (k, step, ppm)


def test_wrap_guard_without_sync_for_days():
    w = World(10**18)
    c = new_clock(w, drift_ppm=0, max_uncertainty_us=10**12, resync_interval_ms=10**12)
    sync(c, w, 2, 1)
    for _ in range(3 * 24 * 60 + 5):  # a tick() a minute for 3 days
        w.advance_ms(60000)
        c.tick()
    assert not c.valid()


class FakeRtc:
    def __init__(self):
        self.value = None

    def datetime(self, t):
        self.value = t


def test_board_rtc_is_set_on_sync():
    import time

    if not hasattr(time, "gmtime"):
        # The emulated board (qemu) has no RTC and its port no calendar:
        # pot.board_hw.rtc() is None there and nothing is set.
        skip("no time.gmtime on this port (a board without an RTC)")
    w = World(1767225600 * 10**9)  # 2026-01-01T00:00:00Z
    r = FakeRtc()
    c = clock.SecureClock(ticks=w.ticks(), random=FakeRandom(2), rtc=r)
    c.h = Holder()
    sync(c, w, 2, 1)
    y, mo, d, wd, h, mi, s, us = r.value
    assert (y, mo, d, h, mi, s) == (2026, 1, 1, 0, 0, 0)
