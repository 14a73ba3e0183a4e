# Helpers for the shared tests: the same file runs under pytest on CPython,
# on the MicroPython Unix port and on a board (through tools/run_tests.py).
#
# Kept to the MicroPython subset: no typing, no f-string "=", no os.path.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:  # under pytest a skip is pytest's own, so it is reported as a skip
    import pytest

    SkipTest = pytest.skip.Exception
except ImportError:

    class SkipTest(Exception):
        pass


def skip(reason):
    # Raise from a test that lacks a feature on this target: prints SKIP.
    raise SkipTest(reason)


# --- Deterministic randomness -------------------------------------------
# xorshift32: the same seed gives the same bytes on every target, so a
# failure seen on a board can be reproduced on the host.
class Rng:
    def __init__(self, seed):
        self.s = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def u32(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def below(self, n):
        # Uniform enough for tests (n is small compared with 2**32).
        return self.u32() % n

    def bytes(self, n):
        b = bytearray(n)
        for i in range(n):
            b[i] = self.u32() & 0xFF
        return bytes(b)


# --- Vector files (tests/vectors/*.txt) ----------------------------------
# Format: '#' starts a comment line (provenance, field names); every other
# non-empty line is whitespace-separated fields, hex or words, '-' = empty.
def _dirname(path):
    i = path.rfind("/")
    return path[:i] if i > 0 else "."


def vector_path(name):
    here = _dirname(__file__) if "__file__" in globals() else "."
    for d in (here + "/../vectors", "tests/vectors", "vectors", "/vectors"):
        p = d + "/" + name
        try:
            open(p).close()
            return p
        except OSError:
            pass
    raise OSError("vector file not found: " + name)


def vectors(name):
    # Yields a tuple of string fields per vector line.
    with open(vector_path(name)) as f:
        for line in f:
            line = line.strip()
            if line and line[0] != "#":
                yield tuple(line.split())


def unhex(field):
    import binascii

    return b"" if field == "-" else binascii.unhexlify(field)


def tohex(b):
    import binascii

    return binascii.hexlify(b).decode()


# --- Heap measurement -----------------------------------------------------
def heap_alloc():
    # Bytes allocated on the MicroPython heap; None on CPython, where the
    # figure has no meaning for the device budget.
    if not IS_MICROPYTHON:
        return None
    import gc

    return gc.mem_alloc()
