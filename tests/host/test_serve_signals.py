"""SIGHUP to a running `potkit serve`: the config file is read again, the
new sources and tolerances take effect, open connections stay open, and a
bad file leaves the running config in place with a log line.

The service is the real subprocess (test_service.Service) on loopback; its
time comes from the session's chronyd (conftest `chrony`, listed under
three operators) and one chronyd 30 s ahead (`chrony_offset`). With the
default tolerance (100 ms) the one ahead is isolated and 3 sources agree;
with a tolerance of 60 s all 4 agree, which /health's source_count shows.
"""
import http.client
import json
import os
import signal
import time

from test_service import Service, request


def write_config(path, chrony, chrony_offset, tolerance_ms):
    sources = [{"kind": "ntp", "host": chrony.host, "port": chrony.ntp_port, "operator": "op-%d" % i}
               for i in range(3)]
    sources.append({"kind": "ntp", "host": chrony_offset.host, "port": chrony_offset.ntp_port, "operator": "op-ahead"})
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"sources": sources, "synthesis": {"tolerance_ms": tolerance_ms, "timeout_s": 1.0}}, f)
    os.replace(tmp, path)


def wait_for(what, condition, timeout_s=20.0):
    """Poll `condition()` until it returns a true value; fail naming `what`."""
    end = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < end, "no %s within %g s" % (what, timeout_s)
        time.sleep(0.1)


def test_sighup_reloads_the_config_and_keeps_connections(chrony, chrony_offset, tmp_path):
    from potkit import keys

    key = str(tmp_path / "issuer.key")
    keys.generate_keypair(key)
    config = str(tmp_path / "sources.json")
    write_config(config, chrony, chrony_offset, tolerance_ms=100)
    svc = Service(key, config)
    try:
        conn = http.client.HTTPConnection(*svc.http, timeout=10)

        def health():
            status, doc, _ = request(svc, "GET", "/health", conn=conn)
            return doc if status == 200 else None

        first = wait_for("first synthesis", health)
        assert first["source_count"] == 3                 # the one 30 s ahead is isolated
        sock = conn.sock                                  # the keep-alive connection of every request below

        # A new tolerance: after the next refresh all four agree.
        write_config(config, chrony, chrony_offset, tolerance_ms=60000)
        svc.proc.send_signal(signal.SIGHUP)
        wait_for("reload log line", lambda: "SIGHUP: config reloaded from %s: 4 sources" % config in svc.stderr())
        wait_for("synthesis with the new tolerance", lambda: (health() or {}).get("source_count") == 4)
        assert conn.sock is sock, "the connection was closed by the reload"

        # A bad file: refused with a log line, the running config stays.
        with open(config, "w") as f:
            f.write('{"sources": [')
        svc.proc.send_signal(signal.SIGHUP)
        wait_for("refusal log line", lambda: "SIGHUP: config not reloaded, the old one stays: " in svc.stderr())
        refreshes = health()["refreshes"]
        later = wait_for("two more refreshes", lambda: [d for d in [health()] if d and d["refreshes"] >= refreshes + 2])
        assert later[0]["source_count"] == 4 and later[0]["status"] == "ok"
        assert conn.sock is sock and svc.alive()
        line = [ln for ln in svc.stderr().splitlines() if "not reloaded" in ln]
        assert len(line) == 1 and "not valid JSON" in line[0] and "ERROR" in line[0]

        # A different source list: back to three agreeing operators of one server.
        write_config(config, chrony, chrony_offset, tolerance_ms=100)
        svc.proc.send_signal(signal.SIGHUP)
        wait_for("second reload", lambda: svc.stderr().count("SIGHUP: config reloaded from") == 2)
        wait_for("synthesis with the old tolerance", lambda: (health() or {}).get("source_count") == 3)
        assert conn.sock is sock
        conn.close()
    finally:
        status, err = svc.stop()
    assert status == 0 and "Traceback" not in err, err
