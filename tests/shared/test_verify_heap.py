#: heapsize=66k
#: mpy
# A full verify (structure, context gate, Ed25519) in a small heap. The
# issue's target: "a full verify succeeds on `micropython -X heapsize=48k`".
# NOT MET on the Unix port: the heapsize line above is the smallest size
# (in 2k steps) this test passes in; at 64k it raises MemoryError. Where
# the heap goes (x64 Unix port, measured with this file's printout and
# per-import probes, pot.ed25519 of commit 8f6d7c4):
#   start 7.4k      interpreter 1.0k, tests/shared/mptest.py 0.8k, this
#                   module 4.8k (with the qstr pools its names open)
#   imports 41.4k   the verify path (pot, compat, record, hmacsha256, rice,
#                   rs, golay and their tables, grg, nonces, verifier)
#                   ~23k; pot.ed25519 with sha512, ed25519_field and
#                   ed25519_table ~18.4k
#   Verifier 4.7k   record buffer 0.5k, GRG buffers 1.3k, replay cache of
#                   32 nonces 1.4k, context key, instance dicts
#   after a verify  +3.3k kept by pot.ed25519 (its point table and cached
#                   key), then a verify needs a few KB free (hash objects
#                   of the GRG gate, Ed25519 temporaries)
# Of the imports, 10.6k are interned names (qstrs: 345 of them, and the
# 301st makes MicroPython allocate a 320-entry pool, ~4k, at once).
# What 48k would take: a board with frozen firmware keeps all module code,
# tables and qstrs in flash, leaving in RAM the objects only (the Verifier
# 4.7k, what pot.ed25519 keeps 3.3k, a verify's temporaries). On the Unix
# port it needs a micropython built with the firmware frozen in (a custom
# FROZEN_MANIFEST build), or ~15k less loaded code and names: pot.ed25519
# alone is 21.7k with what it keeps after a verify.
#
# How it is measured, honestly: a board runs precompiled code (.mpy files
# or frozen modules), so the runner (tools/run_tests.py, directive "#: mpy"
# above) compiles firmware/pot and the shared test files with mpy-cross for
# this machine's native architecture and starts `micropython -X heapsize=`
# the size above with nothing else: no compile heap, no ballast. Everything
# lives in that heap: the interpreter's own start-up objects, the test
# driver, every pot module's bytecode, tables and interned names (on the
# Unix port .mpy code and qstrs are loaded into the heap, so this is
# stricter than a board with frozen modules, whose bytecode, tables and
# qstrs stay in flash), the Verifier and every temporary of the verifies.
# 64-bit pointers also make objects bigger here than on a 32-bit board.
#
# Lean on purpose: this module imports nothing but gc, sys, binascii and
# the firmware (no testlib; tests/shared/mptest.py loads none either), and
# reads the vector file one line at a time, so the figures below are the
# firmware's and not the harness's.
#
# The runner's --heapsize option shows the test can fail: with
#   tools/run_tests.py --heapsize 64k test_verify_heap
# it raises MemoryError.
#
# Printed (the runner shows lines starting with two spaces): the heap used
# at start (interpreter, driver, this module), after the imports and after
# building the Verifier, and the peak of a full verify, measured as the
# smallest free heap it runs in (the rest filled by ballast, bisected to
# 256 bytes) added to what stays allocated.
import gc
import sys
from binascii import unhexlify

_MP = sys.implementation.name == "micropython"
_MS = 1000000
# The Verifier's replay cache capacity in this test: the verifier's default
# (pot.verifier.DEFAULT_CACHE_CAPACITY, 32 slots), asserted below, so the
# budget is the one of a default Verifier.
_CACHE = 32


def _lines(kinds):
    # Field lists of the lines of verifier_records.txt whose first field is
    # in kinds, read one line at a time (the file is 30 KB).
    for d in ("tests/vectors/", __file__[: __file__.rfind("/") + 1] + "../vectors/", "vectors/"):
        try:
            f = open(d + "verifier_records.txt")
            break
        except OSError:
            pass
    with f:
        for line in f:
            fields = line.split()
            if fields and fields[0] in kinds:
                yield fields


def _alloc():
    gc.collect()
    return gc.mem_alloc()


def _fits(budget, fn):
    # True when fn() runs with only `budget` bytes of the heap free: the
    # rest is taken by ballast blocks (the free heap is fragmented, so
    # several, each as large as will fit). MicroPython only.
    chunks = []
    try:
        while True:
            gc.collect()
            size = gc.mem_free() - budget - 64  # 64: the list's own growth
            if size < 32:
                break
            while size >= 32:
                try:
                    chunks.append(bytearray(size))
                    break
                except MemoryError:
                    size //= 2
            if size < 32:
                break
        fn()
        return True
    except MemoryError:
        return False
    finally:
        chunks = None
        gc.collect()


