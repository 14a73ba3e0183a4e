#: heapsize=48k
# Ed25519 verify inside the device's heap budget: on the Unix port this
# module runs with -X heapsize=48k (first line), which must hold the test
# driver, this module, pot.ed25519 compiled from source and a verify.
# (A board runs frozen or .mpy code, which needs less.)
import gc

import testlib
from testlib import unhex, vectors

from pot.ed25519 import verify


def test_rfc8032_vectors_in_48k():
    n = 0
    for f in vectors("ed25519_rfc8032.txt"):
        pk, msg, sig = unhex(f[1]), unhex(f[2]), unhex(f[3])
        assert verify(pk, msg, sig), f[0]
        bad = bytearray(sig)
        bad[40] ^= 4
        assert not verify(pk, msg, bytes(bad)), f[0]
        n += 1
    assert n == 5


def test_edge_vectors_in_48k():
    # A stride through the edge file: both verdicts, every rejection path.
    seen = {"valid": 0, "invalid": 0}
    for i, f in enumerate(vectors("ed25519_edge.txt")):
        if i % 5:
            continue
        pk, msg, sig, expected = unhex(f[2]), unhex(f[3]), unhex(f[4]), f[5]
        assert verify(pk, msg, sig) is (expected == "valid"), f[0]
        seen[expected] += 1
    assert seen["valid"] and seen["invalid"]


def test_no_heap_kept_between_verifies():
    # After a collection, a verify leaves nothing behind: its buffers are
    # preallocated at import and its temporaries are garbage.
    if not testlib.IS_MICROPYTHON:
        testlib.skip("heap figures are MicroPython's")
    f = next(vectors("ed25519_rfc8032.txt"))
    pk, msg, sig = unhex(f[1]), unhex(f[2]), unhex(f[3])
    verify(pk, msg, sig)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(3):
        assert verify(pk, msg, sig)
    gc.collect()
    assert gc.mem_alloc() - before <= 64
