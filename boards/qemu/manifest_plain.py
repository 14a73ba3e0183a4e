# The emulated board's image without the PoT package: only the boot that
# mounts the flash filesystem (see mpconfigboard.mk).
freeze(".", "_boot.py")
