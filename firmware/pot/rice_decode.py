# G1 receive side: the strict Golomb-Rice stream decoder (docs/spec.md
# section 2.1), apart from the encoder (pot.rice) so that only a device that
# opens sharded frames loads it: a verifier never does.
#
# Strict: every payload has exactly one stream, and anything else raises
# ValueError("G1: ..."): L != 47, an escape that would have fitted the short
# form, a timestamp that is not a u64 or nanoseconds >= 10^9, non-zero
# padding bits or bytes after the stream, a stream running past the area.
from pot.compat import const
from pot.rice import copy_bytes

# Private copies of pot.spec's numbers (folded by the compiler).
_PAYLOAD_LEN = const(47)
_EPOCH_2025 = const(1735689600)
_NS_PER_S = const(1000000000)
_MILLION = const(1000000)
# (k, E, W) of F1..F6, three bytes each (pot.spec.FIELDS).
_FIELDS = const(b"\x02\x01\x08\x02\x02\x08\x00\x01\x08\x1c\x02\x23\x00\x00\x1e\x0a\x02\x20")


class RiceReader:
    # The bit reader over the caller's buffer (one instance, reused).
    def __init__(self):
        self.buf = None
        self.pos = 0  # next byte index in buf
        self.acc = 0  # pending bits
        self.nb = 0  # number of pending bits
        self.end = 0  # bytes available

    def _get(self, n):
        # Reads n bits (n <= 16).
        acc = self.acc
        nb = self.nb
        while nb < n:
            if self.pos >= self.end:
                raise ValueError("G1: stream runs past the RS data area")
            acc = (acc << 8) | self.buf[self.pos]
            self.pos += 1
            nb += 8
        nb -= n
        self.nb = nb
        self.acc = acc & ((1 << nb) - 1)
        return acc >> nb

    def _get_wide(self, n):
        v = 0
        while n > 16:
            n -= 16
            v = (v << 16) | self._get(16)
        return (v << n) | self._get(n)

    def _get_field(self, number):
        # Field F<number> (1..6).
        k = _FIELDS[3 * number - 3]
        e = _FIELDS[3 * number - 2]
        w = _FIELDS[3 * number - 1]
        q = 0
        while q < e and self._get(1):
            q += 1
        if q < e:  # short form: the zero bit ended the unary part
            return (q << k) | self._get_wide(k)
        v = self._get_wide(w)
        if v >> k < e:
            raise ValueError("G1: non-canonical escape in field F%d" % number)
        return v

    def decode(self, area, out):
        # Strictly decodes the G1 stream at the start of `area` (the RS data
        # area) into out (a writable 47-byte buffer). Returns the stream
        # length; raises ValueError on any non-canonical input.
        end = len(area)
        if end < 33:
            raise ValueError("G1: stream runs past the RS data area")
        if area[0] != _PAYLOAD_LEN:
            raise ValueError("G1: length byte is %d, not 47" % area[0])
        self.buf = area
        self.end = end
        self.pos = 33
        self.acc = 0
        self.nb = 0
        h = self._get_field(1) ^ 0x10
        sources = self._get_field(2)
        reserved = self._get_field(3)
        s = unzigzag(self._get_field(4)) + _EPOCH_2025
        n = self._get_field(5)
        c = (_MILLION - self._get_field(6)) & 0xFFFFFFFF
        if self.acc:
            raise ValueError("G1: non-zero padding bits")
        stream_len = self.pos
        self.buf = None
        for i in range(stream_len, end):
            if area[i]:
                raise ValueError("G1: non-zero byte after the stream")
        if s < 0:
            raise ValueError("G1: timestamp before 1970")
        if n >= _NS_PER_S:
            raise ValueError("G1: nanoseconds >= 10^9")
        ts = s * _NS_PER_S + n
        if ts >> 64:
            raise ValueError("G1: timestamp does not fit 64 bits")
        out[0] = h
        out[1] = sources
        out[2] = reserved
        for i in range(8):
            out[10 - i] = ts & 0xFF
            ts >>= 8
        for i in range(4):
            out[14 - i] = c & 0xFF
            c >>= 8
        copy_bytes(out, 15, area, 1, 32)
        return stream_len


_reader = RiceReader()


def decode(area, out):
    return _reader.decode(area, out)


def unzigzag(v):
    return v >> 1 if v & 1 == 0 else -((v + 1) >> 1)
