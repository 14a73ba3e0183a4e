"""Issuers for a board: the `issue(challenge, ctx) -> 143-byte record` that DeviceLink.sync takes.

    service_issue(HOST:PORT)  through a `potkit serve --tcp` board endpoint (spec 7.6)
    local_issue(KEY)          signed here, at the time of the configured sources
"""
import socket

from potkit import PotkitError
from potkit.board import hostlink


def service_issue(hostport, tier=1, timeout=5.0, token=None):
    """issue(challenge, ctx) through a `potkit serve --tcp` board endpoint.

    token: the API token for the device (potkit token add), sent in the
    frame's token field; None for a service run with --insecure-open.

    hostport: "HOST:PORT" or (host, port). An address that does not answer
    with a record (refused, unresolvable, silent, or not a board endpoint:
    e.g. the HTTP port) is a LinkError (exit status 4) naming it.
    """
    from potkit import validate
    from potkit.service.board import BOARD_ERR_AUTH, BOARD_ERR_UNAVAILABLE

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
                    if buf[:2] == bytes((0xEE, BOARD_ERR_AUTH)):
                        raise PotkitError("issuer %s refused: no valid API token for this device (--token)" % where)
                    if buf[:1] == b"\xee" and len(buf) >= 2:
                        raise unreachable("issuer %s refused: error code %d (%d: it has no trusted time now); "
                                          "see its log or `curl http://HOST:PORT/health`"
                                          % (where, buf[1], BOARD_ERR_UNAVAILABLE))
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
    from potkit.config import config_path_from_env, default_config, load_config
    from potkit.issuer import Issuer
    from potkit.keys import load_signing_key
    from potkit.synth import synthesize_config
    from potkit.timebase import TimeBase

    config_path = config_path or config_path_from_env()
    cfg = load_config(config_path) if config_path else default_config()
    tb = TimeBase(lambda: synthesize_config(cfg))
    issuer = Issuer(load_signing_key(key_path), tb)

    def issue(challenge, ctx):
        return issuer.issue(ctx, tier, challenge)

    return issue
