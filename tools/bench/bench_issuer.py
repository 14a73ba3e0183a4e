#!/usr/bin/env python3
"""Issuer and service benchmark: prints figures measured in this run, asserts nothing.

    .venv/bin/python tools/bench/bench_issuer.py [--seconds 10] [--connections 500] [--skip-http]

1. Records issued per second on one core (GRG commitment and Ed25519
   signing included), with the per-stage breakdown, and the same for the
   service's verification. The timebase is the FixedTimeBase test double:
   reading it costs the same as the real one (a tuple and a monotonic
   clock read); the sources are not what this part measures.
2. HTTP end to end: the real `potkit serve` (time from three loopback
   chronyd servers), driven by wrk with tools/bench/bench_issuer.lua: every
   record issued is verified once, so half the requests are
   POST /v1/issue and half POST /v1/verify. Runs with 1 and 2 wrk threads
   (the load generator shares this machine's cores with the server), on
   the standard asyncio loop (the default) and on uvloop (--uvloop).
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for p in ("host", "firmware", "tools/lab"):
    sys.path.insert(0, os.path.join(ROOT, p))

TARGET_ISSUE_PER_S = 10000
TARGET_HTTP_PER_S = 4112


def per_call_us(fn, n):
    fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def bench_issuing(n):
    from nacl.bindings import crypto_sign
    from nacl.signing import SigningKey

    from pot import grg, host
    from potkit.issuer import Issuer, pynacl_ed25519_verify
    from potkit.service.verify import ServiceVerifier
    from potkit.timebase import FixedTimeBase

    ctx = grg.context_device("board-1")
    sk = SigningKey(os.urandom(32))
    tb = FixedTimeBase()
    iss = Issuer(sk, tb)
    print("== issuing on one core (%d records; pot.host's Grg: %s)"
          % (n, "fast stages" if host.grg_for(ctx).fast is not None else "portable stages"))
    total = per_call_us(lambda: iss.issue(ctx, 0), n)
    rec = iss.issue(ctx, 0)
    payload, signed = rec[:47], rec[:79]
    sk64 = bytes(sk._signing_key)
    stages = [
        ("timebase.now()", lambda: tb.now()),
        ("os.urandom(32) nonce", lambda: os.urandom(32)),
        ("pot.host.pack_payload", lambda: host.pack_payload(0, 4, 1760000000000000000, 999000, rec[15:47])),
        ("pot.host.commitment", lambda: host.commitment(payload, ctx)),
        ("Ed25519 sign (libsodium)", lambda: crypto_sign(signed, sk64)),
    ]
    for name, fn in stages:
        print("  %-34s %8.1f us" % (name, per_call_us(fn, n)))
    print("  %-34s %8.1f us  -> %.0f records/s (target %d: %.2fx)" % (
        "Issuer.issue() total", total, 1e6 / total, TARGET_ISSUE_PER_S, 1e6 / total / TARGET_ISSUE_PER_S))

    records = [iss.issue(ctx, 0) for _ in range(n)]
    v = ServiceVerifier(iss.public_key, cache_capacity=2 * n + 10, per_partition=2 * n + 10)
    it = iter(records)
    now = time.time_ns() + 10**6
    vt = per_call_us(lambda: v.verify(next(it), ctx, now), n - 1)
    print("  %-34s %8.1f us" % ("Ed25519 verify (libsodium)",
                                 per_call_us(lambda: pynacl_ed25519_verify(iss.public_key, signed, rec[79:]), n)))
    print("  %-34s %8.1f us  -> %.0f verifications/s" % ("ServiceVerifier.verify() total", vt, 1e6 / vt))
    return total, vt


def proc_cpu_s(pid):
    # utime + stime of a process, in seconds (Linux /proc).
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(url, threads, connections, seconds, lua):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--timeout", "10s", "--latency",
           "-s", lua, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
    m = re.search(r"^RESULT (.*)$", out, re.M)
    if not m:
        raise RuntimeError("wrk gave no RESULT line:\n" + out)
    return dict((k, float(v)) for k, v in (w.split("=") for w in m.group(1).split()))


def bench_http(seconds, connections, loops):
    import peers
    from potkit import keys

    print("\n== HTTP end to end: issue + verify, %d connections, wrk on this machine (%d cores)"
          % (connections, os.cpu_count()))
    if not shutil.which("wrk"):
        print("  wrk not found: install the Debian package wrk (tools/setup_system.sh)")
        return
    with lab_issuer("bench-issuer-") as (key, cfg):
        for loop in loops:
            bench_one_server(key, cfg, loop, seconds, connections)


@contextlib.contextmanager
def lab_issuer(prefix):
    # (issuer key path, sources config path): a fresh key and three real
    # chronyd servers on loopback (tools/lab/peers.py), stopped on exit.
    import peers
    from potkit import keys

    d = tempfile.mkdtemp(prefix=prefix)
    key = os.path.join(d, "issuer.key")
    keys.generate_keypair(key)
    servers = [peers.start_chrony() for _ in range(3)]
    try:
        cfg = os.path.join(d, "sources.json")
        with open(cfg, "w") as f:
            json.dump({"sources": [{"kind": "ntp", "host": s.host, "port": s.ntp_port, "operator": "op%d" % i}
                                   for i, s in enumerate(servers)]}, f)
        yield key, cfg
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)


@contextlib.contextmanager
def open_service(key, cfg, extra=()):
    # (process, base URL, event loop name) of `potkit serve` on a free
    # loopback port, open to wrk (one address, hundreds of connections, no
    # token); terminated on exit.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT + "/host", ROOT + "/firmware"]))
    cmd = [sys.executable, "-m", "potkit.cli", "serve", "--key", key, "--config", cfg, "--http", "127.0.0.1:0",
           "--insecure-open", "--max-per-client", "0"] + list(extra)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        m = re.search(r"http=([\d.]+):(\d+)(?: loop=(\w+))?", line)
        if not m:
            raise RuntimeError("service did not start: %r" % line)
        yield proc, "http://%s:%s/" % (m.group(1), m.group(2)), m.group(3)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()


def bench_one_server(key, cfg, loop, seconds, connections):
    with open_service(key, cfg, ["--uvloop"] if loop == "uvloop" else []) as (proc, url, loop_name):
        print("  server: potkit serve, loop=%s, one process (pid %d)" % (loop_name, proc.pid))
        lua = os.path.join(ROOT, "tools", "bench", "bench_issuer.lua")
        run_wrk(url, 1, connections, 2, lua)  # warm up: connections, caches
        for threads in (1, 2):
            cpu0 = proc_cpu_s(proc.pid)
            r = run_wrk(url, threads, connections, seconds, lua)
            cpu = proc_cpu_s(proc.pid) - cpu0
            rps = r["requests"] / r["seconds"]
            print("  wrk -t%d: %7.0f req/s (target %d: %.2fx)  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms"
                  % (threads, rps, TARGET_HTTP_PER_S, rps / TARGET_HTTP_PER_S, r["p50_us"] / 1e3,
                     r["p90_us"] / 1e3, r["p99_us"] / 1e3, r["max_us"] / 1e3))
            print("           issued %d, verified OK %d, rejected %d, HTTP errors %d, socket errors %d; "
                  "server CPU %.0f%% of one core, %.0f us CPU per request"
                  % (r["issued"], r["verified_ok"], r["rejected"], r["http_errors"], r["socket_errors"],
                     100 * cpu / r["seconds"], cpu / max(r["requests"], 1) * 1e6))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--skip-http", action="store_true")
    ap.add_argument("--loops", default="asyncio,uvloop",
                    help="event loops to serve on, comma-separated (uvloop only if installed)")
    args = ap.parse_args()
    print("bench_issuer on %s %s; load average %.2f %.2f %.2f (other work on this machine skews every figure)"
          % (sys.implementation.name, sys.version.split()[0], *os.getloadavg()))
    bench_issuing(args.records)
    if not args.skip_http:
        loops = [x for x in args.loops.split(",") if x]
        if "uvloop" in loops:
            try:
                import uvloop  # noqa: F401
            except ImportError:
                print("(uvloop not installed: serving on asyncio only)")
                loops.remove("uvloop")
        bench_http(args.seconds, args.connections, loops)


if __name__ == "__main__":
    main()
