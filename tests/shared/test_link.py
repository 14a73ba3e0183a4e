#: heapsize=128k
# The framed link (firmware/pot/link.py, docs/spec.md "The device link"):
# encodings and stream parsing against the vectors of tools/gen/gen_link_vectors.py
# (an independent model built on zlib.crc32 and struct), the CRC against
# binascii.crc32 where the target has it, and the parser's invariants:
# chunking does not change what it reports, it resynchronises after noise,
# and parsing a stream allocates nothing per byte.
import gc

from testlib import Rng, heap_alloc, skip, unhex, vectors

from pot import host, link, spec
from pot.compat import IS_MICROPYTHON


class Recorder:
    # A sink that writes events in the vectors' notation.
    def __init__(self):
        self.events = []

    def frame(self, ftype, seq, payload):
        p = bytes(payload)
        self.events.append("F%02x.%02x.%s" % (ftype, seq, tohex_or_dash(p)))

    def link_error(self, code):
        self.events.append("E%d" % code)

    def text(self):
        return ",".join(self.events) or "-"


class Counter:
    # A sink that only counts: no allocation in the callbacks.
    def __init__(self):
        self.frames = 0
        self.errors = 0

    def frame(self, ftype, seq, payload):
        self.frames += 1

    def link_error(self, code):
        self.errors += 1


def tohex_or_dash(b):
    import binascii

    return binascii.hexlify(b).decode() if b else "-"


def parse(stream, chunks=None):
    r = Recorder()
    p = link.Parser(r)
    if chunks is None:
        p.feed(stream)
    else:
        i = 0
        k = 0
        while i < len(stream):
            n = chunks[k % len(chunks)]
            p.feed(stream, i, min(len(stream), i + n))
            i += n
            k += 1
    return r.text(), p


def _crc_kernels():
    # The link's portable CRC kernel (the boards'), and on CPython also the
    # host's (zlib's).
    if IS_MICROPYTHON:
        return (link._crc_frame,)
    from pot.fastpath import crc_frame

    return (link._crc_frame, crc_frame)


def test_crc_nibble_table_is_the_polynomial():
    # Entry n: the reflected CRC register after shifting the nibble n in.
    t = link._CRC_NIBBLES
    assert len(t) == 64
    for n in range(16):
        c = n
        for _ in range(4):
            c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
        assert t[4 * n] | (t[4 * n + 1] << 8) | (t[4 * n + 2] << 16) | (t[4 * n + 3] << 24) == c, n


def _framed_crc(kernel, data):
    # The CRC bytes the kernel writes for `data` as a frame's bytes 2.. .
    buf = bytearray(2 + len(data) + 4)
    buf[2:2 + len(data)] = data
    assert kernel(buf, 2 + len(data), 1) == 1
    assert kernel(buf, 2 + len(data), 0) == 1
    return bytes(buf[-4:])


