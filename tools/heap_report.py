#!/usr/bin/env python3
"""Where the device's heap goes on the MicroPython Unix port.

    python tools/heap_report.py [--heapsize 64k] [--names] [--map]

Starts the device firmware as the soak test runs it (the mpy-cross build of
potkit.device.build_mpy, pot.board.setup() with a serial link, then
pot.board dropped as main.py does), but instead of serving it prints, after
a collection:
  - the live heap (gc.mem_alloc) and what is free, in how many pieces;
  - the interned names (qstrs) the firmware added, and their pools: pools
    hold 20, 40, 80, 160, 320 ... names and each is allocated whole when the
    previous one is full, so the 301st name costs a 3.5 KB pool at once
    (64-bit port; --names lists them);
  - with --map, MicroPython's block map (one character per 32-byte block,
    "." free).
The figures are the Unix port's (code, tables and names in the heap); a
board with frozen firmware keeps those in flash.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host"))

from potkit.device import _tool, build_mpy, native_arch  # noqa: E402
from potkit.keys import provisioning_document  # noqa: E402

# Runs in the board's build folder: the same start-up as firmware/main.py.
PROBE = """\
import gc, sys, micropython
from pot import board
server = board.setup(["main", CFG])
del board
import pot
del pot.board
del sys.modules["pot.board"]
gc.collect()
print("live heap after start-up: %d B, free %d B" % (gc.mem_alloc(), gc.mem_free()))
micropython.qstr_info(NAMES)  # an argument, any: also list them
micropython.mem_info(MAP)
"""


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--heapsize", default="64k")
    ap.add_argument("--names", action="store_true", help="list the interned names")
    ap.add_argument("--map", action="store_true", help="print the heap block map")
    a = ap.parse_args(argv)
    arch = native_arch()
    if arch is None:
        sys.exit("heap_report: this micropython cannot load native .mpy code")
    base, _ = build_mpy(arch)
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "pot.json")
        doc = provisioning_document(b"\x11" * 32, "heap-1")
        doc["link"] = {"serial": "stdio", "host": "127.0.0.1"}
        with open(cfg, "w") as f:
            json.dump(doc, f)
        probe = PROBE.replace("CFG", repr(cfg)).replace("NAMES", "1" if a.names else "")
        probe = probe.replace("MAP", "1" if a.map else "")
        with open(os.path.join(d, "heap_probe.py"), "w") as f:
            f.write(probe)
        # The probe comes from d, after the build folder ("" = the current
        # directory); it is compiled from source, so its own few names and
        # its compilation are part of the figures (a few hundred bytes).
        p = subprocess.run([_tool("micropython"), "-X", "heapsize=" + a.heapsize, "-m", "heap_probe"],
                           cwd=base, env=dict(os.environ, MICROPYPATH=":" + d), capture_output=True, text=True,
                           stdin=subprocess.DEVNULL)
    sys.stdout.write(p.stdout)
    if p.returncode:
        sys.exit("heap_report: micropython failed (%d): %s" % (p.returncode, p.stderr.strip()[-800:]))


if __name__ == "__main__":
    main()
