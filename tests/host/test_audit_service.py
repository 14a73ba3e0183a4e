"""The audit log inside the real `potkit serve` on loopback: entries for what
it answers, proofs over HTTP checked by `potkit audit verify`, witnesses,
the seed's query and metrics, attack types produced for real, and the
reliability cases (kill -9 in a burst, a full disk, a read-only database).

Time comes from real chronyd servers: three honest NTS servers and one plain
NTP server under libfaketime, 30 s ahead, which every synthesis isolates
(the NTP_INJECT alarm).
"""
import hashlib
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import peers
import test_service
from potkit import cli, keys
from potkit.auditlog import entry as E, merkle, note
from potkit.issuer import Issuer
from potkit.timebase import FixedTimeBase
from pot import grg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CTX = grg.context_device("audit-board")
CTXH = CTX.hex()


class Service(test_service.Service):
    """`potkit serve --log LOG` (test_service.Service, the same subprocess)."""

    def __init__(self, key_path, config_path, log, extra=()):
        super().__init__(key_path, config_path, ["--log", log] + list(extra))
        self.url = "http://%s:%d" % self.http

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


def request(svc, method, path, body=None, conn=None):
    c = conn or http.client.HTTPConnection(*svc.http, timeout=30)
    data = None if body is None else json.dumps(body).encode()
    c.request(method, path, body=data)
    r = c.getresponse()
    raw = r.read()
    if conn is None:
        c.close()
    if r.getheader("Content-Type", "").startswith("application/json"):
        return r.status, json.loads(raw)
    return r.status, raw.decode()


def issue(svc, ctx=CTXH, tier=0):
    st, body = request(svc, "POST", "/v1/issue", {"ctx": ctx, "tier": tier})
    assert st == 200, body
    return body["record"]


def verify(svc, record, ctx=CTXH):
    st, body = request(svc, "POST", "/v1/verify", {"record": record, "ctx": ctx})
    assert st == 200, body
    return body["verdict"]


