"""What `potkit` prints for people and for scripts.

- Every --json object (time, issue, show, verify; device status, sync and
  send) against its schema in docs/json.md: exactly the documented keys,
  each of the documented type. The tables are read from the document, so a
  change to either side that the other does not follow fails here.
- `potkit verify`'s "why:" line for each verdict a one-shot verify can
  give: it names the check, what it compared and what that means.
- `potkit time`'s layout, like `chronyc sources -v`: the legend, a table
  whose columns line up under its header, and the summary lines.

Time comes from the session's chronyd on loopback (conftest `chrony`),
listed three times under three operators: three witnesses of one clock.
"""
import json
import os
import re
import subprocess
import sys
import time

import pytest
from nacl.signing import SigningKey

from potkit import keys
from potkit.cli import main as potkit_main
from potkit.sources import UNREACHABLE, Reading, SourceError
from potkit.synth import (LEGEND, STATE_MARKS, TABLE_HEAD, format_counts, format_table, source_rows,
                          synthesize)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MS = 1000000
S = 1000000000


# --- the schema of docs/json.md ----------------------------------------------------------
def load_schemas():
    """{name: {key: type}} from the tables after `<!-- schema: NAME -->`."""
    with open(os.path.join(ROOT, "docs", "json.md")) as f:
        text = f.read()
    schemas = {}
    for m in re.finditer(r"<!-- schema: (\S+) -->\n\| key \| type \| meaning \|\n\|---\|---\|---\|\n((?:\|.*\n)+)", text):
        rows = [ln.split("|")[1:3] for ln in m.group(2).splitlines()]
        schemas[m.group(1)] = dict((k.strip(), t.strip()) for k, t in rows)
    assert len(schemas) == text.count("<!-- schema:"), "a schema table in docs/json.md does not parse"
    return schemas


SCHEMAS = load_schemas()
TOP_LEVEL = ("time", "issue", "show", "verify", "device.status", "device.verdict")
BASIC = {"bool": lambda v: isinstance(v, bool),
         "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
         "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
         "str": lambda v: isinstance(v, str)}


def check_schema(doc, name, where=None):
    """Assert that `doc` has exactly the keys of schema `name`, each of its type."""
    where = where or name
    schema = SCHEMAS[name]
    assert isinstance(doc, dict), "%s: not an object: %r" % (where, doc)
    assert set(doc) == set(schema), "%s: keys %s missing, %s undocumented" % (
        where, sorted(set(schema) - set(doc)), sorted(set(doc) - set(schema)))
    for key, kind in schema.items():
        check_value(doc[key], kind, "%s.%s" % (where, key))


def check_value(value, kind, where):
    if kind.endswith(" or null"):
        if value is None:
            return
        kind = kind[:-len(" or null")]
    if kind.startswith("list of "):
        assert isinstance(value, list), "%s: not a list: %r" % (where, value)
        for i, item in enumerate(value):
            check_schema(item, kind[len("list of "):], "%s[%d]" % (where, i))
    elif kind.startswith("object "):
        check_schema(value, kind[len("object "):], where)
    else:
        assert kind in BASIC, "%s: docs/json.md names an unknown type %r" % (where, kind)
        assert BASIC[kind](value), "%s: %r is not %s" % (where, value, kind)


def test_the_schema_check_can_fail():
    good = {"kind": "OUTLIER", "source": "a:1", "message": "x"}
    check_schema(good, "time.alarm")
    for bad in (dict(good, extra=1), {"kind": "OUTLIER", "source": "a:1"}, dict(good, message=None),
                dict(good, kind=3)):
        with pytest.raises(AssertionError):
            check_schema(bad, "time.alarm")
    with pytest.raises(AssertionError):
        check_value(True, "int", "x")                 # a bool is not an int
    with pytest.raises(AssertionError):
        check_value([{"kind": 1}], "list of time.alarm", "x")


def test_every_schema_is_reached_from_a_command():
    reached = set()

    def walk(name):
        reached.add(name)
        for kind in SCHEMAS[name].values():
            m = re.match(r"(?:list of|object) (\S+)", kind)
            if m:
                walk(m.group(1))

    for name in TOP_LEVEL:
        walk(name)
    assert reached == set(SCHEMAS)


