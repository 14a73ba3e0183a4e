"""Multi-source time synthesis: many readings in, one robust time (or an abort) out.

Normative description: docs/spec.md section 6. In short:

1. Query every configured source in parallel (threads, one overall deadline).
   A reading whose own uncertainty exceeds `max_uncertainty` (default 10 s)
   is no witness: it becomes an UNCERTAIN error, like a failed source.
   Unbounded, one source claiming "+- 136 years" (Roughtime RADI
   0xFFFFFFFF) would agree with every other, carry its offset into the
   agreeing set, and inflate the result's uncertainty and confidence.
2. Keep one reading per operator (administrative domain): two servers of
   one operator are one witness, not two.
3. Compare readings by their offset (server time - local clock), which does
   not depend on when each was taken. Readings i and j *agree* when
       |offset_i - offset_j| <= u_i + u_j + tolerance
   (u = the reading's own uncertainty, tolerance = a configured bound).
   Reading i stands for the interval offset_i +- (u_i + tolerance/2); two
   readings agree exactly when their intervals meet, so (Helly, in one
   dimension) a set agrees pairwise exactly when all its intervals share a
   point, and the largest agreeing set is found by trying each interval's
   left end as that point (Marzullo's idea).
4. The largest agreeing set A must hold >= min_sources (3) readings AND a
   strict majority of the readings; otherwise ABORT (SynthesisError): e.g.
   3 sources with one 30 s off leave 2 of 3, which is not enough to tell
   who is lying.
5. time = median of the offsets in A, applied at a common local instant.
   Readings outside A are *isolated* and reported as alarms:
     NTP_INJECT   an unauthenticated (plain NTP) reading disagreeing with
                  an agreeing set whose majority is authenticated;
     OUTLIER      any other isolated reading (e.g. a signed but wrong server);
     SOURCE_AUTH  a source whose signature, MAC, certificate or TLS check
                  failed (DNS poisoning, a route hijack, a wrong key);
     UNREACHABLE, BAD_REPLY, DELAYED, UNCERTAIN: sources that gave no usable reading;
     ERROR        a client bug (an exception that is not a SourceError).
6. uncertainty = max over A of |offset_i - median| + u_i (the interval
   around the median covering every agreeing source's own interval: it
   holds the true time as long as any one source of A is truthful).
7. confidence (ppm, the record's field) =
       floor(1e6 * |A| / N * (L - S) / L)
   N = kept readings (one per operator) + operators whose authentication
   failed and that gave no reading, S = spread (max - min offset) of A,
   L = u_a + u_b + tolerance for the two largest uncertainties in A (the
   widest spread A could have while agreeing, so 0 <= S <= L). 1e6 means
   every source answered, authenticated where it should, and all agree
   exactly; it falls as sources fail or disagree and as the agreeing ones
   drift apart. It never exceeds 1e6. A source that claims no precision
   (above max_uncertainty) is not a witness: it is counted neither in A
   nor in N, like an outage; so L <= 2 * max_uncertainty + tolerance.
"""
import datetime
import re
import threading
import time

from potkit import PotkitError
from potkit.sources import SOURCE_AUTH, UNCERTAIN, UNREACHABLE, SourceError

MIN_SOURCES = 3
DEFAULT_TOLERANCE_NS = 100000000      # 100 ms beyond the readings' own uncertainty
DEFAULT_TIMEOUT_S = 3.0
# A reading claiming more than this is no witness. Honest readings stay far
# below: NTP a few ms to 0.5 s, HTTPS Date 0.5 s + rtt/2 (<= 1.5 s within
# its delay bound), Roughtime RADI (1 to 3 s as servers set it) + rtt/2.
DEFAULT_MAX_UNCERTAINTY_NS = 10 * 1000000000
PPM = 1000000

NO_SOURCES_FIX = ("offline or in a lab? point --config (or $POTKIT_CONFIG) at your own servers: "
                  "see examples/ and the README section \"Offline or in a lab\"")

NTP_INJECT = "NTP_INJECT"
OUTLIER = "OUTLIER"
ERROR = "ERROR"


class SynthesisError(PotkitError):
    """Issuance must stop: too few sources, or no clear majority.

    Carries what was seen (readings, errors, alarms) so that callers can
    still show and count it.
    """

    exit_code = 3

    def __init__(self, message, readings=(), errors=(), alarms=()):
        PotkitError.__init__(self, message)
        self.readings = list(readings)
        self.errors = list(errors)
        self.alarms = list(alarms)