def wait_for(fn, timeout=30):
    """fn()'s first truthy value, polled (a bound on waiting, not a timed assertion)."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.1)


def log_pub(log_path):
    return keys.load_public_key(log_path + ".key")


def entries_of(svc):
    st, cp = request(svc, "GET", "/v1/log/checkpoint")
    size = int(cp.split("\n")[1])
    out = []
    while len(out) < size:
        st, body = request(svc, "GET", "/v1/log/entries?start=%d&end=%d" % (len(out), size))
        assert st == 200
        out.extend(E.decode(bytes.fromhex(e["data"])) for e in body["entries"])
    return out


def write_config(directory, ntp=(), nts=(), cafile=None, name="sources.json"):
    src = [{"kind": "nts", "host": s.host, "port": s.nts_ke_port, "cafile": cafile, "operator": "nts-%d" % i}
           for i, s in enumerate(nts)]
    src += [{"kind": "ntp", "host": s.host, "port": s.ntp_port, "operator": "ntp-%d" % i} for i, s in enumerate(ntp)]
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        json.dump({"sources": src, "synthesis": {"timeout_s": 2.0}}, f)
    return path


@pytest.fixture(scope="module")
def env(chrony, chrony_offset, server_cert, test_ca):
    d = tempfile.mkdtemp(prefix="potkit-audit-svc-")
    key = os.path.join(d, "issuer.key")
    keys.generate_keypair(key)
    cert, k = server_cert
    more = [peers.start_chrony(nts_ke_port=0, cert=cert, key=k) for _ in range(2)]
    plain = [peers.start_chrony() for _ in range(3)]
    try:
        yield {"dir": d, "key": key,
               # 3 honest NTS + a plain NTP server 30 s ahead: NTP_INJECT on every synthesis
               "config": write_config(d, ntp=[chrony_offset], nts=[chrony] + more, cafile=test_ca.ca_file),
               # 3 honest plain NTP + the one 30 s ahead: OUTLIER (logged as DRIFT)
               "config_plain": write_config(d, ntp=plain + [chrony_offset], name="plain.json"),
               "plain_only": write_config(d, ntp=plain, name="plain3.json")}
    finally:
        for s in more + plain:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def svc(env):
    log = os.path.join(env["dir"], "audit.db")
    s = Service(env["key"], env["config"], log, extra=("--cache-capacity", "100000"))
    s.log_path = log
    yield s
    status, err = s.stop()
    assert "Traceback" not in err, err
    assert status == 0


# --- entries, proofs, verify -------------------------------------------------------------
def test_every_answer_is_in_the_log_with_proofs(svc, capsys):
    rec = issue(svc)
    assert verify(svc, rec) == "OK"
    # Board endpoints too.
    ch = os.urandom(32)
    frame = ch + bytes((0, len(CTX))) + CTX
    with socket.create_connection(svc.tcp, timeout=10) as s:
        s.sendall(frame)
        got = b""
        while len(got) < 143:
            got += s.recv(143 - len(got))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(10)
        u.sendto(frame + bytes(144 - len(frame)), svc.udp)  # UDP requests are >= 144 bytes (issue 10)
        urec, _ = u.recvfrom(2048)
    ents = entries_of(svc)
    rh = lambda r: hashlib.sha256(bytes.fromhex(r) if isinstance(r, str) else r).digest()
    by_rec = dict(((e.kind, e.record_hash), e) for e in ents)
    e1 = by_rec[(E.ISSUE, rh(rec))]
    assert e1.transport == 1 and e1.ctx_hash == hashlib.sha256(CTX).digest() and e1.peer.startswith("127.0.0.1:")
    e2 = by_rec[(E.VERIFY, rh(rec))]
    assert e2.verdict == 0 and e2.attack == 0
    assert by_rec[(E.ISSUE, rh(got))].transport == 2
    assert by_rec[(E.ISSUE, rh(urec))].transport == 3
    # Inclusion of that verify entry, offline with only the public key.
    pub = log_pub(svc.log_path).hex()
    capsys.readouterr()
    assert cli.main(["audit", "verify", "--url", svc.url, "--index", str(e2.index), "--pubkey", pub]) == 0
    out = capsys.readouterr().out
    assert "OK: entry %d is in the checkpoint" % e2.index in out and '"verdict": "OK"' in out
    # The proof served checks with the RFC 9162 algorithm too.
    st, cp = request(svc, "GET", "/v1/log/checkpoint")
    c = note.open_checkpoint(cp, note.parse(cp).signatures[0][0], log_pub(svc.log_path))
    st, p = request(svc, "GET", "/v1/log/proof/inclusion?index=%d&size=%d" % (e2.index, c.size))
    data = None
    st, body = request(svc, "GET", "/v1/log/entries?start=%d&end=%d" % (e2.index, e2.index + 1))
    data = bytes.fromhex(body["entries"][0]["data"])
    assert merkle.verify_inclusion(e2.index, c.size, merkle.leaf_hash(data), [bytes.fromhex(h) for h in p["proof"]],
                                   c.root)
    # Growth: a checkpoint from now, more entries, then a consistency proof.
    old = os.path.join(tempfile.mkdtemp(), "old.cp")
    with open(old, "w") as f:
        f.write(cp)
    verify(svc, issue(svc))
    assert cli.main(["audit", "verify", "--url", svc.url, "--old", old, "--pubkey", pub]) == 0
    assert "consistently" in capsys.readouterr().out
    # A wrong key: one clear line, exit 1.
    assert cli.main(["audit", "verify", "--url", svc.url, "--old", old, "--pubkey", "00" * 32]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not signed" in err


def test_bad_proof_requests_are_400(svc):
    for path in ("/v1/log/proof/inclusion?index=999999999", "/v1/log/proof/inclusion", "/v1/log/proof/consistency?old=x",
                 "/v1/log/entries?start=999999999", "/v1/audit", "/v1/audit?ctx=zz"):
        st, body = request(svc, "GET", path)
        assert st == 400 and body["error"], (path, body)


# --- attack types, the seed's query and metrics ---------------------------------------
def _sign_future(env, seconds):
    """A record the service's own key signs, 30 s ahead (a drifting issuer)."""
    sk = keys.load_signing_key(env["key"])
    tb = FixedTimeBase(offset_ns=seconds * 10 ** 9)
    return Issuer(sk, tb).issue(CTX, 0).hex()


