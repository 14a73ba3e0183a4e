"""A record decoded for people (and, as JSON, for scripts): what `potkit show` prints.

Like `openssl ts -reply -text`: every field of the 143-byte record
(docs/spec.md section 1) with its meaning, the time in ISO 8601, the
tier's recency window and, given a context and/or the issuer's key, each
check of the verifier pipeline (spec section 4) with its outcome. The checks
are recomputed here one by one, with the very code the boards run (pot.grg
for the commitment) and libsodium for Ed25519, so that a rejection can say
*which* check failed and why: `potkit verify` prints the same reasons.
The commands are potkit.commands.show and potkit.commands.verify.
"""
from pot.spec import DEFAULT_SKEW_MS, RECORD_LEN, TIER_NAMES, TIER_WINDOW_MS


def _u(b):
    return int.from_bytes(bytes(b), "big")


FIELD_NAMES = ("length", "version", "tier", "tier_name", "window_ms", "sources", "reserved", "timestamp_ns",
               "time", "confidence_ppm", "nonce", "commitment", "signature")


def fields(rec):
    """The record's fields as a dict (no judgement beyond the structure).

    The same keys for any input (docs/json.md): of bytes that are not 143
    long only "length" is known, the others are None.
    """
    from potkit.synth import format_time_ns

    if len(rec) != RECORD_LEN:
        out = dict.fromkeys(FIELD_NAMES)
        out["length"] = len(rec)
        return out
    tier = rec[0] & 0x0F
    ts = _u(rec[3:11])
    out = {
        "length": len(rec),
        "version": rec[0] >> 4,
        "tier": tier,
        "tier_name": TIER_NAMES[tier] if tier < 4 else "invalid",
        "window_ms": TIER_WINDOW_MS[tier] if tier < 4 else None,
        "sources": rec[1],
        "reserved": rec[2],
        "timestamp_ns": ts,
        "time": format_time_ns(ts) if ts < 2 ** 63 else None,
        "confidence_ppm": _u(rec[11:15]),
        "nonce": bytes(rec[15:47]).hex(),
        "commitment": bytes(rec[47:79]).hex(),
        "signature": bytes(rec[79:143]).hex(),
    }
    return out


def structure_problems(rec):
    """Why the structural check (PROTO_VIOLATION) fails: a list of reasons."""
    if len(rec) != RECORD_LEN:
        return ["length %d bytes, a record is %d" % (len(rec), RECORD_LEN)]
    why = []
    if rec[0] >> 4 != 1:
        why.append("version %d (only version 1 exists)" % (rec[0] >> 4))
    if rec[0] & 0x0F > 3:
        why.append("tier %d (0..3)" % (rec[0] & 0x0F))
    if rec[1] < 3:
        why.append("%d sources (at least 3)" % rec[1])
    if rec[2] != 0:
        why.append("reserved byte is %d (must be 0)" % rec[2])
    if _u(rec[11:15]) > 1000000:
        why.append("confidence %d ppm (at most 1000000)" % _u(rec[11:15]))
    return why


