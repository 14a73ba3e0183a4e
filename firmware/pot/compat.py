# Names that MicroPython has built in and CPython lacks, so that every
# firmware file runs unchanged on both.
#
#   from pot.compat import const, micropython, ptr8, ticks_us, ticks_diff
#
# `const` is folded by the MicroPython compiler whatever module it came from
# (the parser matches the name); on CPython it is the identity.
#
# Machine-code emitters: MicroPython only recognises the literal decorator
# spellings `@micropython.native` and `@micropython.viper` at compile time
# (there is no such attribute at run time), so a module that wants them does
#   from pot.compat import micropython, ptr8
# and writes `@micropython.viper`. On MicroPython that is the real module; on
# CPython a stand-in whose decorators return the function unchanged, so the
# same body runs (and is tested) there. `ptr8` is the viper byte-pointer cast;
# on CPython indexing the buffer itself is equivalent.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"


def ptr8(buf):
    # Inside a viper function the compiler treats ptr8(x) as a cast whatever
    # this name is bound to; elsewhere (CPython) indexing the buffer is the
    # same thing.
    return buf


try:
    from micropython import const
    import micropython
except ImportError:

    def const(x):
        return x

    class micropython:  # noqa: N801 - mirrors the MicroPython module name
        @staticmethod
        def native(f):
            return f

        viper = native

        @staticmethod
        def const(x):
            return x

try:  # MicroPython
    from time import ticks_us, ticks_ms, ticks_diff, ticks_add
except ImportError:  # CPython
    import time as _time

    def ticks_us():
        return _time.perf_counter_ns() // 1000

    def ticks_ms():
        return _time.perf_counter_ns() // 1000000

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b
