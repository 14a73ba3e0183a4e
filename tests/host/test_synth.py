"""Synthesis: pure rules on synthetic readings (with hypothesis properties),
then real loopback servers: chronyd (one under faketime, 30 s ahead),
pyroughtime and an HTTPS server, read through potkit.config sources."""
import json
import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from potkit import PotkitError
from potkit.cli import main as potkit_main
from potkit.config import ConfigError, SourceConfig, config_from_json
from potkit.sources import SOURCE_AUTH, UNREACHABLE, Reading, SourceError
from potkit.synth import (NTP_INJECT, OUTLIER, SynthesisError, confidence_ppm,
                          synthesize, synthesize_sources)

MS = 1000000
S = 1000000000
LOCAL = 1790000000 * S       # an arbitrary local instant


def reading(offset_ns, unc_ns=5 * MS, auth=True, kind=None, op=None, local=LOCAL):
    kind = kind or ("roughtime" if auth else "ntp")
    op = op or "op%d" % reading.count
    reading.count += 1
    return Reading("%s-%s" % (kind, op), op, kind, auth, local + offset_ns, local, unc_ns, delay_ns=MS)


reading.count = 0


def kinds(result):
    return sorted(k for k, _, _ in result.alarms)


# --- pure rules ------------------------------------------------------------------------

def test_four_agreeing_sources():
    rs = [reading(0), reading(2 * MS), reading(4 * MS), reading(10 * MS)]
    res = synthesize(rs, tolerance_ns=100 * MS)
    assert res.source_count == 4 and not res.isolated and not res.alarms
    assert res.offset_ns == 3 * MS                          # median of 0, 2, 4, 10 ms
    assert res.time_ns == LOCAL + 3 * MS and res.local_ns == LOCAL
    assert res.uncertainty_ns == 7 * MS + 5 * MS            # farthest (10 ms) + its own 5 ms
    # confidence = 1e6 * 4/4 * (L - S)/L, S = 10 ms, L = 5 + 5 + 100 ms
    assert res.confidence_ppm == 1000000 * 100 // 110


def test_unauthenticated_ntp_outlier_is_ntp_inject():
    bad = reading(30 * S, auth=False)
    rs = [reading(0, auth=False), reading(1 * MS), reading(-2 * MS, kind="https"), bad]
    res = synthesize(rs)
    assert res.isolated == [bad] and res.source_count == 3
    assert res.alarms == [(NTP_INJECT, bad.source, res.alarms[0][2])]
    assert "+30.000 s" in res.alarms[0][2]
    assert abs(res.offset_ns) <= 1 * MS
    assert res.confidence_ppm < 750000                      # 3 of 4 agree


def test_authenticated_outlier_is_outlier():
    bad = reading(-30 * S, auth=True)
    res = synthesize([reading(0, auth=False), reading(1 * MS), reading(2 * MS), bad])
    assert kinds(res) == [OUTLIER]


def test_ntp_outlier_without_authenticated_majority_is_outlier():
    bad = reading(30 * S, auth=False)
    res = synthesize([reading(0, auth=False), reading(1 * MS, auth=False), reading(2 * MS), bad])
    assert kinds(res) == [OUTLIER]


def test_three_sources_one_off_aborts():
    with pytest.raises(SynthesisError) as info:
        synthesize([reading(0), reading(1 * MS), reading(30 * S, auth=False)])
    assert "no clear majority" in str(info.value)
    assert isinstance(info.value, PotkitError)
    assert len(info.value.readings) == 3


def test_two_against_two_aborts():
    with pytest.raises(SynthesisError):
        synthesize([reading(0), reading(1 * MS), reading(30 * S), reading(30 * S + MS)])


def test_two_liars_among_five_are_both_isolated():
    rs = [reading(0), reading(1 * MS), reading(2 * MS), reading(30 * S, auth=False), reading(-9 * S)]
    res = synthesize(rs)
    assert res.source_count == 3 and kinds(res) == [NTP_INJECT, OUTLIER]


