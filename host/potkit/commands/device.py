"""`potkit device`: put the verifier on a board and talk to it.

    potkit device deploy --port /dev/ttyACM0 --board esp32 --device-id door-1 --key issuer.key
        compile the installed pot package with mpy-cross for the board's
        architecture, copy it with mpremote, write /main.py, /pot.json
        (provisioning: the issuer public key and the device id) and
        /board.json (links); --dry-run builds and prints the command only.
    potkit device status --port /dev/ttyACM0          (or --tcp HOST:PORT, --udp HOST:PORT)
    potkit device sync   --port ... --issuer 127.0.0.1:7001    a `potkit serve --tcp` endpoint
    potkit device sync   --port ... --key issuer.key           or sign locally (needs a time config)
    potkit device send   --port ... --issuer ... --sender alice --message "open door"

The boards' code is potkit.board (build, deploy, link, the virtual boards,
the issuers of board/issuers.py); this module is the command line over it.
"""
import json
import os
import socket

from potkit import PotkitError, validate
from potkit.board import hostlink
from potkit.board.deploy import DEPLOY_BOARDS, deploy
from potkit.board.issuers import local_issue, service_issue
from potkit.commands.options import add_message_args, add_tier_arg, arg, message_from_args
from potkit.keys import default_key_path, load_public_key


ACTIONS = {
    "deploy": "compile the firmware for a board, provision it and copy it (one mpremote session)",
    "status": "ask a board for its status (JSON)",
    "sync": "set a board's secure clock: a challenge from it, a record from the issuer",
    "send": "send a board a stamped message; exit status 1 unless its verdict is OK",
}


def add_arguments(p):
    from potkit.cli import Parser

    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser, required=True)
    parsers = {}
    for name, help_ in ACTIONS.items():
        parsers[name] = sub.add_parser(name, help=help_, description=help_, prog="potkit device " + name)
    for name in ("status", "sync", "send"):
        sp = parsers[name]
        g = sp.add_argument_group("link to the board (one of)")
        g.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0")
        g.add_argument("--tcp", type=arg(validate.hostport, "--tcp"), help="HOST:PORT of the board's TCP link")
        g.add_argument("--udp", type=arg(validate.hostport, "--udp"), help="HOST:PORT of the board's UDP link")
        g.add_argument("--baud", type=arg(validate.baud, "--baud"), default=115200, help="serial baud rate")
        sp.add_argument("--json", action="store_true", help="(the output is always JSON; accepted for symmetry)")
    for name in ("sync", "send"):
        sp = parsers[name]
        g = sp.add_argument_group("issuer (one of)")
        g.add_argument("--issuer", type=arg(validate.hostport, "--issuer"),
                       help="HOST:PORT of a `potkit serve --tcp` board endpoint")
        g.add_argument("--key", help="sign locally with this issuer key (reads the time sources itself)")
        sp.add_argument("--token", default=os.environ.get("POTKIT_TOKEN"),
                        help="with --issuer: the API token for this device (default $POTKIT_TOKEN; none for a "
                             "service run with --insecure-open)")
        sp.add_argument("--time-config", metavar="FILE", help="with --key: time sources config (see `potkit time`)")
        add_tier_arg(sp, default="T1_block")
        sp.add_argument("--log", metavar="DB", help="append the board's verdict to this audit log")
        sp.add_argument("--log-key", metavar="FILE", help="the audit log's key (default: DB.key)")
    sp = parsers["send"]
    sp.add_argument("--sender", type=arg(validate.sender, "--sender"), default="potkit",
                    help="sender id (1..32 bytes)")
    add_message_args(sp, what="the message to stamp")
    sp = parsers["deploy"]
    sp.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0 (not needed with --dry-run)")
    sp.add_argument("--board", choices=DEPLOY_BOARDS, default="esp32",
                    help="target board (qemu: the emulated board of boards/qemu)")
    sp.add_argument("--device-id", required=True, type=arg(validate.device_id, "--device-id"),
                    help="the id to provision (1..64 bytes)")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--key", default=default_key_path(), help="issuer key whose public key is provisioned")
    g.add_argument("--public-key", type=arg(validate.public_key, "--public-key"),
                   help="the issuer public key as hex (64 digits), instead of --key")
    sp.add_argument("--dry-run", action="store_true",
                    help="build into --out (or a new temporary folder) and print the mpremote command only")
    sp.add_argument("--out", metavar="DIR", help="build here and keep the files (default: a temporary folder)")
    sp.add_argument("--wifi", metavar="FILE", help='Wi-Fi credentials to copy as /wifi.json ({"ssid": ..., '
                    '"password": ...}; default: boards/BOARD/wifi.json of a source checkout, if any)')


