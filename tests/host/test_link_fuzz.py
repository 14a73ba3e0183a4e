"""Fuzz the device's frame parser on the MicroPython Unix port.

100,000+ frames (valid, unknown types, malformed payloads, mutated by bit
flips / byte drops / insertions / length changes / truncation, and noise)
are generated on the host from a fixed seed, streamed into the virtual
board's serial input in one go, and every answer is checked against the
answer list predicted by an independent whole-stream model of the frame
format (tools/gen/gen_link_vectors.parse_stream: zlib.crc32 and struct, not
pot.link). The board must answer exactly that list, in order, never crash
or hang, and serve normally afterwards.

Twice: on the pip wheel's 64-bit Unix port and on the 32-bit build
(tools/build_micropython.py unix32), whose words and small ints are a
board's (CRC-32 values >= 2**30 are long ints there unless the parser
keeps them in viper words).
"""
import os
import random
import struct
import threading
import time
import zlib

import build_micropython
import pytest
from gen_link_vectors import parse_stream

from pot import spec
from pot.link import Parser
from potkit.board import hostlink
from potkit.board.unix import UnixBoard

N_ITEMS = 100_000
SEED = 0xF022
KNOWN_TYPES = (0x01, 0x02, 0x03, 0x04, 0x05)


def frame(ftype, seq, payload):
    body = struct.pack(">HBB", len(payload), ftype, seq) + payload
    return b"\xa5\x5a" + body + struct.pack(">I", zlib.crc32(body))


def mutate(rng, f):
    f = bytearray(f)
    op = rng.randrange(6)
    if op == 0:  # bit flips
        for _ in range(rng.randrange(1, 4)):
            i = rng.randrange(len(f))
            f[i] ^= 1 << rng.randrange(8)
    elif op == 1:  # byte drop
        del f[rng.randrange(len(f))]
    elif op == 2:  # insertion, sometimes of sync bytes
        f[rng.randrange(len(f)):0] = rng.choice((b"\xa5", b"\xa5\x5a", bytes([rng.randrange(256)])))
    elif op == 3:  # length field changed
        n = rng.randrange(0, 700)
        f[2], f[3] = n >> 8, n & 0xFF
    elif op == 4:  # truncated
        f = f[:rng.randrange(1, len(f))]
    else:  # CRC bytes replaced
        f[-4:] = bytes(rng.randrange(256) for _ in range(4))
    return bytes(f)


def generate(rng, n):
    parts = []
    unknown = [t for t in range(256) if t not in KNOWN_TYPES]
    for _ in range(n):
        r = rng.random()
        seq = rng.randrange(1, 256)
        if r < 0.40:
            parts.append(frame(spec.T_ECHO, seq, rng.randbytes(rng.randrange(0, 48))))
        elif r < 0.50:
            parts.append(frame(rng.choice(unknown), seq, rng.randbytes(rng.randrange(0, 16))))
        elif r < 0.60:
            parts.append(frame(spec.T_STAMPED, seq, rng.randbytes(rng.randrange(0, 100))))
        elif r < 0.95:
            base = frame(rng.choice((spec.T_ECHO, spec.T_STAMPED, rng.choice(unknown))), seq,
                         rng.randbytes(rng.randrange(0, 48)))
            parts.append(mutate(rng, base))
        else:
            parts.append(rng.randbytes(rng.randrange(1, 40)).replace(b"\xa5", b"\x00"))
    return b"".join(parts)


def expected_answers(stream):
    # The answer to each event of the model: (type, seq, payload or None).
    out = []
    for e in parse_stream(stream):
        if e[0] == "E":
            out.append((spec.T_ERROR, 0, bytes([e[1], 0])))
            continue
        _, t, seq, p = e
        if t == spec.T_ECHO:
            out.append((spec.T_ECHO_REPLY, seq, p))
        elif t == spec.T_STAMPED and len(p) < 147:  # shorter than any valid stamped payload
            out.append((spec.T_ERROR, seq, bytes([spec.E_PAYLOAD, spec.T_STAMPED])))
        elif t not in KNOWN_TYPES:
            out.append((spec.T_ERROR, seq, bytes([spec.E_TYPE, t])))
        else:  # a random frame that happens to be a valid request: answer type only
            out.append((t | 0x80 if t != spec.T_SYNC_RECORD else None, seq, None))
    return out


@pytest.mark.parametrize("target", ["unix", "unix32"])
def test_fuzz_frames_against_independent_model(target):
    rng = random.Random(SEED)
    body = generate(rng, N_ITEMS)
    end_marker = frame(spec.T_ECHO, 77, b"END OF FUZZ")
    stream = body + bytes(spec.MAX_FRAME) + end_marker  # zeros complete any pending candidate
    expected = expected_answers(stream)
    assert expected[-1] == (spec.T_ECHO_REPLY, 77, b"END OF FUZZ")
    assert len(expected) > 0.9 * N_ITEMS * 0.6  # the mix really produces answers

    binary = None if target == "unix" else build_micropython.ensure(target)
    board = UnixBoard(b"\x01" * 32, "fuzz-board", serial="pipe", micropython=binary,
                      extra={"link": {"serial": "stdio", "idle_ms": 600000}})
    with board:
        r_fd, w_fd = board._pipe
        answers = []
        sink_done = threading.Event()

        class Sink:
            def frame(self, t, q, p):
                answers.append((t, q, bytes(p)))
                if (t, q, bytes(p)) == expected[-1]:
                    sink_done.set()

            def link_error(self, code):
                answers.append(("HOST-SIDE CRC ERROR", code, b""))

        parser = Parser(Sink())

        def reader():
            while not sink_done.is_set():
                try:
                    data = os.read(r_fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                parser.feed(data)

        th = threading.Thread(target=reader, daemon=True)
        th.start()
        t0 = time.monotonic()
        view = memoryview(stream)
        for i in range(0, len(stream), 4096):
            os.write(w_fd, view[i:i + 4096])
        finished = sink_done.wait(120)
        secs = time.monotonic() - t0
        assert finished, "the board did not answer the end marker (hang or crash): %s" % board.stderr()[-2000:]
        assert board.alive()
        print("fuzz on %s: %d bytes, %d items, %d answers in %.1f s" % (target, len(stream), N_ITEMS, len(answers), secs))
        assert len(answers) == len(expected)
        for k, (got, want) in enumerate(zip(answers, expected)):
            if want[2] is None:  # only type and seq are predictable
                assert want[0] is None or got[:2] == want[:2], (k, got, want)
            else:
                assert got == want, (k, got, want)
        # And it still serves normally.
        dl = hostlink.DeviceLink(hostlink.PipeTransport(r_fd, w_fd))
        st = dl.status()
        assert st["device_id"] == "fuzz-board" and st["link_errors"] > 10000
        assert dl.echo(b"still here") == b"still here"