def test_attack_types_are_logged(svc, env):
    ctx2 = grg.context_device("attack-board")
    c2 = ctx2.hex()
    rec = issue(svc, c2)
    assert verify(svc, rec, c2) == "OK"
    assert verify(svc, rec, c2) == "REPLAY"                            # REPLAY: the same record again
    forged = bytearray(bytes.fromhex(issue(svc, c2)))
    forged[-1] ^= 1
    assert verify(svc, forged.hex(), c2) == "FORGE"                    # FORGE: a flipped signature bit
    assert verify(svc, issue(svc, CTXH), c2) == "CROSS_CONTEXT"        # CROSS_POOL: another context's record
    bad = bytearray(bytes.fromhex(issue(svc, c2)))
    bad[0] = 0x70
    assert verify(svc, bad.hex(), c2) == "PROTO_VIOLATION"             # PROTO_VIOLATION: unknown version
    assert verify(svc, _sign_future(env, 30), c2) == "FUTURE"          # DRIFT: an issuer 30 s ahead
    ents = [e for e in entries_of(svc) if e.ctx_hash == hashlib.sha256(ctx2).digest() and e.kind == E.VERIFY]
    got = [E.ATTACK_NAMES[e.attack] for e in ents]
    assert got == ["NONE", "REPLAY", "FORGE", "CROSS_POOL", "PROTO_VIOLATION", "DRIFT"]
    # NTP_INJECT: the plain NTP source 30 s ahead of the NTS majority, an ALARM entry.
    inj = wait_for(lambda: [e for e in entries_of(svc)
                            if e.kind == E.ALARM and E.ATTACK_NAMES[e.attack] == "NTP_INJECT"])
    assert inj and str(env_offset_port(env)) in inj[0].peer and "NTP_INJECT" in inj[0].detail
    # The seed's query.
    st, q = request(svc, "GET", "/v1/audit?ctx=%s&window=3600" % c2)
    assert st == 200
    assert q["total_requests"] == 6 and q["byzantine_total"] == 5
    assert q["byzantine_ratio"] == round(5 / 6, 6)
    assert q["attack_breakdown"]["REPLAY"] == 1 and q["attack_breakdown"]["FORGE"] == 1
    assert q["attack_breakdown"]["DRIFT"] == 1 and q["attack_breakdown"]["FLOOD"] == 0
    assert len(q["attack_breakdown"]) == 13
    # Prometheus.
    st, m = request(svc, "GET", "/metrics")
    lines = dict(l.rsplit(" ", 1) for l in m.splitlines() if l and not l.startswith("#"))
    assert float(lines['potkit_attack_total{type="replay"}']) >= 1
    assert float(lines['potkit_attack_total{type="ntp_inject"}']) >= 1
    assert 0 < float(lines["potkit_byzantine_ratio"]) < 1
    assert float(lines["potkit_log_healthy"]) == 1


def test_dns_poison_is_logged(env, other_ca, tmp_path):
    # DNS_POISON for real: the name of one NTS source ("localhost") resolves to
    # an attacker's NTS server on loopback, whose certificate for that name comes
    # from a CA the service does not trust (it cannot get one from the real CA).
    # The TLS check fails: a SOURCE_AUTH alarm, logged as DNS_POISON (9.6).
    cert, key = other_ca.issue(("localhost", "127.0.0.1"))
    attacker = peers.start_chrony(nts_ke_port=0, cert=cert, key=key)
    try:
        with open(env["config"]) as f:
            cfg = json.load(f)
        honest = [src for src in cfg["sources"] if src["kind"] == "nts"]
        poisoned = {"kind": "nts", "host": "localhost", "port": attacker.nts_ke_port, "cafile": honest[0]["cafile"],
                    "operator": "nts-poisoned"}
        path = str(tmp_path / "poisoned.json")
        with open(path, "w") as f:
            json.dump({"sources": honest + [poisoned], "synthesis": cfg["synthesis"]}, f)
        log = str(tmp_path / "dns.db")
        s = Service(env["key"], path, log)
        try:
            got = wait_for(lambda: [e for e in entries_of(s) if e.kind == E.ALARM
                                    and E.ATTACK_NAMES[e.attack] == "DNS_POISON"])
            assert got, [(E.ATTACK_NAMES[e.attack], e.detail) for e in entries_of(s)]
            assert str(attacker.nts_ke_port) in got[0].peer and got[0].detail.startswith("SOURCE_AUTH")
            # Only the poisoned source: the honest ones raise no alarm.
            assert all(str(attacker.nts_ke_port) in e.peer for e in entries_of(s) if e.kind == E.ALARM)
        finally:
            status, err = s.stop()
        assert "Traceback" not in err, err
    finally:
        attacker.stop()


