"""Options several commands share, and the argparse adapter of potkit.validate.

    arg               a validator as an argparse type= (errors: one line, exit status 2)
    add_ctx_args      --ctx HEX | --device-id ID [--message TEXT | --message-file PATH]
    add_message_args  --message TEXT | --message-file PATH
    add_tier_arg      --tier
    add_source_args   --config, --refresh-s, --max-age-s, --drift-ppm: the issuer's timebase
"""
import argparse
import sys

from potkit import PotkitError, validate
from potkit.timebase import DEFAULT_DRIFT_PPM, DEFAULT_MAX_AGE_S, DEFAULT_REFRESH_S, TimeBase


def arg(fn, name, **kw):
    """An argparse type= calling fn(value, name); errors become argparse errors
    (one line, exit status 2: see potkit.cli)."""

    def convert(text):
        try:
            return fn(text, name, **kw)
        except validate.BadValue as e:
            raise argparse.ArgumentTypeError(str(e).split(": ", 1)[1] if str(e).startswith(name + ": ") else str(e))

    convert.__name__ = name.lstrip("-").replace("-", "_")
    return convert


# --- context, message, tier -----------------------------------------------------------
def add_message_args(p, what="with --device-id: the message to stamp"):
    """--message TEXT | --message-file PATH (- = standard input): the same
    bytes for `issue`, `verify`, `show` and `device send` (TEXT as UTF-8,
    a file exactly as it is, trailing newline included)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--message", metavar="TEXT", help=what + " (UTF-8, exactly as given)")
    g.add_argument("--message-file", metavar="PATH",
                   help="the message is this file's bytes, exactly (- reads standard input)")


def message_from_args(args):
    """The message bytes, or None when neither option was given."""
    if getattr(args, "message", None) is not None:
        return args.message.encode()
    path = getattr(args, "message_file", None)
    if path is None:
        return None
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PotkitError("cannot read --message-file %s: %s; check the path (or use --message TEXT)"
                          % (path, e.strerror or e))


def add_ctx_args(p):
    g = p.add_argument_group("context (spec 2.7); one of")
    g.add_argument("--ctx", type=arg(validate.ctx, "--ctx"), help="the context bytes as hex")
    g.add_argument("--device-id", type=arg(validate.device_id, "--device-id"),
                   help="a board id: ctx = 00 || len || id (with a message: 01 || len || id || SHA-256(message))")
    add_message_args(p)


def ctx_from_args(args):
    from potkit.issuer import check_ctx
    from potkit.keys import device_context

    given = [x for x in (args.ctx, args.device_id) if x is not None]
    message = message_from_args(args)
    if len(given) != 1:
        raise PotkitError("no context given; give exactly one of --ctx HEX and --device-id ID")
    if args.ctx is not None:
        if message is not None:
            raise PotkitError("--message/--message-file stamp a board's context; use them with --device-id, not --ctx")
        return check_ctx(args.ctx)
    return device_context(args.device_id, message)


def add_check_args(p):
    """--challenge, --now-ns, --skew-ms: the verifier's inputs besides the record and ctx (spec 4.1)."""
    from pot.spec import DEFAULT_SKEW_MS

    p.add_argument("--challenge", type=arg(validate.challenge, "--challenge"),
                   help="the 32-byte challenge the record must carry (hex)")
    p.add_argument("--now-ns", type=arg(validate.now_ns, "--now-ns"),
                   help="judge future and recency at this time, ns since the epoch (default: this host's clock)")
    p.add_argument("--skew-ms", type=arg(validate.skew_ms, "--skew-ms"),
                   help="tolerated clock skew in ms (default: the verifier's, %d)" % DEFAULT_SKEW_MS)


def add_tier_arg(p, default="T0_epoch"):
    p.add_argument("--tier", default=default, type=arg(validate.tier, "--tier"),
                   help="0..3 or T0_epoch (60 s window), T1_block (2 s), T2_slot (12 s), T3_micro (100 ms)")


# --- the issuer's timebase: synthesis over the configured sources -----------------------
def add_source_args(p):
    p.add_argument("--config", metavar="FILE",
                   help="JSON time-source list (potkit.config; default: $POTKIT_CONFIG, else the built-in "
                        "public servers; examples/ has configs for a LAN and a lab)")
    p.add_argument("--refresh-s", type=arg(validate.refresh_s, "--refresh-s"), default=DEFAULT_REFRESH_S,
                   help="seconds between syntheses, at least 1 (default %g)" % DEFAULT_REFRESH_S)
    p.add_argument("--max-age-s", type=arg(validate.max_age_s, "--max-age-s"), default=DEFAULT_MAX_AGE_S,
                   help="refuse to issue once the synthesis is this old (default %g)" % DEFAULT_MAX_AGE_S)
    p.add_argument("--drift-ppm", type=arg(validate.drift_ppm, "--drift-ppm"), default=DEFAULT_DRIFT_PPM,
                   help="assumed bound on the monotonic clock's rate error (default %d)" % DEFAULT_DRIFT_PPM)


def check_source_args(args):
    """The settings that must hold together (BadValue, exit status 2)."""
    if args.max_age_s <= args.refresh_s:
        raise validate.BadValue("--max-age-s %g must exceed --refresh-s %g, or the synthesis expires between "
                                "refreshes; raise --max-age-s or lower --refresh-s" % (args.max_age_s, args.refresh_s))


def timebase_from_args(args):
    """A TimeBase over the configured sources (not started)."""
    from potkit import config, synth

    check_source_args(args)
    cfg = config.config_from_args(args.config)
    tb = TimeBase(lambda: synth.synthesize_config(tb.config), refresh_s=args.refresh_s,
                  max_age_s=args.max_age_s, drift_ppm=args.drift_ppm)
    tb.config = cfg
    tb.config_path = args.config or config.config_path_from_env()
    return tb
