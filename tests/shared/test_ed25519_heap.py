#: heapsize=48k
# Ed25519 verify inside the device's heap budget: on the Unix port this
# module runs with -X heapsize=48k (first line), which must hold the test
# driver, this module, pot.ed25519 compiled from source and a verify.
# (A board runs frozen or .mpy code, which needs less.)
import gc

import testlib
from testlib import unhex, vectors

from pot.ed25519 import verify


def test_edge_vectors_in_48k():
    # Every edge vector (messages up to 256 bytes, both verdicts, every
    # rejection path) verifies inside the budget. The RFC file's TEST 1024
    # line (2 KB of hex) is left to test_ed25519.py: a device verifies
    # 79-byte record prefixes, and reading that line is the test's cost.
    seen = {"valid": 0, "invalid": 0}
    for f in vectors("ed25519_edge.txt"):
        pk, msg, sig, expected = unhex(f[2]), unhex(f[3]), unhex(f[4]), f[5]
        assert verify(pk, msg, sig) is (expected == "valid"), f[0]
        seen[expected] += 1
    assert seen["valid"] >= 10 and seen["invalid"] >= 90


def test_record_sized_signatures_in_48k():
    # Honest signatures over 79 and 143 bytes, and single-bit forgeries.
    n = 0
    for f in vectors("ed25519_edge.txt"):
        if f[0] in ("valid-len-79", "valid-len-143", "valid-baseline"):
            pk, msg, sig = unhex(f[2]), unhex(f[3]), unhex(f[4])
            assert verify(pk, msg, sig), f[0]
            for bit in (0, 255, 300, 511):
                bad = bytearray(sig)
                bad[bit >> 3] ^= 1 << (bit & 7)
                assert not verify(pk, msg, bytes(bad)), (f[0], bit)
            n += 1
    assert n == 3


def test_no_heap_kept_between_verifies():
    # After a collection, a verify leaves nothing behind: its buffers are
    # preallocated at import and its temporaries are garbage.
    if not testlib.IS_MICROPYTHON:
        testlib.skip("heap figures are MicroPython's")
    f = next(vectors("ed25519_edge.txt"))
    pk, msg, sig = unhex(f[2]), unhex(f[3]), unhex(f[4])
    verify(pk, msg, sig)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(3):
        assert verify(pk, msg, sig)
    gc.collect()
    assert gc.mem_alloc() - before <= 64