class Synthesis:
    """The result: the true time was `time_ns` when the wall clock read `local_ns`.

    `monotonic_ns` is CLOCK_MONOTONIC at that same instant (when known), so
    an issuer can carry the time forward without trusting the wall clock:
    see now_ns().
    """

    def __init__(self, time_ns, local_ns, offset_ns, uncertainty_ns, source_count, confidence_ppm,
                 readings, used, isolated, redundant, errors, alarms, monotonic_ns=None):
        self.time_ns = time_ns
        self.local_ns = local_ns
        self.monotonic_ns = monotonic_ns
        self.offset_ns = offset_ns
        self.uncertainty_ns = uncertainty_ns
        self.source_count = source_count
        self.confidence_ppm = confidence_ppm
        self.readings = readings      # all of them, in configuration order
        self.used = used
        self.isolated = isolated
        self.redundant = redundant
        self.errors = errors
        self.alarms = alarms

    def now_ns(self, monotonic_ns=None):
        """Extrapolate to now with the monotonic clock (the wall clock may step)."""
        if self.monotonic_ns is None:
            return time.time_ns() + self.offset_ns
        mono = time.monotonic_ns() if monotonic_ns is None else monotonic_ns
        return self.time_ns + (mono - self.monotonic_ns)

    def __repr__(self):
        return "Synthesis(offset=%+.6fs +-%.6fs sources=%d confidence=%dppm alarms=%d)" % (
            self.offset_ns / 1e9, self.uncertainty_ns / 1e9, self.source_count,
            self.confidence_ppm, len(self.alarms))


# --- the pure part ----------------------------------------------------------

def _one_per_operator(readings):
    """Best reading per operator (authenticated first, then smallest uncertainty)."""
    best = {}
    for r in readings:
        b = best.get(r.operator)
        if b is None or (not r.authenticated, r.uncertainty_ns) < (not b.authenticated, b.uncertainty_ns):
            best[r.operator] = r
    chosen = [r for r in readings if best[r.operator] is r]
    redundant = [r for r in readings if best[r.operator] is not r]
    return chosen, redundant


def agree(a, b, tolerance_ns):
    return abs(a.offset_ns - b.offset_ns) <= a.uncertainty_ns + b.uncertainty_ns + tolerance_ns


def largest_agreeing_set(readings, tolerance_ns):
    """Largest set of readings that agree pairwise (ties: the tightest).

    Doubled integer intervals [2*off - 2*u - tol, 2*off + 2*u + tol] meet
    exactly when the readings agree; every maximal set of meeting intervals
    shares the left end of one of them, so trying each left end finds the
    largest.
    """
    spans = [(2 * r.offset_ns - 2 * r.uncertainty_ns - tolerance_ns,
              2 * r.offset_ns + 2 * r.uncertainty_ns + tolerance_ns) for r in readings]
    best, best_key = [], None
    for lo, _ in spans:
        members = [r for r, (a, b) in zip(readings, spans) if a <= lo <= b]
        offsets = [r.offset_ns for r in members]
        key = (-len(members), max(offsets) - min(offsets), sum(r.uncertainty_ns for r in members))
        if best_key is None or key < best_key:
            best, best_key = members, key
    return best


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) // 2


def confidence_ppm(agreeing, total, spread_ns, limit_ns):
    """floor(1e6 * agreeing/total * (limit - spread)/limit), clipped to [0, 1e6]."""
    if total <= 0 or agreeing <= 0:
        return 0
    agreeing = min(agreeing, total)
    if limit_ns <= 0:
        closeness_num, closeness_den = (1, 1) if spread_ns <= 0 else (0, 1)
    else:
        closeness_num, closeness_den = max(0, min(limit_ns, limit_ns - spread_ns)), limit_ns
    return PPM * agreeing * closeness_num // (total * closeness_den)


def _error_alarm(e):
    if isinstance(e, SourceError):
        return (e.kind, e.source, e.message)
    return (ERROR, getattr(e, "source", "?"), "%s: %s" % (type(e).__name__, e))


