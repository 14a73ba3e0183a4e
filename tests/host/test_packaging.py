"""The systemd unit and the OCI recipe in packaging/: syntax and consistency.

`systemd-analyze verify` checks the unit (a temporary copy whose ExecStart
names an executable that exists here: verify insists on it). The options the
unit and the Dockerfile pass to `potkit serve` are parsed by potkit's own
argument parser, so a renamed option fails here and not on a server.
"""
import os
import re
import shlex
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "packaging")


def serve_argv(argv):
    """Parses `potkit serve ...` options with the real parser (SystemExit on a bad one)."""
    from potkit import service
    from potkit.cli import Parser

    assert argv[:2] == ["potkit", "serve"] or argv[0].endswith("/potkit") and argv[1] == "serve", argv
    p = Parser(prog="potkit serve")
    service.serve_args(p)
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
