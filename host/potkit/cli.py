"""The `potkit` command: a table of commands, each a module of potkit.commands, imported lazily.

Each entry names a module that defines `add_arguments(parser)` to declare
its options and `run(args)` to do the work. Only the chosen command's
module is imported, so `potkit keygen` never loads the HTTP server.

Every failure is one line on stderr, "potkit: what went wrong; how to fix
it", never a traceback (POTKIT_DEBUG=1 adds the traceback of an internal
error), and the exit status says which kind (potkit.validate):

    0   success (verify, device send/sync: the verdict is OK)
    1   the command ran and the answer is no (a verdict other than OK)
    2   bad usage or input: nothing was done
    3   no trusted time: too few sources answered, or they disagree
    4   a server, issuer or board could not be reached or did not answer
    70  a bug in potkit
    130 interrupted (Ctrl-C)
"""
import argparse
import importlib
import os
import socket
import sys

from potkit import PotkitError, __version__
from potkit.validate import EXIT_INTERNAL, EXIT_UNREACHABLE, EXIT_USAGE

# name: (module, one-line help)
COMMANDS = {
    "keygen": ("potkit.commands.keygen", "create an issuer key pair (private key mode 0600)"),
    "pubkey": ("potkit.commands.pubkey", "print the issuer public key or write a board provisioning file"),
    "time": ("potkit.commands.time", "read the configured time sources and show the synthesis"),
    "issue": ("potkit.commands.issue", "issue one PoT record"),
    "verify": ("potkit.commands.verify", "verify a PoT record for a context"),
    "show": ("potkit.commands.show", "decode a PoT record: fields, time, and (given a ctx or key) each check"),
    "serve": ("potkit.commands.serve", "run the PoT service (HTTP, TCP and UDP)"),
    "token": ("potkit.commands.token", "manage the service's API tokens (add|list|revoke)"),
    "device": ("potkit.commands.device", "deploy to a board and talk to it (deploy|sync|send|status)"),
    "audit": ("potkit.commands.audit", "the audit log: verify|export|witness|checkpoint"),
}

EPILOG = """exit status: 0 ok; 1 the answer is no (a verdict other than OK); 2 bad usage or input;
3 no trusted time; 4 unreachable (server, issuer or board); 70 internal error; 130 interrupted"""


class HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default, unless it is None/False or the help already says it."""

    def _get_help_string(self, action):
        h = action.help or ""
        if ("default" not in h and action.default not in (None, False, argparse.SUPPRESS)
                and action.option_strings):
            h += " (default: %(default)s)"
        return h


class Parser(argparse.ArgumentParser):
    """argparse with potkit's error format: one line, exit status 2."""

    def __init__(self, *a, **kw):
        kw.setdefault("formatter_class", HelpFormatter)
        kw.setdefault("epilog", EPILOG)
        argparse.ArgumentParser.__init__(self, *a, **kw)

    def error(self, message):
        sys.stderr.write("potkit: %s: %s; see `%s --help`\n" % (self.prog[len("potkit "):] or "potkit",
                                                                 message, self.prog))
        sys.exit(EXIT_USAGE)


def build_parser():
    ap = Parser(prog="potkit", description="Open Proof-of-Time toolkit")
    ap.add_argument("--version", action="version", version="potkit " + __version__)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_) in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return ap


def _os_error(e):
    """An OSError from the network as one line (exit 4)."""
    if isinstance(e, socket.gaierror):
        return "cannot resolve a host name (%s); check the name, or give an IP address" % (e.strerror or e)
    if isinstance(e, (ConnectionRefusedError, ConnectionResetError)):
        return "connection refused; check the address and that the server is running"
    if isinstance(e, (socket.timeout, TimeoutError)):
        return "no answer in time; check the address (is it the right port and protocol?)"
    return "%s; check the address and the network" % (e.strerror or e)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] not in COMMANDS:
        ap = build_parser()
        if argv and not argv[0].startswith("-"):
            ap.error("unknown command %r (one of %s)" % (argv[0], ", ".join(COMMANDS)))
        ap.parse_args(argv)  # --help / --version exit here
        ap.print_help()
        return EXIT_USAGE
    name = argv[0]
    modname, help_ = COMMANDS[name]
    try:
        mod = importlib.import_module(modname)
        p = Parser(prog="potkit " + name, description=help_)
        mod.add_arguments(p)
        args = p.parse_args(argv[1:])
        rc = mod.run(args)
        return rc or 0
    except PotkitError as e:
        print("potkit: %s" % one_line(e), file=sys.stderr)
        return getattr(e, "exit_code", EXIT_USAGE)
    except KeyboardInterrupt:
        return 130
    except OSError as e:
        print("potkit: %s: %s" % (name, _os_error(e)), file=sys.stderr)
        return EXIT_UNREACHABLE
    except SystemExit:
        raise
    except Exception as e:  # a bug: still one line, the traceback on request
        if os.environ.get("POTKIT_DEBUG"):
            import traceback
            traceback.print_exc()
        print("potkit: internal error in `potkit %s`: %s: %s; please report it (POTKIT_DEBUG=1 shows the "
              "traceback)" % (name, type(e).__name__, one_line(e)), file=sys.stderr)
        return EXIT_INTERNAL


def one_line(e):
    return " ".join(str(e).split()) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