def _describe(readings):
    parts = []
    for r in sorted(readings, key=lambda r: r.offset_ns):
        parts.append("%s %+.3fs+-%.3fs" % (r.source, r.offset_ns / 1e9, r.uncertainty_ns / 1e9))
    return "; ".join(parts)


def too_uncertain(reading, max_uncertainty_ns):
    """The UNCERTAIN error standing for a reading that claims too little precision."""
    e = SourceError(UNCERTAIN, reading.source, "uncertainty %.3f s above the bound %.3f s (max_uncertainty_ms)"
                    % (reading.uncertainty_ns / 1e9, max_uncertainty_ns / 1e9))
    e.operator, e.source_kind = reading.operator, reading.kind
    return e


def synthesize(readings, errors=(), min_sources=MIN_SOURCES, tolerance_ns=DEFAULT_TOLERANCE_NS,
               now=None, max_uncertainty_ns=DEFAULT_MAX_UNCERTAINTY_NS):
    """Combine readings (and the errors of sources that failed) -> Synthesis, or SynthesisError.

    `now` = (wall_ns, monotonic_ns) read together, the instant the result is
    expressed at; default: the latest reading's local instant. Readings
    with an uncertainty above `max_uncertainty_ns` become UNCERTAIN errors.
    """
    readings = list(readings)
    errors = list(errors)
    errors += [too_uncertain(r, max_uncertainty_ns) for r in readings if r.uncertainty_ns > max_uncertainty_ns]
    readings = [r for r in readings if r.uncertainty_ns <= max_uncertainty_ns]
    alarms = [_error_alarm(e) for e in errors]
    chosen, redundant = _one_per_operator(readings)
    n = len(chosen)
    if n < min_sources:
        raise SynthesisError("only %d source(s) of distinct operators answered, %d needed; %s"
                             % (n, min_sources, NO_SOURCES_FIX), readings, errors, alarms)
    agreeing = largest_agreeing_set(chosen, tolerance_ns)
    if len(agreeing) < min_sources or 2 * len(agreeing) <= n:
        raise SynthesisError(
            "no clear majority: the largest agreeing set holds %d of %d sources (need >= %d and more "
            "than half; tolerance %.3f s): %s" % (len(agreeing), n, min_sources, tolerance_ns / 1e9,
                                                  _describe(chosen)),
            readings, errors, alarms)
    offsets = [r.offset_ns for r in agreeing]
    med = median(offsets)
    uncertainty = max(abs(r.offset_ns - med) + r.uncertainty_ns for r in agreeing)

    # Isolation: the chosen readings outside A, and same-operator duplicates
    # that do not fit the result either.
    in_a = set(id(r) for r in agreeing)
    isolated = [r for r in chosen if id(r) not in in_a]
    kept_redundant = []
    for r in redundant:
        if abs(r.offset_ns - med) > r.uncertainty_ns + uncertainty + tolerance_ns:
            isolated.append(r)
        else:
            kept_redundant.append(r)
    auth_majority = 2 * sum(1 for r in agreeing if r.authenticated) > len(agreeing)
    for r in isolated:
        off = (r.offset_ns - med) / 1e9
        if not r.authenticated and auth_majority:
            alarms.append((NTP_INJECT, r.source, "unauthenticated %s source is %+.3f s off the "
                                                 "authenticated majority" % (r.kind, off)))
        else:
            alarms.append((OUTLIER, r.source, "%s source is %+.3f s off the majority" % (r.kind, off)))

    # Confidence: failed authentications count as disagreeing witnesses.
    operators = set(r.operator for r in chosen)
    auth_failed = set()
    for e in errors:
        if isinstance(e, SourceError) and e.kind == SOURCE_AUTH:
            auth_failed.add(getattr(e, "operator", None) or e.source)
    total = n + len(auth_failed - operators)
    unc = sorted((r.uncertainty_ns for r in agreeing), reverse=True) + [0]
    limit = unc[0] + unc[1] + tolerance_ns
    conf = confidence_ppm(len(agreeing), total, max(offsets) - min(offsets), limit)

    if now is None:
        local, mono = max(r.local_ns for r in agreeing), None
    else:
        local, mono = now
    return Synthesis(local + med, local, med, uncertainty, len(agreeing), conf,
                     readings, agreeing, isolated, kept_redundant, errors, alarms, monotonic_ns=mono)


# --- querying ---------------------------------------------------------------

