#!/usr/bin/env python3
"""Build MicroPython v1.28.0 from source for the targets a board is tested on.

    tools/build_micropython.py                  build every target (cached)
    tools/build_micropython.py unix32 qemu      only these
    tools/build_micropython.py --path qemu      print a target's binary and exit
    tools/build_micropython.py --list           the targets and what they are

Targets (each a folder build/micropython/<name>/ holding the port's build):
  mpy-cross      the compiler of this source tree (freezes the manifests)
  unix32         Unix port, 32-bit (MICROPY_FORCE_32BIT): machine words and
                 small ints as on ESP32 / RP2040
  unix-frozen    Unix port, 64-bit, firmware/pot and its entry point frozen
                 (boards/unix/manifest.py): bytecode out of the heap, as a
                 board holds it in flash
  unix32-frozen  the same, 32-bit
  qemu           the emulated board (boards/qemu, Cortex-M3, native code for
                 armv6m) with pot frozen: the shared tests and the device
  qemu-plain     the same board without pot: the deploy test copies .mpy
                 files to its flash as to a real board

The source is ../shared/micropython/micropython-1.28.0.tar.gz (checked
against its SHA256SUMS) where that folder exists beside this checkout or,
for a local clone, beside the repository it was cloned from; else a shallow clone of the
v1.28.0 tag; it is unpacked once into build/micropython/src. The C
toolchains come from tools/setup_system.sh (gcc-multilib, gcc-arm-none-eabi,
libnewlib-arm-none-eabi). A target is rebuilt only when its inputs change:
a stamp holds the hash of its make arguments, its manifest and every file
that manifest freezes, and of the project's board files and patches.

One patch is applied to the unpacked tree (PATCHES below): mpy-tool in
v1.28.0 aligns frozen armv6m machine code to 2 bytes, but the armv6m emitter
places 32-bit literals assuming a 4-byte aligned code start (asmthumb.c,
asm_thumb_mov_reg_i32); frozen viper code placed at an address of 2 mod 4
then loads wrong constants (pot.sha512 hung on the emulated board). The
same patch is needed for an RP2040 firmware with frozen viper code
(boards/rp2040/README.md).
"""
import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSION = "1.28.0"


