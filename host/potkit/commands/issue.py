"""`potkit issue`: issue one PoT record, signed here at the time of the configured sources."""
import json
import sys

from pot.spec import TIER_NAMES
from potkit import keys, validate
from potkit.commands.options import add_ctx_args, add_source_args, add_tier_arg, arg, ctx_from_args, timebase_from_args
from potkit.issuer import Issuer, onchain_anchor, parse_tier
from potkit.synth import format_time_ns


def add_arguments(p):
    p.add_argument("--key", default=keys.default_key_path(), help="issuer private key (mode 0600)")
    add_ctx_args(p)
    add_tier_arg(p)
    p.add_argument("--challenge", type=arg(validate.challenge, "--challenge"),
                   help="32-byte challenge as hex (challenge mode: it becomes the nonce)")
    p.add_argument("--anchor", action="store_true", help="also print the on-chain anchor")
    p.add_argument("--json", action="store_true", help="print one JSON object (record, time, sources, ...)")
    add_source_args(p)


def run(args):
    ctx = ctx_from_args(args)
    tier = args.tier if isinstance(args.tier, int) else parse_tier(args.tier)
    sk = keys.load_signing_key(args.key)
    tb = timebase_from_args(args)
    tb.refresh()
    record, now = Issuer(sk, tb).issue_at(ctx, tier, args.challenge)
    if args.json:
        doc = {"record": record.hex(), "tier": TIER_NAMES[tier], "ctx": ctx.hex(), "time_ns": now.time_ns,
               "time": format_time_ns(now.time_ns), "uncertainty_ns": now.uncertainty_ns,
               "sources": now.source_count, "confidence_ppm": now.confidence_ppm}
        doc["anchor"] = onchain_anchor(record, ctx).hex() if args.anchor else None
        print(json.dumps(doc, indent=2))
        return 0
    print(record.hex())
    if args.anchor:
        print("anchor " + onchain_anchor(record, ctx).hex())
    print("time %d ns +- %d ns, %d sources, confidence %d ppm" % (
        now.time_ns, now.uncertainty_ns, now.source_count, now.confidence_ppm), file=sys.stderr)
    return 0