def explain(record, ctx=None, public_key=None, now_ns=None, challenge=None, skew_ms=None):
    """{"fields": ..., "checks": [{"check", "result", "detail"}], "why": first failure or None}.

    Checks in the verifier's order (spec 4); a check that cannot be judged
    without a ctx / key / time says "not checked". The replay cache and the
    ordering floor are state of a running verifier, not of one record:
    they are not judged here.
    """
    rec = bytes(record)
    skew = DEFAULT_SKEW_MS if skew_ms is None else skew_ms
    checks = []

    def add(name, ok, detail):
        checks.append({"check": name, "result": "pass" if ok is True else "FAIL" if ok is False else "not checked",
                       "detail": detail})

    problems = structure_problems(rec)
    add("structure", not problems, "; ".join(problems) or "143 bytes, version 1, fields in range")
    report = {"fields": fields(rec), "checks": checks}
    if not problems:
        f = report["fields"]
        ts = f["timestamp_ns"]
        if now_ns is None:
            add("future", None, "no verification time")
        else:
            ahead = ts - now_ns
            add("future", ahead <= skew * 1000000,
                "%+.3f s from now (limit +%.3f s skew)" % (ahead / 1e9, skew / 1e3))
        if challenge is not None:
            add("challenge", bytes(challenge) == rec[15:47], "nonce %s the challenge"
                % ("equals" if bytes(challenge) == rec[15:47] else "differs from"))
        if ctx is None:
            add("context", None, "no ctx given (--ctx or --device-id)")
        else:
            from pot import host

            good = host.commitment(rec[:47], bytes(ctx)) == rec[47:79]
            add("context", good, "commitment %s ctx %s" % ("matches" if good else "does not match", bytes(ctx).hex()))
        if public_key is None:
            add("signature", None, "no issuer key given (--key or --pubkey)")
        else:
            from potkit.issuer import pynacl_ed25519_verify

            good = pynacl_ed25519_verify(public_key, rec[:79], rec[79:143])
            add("signature", good, "Ed25519 by %s %s" % (bytes(public_key).hex()[:16] + "...",
                                                         "verifies" if good else "does NOT verify"))
        if now_ns is not None:
            age = now_ns - ts
            add("recency", age <= f["window_ms"] * 1000000,
                "age %.3f s, %s window %.3f s" % (age / 1e9, f["tier_name"], f["window_ms"] / 1e3))
    report["why"] = next(("%s: %s" % (c["check"], c["detail"]) for c in checks if c["result"] == "FAIL"), None)
    return report


# For each verdict other than OK: the check of explain() it comes from (spec
# 4's pipeline order) and what it means for whoever asked. REPLAY, BUSY and
# ORDERING depend on a running verifier's state (its nonce cache, its last
# timestamp), which one record cannot show: they have a meaning, no check.
VERDICT_WHY = {
    "PROTO_VIOLATION": ("structure", "not a well-formed PoT record"),
    "FUTURE": ("future", "the record's time is ahead of the verification time by more than the skew: the "
                         "issuer's clock or this one is wrong"),
    "CHALLENGE": ("challenge", "the record was not issued for this challenge"),
    "CROSS_CONTEXT": ("context", "the record was issued for another context: another device id, ctx or "
                                 "message (one changed byte is enough)"),
    "FORGE": ("signature", "not signed by this issuer's key: another issuer's record, or altered after signing"),
    "STALE": ("recency", "older than its tier's recency window: ask for a fresh record"),
    "REPLAY": (None, "this record was accepted before (its nonce is in the cache)"),
    "BUSY": (None, "the replay cache is full of live entries: try again later"),
    "ORDERING": (None, "older than a record of this issuer already accepted"),
}


def why(report, verdict):
    """One line for a verdict: the check it comes from, that check's detail,
    and what it means; None for OK."""
    if verdict == "OK":
        return None
    check, meaning = VERDICT_WHY.get(verdict, (None, "verdict %s" % verdict))
    detail = next((c["detail"] for c in report["checks"] if c["check"] == check), None)
    return "%s: %s; %s" % (check, detail, meaning) if detail else meaning


def format_text(report):
    lines = []
    f = report["fields"]
    if f["version"] is not None:
        lines += [
            "PoT record (%d bytes)" % f["length"],
            "  version       %d" % f["version"],
            "  tier          %d %s (recency window %s)" % (f["tier"], f["tier_name"],
                                                          "%g s" % (f["window_ms"] / 1e3) if f["window_ms"] else "-"),
            "  sources       %d (distinct operators that agreed)" % f["sources"],
            "  time          %s (%d ns since 1970)" % (f["time"], f["timestamp_ns"]),
            "  confidence    %d ppm (%.4f %%)" % (f["confidence_ppm"], f["confidence_ppm"] / 1e4),
            "  nonce         %s" % f["nonce"],
            "  commitment    %s (GRG, binds the record to its ctx)" % f["commitment"],
            "  signature     %s..." % f["signature"][:32],
        ]
    else:
        lines.append("not a PoT record: %d bytes (a record is %d)" % (f["length"], RECORD_LEN))
    lines.append("checks")
    for c in report["checks"]:
        lines.append("  %-12s %-12s %s" % (c["check"], c["result"], c["detail"]))
    if "verdict" in report:
        lines.append("verdict       %s" % report["verdict"])
    return "\n".join(lines)
