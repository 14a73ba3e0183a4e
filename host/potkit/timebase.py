"""The issuer's clock: the last good multi-source synthesis, carried forward
by the host's monotonic clock.

Reading several time servers takes milliseconds to seconds, far too slow
for every record. So a background thread refreshes a synthesis
(potkit.synth) every `refresh_s` seconds, and between refreshes

    now = synthesis.time_ns + (monotonic_ns() - monotonic instant of the synthesis)
    uncertainty = synthesis.uncertainty_ns + age * drift_ppm / 1e6

Drift bound: the default `drift_ppm` = 500 is the largest rate error we
accept for CLOCK_MONOTONIC between refreshes. Linux slews that clock by at
most 500 ppm (MAXFREQ) when it is disciplined, and an undisciplined quartz
crystal is typically within 100 ppm; 500 ppm over the default 64 s maximum
age is 32 ms. The wall clock (time.time_ns) is never used to extrapolate:
it may step.

The time does not run backwards by small steps: when a new synthesis
puts it behind the last value returned by no more than its uncertainty,
now() holds that value (and adds the difference to the uncertainty) until
the new timeline catches up. A larger step back is taken as it is (the
earlier times were wrong; better an ORDERING rejection than wrong records).

Refusals (TimeBaseUnavailable, a PotkitError; a 503 in the service):
- no synthesis yet;
- the synthesis is older than `max_age_s` (sources unreachable too long);
- the last refresh *aborted* (SynthesisError: the sources disagree, too few
  of them answered, ...): the previous good synthesis is not trusted
  either, since the disagreement may be an attack that started after it.
  Issuing resumes with the next good synthesis (retried every `retry_s`);
- fewer than 3 sources, or a confidence above 1,000,000 ppm (a record
  receiver would reject the record: spec section 1).
"""
import logging
import threading
import time

from potkit import PotkitError

MIN_SOURCES = 3
DEFAULT_REFRESH_S = 8.0
DEFAULT_MAX_AGE_S = 64.0
DEFAULT_DRIFT_PPM = 500
DEFAULT_RETRY_S = 1.0


log = logging.getLogger("potkit.timebase")
# Silent unless a command sets up logging (`potkit serve`: potkit.logs); the
# one-shot commands report through their exit status and one error line.
logging.getLogger("potkit").addHandler(logging.NullHandler())


class TimeBaseUnavailable(PotkitError):
    """The timebase cannot vouch for the time now (the reason is the message).

    `public` is the reason without detail (no source address or offset):
    what the service tells a caller unless the operator asked for detail.
    """

    def __init__(self, message, public=None):
        PotkitError.__init__(self, message)
        self.public = public or message

    exit_code = 3


class Now:
    """One reading of the timebase, everything a record needs."""

    __slots__ = ("time_ns", "uncertainty_ns", "source_count", "confidence_ppm", "age_ns")

    def __init__(self, time_ns, uncertainty_ns, source_count, confidence_ppm, age_ns):
        self.time_ns = time_ns
        self.uncertainty_ns = uncertainty_ns
        self.source_count = source_count
        self.confidence_ppm = confidence_ppm
        self.age_ns = age_ns


def synthesis_anchor(result):
    """(time_ns, wall instant, monotonic instant) of a synthesis: the adapter to potkit.synth.

    A result (potkit.synth.Synthesis) says the true time was `time_ns` when
    this host's wall clock (time.time_ns) read `local_ns` and, when known,
    CLOCK_MONOTONIC read `monotonic_ns`. Missing instants are None.
    """
    return result.time_ns, getattr(result, "local_ns", None), getattr(result, "monotonic_ns", None)


