"""Soak: thousands of requests to the virtual board; the steady-state heap
(gc.mem_alloc() right after gc.collect(), reported by STATUS frames) must
not grow.

The board runs the firmware as a board does, from precompiled code
(UnixBoard(mpy=True): firmware/pot and main.py through mpy-cross, the
shared build of potkit.device.build_mpy), not from source, whose parser
and compiler need heap that a board never spends.

Heap size: the issue's target is `micropython -X heapsize=64k`. NOT MET
(2k short).
HEAPSIZE below is the smallest size that runs the soak reliably (66k:
the full soak passed 3 of 3, short soaks of 300 request groups 12 of 12;
65k failed every time, MemoryError for 66 bytes inside an Ed25519 verify,
and since Record's host-only accessors moved to pot.record_fields (~290
bytes less after start-up) still fails 2 short soaks of 6 and 1 full
soak of 2 (66k: 2 full soaks of 2 pass); 64k fails every
time, within the first three stamped messages: the limit is the heap the
first verifies need, not growth) plus 3k of margin. It was 72k (works from 69k; 68k passed 2 of 3). A
running service holds ~59.8 KB after a collect (~62 KB before). What
limits is less the live bytes than the pieces: right after start-up at 66k
(an in-process harness, same modules, before this change) ~10.9 KB were
free, but in ~400 one-block and ~70 two-block holes, the largest 10 blocks
(160 bytes): loading .mpy code leaves small holes between the objects it
keeps (its temporaries are freed as it goes), and MicroPython never moves
objects. What moved it this time, two changes that only work together
(each alone: 67k still fails): main.py's start-up code (configuration,
links, Device.start) lives in pot.board, is loaded first and is dropped
once the device runs, leaving one ~2.5 KB piece low in the heap for the
verify's temporaries; and Device.start collects after each of its three
loads (pot.ed25519, pot.grg, pot.verifier). Tried and reverted (no gain at 65k/64k): names interned first (a
throw-away module naming all 424, loaded before anything else); a
placeholder of 1-3 KB held low in the heap during start-up; -A's table
built at Device.start and its ints copied after a collect; a collection
before every verify; helper functions written out at their call sites
(Session._send, grg.derive_key, switch.event_for: 32 bytes, as the code
stays). Dropping @micropython.native from the Ed25519 loop makes it worse
(same speed, but the Unix port keeps native code outside the GC heap,
in executable memory, while bytecode lives in it). A heap map of the
real service right after start-up at 66k (micropython.mem_info(1); blocks
are 32 bytes on this port): 57.8 KB used, 8.9 KB free, ~4.5 KB of it in
one piece at the top and ~2.5 KB in the piece pot.board leaves, so what
remains is mostly size: ~4 KB less live code or verify temporaries would
be needed to work from 62k. Earlier, also reverted: dropping
the start-up code before the verifier loads (the verifier's code fills the
piece: 68k failed 4 of 4); a collection after each of the verifier's twelve
modules (66k failed 2 of 3); collections between board.setup's imports (no
gain); sender ids copied into preallocated per-slot buffers in pot.switch
(no allocation on eviction; 68k failed 3 of 3). Earlier:
pot.ed25519 is loaded first in Device.start (after the links' buffers), and
a context change (every stamped message is its own context) rekeys the
GRG's HMAC key in place instead of leaving new pad blocks and a second
ctx copy between the verify's temporaries. The Unix port here is a 64-bit build that loads every module's bytecode, constant
tables and interned names (qstrs) into the heap, which a board with
frozen firmware keeps in flash, and 64-bit pointers make every object
bigger: ~29 KB is the verify path (pot.verifier, pot.grg, the Ed25519 and
SHA-512 code and tables), ~20 KB the device's own modules (pot.device
9 KB, pot.clock 3.5 KB, pot.switch 3 KB, pot.link 2.3 KB; the start-up
code, ~2.5 KB, is dropped) with five qstr pools (~11 KB, 424 names; pools
hold 20+40+80+160 = 300 names, the fifth 320 more in 3.5 KB: avoiding it
means ~125 names fewer, while the device's own modules bring ~180 and the
verify path ~200), and the rest objects and buffers.
The board budget (boards/*/README.md) is for frozen firmware on 32-bit
ports and is not measured here (no board attached).
"""
import os