def _issue_fn(args):
    if args.issuer:
        return service_issue(args.issuer, args.tier, token=args.token)
    if args.key:
        return local_issue(args.key, args.time_config, args.tier)
    raise PotkitError("no issuer given; add --issuer HOST:PORT (a `potkit serve --tcp` endpoint) or --key KEY to sign here")


def _open_link(args):
    if not (args.port or args.tcp or args.udp):
        raise PotkitError("no link to the board given; name one: --port DEV, --tcp HOST:PORT or --udp HOST:PORT")
    hp = args.tcp or args.udp
    try:
        if args.port:
            return hostlink.DeviceLink(hostlink.SerialTransport(args.port, args.baud))
        if args.tcp:
            return hostlink.DeviceLink(hostlink.TcpTransport(*args.tcp))
        return hostlink.DeviceLink(hostlink.UdpTransport(*args.udp))
    except hostlink.LinkError as e:   # the transport's own words (it names the address)
        raise hostlink.LinkError("%s; check the address and that the board runs" % e)
    except socket.gaierror as e:
        raise hostlink.LinkError("cannot resolve %s (%s); check the board's address" % (hp[0], e.strerror))
    except OSError as e:
        where = args.port or "%s:%d" % hp
        raise hostlink.LinkError("cannot open the link to %s: %s; check the address and that the board runs"
                                 % (where, e.strerror or e))
    except Exception as e:  # pyserial's SerialException is not an OSError
        raise hostlink.LinkError("cannot open %s: %s; check --port" % (args.port, " ".join(str(e).split())))


def run(args):
    if args.action == "deploy":
        if args.public_key:
            pk = args.public_key
        else:
            pk = load_public_key(args.key)
        if not args.port and not args.dry_run:
            raise PotkitError("no board given; add --port DEV (or --dry-run to build and print the command)")
        deploy(args.port or "PORT", args.board, args.device_id, pk, args.dry_run, args.out, args.wifi)
        return 0
    message = None
    if args.action == "send":
        message = message_from_args(args)
        if message is None:
            raise PotkitError("nothing to send; add --message TEXT or --message-file PATH")
        if len(message) > 320:
            raise PotkitError("the message is %d bytes, a stamped message at most 320; shorten it" % len(message))
    issue = _issue_fn(args) if args.action in ("sync", "send") else None
    audit = None
    if getattr(args, "log", None):
        from potkit.auditlog.device_log import DeviceAudit

        audit = DeviceAudit(args.log, args.log_key)
    transport = "serial" if args.port else ("tcp" if args.tcp else "udp")
    dl = _open_link(args)
    try:
        if args.action == "status":
            print(json.dumps(dl.status(), indent=2))
            return 0
        if args.action == "sync":
            out = dl.sync(issue)
            if audit:
                audit.verdict(out, b"", None, transport, args.port or args.tcp or args.udp)
        else:
            from pot.grg import context_message

            dl.issue = issue
            dev = dl.status()["device_id"]
            ctx = context_message(dev, message)
            # A stamped message carries a fresh record (random nonce, not a
            # challenge): issue() with a random 32-byte nonce.
            record = issue(os.urandom(32), ctx)
            out = dl.send_stamped(args.sender, message, record)
            if audit:
                audit.verdict(out, ctx, record, transport, args.sender)
        print(json.dumps(out, indent=2))
        return 0 if out.get("verdict") == 0 else 1
    finally:
        dl.close()
        if audit:
            audit.close()
