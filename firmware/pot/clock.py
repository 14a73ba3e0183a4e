# The device's secure clock (docs/spec.md, "The device link", clock sync).
#
# A board starts with no trusted time: its RTC may be unset or wrong, and
# nothing it could read at boot is authenticated. So it trusts only a
# challenge-mode record: it makes a fresh random 32-byte challenge, sends it
# (ticks t0), and receives a record whose nonce must equal the challenge and
# whose signature must verify (ticks t1). The issuer read its time at some
# moment between t0 and t1, hence at t1 the true time lies in
#
#     [ts, ts + rtt]            rtt = t1 - t0 (device ticks)
#
# and the clock is set to the middle, ts + rtt/2, with uncertainty rtt/2
# (plus one tick of granularity). Afterwards the uncertainty grows with the
# oscillator drift bound: u(t) = u0 + elapsed * drift_ppm / 10^6. The clock
# asks for a resync when u exceeds `resync_us`, or `resync_interval_ms`
# after the last sync, and stops vouching for any time (valid() False) when
# u exceeds `max_uncertainty_us` or the ticks could have wrapped.
#
# Ticks: time.ticks_ms / ticks_us wrap (ticks_ms after 2**30 ms, 12.4 days,
# on the ports with 30-bit small ints; ticks_us after 17.9 min), and
# ticks_diff is only meaningful within half a period. So: the base instant
# uses ticks_ms and is moved forward by tick() (called by the service loop
# at least every few seconds); the round trip is measured in ticks_us (µs
# precision) and cross-checked with ticks_ms. Times in ns since 1970 are big
# ints on every board (about 2**61): they are computed once per message,
# never in a loop.
#
# Memory: the defaults and limits are private const()s (folded into the
# code); setting a board's RTC is pot.board_hw's (imported only when an RTC is
# given, i.e. on boards).
from os import urandom

from pot.compat import const, ticks_diff, ticks_ms, ticks_us

_DRIFT_PPM = const(200)  # a crystal plus temperature; an RC oscillator needs more
_RESYNC_US = const(20000)  # ask for a sync when u > 20 ms
_MAX_UNCERTAINTY_US = const(250000)  # refuse to vouch above 250 ms
_RESYNC_INTERVAL_MS = const(3600000)  # and at least hourly
_MAX_RTT_MS = const(5000)  # a record later than this answers a dead challenge
_REBASE_MS = const(60000)  # move the base forward every minute of ticks
_WRAP_GUARD_MS = const(259200000)  # 3 days: ticks_ms is unambiguous for 6.2 days

# Results of finish_sync().
SYNC_OK = const(0)
SYNC_NO_CHALLENGE = const(1)  # nothing outstanding (or it expired)
SYNC_RTT = const(2)  # the answer came too late: the bound would be useless


