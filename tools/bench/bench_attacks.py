#!/usr/bin/env python3
"""Attack benchmark: how the real `potkit serve` serves a canary client while
it is attacked. Prints figures measured in this run, asserts nothing.

    .venv/bin/python tools/bench/bench_attacks.py [--seconds 10] [--sockets 400] [--nofile 256]
                                            [--flood-connections 50]

The service reads its time from three loopback chronyd servers
(bench_issuer.lab_issuer) and runs under `ulimit -n NOFILE` (default 256:
its connection cap is then 192). A canary opens a new connection for every
`GET /health`, 20 times a second, and the figures are its latency (median,
p99, max) and how many of its requests failed (no answer within 10 s, or not
a 200), in three phases of `--seconds` each:

1. no attack;
2. slowloris: `--sockets` connections from 127.0.0.2 .. 127.0.0.11 (many
   clients, each under the per-client cap), each sending a request line one
   byte every 2 s and reconnecting whenever the service closes it (408 at
   the header deadline, or evicted to make room);
3. a request flood: wrk with tools/bench/bench_issuer.lua (every record issued is
   verified once) on `--flood-connections` keep-alive connections.

For each phase also: the bytes the service wrote to its log (stderr), and
for the attacks how hard they pushed (reconnects, wrk's requests per second).
The load generators share this machine's cores with the service, so the
flood's figures are those of a machine that is also attacking itself.
"""
import argparse
import collections
import http.client
import multiprocessing
import os
import re
import resource
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for p in ("host", "firmware", "tools/lab", "tools/bench"):
    sys.path.insert(0, os.path.join(ROOT, p))

CANARY_PERIOD_S = 0.05
CANARY_TIMEOUT_S = 10.0
SLOWLORIS_SOURCES = 10
TRICKLE_PERIOD_S = 2.0
REQUEST_LINE = b"GET /health HTTP/1.1\r\nHost: canary\r\nX-Slow: " + b"x" * 4000


class ServiceProcess:
    """`potkit serve` (open, HTTP on a free loopback port) under RLIMIT_NOFILE `nofile`, stderr to a file."""

    def __init__(self, key, cfg, nofile):
        self.log = tempfile.NamedTemporaryFile(prefix="bench-attacks-", suffix=".log", delete=False)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT + "/host", ROOT + "/firmware"]))

        def limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        cmd = [sys.executable, "-m", "potkit.cli", "serve", "--key", key, "--config", cfg, "--http", "127.0.0.1:0",
               "--insecure-open"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env,
                                     preexec_fn=limit)
        line = self.proc.stdout.readline()
        m = re.search(r"http=([\d.]+):(\d+).*max_connections=(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError("service did not start: %r" % line)
        self.addr = (m.group(1), int(m.group(2)))
        self.max_connections = int(m.group(3))

    def log_bytes(self):
        return os.path.getsize(self.log.name)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc.stdout.close()
        self.log.close()
        os.unlink(self.log.name)


def canary(addr, seconds):
    """(latencies in s of the 200 answers, failures by cause) of GET /health on a new connection every
    CANARY_PERIOD_S."""
    latencies, failures = [], collections.Counter()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection(*addr, timeout=CANARY_TIMEOUT_S)
            c.request("GET", "/health")
            r = c.getresponse()
            r.read()
            c.close()
            if r.status == 200:
                latencies.append(time.monotonic() - t0)
            else:
                failures["HTTP %d" % r.status] += 1
        except (OSError, http.client.HTTPException) as e:
            failures[type(e).__name__] += 1
        time.sleep(max(0.0, CANARY_PERIOD_S - (time.monotonic() - t0)))
    return latencies, failures


class Slowloris:
    """`count` sockets trickling a request line, reopened whenever the service closes them.

    In a process of its own, so that the attacker's work does not slow the
    canary's measurement (one interpreter lock)."""

    def __init__(self, addr, count):
        self.addr, self.count = addr, count
        self._reconnects = multiprocessing.Value("q", 0)
        self.stop_flag = multiprocessing.Event()
        self.process = multiprocessing.Process(target=self._run, daemon=True)

    @property
    def reconnects(self):
        return self._reconnects.value

    def _open(self, i):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind(("127.0.0.%d" % (2 + i % SLOWLORIS_SOURCES), 0))
        s.connect_ex(self.addr)
        return [s, 0]   # socket, bytes of REQUEST_LINE sent

    def _run(self):
        socks = [self._open(i) for i in range(self.count)]
        next_trickle = time.monotonic()
        while not self.stop_flag.is_set():
            # A socket the service closed reads as EOF or an error: reopen it.
            readable, _, _ = select.select([s for s, _ in socks], [], [], 0.2)
            for i, entry in enumerate(socks):
                if entry[0] in readable:
                    try:
                        if entry[0].recv(65536):
                            continue
                    except BlockingIOError:
                        continue
                    except OSError:
                        pass
                    entry[0].close()
                    socks[i] = self._open(i)
                    with self._reconnects.get_lock():
                        self._reconnects.value += 1
            if time.monotonic() >= next_trickle:
                next_trickle += TRICKLE_PERIOD_S
                for entry in socks:
                    try:
                        entry[1] += entry[0].send(REQUEST_LINE[entry[1]:entry[1] + 1])
                    except OSError:
                        pass
        for s, _ in socks:
            s.close()

    def __enter__(self):
        self.process.start()
        time.sleep(1.0)   # the sockets are open before the canary starts
        return self

    def __exit__(self, *exc):
        self.stop_flag.set()
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


class WrkFlood:
    def __init__(self, addr, connections, seconds):
        lua = os.path.join(ROOT, "tools", "bench", "bench_issuer.lua")
        cmd = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % (seconds + 2), "--timeout", "10s", "-s", lua,
               "http://%s:%d/" % addr]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.result = {}

    def __enter__(self):
        time.sleep(1.0)   # the flood is on before the canary starts
        return self

    def __exit__(self, *exc):
        out = self.proc.communicate(timeout=120)[0]
        m = re.search(r"^RESULT (.*)$", out, re.M)
        if m:
            self.result = dict((k, float(v)) for k, v in (w.split("=") for w in m.group(1).split()))


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] if v else float("nan")


