# Timing and heap measurement shared by the bench_*.py sections; runs on
# CPython and MicroPython.
import gc
import sys

IS_MP = sys.implementation.name == "micropython"

if IS_MP:
    from time import ticks_us, ticks_diff
else:
    import time

    def ticks_us():
        return time.perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b


def measure(fn, n):
    # Returns (microseconds per call, heap bytes allocated per call or None).
    fn()  # warm up (imports, caches)
    gc.collect()
    if IS_MP:
        gc.disable()
        a0 = gc.mem_alloc()
    t0 = ticks_us()
    for _ in range(n):
        fn()
    dt = ticks_diff(ticks_us(), t0)
    heap = None
    if IS_MP:
        heap = (gc.mem_alloc() - a0) // n
        gc.enable()
        gc.collect()
    return dt / n, heap


def report(stage, fn, n=100):
    us, heap = measure(fn, n)
    print("%-44s %10.1f us %8s B/call" % (stage, us, "-" if heap is None else heap))
    return us
