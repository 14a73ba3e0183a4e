# CPython stand-ins for MicroPython's built-in names (see pot/compat.py,
# the only importer). MicroPython never loads this module, so nothing here
# costs a device any heap.
import time as _time


def const(x):
    return x


class micropython:  # noqa: N801 - mirrors the MicroPython module name
    # The emitter decorators return the function unchanged: the same body
    # runs as plain Python.
    @staticmethod
    def native(f):
        return f

    viper = native
    const = staticmethod(const)


def ptr8(buf):
    # A viper pointer cast; on CPython indexing the buffer itself is the
    # same (ptr32 over a uint32 array indexes words likewise).
    return buf


ptr32 = ptr8


def uint(x):
    # viper's unsigned cast: the int itself on CPython.
    return x


def ticks_us():
    return _time.perf_counter_ns() // 1000


def ticks_ms():
    return _time.perf_counter_ns() // 1000000


def ticks_diff(a, b):
    return a - b


def ticks_add(a, b):
    return a + b
