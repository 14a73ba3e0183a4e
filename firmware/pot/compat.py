# Names that MicroPython has built in and CPython lacks, so that every
# firmware file runs unchanged on both.
#
#   from pot.compat import const, native
#
# `const` is folded by the MicroPython compiler whatever module it came from
# (the parser matches the name); on CPython it is the identity.
# `native` compiles a function to machine code on MicroPython (emitters
# exist for x64, xtensawin and armv6m); on CPython it is the identity, so the
# same function body is what runs and is tested there.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const
    import micropython

    native = micropython.native
    viper = micropython.viper
except ImportError:

    def const(x):
        return x

    def native(f):
        return f

    viper = native

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
