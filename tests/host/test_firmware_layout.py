# The firmware's layout rules, read from the source with ast (nothing is
# imported):
#   - no module __getattr__ serves names: a name is defined where it is
#     looked up (grep, help() and IDEs find it; a typo is an AttributeError);
#   - no import cycle inside firmware/pot, lazy imports in functions included;
#   - device modules never import the host side (pot.spec, pot.host) and
#     import pot.fastpath only where a CPython form is bound by name;
#   - no module reads another module's private (_underscore) names.
# KNOWN lists what a later change still has to remove; an entry that is no
# longer true fails too, so the lists only shrink.
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware", "pot")

# Module __getattr__ that still serves another module's names.
KNOWN_FORWARDING = {}
# Import cycles still to break (as sorted module pairs).
KNOWN_CYCLES = set()
# Classes whose __getattr__ computes attributes of their own state.
COMPUTED_ATTRIBUTES = {("switch.py", "AdaptiveSwitch")}
# Modules a device never imports, and who else may import them.
HOST_SIDE = {"spec": (), "host": (), "fastpath": ("sha512", "link"), "compat_cpython": ("compat",)}


def sources():
    out = {}
    for name in sorted(os.listdir(FIRMWARE)):
        if name.endswith(".py"):
            with open(os.path.join(FIRMWARE, name)) as f:
                out[name[:-3]] = ast.parse(f.read(), name)
    return out


def pot_imports(tree):
    # {module name inside pot: [the names imported from it]} of every import
    # statement in the tree, at any depth.
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("pot."):
                    out.setdefault(a.name[4:], [])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pot":
                for a in node.names:
                    out.setdefault(a.name, [])
            elif node.module.startswith("pot."):
                out.setdefault(node.module[4:], []).extend(a.name for a in node.names)
    return out


def test_no_module_getattr_forwards_names():
    found = {}
    for name, tree in sources().items():
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                found[name + ".py"] = True
    assert set(found) == set(KNOWN_FORWARDING), sorted(found)


def test_no_class_getattr_but_computed_attributes():
    found = set()
    for name, tree in sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == "__getattr__":
                        found.add((name + ".py", node.name))
    assert found == COMPUTED_ATTRIBUTES


def test_no_import_cycle_in_firmware():
    trees = sources()
    graph = {name: set(m for m in pot_imports(tree) if m in trees and m != name) for name, tree in trees.items()}
    cycles = set()

    def visit(node, path):
        for nxt in graph[node]:
            if nxt in path:
                cycle = path[path.index(nxt):]
                cycles.add(tuple(sorted(cycle)))
            elif len(path) < len(graph):
                visit(nxt, path + [nxt])

    for start in graph:
        visit(start, [start])
    assert cycles == KNOWN_CYCLES, sorted(cycles)


def test_device_modules_never_import_the_host_side():
    problems = []
    for name, tree in sources().items():
        for module in pot_imports(tree):
            if module in HOST_SIDE and name not in HOST_SIDE and name not in HOST_SIDE[module]:
                problems.append("pot.%s imports pot.%s" % (name, module))
    assert not problems, problems


def test_no_private_names_read_across_modules():
    problems = []
    files = [os.path.join(FIRMWARE, n) for n in os.listdir(FIRMWARE) if n.endswith(".py")]
    for folder in ("host/potkit", "tools"):
        for base, _, names in os.walk(os.path.join(ROOT, folder)):
            files.extend(os.path.join(base, n) for n in names if n.endswith(".py"))
    for path in files:
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        modules = set()  # local names bound to pot modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and (node.module == "pot" or node.module.startswith("pot.")):
                for a in node.names:
                    if a.name.startswith("_"):
                        problems.append("%s: from %s import %s" % (os.path.relpath(path, ROOT), node.module, a.name))
                    if node.module == "pot":
                        modules.add(a.asname or a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("pot.") and a.asname:
                        modules.add(a.asname)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules \
                    and node.attr.startswith("_") and not node.attr.startswith("__"):
                problems.append("%s: %s.%s" % (os.path.relpath(path, ROOT), node.value.id, node.attr))
    assert not problems, "\n".join(sorted(problems))
