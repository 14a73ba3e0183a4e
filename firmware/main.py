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
import sys

try:
    import json
except ImportError:  # pragma: no cover
    import ujson as json

IS_UNIX = sys.platform in ("linux", "darwin")


def load_config(paths):
    cfg = {}
    for p in paths:
        try:
            with open(p) as f:
                cfg.update(json.load(f))
        except OSError:
            pass
    return cfg


def log(msg):
    # stderr on the Unix port (stdout may be the serial link). Silent on a
    # board, where stderr is the USB console that may carry the link (the
    # host parser would skip the text as noise, but it costs line time).
    if IS_UNIX:
        sys.stderr.write("pot-device " + msg + "\n")


def build_device(cfg):
    import binascii

    from pot.clock import SecureClock
    from pot.device import Device
    from pot.grg import context_device

    pk = binascii.unhexlify(cfg["issuer_public_key"])
    dev_id = cfg["device_id"]
    if "ctx" in cfg and binascii.unhexlify(cfg["ctx"]) != context_device(dev_id):
        raise ValueError("provisioned ctx does not match the device id")
    ck = cfg.get("clock", {})
    rtc = None
    if not IS_UNIX:
        try:
            import machine

            rtc = machine.RTC()
        except (ImportError, AttributeError):
            pass
    clock = SecureClock(rtc=rtc, **ck)
    fl = cfg.get("flood", {})
    return Device(pk, dev_id, skew_ms=cfg.get("skew_ms", 500), cache_capacity=cfg.get("cache_capacity", 32),
                  senders=cfg.get("senders", 8), rate_per_s=fl.get("rate_per_s", 20), burst=fl.get("burst", 10),
                  clock=clock)


def connect_wifi(timeout_ms=20000):
    import network
    import time

    try:
        with open("wifi.json") as f:
            w = json.load(f)
    except OSError:
        raise OSError("Wi-Fi requested but /wifi.json is missing")
    sta = network.WLAN(network.STA_IF)
    sta.active(True)
    if not sta.isconnected():
        sta.connect(w["ssid"], w["password"])
        t0 = time.ticks_ms()
        while not sta.isconnected():
            if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:
                raise OSError("Wi-Fi connection timed out")
            time.sleep_ms(100)
    return sta.ifconfig()[0]


def add_serial(server, spec):
    if spec in ("stdio", "usb"):
        if IS_UNIX:
            # The launcher hands us a non-blocking stdin (a pty master or a
            # pipe with O_NONBLOCK): read what is there, chunk by chunk.
            server.add_stream(sys.stdin.buffer, sys.stdout.buffer, chunked=True)
        else:
            # USB-CDC / the REPL UART: bytes 0x03 must not interrupt us.
            import micropython

            micropython.kbd_intr(-1)
            server.add_stream(sys.stdin.buffer, sys.stdout.buffer, chunked=False)
    elif isinstance(spec, dict):
        from machine import UART, Pin

        u = UART(spec["uart"], baudrate=spec.get("baud", 115200), tx=Pin(spec["tx"]), rx=Pin(spec["rx"]),
                 timeout=0, rxbuf=1024)
        server.add_stream(u, u, chunked=True)


def main(argv):
    paths = argv[1:] if len(argv) > 1 else ["pot.json", "board.json"]
    cfg = load_config(paths)
    if "issuer_public_key" not in cfg or "device_id" not in cfg:
        log("not provisioned: %s lacks issuer_public_key/device_id" % " ".join(paths))
        return 1
    from pot.device import Server

    lk = cfg.get("link", {"serial": "stdio"})
    device = build_device(cfg)
    server = Server(device, idle_ms=lk.get("idle_ms", 200))
    host = lk.get("host", "127.0.0.1" if IS_UNIX else "0.0.0.0")
    if lk.get("wifi"):
        host = connect_wifi()
        log("wifi " + host)
    if lk.get("serial"):
        add_serial(server, lk["serial"])
    if "tcp" in lk:
        s = server.add_tcp(host, lk["tcp"], lk.get("max_clients", 2))
        log("tcp %d" % _port(s, lk["tcp"]))
    if "udp" in lk:
        s = server.add_udp(host, lk["udp"])
        log("udp %d" % _port(s, lk["udp"]))
    log("ready %s" % device.device_id.decode())
    server.run()
    return 0


def _port(sock, configured):
    # The bound port (MicroPython's Unix sockets lack getsockname: then the
    # configured one).
    try:
        return sock.getsockname()[1]
    except AttributeError:
        return configured


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
