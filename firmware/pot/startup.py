# Start-up and board-only paths of the device service.
#
#   setup(argv)   reads the configuration, builds the device and its links
#                 and starts the device; returns the server to run
#                 (firmware/pot/main.py calls it once, then drops this module:
#                 on the Unix port the start-up code goes back to the heap)
#
# What only a real board does (its RTC, Wi-Fi, USB-CDC and UART links) is
# pot.board_hw, imported only there: the names a module uses are interned
# when it loads and stay for good, even after the module is dropped, and on
# the Unix port they live in the heap (see tools/heap_report.py).
#
# Configuration: JSON objects, merged (board settings after the
# provisioning document). Keys:
#   issuer_public_key  hex, 32 bytes (required)
#   device_id          1..64 bytes of text (required)
#   ctx                optional; if given it must equal 00 || len || id
#   skew_ms, cache_capacity, senders
#   flood      {"rate_per_s": 20, "burst": 10, "verify_per_s": 40, "verify_burst": 20}
#              (per sender; the device-wide Ed25519 budget, default twice the
#              sender's)
#   clock      {"drift_ppm": 200, "resync_us": 20000, "max_uncertainty_us": 250000,
#               "resync_interval_ms": 3600000, "max_rtt_ms": 5000}
#   link       {"serial": "stdio" | "usb" | {"uart": 1, "tx": 4, "rx": 5, "baud": 115200},
#               "tcp": PORT, "udp": PORT, "host": "0.0.0.0", "wifi": true,
#               "idle_ms": 200, "max_clients": 2, "client_idle_ms": 30000, "udp_peers": 8,
#               "tcp_peers": 8}
#   (tcp port 0 on the Unix port: any free port, printed on stderr as
#   "pot-device tcp PORT"; likewise udp.)
#
# The order of start-up is the device's memory plan (see pot.device): light
# objects and the links' buffers first, the verifier and its crypto last
# (start_device(), here rather than in pot.device so that its code leaves
# the heap with this module).
import sys

IS_UNIX = sys.platform in ("linux", "darwin")


def log(msg):
    # stderr on the Unix port (stdout may be the serial link). Silent on a
    # board, where stderr is the USB console that may carry the link (the
    # host parser would skip the text as noise, but it costs line time).
    if IS_UNIX:
        sys.stderr.write("pot-device " + msg + "\n")


def setup(argv):
    # The started device's server, or None (logged) if not provisioned.
    import json

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
        return None
    from pot.clock import SecureClock
    from pot.device import Device

    lk = cfg.get("link", {"serial": "stdio"})
    fl = cfg.get("flood", {})
    hw = None
    if not IS_UNIX:
        from pot import board_hw as hw
    clock = SecureClock(rtc=hw and hw.rtc(), **cfg.get("clock", {}))
    device = Device(cfg["device_id"], clock, senders=cfg.get("senders", 8), rate_per_s=fl.get("rate_per_s", 20),
                    burst=fl.get("burst", 10), verify_per_s=fl.get("verify_per_s"),
                    verify_burst=fl.get("verify_burst"))
    if "tcp" in lk or "udp" in lk:
        from pot.device_net import NetServer as Server
    else:
        from pot.device import Server
    server = Server(device, idle_ms=lk.get("idle_ms", 200))
    host = lk.get("host", "127.0.0.1" if IS_UNIX else "0.0.0.0")
    if lk.get("wifi"):
        if hw is None:
            raise ValueError("link.wifi: only a board has Wi-Fi (the Unix port serves on its own network)")
        host = hw.connect_wifi()
        log("wifi " + host)
    serial = lk.get("serial")
    if serial in ("stdio", "usb") and IS_UNIX:
        # The launcher hands us a non-blocking stdin (a pty master or a
        # pipe with O_NONBLOCK): read what is there, chunk by chunk.
        server.add_stream(sys.stdin.buffer, sys.stdout.buffer, chunked=True)
    elif serial:
        if hw is None:
            raise ValueError("link.serial %r: the Unix port has \"stdio\" only" % (serial,))
        hw.add_serial(server, serial)
    if "tcp" in lk:
        log("tcp %d" % server.add_tcp(host, lk["tcp"], lk.get("max_clients", 2), lk.get("client_idle_ms", 30000),
                                      lk.get("tcp_peers", 8)))
    if "udp" in lk:
        log("udp %d" % server.add_udp(host, lk["udp"], lk.get("udp_peers", 8)))
    from binascii import unhexlify

    start_device(device, unhexlify(cfg["issuer_public_key"]), cfg.get("skew_ms", 500), cfg.get("cache_capacity", 32))
    if "ctx" in cfg and unhexlify(cfg["ctx"]) != device.ctx_device:
        raise ValueError("provisioned ctx does not match the device id")
    log("ready %s" % device.device_id.decode())
    return server


def start_device(device, public_key, skew_ms, cache_capacity):
    # Load the verifier and its crypto into the device (the heavy imports:
    # last, see pot.device). The context functions come with it (pot.grg).
    # A collection first gives the loaded code the largest free blocks
    # there are.
    import gc

    gc.collect()
    # pot.ed25519 (with its field code, table and SHA-512: the largest
    # pieces of code) first, while the free space is still in one piece;
    # loaded after pot.grg and the verifier's buffers, the same load needs
    # a heap more than 2 KB larger (the soak measures it).
    from pot.ed25519 import crypto_ed25519_verify

    # A collection after each of the three loads: the loader frees its
    # temporaries as it goes, and a load that starts on a collected heap
    # leaves fewer small holes between the objects it keeps (the free space
    # an Ed25519 verify's temporaries need, in pieces of 5 blocks and
    # more). Together with main.py dropping the start-up code (this
    # module) this saves about 2 KB of soak heap; neither alone gains, and
    # a collection after each of the verifier's twelve modules saves less
    # than these three.
    gc.collect()
    from pot.grg import context_device, context_message

    gc.collect()
    from pot.verifier import Verifier

    gc.collect()
    device.ctx_device = context_device(device.device_id)
    device._context_message = context_message
    device.ed25519 = crypto_ed25519_verify
    v = device.verifier = Verifier(public_key, skew_ms=skew_ms, cache_capacity=cache_capacity,
                                   ed25519=device._ed25519)
    # The replay cache relies on the ORDERING floor (pot.nonces): no flood
    # of genuine records can fill it to hold newer ones up.
    v.cache.verifier = v
