"""Every bad value, fed to every entry point: a clear one-line error, never a
traceback, never silently accepted.

- CLI: `potkit ...` as a user runs it (a subprocess): exit status 2, one
  line on stderr "potkit: what went wrong; how to fix it" (4 when a server
  or board is unreachable).
- config files: the same, through `potkit time --config`.
- HTTP API: PotService.handle, the very function the HTTP server calls: a
  4xx with the reason.
- provisioning: keys.provisioning_document refuses what a board would fail
  to boot with.

Values are checked by potkit.validate; this table is its contract. Nothing
here talks to anything but loopback (or nothing at all).
"""
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from potkit import PotkitError, keys, validate

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOOD = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")  # RFC 8032 test 1


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A HOME with the default key pair and a few config files."""
    d = tmp_path_factory.mktemp("home")
    key = os.path.join(str(d), ".config", "potkit", "issuer.key")
    os.makedirs(os.path.dirname(key), mode=0o700)
    keys.generate_keypair(key)
    ntp = lambda port, op: {"kind": "ntp", "host": "127.0.0.1", "port": port, "operator": op}  # noqa: E731
    configs = {
        "one-source.json": {"sources": [ntp(9, "a")], "synthesis": {"min_sources": 1}},
        "min2.json": {"sources": [ntp(9, "a"), ntp(10, "b")], "synthesis": {"min_sources": 2}},
        "port.json": [{"kind": "ntp", "host": "127.0.0.1", "port": 99999}],
        "timeout.json": [{"kind": "ntp", "host": "127.0.0.1", "timeout": -1}],
        "tolerance.json": {"sources": [ntp(9, "a")], "synthesis": {"tolerance_ms": -100}},
        "typo.json": {"sources": [ntp(9, "a")], "synthesys": {}},
        "two-ops.json": {"sources": [ntp(9, "a"), ntp(10, "a"), ntp(11, "b")]},
        "deep.json": None,
    }
    for name, doc in configs.items():
        with open(os.path.join(str(d), name), "w") as f:
            f.write("[" * 100000 + "]" * 100000 if doc is None else json.dumps(doc))
    return str(d)


def run(home, *argv, stdin=None, timeout=60):
    env = {k: v for k, v in os.environ.items() if k not in ("POTKIT_KEY", "POTKIT_CONFIG", "XDG_CONFIG_HOME")}
    env.update(HOME=home, PYTHONPATH=os.pathsep.join([ROOT + "/host", ROOT + "/firmware"]))
    return subprocess.run([sys.executable, "-m", "potkit.cli"] + list(argv), cwd=home, env=env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(p, status, words):
    err = p.stderr
    assert "Traceback" not in err + p.stdout, err
    assert p.returncode == status, (p.returncode, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("potkit: ") and "; " in lines[0], lines[0]
    for w in words.split("|"):
        assert w.lower() in lines[0].lower(), (w, lines[0])


REC = "11" * 143
BAD_CLI = [
    # (argv, words the error must contain)
    (["verify", REC, "--device-id", "d", "--skew-ms", "-5"], "--skew-ms|0 to 600000"),
    (["serve", "--skew-ms", "-5"], "--skew-ms"),
    (["serve", "--refresh-s", "0"], "--refresh-s|from 1"),
    (["serve", "--cache-capacity", "-1"], "--cache-capacity"),
    (["serve", "--cache-capacity", "0"], "--cache-capacity"),
    (["serve", "--idle-timeout", "-1"], "--idle-timeout"),
    (["serve", "--drift-ppm", "-1"], "--drift-ppm"),
    (["serve", "--max-age-s", "4", "--refresh-s", "8"], "--max-age-s|must exceed"),
    (["serve", "--http", "127.0.0.1:99999"], "--http"),
    (["serve", "--udp", "nohost"], "--udp|HOST:PORT"),
    (["serve", "--tcp", "bad host:1"], "--tcp"),
    (["issue", "--device-id", "d", "--drift-ppm", "-3"], "--drift-ppm"),
    (["issue", "--device-id", "d", "--tier", "9"], "--tier|unknown tier"),
    (["issue", "--device-id", "d", "--tier", "T9_fast"], "--tier|unknown tier"),
    (["issue", "--ctx", "zz"], "--ctx|hex"),
    (["issue", "--ctx", "00" * 256], "--ctx|at most 255"),
    (["issue", "--device-id", ""], "--device-id|1 to 64"),
    (["issue", "--device-id", "x" * 65], "--device-id|1 to 64"),
    (["issue", "--device-id", "d", "--challenge", "00"], "--challenge|32 bytes"),
    (["issue", "--device-id", "d", "--message", "a", "--message-file", "b"], "not allowed with"),
    (["issue", "--ctx", "00", "--message", "a"], "--device-id"),
    (["issue", "--device-id", "d", "--message-file", "/nonexistent/m"], "cannot read --message-file"),
    (["issue", "--device-id", "d", "--key", "/nonexistent/k"], "no key file|keygen"),
    (["verify", "zz", "--device-id", "d"], "record|hex"),
    (["verify", REC, "--device-id", "d", "--now-ns", "-1"], "--now-ns"),
    (["verify", REC, "--device-id", "d", "--pubkey", "00"], "--pubkey|32 bytes"),
    (["verify", REC, "--device-id", "d", "--pubkey", "00" * 32], "--pubkey|not a valid Ed25519"),
    (["verify", REC], "exactly one of --ctx"),
    (["show", "zz"], "record|hex"),
    (["show", REC, "--skew-ms", "x"], "--skew-ms"),
    (["time", "--tolerance-ms", "-100"], "--tolerance-ms"),
    (["time", "--tolerance-ms", "nan"], "--tolerance-ms"),
    (["time", "--min-sources", "2"], "--min-sources|3 to 64"),
    (["time", "--timeout", "0"], "--timeout"),
    (["time", "--timeout", "1e9"], "--timeout"),
    (["time", "--config", "one-source.json"], "min_sources|3 to 64"),
    (["time", "--config", "min2.json"], "min_sources|3 to 64"),
    (["time", "--config", "port.json"], "port|1 to 65535"),
    (["time", "--config", "timeout.json"], "timeout|above 0"),
    (["time", "--config", "tolerance.json"], "tolerance_ms"),
    (["time", "--config", "typo.json"], "unknown config key|synthesys"),
    (["time", "--config", "two-ops.json"], "2 distinct operator|min_sources is 3"),
    (["time", "--config", "deep.json"], "not valid JSON"),
    (["time", "--config", "missing.json"], "cannot read config"),
    (["pubkey", "--device-id", "d", "--skew-ms", "-5"], "--skew-ms"),
    (["pubkey", "--device-id", "d", "--issuer-url", "not a url"], "--issuer-url|tcp://"),
    (["pubkey", "--device-id", "d", "--issuer-url", "tcp://host"], "--issuer-url|needs a port"),
    (["pubkey", "--device-id", "d", "--issuer-url", "ftp://host:1"], "--issuer-url"),
    (["pubkey", "-o", "x.json"], "--output|add --device-id"),
    (["keygen", "--key", "/nonexistent/dir/k"], "cannot write"),
    (["device", "status", "--tcp", "nohost"], "--tcp|HOST:PORT"),
    (["device", "status", "--tcp", "127.0.0.1:0"], "--tcp|1 to 65535"),
    (["device", "status"], "--port DEV, --tcp"),
    (["device", "status", "--port", "/dev/null", "--baud", "7"], "--baud"),
    (["device", "sync", "--tcp", "127.0.0.1:9", "--issuer", "nohost"], "--issuer|HOST:PORT"),
    (["device", "sync", "--tcp", "127.0.0.1:9"], "--issuer HOST:PORT"),
    (["device", "sync", "--tcp", "127.0.0.1:9", "--issuer", "127.0.0.1:9", "--tier", "7"], "--tier"),
    (["device", "send", "--tcp", "127.0.0.1:9", "--issuer", "127.0.0.1:9"], "--message TEXT"),
    (["device", "send", "--tcp", "127.0.0.1:9", "--issuer", "127.0.0.1:9", "--message", "x" * 321], "320"),
    (["device", "send", "--tcp", "127.0.0.1:9", "--issuer", "127.0.0.1:9", "--sender", ""], "--sender"),
    (["device", "deploy", "--device-id", "d", "--public-key", "zz", "--dry-run"], "--public-key|hex"),
    (["device", "deploy", "--device-id", "d", "--public-key", "00", "--dry-run"], "--public-key|32 bytes"),
    (["device", "deploy", "--device-id", "d", "--public-key", "00" * 32, "--dry-run"], "not a valid Ed25519"),
    (["device", "deploy", "--device-id", "d"], "--port"),
    (["device", "deploy", "--public-key", "00"], "--public-key"),
    (["device", "frobnicate"], "invalid choice"),
    (["frobnicate"], "unknown command"),
    (["issue", "--no-such-option"], "unrecognized arguments"),
]


@pytest.mark.parametrize("argv,words", BAD_CLI, ids=[" ".join(a)[:60] for a, _ in BAD_CLI])
def test_bad_cli_input_is_one_line_and_exit_2(home, argv, words):
    assert_one_line_error(run(home, *argv), validate.EXIT_USAGE, words)


def test_a_stale_public_key_file_is_refused(home, tmp_path):
    key = str(tmp_path / "k")
    keys.generate_keypair(key)
    other = str(tmp_path / "other")
    keys.generate_keypair(other)
    os.replace(other + ".pub", key + ".pub")       # the .pub of another key
    for argv in (["pubkey", "--key", key, "--device-id", "d"], ["device", "deploy", "--key", key,
                                                                "--device-id", "d", "--dry-run"]):
        assert_one_line_error(run(home, *argv), 2, "does not match|stale")
    with pytest.raises(PotkitError, match="does not match"):
        keys.load_public_key(key)
    os.unlink(key + ".pub")                        # no .pub: derived from the key
    assert keys.load_public_key(key) == bytes(keys.load_signing_key(key).verify_key)


# --- unreachable: exit status 4 ----------------------------------------------------------
@pytest.fixture
def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()            # nothing listens there: connection refused
    return port


def test_unreachable_board_is_exit_4(home, closed_port):
    p = run(home, "device", "status", "--tcp", "127.0.0.1:%d" % closed_port)
    assert_one_line_error(p, validate.EXIT_UNREACHABLE, "127.0.0.1:%d" % closed_port)


@pytest.fixture(scope="module")
def board():
    """The firmware on the MicroPython Unix port, TCP link on loopback."""
    from potkit.board.unix import UnixBoard

    with UnixBoard(GOOD, "door-1", serial=None, tcp=0) as b:
        yield b


def test_issuer_refused_or_silent_is_exit_4(home, board, closed_port):
    link = ["device", "sync", "--tcp", "127.0.0.1:%d" % board.tcp_port]
    p = run(home, *link, "--issuer", "127.0.0.1:%d" % closed_port)
    assert_one_line_error(p, validate.EXIT_UNREACHABLE, "refused|potkit serve --tcp")
    # An address that accepts and never answers a board frame (e.g. the HTTP
    # port of `potkit serve`): a bounded wait, then a clear error.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        p = run(home, *link, "--issuer", "127.0.0.1:%d" % silent.getsockname()[1])
    finally:
        silent.close()
    assert_one_line_error(p, validate.EXIT_UNREACHABLE, "no record within|not the HTTP port")
    assert run(home, "device", "status", "--tcp", "127.0.0.1:%d" % board.tcp_port).returncode == 0


def test_no_sources_is_exit_3_and_names_the_fix(home, closed_port):
    cfg = os.path.join(home, "dead.json")
    with open(cfg, "w") as f:
        json.dump({"sources": [{"kind": "ntp", "host": "127.0.0.1", "port": closed_port, "operator": op,
                                "timeout": 0.5} for op in "abc"], "synthesis": {"timeout_s": 1}}, f)
    for argv in (["time", "--config", cfg], ["issue", "--config", cfg, "--device-id", "d"]):
        p = run(home, *argv)
        assert p.returncode == validate.EXIT_NO_TIME and "Traceback" not in p.stderr
        assert "--config" in p.stderr and "Offline or in a lab" in p.stderr


# --- HTTP API: the same validators, a 4xx with the reason ------------------------------------
@pytest.fixture(scope="module")
def service():
    from nacl.signing import SigningKey

    from potkit.issuer import Issuer
    from potkit.service.routes import PotService
    from potkit.timebase import FixedTimeBase

    tb = FixedTimeBase()
    return PotService(Issuer(SigningKey(bytes(32)), tb), tb)


CTXH = "0006" + b"door-1".hex()
BAD_HTTP = [
    ("/v1/issue", {"ctx": CTXH, "tier": 0, "chalenge": "00" * 32}, "unknown field|'chalenge'"),
    ("/v1/issue", {"ctx": CTXH, "tier": 0, "anchor": "yes"}, "anchor|true or false"),
    ("/v1/issue", {"ctx": CTXH, "tier": 0, "anchor": 1}, "anchor|true or false"),
    ("/v1/issue", {"ctx": CTXH, "tier": True}, "unknown tier"),
    ("/v1/issue", {"ctx": CTXH, "tier": "T9"}, "unknown tier"),
    ("/v1/issue", {"ctx": CTXH, "tier": -1}, "unknown tier"),
    ("/v1/issue", {"ctx": "zz", "tier": 0}, "hex"),
    ("/v1/issue", {"ctx": CTXH}, "missing field 'tier'"),
    ("/v1/issue", {"ctx": CTXH, "tier": 0, "challenge": "00" * 31}, "32 bytes"),
    ("/v1/verify", {"record": REC, "ctx": CTXH, "now_ns": 5}, "unknown field|'now_ns'"),
    ("/v1/verify", {"record": "00" * 142, "ctx": CTXH}, "143 bytes"),
    ("/v1/verify", {"record": REC, "ctx": CTXH, "challenge": 7}, "hex string"),
    ("/v1/issue", b"[" * 2000 + b"]" * 2000, "bad JSON|nested"),
    ("/v1/issue", b"{" * 2000, "bad JSON"),
    ("/v1/verify", b"[1]", "JSON object"),
    ("/v1/verify", b"\xff\xfe", "bad JSON"),
]


@pytest.mark.parametrize("path,body,words", BAD_HTTP, ids=[p + " " + str(b)[:40] for p, b, _ in BAD_HTTP])
def test_bad_http_input_is_a_400_with_the_reason(service, path, body, words):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, ctype, resp, headers, close = service.handle(b"POST", path.encode(), raw)
    doc = json.loads(resp)
    assert status == 400 and doc["status"] == 400, doc
    for w in words.split("|"):
        assert w.lower() in doc["error"].lower(), (w, doc)


def test_good_http_input_still_works(service):
    status, _, resp, _, _ = service.handle(b"POST", b"/v1/issue",
                                           json.dumps({"ctx": CTXH, "tier": "t1", "anchor": True}).encode())
    doc = json.loads(resp)
    assert status == 200 and doc["tier"] == "T1_block" and len(doc["anchor"]) == 64


# --- provisioning: what a board would fail to boot with -------------------------------------------
@pytest.mark.parametrize("kw,words", [
    ({"public_key": b"\x00"}, "32 bytes"),
    ({"public_key": bytes(32)}, "not a valid Ed25519"),
    ({"device_id": ""}, "1 to 64"),
    ({"skew_ms": -5}, "skew_ms"),
    ({"skew_ms": "5"}, "skew_ms"),
    ({"issuer_url": "not a url"}, "issuer_url"),
])
def test_bad_provisioning_is_refused_before_the_board_sees_it(kw, words):
    args = {"public_key": GOOD, "device_id": "door-1"}
    args.update(kw)
    with pytest.raises(validate.BadValue, match=words):
        keys.provisioning_document(**args)
    doc = keys.provisioning_document(GOOD, "door-1", "tcp://10.0.0.2:8123", 500)
    assert doc["skew_ms"] == 500 and doc["issuer_url"] == "tcp://10.0.0.2:8123"