# --- a lab: one chronyd, three operators -----------------------------------------------------
@pytest.fixture(scope="module")
def lab(chrony, tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-output")
    src = {"kind": "ntp", "host": chrony.host, "port": chrony.ntp_port, "timeout": 2.0}
    good = d / "lab.json"
    good.write_text(json.dumps({"sources": [dict(src, operator="op-%d" % i) for i in range(3)]
                                + [{"kind": "ntp", "host": "127.0.0.1", "port": 9, "operator": "op-dead"}],
                                "synthesis": {"timeout_s": 3.0}}))
    # One answers, two refuse: no trusted time.
    short = d / "short.json"
    short.write_text(json.dumps([dict(src, operator="op-0"),
                                 {"kind": "ntp", "host": "127.0.0.1", "port": 9, "operator": "op-dead-1"},
                                 {"kind": "ntp", "host": "127.0.0.1", "port": 7, "operator": "op-dead-2"}]))
    key = str(d / "issuer.key")
    keys.generate_keypair(key)
    return {"config": str(good), "short": str(short), "key": key, "dir": d}


def run_cli(capsys, *argv):
    """(exit status, stdout, stderr) of potkit in this process."""
    rc = potkit_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys, *argv, expect=0):
    rc, out, err = run_cli(capsys, *argv)
    assert rc == expect, (rc, out, err)
    return json.loads(out)


def test_time_json_matches_the_schema(lab, capsys):
    doc = run_json(capsys, "time", "--config", lab["config"], "--json")
    check_schema(doc, "time")
    assert doc["ok"] and doc["error"] is None and doc["source_count"] == 3
    assert sorted(s["status"] for s in doc["sources"]) == ["failed", "used", "used", "used"]
    assert [a["kind"] for a in doc["alarms"]] == [UNREACHABLE]
    # No time: the same keys, the synthesis ones null, exit status 3.
    doc = run_json(capsys, "time", "--config", lab["short"], "--json", expect=3)
    check_schema(doc, "time")
    assert not doc["ok"] and "only 1 source(s)" in doc["error"] and doc["time_ns"] is None
    assert sorted(s["status"] for s in doc["sources"]) == ["answered", "failed", "failed"]


def test_issue_json_matches_the_schema(lab, capsys):
    for extra in ((), ("--anchor",)):
        doc = run_json(capsys, "issue", "--key", lab["key"], "--config", lab["config"], "--device-id", "door-1",
                       "--message", "unlock", "--tier", "1", "--json", *extra)
        check_schema(doc, "issue")
        assert len(bytes.fromhex(doc["record"])) == 143 and doc["tier"] == "T1_block"
        assert (doc["anchor"] is None) == (not extra)


def test_show_and_verify_json_match_the_schema(lab, capsys):
    rec = run_json(capsys, "issue", "--key", lab["key"], "--config", lab["config"], "--device-id", "door-1",
                   "--message", "unlock", "--json")["record"]
    ctx = ("--device-id", "door-1", "--message", "unlock")
    doc = run_json(capsys, "show", rec, "--key", lab["key"], *ctx, "--json")
    check_schema(doc, "show")
    assert [c["result"] for c in doc["checks"]] == ["pass"] * 5 and doc["why"] is None
    doc = run_json(capsys, "show", "00" * 10, "--json")      # not a record: the same keys, nulls
    check_schema(doc, "show")
    assert doc["fields"]["length"] == 10 and doc["fields"]["version"] is None and doc["why"].startswith("structure")
    doc = run_json(capsys, "verify", rec, "--key", lab["key"], *ctx, "--json")
    check_schema(doc, "verify")
    assert doc["verdict"] == "OK" and doc["code"] == 0 and doc["why"] is None
    doc = run_json(capsys, "verify", rec, "--key", lab["key"], "--device-id", "door-2", "--json", expect=1)
    check_schema(doc, "verify")
    assert doc["verdict"] == "CROSS_CONTEXT" and doc["why"].startswith("context: ")


