# Every copy of a spec number in the firmware equals its pot.spec value.
#
# Device modules keep private const() copies of the numbers they use (the
# compiler folds them: no heap, no interned name), and pot.spec, which no
# device code imports, holds each public number of docs/spec.md once. This
# test reads each firmware file with ast (nothing is imported, so a copy
# is checked whether or not its module loads on the host) and requires of
# every module-level constant (NAME = const(literal) or NAME = literal,
# NAME in capitals) that it is
#   - a copy of the pot.spec name it carries without its leading
#     underscore (or the one RENAMED names), and equal to it;
#   - or a copy of another firmware module's public constant (ALIASES),
#     and equal to that;
#   - or declared here as the module's own (LOCAL): not a spec number.
# A new constant that is none of these fails, so it must be classified.
# Keyword defaults that are spec numbers (DEFAULTS), the verifier's tier
# windows and the link's struct formats are held to pot.spec the same way.
import ast
import os
import struct
import sys

import pytest

from pot import spec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware", "pot")

# Files whose constants are their own: generated tables (tools/gen/gen_*.py
# --check holds them), the Ed25519 and SHA-512 parameters of RFC 8032 and
# FIPS 180-4 (their vector tests hold them), the runtime shims and the
# spec itself.
OWN_FILES = {"spec.py", "compat.py", "compat_cpython.py", "gf_tables.py", "golay_tables.py",
             "golay_syndrome.py", "ed25519.py", "ed25519_field.py", "ed25519_table.py", "sha512.py",
             "hmacsha256.py", "startup.py", "board_hw.py", "fastpath.py", "host.py", "filo.py", "main.py"}

# A copy under another name than its spec name.
RENAMED = {
    ("device.py", "_MAX_ID"): "MAX_DEVICE_ID",
    ("switch.py", "_WINDOW"): "SWITCH_WINDOW",
    ("switch.py", "_KIND"): "EVENT_OF_VERDICT",
}

# A copy of another firmware module's public constant: (file, name) -> (file, name).
ALIASES = {
    ("verifier.py", "_FOUND"): ("nonces.py", "FOUND"),
    ("verifier.py", "_FULL"): ("nonces.py", "FULL"),
    ("device.py", "_SYNC_OK"): ("clock.py", "SYNC_OK"),
    ("device_net.py", "_TX_LEN"): ("device.py", "_TX_LEN"),
}

# The module's own constants: implementation choices, not spec numbers.
LOCAL = {
    "clock.py": {"SYNC_OK", "SYNC_NO_CHALLENGE", "SYNC_RTT"},
    "device.py": {"_TX_LEN", "_RX_CHUNK", "_DRAIN_CHUNKS"},
    "nonces.py": {"FOUND", "FULL", "_EMPTY"},
    "switch.py": {"_MASK", "_STAMP_LIMIT"},
    "link.py": {"_CRC_NIBBLES"},
    "rice.py": {"_MILLION"},
    "rice_decode.py": {"_MILLION"},
}

# Keyword defaults that are spec numbers: (file, class or None, function, argument) -> spec name.
DEFAULTS = {
    ("device.py", "Device", "__init__", "rate_per_s"): "RATE_PER_S",
    ("device.py", "Device", "__init__", "burst"): "BURST",
    ("device.py", "Device", "__init__", "senders"): "SENDERS",
    ("device.py", "Server", "__init__", "idle_ms"): "IDLE_MS",
    ("device_net.py", "NetServer", "add_tcp", "max_clients"): "MAX_CLIENTS",
    ("device_net.py", "NetServer", "add_tcp", "client_idle_ms"): "CLIENT_IDLE_MS",
    ("device_net.py", "NetServer", "add_tcp", "tcp_peers"): "TCP_PEERS",
    ("device_net.py", "NetServer", "add_udp", "udp_peers"): "UDP_PEERS",
    ("device.py", "Writer", "__init__", "timeout_ms"): "STALL_MS",
    ("verifier.py", "Verifier", "__init__", "skew_ms"): "DEFAULT_SKEW_MS",
    ("verifier.py", "Verifier", "__init__", "cache_capacity"): "DEFAULT_CACHE_CAPACITY",
}


def firmware_files():
    return sorted(n for n in os.listdir(FIRMWARE) if n.endswith(".py"))


def parse(name):
    with open(os.path.join(FIRMWARE, name)) as f:
        return ast.parse(f.read(), name)


def _is_constant_name(name):
    n = name.lstrip("_")
    return bool(n) and n[0].isalpha() and n.upper() == n


def _literal(node):
    # The value of const(literal) or of a literal; None when it is neither.
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "const":
        node = node.args[0]
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def constants(tree):
    # {name: value} of the module-level constant assignments.
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if _is_constant_name(name):
                value = _literal(node.value)
                if value is not None:
                    out[name] = value
    return out


def normal(value):
    # Tuples of small ints (such as spec.FIELDS) compare with their flat bytes.
    if isinstance(value, tuple):
        flat = []
        for v in value:
            flat.extend(v if isinstance(v, tuple) else (v,))
        if all(isinstance(v, int) and 0 <= v < 256 for v in flat):
            return bytes(flat)
    return value


