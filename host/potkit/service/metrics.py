"""The service's metrics: its counters and the timebase's gauges, for GET /metrics (prometheus-client)."""
from potkit.issuer import verdict_names


class Metrics:
    """The service's counters, exposed through prometheus-client at scrape time.

    Plain ints, not prometheus_client.Counter: the event-loop thread is
    their only writer, so they need no lock, and `n += 1` costs a fraction
    of a Counter's locked inc() on a path run thousands of times a second.
    """

    def __init__(self, timebase, expose_detail=False):
        from prometheus_client import CollectorRegistry

        self.names = verdict_names()
        self.issued = {"http": 0, "tcp": 0, "udp": 0}
        self.verdicts = [0] * len(self.names)
        self.refused = 0
        self.unauthorized = 0
        self.errors = {}  # (transport, status) -> count
        self.registry = CollectorRegistry()
        self.registry.register(self)
        self.registry.register(TimebaseCollector(timebase, expose_detail))

    def verdict(self, code):
        self.verdicts[code] += 1

    def error(self, transport, status):
        key = (transport, str(status))
        self.errors[key] = self.errors.get(key, 0) + 1

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        m = CounterMetricFamily("pot_issued", "PoT records issued", labels=["transport"])
        for t, n in self.issued.items():
            m.add_metric([t], n)
        yield m
        yield CounterMetricFamily("pot_verified", "records that verified OK", value=self.verdicts[0])
        m = CounterMetricFamily("pot_rejected", "records rejected by the verifier, by verdict", labels=["verdict"])
        for code in range(1, len(self.names)):
            m.add_metric([self.names[code]], self.verdicts[code])
        yield m
        yield CounterMetricFamily("pot_refused", "requests refused because the timebase had no trusted time",
                                  value=self.refused)
        yield CounterMetricFamily("pot_unauthorized", "issue requests refused: no valid token for the context",
                                  value=self.unauthorized)
        m = CounterMetricFamily("pot_request_errors", "requests answered with an error, by transport and status",
                                labels=["transport", "status"])
        for (t, st), n in sorted(self.errors.items()):
            m.add_metric([t, st], n)
        yield m


class TimebaseCollector:
    """Synthesis and per-source gauges, read from the timebase at scrape time."""

    def __init__(self, timebase, expose_detail=False):
        self.timebase = timebase
        self.expose_detail = expose_detail

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        tb = self.timebase
        st = tb.status()
        yield GaugeMetricFamily("pot_timebase_ok", "1 if the service can issue now", value=1 if st["ok"] else 0)
        yield CounterMetricFamily("pot_synthesis_refreshes", "successful time syntheses", value=st["refreshes"])
        yield CounterMetricFamily("pot_synthesis_failures", "aborted time syntheses", value=st["failures"])
        if st["ok"]:
            yield GaugeMetricFamily("pot_synthesis_confidence_ppm", "confidence of the current synthesis",
                                    value=st["confidence_ppm"])
            yield GaugeMetricFamily("pot_synthesis_sources", "sources in the current synthesis",
                                    value=st["source_count"])
            yield GaugeMetricFamily("pot_synthesis_age_seconds", "age of the current synthesis", value=st["age_s"])
            yield GaugeMetricFamily("pot_synthesis_uncertainty_seconds",
                                    "uncertainty now, drift over the age included", value=st["uncertainty_ns"] / 1e9)
        alarms = GaugeMetricFamily("pot_synthesis_alarms", "alarms of the last synthesis attempt, by kind",
                                   labels=["kind"])
        counts = {}
        for a in getattr(tb.last_attempt, "alarms", None) or ():
            counts[a[0]] = counts.get(a[0], 0) + 1
        for kind, n in sorted(counts.items()):
            alarms.add_metric([str(kind)], n)
        yield alarms
        if not self.expose_detail:
            # Source addresses, offsets and health tell an attacker which
            # source to attack and how far it may go: operators only.
            return
        offset = GaugeMetricFamily("pot_source_offset_seconds", "server time minus local time, per source",
                                   labels=["source", "operator", "kind"])
        unc = GaugeMetricFamily("pot_source_uncertainty_seconds", "uncertainty of the last reading, per source",
                                labels=["source", "operator", "kind"])
        health = GaugeMetricFamily("pot_source_healthy", "1 if the source's last reading was usable",
                                   labels=["source", "operator"])
        for src in source_health(tb.last_attempt):
            labels = [src["source"], src.get("operator", ""), src.get("kind", "")]
            if src.get("offset_ns") is not None:
                offset.add_metric(labels, src["offset_ns"] / 1e9)
                unc.add_metric(labels, src["uncertainty_ns"] / 1e9)
            health.add_metric([src["source"], src["operator"]], 1 if src["healthy"] else 0)
        yield offset
        yield unc
        yield health


def source_health(attempt):
    """Per-source dicts from the last synthesis attempt: the adapter to potkit.synth.

    A Synthesis has `used` (agreeing), `redundant` (a second server of an
    operator already used), `isolated` (disagreeing: alarms) readings and
    `errors` (SourceError: no usable reading). A SynthesisError (the
    attempt aborted) carries `readings` and `errors`: nothing agreed, so
    no source counts as healthy.
    """
    out = []
    if attempt is None:
        return out

    def add(r, healthy):
        out.append({"source": str(r.source), "operator": str(r.operator or ""), "kind": str(r.kind or ""),
                    "offset_ns": r.offset_ns, "uncertainty_ns": r.uncertainty_ns, "healthy": healthy})

    if hasattr(attempt, "used"):
        for r in attempt.used:
            add(r, True)
        for r in getattr(attempt, "redundant", ()):
            add(r, True)
        for r in getattr(attempt, "isolated", ()):
            add(r, False)
    else:
        for r in getattr(attempt, "readings", ()):
            add(r, False)
    for e in getattr(attempt, "errors", ()):
        out.append({"source": str(getattr(e, "source", "?")), "operator": str(getattr(e, "operator", "") or ""),
                    "kind": str(getattr(e, "kind", "")), "healthy": False})
    return out

