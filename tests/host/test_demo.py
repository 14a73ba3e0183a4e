"""`make demo` (tools/demo.py) on the Unix-port board: every row as
expected, and its summary lines say what they count.

The board's counters are cumulative (since it started, over every link):
the totals printed after the last link add up the rows of all links.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_rows_and_summary_lines_explain_themselves():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "demo.py"), "--board", "unix"],
                       capture_output=True, text=True, timeout=300)
    out = p.stdout
    assert p.returncode == 0, (out, p.stderr)
    assert "WARNING" not in out                      # real chronyd sources, not the host clock
    head = out.index("\nlink ")
    table = out[head + 1:out.index("\n\n", head)].splitlines()[2:]
    assert table and all(row.rstrip().endswith("  ok") for row in table), table
    # The clock sync says who measured what.
    syncs = re.findall(r"clock sync: OK; the board timed its challenge's round trip at ([\d.]+) ms by its own "
                       r"clock, so its clock is now right to \+- ([\d.]+) ms; the host saw [\d.]+ ms", out)
    assert len(syncs) == 2
    for rtt, unc in syncs:
        assert abs(float(unc) - (float(rtt) / 2 + 1)) <= 0.01   # half the round trip + one ms tick
    # Cumulative counters: the last totals line adds up both links' rows.
    totals = re.findall(r"board totals since it started \(all links so far\): (\d+) stamped commands verified, "
                        r"(\d+) accepted \(OK\), (\d+) refused by the flood limit unverified, \d+ link errors", out)
    assert len(totals) == 2
    verified, accepted, refused = map(int, totals[-1])
    flood = [r for r in table if "(flood)" in r]
    assert len(flood) == 1
    sent, busy = map(int, re.search(r"(\d+) commands in .* (\d+) BUSY", flood[0]).groups())
    single = [r for r in table if r not in flood]
    verdicts = [re.split(r"\s{2,}", r)[4] for r in single]
    assert refused == busy
    assert verified == sum(1 for v in verdicts if v != "NO_CLOCK") + sent - busy
    assert accepted == verdicts.count("OK") + sent - busy
    # The legend names what the table shows, and why an altered message is CROSS_CONTEXT.
    for term in ("expected ", "verdict ", "mode ", "device us ", "host ms "):
        assert re.search(r"^  %s" % term, out, re.M), term
    assert "SHA-256(message)" in out and "altered by one byte" in out
    assert "FULL until 20" in out and "TURBO" in out
    assert re.search(r"^%d rows \(the flood is one\): %d as expected, 0 unexpected;" % (len(table), len(table)),
                     out, re.M)
