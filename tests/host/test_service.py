"""The PoT service, end to end: the real `potkit serve` process on loopback.

Its time comes from real chronyd servers (tools/lab/peers.py) of three
"operators"; requests are real HTTP/1.1, TCP and UDP. Records it issues are
checked with the firmware verifier in this process.
"""
import http.client
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

import peers
from potkit import cli, keys
from potkit.issuer import make_verifier
from pot import grg, spec
from pot.verifier import Verifier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTX = grg.context_device("board-1")
CTXH = CTX.hex()


# --- the service under test ------------------------------------------------------
class Service:
    """A `potkit serve` subprocess; .http, .tcp, .udp are (host, port).

    open_=True runs it with --insecure-open (anyone may stamp anything), the
    setting of the tests here; test_attacks.py tests the default (tokens)."""

    def __init__(self, key_path, config_path, extra=(), open_=True, preexec_fn=None):
        self.log = tempfile.NamedTemporaryFile(prefix="potkit-serve-", suffix=".log", delete=False)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT + "/host", ROOT + "/firmware"]))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "potkit.cli", "serve", "--key", key_path, "--config", config_path,
             "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--udp", "127.0.0.1:0", "--refresh-s", "1"]
            + (["--insecure-open"] if open_ else []) + list(extra), stdout=subprocess.PIPE, stderr=self.log,
            env=env, text=True, preexec_fn=preexec_fn)
        line = self._read_line(30)
        if "listening" not in line:
            self.stop()
            raise RuntimeError("service did not start: %r\n%s" % (line, self.stderr()))
        addrs = dict(w.split("=", 1) for w in line.split() if "=" in w)
        for name in ("http", "tcp", "udp"):
            host, port = addrs[name].rsplit(":", 1)
            setattr(self, name, (host, int(port)))
        self.public_key = bytes.fromhex(addrs["public_key"])
        self.loop = addrs["loop"]

    def _read_line(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if r else ""

    def stderr(self):
        with open(self.log.name) as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Terminates the service; returns (exit status, its stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        err = self.stderr()
        self.proc.stdout.close()
        self.log.close()
        os.unlink(self.log.name)
        return self.proc.returncode, err


def write_config(directory, servers, name="sources.json", timeout_s=1.0):
    cfg = {"sources": [{"kind": "ntp", "host": s.host, "port": s.ntp_port, "operator": "operator-%d" % i}
                       for i, s in enumerate(servers)],
           "synthesis": {"timeout_s": timeout_s}}
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


@pytest.fixture(scope="module")
def env():
    d = tempfile.mkdtemp(prefix="potkit-service-")
    key = os.path.join(d, "issuer.key")
    keys.generate_keypair(key)
    servers = [peers.start_chrony() for _ in range(3)]
    try:
        yield {"dir": d, "key": key, "servers": servers, "config": write_config(d, servers)}
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def svc(env):
    # --expose-detail: test_metrics_parse_and_count reads the per-source gauges.
    s = Service(env["key"], env["config"], extra=("--expose-detail",))
    yield s
    status, err = s.stop()
    # Nothing the tests sent made the service log a bug (a 500 or a parser crash).
    assert "Traceback" not in err, err
    assert status == 0


def request(svc, method, path, body=None, headers=None, conn=None):
    """(status, parsed JSON or text, response headers)."""
    c = conn or http.client.HTTPConnection(*svc.http, timeout=10)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    c.request(method, path, body=data, headers=headers or {})
    r = c.getresponse()
    raw = r.read()
    ctype = r.getheader("Content-Type", "")
    payload = json.loads(raw) if ctype.startswith("application/json") else raw.decode()
    if conn is None:
        c.close()
    return r.status, payload, r


def issue(svc, ctx=CTXH, tier=0, **extra):
    body = {"ctx": ctx, "tier": tier}
    body.update(extra)
    status, resp, _ = request(svc, "POST", "/v1/issue", body)
    assert status == 200, resp
    return resp


def verify(svc, record, ctx=CTXH, **extra):
    body = {"record": record, "ctx": ctx}
    body.update(extra)
    status, resp, _ = request(svc, "POST", "/v1/verify", body)
    assert status == 200, resp
    return resp


# --- HTTP API ----------------------------------------------------------------------
def test_health_reports_the_synthesis(svc):
    status, h, _ = request(svc, "GET", "/health")
    assert status == 200
    assert h["status"] == "ok" and h["source_count"] == 3
    assert 0 < h["confidence_ppm"] <= 1000000
    assert h["public_key"] == svc.public_key.hex()
    assert abs(h["time_ns"] - time.time_ns()) < 10**9  # the chronyds serve this host's clock


def test_issue_verify_roundtrip_and_firmware_verifier(svc):
    r = issue(svc, tier="T2_slot")
    rec = bytes.fromhex(r["record"])
    assert len(rec) == 143 and rec[0] == 0x12 and rec[1] == 3
    assert r["sources"] == 3 and r["tier"] == "T2_slot"
    assert int.from_bytes(rec[3:11], "big") == r["timestamp_ns"]
    assert abs(r["timestamp_ns"] - time.time_ns()) < 10**9
    # The device pipeline in this process accepts it (pynacl Ed25519) ...
    assert make_verifier(svc.public_key).verify(rec, CTX, time.time_ns()) == spec.OK
    # ... and so does the service, once.
    assert verify(svc, r["record"]) == {"verdict": "OK", "code": 0, "ok": True}
    assert verify(svc, r["record"]) == {"verdict": "REPLAY", "code": spec.REPLAY, "ok": False}


def test_records_verify_with_the_pure_python_device_ed25519(svc):
    try:
        import pot.ed25519  # noqa: F401
    except ImportError:
        pytest.skip("pot.ed25519 (the firmware Ed25519) is not in the tree yet")
    rec = bytes.fromhex(issue(svc)["record"])
    assert Verifier(svc.public_key).verify(rec, CTX, time.time_ns()) == spec.OK


def test_verify_verdicts(svc):
    other = grg.context_device("board-2").hex()
    r = issue(svc)
    assert verify(svc, r["record"], ctx=other)["verdict"] == "CROSS_CONTEXT"
    forged = bytearray.fromhex(issue(svc)["record"])
    forged[120] ^= 0x40
    assert verify(svc, forged.hex())["verdict"] == "FORGE"
    bad = bytearray.fromhex(issue(svc)["record"])
    bad[2] = 1  # reserved byte
    assert verify(svc, bad.hex())["verdict"] == "PROTO_VIOLATION"
    ch = os.urandom(32).hex()
    rc = issue(svc, challenge=ch, tier=3)
    assert rc["record"][30:94] == ch
    assert verify(svc, rc["record"], challenge=os.urandom(32).hex())["verdict"] == "CHALLENGE"
    assert verify(svc, rc["record"], challenge=ch)["verdict"] == "OK"


def test_anchor_on_request(svc):
    from potkit.issuer import onchain_anchor

    r = issue(svc, anchor=True)
    assert r["anchor"] == onchain_anchor(bytes.fromhex(r["record"]), CTX).hex()
    assert "anchor" not in issue(svc)


def test_keep_alive_and_pipelining(svc):
    c = http.client.HTTPConnection(*svc.http, timeout=10)
    records = [request(svc, "POST", "/v1/issue", {"ctx": CTXH, "tier": 0}, conn=c)[1]["record"] for _ in range(5)]
    for rec in records:
        assert request(svc, "POST", "/v1/verify", {"record": rec, "ctx": CTXH}, conn=c)[1]["ok"]
    c.close()
    # Three requests in one write; three responses, in order.
    body = json.dumps({"ctx": CTXH, "tier": 1}).encode()
    one = b"POST /v1/issue HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with socket.create_connection(svc.http, timeout=10) as s:
        s.sendall(one + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + one)
        data = b""
        while data.count(b"HTTP/1.1 200 OK") < 3 or not data.endswith(b"}"):
            chunk = s.recv(65536)
            assert chunk
            data += chunk
    parts = data.split(b"HTTP/1.1 200 OK")[1:]
    assert b'"record"' in parts[0] and b'"status": "ok"' in parts[1] and b'"record"' in parts[2]


def test_connection_close_and_http10(svc):
    with socket.create_connection(svc.http, timeout=10) as s:
        s.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break  # the server closed: HTTP/1.0 without keep-alive
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in data


BAD_REQUESTS = [
    # (method, path, body, status, words in the reason)
    ("POST", "/v1/issue", b"{not json", 400, "bad JSON"),
    ("POST", "/v1/issue", b"[1, 2]", 400, "JSON object"),
    ("POST", "/v1/issue", b"", 400, "bad JSON"),
    ("POST", "/v1/issue", {"tier": 0}, 400, "missing field 'ctx'"),
    ("POST", "/v1/issue", {"ctx": CTXH}, 400, "missing field 'tier'"),
    ("POST", "/v1/issue", {"ctx": "zz", "tier": 0}, 400, "not valid hex"),
    ("POST", "/v1/issue", {"ctx": 5, "tier": 0}, 400, "hex string"),
    ("POST", "/v1/issue", {"ctx": "00" * 256, "tier": 0}, 400, "at most 255"),
    ("POST", "/v1/issue", {"ctx": CTXH, "tier": 4}, 400, "unknown tier"),
    ("POST", "/v1/issue", {"ctx": CTXH, "tier": "T9"}, 400, "unknown tier"),
    ("POST", "/v1/issue", {"ctx": CTXH, "tier": 0, "challenge": "00" * 31}, 400, "32 bytes"),
    ("POST", "/v1/verify", {"record": "00" * 142, "ctx": CTXH}, 400, "143 bytes"),
    ("POST", "/v1/verify", {"ctx": CTXH}, 400, "missing field 'record'"),
    ("POST", "/v1/verify", {"record": "00" * 143}, 400, "missing field 'ctx'"),
    ("POST", "/v1/issue", b"x" * 5000, 413, "exceeds"),
    ("GET", "/nope", None, 404, "no route"),
    ("GET", "/v1/issue", None, 405, "not allowed"),
    ("DELETE", "/metrics", None, 405, "not allowed"),
]


@pytest.mark.parametrize("method,path,body,status,words", BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx(svc, method, path, body, status, words):
    code, resp, r = request(svc, method, path, body)
    assert code == status
    assert resp["status"] == status and words in resp["error"], resp
    if status == 405:
        assert r.getheader("Allow")
    assert request(svc, "GET", "/health")[0] == 200


@pytest.mark.parametrize("raw,status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /health HTTP/2.0\r\n\r\n", 505),
    (b"POST /v1/issue HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST /v1/issue HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /v1/issue HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    (b"GET /health HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n", 431),
])
def test_malformed_http_is_answered_and_closed(svc, raw, status):
    with socket.create_connection(svc.http, timeout=10) as s:
        s.sendall(raw)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 %d " % status), data[:200]
    assert b"Connection: close" in data
    assert request(svc, "GET", "/health")[0] == 200


def test_garbage_and_abrupt_clients_do_not_hurt(svc):
    for blob in (os.urandom(3000), b"\x00" * 100, b"POST /v1/issue HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"):
        s = socket.create_connection(svc.http, timeout=10)
        s.sendall(blob)
        s.close()
    assert svc.alive()
    assert request(svc, "GET", "/health")[0] == 200


def test_metrics_parse_and_count(svc):
    from prometheus_client.parser import text_string_to_metric_families

    def scrape():
        status, text, r = request(svc, "GET", "/metrics")
        assert status == 200 and r.getheader("Content-Type").startswith("text/plain")
        out = {}
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    before = scrape()
    rec = issue(svc)["record"]
    verify(svc, rec)
    verify(svc, rec)
    request(svc, "GET", "/nope")
    after = scrape()

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert delta("pot_issued_total", transport="http") == 1
    assert delta("pot_verified_total") == 1
    assert delta("pot_rejected_total", verdict="REPLAY") == 1
    assert delta("pot_request_errors_total", transport="http", status="404") == 1
    assert after[("pot_timebase_ok", ())] == 1
    assert after[("pot_synthesis_sources", ())] == 3
    assert 0 < after[("pot_synthesis_confidence_ppm", ())] <= 1e6
    offsets = [k for k in after if k[0] == "pot_source_offset_seconds"]
    healthy = [k for k in after if k[0] == "pot_source_healthy" and after[k] == 1]
    assert len(offsets) == 3 and len(healthy) == 3
    assert all(abs(after[k]) < 0.5 for k in offsets)


# --- board endpoints ------------------------------------------------------------------
def board_frame(challenge, tier=0, ctx=CTX):
    return challenge + bytes((tier, len(ctx))) + ctx


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_tcp_challenge_records(svc):
    v = make_verifier(svc.public_key)
    with socket.create_connection(svc.tcp, timeout=10) as s:
        for tier in (0, 3):
            ch = os.urandom(32)
            s.sendall(board_frame(ch, tier))
            rec = recv_exact(s, 143)
            assert len(rec) == 143 and rec[15:47] == ch and rec[0] == 0x10 | tier
            assert v.verify(rec, CTX, time.time_ns(), ch) == spec.OK
        # A frame split across writes; an empty ctx.
        ch = os.urandom(32)
        f = board_frame(ch, 0, b"")
        s.sendall(f[:10])
        time.sleep(0.05)
        s.sendall(f[10:])
        rec = recv_exact(s, 143)
        assert v.verify(rec, b"", time.time_ns(), ch) == spec.OK


def test_tcp_bad_tier_gets_error_and_close(svc):
    with socket.create_connection(svc.tcp, timeout=10) as s:
        s.sendall(board_frame(os.urandom(32), 4))
        assert recv_exact(s, 3) == b"\xee\x02"  # then EOF


def test_udp_challenge_records(svc):
    v = make_verifier(svc.public_key)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        ch = os.urandom(32)
        f = board_frame(ch, 1)
        s.sendto(f + bytes(144 - len(f)), svc.udp)
        rec, _ = s.recvfrom(2048)
        assert len(rec) == 143 and rec[15:47] == ch
        assert v.verify(rec, CTX, time.time_ns(), ch) == spec.OK
        # Non-zero padding: an error reply, smaller than the request.
        s.sendto(f + b"\x01" + bytes(143 - len(f)), svc.udp)
        assert s.recvfrom(2048)[0] == b"\xee\x01"
        # A ctx_len that runs past the datagram (255 bytes in 143): malformed.
        s.sendto(ch + bytes((0, 255)) + bytes(110), svc.udp)
        assert s.recvfrom(2048)[0] == b"\xee\x01"
        # Tier 7: error.
        f7 = board_frame(ch, 7)
        s.sendto(f7 + bytes(144 - len(f7)), svc.udp)
        assert s.recvfrom(2048)[0] == b"\xee\x02"
        # A request no longer than a record gets no reply at all (no amplification, no reflection).
        s.settimeout(0.5)
        s.sendto(f, svc.udp)
        with pytest.raises(socket.timeout):
            s.recvfrom(2048)


# --- refusing without trusted time ----------------------------------------------------------
def test_sources_that_disagree_make_the_service_refuse(env, chrony_offset):
    # Two honest servers and one 30 s ahead: 2 of 3 agree, below the 3
    # needed, so the synthesis aborts and nothing is issued.
    cfg = write_config(env["dir"], env["servers"][:2] + [chrony_offset], "disagree.json")
    s = Service(env["key"], cfg, extra=("--idle-timeout", "0.4"))
    try:
        # (This instance also closes idle connections after 0.4 s.)
        idle = socket.create_connection(s.http, timeout=5)
        idle.sendall(b"GET /health HTTP/1.1\r\n")  # an unfinished request, then silence
        t0 = time.monotonic()
        assert recv_exact(idle, 1 << 16).startswith(b"HTTP/1.1 408 ")  # answered 408, then closed
        assert 0.3 < time.monotonic() - t0 < 3
        idle.close()
        idle = socket.create_connection(s.http, timeout=5)
        assert idle.recv(100) == b""  # a connection that sends nothing is just closed
        idle.close()
        status, h, _ = request(s, "GET", "/health")
        assert status == 503 and h["status"] == "unavailable"
        assert "aborted" in h["reason"]
        status, resp, r = request(s, "POST", "/v1/issue", {"ctx": CTXH, "tier": 0})
        assert status == 503 and "aborted" in resp["error"] and r.getheader("Retry-After")
        with socket.create_connection(s.tcp, timeout=10) as c:
            c.sendall(board_frame(os.urandom(32)))
            assert recv_exact(c, 3) == b"\xee\x03"
        status, text, _ = request(s, "GET", "/metrics")
        assert "pot_timebase_ok 0.0" in text and "pot_refused_total 2.0" in text
        assert s.alive()
    finally:
        s.stop()


def test_unreachable_sources_make_the_service_refuse(env):
    dead = [peers.free_port() for _ in range(3)]
    cfg = os.path.join(env["dir"], "dead.json")
    with open(cfg, "w") as f:
        json.dump({"sources": [{"kind": "ntp", "host": "127.0.0.1", "port": p, "operator": "op%d" % i,
                                "timeout": 0.3} for i, p in enumerate(dead)],
                   "synthesis": {"timeout_s": 0.5}}, f)
    s = Service(env["key"], cfg)
    try:
        assert request(s, "GET", "/health")[0] == 503
        assert request(s, "POST", "/v1/issue", {"ctx": CTXH, "tier": 0})[0] == 503
        rec = "00" * 143
        assert request(s, "POST", "/v1/verify", {"record": rec, "ctx": CTXH})[0] == 503
    finally:
        status, err = s.stop()
    # SIGTERM is a clean stop, not a crash.
    assert status == 0 and "potkit serve: stopped" in err and "Traceback" not in err


# --- the CLI over the same sources -------------------------------------------------------------
def test_cli_issue_then_verify(env, capsys):
    assert cli.main(["issue", "--key", env["key"], "--config", env["config"], "--device-id", "board-1",
                     "--tier", "T1_block", "--anchor"]) == 0
    out = capsys.readouterr().out.split()
    record, anchor = out[0], out[2]
    assert len(bytes.fromhex(record)) == 143 and len(bytes.fromhex(anchor)) == 32
    assert cli.main(["verify", record, "--key", env["key"], "--device-id", "board-1"]) == 0
    assert capsys.readouterr().out.startswith("OK")
    assert cli.main(["verify", record, "--key", env["key"], "--device-id", "board-2"]) == 1
    assert capsys.readouterr().out.startswith("CROSS_CONTEXT")
    # A stamped message: ctx = 01 || len || id || SHA-256(file).
    msg = os.path.join(env["dir"], "msg.txt")
    with open(msg, "w") as f:
        f.write("hello")
    assert cli.main(["issue", "--key", env["key"], "--config", env["config"], "--device-id", "b",
                     "--message-file", msg]) == 0
    record = capsys.readouterr().out.split()[0]
    assert make_verifier(keys.load_public_key(env["key"])).verify(
        bytes.fromhex(record), grg.context_message("b", b"hello"), time.time_ns()) == spec.OK


def test_many_pipelined_requests_with_a_slow_reader(svc):
    # 20,000 pipelined requests sent before reading anything: the server
    # stops reading while its write buffer is full (flow control) and
    # resumes as we read, answering every request, in order.
    import threading

    n = 20000
    req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(svc.http, timeout=30) as s:
        sender = threading.Thread(target=s.sendall, args=(req * n,))
        sender.start()
        time.sleep(0.5)  # let the server fill its buffers
        data = b""
        while data.count(b"HTTP/1.1 200 OK") < n:
            chunk = s.recv(1 << 16)
            assert chunk
            data += chunk
        sender.join(30)
    assert data.count(b"HTTP/1.1 200 OK") == n
    assert svc.alive()


# --- the service's verifier adaptations (in process) -------------------------------------------
def test_service_verifier_has_no_ordering_floor(svc):
    first = issue(svc)["record"]
    second = issue(svc)["record"]
    assert int(second[6:22], 16) > int(first[6:22], 16)
    assert verify(svc, second)["verdict"] == "OK"
    assert verify(svc, first)["verdict"] == "OK"  # a device would say ORDERING
    assert verify(svc, first)["verdict"] == "REPLAY"


def test_host_nonce_cache_expires_and_fails_closed():
    from nacl.signing import SigningKey

    from potkit.issuer import Issuer
    from potkit.service.verify import HostNonceCache, ServiceVerifier
    from potkit.timebase import FixedTimeBase
    from pot.nonces import FOUND, FULL

    c = HostNonceCache(2, 2)
    a, b, x = b"a" * 32, b"b" * 32, b"x" * 32
    assert c.lookup(a, 100) >= 0
    c.store(0, a, 200)
    assert c.lookup(memoryview(a), 150) == FOUND
    c.store(0, b, 300)
    assert c.lookup(x, 150) == FULL      # two live entries: full, nothing evicted
    assert c.lookup(a, 201) >= 0         # a expired at 200: its slot is free again
    assert c.live(201) == 1
    assert c.lookup(b, 250) == FOUND
    # Through the verifier: a full cache answers BUSY, as on a device.
    iss = Issuer(SigningKey(bytes(32)), FixedTimeBase())
    v = ServiceVerifier(iss.public_key, cache_capacity=3, per_partition=3)
    now = time.time_ns() + 10**6
    verdicts = [v.verify(iss.issue(CTX, 0), CTX, now) for _ in range(4)]
    assert verdicts == [spec.OK, spec.OK, spec.OK, spec.BUSY]


def test_listen_addresses_are_checked():
    """--http, --tcp and --udp take HOST:PORT (port 0: any); anything else is a usage error (exit 2)."""
    from potkit.cli import Parser
    from potkit.commands import serve

    p = Parser(prog="potkit serve")
    serve.add_arguments(p)
    a = p.parse_args(["--http", "127.0.0.1:0", "--tcp", "[::1]:8123", "--udp", "0.0.0.0:7002"])
    assert (a.http, a.tcp, a.udp) == (("127.0.0.1", 0), ("::1", 8123), ("0.0.0.0", 7002))
    for option in ("--http", "--tcp", "--udp"):
        for bad in ("8080", "host:", "host:http", "127.0.0.1:65536", "127.0.0.1:-1"):
            with pytest.raises(SystemExit) as e:
                p.parse_args([option, bad])
            assert e.value.code == 2, (option, bad)
