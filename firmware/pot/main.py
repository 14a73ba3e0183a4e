# Board and Unix-port entry point of the PoT device (docs/spec.md, "The
# device link", provisioning).
#
#   Board:      copied as /main.py; runs at boot with /pot.json (provisioning:
#               issuer public key, device id), /board.json (links, limits) and,
#               for Wi-Fi, /wifi.json ({"ssid": ..., "password": ...}, never
#               committed).
#   Unix port:  micropython firmware/pot/main.py CONFIG.json [BOARD.json]
#               (MICROPYPATH must reach the pot package, e.g. firmware/)
# Deploy copies this file as /main.py and compiles the other pot modules;
# no pot module imports it.
#
# pot.startup.setup() reads the configuration (its keys are listed there) and
# builds and starts the device and its links. That code runs once: this
# module then drops pot.startup, so on the Unix port (where code lives in the
# heap) the start-up code and the configuration (~2.5 KB) go back to the
# heap. They were loaded first, so they leave one piece at the bottom of the
# heap, where an Ed25519 verify's temporaries find room (the soak runs in
# 1 KB less heap; freeing them before the verifier loads did worse: the
# verifier's code then fills the piece). Only this small loop stays.
import sys


def main(argv):
    from pot import startup

    server = startup.setup(argv)
    # Drop the start-up code: no reference to pot.startup may outlive this
    # (the package's attribute, sys.modules, our locals). A board whose
    # firmware is frozen loses nothing (the code is in flash).
    del startup
    import pot

    del pot.startup
    del sys.modules["pot.startup"]
    if server is None:
        return 1
    server.run()
    return 0


if __name__ == "__main__":
    try:
        rc = main(sys.argv)
    except Exception as e:  # report on stderr: stdout may be the serial link
        if hasattr(sys, "print_exception"):
            sys.print_exception(e, sys.stderr)
        else:
            import traceback

            traceback.print_exc()
        rc = 1
    sys.exit(rc)
