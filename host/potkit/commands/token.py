"""`potkit token add|list|revoke`: the service's API tokens (potkit.auth, docs/spec.md section 7.7)."""
import sys

from potkit import PotkitError
from potkit.auth import ANY_DEVICE, DEFAULT_TOKENS_PATH, TOKENS_ENV, TokenStore, default_tokens_path


def add_arguments(p):
    p.add_argument("--tokens", default=default_tokens_path(),
                   help="token file (default $%s or %s)" % (TOKENS_ENV, DEFAULT_TOKENS_PATH))
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    a = sub.add_parser("add", help="create a token for some devices; it is printed once and never stored")
    a.add_argument("--device", action="append", default=[], metavar="ID",
                   help="a device id the token may have stamped (repeatable)")
    a.add_argument("--all-devices", action="store_true",
                   help="the token may have any context stamped, device or not")
    a.add_argument("--label", default="", help="a note for `potkit token list`")
    sub.add_parser("list", help="list tokens (ids, devices, labels; never the tokens)")
    r = sub.add_parser("revoke", help="delete a token: the service refuses it from the next request on")
    r.add_argument("id", help="the token id (8 hex digits, from `potkit token list`)")


def run(args):
    path = args.tokens
    if args.action == "list":
        store = TokenStore.load(path, missing_ok=False)
        if not store.entries:
            print("no tokens in %s" % path)
        for tid, e in sorted(store.entries.items()):
            print("%s  %s  devices=%s%s" % (tid, e["created"] or "-", ",".join(e["devices"]),
                                            "  label=%s" % e["label"] if e["label"] else ""))
        return 0
    store = TokenStore.load(path)
    if args.action == "add":
        if ANY_DEVICE in args.device:
            raise PotkitError("--device %s: use --all-devices for a token valid for every context" % ANY_DEVICE)
        devices = list(args.device) + ([ANY_DEVICE] if args.all_devices else [])
        tid, token = store.add(devices, args.label)
        store.save(path)
        print(token)
        print("token %s for %s saved (hashed) in %s; it is shown only now" % (
            tid, ", ".join(store.entries[tid]["devices"]), path), file=sys.stderr)
        return 0
    store.revoke(args.id)
    store.save(path)
    print("revoked %s" % args.id)
    return 0
