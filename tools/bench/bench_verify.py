# Benchmark of the verifier pipeline (section "verify" of tools/bench/bench.py):
#   python3 tools/bench/bench.py
#   MICROPYPATH=firmware:tools/bench micropython tools/bench/bench.py
#   MICROPYPATH=firmware:tools/bench micropython tools/bench/bench_verify.py   (this section only)
#
# Prints, measured in this run: Ed25519 verify, a full verify (OK path),
# the rejections that stop before Ed25519 (structure, wrong context) and
# their cost as a fraction of a full verify (target: wrong context <= 1/50)
# and of the Ed25519 verify alone,
# a replay-cache lookup (full cache, miss: the worst case), and on
# MicroPython the smallest free heap a full verify runs in (code frozen or
# already loaded; see tests/shared/test_verify_heap.py).
import gc
import sys

from benchlib import report, ticks_us, ticks_diff, IS_MP

MS = 1000000
VECTORS = "verifier_records.txt"


def _vector_lines(names):
    for d in ("tests/vectors", "../tests/vectors", "vectors"):
        try:
            f = open(d + "/" + VECTORS)
        except OSError:
            continue
        out = {}
        with f:
            for line in f:
                fields = line.split()
                if len(fields) > 1 and fields[1] in names:
                    out[fields[1]] = fields
        return out
    raise OSError("run from the repository root: %s not found" % VECTORS)


def _unhex(s):
    import binascii

    return binascii.unhexlify(s)


def _time_ms(fn, n):
    # Mean wall time per call with the collector ON (Ed25519 allocates far
    # more than a heap holds with collection off). Includes GC pauses.
    fn()
    gc.collect()
    t0 = ticks_us()
    for _ in range(n):
        fn()
    return ticks_diff(ticks_us(), t0) / n / 1000.0


def _min_heap_budget(fn, hi=64 * 1024, lo=4 * 1024, step=1024):
    # Smallest free heap (bytes, to `step`) in which fn() runs: the rest of
    # the heap is filled with ballast blocks. MicroPython only.
    def fits(budget):
        chunks = []
        try:
            while True:
                gc.collect()
                size = gc.mem_free() - budget - 64
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

    if not fits(hi):
        return None
    while hi - lo > step:
        mid = (hi + lo) // 2
        if fits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def run(report):
    from pot.spec import CROSS_CONTEXT, OK, PROTO_VIOLATION
    from pot.verifier import Verifier
    from pot.ed25519 import crypto_ed25519_verify
    from pot.nonces import NonceCache, FULL

    v = _vector_lines(("public_key", "ctx_a", "ctx_b", "seq0"))
    pk, ctx_a, ctx_b = _unhex(v["public_key"][5]), _unhex(v["ctx_a"][5]), _unhex(v["ctx_b"][5])
    ts, rec = int(v["seq0"][2]), _unhex(v["seq0"][5])
    del v
    ver = Verifier(pk)
    now = ts + 1 * MS
    n_ed = 10 if IS_MP else 50

    ed_ms = _time_ms(lambda: crypto_ed25519_verify(pk, rec[0:79], rec[79:143]), n_ed)
    print("%-44s %10.2f ms" % ("ed25519 verify (pot.ed25519)", ed_ms))

    def full():
        ver.cache.clear()  # forget the previous acceptance: OK every time
        ver.last_ts = -1
        r = ver.verify(rec, ctx_a, now)
        if r != OK:
            raise AssertionError("bench record does not verify: %d" % r)

    full_ms = _time_ms(full, n_ed)
    print("%-44s %10.2f ms" % ("full verify, OK path", full_ms))

    bad = bytearray(rec)
    bad[2] = 1  # reserved byte: structure rejection

    def proto():
        ver.verify(bad, ctx_a, now)

    def wrong_ctx():
        ver.verify(rec, ctx_b, now)

    if ver.verify(rec, ctx_b, now) != CROSS_CONTEXT or ver.verify(bad, ctx_a, now) != PROTO_VIOLATION:
        raise AssertionError("bench rejections give unexpected verdicts")
    proto_us = report("reject: structure (PROTO_VIOLATION)", proto, 200)
    ctx_us = report("reject: wrong context (CROSS_CONTEXT)", wrong_ctx, 50)
    print("%-44s %10.4f  (1/%d; target <= 1/50)" % ("wrong-context / full verify", ctx_us / 1000.0 / full_ms, int(full_ms * 1000.0 / ctx_us)))
    print("%-44s %10.5f  (1/%d)" % ("structure reject / full verify", proto_us / 1000.0 / full_ms, int(full_ms * 1000.0 / proto_us)))
    print("%-44s %10.4f  (1/%d)" % ("wrong-context / Ed25519 verify", ctx_us / 1000.0 / ed_ms, int(ed_ms * 1000.0 / ctx_us)))

    # Replay cache: capacity 32 full of live entries, looking up a nonce
    # that is not there (a full scan, the worst case), then a hit.
    cache = NonceCache(32)
    base = bytearray(32)
    for i in range(32):
        base[0] = i
        base[1] = 255 - i
        cache.store(i, base, 1 << 62)
    probe = bytes(32)
    if cache.lookup(probe, 0) != FULL:
        raise AssertionError("cache bench setup")
    report("replay cache lookup, 32 live, miss (scan)", lambda: cache.lookup(probe, 0), 200)
    report("replay cache lookup, 32 live, hit (last)", lambda: cache.lookup(base, 0), 200)

    if IS_MP:
        gc.collect()
        a0 = gc.mem_alloc()
        other = Verifier(pk)
        gc.collect()
        print("%-44s %10d B" % ("Verifier object (buffers, cache of 32)", gc.mem_alloc() - a0))
        other = None
        need = _min_heap_budget(full)
        print("%-44s %10s B" % ("full verify: smallest free heap that works", need if need else "> 65536"))
        ctx_need = _min_heap_budget(wrong_ctx, hi=16 * 1024, lo=0, step=256)
        print("%-44s %10s B" % ("wrong-context reject: smallest free heap", ctx_need))


if __name__ == "__main__":
    print("bench_verify on %s %s" % (sys.implementation.name, sys.version.split()[0]))
    run(report)
