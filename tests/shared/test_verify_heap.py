#: heapsize=88k
#: mpy
# A full verify (structure, context gate, Ed25519) in a small heap, the
# budget of a small board with Wi-Fi running. Target: 48 KiB (the issue's
# `micropython -X heapsize=48k`). NOT MET YET: the heapsize line above is
# the smallest round size that passes with some margin while pot.ed25519
# is still being optimised; lower it as the modules shrink. The figures
# this test prints say where the heap goes.
#
# How it is measured, honestly: a board runs precompiled code (.mpy files
# or frozen modules), so the runner (tools/run_tests.py, directive "#: mpy"
# above) compiles firmware/pot and the shared test files with mpy-cross for
# this machine's native architecture and starts `micropython -X heapsize=`
# the size above with nothing else: no compile heap, no ballast. Everything
# lives in that heap: the interpreter's own start-up objects, the test
# driver, every pot module's bytecode and tables (on the Unix port .mpy
# code is loaded into the heap, so this is stricter than a board with
# frozen modules, whose bytecode and tables stay in flash), the Verifier
# and every temporary of the verifies. 64-bit pointers also make objects
# bigger here than on a 32-bit board.
#
# The runner's --heapsize option shows the test can fail: with
#   tools/run_tests.py --heapsize 24k test_verify_heap
# the imports alone raise MemoryError.
#
# Printed (the runner shows lines starting with two spaces): the heap used
# after the imports and after building the Verifier, and the peak of a full
# verify, measured as the smallest free heap it runs in (the rest filled by
# ballast, bisected to 256 bytes) added to what stays allocated.
import gc

from testlib import IS_MICROPYTHON, heap_alloc, unhex, vector_path

MS = 1000000


def _vector_lines(kinds, names=None):
    # Field tuples of the lines of verifier_records.txt whose first field is
    # in kinds (and second in names, if given), read one line at a time.
    with open(vector_path("verifier_records.txt")) as f:
        for line in f:
            if line[0] != "#":
                fields = line.split()
                if fields and fields[0] in kinds and (names is None or fields[1] in names):
                    yield fields


def _named(names):
    out = {}
    for fields in _vector_lines(("key", "ctx", "seq"), names):
        out[fields[1]] = fields
    return out


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


def _peak_budget(fn, hi):
    # The smallest free heap (to 256 bytes) that fn() runs in, or None if
    # not even `hi` is enough.
    if not _fits(hi, fn):
        return None
    lo = 0
    while hi - lo > 256:
        mid = (lo + hi) // 2
        if _fits(mid, fn):
            hi = mid
        else:
            lo = mid
    return hi


def test_full_verify_of_every_vector_case():
    # Every "case" vector of verifier_records.txt (one verify on a fresh
    # verifier state, ctx A): OK records and every rejection (structure,
    # FUTURE, CHALLENGE, CROSS_CONTEXT, FORGE, STALE), each with its
    # expected verdict, then the stateful ones (REPLAY, ORDERING). One
    # Verifier is reused: clearing its cache and ordering floor gives the
    # state of a new one without building one per case.
    if IS_MICROPYTHON:
        gc.collect()
        start = heap_alloc()
    from pot.verifier import Verifier, NAMES, OK, REPLAY, ORDERING, CROSS_CONTEXT

    import pot.ed25519  # noqa: F401  (the default signature check)

    if IS_MICROPYTHON:
        gc.collect()
        imported = heap_alloc()
    v = _named(("public_key", "ctx_a", "ctx_b", "seq0", "seq1"))
    pk, ctx_a, ctx_b = unhex(v["public_key"][5]), unhex(v["ctx_a"][5]), unhex(v["ctx_b"][5])
    ts0, rec0 = int(v["seq0"][2]), unhex(v["seq0"][5])
    ts1, rec1 = int(v["seq1"][2]), unhex(v["seq1"][5])
    del v
    ver = Verifier(pk)
    if IS_MICROPYTHON:
        gc.collect()
        built = heap_alloc()

    seen = {}
    for fields in _vector_lines(("case",)):
        now = None if fields[3] == "-" else int(fields[3])
        challenge = None if fields[4] == "-" else unhex(fields[4])
        record = unhex(fields[5])
        ver.cache.clear()
        ver.last_ts = -1
        got = NAMES[ver.verify(record, ctx_a, now, challenge)]
        assert got == fields[6], (fields[1], got, fields[6])
        seen[got] = seen.get(got, 0) + 1
        del record, challenge
    for name in ("OK", "PROTO_VIOLATION", "FUTURE", "CHALLENGE", "CROSS_CONTEXT", "FORGE", "STALE"):
        assert seen.get(name, 0) >= 1, (name, seen)
    assert seen["OK"] >= 10

    # State across records: a replay, ordering, and a record for another
    # context (its commitment does not match ctx A).
    ver.cache.clear()
    ver.last_ts = -1
    assert ver.verify(rec0, ctx_a, ts0 + 1 * MS) == OK
    assert ver.verify(rec0, ctx_a, ts0 + 2 * MS) == REPLAY
    assert ver.verify(rec1, ctx_b, ts1 + 1 * MS) == CROSS_CONTEXT
    assert ver.verify(rec1, ctx_a, ts1 + 1 * MS) == OK
    ver.cache.clear()
    assert ver.verify(rec0, ctx_a, ts1 + 1 * MS) == ORDERING

    if not IS_MICROPYTHON:
        return

    def full_verify():
        ver.cache.clear()
        ver.last_ts = -1
        if ver.verify(rec0, ctx_a, ts0 + 1 * MS) != OK:
            raise AssertionError("the seq0 record does not verify")

    gc.collect()
    resident = heap_alloc()
    need = _peak_budget(full_verify, gc.mem_free())
    assert need is not None
    total = gc.mem_alloc() + gc.mem_free()
    print("  heap %d B: start %d, +imports %d, +Verifier %d, resident %d; a full verify needs %d free: peak %d (%d%%)"
          % (total, start, imported - start, built - imported, resident, need, resident + need,
             (resident + need) * 100 // total))


def test_rejection_before_ed25519_allocates_little():
    # The context gate runs on every received record, so it must not churn
    # the heap: measured with the collector off, per rejected record. The
    # pipeline itself allocates nothing (structure rejection: 0 bytes); a
    # wrong-context rejection allocates exactly what the GRG gate does
    # (pot.grg: hashlib objects and digests of the six HMACs, ~3 KB on the
    # Unix port), with a generous absolute bound against regressions.
    from pot.verifier import Verifier, CROSS_CONTEXT, PROTO_VIOLATION
    from pot.grg import Grg

    v = _named(("public_key", "ctx_b", "seq2"))
    pk, ctx_b = unhex(v["public_key"][5]), unhex(v["ctx_b"][5])
    ts, rec = int(v["seq2"][2]), unhex(v["seq2"][5])
    del v
    ver = Verifier(pk, ed25519=lambda pk, m, s: False)
    assert ver.verify(rec, ctx_b, ts) == CROSS_CONTEXT  # warm: key derived once
    bad = bytearray(rec)
    bad[2] = 1
    if not IS_MICROPYTHON:
        assert heap_alloc() is None
        return
    g = Grg()
    g.set_context(ctx_b)
    g.check(rec)
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
        a0 = heap_alloc()
        for _ in range(n):
            assert fn() == expected
        return (heap_alloc() - a0) // n
    finally:
        gc.enable()
