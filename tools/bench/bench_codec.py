# Benchmark section "codec" (run by tools/bench/bench.py on CPython and on the
# MicroPython Unix port): record decode, the context gate, the host
# commitment path, and sharded-frame decode with 0 errors, 3-bit errors in
# every codeword and 2 erased shards. Prints figures and ratios measured in
# this run; nothing here asserts a time. (The cost of the gate against an
# Ed25519 verify is printed by the "verify" section, bench_verify.py.)
from benchlib import IS_MP
from pot import grg, host
from pot.grg import Grg
from pot.host import pack_payload
from pot.record import Record


def _bytes(seed, n):
    # Deterministic filler (xorshift32), no testlib on the bench path.
    out = bytearray(n)
    x = seed
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x & 0xFF
    return bytes(out)


def _flip(buf, bit):
    buf[bit >> 3] ^= 0x80 >> (bit & 7)


def run(report):
    ctx = grg.context_device(b"bench-device-0001")
    payload = pack_payload(2, 4, 1760000000123456789, 999250, _bytes(1, 32))
    rec = payload + host.commitment(payload, ctx) + _bytes(2, 64)
    frame = host.make_frame(rec, ctx)

    r = Record()
    report("codec: Record.load (structural check)", lambda: r.load(rec), 2000)

    g = Grg()
    g.set_context(ctx)
    r.load(rec)
    signed = r.signed
    assert g.check(signed)
    port_us = report("codec: context gate Grg.check (portable)", lambda: g.check(signed), 200)
    if not IS_MP:
        from pot import fastpath

        gf = Grg(fastpath)
        gf.set_context(ctx)
        gate_us = report("codec: context gate Grg.check (fast)", lambda: gf.check(signed), 300)
        host_us = report("codec: host.commitment()", lambda: host.commitment(payload, ctx), 5000)
        print("  host commitments per second on one core: %.0f (portable path: %.0f, fast/portable speed-up %.1fx)"
              % (1e6 / host_us, 1e6 / port_us, port_us / gate_us))
    report("codec: Grg.set_context (key derivation)", lambda: g.set_context(ctx), 300)

    clean = bytearray(frame)
    noisy = bytearray(frame)
    for s in range(6):
        for w in range(10):
            for b in (1, 9, 17):
                _flip(noisy, s * 296 + w * 23 + b)
    erased = bytearray(frame)
    for s in (1, 4):
        erased[37 * s + 3] ^= 0xFF
    n = 100 if IS_MP else 300
    grgs = [("", g)]
    if not IS_MP:
        grgs.append(("fast ", gf))
    for label, gg in grgs:
        for name, f in (("0 errors", clean), ("3 bit errors in every codeword", noisy), ("2 erased shards", erased)):
            p = gg.open_frame(f)
            assert bytes(p) == payload, name
            report("codec: %sframe decode, %s" % (label, name), lambda: gg.open_frame(f), n)
    g.open_frame(noisy)
    print("  verdicts with 3 errors per codeword: %s" % list(g.verdicts))