def test_too_few_operators_aborts():
    with pytest.raises(SynthesisError) as info:
        synthesize([reading(0, op="a"), reading(0, op="b")])
    assert "only 2" in str(info.value)
    # Three servers, two operators: still two witnesses.
    with pytest.raises(SynthesisError):
        synthesize([reading(0, op="a"), reading(0, op="b"), reading(MS, op="b")])


def test_same_operator_duplicate_is_redundant_unless_off():
    a, b, c = reading(0, op="a"), reading(MS, op="b"), reading(2 * MS, op="c")
    twin = reading(3 * MS, op="c", unc_ns=50 * MS)
    res = synthesize([a, b, c, twin])
    assert res.redundant == [twin] and res.source_count == 3
    liar_twin = reading(30 * S, op="c", auth=False)
    res = synthesize([a, b, c, liar_twin])
    assert res.isolated == [liar_twin] and kinds(res) == [NTP_INJECT]


def test_source_errors_become_alarms_and_lower_confidence():
    rs = [reading(0), reading(0), reading(0)]
    clean = synthesize(rs)
    assert clean.confidence_ppm == 1000000
    errors = [SourceError(SOURCE_AUTH, "rt.example:2002", "delegation certificate not signed"),
              SourceError(UNREACHABLE, "ntp.example:123", "no reply")]
    res = synthesize(rs, errors)
    assert kinds(res) == [SOURCE_AUTH, UNREACHABLE]
    assert res.confidence_ppm == 750000          # an authentication failure counts as a dissenter


def test_tolerance_decides_agreement():
    rs = [reading(0, unc_ns=MS), reading(0, unc_ns=MS), reading(150 * MS, unc_ns=MS), reading(0, unc_ns=MS)]
    assert len(synthesize(rs, tolerance_ns=100 * MS).isolated) == 1
    assert len(synthesize(rs, tolerance_ns=200 * MS).isolated) == 0


def test_readings_compared_by_offset_not_by_when():
    # Taken seconds apart, the same clock offset: they agree.
    rs = [reading(5 * MS, local=LOCAL), reading(5 * MS, local=LOCAL + 3 * S),
          reading(6 * MS, local=LOCAL + 7 * S)]
    res = synthesize(rs, now=(LOCAL + 10 * S, 42 * S))
    assert res.offset_ns == 5 * MS and not res.alarms
    assert res.time_ns == LOCAL + 10 * S + 5 * MS and res.monotonic_ns == 42 * S
    assert res.now_ns(monotonic_ns=43 * S) == res.time_ns + S


# --- properties -------------------------------------------------------------------------

honest_offsets = st.lists(st.integers(-50 * MS, 50 * MS), min_size=3, max_size=8)


@settings(max_examples=200, deadline=None)
@given(honest_offsets, st.integers(-10**12, 10**12), st.integers(0, 10**11), st.booleans())
def test_median_robust_to_one_arbitrary_outlier(offsets, bad_offset, bad_unc, bad_auth):
    honest = [reading(o, unc_ns=10 * MS) for o in offsets]
    liar = reading(bad_offset, unc_ns=bad_unc, auth=bad_auth)
    res = synthesize(honest + [liar], tolerance_ns=100 * MS)
    assert min(offsets) <= res.offset_ns <= max(offsets)
    assert 0 <= res.confidence_ppm <= 1000000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-10**10, 10**10), st.integers(0, 10**10), st.booleans()),
                min_size=3, max_size=9),
       st.integers(0, 10**9))
def test_confidence_in_range(specs, tolerance):
    rs = [reading(o, unc_ns=u, auth=a) for o, u, a in specs]
    try:
        res = synthesize(rs, tolerance_ns=tolerance)
    except SynthesisError:
        return
    assert 0 <= res.confidence_ppm <= 1000000
    assert res.source_count >= 3 and 2 * res.source_count > len(rs)
    assert all(abs(r.offset_ns - res.offset_ns) <= res.uncertainty_ns for r in res.used)


