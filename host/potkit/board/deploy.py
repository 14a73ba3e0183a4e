"""Put the firmware on a board: compile, provision and copy it in one
mpremote session (`potkit device deploy`).

    deploy(port, board, device_id, public_key)   -> the mpremote argv it ran

What a board receives: /pot/*.mpy (the installed `pot` package, through
mpy-cross for the board's architecture), /main.py (pot/main.py, the entry
point), /pot.json (provisioning: the issuer public key and the device id),
/board.json (the board definition: links and limits) and /wifi.json when
given (Wi-Fi credentials, never committed).
"""
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from potkit import PotkitError
from potkit.board import hostlink
from potkit.board.build import compile_firmware
from potkit.board.paths import ENTRY_POINT, board_file, firmware_modules, tool

# Boards `deploy` copies the firmware to (each has boards/NAME/board.json).
DEPLOY_BOARDS = ("esp32", "rp2040", "qemu")
BOARD_ARCH = {"esp32": "xtensawin", "rp2040": "armv6m", "qemu": "armv6m", "unix": None}


def board_config(board):
    with open(board_file(board, "board.json")) as f:
        return json.load(f)


def deploy_steps(port, copies):
    """One mpremote session: make :pot, copy every file, reset (mpremote
    chains commands with "+"). Returns the argv."""
    mkdir = "import os; 'pot' in os.listdir() or os.mkdir('pot')"   # one line: the dry run prints it
    argv = [tool("mpremote"), "connect", port, "exec", mkdir]
    for dst in sorted(set(os.path.dirname(d) or ":" for _, d in copies)):
        srcs = [a for a, d in copies if (os.path.dirname(d) or ":") == dst]
        argv += ["+", "fs", "cp"] + srcs + [dst if dst.endswith("/") or dst == ":" else dst + "/"]
    return argv + ["+", "reset"]


def deploy(port, board, device_id, public_key, dry_run=False, out_dir=None, wifi=None):
    """Compile, provision and copy the firmware to a board in one mpremote session.

    dry_run: build everything into out_dir (kept; a new temporary folder
    if None), print the one mpremote command that would copy it, and return
    it: the command can be run as printed.
    wifi: a wifi.json to copy (default: boards/BOARD/wifi.json of a source
    checkout, when it exists).
    """
    from tqdm import tqdm

    from potkit.keys import provisioning_document

    if board not in DEPLOY_BOARDS:
        raise PotkitError("deploy knows the boards %s" % ", ".join(DEPLOY_BOARDS))
    if wifi is not None and not os.path.isfile(wifi):
        raise PotkitError("--wifi %s: no such file" % wifi)
    arch = BOARD_ARCH[board]
    keep = dry_run or out_dir is not None
    work = out_dir or tempfile.mkdtemp(prefix="pot-deploy-")
    os.makedirs(work, exist_ok=True)
    tty = sys.stderr.isatty()
    try:
        doc = provisioning_document(public_key, device_id)
        with tqdm(total=len(firmware_modules()), desc="mpy-cross -march=" + arch, unit="file",
                  disable=not tty) as bar:
            mpys = compile_firmware(work, arch, bar)
        with open(os.path.join(work, "pot.json"), "w") as f:
            json.dump(doc, f)
        main_py = os.path.join(work, "main.py")
        shutil.copy(ENTRY_POINT, main_py)
        shutil.copy(board_file(board, "board.json"), os.path.join(work, "board.json"))
        copies = [(m, ":pot/" + os.path.basename(m)) for m in mpys]
        copies += [(main_py, ":main.py"), (os.path.join(work, "pot.json"), ":pot.json"),
                   (os.path.join(work, "board.json"), ":board.json")]
        wifi = wifi or board_file(board, "wifi.json")
        if os.path.exists(wifi):
            copies.append((wifi, ":wifi.json"))
        argv = deploy_steps(port, copies)
        if dry_run:
            print(" ".join(shlex.quote(a) for a in argv))
            return argv
        if tty:
            print("mpremote %s: copying %d files" % (port, len(copies)), file=sys.stderr)
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode:
            raise hostlink.LinkError("mpremote on %s failed: %s; check --port and that no other program holds it"
                                     % (port, " ".join((p.stderr or p.stdout).split())[-300:]))
        return argv
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
