# The framed link: one binary frame format for every transport (USB-CDC or
# UART serial, TCP, UDP), byte-exact in docs/spec.md ("The device link").
#
#   offset  size  field
#   0       2     sync     0xA5 0x5A
#   2       2     length   L, u16 big-endian, 0..MAX_PAYLOAD (payload bytes)
#   4       1     type     frame type (pot.spec: T_*)
#   5       1     seq      request number, echoed in the answer; 0 = unsolicited
#   6       L     payload
#   6+L     4     crc      CRC-32 (IEEE 802.3, as zlib.crc32) of bytes 2..6+L-1,
#                          u32 big-endian
#
# Why these choices:
# - A two-byte sync word and a length bound let a receiver find frames in a
#   byte stream that starts mid-frame or carries line noise.
# - CRC-32 rather than CRC-16: a receiver scanning noise tests many false
#   candidates, and 2**-16 per candidate would let a few garbage "frames"
#   through in a long fuzz run or a noisy day; 2**-32 does not.
# - The CRC covers length, type and seq, so a corrupted header is caught.
#
# The CRC is computed and compared (or written) inside one viper kernel,
# _crc_frame, over the frame in the parser's or sender's buffer: a CRC-32
# is a u32, and on a 32-bit board any integer >= 2**30 that reaches Python
# code is a heap object, so the CRC never leaves machine words (no
# allocation per frame, as binascii.crc32's result would make there). The
# kernel is table-driven four bits at a time: a 64-byte table (_CRC_NIBBLES,
# read a byte at a time, so its alignment does not matter) instead of
# zlib's 1 KB, two look-ups per byte. CPython runs the same code
# undecorated, and a host hands in zlib's form instead (pot.fastpath's
# crc_frame, the same contract): Parser(sink, crc=...) and
# finish_frame(..., crc=...).
#
# The parser is an incremental state machine over one preallocated buffer
# that always holds the current *candidate* frame at offset 0. A candidate
# that fails (bad length, bad CRC, or expired by an idle timeout) is not
# thrown away whole: the receiver re-scans its bytes from the second byte on
# for the next sync byte. So a good frame that a corrupted one swallowed
# (because the corrupted length was too long) is still found, and the
# result does not depend on how the stream was cut into chunks.
#
# Memory: the wire constants here are private const()s, folded into the
# code; their public names (SYNC0, T_ECHO, TYPE_NAMES, ...) are pot.spec's
# and the allocating encoder is pot.host.encode_frame: a device loads
# neither, nor pays a global and an interned name for each.
from pot.compat import const, micropython, ptr8, uint

_SYNC0 = const(0xA5)
_SYNC1 = const(0x5A)
_HEADER_LEN = const(6)  # sync 2, length 2, type 1, seq 1
_CRC_LEN = const(4)
_OVERHEAD = const(10)  # _HEADER_LEN + _CRC_LEN
_MAX_PAYLOAD = const(512)

# Error codes the parser reports (pot.spec has all of them).
_E_CRC = const(1)
_E_LENGTH = const(2)
_E_TRUNCATED = const(3)


# CRC-32 (IEEE 802.3, zlib's; reflected polynomial 0xEDB88320) of each
# nibble value n: the CRC register after shifting n in, as 16 little-endian
# u32 words. tests/shared/test_link.py checks them against the polynomial.
_CRC_NIBBLES = (
    b"\x00\x00\x00\x00\x64\x10\xb7\x1d\xc8\x20\x6e\x3b\xac\x30\xd9\x26"
    b"\x90\x41\xdc\x76\xf4\x51\x6b\x6b\x58\x61\xb2\x4d\x3c\x71\x05\x50"
    b"\x20\x83\xb8\xed\x44\x93\x0f\xf0\xe8\xa3\xd6\xd6\x8c\xb3\x61\xcb"
    b"\xb0\xc2\x64\x9b\xd4\xd2\xd3\x86\x78\xe2\x0a\xa0\x1c\xf2\xbd\xbd"
)


@micropython.viper
def _crc_frame(buf, end: int, write: int) -> int:
    # The CRC-32 of buf[2:end] (a frame's length, type, seq and payload).
    # write=0: 1 if it equals the u32 big-endian at buf[end:end + 4], else
    # 0; write=1: store it there, return 1. Every value is a viper uint
    # (logical shifts; on a 64-bit port the & keeps it to 32 bits).
    b = ptr8(buf)
    t = ptr8(_CRC_NIBBLES)
    m = uint(0xFFFF) << 16 | uint(0xFFFF)
    c = m
    i = 2
    while i < end:
        c ^= uint(b[i])
        j = int(c & 15) << 2
        c = (c >> 4) ^ uint(t[j] | (t[j + 1] << 8) | (t[j + 2] << 16) | (t[j + 3] << 24))
        j = int(c & 15) << 2
        c = ((c >> 4) ^ uint(t[j] | (t[j + 1] << 8) | (t[j + 2] << 16) | (t[j + 3] << 24))) & m
        i += 1
    c = (c ^ m) & m
    if write:
        b[end] = int(c >> 24)
        b[end + 1] = int(c >> 16) & 0xFF
        b[end + 2] = int(c >> 8) & 0xFF
        b[end + 3] = int(c) & 0xFF
        return 1
    got = uint((b[end] << 24) | (b[end + 1] << 16) | (b[end + 2] << 8) | b[end + 3]) & m
    return 1 if got == c else 0


