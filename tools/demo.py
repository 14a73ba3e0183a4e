#!/usr/bin/env python3
"""`make demo`: an issuer with real time sources, a virtual board, stamped commands.

    .venv/bin/python tools/demo.py                     the virtual board (MicroPython Unix port)
    .venv/bin/python tools/demo.py --port /dev/ttyACM0 a real board deployed with
                                                       `potkit device deploy` for --key KEY

1. Starts three chronyd NTP servers on loopback (three "operators"; the
   tests' peers helpers) and a multi-source timebase over them (potkit.synth).
2. Starts the issuer (Ed25519 via libsodium) with a fresh key, unless --key.
3. Starts the firmware on the MicroPython Unix port, linked by a
   pseudo-terminal (pyserial opens its tty like a USB serial port) and TCP.
4. Syncs the board's secure clock with a challenge-mode record, then sends
   stamped commands: good ones, a replay, one for another device, one whose
   message was altered, a forged one (another key), a stale one (held past
   its tier's window) and a flood; prints a table of verdicts and timings.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("host", "firmware", os.path.join("tools", "lab")):
    sys.path.insert(0, os.path.join(ROOT, p))

from nacl.signing import SigningKey  # noqa: E402

from pot.grg import context_message  # noqa: E402
from potkit import PotkitError  # noqa: E402
from potkit.board import hostlink  # noqa: E402
from potkit.board.unix import UnixBoard  # noqa: E402
from potkit.issuer import Issuer  # noqa: E402
from potkit.timebase import FixedTimeBase, TimeBase  # noqa: E402

DEVICE_ID = "demo-door-1"
AUDIT = {}   # "log": potkit.auditlog.device_log.DeviceAudit of the board's verdicts


def audit(v, device_id, message, record, link):
    if AUDIT.get("log"):
        AUDIT["log"].verdict(v, context_message(device_id, message), record,
                             "tcp" if link.startswith("tcp") else "serial", link)


def start_time_sources(n=3):
    """(timebase, servers, description) over n local chronyd, or the host clock if chronyd is missing."""
    servers = []
    tb = None
    try:
        import peers
        from potkit.config import SourceConfig
        from potkit.synth import synthesize_sources

        for _ in range(n):
            servers.append(peers.start_chrony())
        sources = [SourceConfig("ntp", host=s.host, port=s.ntp_port, operator="demo-operator-%d" % i)
                   for i, s in enumerate(servers)]
        tb = TimeBase(lambda: synthesize_sources(sources, min_sources=3, timeout_s=2.0), refresh_s=8.0)
        tb.refresh()
        tb.start()
        now = tb.now()
        desc = "%d chronyd NTP servers on loopback (%s), %d agree, confidence %d ppm, uncertainty %.3f ms" % (
            n, ", ".join("%s:%d" % (s.host, s.ntp_port) for s in servers), now.source_count,
            now.confidence_ppm, now.uncertainty_ns / 1e6)
        return tb, servers, desc
    except Exception as e:  # no chronyd: say so loudly, keep the demo going
        # Stop whatever did start (a second chronyd may fail after the first ran).
        if tb is not None:
            tb.stop()
        for s in servers:
            s.stop()
        return FixedTimeBase(), [], "WARNING: local chronyd unavailable (%s): the host clock stands in" % e


def row(link, what, sender, expect, v):
    # One line of the verdict table for the device's answer v.
    return (link, what, sender, expect, v["name"], v["mode"], "%d" % v["time_us"],
            "%.1f" % v["host_round_trip_ms"], "ok" if v["name"] == expect else "UNEXPECTED")


def print_table(rows):
    head = ("link", "command", "sender", "expected", "verdict", "mode", "device us", "host ms", "")
    w = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]
    line = "  ".join("%-*s" % (w[i], head[i]) for i in range(len(head)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join("%-*s" % (w[i], r[i]) for i in range(len(head))))


TABLE_LEGEND = """\
  expected   the verdict the board must give; "ok" in the last column when it did
  verdict    the board's answer (docs/spec.md section 4): OK accepted; REPLAY seen before; CROSS_CONTEXT
             the record is bound to another context: ctx = 01 || len || device id || SHA-256(message), so
             a record made for another device, or a message altered by one byte after stamping, no longer
             matches its GRG commitment (rejected before any signature check: hence the few device us);
             FORGE not signed by the provisioned key; STALE older than its tier's window by the board's
             clock; BUSY refused by the flood limit without verifying; NO_CLOCK no trusted time yet
  mode       the sender's trust mode after this verdict (AdaptiveSwitch, spec 4.8): FULL until 20
             verdicts with 19 or more OK and no failure, then TURBO; "-" not tracked (no clock, flood)
  device us  the board's own time for the verdict (its ticks_us clock)
  host ms    the round trip as the host saw it (link and both ends)"""


def sync_line(r):
    """The clock sync, explained: the board measures the round trip of its
    challenge with its own clock (ticks_us) and is then right to half of it
    plus one ms tick."""
    return ("   clock sync: %s; the board timed its challenge's round trip at %.2f ms by its own clock, so its "
            "clock is now right to +- %.2f ms; the host saw %.1f ms"
            % (r["name"], r["time_us"] / 1000, (r["uncertainty_us"] or 0) / 1000, r["host_round_trip_ms"]))


def counters_line(st):
    """The board's counters: cumulative since it started, over every link so far."""
    return ("   board totals since it started (all links so far): %d stamped commands verified, %d accepted (OK), "
            "%d refused by the flood limit unverified, %d link errors; heap %d B in use"
            % (st["requests"], st["accepted"], st["rate_limited"], st["link_errors"], st["heap_alloc"]))


