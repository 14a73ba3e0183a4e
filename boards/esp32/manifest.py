# Freeze the PoT device package into a MicroPython firmware image, so that its
# bytecode and constant tables (CRC, GF, Golay, Ed25519) live in flash, not RAM:
#   cd micropython/ports/esp32
#   make BOARD=ESP32_GENERIC FROZEN_MANIFEST=$REPO/boards/esp32/manifest.py
# Relative paths are relative to this file. The board boots /main.py, which
# deploy copies from pot/main.py (with pot.json / board.json); the frozen
# pot.main is that same entry point, unused on these boards.
include("$(PORT_DIR)/boards/manifest.py")
package("pot", base_path="../../firmware")