class TimeBase:
    """Synthesis + monotonic extrapolation; see the module comment.

    `synthesize()` returns a result with time_ns, local_ns (optional),
    uncertainty_ns, source_count, confidence_ppm (potkit.synth's result), or
    raises (any exception aborts: see the module comment).
    """

    def __init__(self, synthesize, refresh_s=DEFAULT_REFRESH_S, max_age_s=DEFAULT_MAX_AGE_S,
                 drift_ppm=DEFAULT_DRIFT_PPM, retry_s=DEFAULT_RETRY_S,
                 monotonic_ns=time.monotonic_ns, wall_ns=time.time_ns):
        self._synthesize = synthesize
        self.refresh_s = refresh_s
        self.max_age_ns = int(max_age_s * 1e9)
        self.drift_ppm = drift_ppm
        self.retry_s = retry_s
        self._mono = monotonic_ns
        self._wall = wall_ns
        # (time_ns, monotonic instant, uncertainty, sources, confidence): one
        # tuple, replaced whole, so readers never see half an update.
        self._state = None
        self.last_result = None      # the last good synthesis
        self.last_attempt = None     # the last synthesis or its SynthesisError (for /metrics)
        self.last_error = None       # why the last refresh aborted, or None
        self.refreshes = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = None
        self._lock = threading.Lock()
        self._last_ns = 0            # the latest time now() returned: never go below it

    # -- refreshing ------------------------------------------------------
    def refresh(self):
        """Run one synthesis now; returns it, or raises after recording the abort."""
        try:
            result = self._synthesize()
            time_ns, local_ns, mono_ns = synthesis_anchor(result)
            if mono_ns is not None and self._mono is time.monotonic_ns:
                mono = mono_ns  # the synthesis read our very clock: use its instant
            else:
                mono = self._mono()
                if local_ns is not None:
                    # Move the instant from the wall clock to the monotonic
                    # one: both are read back to back, so the offset between
                    # them is known to within a microsecond or so.
                    mono -= self._wall() - local_ns
            state = (int(time_ns), mono, int(result.uncertainty_ns), int(result.source_count),
                     int(result.confidence_ppm))
        except Exception as e:
            self.failures += 1
            self.last_error = "%s: %s" % (type(e).__name__, e)
            self.last_attempt = e
            if self._state is not None or self.failures == 1:
                log.warning("issuance stopped: %s", self.last_error)
            self._state = None
            raise
        if self._state is None:
            log.info("issuance %s: %d sources agree, confidence %d ppm, uncertainty %.3f ms",
                     "started" if self.refreshes == 0 else "resumed", state[3], state[4], state[2] / 1e6)
        self._state = state
        self.last_result = result
        self.last_attempt = result
        self.last_error = None
        self.refreshes += 1
        return result

    def start(self):
        """First synthesis in the caller (errors are kept, not raised), then a daemon thread."""
        try:
            self.refresh()
        except Exception:
            pass
        self._thread = threading.Thread(target=self._loop, name="potkit-timebase", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _loop(self):
        delay = self.refresh_s if self._state else self.retry_s
        while not self._stop.wait(delay):
            try:
                self.refresh()
                delay = self.refresh_s
            except Exception:
                delay = self.retry_s

    # -- reading ---------------------------------------------------------
    def now(self):
        """The current time as a Now, or TimeBaseUnavailable."""
        state = self._state
        if state is None and self.last_attempt is None:
            # Never refreshed (a caller that did not start() the thread):
            # run the first synthesis now, in the caller.
            try:
                self.refresh()
            except Exception:
                pass
            state = self._state
        if state is None:
            if self.last_error:
                raise TimeBaseUnavailable("time synthesis aborted: %s" % self.last_error,
                                          public="time synthesis aborted (the sources disagree or too few answered)")
            raise TimeBaseUnavailable("no time synthesis yet")
        time_ns, mono, unc, sources, conf = state
        age = self._mono() - mono
        if age > self.max_age_ns:
            raise TimeBaseUnavailable("time synthesis is %.1f s old (limit %.1f s)"
                                      % (age / 1e9, self.max_age_ns / 1e9))
        if sources < MIN_SOURCES:
            raise TimeBaseUnavailable("only %d time sources (at least %d needed)" % (sources, MIN_SOURCES))
        if not 0 <= conf <= 1000000:
            raise TimeBaseUnavailable("synthesis confidence %d ppm out of range" % conf)
        if age < 0:  # the result's local instant lies ahead of us: do not extrapolate backwards
            age = 0
        t = time_ns + age
        u = unc + age * self.drift_ppm // 1000000
        with self._lock:
            # Not backwards by a little: a new synthesis may put the time
            # slightly behind the extrapolation of the previous one, and a
            # device rejects a record older than the last it accepted
            # (ORDERING). Within the uncertainty, hold the time at the last
            # value given and widen the uncertainty by the difference. A
            # step back beyond the uncertainty means the earlier times were
            # wrong: then the new time is used as it is.
            behind = self._last_ns - t
            if 0 < behind <= u:
                u += behind
                t = self._last_ns
            else:
                self._last_ns = t
        return Now(t, u, sources, conf, age)

    def status(self):
        """A dict for /health and /metrics: never raises."""
        st = {"ok": False, "refreshes": self.refreshes, "failures": self.failures,
              "last_error": self.last_error}
        try:
            n = self.now()
        except TimeBaseUnavailable as e:
            st["reason"] = str(e)
            st["public_reason"] = e.public
            return st
        st.update(ok=True, time_ns=n.time_ns, uncertainty_ns=n.uncertainty_ns,
                  source_count=n.source_count, confidence_ppm=n.confidence_ppm, age_s=n.age_ns / 1e9)
        return st


class FixedTimeBase(TimeBase):
    """TEST DOUBLE: the host's own clock dressed as a synthesis, no sources read.

    For unit tests and the issuing benchmark only (it measures signing, not
    time transfer). The extrapolation and refusal rules are the real ones.
    """

    class _Result:
        def __init__(self, time_ns, local_ns, uncertainty_ns, source_count, confidence_ppm):
            self.time_ns = time_ns
            self.local_ns = local_ns
            self.uncertainty_ns = uncertainty_ns
            self.source_count = source_count
            self.confidence_ppm = confidence_ppm
            self.readings = ()
            self.alarms = ()

    def __init__(self, offset_ns=0, source_count=4, confidence_ppm=999000, uncertainty_ns=1000000, **kw):
        def synthesize():
            t = time.time_ns()
            return self._Result(t + offset_ns, t, uncertainty_ns, source_count, confidence_ppm)

        TimeBase.__init__(self, synthesize, **kw)
        self.refresh()
