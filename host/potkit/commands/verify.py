"""`potkit verify`: verify a PoT record for a context, with the verifier the boards run.

The verdict, and why: the checks of potkit.show, one by one.
"""
import json
import time

from potkit import keys, show, validate
from potkit.commands.options import add_check_args, add_ctx_args, arg, ctx_from_args
from potkit.issuer import make_verifier, verdict_names


def add_arguments(p):
    p.add_argument("record", type=arg(validate.hex_bytes, "record"),
                   help="the record as hex (143 bytes)")
    p.add_argument("--pubkey", type=arg(validate.public_key, "--pubkey"),
                   help="issuer public key as hex (default: the one of --key)")
    p.add_argument("--key", default=keys.default_key_path(), help="issuer key path whose public key to use")
    add_ctx_args(p)
    add_check_args(p)
    p.add_argument("--json", action="store_true", help="print one JSON object: verdict and each check")


def run(args):
    public = args.pubkey if args.pubkey else keys.load_public_key(args.key)
    ctx = ctx_from_args(args)
    now_ns = args.now_ns if args.now_ns is not None else time.time_ns()
    code = make_verifier(public, skew_ms=args.skew_ms).verify(args.record, ctx, now_ns, args.challenge)
    report = show.explain(args.record, ctx=ctx, public_key=public, now_ns=now_ns, challenge=args.challenge,
                          skew_ms=args.skew_ms)
    report["verdict"] = verdict_names()[code]
    report["code"] = code
    report["why"] = show.why(report, report["verdict"])   # the verifier's reason, not just the first failure
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("%s (%d)" % (report["verdict"], code))
        if report["why"]:
            print("why: " + report["why"])
    return 0 if code == 0 else 1
