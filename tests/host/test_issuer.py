"""The issuer (potkit.issuer) and its clock (potkit.timebase).

Records are checked field by field, against the firmware's own GRG and
verifier, and against libsodium; the timebase is driven with a manual
monotonic clock so extrapolation, drift and refusals are exact.
"""
import hashlib
import os
import threading
import time

import pytest
from nacl.bindings import crypto_sign_open
from nacl.signing import SigningKey

from potkit import PotkitError
from potkit.issuer import Issuer, make_verifier, onchain_anchor, anchor_abi_encoding, keccak256
from potkit.timebase import FixedTimeBase, TimeBase, TimeBaseUnavailable
from pot import grg, host, spec
from pot.verifier import Verifier

SEED = bytes(range(32))
CTX = grg.context_device("board-1")


class Result:
    """A synthesis result as potkit.synth returns it (the fields the timebase reads)."""

    def __init__(self, time_ns, local_ns, uncertainty_ns=2000000, source_count=4, confidence_ppm=998000):
        self.time_ns = time_ns
        self.local_ns = local_ns
        self.uncertainty_ns = uncertainty_ns
        self.source_count = source_count
        self.confidence_ppm = confidence_ppm


class Clocks:
    """Manual monotonic and wall clocks, in ns."""

    def __init__(self, mono=5000000000, wall=1760000000000000000):
        self.m = mono
        self.w = wall

    def mono(self):
        return self.m

    def wall(self):
        return self.w

    def advance(self, ns):
        self.m += ns
        self.w += ns


def manual_timebase(results, **kw):
    """A TimeBase over a list of results/exceptions, with manual clocks."""
    clocks = Clocks()
    queue = list(results)

    def synthesize():
        r = queue.pop(0)
        if isinstance(r, Exception):
            raise r
        return r(clocks) if callable(r) else r

    tb = TimeBase(synthesize, monotonic_ns=clocks.mono, wall_ns=clocks.wall, **kw)
    return tb, clocks


# --- timebase -------------------------------------------------------------------
def test_timebase_extrapolates_with_monotonic_clock_and_grows_uncertainty():
    # The synthesis says: true time T when our wall clock read W - 3 ms
    # (the result was computed 3 ms before refresh() saw it).
    T = 1760000000123456789
    tb, c = manual_timebase([lambda c: Result(T, c.w - 3000000)], drift_ppm=500, max_age_s=64)
    tb.refresh()
    n = tb.now()
    assert n.time_ns == T + 3000000
    assert n.uncertainty_ns == 2000000 + 3000000 * 500 // 1000000
    assert (n.source_count, n.confidence_ppm) == (4, 998000)
    c.advance(10 * 10**9)
    c.w += 7 * 10**9  # the wall clock steps: must not matter
    n = tb.now()
    assert n.time_ns == T + 3000000 + 10 * 10**9
    assert n.uncertainty_ns == 2000000 + (10 * 10**9 + 3000000) * 500 // 1000000
    assert n.age_ns == 10 * 10**9 + 3000000


def test_timebase_never_runs_backwards_across_refreshes():
    T = 1760000000000000000
    tb, c = manual_timebase([lambda c: Result(T, c.w, uncertainty_ns=1000),
                             lambda c: Result(T + 5000000, c.w, uncertainty_ns=6000000),
                             lambda c: Result(T, c.w, uncertainty_ns=1000)], drift_ppm=0)
    tb.refresh()
    c.advance(10000000)
    assert tb.now().time_ns == T + 10000000
    tb.refresh()  # the new synthesis says T + 5 ms +- 6 ms: 5 ms behind, within its uncertainty
    n = tb.now()
    assert (n.time_ns, n.uncertainty_ns) == (T + 10000000, 6000000 + 5000000)
    c.advance(6000000)  # the new timeline is now at T + 11 ms: ahead again
    n = tb.now()
    assert (n.time_ns, n.uncertainty_ns) == (T + 11000000, 6000000)
    tb.refresh()  # T +- 1 us: 11 ms behind, far outside its uncertainty: taken as it is
    n = tb.now()
    assert (n.time_ns, n.uncertainty_ns) == (T, 1000)