from nacl.signing import SigningKey

from pot import crc32_table
from pot.grg import context_message
from potkit import link as hostlink
from potkit.device import UnixBoard
from potkit.issuer import Issuer
from potkit.timebase import FixedTimeBase

HEAPSIZE = "69k"
EXTRA = {}
ROUNDS = 5
PER_ROUND = 420  # request groups per round: 2,100 in all (2,450 frames), plus STATUS frames
KEY = SigningKey(b"\x33" * 32)


def test_steady_state_heap_does_not_grow():
    issuer = Issuer(KEY, FixedTimeBase())
    issuer.timebase.start()  # refreshes in its thread (a synthesis expires after 64 s)
    forger = Issuer(SigningKey(b"\x44" * 32), issuer.timebase)
    board = UnixBoard(bytes(KEY.verify_key), "soak-1", serial="pipe", heapsize=HEAPSIZE, mpy=True,
                      extra=dict({"flood": {"rate_per_s": 100000, "burst": 1000}}, **EXTRA))
    try:
        board.start()
        dl = hostlink.DeviceLink(board.pipe_transport(), device_id="soak-1")
        assert dl.sync(lambda ch, ctx: issuer.issue(ctx, 3, ch))["name"] == "OK"
        counts = {}
        heap = []
        for r in range(ROUNDS):
            for i in range(PER_ROUND):
                k = i % 6
                msg = b"soak %d %d" % (r, i)
                if k == 0:
                    v = dl.send_stamped("s%d" % (i % 11), msg, issuer.issue(context_message("soak-1", msg), 3))
                elif k == 1:  # replay of a fresh record
                    rec = issuer.issue(context_message("soak-1", msg), 3)
                    dl.send_stamped("rp", msg, rec)
                    v = dl.send_stamped("rp", msg, rec)
                elif k == 2:
                    v = dl.send_stamped("x", msg, issuer.issue(context_message("soak-2", msg), 3))
                elif k == 3:
                    v = dl.send_stamped("f", msg, forger.issue(context_message("soak-1", msg), 3))
                elif k == 4:
                    assert dl.echo(os.urandom(i % 200)) is not None
                    continue
                else:  # garbage and an unknown type
                    dl.t.send(os.urandom(50).replace(b"\xa5", b"\x00"))
                    try:
                        dl.request(0x66, b"zz")
                    except hostlink.LinkError:
                        pass
                    continue
                counts[v["name"]] = counts.get(v["name"], 0) + 1
            st = dl.status()
            heap.append(st["heap_alloc"])
        print("soak: verdicts %s; heap after collect per round %s (free %d)" % (counts, heap, st["heap_free"]))
        # T3 records are good for 100 ms: on a loaded machine a few may go
        # STALE on the way (they are then not OK / not REPLAY), never many.
        group = ROUNDS * PER_ROUND // 6
        stale = counts.get("STALE", 0)
        assert stale <= group // 20, counts
        assert counts.get("OK", 0) + counts.get("REPLAY", 0) + stale == 2 * group, counts
        assert counts.get("OK", 0) >= group - stale and counts.get("REPLAY", 0) >= group - stale
        assert counts.get("CROSS_CONTEXT", 0) == ROUNDS * PER_ROUND // 6
        assert counts.get("FORGE", 0) == ROUNDS * PER_ROUND // 6
        # Steady state: after the first round (caches and tables warm), the
        # live heap stays within 1 KB of its first value.
        base = heap[1]
        assert max(heap[1:]) - base <= 1024, heap
        assert st["frames"] > ROUNDS * PER_ROUND
    finally:
        board.stop()
        issuer.timebase.stop()


def test_crc32_fallback_matches_zlib():
    # pot.link uses binascii.crc32; a port built without it imports the
    # generated table and loop of pot.crc32_table instead, checked here
    # against zlib (whole inputs and continued from a prefix's CRC).
    import random
    import zlib

    rng = random.Random(17)
    for n in (0, 1, 9, 64, 255, 522, 2000):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert crc32_table.crc32(data) == zlib.crc32(data), n
        k = n // 3
        assert crc32_table.crc32(memoryview(data)[k:], crc32_table.crc32(data[:k])) == zlib.crc32(data), n
    assert crc32_table.crc32(b"123456789") == 0xCBF43926
