"""`potkit show RECORD`: a record decoded for people (and, with --json, for scripts): potkit.show."""
import json
import os
import time

from potkit import PotkitError, keys, validate
from potkit.commands.options import add_check_args, add_message_args, arg, ctx_from_args
from potkit.show import explain, format_text


def add_arguments(p):
    p.add_argument("record", type=arg(validate.hex_bytes, "record"), help="the record as hex")
    p.add_argument("--ctx", type=arg(validate.ctx, "--ctx"), help="check the commitment for this ctx (hex)")
    p.add_argument("--device-id", type=arg(validate.device_id, "--device-id"),
                   help="check the commitment for this board's ctx")
    add_message_args(p)
    p.add_argument("--key", help="issuer key path: check the signature with its public key "
                                 "(default: the default key, if there is one)")
    p.add_argument("--pubkey", type=arg(validate.public_key, "--pubkey"),
                   help="issuer public key as hex: check the signature")
    add_check_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args):
    ctx = None
    if args.ctx is not None or args.device_id is not None:
        ctx = ctx_from_args(args)
    elif args.message is not None or args.message_file is not None:
        raise PotkitError("--message/--message-file stamp a board's context; add --device-id ID")
    public = args.pubkey
    if public is None:
        key = args.key or keys.default_key_path()
        if args.key or os.path.exists(key) or os.path.exists(keys.public_key_path(key)):
            public = keys.load_public_key(key)
    now_ns = args.now_ns if args.now_ns is not None else time.time_ns()
    report = explain(args.record, ctx, public, now_ns, args.challenge, args.skew_ms)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_text(report))
    return 0