def test_timebase_first_read_synthesizes_and_refuses_when_too_old():
    tb, c = manual_timebase([lambda c: Result(10**18, c.w)], max_age_s=64)
    assert tb.refreshes == 0
    assert tb.now().time_ns == 10**18  # never refreshed: the first read runs the synthesis
    assert tb.refreshes == 1
    c.advance(64 * 10**9)
    tb.now()  # exactly at the limit: still fine
    c.advance(1)
    with pytest.raises(TimeBaseUnavailable, match="old"):
        tb.now()
    assert not tb.status()["ok"]


def test_timebase_first_read_that_fails_refuses():
    tb, c = manual_timebase([RuntimeError("3 sources unreachable")])
    with pytest.raises(TimeBaseUnavailable, match="unreachable"):
        tb.now()
    with pytest.raises(TimeBaseUnavailable):  # no retry inside now(): that is the thread's job
        tb.now()
    assert tb.failures == 1


def test_timebase_aborted_refresh_discards_the_previous_synthesis():
    class SynthesisError(Exception):
        pass

    tb, c = manual_timebase([lambda c: Result(10**18, c.w), SynthesisError("sources disagree by 30 s"),
                             lambda c: Result(2 * 10**18, c.w)])
    tb.refresh()
    tb.now()
    with pytest.raises(SynthesisError):
        tb.refresh()
    with pytest.raises(TimeBaseUnavailable, match="sources disagree"):
        tb.now()
    assert tb.status()["last_error"].startswith("SynthesisError")
    tb.refresh()
    assert tb.now().time_ns == 2 * 10**18
    assert (tb.refreshes, tb.failures) == (2, 1)


@pytest.mark.parametrize("sources,conf", [(2, 999000), (0, 999000), (4, 1000001), (4, -1)])
def test_timebase_refuses_what_a_receiver_would_reject(sources, conf):
    tb, c = manual_timebase([lambda c: Result(10**18, c.w, source_count=sources, confidence_ppm=conf)])
    tb.refresh()
    with pytest.raises(TimeBaseUnavailable):
        tb.now()


def test_timebase_background_refresh_thread():
    calls = []
    done = threading.Event()

    def synthesize():
        calls.append(time.monotonic())
        if len(calls) >= 3:
            done.set()
        t = time.time_ns()
        return Result(t, t)

    tb = TimeBase(synthesize, refresh_s=0.05)
    tb.start()
    try:
        assert done.wait(5)
        assert tb.refreshes >= 3
        assert abs(tb.now().time_ns - time.time_ns()) < 50 * 10**6
    finally:
        tb.stop()


def test_timebase_retries_quickly_after_an_abort():
    n = []

    def synthesize():
        n.append(1)
        if len(n) == 1:
            raise RuntimeError("first refresh fails")
        t = time.time_ns()
        return Result(t, t)

    tb = TimeBase(synthesize, refresh_s=3600, retry_s=0.05)
    tb.start()  # the first refresh fails inside start(): kept, not raised
    try:
        deadline = time.monotonic() + 5
        while tb.status()["ok"] is False and time.monotonic() < deadline:
            time.sleep(0.02)
        assert tb.status()["ok"]
        assert tb.failures == 1
    finally:
        tb.stop()


# --- records -----------------------------------------------------------------------
def fixed_issuer(T=1760000000123456789):
    tb, c = manual_timebase([lambda c: Result(T, c.w)])
    tb.refresh()
    return Issuer(SigningKey(SEED), tb), tb, c


def test_record_fields_commitment_and_signature():
    iss, tb, c = fixed_issuer()
    rec = iss.issue(CTX, 2)
    assert len(rec) == 143
    assert rec[0] == 0x12 and rec[1] == 4 and rec[2] == 0
    assert int.from_bytes(rec[3:11], "big") == 1760000000123456789
    assert int.from_bytes(rec[11:15], "big") == 998000
    assert rec[47:79] == host.commitment(rec[:47], CTX)
    # Ed25519 over bytes 0-78 with the issuer key (libsodium checks it).
    assert crypto_sign_open(rec[79:] + rec[:79], bytes(SigningKey(SEED).verify_key)) == rec[:79]
    assert iss.public_key == bytes(SigningKey(SEED).verify_key)


def test_nonces_are_fresh_random_and_challenge_mode_uses_the_challenge():
    iss, tb, c = fixed_issuer()
    nonces = set(iss.issue(CTX, 0)[15:47] for _ in range(200))
    assert len(nonces) == 200
    ch = os.urandom(32)
    rec = iss.issue(CTX, 0, challenge=ch)
    assert rec[15:47] == ch
    # Ed25519 is deterministic: same time, same challenge -> same record.
    assert iss.issue(CTX, 0, challenge=ch) == rec


