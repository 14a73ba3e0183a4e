# Benchmark section "codec" (run by tools/bench.py on CPython and on the
# MicroPython Unix port): record decode, the context gate, the host
# commitment path, and sharded-frame decode with 0 errors, 3-bit errors in
# every codeword and 2 erased shards. Prints figures and ratios measured in
# this run; nothing here asserts a time.
import sys

from pot import grg
from pot.grg import Grg
from pot.record import Record, pack_payload

IS_MP = sys.implementation.name == "micropython"


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
    rec = payload + grg.commitment(payload, ctx) + _bytes(2, 64)
    frame = grg.make_frame(rec, ctx)

    r = Record()
    report("codec: Record.load (structural check)", lambda: r.load(rec), 2000)

    g = Grg()
    g.set_context(ctx)
    r.load(rec)
    signed = r.signed
    assert g.check(signed)
    gate_us = report("codec: context gate Grg.check (%s)" % ("fast" if g.fast else "portable"),
                     lambda: g.check(signed), 300)
    if g.fast:
        gp = Grg(fast=False)
        gp.set_context(ctx)
        port_us = report("codec: context gate Grg.check (portable)", lambda: gp.check(signed), 200)
        host_us = report("codec: host grg.commitment()", lambda: grg.commitment(payload, ctx), 5000)
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
    for name, f in (("0 errors", clean), ("3 bit errors in every codeword", noisy), ("2 erased shards", erased)):
        p = g.open_frame(f)
        assert bytes(p) == payload, name
        report("codec: frame decode, %s" % name, lambda: g.open_frame(f), n)
    g.open_frame(noisy)
    print("  verdicts with 3 errors per codeword: %s" % list(g.verdicts))

    try:
        from pot.ed25519 import crypto_ed25519_verify
    except ImportError as e:
        print("  (no Ed25519 ratio: %s)" % e)
        return
    # RFC 8032 section 7.1 test 1 (empty message): a full, successful verify.
    import binascii

    pk = binascii.unhexlify("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = binascii.unhexlify("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
                             "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert crypto_ed25519_verify(pk, b"", sig)
    # Timed here with the collector on (report() disables it, and a verify
    # allocates more than the heap of the Unix port holds without a collection).
    from benchlib import ticks_diff, ticks_us

    n = 5 if IS_MP else 50
    t0 = ticks_us()
    for _ in range(n):
        crypto_ed25519_verify(pk, b"", sig)
    ed_us = ticks_diff(ticks_us(), t0) / n
    print("%-44s %10.1f us %8s B/call" % ("codec: (for the ratio) Ed25519 verify", ed_us, "-"))
    print("  context gate / Ed25519 verify = 1/%.0f" % (ed_us / gate_us))