@given(st.integers(1, 20), st.integers(1, 20), st.integers(0, 10**10), st.integers(0, 10**10),
       st.integers(1, 10**10))
def test_confidence_function_monotone(agreeing, total, s1, s2, limit):
    assume(agreeing <= total)
    lo, hi = sorted((s1, s2))
    c_tight, c_wide = confidence_ppm(agreeing, total, lo, limit), confidence_ppm(agreeing, total, hi, limit)
    assert 0 <= c_wide <= c_tight <= 1000000                            # more spread, less confidence
    assert confidence_ppm(agreeing, total + 1, lo, limit) <= c_tight     # one more dissenter
    if agreeing < total:
        assert confidence_ppm(agreeing + 1, total, lo, limit) >= c_tight  # one dissenter agrees


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-40 * MS, 40 * MS), min_size=3, max_size=7))
def test_adding_an_agreeing_source_never_lowers_confidence(offsets):
    rs = [reading(o, unc_ns=10 * MS) for o in offsets]
    before = synthesize(rs, tolerance_ns=100 * MS)
    after = synthesize(rs + [reading(before.offset_ns, unc_ns=10 * MS)], tolerance_ns=100 * MS)
    assert after.confidence_ppm >= before.confidence_ppm


# --- real servers on loopback -------------------------------------------------------------

def ntp_source(server, op):
    return SourceConfig("ntp", host=server.host, port=server.ntp_port, operator=op, timeout=2.0)


def rt_source(server, op, key=None):
    return SourceConfig("roughtime", host=server.host, port=server.port, key=key or server.public_key,
                        version=0x80000007, operator=op, timeout=2.0)


def https_source(server, ca_file, op):
    return SourceConfig("https", url=server.url, cafile=ca_file, operator=op, timeout=3.0)


def test_real_ntp_injection_isolated(chrony, chrony_offset, pyrt, https, test_ca):
    injected = ntp_source(chrony_offset, "op-injected")
    sources = [ntp_source(chrony, "op-ntp"), injected, rt_source(pyrt, "op-roughtime"),
               https_source(https, test_ca.ca_file, "op-https")]
    res = synthesize_sources(sources, tolerance_ns=100 * MS, timeout_s=5.0)
    assert res.source_count == 3 and len(res.isolated) == 1
    assert res.isolated[0].source == injected.name
    assert abs(res.isolated[0].offset_ns - 30 * S) < 100 * MS      # faketime really is 30 s ahead
    assert kinds(res) == [NTP_INJECT]
    assert abs(res.offset_ns) < 50 * MS                              # the honest clock (ours) wins
    assert 0 < res.confidence_ppm <= 750000


def test_real_three_sources_one_off_abort(chrony, chrony_offset, pyrt):
    sources = [ntp_source(chrony, "op-a"), ntp_source(chrony_offset, "op-b"), rt_source(pyrt, "op-c")]
    with pytest.raises(SynthesisError) as info:
        synthesize_sources(sources, timeout_s=5.0)
    assert "no clear majority" in str(info.value)


def test_real_source_auth_alarms(chrony, pyrt, https, test_ca, other_ca):
    hijacked_rt = rt_source(pyrt, "op-rt-hijacked", key="X037Nr1N7ryxP4sbteGophRnnzNu1ONTC6/FTAgbr+8=")
    hijacked_tls = https_source(https, other_ca.ca_file, "op-https-hijacked")
    sources = [ntp_source(chrony, "op-ntp"), rt_source(pyrt, "op-rt"),
               https_source(https, test_ca.ca_file, "op-https"), hijacked_rt, hijacked_tls]
    res = synthesize_sources(sources, timeout_s=5.0)
    assert res.source_count == 3
    assert sorted((k, s) for k, s, _ in res.alarms) == sorted(
        [(SOURCE_AUTH, hijacked_rt.name), (SOURCE_AUTH, hijacked_tls.name)])
    assert res.confidence_ppm <= 600000                              # 3 agree out of 5 witnesses


