#!/usr/bin/env python3
"""Audit-log figures (no pass/fail; docs/spec.md section 9):

1. appends per second into SQLite (WAL, synchronous=FULL) and into a real
   PostgreSQL (tools/lab/pgserver.py, fsync on), entries appended as fast as
   the writer takes them; and the seconds from one append to the signed
   checkpoint that includes it (target <= 1 s);
2. the HTTP issue+verify benchmark of tools/bench/bench_issuer.py (wrk, real
   chronyd time sources) with logging off and on (SQLite) in the same run,
   as a ratio (target >= 0.8), and the service's CPU per request in both
   modes (the logging's cost where the machine is shared and throughput noisy).
   Each round runs both modes back to back, alternating which goes first
   (off/on, on/off, ...), so a change of the machine's load during a run
   weighs on both; every round's ratio is printed, then their median and
   range (and the best-of-each ratio).

    .venv/bin/python tools/bench/bench_audit.py [--n 20000] [--seconds 5] [--connections 100] [--rounds 5]
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for p in ("host", "firmware", os.path.join("tools", "lab"), os.path.join("tools", "bench")):
    sys.path.insert(0, os.path.join(ROOT, p))


def bench_store(label, make_store, n):
    from nacl.signing import SigningKey

    from potkit.auditlog import entry as E
    from potkit.auditlog.log import AuditLog

    cv = threading.Condition()
    state = {"done": 0, "t": {}}

    def committed(last, failed, reason):
        with cv:
            state["done"] = last
            state["t"][last] = time.monotonic()
            cv.notify_all()

    log = AuditLog(make_store(), SigningKey.generate(), on_commit=committed)
    log.start()
    data = [E.encode(E.VERIFY, time.time_ns(), transport=1, verdict=0, peer="127.0.0.1:%d" % i) for i in range(n)]
    sent = {}        # seq -> when it was appended, every 100th entry of the burst
    t0 = time.monotonic()
    for i, d in enumerate(data):
        seq = log.append(d)
        if i % 100 == 0:
            sent[seq] = time.monotonic()
    with cv:
        cv.wait_for(lambda: state["done"] >= seq, 600)
    secs = time.monotonic() - t0
    commits = sorted(state["t"].items())
    burst = []       # append -> signed checkpoint of the sampled entries, during the burst
    k = 0
    for s, t in sorted(sent.items()):
        while commits[k][0] < s:
            k += 1
        burst.append(commits[k][1] - t)
    # Latency: one append on an idle log until its checkpoint is signed and stored.
    lat = []
    for _ in range(20):
        a = time.monotonic()
        s = log.append(data[0])
        with cv:
            cv.wait_for(lambda: state["done"] >= s, 60)
        lat.append(time.monotonic() - a)
    log.stop()
    print("  %-11s %8.0f appends/s (%d entries in %.2f s, batches <= 256, one signed checkpoint each); "
          "append -> signed checkpoint: idle log median %.4f s, max %.4f s; during the burst median %.4f s, "
          "max %.4f s" % (label, n / secs, n, secs, statistics.median(lat), max(lat), statistics.median(burst),
                          max(burst)))


def bench_http(seconds, connections, rounds):
    import bench_issuer as bi

    if not shutil.which("wrk"):
        print("  wrk not found: install the Debian package wrk (tools/setup_system.sh)")
        return
    with bi.lab_issuer("bench-audit-") as (key, cfg):
        d = os.path.dirname(key)
        res = {"off": [], "on": []}
        cpu = {"off": [], "on": []}
        ratios = []
        for i in range(rounds):
            got = {}
            for mode in (("off", "on") if i % 2 == 0 else ("on", "off")):
                extra = [] if mode == "off" else ["--log", os.path.join(d, "audit-%d.db" % i)]
                rps, us, side = run_one(bi, key, cfg, extra, seconds, connections)
                got[mode] = rps
                res[mode].append(rps)
                cpu[mode].append(us)
                print("  round %d logging %-3s %7.0f req/s issue+verify (%d connections, wrk -t2), server CPU "
                      "%.0f us/request (threads besides the event loop's: %.1f)"
                      % (i + 1, mode, rps, connections, us, side))
            ratios.append(got["on"] / got["off"])
            print("  round %d ratio on/off: %.2f" % (i + 1, ratios[-1]))
        print("  ratio on/off per round: %s; median %.2f (min %.2f, max %.2f; target >= 0.8); best of %d each: %.2f"
              % (" ".join("%.2f" % r for r in ratios), statistics.median(ratios), min(ratios), max(ratios), rounds,
                 max(res["on"]) / max(res["off"])))
        print("  server CPU per request on/off (medians): %.0f / %.0f us = %.2f"
              % (statistics.median(cpu["on"]), statistics.median(cpu["off"]),
                 statistics.median(cpu["on"]) / statistics.median(cpu["off"])))


def run_one(bi, key, cfg, extra, seconds, connections):
    # (requests per second, server CPU microseconds per request, of it in
    # threads other than the event loop's: the audit writer) of one wrk run
    with bi.open_service(key, cfg, extra) as (proc, url, _loop):
        lua = os.path.join(ROOT, "tools", "bench", "bench_issuer.lua")
        bi.run_wrk(url, 1, connections, 2, lua)
        cpu0, side0 = bi.proc_cpu_s(proc.pid), side_cpu_s(proc.pid)
        r = bi.run_wrk(url, 2, connections, seconds, lua)
        cpu, side = bi.proc_cpu_s(proc.pid) - cpu0, side_cpu_s(proc.pid) - side0
        n = max(r["requests"], 1)
        return r["requests"] / r["seconds"], cpu / n * 1e6, side / n * 1e6


def side_cpu_s(pid):
    # CPU seconds of a process's threads other than its main thread (Linux /proc)
    total = 0.0
    for tid in os.listdir("/proc/%d/task" % pid):
        if int(tid) == pid:
            continue
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:   # a thread that ended meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds of one HTTP run with logging off and one on (alternating which goes first)")
    ap.add_argument("--no-http", action="store_true")
    args = ap.parse_args()
    from potkit.auditlog.store import PostgresStore, SqliteStore

    print("== appends into the audit log (%d cores)" % os.cpu_count())
    d = tempfile.mkdtemp(prefix="bench-audit-db-")
    try:
        bench_store("SQLite", lambda: SqliteStore(os.path.join(d, "a.db")), args.n)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    try:
        import pgserver

        pg = pgserver.PostgresServer()
    except Exception as e:
        print("  PostgreSQL: not measured (%s)" % str(e).splitlines()[0])
    else:
        try:
            url = pg.new_database()
            bench_store("PostgreSQL", lambda: PostgresStore(url), args.n)
        finally:
            pg.stop()
    if not args.no_http:
        print("== HTTP issue+verify, audit log off and on (SQLite)")
        bench_http(args.seconds, args.connections, args.rounds)


if __name__ == "__main__":
    main()
