# The accessors of pot.record.Record that only hosts and tests call:
# version(), sources(), reserved(), confidence_ppm(), timestamp_s() and
# to_bytes(). Record.__getattr__ loads this module on first use and binds
# them to the record, so `rec.version()` works as if they were methods.
# A device never calls them: on the Unix port, whose heap holds the loaded
# code, six methods fewer are ~550 bytes of heap that the device soak
# needs (tests/host/test_device_soak.py); a board with frozen firmware
# keeps them in flash either way.
#
# Offsets: docs/spec.md section 1 (the same as pot.record's private ones,
# written out here so that this module defines nothing but the accessors,
# which is what Record.__getattr__ looks up).


def version(rec):
    return rec.buf[0] >> 4  # byte 0: version << 4 | tier


def sources(rec):
    return rec.buf[1]


def reserved(rec):
    return rec.buf[2]


def confidence_ppm(rec):
    # u32, bytes 11-14 (up to 2**32 for a record that failed the check:
    # allocates on 32-bit ports).
    b = rec.buf
    c = 0
    for i in range(11, 15):
        c = (c << 8) | b[i]
    return c


def timestamp_s(rec):
    # Whole seconds since the epoch (allocates, like timestamp_ns).
    return rec.timestamp_ns() // 1000000000


def to_bytes(rec):
    # A copy (allocates).
    return bytes(rec.buf)