def test_cli_time(chrony, pyrt, https, test_ca, tmp_path, capsys):
    config = {"sources": [
        {"kind": "ntp", "host": chrony.host, "port": chrony.ntp_port, "operator": "op-ntp"},
        {"kind": "roughtime", "host": pyrt.host, "port": pyrt.port, "key": pyrt.public_key,
         "version": "0x80000007", "operator": "op-rt"},
        {"kind": "https", "url": https.url, "cafile": test_ca.ca_file, "operator": "op-https"}],
        "synthesis": {"timeout_s": 5.0}}
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(config))
    assert potkit_main(["time", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "confidence" in out and "3 of distinct operators agree" in out
    for op in ("op-ntp", "op-rt", "op-https"):
        assert op in out


def test_cli_time_abort(chrony, chrony_offset, pyrt, tmp_path, capsys):
    config = [{"kind": "ntp", "host": chrony.host, "port": chrony.ntp_port, "operator": "a"},
              {"kind": "ntp", "host": chrony_offset.host, "port": chrony_offset.ntp_port, "operator": "b"},
              {"kind": "roughtime", "host": pyrt.host, "port": pyrt.port, "key": pyrt.public_key,
               "version": 0x80000007, "operator": "c"}]
    path = tmp_path / "sources.json"
    path.write_text(json.dumps(config))
    assert potkit_main(["time", "--config", str(path)]) == 3   # no trusted time
    assert "no clear majority" in capsys.readouterr().err


def test_config_validation(tmp_path):
    with pytest.raises(ConfigError):
        config_from_json({"sources": [{"kind": "roughtime", "host": "x.example"}]})   # no key
    with pytest.raises(ConfigError):
        config_from_json({"sources": [{"kind": "gps", "host": "x"}]})
    with pytest.raises(ConfigError):
        config_from_json({"sources": [{"kind": "ntp", "host": "x", "colour": "red"}]})
    with pytest.raises(ConfigError):
        config_from_json({"sources": [{"kind": "https", "url": "http://example.org/"}]})
    cfg = config_from_json([{"kind": "ntp", "host": "time.nist.gov"}])
    assert cfg.sources[0].operator == "nist.gov" and cfg.sources[0].port == 123


@pytest.mark.parametrize("source", [
    {"kind": "https", "url": "https://"},                       # no host
    {"kind": "https", "url": "https://example.org:http/"},      # bad port
    {"kind": "https", "url": 5},
    {"kind": "ntp", "host": 5},
    {"kind": "ntp"},
    {"kind": "ntp", "host": "x", "port": "abc"},
    {"kind": "ntp", "host": "x", "port": True},
    {"kind": "ntp", "host": "x", "timeout": "soon"},
    {"kind": "ntp", "host": "x", "operator": 7},
    {"kind": "nts", "host": "x", "cafile": "/no/such/ca.pem"},
    {"kind": "https", "url": "https://x/", "cafile": 1},
    {"kind": "roughtime", "host": "x", "key": 12345},
    {"kind": "roughtime", "host": "x", "key": "X037Nr1N7ryxP4sbteGophRnnzNu1ONTC6/FTAgbr+8=", "version": 5},
    {"kind": "roughtime", "host": "x", "key": "X037Nr1N7ryxP4sbteGophRnnzNu1ONTC6/FTAgbr+8=",
     "version": ["0x80000007", "0x1"]},
])
def test_bad_source_fields_are_config_errors(source):
    # A clear ConfigError when the file is read, not a crash or a source
    # that fails in every synthesis.
    with pytest.raises(ConfigError):
        config_from_json([source])


def test_bad_synthesis_settings_are_config_errors():
    ntp = {"kind": "ntp", "host": "x"}
    for synthesis in ([1], {"min_sources": "three"}, {"timeout_s": None}, {"tolerance_ms": True},
                      {"max_uncertainty_ms": 0}, {"max_uncertainty_ms": 1e9}):
        with pytest.raises(ConfigError):
            config_from_json({"sources": [ntp], "synthesis": synthesis})
    cfg = config_from_json({"sources": [ntp], "synthesis": {"min_sources": "4", "timeout_s": 2}})
    assert cfg.synthesis == {"min_sources": 4, "tolerance_ms": 100.0, "timeout_s": 2.0,
                             "max_uncertainty_ms": 10000.0}


def test_source_names_match_what_the_clients_report():
    # query_all and the alarms name a source as its client does: IPv6 in brackets.
    assert SourceConfig("ntp", host="::1", port=123).name == "[::1]:123"
    assert SourceConfig("roughtime", host="127.0.0.1", port=2002,
                        key="X037Nr1N7ryxP4sbteGophRnnzNu1ONTC6/FTAgbr+8=").name == "127.0.0.1:2002"


def test_config_dispatch_to_nts(chrony, test_ca, other_ca):
    good = SourceConfig("nts", host=chrony.host, port=chrony.nts_ke_port, cafile=test_ca.ca_file,
                        operator="op-nts", timeout=3.0)
    r = good.query()
    assert r.kind == "nts" and r.authenticated and r.operator == "op-nts"
    bad = SourceConfig("nts", host=chrony.host, port=chrony.nts_ke_port, cafile=other_ca.ca_file, timeout=3.0)
    with pytest.raises(SourceError) as info:
        bad.query()
    assert info.value.kind == SOURCE_AUTH


def test_readings_keep_configuration_order(chrony, chrony_offset, test_ca):
    # Ties between readings go to the first configured (spec 6.2), so
    # query_all must return them in configuration order, also for an NTS
    # source, whose readings are named after the NTP server NTS-KE gave.
    from potkit.synth import query_all
    nts = SourceConfig("nts", host=chrony.host, port=chrony.nts_ke_port, cafile=test_ca.ca_file,
                       operator="op-nts", timeout=3.0)
    readings, errors = query_all([nts, ntp_source(chrony_offset, "op-ntp")], timeout_s=5.0)
    assert errors == []
    assert [r.kind for r in readings] == ["nts", "ntp"]


def test_overall_deadline_marks_silent_sources_unreachable():
    import peers
    from potkit.synth import query_all
    with peers.UdpResponder(lambda request: None) as silent:   # a black hole
        src = SourceConfig("roughtime", host="127.0.0.1", port=silent.port, operator="op-silent",
                           key="X037Nr1N7ryxP4sbteGophRnnzNu1ONTC6/FTAgbr+8=", timeout=5.0)
        readings, errors = query_all([src], timeout_s=0.5)
    assert readings == [] and len(errors) == 1
    # The overall deadline's message, not the client's own "no reply within 5.0 s".
    assert errors[0].kind == UNREACHABLE and "no answer within 0.5 s" in errors[0].message
    assert errors[0].operator == "op-silent"


# --- a source that claims no precision (issue 10) ----------------------------------------------

def fake_ntp_source(server, op):
    return SourceConfig("ntp", host=server.host, port=server.ntp_port, operator=op, timeout=2.0)


def vague_roughtime(midp_shift_s):
    """An RFC Roughtime server (test_roughtime.Responder) with RADI 0xFFFFFFFF s: "+- 136 years"."""
    import base64

    import peers
    from test_roughtime import Responder

    responder = Responder(0x1, radi_s=0xFFFFFFFF, midp_shift_s=midp_shift_s)
    server = peers.UdpResponder(responder)
    source = SourceConfig("roughtime", host=server.host, port=server.port, operator="op-vague", version=1,
                          key=base64.b64encode(responder.public_key).decode(), timeout=2.0)
    return server, source


def test_ntp_root_dispersion_without_limit_is_no_witness(chrony):
    # Root dispersion 0xFFFFFFFF claims u = 65,566 s: such a reading agrees
    # with everything, and in the agreeing set it would make the result
    # +- 18 hours.
    import peers
    from potkit.sources import UNCERTAIN

    with peers.FakeNtpServer(root_dispersion=0xFFFFFFFF) as vague, peers.FakeNtpServer() as a, \
            peers.FakeNtpServer() as b:
        sources = [ntp_source(chrony, "op-chrony"), fake_ntp_source(a, "op-a"), fake_ntp_source(b, "op-b"),
                   fake_ntp_source(vague, "op-vague")]
        res = synthesize_sources(sources, timeout_s=5.0)
    assert res.source_count == 3 and all(r.operator != "op-vague" for r in res.used)
    assert [(k, s) for k, s, _ in res.alarms] == [(UNCERTAIN, sources[3].name)]
    claimed = float(res.alarms[0][2].split()[1])             # "uncertainty 65536.xxx s above the bound 10.000 s"
    assert claimed >= 65535.99 and "above the bound 10.000 s" in res.alarms[0][2], res.alarms
    assert res.uncertainty_ns < S


def test_roughtime_radius_without_limit_is_no_witness(chrony):
    # RADI 0xFFFFFFFF claims u = 4.29e9 s; counted as a witness it would give
    # confidence 999,999 ppm while that source is 3,000 s off.
    import peers
    from potkit.sources import UNCERTAIN

    server, vague = vague_roughtime(3000)
    try:
        with peers.FakeNtpServer() as a, peers.FakeNtpServer() as b:
            sources = [ntp_source(chrony, "op-chrony"), fake_ntp_source(a, "op-a"), fake_ntp_source(b, "op-b"),
                       vague]
            res = synthesize_sources(sources, timeout_s=5.0)
    finally:
        server.stop()
    assert res.source_count == 3 and kinds(res) == [UNCERTAIN]
    assert res.uncertainty_ns < S and abs(res.offset_ns) < 50 * MS
    # Confidence is that of the three witnesses left: they agree within
    # milliseconds against L = u_a + u_b + 100 ms.
    assert 900000 < res.confidence_ppm <= 1000000
    # The bound is a setting: raised above RADI, the reading is a witness again.
    res = None
    server, vague = vague_roughtime(0)
    try:
        with peers.FakeNtpServer() as a, peers.FakeNtpServer() as b:
            sources = [ntp_source(chrony, "op-chrony"), fake_ntp_source(a, "op-a"), fake_ntp_source(b, "op-b"),
                       vague]
            res = synthesize_sources(sources, timeout_s=5.0, max_uncertainty_ns=2 ** 33 * S)
    finally:
        server.stop()
    assert res.source_count == 4 and not res.alarms


def test_a_vague_source_does_not_hold_the_time_when_the_majority_steps_back(chrony):
    # One source claiming RADI 0xFFFFFFFF would make the synthesis
    # uncertainty 4.29e9 s, and "no small steps back" (potkit.timebase) would
    # then hold the time at its last value whatever the step: the honest
    # majority stepping back 10 s would freeze the issuer's time for 10 s.
    import peers
    from potkit.timebase import TimeBase

    server, vague = vague_roughtime(0)
    try:
        with peers.FakeNtpServer(10) as a, peers.FakeNtpServer(10) as b, peers.FakeNtpServer(10) as c:
            sources = [fake_ntp_source(a, "op-a"), fake_ntp_source(b, "op-b"), fake_ntp_source(c, "op-c"), vague]
            tb = TimeBase(lambda: synthesize_sources(sources, timeout_s=5.0))
            tb.refresh()
            ahead = tb.now()
            assert abs(ahead.time_ns - time.time_ns() - 10 * S) < 100 * MS     # the majority's (wrong) time
            for f in (a, b, c):
                f.offset_s = 0          # the majority corrects itself: 10 s back
            tb.refresh()
            back = tb.now()
    finally:
        server.stop()
    assert back.time_ns < ahead.time_ns                 # the step back is taken at once
    assert abs(back.time_ns - time.time_ns()) < 100 * MS and back.uncertainty_ns < S