def test_full_verify_of_every_vector_case():
    # Every "case" vector of verifier_records.txt (one verify on a fresh
    # verifier state, ctx A): OK records and every rejection (structure,
    # FUTURE, CHALLENGE, CROSS_CONTEXT, FORGE, STALE), each with its
    # expected verdict, then the stateful ones (REPLAY, ORDERING). One
    # Verifier is reused: clearing its cache and ordering floor gives the
    # state of a new one without building one per case.
    start = _alloc() if _MP else 0
    from pot.verifier import Verifier, NAMES, OK, REPLAY, ORDERING, CROSS_CONTEXT, DEFAULT_CACHE_CAPACITY

    import pot.ed25519  # noqa: F401  (the default signature check)

    imported = _alloc() if _MP else 0
    v = {}
    for fields in _lines(("key", "ctx", "seq")):
        if fields[1] in ("public_key", "ctx_a", "ctx_b", "seq0", "seq1"):
            v[fields[1]] = (fields[2], unhexlify(fields[5]))
    pk, ctx_a, ctx_b = v["public_key"][1], v["ctx_a"][1], v["ctx_b"][1]
    ts0, rec0 = int(v["seq0"][0]), v["seq0"][1]
    ts1, rec1 = int(v["seq1"][0]), v["seq1"][1]
    v = None
    assert DEFAULT_CACHE_CAPACITY == _CACHE
    ver = Verifier(pk, cache_capacity=_CACHE)
    built = _alloc() if _MP else 0

    seen = {}
    for fields in _lines(("case",)):
        now = None if fields[3] == "-" else int(fields[3])
        challenge = None if fields[4] == "-" else unhexlify(fields[4])
        ver.cache.clear()
        ver.last_ts = -1
        got = NAMES[ver.verify(b"" if fields[5] == "-" else unhexlify(fields[5]), ctx_a, now, challenge)]
        assert got == fields[6], (fields[1], got, fields[6])
        seen[got] = seen.get(got, 0) + 1
    for name in ("OK", "PROTO_VIOLATION", "FUTURE", "CHALLENGE", "CROSS_CONTEXT", "FORGE", "STALE"):
        assert seen.get(name, 0) >= 1, (name, seen)
    assert seen["OK"] >= 10

    # State across records: a replay, ordering, and a record for another
    # context (its commitment does not match ctx A).
    ver.cache.clear()
    ver.last_ts = -1
    assert ver.verify(rec0, ctx_a, ts0 + 1 * _MS) == OK
    assert ver.verify(rec0, ctx_a, ts0 + 2 * _MS) == REPLAY
    assert ver.verify(rec1, ctx_b, ts1 + 1 * _MS) == CROSS_CONTEXT
    assert ver.verify(rec1, ctx_a, ts1 + 1 * _MS) == OK
    ver.cache.clear()
    assert ver.verify(rec0, ctx_a, ts1 + 1 * _MS) == ORDERING

    if not _MP:
        return

    def full_verify():
        ver.cache.clear()
        ver.last_ts = -1
        if ver.verify(rec0, ctx_a, ts0 + 1 * _MS) != OK:
            raise AssertionError("the seq0 record does not verify")

    resident = _alloc()
    # The smallest free heap (to 256 bytes) that a full verify runs in.
    hi = gc.mem_free()
    assert _fits(hi, full_verify)
    lo = 0
    while hi - lo > 256:
        mid = (lo + hi) // 2
        if _fits(mid, full_verify):
            hi = mid
        else:
            lo = mid
    total = gc.mem_alloc() + gc.mem_free()
    print("  heap %d B: start %d, +imports %d, +Verifier %d (cache %d), resident %d; a full verify needs %d free:"
          " peak %d (%d%%)" % (total, start, imported - start, built - imported, _CACHE, resident, hi,
                               resident + hi, (resident + hi) * 100 // total))


def test_rejection_before_ed25519_allocates_little():
    # The context gate runs on every received record, so it must not churn
    # the heap: measured with the collector off, per rejected record. The
    # pipeline itself allocates nothing (structure rejection: 0 bytes); a
    # wrong-context rejection allocates exactly what the GRG gate does
    # (pot.grg: hashlib objects and digests of the six HMACs, ~3 KB on the
    # Unix port), with a generous absolute bound against regressions.
    from pot.verifier import Verifier, CROSS_CONTEXT, PROTO_VIOLATION

    v = {}
    for fields in _lines(("key", "ctx", "seq")):
        if fields[1] in ("public_key", "ctx_b", "seq2"):
            v[fields[1]] = (fields[2], unhexlify(fields[5]))
    pk, ctx_b = v["public_key"][1], v["ctx_b"][1]
    ts, rec = int(v["seq2"][0]), v["seq2"][1]
    v = None
    ver = Verifier(pk, ed25519=lambda pk, m, s: False)
    assert ver.verify(rec, ctx_b, ts) == CROSS_CONTEXT  # warm: key derived once
    bad = bytearray(rec)
    bad[2] = 1
    if not _MP:
        return
    g = ver._grg  # the same gate, called alone
    proto = _alloc_per_call(lambda: ver.verify(bad, ctx_b, ts), PROTO_VIOLATION)
    gate = _alloc_per_call(lambda: ver.verify(rec, ctx_b, ts), CROSS_CONTEXT)
    gate_alone = _alloc_per_call(lambda: g.check(rec), False)
    assert proto == 0, proto
    assert gate <= gate_alone, (gate, gate_alone)
    assert gate <= 4096, gate


def _alloc_per_call(fn, expected, n=2):
    # Bytes allocated per call of fn (which must return `expected`), with
    # the collector off during the n calls (few: the heap is small, and a
    # call allocates the same every time).
    gc.collect()
    gc.disable()
    try:
        a0 = gc.mem_alloc()
        for _ in range(n):
            assert fn() == expected
        return (gc.mem_alloc() - a0) // n
    finally:
        gc.enable()
