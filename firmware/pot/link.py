# The framed link: one binary frame format for every transport (USB-CDC or
# UART serial, TCP, UDP), byte-exact in docs/spec.md ("The device link").
#
#   offset  size  field
#   0       2     sync     0xA5 0x5A
#   2       2     length   L, u16 big-endian, 0..MAX_PAYLOAD (payload bytes)
#   4       1     type     frame type (T_* below)
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
#   through in a long fuzz run or a noisy day; 2**-32 does not. The table is
#   a bytes constant (pot/crc32_table.py) that a board keeps in flash.
# - The CRC covers length, type and seq, so a corrupted header is caught.
#
# The parser is an incremental state machine over one preallocated buffer
# that always holds the current *candidate* frame at offset 0. A candidate
# that fails (bad length, bad CRC, or expired by an idle timeout) is not
# thrown away whole: the receiver re-scans its bytes from the second byte on
# for the next sync byte. So a good frame that a corrupted one swallowed
# (because the corrupted length was too long) is still found, and the
# result does not depend on how the stream was cut into chunks.
from pot.crc32_table import CRC32_TABLE

try:
    import micropython  # the compiler handles @micropython.native itself
    from micropython import const
except ImportError:  # CPython: both are the identity

    class micropython:
        @staticmethod
        def native(f):
            return f

    def const(x):
        return x

SYNC0 = const(0xA5)
SYNC1 = const(0x5A)
HEADER_LEN = const(6)  # sync 2, length 2, type 1, seq 1
CRC_LEN = const(4)
OVERHEAD = const(10)  # HEADER_LEN + CRC_LEN
MAX_PAYLOAD = const(512)
MAX_FRAME = const(522)  # OVERHEAD + MAX_PAYLOAD

# Frame types. Requests (host to device) are below 0x80; an answer has the
# request's type | 0x80 and the request's seq; ERROR answers anything.
T_STATUS_REQ = const(0x01)  # empty                         -> T_STATUS
T_SYNC_REQ = const(0x02)  # empty                           -> T_CHALLENGE
T_SYNC_RECORD = const(0x03)  # record (143)                 -> T_SYNC_RESULT
T_STAMPED = const(0x04)  # sender, message, record          -> T_VERDICT
T_ECHO = const(0x05)  # any bytes                           -> T_ECHO_REPLY
T_STATUS = const(0x81)
T_CHALLENGE = const(0x82)  # seq 0 when the device asks on its own (resync)
T_SYNC_RESULT = const(0x83)
T_VERDICT = const(0x84)
T_ECHO_REPLY = const(0x85)
T_ERROR = const(0xFF)

TYPE_NAMES = {
    0x01: "STATUS_REQ", 0x02: "SYNC_REQ", 0x03: "SYNC_RECORD", 0x04: "STAMPED",
    0x05: "ECHO", 0x81: "STATUS", 0x82: "CHALLENGE", 0x83: "SYNC_RESULT",
    0x84: "VERDICT", 0x85: "ECHO_REPLY", 0xFF: "ERROR",
}

# Error codes (first payload byte of an ERROR frame).
E_CRC = const(1)  # a candidate frame failed its CRC (seq 0: header unreliable)
E_LENGTH = const(2)  # length field above MAX_PAYLOAD (seq 0)
E_TRUNCATED = const(3)  # the line went idle mid-frame (seq 0)
E_TYPE = const(4)  # unknown frame type (the request's seq)
E_PAYLOAD = const(5)  # payload malformed for its type (the request's seq)
E_STATE = const(6)  # valid frame at the wrong moment, e.g. a sync record
#                     with no challenge outstanding (the request's seq)
ERROR_NAMES = ("-", "CRC", "LENGTH", "TRUNCATED", "TYPE", "PAYLOAD", "STATE")


@micropython.native
def _crc32_halves(data, start, end):
    # CRC-32 of data[start:end] kept as two 16-bit halves, so that a 32-bit
    # board never builds an integer >= 2**30 (which would allocate) while
    # running over the bytes. Returns (hi << 16) | lo, the final value; that
    # one integer may be big on a board, once per frame.
    t = CRC32_TABLE
    hi = 0xFFFF
    lo = 0xFFFF
    i = start
    while i < end:
        k = ((lo ^ data[i]) & 0xFF) << 2
        nlo = (((hi & 0xFF) << 8) | (lo >> 8)) ^ ((t[k + 2] << 8) | t[k + 3])
        hi = (hi >> 8) ^ ((t[k] << 8) | t[k + 1])
        lo = nlo
        i += 1
    return ((hi ^ 0xFFFF) << 16) | (lo ^ 0xFFFF)