def query_all(sources, timeout_s=DEFAULT_TIMEOUT_S):
    """Query sources (objects with .query() and .name) in parallel -> (readings, errors).

    Every source gets its own daemon thread; whatever has not answered by
    the deadline is UNREACHABLE. The deadline holds: a query stuck past it
    (a silent DNS resolver, a server that never answers) is abandoned, and
    being a daemon thread it cannot keep the process alive either (a
    ThreadPoolExecutor's workers are joined at exit: `potkit time` would
    print at 3 s and exit at 10). Readings and errors come in the order of
    `sources` (configuration order breaks ties in the synthesis). Errors
    keep the source's operator (for the confidence count of failed
    authentications) and kind (for the table).
    """
    readings, errors = [], []
    if not sources:
        return readings, errors
    results = [None] * len(sources)
    done = threading.Semaphore(0)

    def run(i, src):
        try:
            results[i] = (True, src.query())
        except BaseException as exc:   # a SourceError, or a client bug reported as ERROR
            results[i] = (False, exc)
        done.release()

    for i, src in enumerate(sources):
        threading.Thread(target=run, args=(i, src), name="potkit-src", daemon=True).start()
    deadline = time.monotonic() + timeout_s
    for _ in sources:
        if not done.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break
    for src, res in zip(sources, list(results)):     # in the order of `sources`
        if res is None:
            e = SourceError(UNREACHABLE, src.name, "no answer within %.1f s" % timeout_s)
        elif res[0]:
            readings.append(res[1])
            continue
        else:
            e = res[1]
            if not hasattr(e, "source"):
                e.source = src.name
        e.operator = getattr(src, "operator", None)
        e.source_kind = getattr(src, "kind", None)
        errors.append(e)
    return readings, errors


def synthesize_sources(sources, min_sources=MIN_SOURCES, tolerance_ns=DEFAULT_TOLERANCE_NS,
                       timeout_s=DEFAULT_TIMEOUT_S, max_uncertainty_ns=DEFAULT_MAX_UNCERTAINTY_NS):
    """Query, then synthesize at the instant the answers are in."""
    readings, errors = query_all(sources, timeout_s)
    now = (time.time_ns(), time.monotonic_ns())
    return synthesize(readings, errors, min_sources, tolerance_ns, now=now, max_uncertainty_ns=max_uncertainty_ns)


def synthesize_config(config):
    """A potkit.config.Config -> Synthesis (its "synthesis" settings applied)."""
    s = config.synthesis
    return synthesize_sources(config.sources, int(s["min_sources"]), int(float(s["tolerance_ms"]) * 1e6),
                              float(s["timeout_s"]), int(float(s["max_uncertainty_ms"]) * 1e6))


# --- the synthesis as `potkit time` shows it (potkit.commands.time) ------------------

def format_time_ns(t):
    dt = datetime.datetime.fromtimestamp(t // 1000000000, datetime.timezone.utc)
    return "%s.%09dZ" % (dt.strftime("%Y-%m-%dT%H:%M:%S"), t % 1000000000)


# Per-source state: one marker (the S column, like chronyc's) and one word.
STATE_MARKS = (("used", "*"), ("same_operator", "-"), ("isolated", "x"), ("answered", "~"), ("failed", "?"))
STATE_MARK = dict(STATE_MARKS)


def source_rows(readings, errors, result=None):
    """One dict per source, readings first then failures (configuration order
    within each): what both the table and --json show (docs/json.md)."""
    state, alarm = {}, {}
    if result is not None:
        for r in result.used:
            state[id(r)] = "used"
        for r in result.redundant:
            state[id(r)] = "same_operator"
        alarm_kind = dict((src, kind) for kind, src, _ in result.alarms)
        for r in result.isolated:
            state[id(r)] = "isolated"
            alarm[id(r)] = alarm_kind.get(r.source, OUTLIER)
    rows = []
    for r in readings:
        rows.append({"source": r.source, "kind": r.kind, "operator": r.operator, "authenticated": r.authenticated,
                     "offset_ns": r.offset_ns, "uncertainty_ns": r.uncertainty_ns, "delay_ns": r.delay_ns,
                     # A reading outside any result: the synthesis aborted.
                     "status": state.get(id(r), "answered"), "alarm": alarm.get(id(r)), "error": None})
    for e in errors:
        kind, src, msg = error_text(e)
        rows.append({"source": src, "kind": getattr(e, "source_kind", None), "operator": getattr(e, "operator", None),
                     "authenticated": None, "offset_ns": None, "uncertainty_ns": None, "delay_ns": None,
                     "status": "failed", "alarm": kind, "error": msg})
    return rows


def _status_text(row):
    if row["status"] == "failed":
        return "%s: %s" % (row["alarm"], row["error"])
    if row["status"] == "isolated":
        return "ISOLATED %s" % row["alarm"]
    return row["status"].replace("_", " ")


TABLE_HEAD = ("S", "source", "kind", "operator", "auth", "offset s", "+- s", "delay ms", "status")


def format_table(readings, errors, result=None):
    """The sources as a text table like `chronyc sources`: one line each,
    failures included, columns aligned under TABLE_HEAD."""
    rows = [TABLE_HEAD]
    for row in source_rows(readings, errors, result):
        answered = row["offset_ns"] is not None
        rows.append((STATE_MARK[row["status"]], row["source"], row["kind"] or "", row["operator"] or "",
                     ("yes" if row["authenticated"] else "no") if answered else "",
                     "%+.6f" % (row["offset_ns"] / 1e9) if answered else "",
                     "%.6f" % (row["uncertainty_ns"] / 1e9) if answered else "",
                     "%.1f" % (row["delay_ns"] / 1e6) if answered else "", _status_text(row)))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(TABLE_HEAD) - 1)]
    lines = []
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return "\n".join(lines)


