#: heapsize=160k
#: mpy
# A full verify (structure, context gate, Ed25519) within a 48 KiB heap, the
# budget of a small board with Wi-Fi running.
#
# On a board the pot modules are frozen: their bytecode and constant tables
# (Golay, GF, the Ed25519 base table) stay in flash and only data uses the
# heap. The Unix port cannot freeze without a custom build, and loading the
# modules puts ~70 KiB of bytecode and tables on its heap (measured: no
# heapsize below ~80k even imports them). So the runner starts this module
# with 160k, the test imports everything first (the "flash" part), then
# fills all the free heap but 48 KiB with one ballast block, and only then
# builds the Verifier and verifies: every byte the verifier allocates (its
# buffers, the Ed25519 big-int temporaries between collections) must fit
# in those 48 KiB. tools/bench_verify.py reports the smallest budget that
# works. Records are read from the vector file one line at a time.
import gc

from testlib import vector_path, unhex, heap_alloc, IS_MICROPYTHON

MS = 1000000


def _lines(names):
    # The vector lines whose second field is in names, as field tuples.
    out = {}
    with open(vector_path("verifier_records.txt")) as f:
        for line in f:
            if line[0] != "#":
                fields = line.split()
                if len(fields) > 1 and fields[1] in names:
                    out[fields[1]] = fields
    return out


BUDGET = 48 * 1024


def _ballast(budget):
    # Occupy all free heap but `budget` bytes (MicroPython only). The free
    # heap is fragmented (holes between the loaded modules), so the ballast
    # is several blocks, each as large as will fit.
    if not IS_MICROPYTHON:
        return None
    chunks = []
    gc.collect()
    assert gc.mem_free() > budget, "the runner's heap is too small for this test"
    while True:
        gc.collect()
        size = gc.mem_free() - budget - 64  # 64: the chunk list's own growth
        if size < 32:
            return chunks
        while True:
            try:
                chunks.append(bytearray(size))
                break
            except MemoryError:
                size //= 2
                if size < 32:
                    return chunks


def test_full_verify_in_48k_heap():
    from pot.verifier import Verifier, OK, CROSS_CONTEXT, REPLAY
    import pot.ed25519  # noqa: F401  (code: flash on a board)

    v = _lines(("public_key", "ctx_a", "ctx_b", "seq0", "seq1"))
    pk, ctx_a, ctx_b = unhex(v["public_key"][5]), unhex(v["ctx_a"][5]), unhex(v["ctx_b"][5])
    ts0, rec0 = int(v["seq0"][2]), unhex(v["seq0"][5])
    ts1, rec1 = int(v["seq1"][2]), unhex(v["seq1"][5])
    del v
    ballast = _ballast(BUDGET)
    if IS_MICROPYTHON:
        gc.collect()
        assert gc.mem_free() <= BUDGET + 1024, gc.mem_free()  # ballast granularity
    ver = Verifier(pk)
    assert ver.verify(rec0, ctx_a, ts0 + 1 * MS) == OK
    assert ver.verify(rec0, ctx_a, ts0 + 2 * MS) == REPLAY
    assert ver.verify(rec1, ctx_b, ts1 + 1 * MS) == CROSS_CONTEXT
    assert ver.verify(rec1, ctx_a, ts1 + 1 * MS) == OK
    del ballast


def test_rejection_before_ed25519_allocates_little():
    # The context gate runs on every received record, so it must not churn
    # the heap: measured with the collector off, per rejected record. The
    # pipeline itself allocates nothing (structure rejection: 0 bytes); a
    # wrong-context rejection allocates exactly what the GRG gate does
    # (pot.grg: hashlib objects and digests of the six HMACs, ~3 KB on the
    # Unix port), with a generous absolute bound against regressions.
    from pot.verifier import Verifier, CROSS_CONTEXT, PROTO_VIOLATION
    from pot.grg import Grg

    v = _lines(("public_key", "ctx_b", "seq2"))
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
    gc.collect()
    gc.disable()
    try:
        a0 = heap_alloc()
        for _ in range(10):
            assert ver.verify(bad, ctx_b, ts) == PROTO_VIOLATION
        proto = (heap_alloc() - a0) // 10
        a0 = heap_alloc()
        for _ in range(10):
            assert ver.verify(rec, ctx_b, ts) == CROSS_CONTEXT
        gate = (heap_alloc() - a0) // 10
        g = Grg()
        g.set_context(ctx_b)
        g.check(rec)
        a0 = heap_alloc()
        for _ in range(10):
            assert not g.check(rec)
        gate_alone = (heap_alloc() - a0) // 10
    finally:
        gc.enable()
    assert proto == 0, proto
    assert gate <= gate_alone, (gate, gate_alone)
    assert gate <= 4096, gate