def crc32(data, start=0, end=None):
    # Plain CRC-32 (zlib's), on a slice given by offsets (no copy).
    return _crc32_halves(data, start, len(data) if end is None else end)


def _crc_matches(buf, end):
    # Compare the 4 CRC bytes at buf[end:end+4] with the CRC of buf[2:end],
    # half by half (small ints only).
    c = _crc32_halves(buf, 2, end)
    return (
        buf[end] == (c >> 24) & 0xFF
        and buf[end + 1] == (c >> 16) & 0xFF
        and buf[end + 2] == (c >> 8) & 0xFF
        and buf[end + 3] == c & 0xFF
    )


def finish_frame(buf, ftype, seq, length):
    # The sender's side, without allocation: the caller has written `length`
    # payload bytes at buf[HEADER_LEN:]; this writes the header and the CRC
    # and returns the frame's total length (the bytes to send are
    # buf[:returned]).
    if length > MAX_PAYLOAD:
        raise ValueError("payload too long")
    buf[0] = SYNC0
    buf[1] = SYNC1
    buf[2] = length >> 8
    buf[3] = length & 0xFF
    buf[4] = ftype
    buf[5] = seq
    end = HEADER_LEN + length
    c = _crc32_halves(buf, 2, end)
    buf[end] = (c >> 24) & 0xFF
    buf[end + 1] = (c >> 16) & 0xFF
    buf[end + 2] = (c >> 8) & 0xFF
    buf[end + 3] = c & 0xFF
    return end + CRC_LEN


def encode(ftype, seq, payload=b""):
    # Convenience for hosts and tests (allocates): one complete frame.
    buf = bytearray(OVERHEAD + len(payload))
    buf[HEADER_LEN:HEADER_LEN + len(payload)] = payload
    finish_frame(buf, ftype, seq, len(payload))
    return bytes(buf)


@micropython.native
def _copy(dst, dpos, src, spos, count):
    # Byte loop instead of a slice: slicing a memoryview allocates.
    i = 0
    while i < count:
        dst[dpos + i] = src[spos + i]
        i += 1


class Parser:
    """Incremental frame parser.

    `sink` receives, synchronously from feed()/expire():
      sink.frame(ftype, seq, payload)   payload: a memoryview into the
                                        parser's buffer, valid only during
                                        the call
      sink.link_error(code)             E_CRC, E_LENGTH or E_TRUNCATED
    Counters for status reports: frames, errors (rejected candidates) and
    noise (bytes skipped while hunting for a sync word).
    """

    def __init__(self, sink, max_payload=MAX_PAYLOAD):
        self.sink = sink
        self.max_payload = min(max_payload, MAX_PAYLOAD)
        self.buf = bytearray(OVERHEAD + self.max_payload)
        self.mv = memoryview(self.buf)
        self.n = 0  # bytes of the current candidate at buf[0:n]
        self.frames = 0
        self.errors = 0
        self.noise = 0

    def pending(self):
        # True while a candidate is incomplete (an idle timer may expire it).
        return self.n > 0

    def _need(self):
        # Bytes the candidate must hold before the next decision.
        if self.n < 4:
            return 4
        return OVERHEAD + ((self.buf[2] << 8) | self.buf[3])

    def feed(self, data, start=0, end=None):
        # Process data[start:end] (bytes, bytearray or memoryview).
        i = start
        end = len(data) if end is None else end
        buf = self.buf
        while i < end:
            if self.n == 0:
                # Hunting: skip noise up to the next sync byte.
                j = i
                while j < end and data[j] != SYNC0:
                    j += 1
                self.noise += j - i
                i = j
                if i == end:
                    break
            take = self._need() - self.n
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
            self._reject(E_TRUNCATED)
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
        while p < n and buf[p] != SYNC0:
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
            if buf[0] != SYNC0:
                self._shift(0)
                continue
            if n < 2:
                return
            if buf[1] != SYNC1:
                # A lone 0xA5 in noise: not a frame start, nothing to answer.
                self.noise += 1
                self._shift(1)
                continue
            if n < 4:
                return
            length = (buf[2] << 8) | buf[3]
            if length > self.max_payload:
                self._reject(E_LENGTH)
                continue
            total = OVERHEAD + length
            if n < total:
                return
            if not _crc_matches(buf, HEADER_LEN + length):
                self._reject(E_CRC)
                continue
            self.frames += 1
            self.sink.frame(buf[4], buf[5], self.mv[HEADER_LEN:HEADER_LEN + length])
            # Bytes after the frame (left by a re-scan) become the next
            # candidate.
            self._shift(total)
