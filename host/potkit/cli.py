"""The `potkit` command: small handlers in a table, imported lazily.

Each entry names a module and a function prefix: the module defines
`<prefix>_args(parser)` to declare its options and `<prefix>_run(args)` to do
the work. Only the chosen command's module is imported, so `potkit keygen`
never loads the HTTP server. Errors are PotkitError, printed as
"potkit: message" with exit status 1.
"""
import argparse
import importlib
import sys

from potkit import PotkitError, __version__

# name: (module, function prefix, one-line help)
COMMANDS = {
    "keygen": ("potkit.keys", "keygen", "create an issuer key pair (private key mode 0600)"),
    "pubkey": ("potkit.keys", "pubkey", "print the issuer public key or write a board provisioning file"),
    "time": ("potkit.synth", "time", "read the configured time sources and show the synthesis"),
    "issue": ("potkit.issuer", "issue", "issue one PoT record"),
    "verify": ("potkit.issuer", "verify", "verify a PoT record for a context"),
    "serve": ("potkit.service", "serve", "run the PoT service (HTTP, TCP and UDP)"),
    "device": ("potkit.device", "device", "deploy to a board and talk to it (deploy|sync|send|status)"),
    "audit": ("potkit.auditlog.cli", "audit", "the audit log: verify|export|witness|checkpoint"),
}


def build_parser():
    ap = argparse.ArgumentParser(prog="potkit", description="Open Proof-of-Time toolkit")
    ap.add_argument("--version", action="version", version="potkit " + __version__)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, _, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return ap


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        ap = build_parser()
        if argv and not argv[0].startswith("-"):
            ap.error("unknown command %r" % argv[0])
        ap.parse_args(argv)  # --help / --version exit here
        ap.print_help()
        return 2
    name = argv[0]
    modname, prefix, help_ = COMMANDS[name]
    try:
        mod = importlib.import_module(modname)
        p = argparse.ArgumentParser(prog="potkit " + name, description=help_)
        getattr(mod, prefix + "_args")(p)
        args = p.parse_args(argv[1:])
        rc = getattr(mod, prefix + "_run")(args)
        return rc or 0
    except PotkitError as e:
        print("potkit: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
