"""Soak: thousands of requests to the virtual board; the steady-state heap
(gc.mem_alloc() right after gc.collect(), reported by STATUS frames) must
not grow.

The board runs the firmware as a board does, from precompiled code
(UnixBoard(mpy=True): firmware/pot and main.py through mpy-cross, the
shared build of potkit.board.build.build_mpy), not from source, whose parser
and compiler need heap that a board never spends.

Heap size: the issue's target, `micropython -X heapsize=64k` (the full
soak passed 4 of 4 there). Margin: with the hostile-link defences of
issue 10 (per-session challenges, buckets, the Ed25519 budget, stall and
fault handling) 63k fails (before them 63k passed and 62k failed): about
1 KB. A running service holds
~59.0 KB after a collect, flat over the 2,100 request groups; an Ed25519
verify needs ~4.5 KB more, in pieces (MicroPython never moves objects),
which is what fails first in a smaller heap (MemoryError inside the
verify). `python tools/heap_report.py` shows the live heap right after
start-up (~55.3 KB), the interned names and the block map.

Why so much on this port: it is a 64-bit build that loads every module's
bytecode, constant tables and interned names (qstrs) into the heap, which
a board with frozen firmware keeps in flash, and 64-bit pointers make
every object bigger. What keeps the service in 64k: firmware from the
mpy-cross build, without line numbers; host- and test-only code in modules
a device never imports (pot.spec, pot.host, pot.fastpath) or loads only on
first use (the frame decoders, board_hw, device_fault), so that
their code and names never reach a device; device modules that keep
private const() copies of the spec's numbers, folded into the code (each
public name is an interned string and a dict slot for good);
start-up code (pot.startup) dropped once the device runs; pot.ed25519
loaded first, collections between the heavy loads; the switch table's
state in one array instead of an object per sender (~1 KB); short module
paths (pot/x.mpy: the source name is also __file__, one qstr); Ed25519
dropping its dead big ints before the table of R and the main loop (~1 KB
less needed during a verify). Marking the device code @native would move
it out of this port's heap; that would game the measurement, so it is
not done. The board budget (boards/*/README.md) is for frozen firmware
on 32-bit ports and is not measured here (no board attached).
"""
import os

import build_micropython
import pytest
from nacl.signing import SigningKey

from pot.grg import context_message
from potkit.board import hostlink
from potkit.board.unix import UnixBoard
from potkit.issuer import Issuer
from potkit.timebase import FixedTimeBase

# (target, heap): the 64-bit wheel with .mpy firmware in the heap, and the
# 32-bit Unix port with the firmware frozen (boards/unix/manifest.py), as a
# board runs it: bytecode, tables and names in flash, words of 32 bits.
# 48k is the 32-bit budget; the measured live heap and the smallest heap
# the soak passes in are in docs/spec.md 8.5a.
TARGETS = [("unix", "64k"), ("unix32-frozen", "48k")]
ROUNDS = 5
PER_ROUND = 420  # request groups per round: 2,100 in all (2,450 frames), plus STATUS frames
KEY = SigningKey(b"\x33" * 32)


@pytest.mark.parametrize("target,heapsize", TARGETS)
def test_steady_state_heap_does_not_grow(target, heapsize):
    issuer = Issuer(KEY, FixedTimeBase())
    issuer.timebase.start()  # refreshes in its thread (a synthesis expires after 64 s)
    forger = Issuer(SigningKey(b"\x44" * 32), issuer.timebase)
    frozen = target != "unix"
    board = UnixBoard(bytes(KEY.verify_key), "soak-1", serial="pipe", heapsize=heapsize, mpy=not frozen,
                      micropython=build_micropython.ensure(target) if frozen else None, frozen=frozen,
                      extra={"flood": {"rate_per_s": 100000, "burst": 1000}})
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
        print("soak on %s in %s: verdicts %s; heap after collect per round %s (free %d)" % (target, heapsize, counts, heap, st["heap_free"]))
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
