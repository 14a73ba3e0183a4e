#!/usr/bin/env python3
"""Generate tests/vectors/link_frames.txt and link_streams.txt from fixed seeds.

    tools/gen/gen_link_vectors.py            rewrite both files
    tools/gen/gen_link_vectors.py --check    exit 1 if the committed files differ

An independent model of the frame format of docs/spec.md (device link): it
uses zlib.crc32 and struct, and parses whole streams with the re-scan rule
written the plainest way (a loop over start offsets), not with the
firmware's incremental parser, so the shared tests compare two
implementations.
"""
import os
import random
import struct
import sys
import zlib

from genlib import VECTORS, write_or_check

FRAMES = os.path.join(VECTORS, "link_frames.txt")
STREAMS = os.path.join(VECTORS, "link_streams.txt")
MAX_PAYLOAD = 512
E_CRC, E_LENGTH = 1, 2


def frame(ftype, seq, payload):
    body = struct.pack(">HBB", len(payload), ftype, seq) + payload
    return b"\xa5\x5a" + body + struct.pack(">I", zlib.crc32(body))


def parse_stream(s):
    # Events of a whole stream: ("F", type, seq, payload) or ("E", code).
    # A candidate starts at each 0xA5 0x5A; a rejected one is re-scanned
    # from its second byte; an incomplete one at the end yields nothing.
    out, i = [], 0
    while i < len(s):
        if s[i] != 0xA5:
            i += 1
            continue
        if i + 1 >= len(s):
            break
        if s[i + 1] != 0x5A:
            i += 1
            continue
        if i + 4 > len(s):
            break
        n = struct.unpack(">H", s[i + 2:i + 4])[0]
        if n > MAX_PAYLOAD:
            out.append(("E", E_LENGTH))
            i += 1
            continue
        if i + 10 + n > len(s):
            break
        body = s[i + 2:i + 6 + n]
        if struct.pack(">I", zlib.crc32(body)) == s[i + 6 + n:i + 10 + n]:
            out.append(("F", s[i + 4], s[i + 5], s[i + 6:i + 6 + n]))
            i += 10 + n
        else:
            out.append(("E", E_CRC))
            i += 1
    return out


def event_text(events):
    parts = []
    for e in events:
        if e[0] == "F":
            parts.append("F%02x.%02x.%s" % (e[1], e[2], e[3].hex() or "-"))
        else:
            parts.append("E%d" % e[1])
    return ",".join(parts) or "-"


def gen_frames(rng):
    lines = [
        "# Link frame encodings (docs/spec.md, the device link), by tools/gen/gen_link_vectors.py",
        "# seed 0x11F0; independent encoder: struct + zlib.crc32.",
        "# fields: id type(hex) seq(hex) payload(hex, '-' empty) frame(hex)",
    ]
    cases = [(0x01, 1, b""), (0x05, 255, b"\x00"), (0xFF, 0, b"\x04\x04")]
    for n in (1, 2, 32, 143, 200, 511, 512):
        cases.append((rng.choice((0x03, 0x04, 0x05, 0x84)), rng.randrange(1, 256), bytes(rng.randrange(256) for _ in range(n))))
    for k, (t, q, p) in enumerate(cases):
        lines.append("%d %02x %02x %s %s" % (k + 1, t, q, p.hex() or "-", frame(t, q, p).hex()))
    return "\n".join(lines) + "\n"


def rnd(rng, n):
    return bytes(rng.randrange(256) for _ in range(n))


def gen_streams(rng):
    good = [frame(rng.choice((1, 2, 3, 4, 5)), rng.randrange(1, 256), rnd(rng, rng.choice((0, 1, 5, 40, 143))))
            for _ in range(12)]
    big = frame(0x04, 9, rnd(rng, 512))
    cases = []

    def add(flags, s):
        cases.append((flags, s))

    add("clean", good[0])
    add("clean,two", good[1] + good[2])
    add("max-payload", big)
    add("noise-prefix", rnd(rng, 37).replace(b"\xa5", b"\x00") + good[3])
    add("lone-sync-bytes", b"\xa5\xa5\x00\xa5" + good[4] + b"\xa5")
    f = bytearray(good[5]); f[-1] ^= 0x01
    add("bad-crc", bytes(f) + good[6])
    f = bytearray(good[7]); f[4] ^= 0x40
    add("bad-type-bit", bytes(f) + good[8])
    add("length-too-big", b"\xa5\x5a\x02\x01" + good[9])
    # A corrupted length swallows the next frame; the re-scan finds it.
    f = bytearray(good[10]); f[3] = (f[3] + 30) & 0xFF; f[2] = 0
    add("long-length-swallows", bytes(f) + good[11] + bytes(40))
    f = bytearray(good[0]); f[3] = max(0, f[3] - 3)
    add("short-length", bytes(f) + good[1])
    add("truncated-tail", good[2] + good[3][:-2])
    add("frame-in-payload", frame(5, 3, good[4]))
    add("dropped-byte", good[5][:7] + good[5][8:] + good[6])
    for k in range(8):  # random mutations of frame sequences
        s = bytearray(b"".join(rng.sample(good, 3)))
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            p = rng.randrange(len(s))
            if op == 0:
                s[p] ^= 1 << rng.randrange(8)
            elif op == 1:
                del s[p]
            else:
                s.insert(p, rng.choice((0xA5, 0x5A, rng.randrange(256))))
        add("mutated", bytes(s) + bytes(20))
    lines = [
        "# Link streams and the events a receiver reports, by tools/gen/gen_link_vectors.py",
        "# seed 0x5EED; independent whole-stream parser (re-scan rule, struct + zlib.crc32).",
        "# Events: F<type>.<seq>.<payload hex|-> for a frame, E<code> for a rejected",
        "# candidate (1 CRC, 2 LENGTH); '-' = no event. An incomplete tail yields nothing.",
        "# fields: id flags stream(hex) events",
    ]
    for k, (flags, s) in enumerate(cases):
        lines.append("%d %s %s %s" % (k + 1, flags, s.hex(), event_text(parse_stream(s))))
    return "\n".join(lines) + "\n"


def main(argv):
    outputs = {FRAMES: gen_frames(random.Random(0x11F0)), STREAMS: gen_streams(random.Random(0x5EED))}
    return write_or_check("gen_link_vectors", outputs, "--check" in argv)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