def test_device_json_matches_the_schema(lab, capsys):
    from potkit.board.unix import UnixBoard

    board = UnixBoard(keys.load_public_key(lab["key"]), "door-1", serial="pipe", tcp=0)
    board.start()
    try:
        link = ("--tcp", "127.0.0.1:%d" % board.tcp_port)
        doc = run_json(capsys, "device", "status", *link)
        check_schema(doc, "device.status")
        assert doc["device_id"] == "door-1" and not doc["synced"] and doc["uncertainty_us"] is None
        doc = run_json(capsys, "device", "sync", *link, "--key", lab["key"], "--time-config", lab["config"])
        check_schema(doc, "device.verdict")
        assert doc["name"] == "OK" and doc["clock_valid"]
        doc = run_json(capsys, "device", "send", *link, "--key", lab["key"], "--time-config", lab["config"],
                       "--message", "unlock")
        check_schema(doc, "device.verdict")
        assert doc["name"] == "OK" and doc["mode"] == "FULL"
        doc = run_json(capsys, "device", "status", *link, "--json")
        check_schema(doc, "device.status")
        assert doc["synced"] and doc["requests"] == 1 and doc["accepted"] == 1
    finally:
        board.stop()


# --- verify says why ---------------------------------------------------------------------------
KEY = SigningKey(b"\x31" * 32)
OTHER = SigningKey(b"\x32" * 32)
CHALLENGE = "ab" * 32


def _records():
    """A record for door-1/"unlock" (T0), the same by another key, one for a challenge."""
    from pot.grg import context_message
    from potkit.issuer import Issuer
    from potkit.timebase import FixedTimeBase

    ctx = context_message("door-1", b"unlock")
    mine, theirs = Issuer(KEY, FixedTimeBase()), Issuer(OTHER, FixedTimeBase())
    return mine.issue(ctx, 0), theirs.issue(ctx, 0), mine.issue(ctx, 0, bytes.fromhex("cd" * 32))


# (verdict, how the record or the verification differs, what the why line must say)
WHY_CASES = [
    ("PROTO_VIOLATION", "version", r"^why: structure: version 2 \(only version 1 exists\); not a well-formed PoT record$"),
    ("PROTO_VIOLATION", "short", r"^why: structure: length 100 bytes, a record is 143; not a well-formed PoT record$"),
    ("FUTURE", "early", r"^why: future: \+10\.000 s from now \(limit \+0\.500 s skew\); the record's time is ahead"),
    ("CHALLENGE", "challenge", r"^why: challenge: nonce differs from the challenge; the record was not issued for "
                               r"this challenge$"),
    ("CROSS_CONTEXT", "message", r"^why: context: commitment does not match ctx 01066[0-9a-f]+; the record was "
                                 r"issued for another context: another device id, ctx or message"),
    ("FORGE", "key", r"^why: signature: Ed25519 by [0-9a-f]{16}\.\.\. does NOT verify; not signed by this "
                     r"issuer's key"),
    ("STALE", "late", r"^why: recency: age 120\.000 s, T0_epoch window 60\.000 s; older than its tier's recency "
                      r"window: ask for a fresh record$"),
]


@pytest.mark.parametrize("verdict,change,why", WHY_CASES, ids=["%s-%s" % c[:2] for c in WHY_CASES])
def test_verify_says_why_for_each_rejection(verdict, change, why, capsys):
    good, forged, challenged = _records()
    rec, message, ts = good, "unlock", int.from_bytes(good[3:11], "big")
    extra = []
    now = ts
    if change == "version":
        rec = bytes([0x20 | (good[0] & 0x0F)]) + good[1:]
    elif change == "short":
        rec = good[:100]
    elif change == "early":
        now = ts - 10 * S
    elif change == "challenge":
        rec, ts = challenged, int.from_bytes(challenged[3:11], "big")
        now = ts
        extra = ["--challenge", CHALLENGE]
    elif change == "message":
        message = "unlock!"
    elif change == "key":
        rec = forged
    elif change == "late":
        now = ts + 120 * S
    argv = ["verify", rec.hex(), "--pubkey", bytes(KEY.verify_key).hex(), "--device-id", "door-1",
            "--message", message, "--now-ns", now] + extra
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 1 and err == ""
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0] == "%s (%d)" % (verdict, _code(verdict)), out
    assert re.search(why, lines[1]), lines[1]
    # --json says the same.
    doc = run_json(capsys, *argv, "--json", expect=1)
    assert doc["verdict"] == verdict and "why: " + doc["why"] == lines[1]