def finish_frame(buf, ftype, seq, length, crc=_crc_frame):
    # The sender's side: the caller has written `length` payload bytes at
    # buf[6:] (buf: a bytearray or a memoryview of one); this writes the
    # header and the CRC and returns the frame's total length (the bytes to
    # send are buf[:returned]). Allocates nothing.
    if length > _MAX_PAYLOAD:
        raise ValueError("payload too long")
    buf[0] = _SYNC0
    buf[1] = _SYNC1
    buf[2] = length >> 8
    buf[3] = length & 0xFF
    buf[4] = ftype
    buf[5] = seq
    end = _HEADER_LEN + length
    crc(buf, end, 1)
    return end + _CRC_LEN


@micropython.viper
def _copy(dst, dpos: int, src, spos: int, count: int):
    # dst[dpos:dpos + count] = src[spos:spos + count] without a slice
    # (slicing a memoryview allocates), in machine code: a few instructions
    # a byte. Forward, one byte at a time, so an overlapping move to a lower
    # offset (the parser's re-scan) is right. src: any buffer (bytes,
    # bytearray, memoryview), read through ptr8: byte loads, no alignment.
    d = ptr8(dst)
    s = ptr8(src)
    i = 0
    while i < count:
        d[dpos + i] = s[spos + i]
        i += 1


class Parser:
    """Incremental frame parser.

    `sink` receives, synchronously from feed()/expire():
      sink.frame(ftype, seq, payload)   payload: a memoryview into the
                                        parser's buffer, valid only during
                                        the call; the frame is at
                                        parser.mv[:10 + len(payload)], and
                                        the sink may overwrite those bytes
                                        (a reply built in place): the
                                        parser drops them after the call,
                                        also when the call raises (the
                                        exception then leaves feed(), and
                                        the parser is ready for more)
      sink.link_error(code)             E_CRC, E_LENGTH or E_TRUNCATED
    Counters for status reports: frames, errors (rejected candidates) and
    noise (bytes skipped while hunting for a sync word).
    """

    # The CRC kernel (the portable one; a host's when given): a class
    # attribute, so a device's parsers carry no reference of their own.
    crc = staticmethod(_crc_frame)

    def __init__(self, sink, max_payload=_MAX_PAYLOAD, crc=None):
        if crc is not None:
            self.crc = crc
        self.sink = sink
        self.max_payload = min(max_payload, _MAX_PAYLOAD)
        self.buf = bytearray(_OVERHEAD + self.max_payload)
        self.mv = memoryview(self.buf)
        self.n = 0  # bytes of the current candidate at buf[0:n]
        self.frames = 0
        self.errors = 0
        self.noise = 0

    def pending(self):
        # True while a candidate is incomplete (an idle timer may expire it).
        return self.n > 0

    def feed(self, data, start=0, end=None):
        # Process data[start:end] (bytes, bytearray or memoryview: a
        # buffer _copy reads through ptr8, which checks no bounds, so end
        # never passes len(data)).
        i = start
        n = len(data)
        end = n if end is None or end > n else end
        buf = self.buf
        if self.n:
            # Finish what a sink's exception interrupted: complete
            # candidates left in the buffer are decided first.
            self._settle()
        while i < end:
            if self.n == 0:
                # Hunting: skip noise up to the next sync byte.
                j = i
                while j < end and data[j] != _SYNC0:
                    j += 1
                self.noise += j - i
                i = j
                if i == end:
                    break
            # Bytes the candidate must hold before the next decision.
            need = 4 if self.n < 4 else _OVERHEAD + ((buf[2] << 8) | buf[3])
            take = need - self.n
            if take > end - i:
                take = end - i
            _copy(buf, self.n, data, i, take)
            self.n += take
            i += take
            self._settle()

    def expire(self):
        # The line went idle with a candidate incomplete: reject it (unless
        # it is a lone sync byte) and re-scan what it held.
        if self.n == 0:
            return
        if self.n >= 2:
            self._reject(_E_TRUNCATED)
        else:
            self.noise += 1
            self._shift(1)
        self._settle()

    def _shift(self, start):
        # Drop buf[0:start], then everything up to the next sync byte, and
        # move the rest to offset 0 (the re-scan).
        buf = self.buf
        n = self.n
        p = start
        while p < n and buf[p] != _SYNC0:
            p += 1
        self.noise += p - start
        _copy(buf, 0, buf, p, n - p)
        self.n = n - p

    def _reject(self, code):
        self.errors += 1
        self._shift(1)
        self.sink.link_error(code)

    def _settle(self):
        # Decide about the candidate as far as its bytes allow; loops because
        # a re-scan may leave a complete candidate (or several) in the buffer.
        buf = self.buf
        while self.n > 0:
            n = self.n
            if buf[0] != _SYNC0:
                self._shift(0)
                continue
            if n < 2:
                return
            if buf[1] != _SYNC1:
                # A lone 0xA5 in noise: not a frame start, nothing to answer.
                self.noise += 1
                self._shift(1)
                continue
            if n < 4:
                return
            length = (buf[2] << 8) | buf[3]
            if length > self.max_payload:
                self._reject(_E_LENGTH)
                continue
            end = _HEADER_LEN + length
            if n < end + _CRC_LEN:
                return
            if not self.crc(buf, end, 0):
                self._reject(_E_CRC)
                continue
            self.frames += 1
            # The payload view is the one allocation per frame. The frame
            # is dropped whatever the sink does, also when it raises: bytes
            # after it (left by a re-scan) become the next candidate, and
            # no frame is ever delivered twice.
            try:
                self.sink.frame(buf[4], buf[5], self.mv[_HEADER_LEN:end])
            finally:
                self._shift(end + _CRC_LEN)