def _shared_folder():
    # ../shared/micropython beside this checkout; for a local clone (git
    # clone /work/main /tmp/x) the one beside the repository it came from.
    places = [ROOT]
    try:
        origin = subprocess.run(["git", "-C", ROOT, "config", "--get", "remote.origin.url"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        origin = ""
    if origin and os.path.isdir(origin):
        places.append(os.path.abspath(origin))
    for place in places:
        folder = os.path.join(os.path.dirname(place), "shared", "micropython")
        if os.path.isdir(folder):
            return folder
    return os.path.join(os.path.dirname(ROOT), "shared", "micropython")


SHARED = _shared_folder()
TARBALL = os.path.join(SHARED, "micropython-%s.tar.gz" % VERSION)
GIT_URL = "https://github.com/micropython/micropython"
OUT = os.path.join(ROOT, "build", "micropython")
SRC = os.path.join(OUT, "src")
# micropython-lib is not needed (the manifests require() nothing), but the
# build checks that its submodule folder holds a README.md.
NO_LIB = os.path.join(OUT, "no-micropython-lib")

UNIX_COMMON = ["VARIANT=standard", "MICROPY_PY_BTREE=0", "MICROPY_PY_FFI=0", "MICROPY_PY_SSL=0",
               "MICROPY_USE_READLINE=0"]
QEMU_BOARD = os.path.join(ROOT, "boards", "qemu")

# name: (port folder, make arguments, binary inside the build folder,
#        manifest or None, description)
TARGETS = {
    "mpy-cross": ("mpy-cross", [], "mpy-cross", None, "the compiler of this source tree"),
    "unix32": ("ports/unix", UNIX_COMMON + ["MICROPY_FORCE_32BIT=1"], "micropython", None,
               "Unix port, 32-bit"),
    # Frozen viper code is machine code for the host (x86-64 here; the
    # Unix port's own build passes mpy-cross no -march).
    "unix-frozen": ("ports/unix", UNIX_COMMON + ["MPY_CROSS_FLAGS=-march=x64"], "micropython",
                    "boards/unix/manifest.py", "Unix port, 64-bit, pot frozen"),
    "unix32-frozen": ("ports/unix", UNIX_COMMON + ["MICROPY_FORCE_32BIT=1", "MPY_CROSS_FLAGS=-march=x86"],
                      "micropython", "boards/unix/manifest.py", "Unix port, 32-bit, pot frozen"),
    "qemu": ("ports/qemu", ["BOARD=POT_QEMU", "BOARD_DIR=" + QEMU_BOARD], "firmware.elf",
             "boards/qemu/manifest.py", "emulated board (mps2-an385), pot frozen"),
    "qemu-plain": ("ports/qemu", ["BOARD=POT_QEMU", "BOARD_DIR=" + QEMU_BOARD], "firmware.elf",
                   "boards/qemu/manifest_plain.py", "emulated board without pot (deploy)"),
}

# (file in the source tree, text, replacement, why): applied once, checked.
PATCHES = (
    ("tools/mpy-tool.py",
     "            MP_NATIVE_ARCH_ARMV6,\n            MP_NATIVE_ARCH_XTENSA,\n",
     "            MP_NATIVE_ARCH_ARMV6,\n            MP_NATIVE_ARCH_ARMV6M,\n            MP_NATIVE_ARCH_XTENSA,\n",
     "frozen armv6m machine code must be 4-byte aligned (see the top of this file)"),
)


class BuildError(Exception):
    pass


def log(msg):
    print("build_micropython: " + msg, flush=True)


def build_dir(name):
    return os.path.join(OUT, name)


def binary(name):
    return os.path.join(build_dir(name), TARGETS[name][2])


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unpack():
    # The source tree in build/micropython/src, patched; once.
    stamp = os.path.join(SRC, ".pot-unpacked")
    if os.path.exists(stamp):
        return
    if os.path.exists(SRC):
        shutil.rmtree(SRC)
    os.makedirs(OUT, exist_ok=True)
    if os.path.exists(TARBALL):
        sums = os.path.join(SHARED, "SHA256SUMS")
        if os.path.exists(sums):
            want = [l.split()[0] for l in open(sums) if l.strip().endswith(os.path.basename(TARBALL))]
            if want and want[0] != _sha256(TARBALL):
                raise BuildError("%s does not match its SHA256SUMS" % TARBALL)
        log("unpacking %s" % TARBALL)
        tmp = SRC + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(TARBALL) as t:
            t.extractall(tmp, filter="tar") if hasattr(tarfile, "data_filter") else t.extractall(tmp)
        (top,) = os.listdir(tmp)
        os.rename(os.path.join(tmp, top), SRC)
        os.rmdir(tmp)
    else:
        log("no %s: cloning v%s" % (TARBALL, VERSION))
        subprocess.run(["git", "clone", "-q", "--depth", "1", "-b", "v" + VERSION, GIT_URL, SRC], check=True)
    for rel, old, new, why in PATCHES:
        path = os.path.join(SRC, rel)
        text = open(path).read()
        if new not in text:
            if old not in text:
                raise BuildError("patch for %s (%s) does not apply" % (rel, why))
            with open(path, "w") as f:
                f.write(text.replace(old, new, 1))
    os.makedirs(NO_LIB, exist_ok=True)
    with open(os.path.join(NO_LIB, "README.md"), "w") as f:
        f.write("Empty on purpose: the project's manifests require() nothing from micropython-lib.\n")
    open(stamp, "w").close()


def _manifest_inputs(manifest):
    # Every file a manifest can freeze: the manifests of boards/ and the
    # firmware (.py files), hashed by content.
    files = []
    for folder in (os.path.dirname(manifest), os.path.join(ROOT, "firmware")):
        for dirpath, _, names in os.walk(folder):
            files += [os.path.join(dirpath, n) for n in names if not n.endswith((".mpy", ".pyc"))]
    return sorted(files)


def _hash_files(h, files):
    for path in sorted(set(files)):
        h.update(os.path.relpath(path, ROOT).encode())
        h.update(_sha256(path).encode())


def config_hash(name):
    # What the C build depends on beyond the frozen modules: the version,
    # make arguments, patches and the board folder. make does not see a
    # changed flag (a CFLAGS line in mpconfigboard.mk), so a change here
    # rebuilds from an empty folder.
    port, args, _, manifest, _ = TARGETS[name]
    h = hashlib.sha256()
    h.update(repr((VERSION, port, args, manifest, PATCHES)).encode())
    if port == "ports/qemu":
        _hash_files(h, [os.path.join(dp, n) for dp, _, ns in os.walk(QEMU_BOARD) for n in ns])
    return h.hexdigest()


def inputs_hash(name):
    # The config hash and the frozen content: a line each in the stamp.
    _, _, _, manifest, _ = TARGETS[name]
    h = hashlib.sha256()
    if manifest:
        _hash_files(h, _manifest_inputs(os.path.join(ROOT, manifest)))
    return config_hash(name) + "\n" + h.hexdigest()


def make_args(name):
    port, args, _, manifest, _ = TARGETS[name]
    out = build_dir(name)
    argv = ["make", "-C", os.path.join(SRC, port), "-j%d" % (os.cpu_count() or 2), "BUILD=" + out]
    if name != "mpy-cross":
        argv += ["MPY_LIB_DIR=" + NO_LIB,
                 "FROZEN_MANIFEST=" + (os.path.join(ROOT, manifest) if manifest else ""),
                 "MICROPY_MPYCROSS=" + binary("mpy-cross"),
                 "MICROPY_MPYCROSS_DEPENDENCY=" + binary("mpy-cross")]
    return argv + args


def build(name, quiet=True):
    unpack()
    stamp = os.path.join(build_dir(name), ".pot-inputs")
    want = inputs_hash(name)
    if os.path.exists(binary(name)) and os.path.exists(stamp) and open(stamp).read() == want:
        return False
    if name != "mpy-cross":
        build("mpy-cross", quiet)
    have = open(stamp).read() if os.path.exists(stamp) else ""
    if have.split("\n")[0] != want.split("\n")[0] and os.path.isdir(build_dir(name)):
        shutil.rmtree(build_dir(name))  # flags or board changed: from scratch
    os.makedirs(build_dir(name), exist_ok=True)
    # The frozen content is regenerated from the manifest only when a
    # compiled module changes; drop it so that a changed patch or manifest
    # is always taken.
    frozen = os.path.join(build_dir(name), "frozen_content.c")
    if os.path.exists(frozen):
        os.remove(frozen)
    log("building %s (%s)" % (name, TARGETS[name][4]))
    logpath = os.path.join(build_dir(name), "build.log")
    with open(logpath, "w") as logf:
        p = subprocess.run(make_args(name), stdout=logf, stderr=subprocess.STDOUT)
    if p.returncode:
        tail = open(logpath).read()[-3000:]
        raise BuildError("make for %s failed (log: %s):\n%s" % (name, os.path.relpath(logpath, ROOT), tail))
    if not os.path.exists(binary(name)):
        raise BuildError("make for %s made no %s" % (name, binary(name)))
    with open(stamp, "w") as f:
        f.write(want)
    return True


def ensure(name):
    # The binary of a target, built first if needed (for tools and tests).
    try:
        build(name)
    except (BuildError, OSError, subprocess.CalledProcessError) as e:
        raise BuildError("cannot build MicroPython target %s: %s" % (name, e))
    return binary(name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("targets", nargs="*", help="default: every target")
    ap.add_argument("--path", action="store_true", help="print the binaries of the targets (building them)")
    ap.add_argument("--list", action="store_true", help="list the targets")
    args = ap.parse_args(argv)
    if args.list:
        for n, t in TARGETS.items():
            print("%-14s %s" % (n, t[4]))
        return 0
    names = args.targets or list(TARGETS)
    for n in names:
        if n not in TARGETS:
            print("build_micropython: no target %r (have: %s)" % (n, " ".join(TARGETS)), file=sys.stderr)
            return 2
    try:
        for n in names:
            if not build(n) and not args.path:
                log("%s is up to date" % n)
    except (BuildError, OSError, subprocess.CalledProcessError) as e:
        print("build_micropython: %s" % e, file=sys.stderr)
        return 1
    if args.path:
        for n in names:
            print(binary(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
