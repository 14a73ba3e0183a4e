"""Operating `potkit serve`: GET /, HEAD /health, bare-LF requests, bind
errors, SIGHUP's config reload and the issuance stopped/resumed log lines.
An in-process Server on loopback (FixedTimeBase: no sources needed)."""
import asyncio
import json
import logging
import socket
import types

import pytest

from potkit import PotkitError


def _service():
    from nacl.signing import SigningKey

    from potkit.issuer import Issuer
    from potkit.service.routes import PotService
    from potkit.timebase import FixedTimeBase

    tb = FixedTimeBase()
    return PotService(Issuer(SigningKey(bytes(32)), tb), tb)


def _exchange(raw_requests):
    """Starts a Server on 127.0.0.1:0, sends each raw request on its own
    connection, returns the raw answers (read until the server closes or 64 KB)."""
    from potkit.service.server import Server

    async def main():
        srv = Server(_service(), ("127.0.0.1", 0))
        host, port = (await srv.start())["http"]
        out = []
        try:
            for raw in raw_requests:
                r, w = await asyncio.open_connection(host, port)
                w.write(raw)
                await w.drain()
                w.write_eof()
                out.append(await asyncio.wait_for(r.read(65536), 10))
                w.close()
        finally:
            srv.close()
        return out

    return asyncio.run(main())


def test_index_head_health_and_bare_lf():
    index, head, get, bare = _exchange([
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"HEAD /health HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET /health HTTP/1.1\nHost: x\n\n",
    ])
    assert index.startswith(b"HTTP/1.1 200")
    routes = json.loads(index.split(b"\r\n\r\n", 1)[1])["routes"]
    assert set(routes) >= {"/v1/issue", "/v1/verify", "/metrics", "/health", "/"}
    assert routes["/health"] == ["GET", "HEAD"]
    # HEAD: GET's status and Content-Length, no body.
    h_head, h_body = head.split(b"\r\n\r\n", 1)
    g_head, g_body = get.split(b"\r\n\r\n", 1)
    assert h_body == b"" and h_head.startswith(b"HTTP/1.1 200")
    length = [ln for ln in h_head.split(b"\r\n") if ln.lower().startswith(b"content-length")]
    assert length and int(length[0].split(b":")[1]) > 0 and g_body.startswith(b"{")
    # Bare LF: answered (400, the reason), not left hanging.
    assert bare.startswith(b"HTTP/1.1 400") and b"CRLF" in bare


def test_bind_error_names_the_address():
    from potkit.service.server import Server

    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]

    async def main():
        srv = Server(_service(), ("127.0.0.1", 0), udp=("127.0.0.1", port))
        await srv.start()

    try:
        with pytest.raises(PotkitError, match=r"UDP 127\.0\.0\.1:%d.*--udp" % port):
            asyncio.run(main())
    finally:
        taken.close()


def test_sighup_reload_keeps_the_old_config_on_errors(tmp_path, caplog):
    from potkit.commands.serve import reload_config

    good = [{"kind": "ntp", "host": "127.0.0.1", "port": p, "operator": op} for p, op in ((9, "a"), (10, "b"), (11, "c"))]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(good))
    tb = types.SimpleNamespace(config=None, config_path=str(path))
    log = logging.getLogger("potkit.test")
    assert reload_config(tb, log) and len(tb.config.sources) == 3
    old = tb.config
    path.write_text(json.dumps(good[:1]))          # too few operators: refused
    with caplog.at_level(logging.ERROR, logger="potkit.test"):
        assert not reload_config(tb, log)
    assert tb.config is old and "not reloaded" in caplog.text


def test_issuance_stopped_and_resumed_are_logged(caplog):
    from potkit.timebase import TimeBase

    state = {"fail": False}

    def synth():
        if state["fail"]:
            raise PotkitError("sources disagree")
        return types.SimpleNamespace(time_ns=10 ** 18, local_ns=None, uncertainty_ns=1000, source_count=3,
                                     confidence_ppm=999000)

    tb = TimeBase(synth)
    with caplog.at_level(logging.INFO, logger="potkit.timebase"):
        tb.refresh()
        state["fail"] = True
        with pytest.raises(PotkitError):
            tb.refresh()
        state["fail"] = False
        tb.refresh()
    text = caplog.text
    assert "issuance started" in text and "issuance stopped: PotkitError: sources disagree" in text
    assert "issuance resumed" in text


def test_log_formats():
    import io

    from potkit import logs

    buf = io.StringIO()
    logs.setup("json", "info", buf).getChild("x").info("hello %s", "world")
    doc = json.loads(buf.getvalue())
    assert doc["msg"] == "hello world" and doc["level"] == "INFO" and doc["ts"].endswith("Z")
    buf = io.StringIO()
    logs.setup("text", "warning", buf).getChild("x").info("not shown")
    assert buf.getvalue() == ""
    root = logging.getLogger("potkit")   # back as it was: no handler of ours, propagating
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(logging.NullHandler())
    root.propagate = True
    root.setLevel(logging.NOTSET)