def _code(name):
    from pot.spec import VERDICT_NAMES as NAMES

    return NAMES.index(name)


def test_verify_ok_has_no_why_line(capsys):
    good = _records()[0]
    rc, out, _ = run_cli(capsys, "verify", good.hex(), "--pubkey", bytes(KEY.verify_key).hex(), "--device-id",
                         "door-1", "--message", "unlock", "--now-ns", int.from_bytes(good[3:11], "big"))
    assert rc == 0 and out == "OK (0)\n"


# --- `potkit time`'s layout ------------------------------------------------------------------------
LOCAL = 1790000000 * S


def _reading(name, op, offset_ns, auth=True, kind="roughtime"):
    return Reading(name, op, kind, auth, LOCAL + offset_ns, LOCAL, 2 * MS, delay_ns=4 * MS)


def _columns(header):
    """Start of each column in the header line."""
    starts, pos = [], 0
    for name in TABLE_HEAD:
        pos = header.index(name, pos)
        starts.append(pos)
        pos += len(name)
    return starts


def test_time_table_lines_up_and_names_each_state():
    readings = [_reading("rt-a:2002", "a", 1 * MS), _reading("rt-b:2002", "b", -1 * MS),
                _reading("nts-c:4460", "c", 0, kind="nts"), _reading("rt-a2:2002", "a", 2 * MS),
                _reading("ntp-d:123", "d", 30 * S, auth=False, kind="ntp")]
    dead = SourceError(UNREACHABLE, "ntp-e:123", "no answer within 3.0 s")
    dead.operator, dead.source_kind = "e", "ntp"
    result = synthesize(readings, [dead])
    lines = format_table(result.readings, result.errors, result).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == list(TABLE_HEAD)
    starts = _columns(lines[0]) + [None]
    cells = [[row[a:b].strip() for a, b in zip(starts, starts[1:])] for row in lines[1:]]
    assert [c[:4] for c in cells] == [["*", "rt-a:2002", "roughtime", "a"], ["*", "rt-b:2002", "roughtime", "b"],
                                      ["*", "nts-c:4460", "nts", "c"], ["-", "rt-a2:2002", "roughtime", "a"],
                                      ["x", "ntp-d:123", "ntp", "d"], ["?", "ntp-e:123", "ntp", "e"]]
    assert [c[4:7] for c in cells[:2]] == [["yes", "+0.001000", "0.002000"], ["yes", "-0.001000", "0.002000"]]
    assert cells[4][4:8] == ["no", "+30.000000", "0.002000", "4.0"]
    assert [c[8] for c in cells] == ["used", "used", "used", "same operator", "ISOLATED NTP_INJECT",
                                     "UNREACHABLE: no answer within 3.0 s"]
    assert cells[5][4:8] == ["", "", "", ""]          # no reading: no numbers
    assert format_counts(result.readings, result.errors, result) == \
        "6 source(s): 3 used, 1 same operator, 1 isolated, 1 failed"
    # The JSON rows are the table's rows.
    assert [r["status"] for r in source_rows(result.readings, result.errors, result)] == \
        ["used", "used", "used", "same_operator", "isolated", "failed"]


def test_time_legend_explains_every_column_and_mark():
    lines = LEGEND.splitlines()
    heads = [ln[2:12].strip() for ln in lines if ln[2:3] != " "]
    assert heads == list(TABLE_HEAD)
    for state, mark in STATE_MARKS:
        assert any(ln[12:].startswith(mark + " " + state.replace("_", " ")) for ln in lines), mark