def env_offset_port(env):
    with open(env["config"]) as f:
        return [s["port"] for s in json.load(f)["sources"] if s["kind"] == "ntp"][0]


def test_flood_and_outlier(env, tmp_path):
    # FLOOD: a replay cache of 3 live records; the 4th is refused BUSY (fail closed).
    # DRIFT from the time sources: plain NTP, one 30 s ahead -> OUTLIER alarms.
    log = str(tmp_path / "flood.db")
    s = Service(env["key"], env["config_plain"], log, extra=("--cache-capacity", "3", "--cache-per-device", "3"))
    try:
        verdicts = [verify(s, issue(s)) for _ in range(4)]
        assert verdicts == ["OK", "OK", "OK", "BUSY"]
        ents = entries_of(s)
        v = [E.ATTACK_NAMES[e.attack] for e in ents if e.kind == E.VERIFY]
        assert v == ["NONE", "NONE", "NONE", "FLOOD"]
        drift = wait_for(lambda: [e for e in entries_of(s)
                                  if e.kind == E.ALARM and E.ATTACK_NAMES[e.attack] == "DRIFT"])
        assert drift and "OUTLIER" in drift[0].detail
    finally:
        status, err = s.stop()
    assert status == 0 and "Traceback" not in err, err


# --- C2SP tlog-tiles ------------------------------------------------------------------------
def _mth(leaves):
    # RFC 9162 MTH, written again
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def get_raw(svc, path):
    c = http.client.HTTPConnection(*svc.http, timeout=30)
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def test_tiles_are_served_and_verify(svc, tmp_path, capsys):
    conn = http.client.HTTPConnection(*svc.http, timeout=30)
    while int(request(svc, "GET", "/v1/log/checkpoint")[1].split("\n")[1]) < 300:
        for _ in range(50):
            request(svc, "POST", "/v1/issue", {"ctx": CTXH, "tier": 0}, conn=conn)
    conn.close()
    st, cp_text = get_raw(svc, "/checkpoint")
    assert st == 200
    cp_text = cp_text.decode()
    pub = log_pub(svc.log_path)
    cp = note.open_checkpoint(cp_text, note.parse(cp_text).signatures[0][0], pub)
    size = cp.size
    datas = []
    while len(datas) < size:
        st, body = request(svc, "GET", "/v1/log/entries?start=%d&end=%d" % (len(datas), size))
        datas.extend(bytes.fromhex(e["data"]) for e in body["entries"])
    leaves = [merkle.leaf_hash(d) for d in datas]
    assert _mth(leaves) == cp.root
    # The tiles of this size, computed here from the entries.
    w = size % 256 or 256
    last = (size - 1) // 256
    from potkit.auditlog.tiles import encode_index

    part = lambda n, width: encode_index(n) + ("" if width == 256 else ".p/%d" % width)
    assert get_raw(svc, "/tile/0/000") == (200, b"".join(leaves[:256]))
    assert get_raw(svc, "/tile/0/" + part(last, w)) == (200, b"".join(leaves[last * 256:size]))
    assert get_raw(svc, "/tile/1/" + part(0, size // 256)) == (
        200, b"".join(_mth(leaves[j * 256:(j + 1) * 256]) for j in range(size // 256)))
    st, bundle = get_raw(svc, "/tile/entries/" + part(last, w))
    assert st == 200 and bundle == b"".join(len(d).to_bytes(2, "big") + d for d in datas[last * 256:size])
    for bad in ("/tile/0/0", "/tile/0/x000/000", "/tile/0/999", "/tile/entries/000.p/0", "/tile/5/000"):
        assert get_raw(svc, bad)[0] == 404, bad
    # potkit audit verify from the service's tiles, then from a static copy.
    pubhex = pub.hex()
    old = str(tmp_path / "old.cp")
    with open(old, "w") as f:
        f.write(request(svc, "GET", "/v1/log/checkpoint")[1])
    issue(svc)
    capsys.readouterr()
    for i in (0, 257, size - 1):
        assert cli.main(["audit", "verify", "--tiles", svc.url, "--index", str(i), "--pubkey", pubhex]) == 0
        assert "OK: entry %d is in the checkpoint" % i in capsys.readouterr().out
    assert cli.main(["audit", "verify", "--tiles", svc.url, "--old", old, "--pubkey", pubhex]) == 0
    assert "consistently" in capsys.readouterr().out
    d = str(tmp_path / "static")
    assert cli.main(["audit", "tiles", "--log", svc.log_path, "-o", d]) == 0
    assert cli.main(["audit", "verify", "--tiles", d, "--index", "257", "--pubkey", pubhex]) == 0
    assert cli.main(["audit", "verify", "--tiles", d, "--old", old, "--pubkey", pubhex]) == 0
    capsys.readouterr()
    # One changed hash in the static copy: the entry's inclusion fails.
    # (the copy is of the log's size when it was made: tile 1 is 001 or 001.p/<W>)
    t0 = os.path.join(d, "tile", "0", "001")
    if not os.path.isfile(t0):
        t0 = os.path.join(t0 + ".p", os.listdir(t0 + ".p")[0])
    with open(t0, "r+b") as f:
        f.write(bytes(32))
    assert cli.main(["audit", "verify", "--tiles", d, "--index", "256", "--pubkey", pubhex]) == 1
    assert "entry 256 is NOT in the checkpoint" in capsys.readouterr().err


# --- witnesses ----------------------------------------------------------------------------
def test_witnesses_cosign_and_quorum(svc, tmp_path, capsys):
    pub = log_pub(svc.log_path).hex()
    wit = []
    for i in (1, 2):
        k = str(tmp_path / ("w%d.key" % i))
        assert cli.main(["audit", "witness", "--key", k, "--name", "witness.test/w%d" % i, "--state", "x",
                         "--pubkey", pub, "--vkey"]) == 0
        wit.append(capsys.readouterr().out.strip())
    cp1 = str(tmp_path / "cp1")
    w1 = ["audit", "witness", "--key", str(tmp_path / "w1.key"), "--name", "witness.test/w1",
          "--state", str(tmp_path / "w1.state"), "--pubkey", pub, "--url", svc.url]
    w2 = ["audit", "witness", "--key", str(tmp_path / "w2.key"), "--name", "witness.test/w2",
          "--state", str(tmp_path / "w2.state"), "--pubkey", pub, "--url", svc.url]
    assert cli.main(w1 + ["-o", cp1]) == 0
    verify(svc, issue(svc))
    # Both witness the same later checkpoint: w1 checks it against what it saw; w2 adds its line.
    cp2, cp3 = str(tmp_path / "cp2"), str(tmp_path / "cp3")
    assert cli.main(w1 + ["-o", cp2]) == 0
    assert cli.main(w2 + ["--checkpoint", cp2, "-o", cp3]) == 0
    capsys.readouterr()
    ex = str(tmp_path / "export.json")
    assert cli.main(["audit", "export", "--log", svc.log_path, "--checkpoint", cp3, "--pubkey", pub,
                     "--format", "jsonld", "-o", ex]) == 0
    base = ["audit", "verify", "--export", ex, "--pubkey", pub, "--witness", wit[0], "--witness", wit[1]]
    assert cli.main(base + ["--quorum", "2"]) == 0
    assert "OK:" in capsys.readouterr().out
    # cp2 carries only w1's cosignature: a 2-of-2 quorum fails, 1-of-2 passes.
    ex2 = str(tmp_path / "export2.json")
    assert cli.main(["audit", "export", "--log", svc.log_path, "--checkpoint", cp2, "-o", ex2]) == 0
    b2 = ["audit", "verify", "--export", ex2, "--pubkey", pub, "--witness", wit[0], "--witness", wit[1]]
    assert cli.main(b2 + ["--quorum", "1"]) == 0
    capsys.readouterr()
    assert cli.main(b2 + ["--quorum", "2"]) == 1
    assert "1 valid cosignature" in capsys.readouterr().err
    # JSON-LD: a PROV-O context and one prov:Activity per entry, each with its proof.
    with open(ex) as f:
        doc = json.load(f)
    assert doc["@context"]["prov"] == "http://www.w3.org/ns/prov#"
    assert doc["entries"] and all("prov:Activity" in e["@type"] and "proof" in e for e in doc["entries"])
    # An export whose entry was changed fails, naming the entry.
    doc["entries"][3]["data"] = doc["entries"][3]["data"][:-2] + "01"
    with open(ex, "w") as f:
        json.dump(doc, f)
    assert cli.main(base) == 1
    assert "entry 3 is not in the checkpoint" in capsys.readouterr().err
    # A witness refuses a checkpoint that does not extend the one it cosigned (a
    # rewritten log signed by the same key): here, the older checkpoint cp1 after cp2.
    assert cli.main(w1 + ["--checkpoint", cp1]) == 1
    assert "refusing to cosign" in capsys.readouterr().err


def test_witness_refuses_a_forked_log(env, tmp_path, capsys):
    # Two logs with the same key, diverging after a common start: a split view.
    log = str(tmp_path / "a.db")
    s = Service(env["key"], env["plain_only"], log)
    try:
        verify(s, issue(s))
        pub = log_pub(log).hex()
        w = ["audit", "witness", "--key", str(tmp_path / "w.key"), "--name", "w.test/1",
             "--state", str(tmp_path / "w.state"), "--pubkey", pub, "--url", s.url, "-o", str(tmp_path / "o")]
        assert cli.main(w) == 0
    finally:
        s.stop()
    fork = str(tmp_path / "b.db")
    shutil.copy(log + ".key", fork + ".key")
    shutil.copy(log + ".key.pub", fork + ".key.pub")
    s = Service(env["key"], env["plain_only"], fork)
    try:
        for _ in range(3):
            verify(s, issue(s))
        w[w.index("--url") + 1] = s.url
        capsys.readouterr()
        assert cli.main(w) == 1
        assert "inconsistent" in capsys.readouterr().err
    finally:
        s.stop()


def test_service_stores_and_serves_cosignatures(env, tmp_path, capsys):
    # Two configured witnesses cosign through POST /v1/log/cosignature (audit
    # witness --submit); the service serves the checkpoint with their lines,
    # across a restart, and audit verify --quorum checks them on what it serves.
    vk = {}
    for w in ("w1", "w2", "w3"):
        assert cli.main(["audit", "witness", "--key", str(tmp_path / (w + ".key")), "--name", "witness.test/" + w,
                         "--state", "x", "--pubkey", "00" * 32, "--vkey"]) == 0
        vk[w] = capsys.readouterr().out.strip()
    log = str(tmp_path / "c.db")
    start = lambda: Service(env["key"], env["plain_only"], log, extra=("--log-witness", vk["w1"], "--log-witness",
                                                                       vk["w2"]))
    s = start()
    try:
        pub = log_pub(log).hex()
        for _ in range(3):
            verify(s, issue(s))
        assert request(s, "GET", "/v1/log/checkpoint?cosigned=1")[0] == 404
        wit = lambda w: ["audit", "witness", "--key", str(tmp_path / (w + ".key")), "--name", "witness.test/" + w,
                         "--state", str(tmp_path / (w + ".state")), "--pubkey", pub, "--url", s.url, "--submit"]
        cp1 = str(tmp_path / "cp1")
        assert cli.main(wit("w1") + ["-o", cp1]) == 0
        assert "stored the cosignature of witness.test/w1" in capsys.readouterr().err
        st, served = request(s, "GET", "/v1/log/checkpoint?cosigned=1")
        assert st == 200 and "\u2014 witness.test/w1 " in served and "witness.test/w2" not in served
        base = ["audit", "verify", "--url", s.url, "--index", "1", "--pubkey", pub, "--witness", vk["w1"],
                "--witness", vk["w2"]]
        assert cli.main(base + ["--quorum", "1"]) == 0
        capsys.readouterr()
        assert cli.main(base + ["--quorum", "2"]) == 1
        assert "1 valid cosignature(s) of the 2 witnesses given, 2 required" in capsys.readouterr().err
        # w2 cosigns the same checkpoint (w1's file): both lines are served now.
        assert cli.main(wit("w2") + ["--checkpoint", cp1]) == 0
        st, served = request(s, "GET", "/v1/log/checkpoint?cosigned=1")
        assert "witness.test/w1 " in served and "witness.test/w2 " in served
        # The log is idle: its latest checkpoint is the cosigned one, served with the lines.
        assert request(s, "GET", "/checkpoint")[1] == served
        capsys.readouterr()
        assert cli.main(base + ["--quorum", "2"]) == 0
        assert "OK: entry 1 is in the checkpoint" in capsys.readouterr().out
        # Refused: a witness not configured, a forged cosignature, a note another key signed.
        with open(cp1) as f:
            text = f.read()
        lines = text.split("\n")
        i = next(k for k, ln in enumerate(lines) if "witness.test/w1" in ln)
        bare = str(tmp_path / "bare")          # the checkpoint as the log signed it, no cosignature
        with open(bare, "w") as f:
            f.write("\n".join(lines[:i] + lines[i + 1:]))
        capsys.readouterr()
        assert cli.main(wit("w3") + ["--checkpoint", bare]) == 1
        assert "HTTP 403" in capsys.readouterr().err
        forged = lines[i][:-6] + ("AAAAAA" if lines[i][-6:] != "AAAAAA" else "BBBBBB")
        c = http.client.HTTPConnection(*s.http, timeout=30)
        c.request("POST", "/v1/log/cosignature", body="\n".join(lines[:i] + [forged] + lines[i + 1:]).encode())
        r = c.getresponse()
        assert r.status == 403 and b"no valid cosignature" in r.read()
        c.close()
        other = note.checkpoint_text(note.parse_checkpoint(text).origin, 1, bytes(32))
        from nacl.signing import SigningKey

        fake = other + "\n" + note.sign_text(other, note.parse_checkpoint(text).origin, SigningKey.generate())
        c = http.client.HTTPConnection(*s.http, timeout=30)
        c.request("POST", "/v1/log/cosignature", body=fake.encode())
        r = c.getresponse()
        assert r.status == 400 and b"not a checkpoint of this log" in r.read()
        c.close()
        # The log moves on: the cosigned checkpoint is still what ?cosigned=1 serves.
        verify(s, issue(s))
        assert request(s, "GET", "/v1/log/checkpoint?cosigned=1")[1] == served
    finally:
        s.stop()
    s = start()
    try:
        assert request(s, "GET", "/v1/log/checkpoint?cosigned=1")[1] == served
        base[base.index("--url") + 1] = s.url
        capsys.readouterr()
        assert cli.main(base + ["--quorum", "2"]) == 0
    finally:
        s.stop()
    assert cli.main(["audit", "verify", "--log", log, "--pubkey", pub]) == 0


# --- reliability ------------------------------------------------------------------------------
def _burst(svc, stop, acked, errors):
    c = http.client.HTTPConnection(*svc.http, timeout=30)
    try:
        while not stop.is_set():
            c.request("POST", "/v1/issue", body=json.dumps({"ctx": CTXH, "tier": 0}).encode())
            r = c.getresponse()
            body = json.loads(r.read())
            if r.status == 200:
                acked.append(hashlib.sha256(bytes.fromhex(body["record"])).digest())
    except (OSError, http.client.HTTPException, ValueError):
        pass  # the service died under us: that is the test


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path):
    """(log spec, extra serve args, log key file) for each store."""
    if request.param == "sqlite":
        log = str(tmp_path / "k.db")
        return log, (), log + ".key"
    key = str(tmp_path / "pg.key")
    return request.getfixturevalue("postgres").new_database(), ("--log-key", key), key


def test_kill9_during_a_burst_loses_no_acknowledged_entry(env, tmp_path, backend, capsys):
    log, extra, keyfile = backend
    s = Service(env["key"], env["plain_only"], log, extra)
    for _ in range(5):
        verify(s, issue(s))
    st, cp_before = request(s, "GET", "/v1/log/checkpoint")
    stop, acked, errors = threading.Event(), [], []
    ths = [threading.Thread(target=_burst, args=(s, stop, acked, errors)) for _ in range(8)]
    for t in ths:
        t.start()
    assert wait_for(lambda: len(acked) >= 300 or not any(t.is_alive() for t in ths), 120)
    assert len(acked) >= 300, s.stderr()
    s.kill9()
    stop.set()
    for t in ths:
        t.join(30)
    s.stop()
    n_acked = len(acked)
    # Restart: every acknowledged record's ISSUE entry is there, the tree verifies,
    # and the new checkpoint extends the last one we saw signed.
    s = Service(env["key"], env["plain_only"], log, extra)
    try:
        verify(s, issue(s))
        have = set(e.record_hash for e in entries_of(s) if e.kind == E.ISSUE)
        missing = [h for h in acked if h not in have]
        assert n_acked >= 300 and not missing, "%d of %d acknowledged entries lost" % (len(missing), n_acked)
        old = str(tmp_path / "before.cp")
        with open(old, "w") as f:
            f.write(cp_before)
        pub = keys.load_public_key(keyfile).hex()
        capsys.readouterr()
        assert cli.main(["audit", "verify", "--url", s.url, "--old", old, "--pubkey", pub]) == 0
    finally:
        status, err = s.stop()
    assert cli.main(["audit", "verify", "--log", log, "--pubkey", pub]) == 0
    assert "OK:" in capsys.readouterr().out


def test_full_disk_is_503_then_recovers(env, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    mnt = tempfile.mkdtemp(prefix="potkit-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], check=True)
    try:
        log = os.path.join(mnt, "audit.db")
        s = Service(env["key"], env["plain_only"], log)
        try:
            good = []
            for _ in range(3):
                r = issue(s)
                good.append(hashlib.sha256(bytes.fromhex(r)).digest())
            # Fill the disk (unbuffered: closing the file flushes nothing that could fail).
            with open(os.path.join(mnt, "filler"), "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"\0" * 65536)
                except OSError:
                    pass
            statuses, reasons = [], []
            for _ in range(400):
                st, body = request(s, "POST", "/v1/issue", {"ctx": CTXH, "tier": 0})
                statuses.append(st)
                if st == 200:
                    good.append(hashlib.sha256(bytes.fromhex(body["record"])).digest())
                else:
                    reasons.append(body["error"])
                    if len(reasons) >= 3:
                        break
            assert reasons, "the disk never filled"
            assert set(statuses) <= {200, 503}
            assert "audit log unavailable" in reasons[-1] and "full" in reasons[-1], reasons[-1]
            st, h = request(s, "GET", "/metrics")
            assert "potkit_log_healthy 0.0" in h
            # The disk recovers: so does the service.
            os.unlink(os.path.join(mnt, "filler"))
            for _ in range(100):
                st, body = request(s, "POST", "/v1/issue", {"ctx": CTXH, "tier": 0})
                if st == 200:
                    good.append(hashlib.sha256(bytes.fromhex(body["record"])).digest())
                    break
                time.sleep(0.1)
            assert st == 200, body
            have = set(e.record_hash for e in entries_of(s) if e.kind == E.ISSUE)
            assert all(g in have for g in good)
        finally:
            status, err = s.stop()
        assert "Traceback" not in err, err
        pub = log_pub(log).hex()
        assert cli.main(["audit", "verify", "--log", log, "--pubkey", pub]) == 0
    finally:
        subprocess.run(["umount", "-l", mnt])
        os.rmdir(mnt)


def test_read_only_postgresql_is_503_then_recovers(env, tmp_path, postgres):
    url = postgres.new_database()
    dbname = url.rsplit("/", 1)[1]
    s = Service(env["key"], env["plain_only"], url, ("--log-key", str(tmp_path / "ro.key")))
    try:
        good = [issue(s)]
        postgres.sql("ALTER DATABASE %s SET default_transaction_read_only = on" % dbname)
        # Existing sessions keep their settings: force the service's writer to see it.
        postgres.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'" % dbname)
        reasons = []
        for _ in range(200):
            st, body = request(s, "POST", "/v1/issue", {"ctx": CTXH, "tier": 0})
            if st == 200:
                good.append(body["record"])
            else:
                assert st == 503
                reasons.append(body["error"])
                if "read-only" in body["error"]:
                    break
                time.sleep(0.05)
        assert reasons and all("audit log unavailable" in r for r in reasons), reasons
        assert "read-only" in reasons[-1], reasons
        postgres.sql("ALTER DATABASE %s SET default_transaction_read_only = off" % dbname)
        for _ in range(100):
            st, body = request(s, "POST", "/v1/issue", {"ctx": CTXH, "tier": 0})
            if st == 200:
                good.append(body["record"])
                break
            time.sleep(0.1)
        assert st == 200, body
        have = set(e.record_hash for e in entries_of(s) if e.kind == E.ISSUE)
        assert all(hashlib.sha256(bytes.fromhex(g)).digest() in have for g in good)
    finally:
        status, err = s.stop()
    assert "Traceback" not in err, err
