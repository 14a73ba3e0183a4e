"""Issue 10, the issuer part: hostile callers against the real `potkit serve`.

Every test replays one attack of the review on loopback (real chronyd time
sources, real sockets) and checks what a trusted issuer does instead. The
figures of the attack are in the comments; none of the checks is timed
(a deadline in a test is only there so that a hung service fails it).
"""
import json
import os
import socket
import time

import pytest

from test_service import Service, board_frame, env, recv_exact, request, write_config  # noqa: F401 (env: a fixture)
from potkit.issuer import make_verifier
from pot import grg, spec

DOOR = "door-1"
UNLOCK = grg.context_message(DOOR, b"unlock door")


@pytest.fixture(scope="module")
def open_svc(env):
    """The service as it ran before issue 10: anyone may stamp anything."""
    s = Service(env["key"], env["config"])
    yield s
    status, err = s.stop()
    assert "Traceback" not in err, err[-3000:]


def raw_exchange(addr, data, timeout=10):
    """Send raw bytes, read until the server closes: the bytes it sent."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    return out


# --- item 4: client-triggered 500s -------------------------------------------------------
def test_huge_content_length_is_a_400(open_svc):
    # The attack: a Content-Length of 4,301+ digits, where int() raises ValueError (a 500 if uncaught).
    out = raw_exchange(open_svc.http, b"POST /v1/issue HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 "), out[:200]
    assert b"Content-Length" in out and b"Connection: close" in out


def test_deeply_nested_json_is_a_400(open_svc):
    # The attack: nesting deep enough for json.loads to raise RecursionError (a 500 and a traceback if uncaught).
    body = b"[" * 2000 + b"]" * 2000
    code, resp, _ = request(open_svc, "POST", "/v1/issue", body)
    assert code == 400 and "nested" in resp["error"], resp


@pytest.mark.parametrize("tier", ["\u00b2", "\u0663", "1\u00b2"])
def test_non_ascii_digit_tier_is_a_400(open_svc, tier):
    # The attack: superscript two, for which isdigit() is True and int() raises.
    code, resp, _ = request(open_svc, "POST", "/v1/issue", {"ctx": UNLOCK.hex(), "tier": tier})
    assert code == 400 and "unknown tier" in resp["error"], resp


def test_pipelined_bad_requests_get_one_answer_and_a_close(open_svc):
    # The attack: 20,000 pipelined bad requests on one connection kept open; a
    # 500 with a traceback each would write megabytes of log a second.
    body = json.dumps({"ctx": "00", "tier": "\u00b2"}).encode()
    one = b"POST /v1/issue HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    out = raw_exchange(open_svc.http, one * 2000)
    assert out.count(b"HTTP/1.1 ") == 1, out.count(b"HTTP/1.1 ")
    assert out.startswith(b"HTTP/1.1 400 ") and b"Connection: close" in out
    assert b"unknown tier" in out
    assert "Traceback" not in open_svc.stderr()


# --- item 8: reflection ------------------------------------------------------------------------
def test_a_reply_is_never_a_request_to_another_issuer(env, open_svc):
    # A challenge whose bytes 17-18 read "tier 0, ctx_len 109" makes the
    # 143-byte record a well-formed 143-byte request: spoofed as coming from
    # issuer B, it bounced between issuers (3 signed records from one datagram).
    other = Service(env["key"], env["config"])
    try:
        ch = bytearray(os.urandom(32))
        ch[17], ch[18] = 0, 109
        frame = board_frame(bytes(ch), 0, b"")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(frame + bytes(144 - len(frame)), open_svc.udp)
            record, _ = s.recvfrom(2048)
            assert len(record) == 143 and record[15:47] == bytes(ch)
            # What issuer B would receive if the first request had been spoofed from its address:
            s.sendto(record, other.udp)
            s.settimeout(0.5)
            with pytest.raises(socket.timeout):
                s.recvfrom(2048)
            # A legitimate 143-byte datagram is no longer a request either:
            # requests are at least 144 bytes, replies at most 143.
            s.sendto(frame + bytes(143 - len(frame)), other.udp)
            with pytest.raises(socket.timeout):
                s.recvfrom(2048)
    finally:
        other.stop()


# --- item 9: detail for operators only -----------------------------------------------------------
def _source_strings(servers):
    return ["127.0.0.1:%d" % s.ntp_port for s in servers]


def test_health_metrics_and_503_hide_source_detail_by_default(env, open_svc, chrony_offset):
    # The attack: reading /health, /metrics and 503 bodies for the sources' addresses and offsets.
    names = _source_strings(env["servers"])
    _, health, _ = request(open_svc, "GET", "/health")
    _, metrics, _ = request(open_svc, "GET", "/metrics")
    assert health["ok"] and "pot_timebase_ok 1.0" in metrics
    for text in (json.dumps(health), metrics):
        for n in names:
            assert n not in text
    assert "pot_source_offset_seconds{" not in metrics
    # A refusing service: 503 bodies say why in general terms only.
    cfg = write_config(env["dir"], env["servers"][:2] + [chrony_offset], "disagree-9.json")
    s = Service(env["key"], cfg)
    try:
        code, h, _ = request(s, "GET", "/health")
        assert code == 503 and "aborted" in h["reason"]
        code, resp, _ = request(s, "POST", "/v1/issue", {"ctx": "00", "tier": 0})
        assert code == 503 and "aborted" in resp["error"]
        for text in (json.dumps(h), json.dumps(resp)):
            for n in _source_strings(env["servers"][:2] + [chrony_offset]):
                assert n not in text, text
            assert "+30." not in text
    finally:
        s.stop()


def test_expose_detail_shows_sources_to_the_operator(env, chrony_offset):
    cfg = write_config(env["dir"], env["servers"][:2] + [chrony_offset], "disagree-9b.json")
    s = Service(env["key"], cfg, extra=("--expose-detail",))
    try:
        code, h, _ = request(s, "GET", "/health")
        assert code == 503 and "127.0.0.1:%d" % chrony_offset.ntp_port in h["reason"]
        _, metrics, _ = request(s, "GET", "/metrics")
        assert "pot_source_offset_seconds{" in metrics
    finally:
        s.stop()


# --- item 1: authorization ----------------------------------------------------------------------
def _token_cli(*argv):
    """Runs `potkit token ...` in this process: (exit status, stdout, stderr)."""
    import contextlib
    import io

    from potkit import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["token"] + list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tokens(env):
    path = os.path.join(env["dir"], "tokens.json")
    rc, door1, _ = _token_cli("--tokens", path, "add", "--device", DOOR, "--label", "door ops")
    assert rc == 0
    rc, door2, _ = _token_cli("--tokens", path, "add", "--device", "door-2")
    assert rc == 0
    rc, admin, _ = _token_cli("--tokens", path, "add", "--all-devices")
    assert rc == 0
    return {"path": path, DOOR: door1.strip(), "door-2": door2.strip(), "admin": admin.strip()}


@pytest.fixture(scope="module")
def auth_svc(env, tokens):
    """The default service: tokens required."""
    s = Service(env["key"], env["config"], extra=("--tokens", tokens["path"]), open_=False)
    yield s
    status, err = s.stop()
    assert "Traceback" not in err, err[-3000:]


def _issue(svc, ctx, token=None, tier=0):
    headers = {"Authorization": "Bearer " + token} if token else {}
    return request(svc, "POST", "/v1/issue", {"ctx": ctx.hex(), "tier": tier}, headers=headers)


def test_only_a_token_for_the_device_gets_unlock_door_stamped(auth_svc, tokens):
    # The attack: anyone POSTs /v1/issue with ctx 01||06||"door-1"||SHA-256("unlock door")
    # and hands the record to the door.
    code, resp, r = _issue(auth_svc, UNLOCK)
    assert code == 401 and "token" in resp["error"] and "record" not in resp
    assert r.getheader("WWW-Authenticate", "").startswith("Bearer")
    code, resp, _ = _issue(auth_svc, UNLOCK, "pot_12345678_" + "A" * 43)
    assert code == 401 and "unknown or revoked" in resp["error"]
    code, resp, _ = _issue(auth_svc, UNLOCK, tokens["door-2"])
    assert code == 403 and DOOR in resp["error"]
    code, resp, _ = _issue(auth_svc, UNLOCK, tokens[DOOR])
    assert code == 200
    rec = bytes.fromhex(resp["record"])
    assert make_verifier(auth_svc.public_key).verify(rec, UNLOCK, time.time_ns()) == spec.OK
    # Its device context too; other contexts only with a token for every device.
    assert _issue(auth_svc, grg.context_device(DOOR), tokens[DOOR])[0] == 200
    assert _issue(auth_svc, b"\x00", tokens[DOOR])[0] == 403
    assert _issue(auth_svc, b"\x00", tokens["admin"])[0] == 200
    # Verifying needs no token (it stamps nothing).
    code, resp, _ = request(auth_svc, "POST", "/v1/verify", {"record": rec.hex(), "ctx": UNLOCK.hex()})
    assert code == 200 and resp["verdict"] == "OK"
    _, metrics, _ = request(auth_svc, "GET", "/metrics")
    assert "pot_unauthorized_total 4.0" in metrics


def test_token_file_holds_hashes_only_and_revoke_takes_effect(env, tokens, auth_svc):
    with open(tokens["path"]) as f:
        text = f.read()
    assert os.stat(tokens["path"]).st_mode & 0o777 == 0o600
    for t in (tokens[DOOR], tokens["door-2"], tokens["admin"]):
        assert t.startswith("pot_") and t not in text and t.split("_", 2)[2] not in text  # the secret may hold "_"
    import hashlib

    assert hashlib.sha256(tokens[DOOR].encode()).hexdigest() in text
    rc, listing, _ = _token_cli("--tokens", tokens["path"], "list")
    assert rc == 0 and "devices=door-1" in listing and "label=door ops" in listing
    assert tokens[DOOR] not in listing
    # A token of its own, revoked while the service runs: refused from then on, no restart.
    rc, tok, _ = _token_cli("--tokens", tokens["path"], "add", "--device", DOOR)
    tok = tok.strip()
    end = time.monotonic() + 10
    while _issue(auth_svc, UNLOCK, tok)[0] != 200:   # the service rereads the file within a second
        assert time.monotonic() < end, "new token never accepted"
        time.sleep(0.2)
    rc, out, _ = _token_cli("--tokens", tokens["path"], "revoke", tok.split("_")[1])
    assert rc == 0 and "revoked" in out
    end = time.monotonic() + 10
    while _issue(auth_svc, UNLOCK, tok)[0] != 401:
        assert time.monotonic() < end, "revoked token still accepted"
        time.sleep(0.2)
    assert _issue(auth_svc, UNLOCK, tokens[DOOR])[0] == 200
    # Errors are one line.
    rc, out, err = _token_cli("--tokens", tokens["path"], "revoke", "nope")
    assert rc == 2 and err.count("\n") == 1 and err.startswith("potkit: no token")
    rc, out, err = _token_cli("--tokens", tokens["path"], "add")
    assert rc == 2 and err.startswith("potkit: ")


def test_board_endpoints_need_the_token_too(auth_svc, tokens):
    from potkit import PotkitError
    from potkit.board.issuers import service_issue

    ch = os.urandom(32)
    host, port = auth_svc.tcp
    hp = "%s:%d" % (host, port)
    # A token for another device: refused (error 5).
    with pytest.raises(PotkitError, match="API token"):
        service_issue(hp, 0, token=tokens["door-2"])(ch, UNLOCK)
    rec = service_issue(hp, 0, token=tokens[DOOR])(ch, UNLOCK)
    assert make_verifier(auth_svc.public_key).verify(rec, UNLOCK, time.time_ns(), ch) == spec.OK
    # UDP: the token field follows the frame, then zero padding.
    tok = tokens[DOOR].encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        f = board_frame(ch, 0, UNLOCK)
        s.sendto(f + bytes(144), auth_svc.udp)
        assert s.recvfrom(2048)[0] == b"\xee\x05"
        f = f + bytes([len(tok)]) + tok
        s.sendto(f + bytes(max(0, 144 - len(f))), auth_svc.udp)
        rec = s.recvfrom(2048)[0]
        assert make_verifier(auth_svc.public_key).verify(rec, UNLOCK, time.time_ns(), ch) == spec.OK


def test_serve_without_a_token_file_refuses_every_issue(env):
    missing = os.path.join(env["dir"], "no-such-tokens.json")
    s = Service(env["key"], env["config"], extra=("--tokens", missing), open_=False)
    try:
        assert _issue(s, UNLOCK)[0] == 401
        assert request(s, "GET", "/health")[0] == 200
    finally:
        _, err = s.stop()
    assert "no token file" in err


# --- item 3: HTTPS Date has no overall deadline -------------------------------------------------
def _threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def _wait_refreshes(svc, count, limit_s=60):
    """Polls /health until the timebase has run `count` more syntheses (a guard, not a timing check)."""
    _, h, _ = request(svc, "GET", "/health")
    goal = h["refreshes"] + h["failures"] + count
    end = time.monotonic() + limit_s
    while h["refreshes"] + h["failures"] < goal:
        assert time.monotonic() < end, "the timebase stopped refreshing: %r" % h
        time.sleep(0.2)
        _, h, _ = request(svc, "GET", "/health")
    return h


def test_trickling_https_source_leaks_nothing_and_sigterm_stops_the_service(env, test_ca, server_cert):
    # The attack: a source trickling one byte every 1.5 s, which without one
    # deadline per query holds a thread and a descriptor per synthesis and
    # keeps SIGTERM from stopping `potkit serve`.
    import peers

    with peers.TricklingHttpsServer(*server_cert, interval_s=0.5) as trickle:
        cfg = json.load(open(env["config"]))
        cfg["sources"].append({"kind": "https", "url": trickle.url, "cafile": test_ca.ca_file,
                               "operator": "trickle.example", "timeout": 1.0})
        path = os.path.join(env["dir"], "trickle.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        s = Service(env["key"], path)
        try:
            _wait_refreshes(s, 2)
            threads_before = _threads(s.proc.pid)
            h = _wait_refreshes(s, 10)
            assert h["ok"] and h["source_count"] == 3        # the three honest sources carry on
            assert trickle.connections >= 10                # every synthesis asked the trickler
            # Each query ends at its deadline: no connection or thread piles up.
            assert trickle.open_now <= 3, trickle.open_now
            assert _threads(s.proc.pid) <= threads_before + 2, (threads_before, _threads(s.proc.pid))
            s.proc.terminate()
            try:
                s.proc.wait(20)     # a guard for a hung service, not a timing check
            except Exception:
                pass
            assert s.proc.returncode == 0, "potkit serve did not stop on SIGTERM"
        finally:
            _, err = s.stop()
    assert "Traceback" not in err, err[-3000:]


# --- item 5: replay forgotten after a time jump; one context's flood ---------------------------
def _wait_time_offset(svc, offset_s, limit_s=60):
    """Polls /health until the service's time is `offset_s` off this host's clock (within 1 s)."""
    end = time.monotonic() + limit_s
    while True:
        code, h, _ = request(svc, "GET", "/health")
        if code == 200 and abs(h["time_ns"] - time.time_ns() - offset_s * 10**9) < 10**9:
            return h
        assert time.monotonic() < end, "the service never reached offset %+d s: %r" % (offset_s, h)
        time.sleep(0.2)


def _verdict(svc, record, ctx):
    code, resp, _ = request(svc, "POST", "/v1/verify", {"record": record, "ctx": ctx.hex()})
    assert code == 200, resp
    return resp["verdict"]


def test_a_time_jump_does_not_make_a_replay_verify_ok(env):
    # The attack: 3 of 4 sources stepped +120 s for one verify (of a record
    # issued meanwhile). A cache purged at the stepped time would drop the
    # nonce of a 2 s old record (expired at +120 s), and once the sources
    # stepped back that record would verify OK a second time.
    import peers

    fakes = [peers.FakeNtpServer() for _ in range(4)]
    try:
        path = write_config(env["dir"], fakes, "fakes-4.json")
        s = Service(env["key"], path)
        try:
            ctx = grg.context_device(DOOR)
            _wait_time_offset(s, 0)
            _, r, _ = request(s, "POST", "/v1/issue", {"ctx": ctx.hex(), "tier": 0})
            record = r["record"]
            assert _verdict(s, record, ctx) == "OK"
            for f in fakes[:3]:
                f.offset_s = 120
            _wait_time_offset(s, 120)
            _, r, _ = request(s, "POST", "/v1/issue", {"ctx": ctx.hex(), "tier": 0})
            assert _verdict(s, r["record"], ctx) == "OK"     # fresh on the stepped clock: the cache purges
            assert _verdict(s, record, ctx) == "STALE"
            for f in fakes[:3]:
                f.offset_s = 0
            _wait_time_offset(s, 0)
            assert _verdict(s, record, ctx) != "OK"          # it was: OK, a replay
            # The price, fail closed: until the time passes the highest time
            # seen minus the tier window, a fresh record is judged STALE too.
            _, r, _ = request(s, "POST", "/v1/issue", {"ctx": ctx.hex(), "tier": 0})
            assert _verdict(s, r["record"], ctx) == "STALE"
        finally:
            _, err = s.stop()
    finally:
        for f in fakes:
            f.stop()
    assert "Traceback" not in err, err[-3000:]


def test_a_flood_for_one_device_leaves_other_devices_room(env):
    # The attack: 40 records accepted for one device, which would fill a
    # single shared 40-entry cache and make every other context BUSY.
    s = Service(env["key"], env["config"], extra=("--cache-capacity", "40"))
    try:
        flood = [grg.context_device("flood-1")] + [grg.context_message("flood-1", b"m%d" % i) for i in range(44)]
        verdicts = []
        for ctx in flood:
            _, r, _ = request(s, "POST", "/v1/issue", {"ctx": ctx.hex(), "tier": 0})
            verdicts.append(_verdict(s, r["record"], ctx))
        assert "BUSY" in verdicts                      # the flooding device is refused, fail closed
        ok = verdicts.count("OK")
        assert ok <= 4, verdicts                       # a tenth of the cache: its own share only
        for other in (grg.context_device("board-2"), grg.context_message("board-3", b"unlock"), b"\x7fapp"):
            _, r, _ = request(s, "POST", "/v1/issue", {"ctx": other.hex(), "tier": 0})
            assert _verdict(s, r["record"], other) == "OK"
    finally:
        _, err = s.stop()
    assert "Traceback" not in err, err[-3000:]


def test_replay_cache_partitions_bound_the_total_too():
    from potkit.service.verify import HostNonceCache, cache_partition
    from pot.nonces import FULL

    c = HostNonceCache(10, 3)
    stored = 0
    for dev in range(6):
        c.partition = cache_partition(grg.context_device("dev-%d" % dev))
        for i in range(5):
            nonce = os.urandom(32)
            if c.lookup(nonce, 0) != FULL:
                c.store(0, nonce, 100)
                stored += 1
        assert c.live(0, c.partition) <= 3                   # per device
    assert stored == c.live(0) == 10                         # in all: memory stays bounded
    # A device's stamped messages share its partition; other contexts have their own.
    assert cache_partition(grg.context_message("dev-1", b"x")) == cache_partition(grg.context_device("dev-1"))
    assert cache_partition(b"\x7fapp") != cache_partition(b"\x7fapq")
    assert c.live(101) == 0                                  # expired entries leave, in all partitions


# --- a TCP board frame without its token field ----------------------------------------------------
def test_tcp_frame_without_a_token_gets_error_5(auth_svc):
    # Over TCP a frame without the token field reads as a frame whose token
    # has not arrived yet; the client must get error 5, not a silent close at
    # the 10 s header deadline ("no record within 5 s" at `potkit send`).
    from potkit import PotkitError
    from potkit.board.issuers import service_issue

    frame = board_frame(os.urandom(32), 0, UNLOCK)
    assert raw_exchange(auth_svc.tcp, frame, timeout=30) == b"\xee\x05"
    # A client that half-closes after its frame is answered at once.
    with socket.create_connection(auth_svc.tcp, timeout=30) as s:
        s.sendall(frame)
        s.shutdown(socket.SHUT_WR)
        assert recv_exact(s, 2) == b"\xee\x05"
    # The board-side client names the cause.
    with pytest.raises(PotkitError, match="no valid API token"):
        service_issue("%s:%d" % auth_svc.tcp, 0, timeout=10)(os.urandom(32), UNLOCK)


# --- item 2: slowloris and a request flood: the canary is served ---------------------------------
def _nofile(limit):
    """preexec_fn for the service: RLIMIT_NOFILE = limit (as `ulimit -n limit`)."""
    def set_limit():
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return set_limit


def slowloris(addr, count, sources=10):
    """`count` sockets, from 127.0.0.2 .. 127.0.0.(sources+1) (many clients, each under the per-client
    cap), each holding half a request line. Sockets the service refuses or evicts are kept too."""
    socks = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind(("127.0.0.%d" % (2 + i % sources), 0))
        s.connect_ex(addr)
        socks.append(s)
    import select

    pending = list(socks)
    end = time.monotonic() + 10
    while pending and time.monotonic() < end:
        _, writable, _ = select.select([], pending, [], 0.5)
        for s in writable:
            try:
                s.send(b"GET /health HTTP/1.1\r\nHo")
            except OSError:
                pass
            pending.remove(s)
    return socks


def _canary(svc):
    """GET /health on a new connection: the status, or the exception text."""
    try:
        code, body, _ = request(svc, "GET", "/health")
        return code
    except (OSError, ValueError) as e:
        return repr(e)


def test_canary_is_served_while_400_slowloris_sockets_are_held(env):
    # The attack: more slowloris sockets than descriptors, which would lock
    # every client out and fill the log with accept() tracebacks. Here: 400
    # sockets against a service under `ulimit -n 256` (192 connections).
    s = Service(env["key"], env["config"], preexec_fn=_nofile(256))
    socks = []
    try:
        assert _canary(s) == 200
        socks = slowloris(s.http, 400)
        answers = [_canary(s) for _ in range(5)]
        assert 200 in answers, answers                   # served at all (a 503 from a refresh is no failure)
        assert s.alive()
        err = s.stderr()
        assert len(err) < 64 * 1024, len(err)           # repeated log lines are rate-limited
        assert "Traceback" not in err
    finally:
        for x in socks:
            x.close()
        s.stop()


def test_canary_is_served_during_a_request_flood(env):
    # A flood on keep-alive connections: valid issues pipelined 50 at a time,
    # and bad requests (each a 400 and a close) reconnecting as fast as they
    # can; the canary asks /health on a new connection meanwhile.
    import threading

    s = Service(env["key"], env["config"])
    stop = threading.Event()
    sent = [0]

    def issue_flood():
        body = json.dumps({"ctx": "00", "tier": 0}).encode()
        one = b"POST /v1/issue HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        while not stop.is_set():
            try:
                with socket.create_connection(s.http, timeout=10) as c:
                    while not stop.is_set():
                        c.sendall(one * 50)
                        got = b""
                        while got.count(b"HTTP/1.1 ") < 50:
                            chunk = c.recv(65536)
                            if not chunk:
                                raise OSError("closed")
                            got += chunk
                        sent[0] += 50
            except OSError:
                pass

    def bad_flood():
        while not stop.is_set():
            try:
                raw_exchange(s.http, b"POST /v1/issue HTTP/1.1\r\nContent-Length: x\r\n\r\n", timeout=10)
                sent[0] += 1
            except OSError:
                pass

    threads = [threading.Thread(target=issue_flood, daemon=True) for _ in range(4)]
    threads.append(threading.Thread(target=bad_flood, daemon=True))
    try:
        for t in threads:
            t.start()
        end = time.monotonic() + 60
        while sent[0] < 500:                              # the flood is on
            time.sleep(0.05)
            assert s.alive() and time.monotonic() < end, "the flood never got going"
        answers = [_canary(s) for _ in range(5)]
        assert 200 in answers, answers
    finally:
        stop.set()
        for t in threads:
            t.join(15)
        _, err = s.stop()
    assert len(err) < 64 * 1024, len(err)
    assert "Traceback" not in err