def test_cli_time_verbose_reads_like_chronyc(lab, capsys):
    rc, out, err = run_cli(capsys, "time", "-v", "--config", lab["config"])
    assert rc == 0 and err == ""
    legend, table, summary = out.split("\n\n")
    assert legend == LEGEND
    rows = table.splitlines()
    assert re.split(r"\s{2,}", rows[0]) == list(TABLE_HEAD) and len(rows) == 5
    assert sorted(r[0] for r in rows[1:]) == ["*", "*", "*", "?"]
    refused = [r for r in rows if r.startswith("?")][0]
    assert "UNREACHABLE: " in refused and "Errno" not in refused     # the OS's words, not its number
    lines = summary.splitlines()
    assert lines[0] == "4 source(s): 3 used, 0 same operator, 0 isolated, 1 failed"
    assert re.match(r"time        \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \(this host's clock is "
                    r"(exact|\d+\.\d{6} s (behind|ahead))\)$", lines[1]), lines[1]
    assert re.match(r"uncertainty \+-\d+\.\d{6} s$", lines[2])
    assert lines[3] == "sources     3 of distinct operators agree"
    assert re.match(r"confidence  \d+ ppm$", lines[4])
    assert lines[5].startswith("alarm       UNREACHABLE 127.0.0.1:9: ")
    # No time: the legend and the table still, the counts, and one error line.
    rc, out, err = run_cli(capsys, "time", "-v", "--config", lab["short"])
    assert rc == 3
    legend, table, summary = out.split("\n\n")
    assert legend == LEGEND and sorted(r[0] for r in table.splitlines()[1:]) == ["?", "?", "~"]
    assert summary == "3 source(s): 0 used, 0 same operator, 0 isolated, 1 answered, 2 failed\n"
    assert len(err.splitlines()) == 1 and err.startswith("potkit: only 1 source(s) of distinct operators")


# --- deadlines hold with a silent resolver ------------------------------------------------------------
SILENT_RESOLVER = '''\
# Loaded by the interpreter at start-up (sitecustomize on PYTHONPATH): name
# resolution of *.silent.test never returns, like a DNS server that drops
# every query; every other name resolves as usual.
import socket
import threading

_real = socket.getaddrinfo


def getaddrinfo(host, *args, **kw):
    if isinstance(host, str) and host.endswith(".silent.test"):
        threading.Event().wait()
    return _real(host, *args, **kw)


socket.getaddrinfo = getaddrinfo
'''


def silent_source(kind, i):
    """A source of `kind` whose host name never resolves."""
    host = "time%d.silent.test" % i
    src = {"kind": kind, "operator": "op-%d" % i, "timeout": 10}
    if kind == "https":
        src["url"] = "https://%s/" % host
    else:
        src["host"] = host
    if kind == "roughtime":
        src["key"] = "X037Nr1N7ryxP4sbteGophRnnzNu1ONTC6/FTAgbr+8="
    return src


@pytest.mark.parametrize("kind", ["ntp", "nts", "roughtime", "https"])
def test_silent_resolver_does_not_stretch_the_deadline(kind, tmp_path):
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "sitecustomize.py").write_text(SILENT_RESOLVER)
    config = tmp_path / "silent.json"
    config.write_text(json.dumps([silent_source(kind, i) for i in range(3)]))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(stub), ROOT + "/host", ROOT + "/firmware"]))
    env.pop("POTKIT_CONFIG", None)
    deadline_s, margin_s = 1.0, 8.0
    t0 = time.monotonic()
    try:
        p = subprocess.run([sys.executable, "-m", "potkit.cli", "time", "--config", str(config),
                            "--timeout", str(deadline_s)], env=env, capture_output=True, text=True,
                           timeout=deadline_s + margin_s)
    except subprocess.TimeoutExpired:
        pytest.fail("`potkit time --timeout %g` still running after %g s: a stuck name lookup holds it"
                    % (deadline_s, deadline_s + margin_s))
    elapsed = time.monotonic() - t0
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert p.stderr.startswith("potkit: only 0 source(s) of distinct operators answered, 3 needed; ")
    assert len(p.stderr.splitlines()) == 1, p.stderr
    assert p.stdout.count("UNREACHABLE: no answer within 1.0 s") == 3
    print("potkit time with a silent resolver: %.2f s (deadline %g s)" % (elapsed, deadline_s))