def test_records_verify_with_the_firmware_verifier():
    iss = Issuer(SigningKey(SEED), FixedTimeBase())
    now = time.time_ns()
    ctx2 = grg.context_device("board-2")
    for tier in range(4):
        v = make_verifier(iss.public_key)
        rec = iss.issue(CTX, tier)
        assert v.verify(rec, CTX, time.time_ns()) == spec.OK
        assert v.verify(rec, CTX, time.time_ns()) == spec.REPLAY
        assert make_verifier(iss.public_key).verify(rec, ctx2, now) == spec.CROSS_CONTEXT
    # A flipped signature bit: FORGE; a flipped timestamp bit: the commitment no longer matches.
    rec = bytearray(iss.issue(CTX, 0))
    rec[100] ^= 1
    assert make_verifier(iss.public_key).verify(bytes(rec), CTX, time.time_ns()) == spec.FORGE
    rec = bytearray(iss.issue(CTX, 0))
    rec[10] ^= 1
    assert make_verifier(iss.public_key).verify(bytes(rec), CTX, time.time_ns()) == spec.CROSS_CONTEXT
    # Another issuer's key: FORGE.
    other = bytes(SigningKey(bytes(32)).verify_key)
    assert make_verifier(other).verify(iss.issue(CTX, 0), CTX, time.time_ns()) == spec.FORGE


def test_records_verify_with_the_device_ed25519_when_present():
    try:
        import pot.ed25519  # noqa: F401  (the board's pure-Python Ed25519)
    except ImportError:
        pytest.skip("pot.ed25519 (the firmware Ed25519) is not in the tree yet")
    iss = Issuer(SigningKey(SEED), FixedTimeBase())
    rec = iss.issue(CTX, 0)
    assert Verifier(iss.public_key).verify(rec, CTX, time.time_ns()) == spec.OK


def test_challenge_mode_verification():
    iss = Issuer(SigningKey(SEED), FixedTimeBase())
    ch = os.urandom(32)
    rec = iss.issue(CTX, 3, challenge=ch)
    assert make_verifier(iss.public_key).verify(rec, CTX, time.time_ns(), ch) == spec.OK
    assert make_verifier(iss.public_key).verify(rec, CTX, time.time_ns(), os.urandom(32)) == spec.CHALLENGE


def test_issue_tiers_by_number_and_name_and_bad_inputs():
    iss, tb, c = fixed_issuer()
    for i, name in enumerate(spec.TIER_NAMES):
        assert iss.issue(CTX, i)[0] == 0x10 | i
        assert iss.issue(CTX, name)[0] == 0x10 | i
        assert iss.issue(CTX, name.upper())[0] == 0x10 | i
    for bad in (4, -1, "T4_x", "", True, None, 1.0):
        with pytest.raises(PotkitError):
            iss.issue(CTX, bad)
    with pytest.raises(PotkitError):
        iss.issue(bytes(256), 0)
    assert len(iss.issue(bytes(255), 0)) == 143 and len(iss.issue(b"", 0)) == 143
    for ch in (bytes(31), bytes(33), b""):
        with pytest.raises(PotkitError):
            iss.issue(CTX, 0, challenge=ch)


def test_issuer_refuses_without_trusted_time():
    tb, c = manual_timebase([RuntimeError("no sources reachable")])
    with pytest.raises(RuntimeError):
        tb.refresh()
    iss = Issuer(SigningKey(SEED), tb)
    with pytest.raises(TimeBaseUnavailable, match="no sources reachable"):
        iss.issue(CTX, 0)


def test_issued_timestamps_follow_the_monotonic_clock():
    iss, tb, c = fixed_issuer(T=1760000000000000000)
    t = []
    for _ in range(5):
        t.append(int.from_bytes(iss.issue(CTX, 0)[3:11], "big"))
        c.advance(1234567)
    assert t == [1760000000000000000 + i * 1234567 for i in range(5)]


# --- on-chain anchor -------------------------------------------------------------------
def test_keccak256_is_keccak_not_sha3():
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