class SecureClock:
    def __init__(
        self,
        drift_ppm=_DRIFT_PPM,
        resync_us=_RESYNC_US,
        max_uncertainty_us=_MAX_UNCERTAINTY_US,
        resync_interval_ms=_RESYNC_INTERVAL_MS,
        max_rtt_ms=_MAX_RTT_MS,
        ticks=None,
        random=None,
        rtc=None,
    ):
        # ticks: (ticks_ms, ticks_us, ticks_diff) to inject a fake time
        # source in tests; random: n -> n random bytes; rtc: a machine.RTC
        # to set on boards (None on the Unix port).
        self.drift_ppm = drift_ppm
        self.resync_us = resync_us
        self.max_uncertainty_us = max_uncertainty_us
        self.resync_interval_ms = resync_interval_ms
        self.max_rtt_ms = max_rtt_ms
        if ticks is None:
            ticks = (ticks_ms, ticks_us, ticks_diff)
        self._ms, self._us, self._diff = ticks
        self._random = random or urandom
        self.rtc = rtc
        self.synced = False  # a sync has succeeded at least once
        self.syncs = 0
        self.last_rtt_us = 0
        self._base_ms = 0  # ticks_ms of the base instant
        self._base_ns = 0  # estimated true time at the base instant
        self._u0_us = 0  # uncertainty at the last sync
        self._since_sync_ms = 0  # ms from the last sync to the base instant

    # --- sync ------------------------------------------------------------
    # A challenge lives in a *holder* h: any object with the attributes
    # challenge (bytes or None), sent_ms and sent_us (the device's link
    # sessions are holders, one challenge each, so one session's SYNC_REQ
    # never replaces another's; docs/spec.md 8.4).
    def start_sync(self, h):
        # A fresh challenge; call mark_sent() right after it leaves the
        # device (or rely on the instant of this call).
        h.challenge = bytes(self._random(32))
        self.mark_sent(h)
        return h.challenge

    def mark_sent(self, h):
        h.sent_ms = self._ms()
        h.sent_us = self._us()

    def sync_pending(self, h):
        # True while h's challenge is outstanding and not expired.
        if h.challenge is None:
            return False
        if self._diff(self._ms(), h.sent_ms) > self.max_rtt_ms:
            h.challenge = None
        return h.challenge is not None

    def finish_sync(self, record_ts_ns, h):
        # Call only after the verifier accepted the record for the device
        # context with challenge=h.challenge. Sets the clock; returns
        # SYNC_OK or a SYNC_* reason (the clock is then unchanged).
        now_ms = self._ms()
        now_us = self._us()
        if h.challenge is None:
            return SYNC_NO_CHALLENGE
        h.challenge = None  # one record per challenge, whatever happens
        rtt_ms = self._diff(now_ms, h.sent_ms)
        if rtt_ms > self.max_rtt_ms:
            return SYNC_RTT
        rtt_us = self._diff(now_us, h.sent_us)
        if rtt_us < 0 or rtt_us > rtt_ms * 1000 + 2000:
            rtt_us = rtt_ms * 1000 + 1000  # ticks_us wrapped: trust ms
        self.last_rtt_us = rtt_us
        half = rtt_us // 2
        self._base_ms = now_ms
        self._base_ns = record_ts_ns + half * 1000
        # + 1 ms: the base instant is known to one ticks_ms step only.
        self._u0_us = half + 1000
        self._since_sync_ms = 0
        self.synced = True
        self.syncs += 1
        if self.rtc is not None:  # a board: set its RTC, a convenience for other code
            from pot.board_hw import set_rtc

            set_rtc(self.rtc, self._base_ns)
        return SYNC_OK

    # --- reading -----------------------------------------------------------
    def tick(self):
        # Move the base instant forward so that ticks_diff never sees more
        # than _REBASE_MS (+ the loop period); cheap, call it from the loop.
        if not self.synced:
            return
        now = self._ms()
        d = self._diff(now, self._base_ms)
        if d >= _REBASE_MS:
            self._base_ms = now
            self._base_ns += d * 1000000
            self._since_sync_ms += d

    def elapsed_ms(self):
        # Since the last sync.
        return self._since_sync_ms + self._diff(self._ms(), self._base_ms)

    def uncertainty_us(self):
        # Half-width of the interval the true time lies in; None without a sync.
        if not self.synced:
            return None
        e = self.elapsed_ms()
        # elapsed_ms * ppm / 1000 = µs of drift (ms * 1e-6 * 1e3 µs/ms).
        return self._u0_us + e * self.drift_ppm // 1000

    def valid(self):
        # Whether the clock vouches for a time at all.
        if not self.synced:
            return False
        if self.elapsed_ms() > _WRAP_GUARD_MS:
            return False
        return self.uncertainty_us() <= self.max_uncertainty_us

    def needs_sync(self):
        if not self.synced:
            return True
        return (
            self.uncertainty_us() > self.resync_us
            or self.elapsed_ms() > self.resync_interval_ms
            or not self.valid()
        )

    def now_ns(self):
        # The estimate (middle of the interval); None when not valid().
        if not self.valid():
            return None
        self.tick()
        return self._base_ns + self._diff(self._ms(), self._base_ms) * 1000000

    def interval_ns(self):
        # (earliest, latest) possible true time now, or None.
        t = self.now_ns()
        if t is None:
            return None
        u = self.uncertainty_us() * 1000
        return t - u, t + u