def test_every_firmware_constant_is_a_checked_copy_or_declared_local():
    problems = []
    checked = 0
    for name in firmware_files():
        if name in OWN_FILES:
            continue
        for const, value in constants(parse(name)).items():
            key = (name, const)
            if key in ALIASES:
                other, other_const = ALIASES[key]
                expected = constants(parse(other))[other_const]
                where = "pot/%s %s" % (other, other_const)
            elif const in LOCAL.get(name, ()):
                continue
            elif key in RENAMED or hasattr(spec, const.lstrip("_")):
                spec_name = RENAMED.get(key, const.lstrip("_"))
                expected = getattr(spec, spec_name)
                where = "pot.spec." + spec_name
            else:
                problems.append("firmware/pot/%s: %s is not a pot.spec name; add it to pot.spec or to LOCAL"
                                % (name, const))
                continue
            checked += 1
            if normal(value) != normal(expected):
                problems.append("firmware/pot/%s: %s = %r, but %s = %r" % (name, const, value, where, expected))
    assert not problems, "\n".join(problems)
    assert checked >= 100  # the record, GRG, verifier, switch, link and device copies


def test_the_declared_exceptions_name_real_constants():
    # A stale entry above would hide nothing, but it would mislead.
    for (name, const) in list(RENAMED) + list(ALIASES):
        assert const in constants(parse(name)), (name, const)
    for name, consts in LOCAL.items():
        assert consts <= set(constants(parse(name))), (name, consts - set(constants(parse(name))))
    for spec_name in RENAMED.values():
        assert hasattr(spec, spec_name), spec_name


def _function(tree, cls, func):
    body = tree.body
    if cls is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == func)


@pytest.mark.parametrize("where", sorted(DEFAULTS))
def test_keyword_defaults_are_spec_values(where):
    name, cls, func, arg = where
    tree = parse(name)
    args = _function(tree, cls, func).args
    defaults = dict(zip([a.arg for a in args.args][-len(args.defaults):], args.defaults))
    node = defaults[arg]
    if isinstance(node, ast.Name):  # a module constant, itself checked above
        value = constants(tree)[node.id]
    else:
        value = ast.literal_eval(node)
    assert value == getattr(spec, DEFAULTS[where]), (where, value)


def test_the_verifier_windows_are_the_spec_tier_windows():
    init = _function(parse("verifier.py"), "Verifier", "__init__")
    windows = [n.value for n in ast.walk(init) if isinstance(n, ast.Assign)
               and isinstance(n.targets[0], ast.Attribute) and n.targets[0].attr == "windows_ns"]
    assert len(windows) == 1
    assert ast.literal_eval(windows[0]) == tuple(ms * 1000000 for ms in spec.TIER_WINDOW_MS)


def test_the_device_writes_the_spec_struct_formats():
    # Every struct format the device writes is one of the spec's, and both are written.
    tree = parse("device.py")
    formats = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "pack_into":
            formats.add(ast.literal_eval(n.args[0]))
    assert formats == {spec.VERDICT_FORMAT, spec.STATUS_FORMAT}


def test_the_spec_is_consistent():
    assert struct.calcsize(spec.STATUS_FORMAT) == spec.STATUS_LEN
    assert struct.calcsize(spec.VERDICT_FORMAT) == spec.VERDICT_LEN
    assert spec.TAGGED_LEN == spec.CODED_LEN + spec.TAG_LEN
    assert spec.TAGGED_ALL == spec.SHARDS * spec.TAGGED_LEN
    assert spec.FRAME_LEN == spec.TAGGED_ALL + spec.SIGNATURE_LEN
    assert spec.AREA_LEN == spec.DATA_SHARDS * spec.SHARD_LEN
    assert spec.SIGNED_LEN == spec.OFF_SIGNATURE and spec.RECORD_LEN == spec.SIGNED_LEN + spec.SIGNATURE_LEN
    assert spec.OVERHEAD == spec.HEADER_LEN + spec.CRC_LEN and spec.MAX_FRAME == spec.OVERHEAD + spec.MAX_PAYLOAD
    assert len(spec.KEY_LABEL) == 12
    for code, name in enumerate(spec.VERDICT_NAMES):
        assert getattr(spec, name) == code
    for code, name in spec.TYPE_NAMES.items():
        assert getattr(spec, "T_" + name) == code
    for code, name in enumerate(spec.ERROR_NAMES[1:], 1):
        assert getattr(spec, "E_" + name) == code
    for tier, name in enumerate(spec.TIER_NAMES):
        assert getattr(spec, name.upper()) == tier
    assert len(spec.EVENT_OF_VERDICT) == spec.CHALLENGE + 1
    assert spec.BACKOFF_BASE << (spec.F_MAX - 1) == 320


def test_a_changed_copy_is_caught(tmp_path, monkeypatch):
    # The check can fail: a firmware file whose copy differs from the spec.
    src = os.path.join(FIRMWARE, "grg.py")
    with open(src) as f:
        text = f.read()
    assert "_FRAME_LEN = const(286)" in text
    (tmp_path / "grg.py").write_text(text.replace("_FRAME_LEN = const(286)", "_FRAME_LEN = const(287)"))
    monkeypatch.setattr(sys.modules[__name__], "FIRMWARE", str(tmp_path))
    monkeypatch.setattr(sys.modules[__name__], "firmware_files", lambda: ["grg.py"])
    with pytest.raises(AssertionError, match="_FRAME_LEN = 287, but pot.spec.FRAME_LEN = 286"):
        test_every_firmware_constant_is_a_checked_copy_or_declared_local()
