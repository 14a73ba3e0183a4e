#: heapsize=48k
#: frozen-heapsize=32k
#: mpy
#: standalone
# A full verify (structure, context gate, Ed25519) in a small heap. The
# issue's target: "a full verify succeeds on `micropython -X heapsize=48k`".
# On the Unix port it does, and the line above is that target itself:
# every heap from 48,560 bytes up passes (checked in 128-byte steps to
# 52 KB and 256-byte steps to 60 KB), 47k passed too, so 48k (49,152)
# has about 0.6-1 KB of margin over the smallest that works. Below that
# the heap runs out, with some free memory left in pieces too small
# (MicroPython never moves objects): `tools/run_tests.py --heapsize 46k
# test_verify_heap` raises MemoryError. What keeps it this small (x64 Unix
# port, .mpy firmware): the RS and Golay encoders compute parity without
# tables (1.3 KB + 0.7 KB saved), the w-NAF widths 4 for B (a 768-byte
# table, 3 % slower) and 3 for A and R (half the per-verify point tables,
# same speed), SHA-512's message schedule as 16 rolling words rather than
# 80, no one-byte constants for the shard index nor a tuple per G1 field,
# pot.ed25519 loaded first, and this module run as the script (no driver)
# with its allocation check folded into the verify test.
# Measured at 49k (printed by this test; the same within 0.1k at 48k): start 7.4k (interpreter 1.0k,
# this module ~6k with its 512-byte line buffer and its names), the test's
# keys and records 0.6k, firmware modules and the Verifier 30.9k, resident
# after the verifies 40.8k; a verify's temporaries come on top.
#
# How it is measured, honestly: a board runs precompiled code (.mpy files
# or frozen modules), so the runner (tools/run_tests.py, directive "#: mpy"
# above) compiles firmware/pot and this file with mpy-cross for this
# machine's native architecture and starts `micropython -X heapsize=` the
# size above with nothing else: no compile heap, no ballast, no driver
# ("#: standalone": the runner runs this module as the script, and the
# block at its end prints the driver's lines). Everything lives in that
# heap: the interpreter's own start-up objects, every pot module's
# bytecode, tables and interned names (on the Unix port .mpy bytecode and
# qstrs are loaded into the heap, so this is stricter than a board with
# frozen modules, whose bytecode, tables and qstrs stay in flash), the
# Verifier and every temporary of the verifies. 64-bit pointers and 32-byte
# heap blocks also make objects bigger here than on a 32-bit board. (Native
# and viper machine code is the exception: the Unix port maps it outside
# the heap, so on this port a @native function costs less heap than
# bytecode, not more.)
#
# Lean on purpose: this module imports nothing but gc, sys, binascii and
# the firmware (no testlib), so the figures are the firmware's and not the
# harness's.
import gc
import sys
from binascii import unhexlify

_MP = sys.implementation.name == "micropython"


def _alloc():
    gc.collect()
    return gc.mem_alloc() if _MP else 0


# One line of the vector file at a time (the longest is 421 bytes), in a
# buffer taken once, first: a line read with readline() is a new string
# grown 16 bytes at a time, and in a heap that the verifies have cut into
# small pieces (MicroPython never moves objects) 400 contiguous bytes may
# not be free while 8 KB in pieces are.
_BUF = bytearray(512)


def _lines():
    # The vector lines of verifier_records.txt as lists of fields:
    # memoryviews into _BUF, valid until the next line.
    for d in ("tests/vectors/", "vectors/", __file__[: __file__.rfind("/") + 1] + "../vectors/"):
        try:
            f = open(d + "verifier_records.txt", "rb")
            break
        except OSError:
            pass
    buf = _BUF
    mv = memoryview(buf)
    have = 0
    with f:
        while True:
            have += f.readinto(mv[have:])
            if not have:
                return
            end = buf.find(b"\n", 0, have)
            if end < 0:
                end = have  # the last line, without a newline
            w = []
            i = 0
            while i < end:
                j = buf.find(b" ", i, end)
                if j < 0:
                    j = end
                if j > i:
                    w.append(mv[i:j])
                i = j + 1
            if len(w) == 7 and w[0] != b"#":
                yield w
            w = None
            rest = max(have - end - 1, 0)
            buf[0:rest] = mv[end + 1 : have]
            have = rest


def _hex(x):
    # A hex field as bytes ("-": empty).
    return b"" if x == b"-" else unhexlify(x)


def _int(x):
    # A decimal field as an int, or None for "-".
    return None if x == b"-" else int(bytes(x))


def _named(names):
    # {name: (T_NS or None, the hex field)} of the key, ctx and seq lines named.
    out = {}
    for w in _lines():
        if w[1] in names:
            out[bytes(w[1])] = (_int(w[2]), _hex(w[5]))
    return out


# The verdicts this test expects (spec 4.2), here rather than from pot.spec,
# whose every public name would count against the heap measured here.
NAMES = ("OK", "PROTO_VIOLATION", "FUTURE", "CROSS_CONTEXT", "FORGE", "STALE", "REPLAY", "BUSY", "ORDERING", "CHALLENGE")
OK = 0
PROTO_VIOLATION = 1
CROSS_CONTEXT = 3
REPLAY = 6
ORDERING = 8


