# What only a real board does: its RTC, Wi-Fi and serial links (USB-CDC,
# UART). pot.startup.setup() imports this module on boards only, and
# pot.clock to set the RTC after a sync.
#
#   rtc()                       the board's machine.RTC, or None
#   set_rtc(rtc, base_ns)       set it to a clock's base instant
#   connect_wifi(timeout_ms)    join the network of /wifi.json; the address
#   add_serial(server, spec)    add the USB-CDC console or a UART to a server
#
# `machine` and `network` are imported inside the functions: this module
# also imports on CPython (the clock tests give a fake RTC).
import sys


def rtc():
    # The board's RTC, or None on a port without one.
    try:
        import machine

        return machine.RTC()
    except (ImportError, AttributeError):
        return None


def set_rtc(rtc, base_ns):
    # Set the RTC to the clock's base instant (ns since 1970). A convenience
    # for other code on the board: the secure clock itself lives on ticks,
    # so a failure here is ignored.
    try:
        import time

        secs = base_ns // 1000000000
        # Ports count from 1970 or from 2000: ask the port which.
        if time.gmtime(0)[0] == 2000:
            secs -= 946684800
        g = time.gmtime(secs)  # (y, mo, d, h, mi, s, weekday, ...)
        us = (base_ns // 1000) % 1000000
        rtc.datetime((g[0], g[1], g[2], g[6], g[3], g[4], g[5], us))
    except Exception:
        pass


def connect_wifi(timeout_ms=20000):
    # Join the network of /wifi.json ({"ssid": ..., "password": ...}, never
    # committed); returns the board's address.
    import json
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
    # spec "stdio" / "usb": the USB-CDC console (or the REPL UART); a dict
    # {"uart": 1, "tx": 4, "rx": 5, "baud": 115200}: a hardware UART.
    if isinstance(spec, dict):
        from machine import UART, Pin

        u = UART(spec["uart"], baudrate=spec.get("baud", 115200), tx=Pin(spec["tx"]), rx=Pin(spec["rx"]),
                 timeout=0, rxbuf=1024)
        server.add_stream(u, u, chunked=True)
    else:
        # Bytes 0x03 must not interrupt us; the console's stdin blocks, so
        # it is read one byte per poll.
        import micropython

        micropython.kbd_intr(-1)
        server.add_stream(sys.stdin.buffer, sys.stdout.buffer, chunked=False)
