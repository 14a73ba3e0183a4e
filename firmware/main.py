# Board and Unix-port entry point of the PoT device (docs/spec.md, "The
# device link", provisioning).
#
#   Board:      copied as /main.py; runs at boot with /pot.json (provisioning:
#               issuer public key, device id), /board.json (links, limits) and,
#               for Wi-Fi, /wifi.json ({"ssid": ..., "password": ...}, never
#               committed).
#   Unix port:  micropython firmware/main.py CONFIG.json [BOARD.json]
#               (MICROPYPATH must reach the pot package, e.g. firmware/)
#
# Both files are JSON objects and are merged (board settings after the
# provisioning document). Keys:
#   issuer_public_key  hex, 32 bytes (required)
#   device_id          1..64 bytes of text (required)
#   ctx                optional; if given it must equal 00 || len || id
#   skew_ms, cache_capacity, senders
#   flood      {"rate_per_s": 20, "burst": 10}
#   clock      {"drift_ppm": 200, "resync_us": 20000, "max_uncertainty_us": 250000,
#               "resync_interval_ms": 3600000, "max_rtt_ms": 5000}
#   link       {"serial": "stdio" | "usb" | {"uart": 1, "tx": 4, "rx": 5, "baud": 115200},
#               "tcp": PORT, "udp": PORT, "host": "0.0.0.0", "wifi": true,
#               "idle_ms": 200, "max_clients": 2}
#   (tcp port 0 on the Unix port: any free port, printed on stderr as
#   "pot-device tcp PORT"; likewise udp.)
#
# Memory: this module is small on purpose (on the Unix port its code and
# names live in the heap); board-only paths (Wi-Fi, UART, USB console, RTC)
# are pot.board's, the network links pot.device_net's, each imported only
# when used. The order of start-up is the device's memory plan (see
# pot.device): light objects and the links' buffers first, the verifier
# and its crypto last.
import json
import sys

IS_UNIX = sys.platform in ("linux", "darwin")


def log(msg):
    # stderr on the Unix port (stdout may be the serial link). Silent on a
    # board, where stderr is the USB console that may carry the link (the
    # host parser would skip the text as noise, but it costs line time).
    if IS_UNIX:
        sys.stderr.write("pot-device " + msg + "\n")


def main(argv):
    paths = argv[1:] if len(argv) > 1 else ["pot.json", "board.json"]
    cfg = {}
    for p in paths:
        try:
            with open(p) as f:
                cfg.update(json.load(f))
        except OSError:
            pass
    if "issuer_public_key" not in cfg or "device_id" not in cfg:
        log("not provisioned: %s lacks issuer_public_key/device_id" % " ".join(paths))
        return 1
    from binascii import unhexlify

    from pot.clock import SecureClock
    from pot.device import Device

    rtc = None
    if not IS_UNIX:
        from pot.board import rtc

        rtc = rtc()
    lk = cfg.get("link", {"serial": "stdio"})
    fl = cfg.get("flood", {})
    clock = SecureClock(rtc=rtc, **cfg.get("clock", {}))
    device = Device(cfg["device_id"], clock, senders=cfg.get("senders", 8), rate_per_s=fl.get("rate_per_s", 20),
                    burst=fl.get("burst", 10))
    if "tcp" in lk or "udp" in lk:
        from pot.device_net import NetServer as Server
    else:
        from pot.device import Server
    server = Server(device, idle_ms=lk.get("idle_ms", 200))
    host = lk.get("host", "127.0.0.1" if IS_UNIX else "0.0.0.0")
    if lk.get("wifi"):
        from pot.board import connect_wifi

        host = connect_wifi()
        log("wifi " + host)
    serial = lk.get("serial")
    if serial in ("stdio", "usb") and IS_UNIX:
        # The launcher hands us a non-blocking stdin (a pty master or a
        # pipe with O_NONBLOCK): read what is there, chunk by chunk.
        server.add_stream(sys.stdin.buffer, sys.stdout.buffer, chunked=True)
    elif serial:
        from pot.board import add_serial

        add_serial(server, serial)
    if "tcp" in lk:
        log("tcp %d" % server.add_tcp(host, lk["tcp"], lk.get("max_clients", 2)))
    if "udp" in lk:
        log("udp %d" % server.add_udp(host, lk["udp"]))
    device.start(unhexlify(cfg["issuer_public_key"]), skew_ms=cfg.get("skew_ms", 500),
                 cache_capacity=cfg.get("cache_capacity", 32))
    if "ctx" in cfg and unhexlify(cfg["ctx"]) != device.ctx_device:
        raise ValueError("provisioned ctx does not match the device id")
    log("ready %s" % device.device_id.decode())
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
