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
# same body runs (and is tested) there. `ptr8` and `ptr32` are viper's
# pointer casts (inside a viper function the compiler treats them as casts
# whatever the names are bound to) and `uint` its unsigned cast; on CPython
# indexing the buffer itself, or the int itself, is the same thing.
#
# Memory: the CPython stand-ins live in pot.compat_cpython, which
# MicroPython never imports. A .mpy or frozen module loads the code of
# every branch, run or not (its bytecode, its interned names), so code
# that only CPython runs is kept out of the modules a device loads.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"
# The machine word: 32 on ESP32, RP2040 and the 32-bit Unix port, where
# small ints have 31 bits and a u64 timestamp is a heap long int; 64 on the
# 64-bit Unix port (62-bit small ints) and on CPython.
WORD_BITS = 64 if sys.maxsize > 0xFFFFFFFF else 32

if IS_MICROPYTHON:
    import micropython
    from micropython import const
    from time import ticks_us, ticks_ms, ticks_diff, ticks_add

    ptr8 = ptr32 = uint = None  # names for CPython; viper code casts
else:
    from pot.compat_cpython import micropython, const, ptr8, ptr32, uint, ticks_us, ticks_ms, ticks_diff, ticks_add