def test_full_verify_of_every_vector_case():
    # Every "case" vector (one verify on a fresh verifier state, ctx A): OK
    # records and every rejection (structure, FUTURE, CHALLENGE,
    # CROSS_CONTEXT, FORGE, STALE), each with its expected verdict, then
    # the stateful ones (REPLAY, ORDERING), then what a rejection before
    # Ed25519 allocates. One default Verifier: clearing its cache and
    # ordering floor gives the state of a new one.
    start = _alloc()
    v = _named((b"public_key", b"ctx_a", b"ctx_b", b"seq0", b"seq1"))
    pk = v[b"public_key"][1]
    ctx_a = v[b"ctx_a"][1]
    ctx_b = v[b"ctx_b"][1]
    ts0, rec0 = v[b"seq0"]
    ts1, rec1 = v[b"seq1"]
    v = None
    keys = _alloc()
    # A device's order: the firmware first, pot.ed25519 (the largest, the
    # default signature check that the Verifier would load) before the
    # rest, while the heap is in one piece.
    import pot.ed25519
    from pot.verifier import Verifier
    from pot.compat import WORD_BITS

    ver = Verifier(pk)
    assert ver.cache.capacity == 32  # the default: a default Verifier's budget
    built = _alloc()

    # The context gate runs on every received record, so it must not churn
    # the heap: measured with the collector off, per rejected record. The
    # pipeline itself allocates nothing (structure rejection: 0 bytes); a
    # wrong-context rejection allocates exactly what the GRG gate does
    # (pot.grg: hashlib objects and digests of the six HMACs, ~3 KB on the
    # Unix port), with a generous absolute bound against regressions.
    # Measured before the verifies: with the collector off those 3 KB of
    # garbage need 3 KB of free pieces, which a heap cut small by the
    # verifies may lack (the gate's allocation does not depend on them).
    if _MP:
        assert ver.verify(rec1, ctx_b, ts1) == CROSS_CONTEXT  # warm: ctx B's key derived once
        bad = bytearray(rec1)
        bad[2] = 1
        assert _alloc_per_call(lambda: ver.verify(bad, ctx_b, ts1), PROTO_VIOLATION) == 0
        gate = _alloc_per_call(lambda: ver.verify(rec1, ctx_b, ts1), CROSS_CONTEXT)
        alone = _alloc_per_call(lambda: ver._grg.check(rec1), False)  # the same gate, alone
        # What the pipeline adds to the gate: nothing on a 64-bit port; on
        # a 32-bit board the u64 timestamp as a long int (pot.record) and
        # ts - now for the FUTURE check, 48 + 32 B on the 32-bit Unix port.
        extra = gate - alone
        assert extra <= (0 if WORD_BITS == 64 else 96), (gate, alone)
        assert gate <= 4096, gate
        bad = None

    seen = set()
    oks = 0
    for w in _lines():
        if w[0] == b"case":
            ver.cache.clear()
            ver.last_ts = -1
            got = NAMES[ver.verify(_hex(w[5]), ctx_a, _int(w[3]), None if w[4] == b"-" else _hex(w[4]))]
            assert w[6] == got.encode(), (bytes(w[1]), got, bytes(w[6]))
            seen.add(got)
            oks += got == "OK"
    for name in ("PROTO_VIOLATION", "FUTURE", "CHALLENGE", "CROSS_CONTEXT", "FORGE", "STALE"):
        assert name in seen, (name, seen)
    assert oks >= 10, oks

    # State across records: a replay, ordering, and a record for another
    # context (its commitment does not match ctx A).
    ver.cache.clear()
    ver.last_ts = -1
    assert ver.verify(rec0, ctx_a, ts0 + 1000000) == OK
    assert ver.verify(rec0, ctx_a, ts0 + 2000000) == REPLAY
    assert ver.verify(rec1, ctx_b, ts1 + 1000000) == CROSS_CONTEXT
    assert ver.verify(rec1, ctx_a, ts1 + 1000000) == OK
    ver.cache.clear()
    assert ver.verify(rec0, ctx_a, ts1 + 1000000) == ORDERING
    if _MP:
        resident = _alloc()
        print("  heap %d B: start %d, +vectors %d, +firmware and Verifier %d, resident after verifies %d"
              % (gc.mem_alloc() + gc.mem_free(), start, keys - start, built - keys, resident))


def _alloc_per_call(fn, expected):
    # Bytes allocated by one call of fn (which must return `expected`),
    # with the collector off during the call (a call allocates the same
    # every time; one, because with the collector off a small heap holds
    # few calls' worth of garbage).
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        assert fn() == expected
        return gc.mem_alloc() - a0
    finally:
        gc.enable()


if __name__ == "__main__":
    # Run as the script (tools/run_tests.py, "#: standalone"): the driver's
    # lines, printed here so that tests/shared/mptest.py is not in the heap.
    for t in (test_full_verify_of_every_vector_case,):
        try:
            t()
            print("ok", t.__name__)
        except Exception as e:
            print("FAIL", t.__name__, repr(e))
            sys.print_exception(e)
    print("DONE")