def test_anchor_abi_encoding_layout():
    iss, tb, c = fixed_issuer(T=0x0102030405060708)
    ch = bytes(range(100, 132))
    rec = iss.issue(CTX, 1, challenge=ch)
    enc = anchor_abi_encoding(rec, CTX)
    # abi.encode(uint64, bytes32, bytes32, bytes32): four 32-byte words.
    assert len(enc) == 128
    assert enc[0:32] == (0x0102030405060708).to_bytes(32, "big")
    assert enc[32:64] == host.commitment(rec[:47], CTX)
    assert enc[64:96] == hashlib.sha256(CTX).digest()
    assert enc[96:128] == ch
    assert onchain_anchor(rec, CTX) == keccak256(enc)
    # Every anchored field matters; the context too.
    assert onchain_anchor(rec, CTX) != onchain_anchor(rec, grg.context_device("board-2"))
    with pytest.raises(PotkitError):
        onchain_anchor(rec[:142], CTX)


def _keccak256_reference(data):
    # An independent, textbook Keccak-f[1600] sponge (rate 136, pad 0x01..0x80,
    # the pre-FIPS padding Ethereum uses), to cross-check pycryptodome.
    rc = []
    r = 1
    for _ in range(24):
        c = 0
        for j in range(7):
            r = ((r << 1) ^ ((r >> 7) * 0x71)) % 256
            if r & 2:
                c |= 1 << ((1 << j) - 1)
        rc.append(c)
    rot = [[0] * 5 for _ in range(5)]
    x, y = 1, 0
    for t in range(24):
        rot[x][y] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    mask = (1 << 64) - 1

    def f(a):
        for rnd in range(24):
            cc = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
            d = [cc[(x - 1) % 5] ^ (((cc[(x + 1) % 5] << 1) | (cc[(x + 1) % 5] >> 63)) & mask) for x in range(5)]
            a = [[a[x][y] ^ d[x] for y in range(5)] for x in range(5)]
            b = [[0] * 5 for _ in range(5)]
            for x in range(5):
                for y in range(5):
                    v, n = a[x][y], rot[x][y]
                    b[y][(2 * x + 3 * y) % 5] = ((v << n) | (v >> (64 - n))) & mask if n else v
            a = [[b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
            a[0][0] ^= rc[rnd]
        return a

    rate = 136
    msg = bytearray(data) + b"\x01" + bytes((-len(data) - 1) % rate)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off:off + rate]
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        a = f(a)
    return b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


def test_anchor_against_an_independent_keccak():
    assert _keccak256_reference(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    iss, tb, c = fixed_issuer(T=1760000000123456789)
    rec = iss.issue(CTX, 0, challenge=bytes(32))
    enc = anchor_abi_encoding(rec, CTX)
    assert enc[:32].hex() == "00" * 24 + "186cc6acdc0bcd15"
    assert enc[64:96].hex() == hashlib.sha256(bytes.fromhex("0007626f6172642d31")).hexdigest()
    assert onchain_anchor(rec, CTX) == _keccak256_reference(enc)
    for n in (0, 1, 135, 136, 137, 300):
        data = os.urandom(n)
        assert keccak256(data) == _keccak256_reference(data)


def test_cli_message_file_that_cannot_be_read_is_a_clear_error(tmp_path, capsys):
    from potkit import cli, keys

    key = str(tmp_path / "issuer.key")
    keys.generate_keypair(key)
    missing = str(tmp_path / "no-such-file")
    assert cli.main(["issue", "--key", key, "--device-id", "b", "--message-file", missing]) == 2
    assert cli.main(["verify", "00" * 143, "--key", key, "--device-id", "b", "--message-file", missing]) == 2
    err = capsys.readouterr().err
    assert err.count("potkit: cannot read --message-file %s" % missing) == 2, err


def test_message_is_the_same_bytes_as_text_file_and_stdin(tmp_path, monkeypatch):
    """--message TEXT, --message-file PATH and --message-file - hash the same
    bytes (a file's trailing newline is part of it, never stripped)."""
    import io
    import types

    from potkit.commands.options import ctx_from_args
    from potkit.keys import device_context

    def ctx(**kw):
        a = dict(ctx=None, device_id="door-1", message=None, message_file=None)
        a.update(kw)
        return ctx_from_args(types.SimpleNamespace(**a))

    f = tmp_path / "m"
    f.write_bytes(b"unlock")
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(b"unlock")))
    want = device_context("door-1", b"unlock")
    assert ctx(message="unlock") == ctx(message_file=str(f)) == ctx(message_file="-") == want
    f.write_bytes(b"unlock\n")
    assert ctx(message_file=str(f)) == device_context("door-1", b"unlock\n") != want
    assert ctx() == device_context("door-1")
