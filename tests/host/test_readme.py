"""The README's tour and its "Offline or in a lab" section, run verbatim.

The fenced blocks after `<!-- test: lab-start -->`, `<!-- test: tour -->`
and `<!-- test: lab-stop -->` are joined into one bash script (so that the
lab's `export POTKIT_CONFIG=...` holds for the tour) and run with `set -e`
in a fresh folder holding a copy of examples/ (what a clean clone has), with
HOME in a temporary folder (the key goes to ~/.config/potkit) and `potkit`
on PATH running this tree's code. Everything stays on loopback: the lab's
three chronyd on 127.0.0.1:11231-11233, the service on 127.0.0.1:8080/8123.
"""
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_PORTS = (11231, 11232, 11233)


def readme_block(tag):
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- test: %s -->\n```\n(.*?)```" % re.escape(tag), text, re.S)
    assert m, "README.md has no block marked <!-- test: %s -->" % tag
    return m.group(1)


def port_free(port, kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def stop_lab():
    # Only the chronyd started from the lab configs (their pid files name
    # them); returns once they are gone, so that the next run can start them.
    pids = []
    for i in (1, 2, 3):
        try:
            with open("/tmp/potkit-lab-%d.pid" % i) as f:
                pid = int(f.read().split()[0])
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                if b"examples/lab/chrony-%d.conf" % i in f.read():
                    os.kill(pid, signal.SIGTERM)
                    pids.append(pid)
        except (OSError, ValueError, IndexError):
            pass
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if os.path.exists("/proc/%d" % p)]
        time.sleep(0.05)


def potkit_shim(bindir):
    path = os.path.join(bindir, "potkit")
    with open(path, "w") as f:
        f.write('#!/bin/sh\nPYTHONPATH="%s/host:%s/firmware" exec "%s" -m potkit.cli "$@"\n'
                % (ROOT, ROOT, sys.executable))
    os.chmod(path, 0o755)


def test_readme_tour_and_lab_run_verbatim(tmp_path):
    for tool in ("chronyd", "curl", "bash"):
        assert shutil.which(tool), "%s is needed (tools/setup_system.sh installs it)" % tool
    stop_lab()   # a lab left over by an interrupted run
    for p in LAB_PORTS:
        assert port_free(p, socket.SOCK_DGRAM), "UDP port %d is taken: the lab cannot start" % p
    for p in (8080, 8123):
        assert port_free(p), "TCP port %d is taken: the tour's `potkit serve` cannot start" % p
    work = tmp_path / "clone"
    work.mkdir()
    shutil.copytree(os.path.join(ROOT, "examples"), str(work / "examples"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    potkit_shim(str(bindir))
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("POTKIT_KEY", "POTKIT_CONFIG", "XDG_CONFIG_HOME", "PYTHONPATH")}
    env.update(HOME=str(home), PATH="%s:%s:%s" % (bindir, os.path.dirname(sys.executable), env.get("PATH", "")))
    script = "set -e\n" + readme_block("lab-start") + readme_block("tour") + readme_block("lab-stop")
    try:
        p = subprocess.run(["bash", "-c", script], cwd=str(work), env=env, capture_output=True, text=True,
                           timeout=300)
    finally:
        stop_lab()
    out, err = p.stdout, p.stderr
    assert p.returncode == 0, "README script failed (%d)\nstdout:\n%s\nstderr:\n%s" % (p.returncode, out, err)
    assert "Traceback" not in err + out
    # keygen: the key pair under ~/.config/potkit, mode 0600, not in the checkout.
    key = home / ".config" / "potkit" / "issuer.key"
    assert stat.S_IMODE(os.stat(str(key)).st_mode) == 0o600 and (home / ".config/potkit/issuer.key.pub").exists()
    assert not list(work.glob("*.key*"))
    # time: the lab's three operators agree; issue: one 143-byte record.
    assert "3 of distinct operators agree" in out and "lab-3" in out
    record = (work / "record.hex").read_text().strip()
    assert len(bytes.fromhex(record)) == 143
    # show / verify: every check passes for the right message; a changed one is rejected.
    assert "T1_block" in out and "signature    pass" in out
    assert re.search(r"^OK \(0\)$", out, re.M)
    assert re.search(r"^CROSS_CONTEXT \(3\)$", out, re.M) and "exit 1: rejected" in out
    # serve: /health, an issued record over HTTP, the counter that saw it; a clean stop.
    assert '"status": "ok"' in out and re.search(r'"record": "[0-9a-f]{286}"', out)
    assert 'pot_issued_total{transport="http"} 1.0' in out
    assert "potkit serve: stopped" in err
    # pubkey: a provisioning file; deploy --dry-run: one mpremote command over the built files.
    assert '"device_id": "door-1"' in (work / "provision.json").read_text()
    lines = [ln for ln in out.splitlines() if "mpremote" in ln and " connect PORT " in ln]
    assert len(lines) == 1 and "fs cp" in lines[0] and lines[0].rstrip().endswith("reset")
    assert (work / "build" / "deploy-rp2040" / "pot.json").exists()


def test_readme_names_every_documented_exit_status():
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    from potkit import validate

    for code in (validate.EXIT_OK, validate.EXIT_REJECTED, validate.EXIT_USAGE, validate.EXIT_NO_TIME,
                 validate.EXIT_UNREACHABLE, validate.EXIT_INTERNAL, 130):
        assert re.search(r"^\| %d \|" % code, text, re.M), code


def test_shipped_example_configs_load(monkeypatch):
    from potkit.config import DEFAULT_SOURCES, DEFAULT_SYNTHESIS, config_from_args, load_config

    for name in ("public.json", "lan.json", os.path.join("lab", "loopback.json")):
        path = os.path.join(ROOT, "examples", name)
        load_config(path).check()
        monkeypatch.setenv("POTKIT_CONFIG", path)
        assert config_from_args(None).sources   # $POTKIT_CONFIG is read
    import json

    with open(os.path.join(ROOT, "examples", "public.json")) as f:
        assert json.load(f) == {"sources": [dict(d) for d in DEFAULT_SOURCES], "synthesis": DEFAULT_SYNTHESIS}