def run_script(dl, name, issuer, other_issuer, device_id, rows, tier=3, clock_u_us=0):
    def stamp(message, dev=device_id, iss=issuer, t=tier):
        return iss.issue(context_message(dev, message), t)

    def send(what, sender, message, record, expect):
        v = dl.send_stamped(sender, message, record)
        audit(v, device_id, message, record, name)
        rows.append(row(name, what, sender, expect, v))
        return v

    m = b"unlock door"
    rec = stamp(m)
    send("unlock door", "alice", m, rec, "OK")
    send("same record again (replay)", "mallory", m, rec, "REPLAY")
    send("record made for demo-door-2", "mallory", m, stamp(m, dev="demo-door-2"), "CROSS_CONTEXT")
    send("message altered after stamping", "mallory", b"unlock ALL doors", stamp(m), "CROSS_CONTEXT")
    send("signed with another key (forged)", "mallory", m, stamp(m, iss=other_issuer), "FORGE")
    # T3_micro records are good for 100 ms by the device's clock, which is
    # right to +- its sync uncertainty: held 50 ms past the window plus
    # twice that, the record is stale whatever the device's error.
    st = dl.status()
    hold_ms = 150 + 2 * ((st["uncertainty_us"] or clock_u_us) // 1000)
    old = stamp(b"close door")
    time.sleep(hold_ms / 1000)
    send("held %d ms (T3 window 100 ms)" % hold_ms, "bob", b"close door", old, "STALE")
    send("close door", "bob", b"close door", stamp(b"close door"), "OK")


def flood(dl, name, issuer, device_id, rows, count=30):
    busy = 0
    t0 = time.monotonic()
    for i in range(count):
        m = b"flood %d" % i
        rec = issuer.issue(context_message(device_id, m), 3)
        v = dl.send_stamped("flooder", m, rec)
        audit(v, device_id, m, rec, name)
        busy += v["name"] == "BUSY"
    secs = time.monotonic() - t0
    rows.append((name, "%d commands in %.2f s (flood)" % (count, secs), "flooder", "BUSY after burst",
                 "%d BUSY" % busy, "-", "-", "%.1f" % (secs * 1000 / count), "ok" if busy else "UNEXPECTED"))


def start_qemu_board(public_key):
    # The emulated board (boards/qemu, plain image) with the firmware
    # deployed as to a real board: potkit.board.deploy (mpy-cross for
    # armv6m, mpremote, provisioning, reset), then its UART.
    import tempfile

    import build_micropython
    from potkit.board.deploy import deploy
    from potkit.board.qemu import QemuBoard

    elf = build_micropython.ensure("qemu-plain")
    board = QemuBoard(elf, tempfile.mkdtemp(prefix="pot-demo-qemu-")).start()
    try:
        print("== emulated board: qemu mps2-an385 (Cortex-M3, MicroPython v1.28.0, armv6m code) on %s; deploying"
              % board.port)
        deploy(board.port, "qemu", DEVICE_ID, public_key)
        board.wait_device()  # the board loads the firmware after its reset
    except BaseException:
        board.stop()
        raise
    return board


def show_audit_log():
    """The board's verdicts as a signed log: its checkpoint, and one entry's
    inclusion proof checked offline with nothing but the log's public key."""
    from potkit import cli, keys
    from potkit.auditlog import entry as E
    from potkit.auditlog.store import SqliteStore

    cp = AUDIT.pop("log").close()
    db = AUDIT["db"]
    pub = keys.load_public_key(db + ".key").hex()
    st = SqliteStore(db, readonly=True)
    replay = [i for i, d, _ in st.iter_entries() if E.decode(d).attack == E.ATTACK_CODES["REPLAY"]]
    st.close()
    print()
    print("== audit log %s: the latest signed checkpoint (C2SP tlog-checkpoint)" % db)
    sys.stdout.write(cp)
    index = replay[0] if replay else 0
    print("== inclusion proof of entry %d (the replay), checked offline with the log's public key only" % index)
    sys.stdout.flush()
    rc = cli.main(["audit", "verify", "--log", db, "--index", str(index), "--pubkey", pub])
    rc = rc or cli.main(["audit", "verify", "--log", db, "--pubkey", pub])
    return 1 if rc else 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", help="a real board's serial port instead of the virtual board")
    ap.add_argument("--tcp", help="also talk to a real board over TCP, HOST:PORT")
    ap.add_argument("--key", help="issuer private key file (the board's provisioned key); default: a fresh key")
    ap.add_argument("--board", choices=("unix", "qemu", "both"), default="both",
                    help="without --port: the Unix-port board, the emulated Cortex-M board (boards/qemu: "
                         "deployed with potkit device deploy, reached over its UART), or both (default)")
    args = ap.parse_args(argv)
    t_start = time.monotonic()

    print("== time sources")
    tb, servers, desc = start_time_sources()
    board = qemu = None
    links = []
    try:  # from here on, the servers, the timebase and the board are stopped on every exit
        print("   " + desc)
        if args.key:
            from potkit.keys import load_signing_key

            key = load_signing_key(args.key)
        else:
            key = SigningKey(os.urandom(32))
        issuer = Issuer(key, tb)
        other_issuer = Issuer(SigningKey(os.urandom(32)), tb)
        issuer.issue(b"warm-up", 3)  # first use builds the host GRG tables
        from potkit.auditlog.device_log import DeviceAudit

        AUDIT["dir"] = tempfile.mkdtemp(prefix="potkit-demo-log-")
        AUDIT["db"] = os.path.join(AUDIT["dir"], "audit.db")
        AUDIT["log"] = DeviceAudit(AUDIT["db"], None)
        print("== issuer public key %s" % bytes(key.verify_key).hex())

        if args.port:
            links.append(("serial " + args.port, hostlink.SerialTransport(args.port)))
            if args.tcp:
                host, _, port = args.tcp.rpartition(":")
                links.append(("tcp " + args.tcp, hostlink.TcpTransport(host, int(port))))
        elif args.board in ("unix", "both"):
            board = UnixBoard(bytes(key.verify_key), DEVICE_ID, serial="pty", tcp=0,
                              extra={"flood": {"rate_per_s": 5, "burst": 12}})
            board.start()
            print("== virtual board: MicroPython Unix port, pid %d; serial on pty %s; TCP 127.0.0.1:%d"
                  % (board.proc.pid, board.serial_path, board.tcp_port))
            links.append(("serial pty", board.serial_transport()))
            links.append(("tcp", board.tcp_transport()))
        if not args.port and args.board in ("qemu", "both"):
            qemu = start_qemu_board(bytes(key.verify_key))
            links.append(("qemu uart", hostlink.SerialTransport(qemu.port)))

        def issue_sync(challenge, ctx):
            return issuer.issue(ctx, 3, challenge)

        rows = []
        for name, transport in links:
            dl = hostlink.DeviceLink(transport)
            st = dl.status()
            device_id = st["device_id"]
            print("== %s: device %r, clock %s, heap %d B used / %d B free"
                  % (name, device_id, "valid" if st["clock_valid"] else "not synced", st["heap_alloc"],
                     st["heap_free"]))
            m = b"before sync"
            v = dl.send_stamped("alice", m, issuer.issue(context_message(device_id, m), 3))
            label = ("command, clock kept from last sync" if st["clock_valid"]
                     else "command before any clock sync")
            rows.append(row(name, label, "alice", "OK" if st["clock_valid"] else "NO_CLOCK", v))
            dl.drain(0.2)  # the board asked for a sync: we answer explicitly below
            dl.challenges.clear()
            r = dl.sync(issue_sync)
            print(sync_line(r))
            dl.issue = issue_sync  # later resync requests are answered automatically
            run_script(dl, name, issuer, other_issuer, device_id, rows, clock_u_us=r["uncertainty_us"] or 0)
            if name in ("tcp", "qemu uart"):
                flood(dl, name, issuer, device_id, rows)
            print(counters_line(dl.status()))
            dl.close()
        print()
        print_table(rows)
        print()
        print(TABLE_LEGEND)
        bad = sum(1 for r in rows if r[-1] != "ok")
        print()
        print("%d rows (the flood is one): %d as expected, %d unexpected; demo took %.1f s"
              % (len(rows), len(rows) - bad, bad, time.monotonic() - t_start))
        bad += show_audit_log()
        return 1 if bad else 0
    finally:
        if AUDIT.get("log"):
            AUDIT.pop("log").close()
        if AUDIT.get("dir"):
            shutil.rmtree(AUDIT["dir"], ignore_errors=True)
        if board is not None:
            board.stop()
        if qemu is not None:
            qemu.stop()
        tb.stop()
        for s in servers:
            s.stop()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except PotkitError as e:  # a bad --key file, a port that does not open, a board that does not answer
        sys.exit("demo: %s" % e)