def format_counts(readings, errors, result=None):
    """The summary line: how many sources are in each state."""
    rows = source_rows(readings, errors, result)
    counts = [(state, sum(1 for r in rows if r["status"] == state)) for state, _ in STATE_MARKS]
    return "%d source(s): %s" % (len(rows), ", ".join("%d %s" % (n, state.replace("_", " "))
                                                       for state, n in counts if n or state != "answered"))


LEGEND = """\
  S         * used: in the agreeing majority (the time is their median)
            - same operator: a second server of an operator already counted (one witness)
            x isolated: disagrees with the majority (an alarm: NTP_INJECT, OUTLIER)
            ~ answered, but the synthesis aborted (too few sources, no clear majority)
            ? failed: no usable reading (UNREACHABLE, BAD_REPLY, DELAYED, UNCERTAIN, SOURCE_AUTH, ERROR)
  source    host:port or URL, as configured
  kind      ntp (unauthenticated), nts, roughtime (signed), https (TLS Date header, 1 s resolution)
  operator  the administrative domain: sources of one operator are one witness
  auth      yes: the reading is authenticated (NTS MAC, Roughtime signature, TLS certificate)
  offset s  server time minus this host's clock: + means this host is behind, - ahead
  +- s      the reading's own uncertainty (half the round trip + the server's dispersion)
  delay ms  the round trip to the server
  status    the state in words; for a failure, why it failed"""


def clock_direction(offset_ns):
    if offset_ns == 0:
        return "this host's clock is exact"
    return "this host's clock is %.6f s %s" % (abs(offset_ns) / 1e9, "behind" if offset_ns > 0 else "ahead")


def error_text(e):
    """A source failure without raw library text: kind and a short reason."""
    kind, src, msg = _error_alarm(e)
    msg = re.sub(r"\[Errno -?\d+\] ", "", " ".join(str(msg).split()))   # the OS's words, not its number
    if len(msg) > 90:
        msg = msg[:87] + "..."
    return kind, src, msg


def result_json(readings, errors, result=None, error=None):
    """`potkit time --json`: the same keys whether or not a time came out
    (null where there is none); docs/json.md is the schema."""
    ok = result is not None
    alarms = result.alarms if ok else getattr(error, "alarms", [])
    return {
        "ok": ok,
        "error": None if ok else " ".join(str(error).split()),
        "time_ns": result.time_ns if ok else None,
        "time": format_time_ns(result.time_ns) if ok else None,
        "offset_ns": result.offset_ns if ok else None,
        "uncertainty_ns": result.uncertainty_ns if ok else None,
        "source_count": result.source_count if ok else None,
        "confidence_ppm": result.confidence_ppm if ok else None,
        "alarms": [{"kind": k, "source": s, "message": m} for k, s, m in alarms],
        "sources": source_rows(readings, errors, result),
    }
