"""`potkit pubkey`: print the issuer public key, or write a board's provisioning file (spec 7.1)."""
import json

from potkit import PotkitError, keys, validate
from potkit.commands.options import arg


def add_arguments(p):
    p.add_argument("--key", default=keys.default_key_path(),
                   help="private key path (without it, KEY.pub; with it, KEY.pub must match)")
    p.add_argument("--device-id", type=arg(validate.device_id, "--device-id"),
                   help="write a provisioning file for this board id")
    p.add_argument("--issuer-url", type=arg(validate.issuer_url, "--issuer-url"),
                   help="issuer address to put in the provisioning file (tcp://HOST:PORT, udp://HOST:PORT, "
                        "http(s)://HOST[:PORT])")
    p.add_argument("--skew-ms", type=arg(validate.skew_ms, "--skew-ms"),
                   help="clock skew the board tolerates in ms (0..600000), for the provisioning file")
    p.add_argument("-o", "--output", help="provisioning file path (default: standard output)")
    p.add_argument("--force", action="store_true", help="replace an existing provisioning file")


def run(args):
    public = keys.load_public_key(args.key)
    if not args.device_id:
        if args.output:
            raise PotkitError("--output writes a provisioning file, which names a board; add --device-id ID")
        print(public.hex())
        return
    doc = keys.provisioning_document(public, args.device_id, args.issuer_url, args.skew_ms)
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if args.output:
        keys.write_atomic(args.output, text.encode(), 0o644, args.force)
        print("wrote %s" % args.output)
    else:
        print(text, end="")
