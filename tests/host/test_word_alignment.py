"""No unaligned word access in the firmware: every buffer a viper function
reads or writes through ptr32 (or ptr16) is a uint32 (uint16) array.

A 32-bit load from an address that is not a multiple of 4 faults on the
RP2040's Cortex-M0+ and on the ESP32's Xtensa; the emulated board's
Cortex-M3 tolerates it, so a test on that board cannot see the fault.
Arrays of typecode "I" live in heap blocks, which MicroPython aligns to
16 bytes; bytes literals (constant tables, in flash when frozen) and
memoryview slices are only byte-aligned and must be read through ptr8.

The proof, on the source: for each viper function of firmware/pot, the
parameters it casts with ptr32/ptr16; for each call of that function in
its module, the argument in that place must be a module-level name bound
to array("I" | "i" ...) (or "H" | "h" for ptr16). Anything else (a bytes
literal, a parameter of unknown origin, a slice) fails with the file and
line. tests/shared/test_sha512.py checks the addresses on each target.
"""
import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORD_CASTS = {"ptr32": ("I", "i", "L", "l"), "ptr16": ("H", "h")}


def _is_viper(fn):
    return any(isinstance(d, ast.Attribute) and d.attr == "viper" for d in fn.decorator_list)


def _word_params(fn):
    # {param index: cast name} of the parameters cast with ptr32/ptr16.
    params = [a.arg for a in fn.args.args]
    out = {}
    for node in ast.walk(fn):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in WORD_CASTS
                and node.args):
            arg = node.args[0]
            if not (isinstance(arg, ast.Name) and arg.id in params):
                raise AssertionError("%s: %s(...) of something other than a parameter (line %d)"
                                     % (fn.name, node.func.id, node.lineno))
            out[params.index(arg.id)] = node.func.id
    return out


def _module_arrays(tree):
    # {name: typecode} of module-level `NAME = array("X", ...)`.
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            f = node.value.func
            if isinstance(f, ast.Name) and f.id == "array" and node.value.args:
                code = node.value.args[0]
                if isinstance(code, ast.Constant) and isinstance(code.value, str):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            out[t.id] = code.value
    return out


def _owner(tree, target):
    # The innermost function containing the node target (None: module level).
    owner = None
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and any(n is target for n in ast.walk(fn)):
            if owner is None or any(n is fn for n in ast.walk(owner)):
                owner = fn
    return owner


def word_access_problems(path):
    tree = ast.parse(open(path).read(), path)
    vipers = {n.name: _word_params(n) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and _is_viper(n)}
    vipers = {k: v for k, v in vipers.items() if v}
    arrays = _module_arrays(tree)
    problems, calls = [], 0
    scopes = [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    for scope in scopes:
        # A function may alias a module array (`hs = _H`): the alias counts
        # as the array only when that is its one assignment in the scope.
        known = dict(arrays)
        if scope is not tree:
            assigned = {}
            for node in ast.walk(scope):
                if isinstance(node, ast.Assign):
                    for t in node.targets:
                        if isinstance(t, ast.Name):
                            assigned.setdefault(t.id, []).append(node.value)
            for name, values in assigned.items():
                v = values[0]
                known.pop(name, None)
                if len(values) == 1 and isinstance(v, ast.Name) and v.id in arrays:
                    known[name] = arrays[v.id]
        body = scope.body
        for node in (n for stmt in body for n in ast.walk(stmt)):
            if isinstance(node, ast.FunctionDef) and scope is tree:
                continue
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in vipers:
                if _owner(tree, node) is not (None if scope is tree else scope):
                    continue
                calls += 1
                for i, cast in vipers[node.func.id].items():
                    arg = node.args[i] if i < len(node.args) else None
                    code = known.get(arg.id) if isinstance(arg, ast.Name) else None
                    if code not in WORD_CASTS[cast]:
                        problems.append("%s:%d: %s argument %d goes through %s but is %s"
                                        % (os.path.relpath(path, ROOT), node.lineno, node.func.id, i, cast,
                                           ast.unparse(arg) if arg is not None else "missing"))
    return vipers, calls, problems


def test_every_word_pointer_is_a_word_array():
    found = {}
    problems = []
    for path in sorted(glob.glob(os.path.join(ROOT, "firmware", "pot", "*.py"))):
        vipers, calls, p = word_access_problems(path)
        if vipers:
            found[os.path.basename(path)] = (sorted(vipers), calls)
        problems += p
    assert not problems, "\n".join(problems)
    # The check looked at something: pot.sha512's kernel and its calls.
    assert "sha512.py" in found and found["sha512.py"][1] >= 4, found


def test_the_check_catches_a_bytes_table(tmp_path):
    # The same check on a module that reads a bytes literal through ptr32.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from array import array\n"
        "_T = b'\\x00\\x01\\x02\\x03'\n"
        "_A = array('I', bytes(8))\n"
        "@micropython.viper\n"
        "def f(t, a):\n"
        "    T = ptr32(t)\n"
        "    A = ptr32(a)\n"
        "    A[0] = T[0]\n"
        "f(_T, _A)\n")
    _, calls, problems = word_access_problems(str(bad))
    assert calls == 1 and len(problems) == 1 and "_T" in problems[0], problems
