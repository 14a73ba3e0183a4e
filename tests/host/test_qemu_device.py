"""The device on the emulated board (boards/qemu: MicroPython v1.28.0 on a
Cortex-M3 in qemu, native code for armv6m), reached over its emulated UART
(a pseudo-terminal) exactly as a real board is over /dev/ttyACM0:

- `potkit device deploy --board qemu` against the plain image (no frozen
  firmware): mpy-cross for armv6m, copy with mpremote, provision, reset;
  qemu restarts on the reset (potkit.board.qemu) and the board boots into
  /main.py, whose serial link is the console;
- then `potkit device status|sync|send` as commands, and the demo's story
  through potkit.board.hostlink: sync, OK, replay, another device, altered message,
  forged, stale, and a flood.

A board that cannot be built (no arm-none-eabi toolchain or qemu) is a
failure, not a skip: tools/setup_system.sh installs both on Debian.
"""
import json
import os
import subprocess
import sys

import pytest
from nacl.signing import SigningKey

from pot.grg import context_message
from potkit.board import hostlink
from potkit import keys
from potkit.board.deploy import deploy
from potkit.issuer import Issuer
from potkit.timebase import FixedTimeBase

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import build_micropython  # noqa: E402

OTHER_KEY = SigningKey(b"\x52" * 32)
DEVICE = "gate-q"


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    from potkit.board.qemu import QemuBoard

    try:
        elf = build_micropython.ensure("qemu-plain")
    except build_micropython.BuildError as e:
        pytest.fail("no emulated board: %s" % str(e).splitlines()[0])
    b = QemuBoard(elf, str(tmp_path_factory.mktemp("qemu-board"))).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def key_path(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("issuer-key") / "issuer.key")
    keys.generate_keypair(path)
    return path


@pytest.fixture(scope="module")
def deployed(board, key_path):
    deploy(board.port, "qemu", DEVICE, keys.load_public_key(key_path))
    # The deploy ends with a reset: qemu exits, starts again and the board
    # boots into /main.py.
    board.wait_device()
    return board


def _link(board):
    return hostlink.DeviceLink(hostlink.open_transport(port=board.port))


def test_deploy_then_status_sync_send_commands(deployed, key_path, chrony, tmp_path):
    # A lab's time: one real chronyd on loopback, named as three operators
    # (the issuer needs three; the sources' own tests are elsewhere).
    lab = tmp_path / "lab.json"
    lab.write_text(json.dumps({"sources": [{"kind": "ntp", "host": "127.0.0.1", "port": chrony.ntp_port,
                                            "operator": "lab-%d" % i} for i in range(3)]}))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "host"), os.path.join(ROOT, "firmware")]))
    cmd = [sys.executable, "-m", "potkit.cli", "device"]

    def run(*args):
        p = subprocess.run(cmd + list(args) + ["--port", deployed.port], capture_output=True, text=True,
                           env=env, timeout=120)
        return p

    p = run("status")
    assert p.returncode == 0, p.stderr
    st = json.loads(p.stdout)
    assert st["device_id"] == DEVICE and not st["synced"]
    p = run("sync", "--key", key_path, "--time-config", str(lab))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["name"] == "OK"
    p = run("send", "--key", key_path, "--time-config", str(lab), "--message", "open",
            "--tier", "1")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert json.loads(p.stdout)["name"] == "OK"


def test_demo_story_over_the_emulated_uart(deployed, key_path):
    KEY = keys.load_signing_key(key_path)
    issuer = Issuer(KEY, FixedTimeBase())
    dl = _link(deployed)
    try:
        msg = b"unlock"

        def stamp(message=msg, device=DEVICE, tier=1, who=issuer):
            return who.issue(context_message(device, message), tier)

        r = dl.sync(lambda ch, ctx: issuer.issue(ctx, 1, ch))
        assert r["name"] == "OK" and r["clock_valid"], r
        rec = stamp()
        assert dl.send_stamped("alice", msg, rec)["name"] == "OK"
        assert dl.send_stamped("alice", msg, rec)["name"] == "REPLAY"
        assert dl.send_stamped("alice", msg, stamp(device="gate-r"))["name"] == "CROSS_CONTEXT"
        assert dl.send_stamped("alice", b"lock", stamp())["name"] == "CROSS_CONTEXT"
        forged = stamp(who=Issuer(OTHER_KEY, issuer.timebase))
        assert dl.send_stamped("mallory", msg, forged)["name"] == "FORGE"
        old = Issuer(KEY, FixedTimeBase(offset_ns=-5_000_000_000)).issue(context_message(DEVICE, msg), 1)
        assert dl.send_stamped("bob", msg, old)["name"] == "STALE"
        # A flood: boards/qemu/board.json allows 2 requests per second
        # after a burst of 12 (shared with the steps above), so most of 30
        # commands in a row are answered BUSY, without Ed25519. A command
        # that gets a token is verified in full; only the BUSY answers are
        # about the limit, so only they are counted.
        names = [dl.send_stamped("eve", b"f%d" % i, stamp(b"f%d" % i))["name"] for i in range(30)]
        assert names.count("BUSY") >= 20 and names.count("BUSY") < 30, names
        st = dl.status()
        assert st["accepted"] >= 2 and st["rate_limited"] >= 1 and st["device_id"] == DEVICE
    finally:
        dl.close()
