# The emulated board: qemu's mps2-an385 (Cortex-M3), built out of tree from
# MicroPython's ports/qemu (tools/build_micropython.py):
#   make -C ports/qemu BOARD=POT_QEMU BOARD_DIR=$REPO/boards/qemu FROZEN_MANIFEST=...
# What it adds to the port's MPS2_AN385 board, so that it behaves as the
# project's real boards do:
# - native code compiled for armv6m, the RP2040's architecture (the M3
#   runs the v6-M subset), for frozen modules and for .mpy files alike;
# - a littlefs filesystem on a flash image that survives a soft reset and
#   a hard reset (machine.reset() ends qemu; potkit/board/qemu.py starts it
#   again on the same serial port): cmodules/qemu_board/board.c;
# - os.urandom from the host's /dev/urandom (board.c), as a real board has
#   a hardware RNG: the device's challenges need it;
# - boot as a board does: the frozen _boot.py mounts the filesystem, then
#   /main.py runs if the REPL is in its normal (friendly) mode.
include $(TOP)/ports/qemu/boards/MPS2_AN385/mpconfigboard.mk

MPY_CROSS_FLAGS := $(filter-out -march=armv7m,$(MPY_CROSS_FLAGS)) -march=armv6m
MICROPY_VFS_LFS2 = 1
USER_C_MODULES = $(abspath $(BOARD_DIR))/cmodules
CFLAGS += "-DMICROPY_PORT_INIT_FUNC=do { extern void qemu_board_init(void); qemu_board_init(); } while (0)"
# os.urandom: the port's own mp_hal_get_random is a fixed-seed LCG (for the
# random module's tests), so the link sends every call to board.c's instead.
CFLAGS += -DMICROPY_PY_OS_URANDOM=1
LDFLAGS += -Wl,--wrap=mp_hal_get_random
# ticks from the FPGA's counters (board.c): SysTick interrupts are lost
# when the host is busy.
LDFLAGS += -Wl,--wrap=ticks_ms -Wl,--wrap=ticks_us
