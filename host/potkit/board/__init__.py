"""potkit.board: the host's code for boards that run the `pot` firmware.

    paths    where the firmware (the installed `pot` package), the board
             definitions (boards/NAME/board.json, shipped as package data)
             and the MicroPython programs are
    build    mpy-cross: the firmware as .mpy files for a board's architecture
    deploy   compile, provision and copy the firmware to a board (mpremote)
    hostlink the host end of the device link: transports and DeviceLink
    unix     UnixBoard: the firmware on the MicroPython Unix port, a virtual
             board on loopback (`make demo`, the end-to-end tests)
    qemu     QemuBoard: the emulated Cortex-M board of boards/qemu
    issuers  the issue(challenge, ctx) callables a link syncs with: through
             a `potkit serve --tcp` endpoint, or signed here

`potkit device` (potkit.commands.device) is the command line over these.
"""