def test_crc32_check_value():
    # The CRC-32 catalogue check value, the empty input, and a flipped bit
    # of data or CRC rejected.
    for kernel in _crc_kernels():
        assert _framed_crc(kernel, b"123456789") == b"\xcb\xf4\x39\x26"
        assert _framed_crc(kernel, b"") == b"\x00\x00\x00\x00"
        buf = bytearray(b"\xa5\x5a123456789\xcb\xf4\x39\x26")
        for bit in range(8 * 13):
            bad = bytearray(buf)
            bad[2 + bit // 8] ^= 1 << (bit % 8)
            assert kernel(bad, 11, 0) == 0, bit


def test_crc32_matches_binascii():
    try:
        from binascii import crc32
    except ImportError:
        skip("no binascii.crc32 on this target")
    rng = Rng(7)
    for n in (1, 3, 64, 255, 522):
        data = rng.bytes(n)
        want = crc32(data) & 0xFFFFFFFF
        want = bytes(((want >> 24) & 0xFF, (want >> 16) & 0xFF, (want >> 8) & 0xFF, want & 0xFF))
        for kernel in _crc_kernels():
            assert _framed_crc(kernel, data) == want, n


def test_frame_vectors_encode_and_parse():
    count = 0
    for vid, ftype, seq, payload, frame in vectors("link_frames.txt"):
        t, q, p, f = int(ftype, 16), int(seq, 16), unhex(payload), unhex(frame)
        assert host.encode_frame(t, q, p) == f, vid
        text, _ = parse(f)
        assert text == "F%s.%s.%s" % (ftype, seq, payload), vid
        count += 1
    assert count >= 10


def test_stream_vectors_whole_bytewise_and_chunked():
    count = 0
    for vid, flags, stream, events in vectors("link_streams.txt"):
        s = unhex(stream)
        assert parse(s)[0] == events, (vid, flags)
        assert parse(s, (1,))[0] == events, (vid, flags)
        assert parse(s, (3, 7, 1, 64, 2))[0] == events, (vid, flags)
        count += 1
    assert count >= 20


def test_finish_frame_in_place():
    buf = bytearray(spec.MAX_FRAME)
    buf[spec.HEADER_LEN:spec.HEADER_LEN + 3] = b"abc"
    n = link.finish_frame(buf, spec.T_ECHO, 42, 3)
    assert bytes(buf[:n]) == host.encode_frame(spec.T_ECHO, 42, b"abc")
    try:
        link.finish_frame(buf, spec.T_ECHO, 1, spec.MAX_PAYLOAD + 1)
        assert False, "accepted an oversized payload"
    except ValueError:
        pass


def test_resync_after_random_noise():
    # Noise (without sync bytes, so no candidate can start in it) between
    # good frames: every frame is found, noise is counted, no error events.
    rng = Rng(99)
    frames = [host.encode_frame(spec.T_ECHO, i + 1, rng.bytes(rng.below(60))) for i in range(20)]
    stream = bytearray()
    noise = 0
    for f in frames:
        junk = bytearray(rng.bytes(rng.below(30)))
        for i in range(len(junk)):
            if junk[i] == spec.SYNC0:
                junk[i] = 0
        noise += len(junk)
        stream += junk + f
    text, p = parse(bytes(stream), (5, 11, 1))
    assert text.count("F") == 20 and "E" not in text
    assert p.frames == 20 and p.errors == 0 and p.noise == noise


def test_expire_rejects_truncated_candidate_and_rescans():
    f = host.encode_frame(spec.T_STATUS_REQ, 3, b"xyz")
    r = Recorder()
    p = link.Parser(r)
    p.feed(f[:7])
    assert p.pending() and r.events == []
    p.expire()
    assert r.events == ["E3"] and not p.pending()
    # A lone sync byte expires silently as noise.
    p.feed(b"\xa5")
    p.expire()
    assert r.events == ["E3"] and not p.pending()
    # A truncated frame whose bytes hide a complete one: the re-scan finds it.
    inner = host.encode_frame(spec.T_ECHO, 9, b"in")
    p.feed(b"\xa5\x5a\x00\x40\x05\x01" + inner)
    p.expire()
    assert r.events == ["E3", "E3", "F05.09.696e"]


class Failing(Recorder):
    # A sink whose answer cannot be written (while fail is set): it builds
    # it in place over the request (as the device's ECHO does), then its
    # write raises.
    fail = True

    def frame(self, ftype, seq, payload):
        Recorder.frame(self, ftype, seq, payload)
        if self.fail:
            for i in range(len(payload)):
                payload[i] = 0xEE
            raise OSError(22)


def test_a_sink_that_raises_leaves_the_parser_advanced():
    # The frame is dropped before the exception leaves feed(): it is never
    # delivered again, and the bytes after it (here from the re-scan of a
    # candidate that swallowed it) are parsed as before.
    r = Failing()
    p = link.Parser(r)
    inner = host.encode_frame(spec.T_ECHO, 7, b"spoofed")
    stream = b"\xa5\x5a\x00\x40" + inner + b"\xa5\x5a" + bytes(80)
    try:
        p.feed(stream)
        raised = False
    except OSError:
        raised = True
    assert raised and r.events == ["E1", "F05.07.73706f6f666564"]
    r.fail = False
    after = host.encode_frame(spec.T_STATUS_REQ, 8, b"")
    p.feed(after)
    p.feed(after)
    # What a sink that never raises sees of the same bytes.
    assert ",".join(r.events) == parse(stream + after + after)[0] == "E1,F05.07.73706f6f666564,E1,F01.08.-,F01.08.-"
    assert not p.pending()


def test_max_payload_is_bounded_per_parser():
    r = Recorder()
    p = link.Parser(r, max_payload=16)
    p.feed(host.encode_frame(spec.T_ECHO, 1, bytes(17)) + host.encode_frame(spec.T_ECHO, 2, bytes(16)))
    assert r.events[0] == "E2" and r.events[-1] == "F05.02." + "00" * 16


def test_random_mutations_never_raise_and_stay_consistent():
    # Thousands of mutated streams: parsing never raises; byte-by-byte and
    # whole-stream parsing agree; every unmutated trailing frame is found.
    rng = Rng(2024)
    tail = host.encode_frame(spec.T_STATUS_REQ, 77, b"")
    for k in range(300):
        s = bytearray(host.encode_frame(rng.below(256), rng.below(256), rng.bytes(rng.below(40))))
        for _ in range(1 + rng.below(3)):
            op = rng.below(3)
            i = rng.below(len(s))
            if op == 0:
                s[i] ^= 1 << rng.below(8)
            elif op == 1:
                s[i] = rng.below(256)
            else:
                s[i:i] = bytes((spec.SYNC0, spec.SYNC1))
        s += bytes(spec.MAX_FRAME) + tail  # zeros complete any pending candidate
        whole, _ = parse(bytes(s))
        assert whole == parse(bytes(s), (1, 2, 9))[0], k
        assert whole.endswith("F01.4d.-"), (k, whole)


def test_parsing_allocates_nothing_per_byte():
    if heap_alloc() is None:
        skip("heap figures exist only on MicroPython")
    rng = Rng(5)
    stream = bytearray()
    for i in range(30):
        stream += rng.bytes(rng.below(20)) + host.encode_frame(spec.T_ECHO, 1, rng.bytes(100))
    stream = bytes(stream)
    c = Counter()
    p = link.Parser(c)
    p.feed(stream)  # warm up
    gc.collect()
    before = heap_alloc()
    p.feed(stream)
    p.feed(stream)
    used = heap_alloc() - before
    # One memoryview per delivered frame is the only allocation allowed
    # (a few dozen bytes each); 6,000+ bytes were parsed.
    assert c.frames >= 60
    assert used <= 64 * (2 * 30 + 10), used