def report(name, latencies, failures, log_bytes, extra=""):
    n = len(latencies) + sum(failures.values())
    why = " (%s)" % ", ".join("%d %s" % (v, k) for k, v in sorted(failures.items())) if failures else ""
    print("  %-22s canary %4d requests: median %7.1f ms  p99 %7.1f ms  max %7.1f ms  failed %d%s;  log %d bytes%s"
          % (name, n, 1e3 * percentile(latencies, 0.5), 1e3 * percentile(latencies, 0.99),
             1e3 * max(latencies or [float("nan")]), sum(failures.values()), why, log_bytes, extra))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10, help="length of each phase")
    ap.add_argument("--sockets", type=int, default=400, help="slowloris connections")
    ap.add_argument("--nofile", type=int, default=256, help="the service's descriptor limit (ulimit -n)")
    ap.add_argument("--flood-connections", type=int, default=50, help="wrk connections of the flood")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.sockets + 64:   # this process holds the slowloris sockets
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sockets + 256), hard))
    print("bench_attacks on %s %s; load average %.2f %.2f %.2f (other work on this machine skews every figure)"
          % (sys.implementation.name, sys.version.split()[0], *os.getloadavg()))
    from bench_issuer import lab_issuer

    with lab_issuer("bench-attacks-") as (key, cfg):
        svc = ServiceProcess(key, cfg, args.nofile)
        try:
            print("== canary GET /health (new connection, %d/s) against potkit serve under ulimit -n %d "
                  "(max_connections %d), %d s per phase" % (1 / CANARY_PERIOD_S, args.nofile,
                                                            svc.max_connections, args.seconds))
            canary(svc.addr, 1.0)   # warm up
            log0 = svc.log_bytes()
            lat, fail = canary(svc.addr, args.seconds)
            report("no attack", lat, fail, svc.log_bytes() - log0)

            log0 = svc.log_bytes()
            with Slowloris(svc.addr, args.sockets) as attack:
                lat, fail = canary(svc.addr, args.seconds)
            report("slowloris %d sockets" % args.sockets, lat, fail, svc.log_bytes() - log0,
                   ";  %d reconnects" % attack.reconnects)

            if shutil.which("wrk"):
                log0 = svc.log_bytes()
                with WrkFlood(svc.addr, args.flood_connections, args.seconds) as flood:
                    lat, fail = canary(svc.addr, args.seconds)
                r = flood.result
                report("flood wrk -c%d" % args.flood_connections, lat, fail, svc.log_bytes() - log0,
                       ";  flood %.0f req/s" % (r["requests"] / r["seconds"]) if r else ";  wrk gave no RESULT")
            else:
                print("  flood: wrk not found: install the Debian package wrk (tools/setup_system.sh)")
            alive = svc.proc.poll() is None
        finally:
            svc.stop()
        print("  service %s after the attacks" % ("still running" if alive else "DIED"))


if __name__ == "__main__":
    main()
