"""`potkit serve`: run the PoT service (potkit.service) until SIGINT or SIGTERM; SIGHUP rereads the time sources."""
import asyncio
import logging
import signal
import sys

from potkit import PotkitError, config, keys, logs, validate
from potkit.commands.options import add_source_args, arg, timebase_from_args
from potkit.issuer import Issuer
from potkit.logs import LogLimiter
from potkit.service.routes import PotService
from potkit.service.server import BODY_TIMEOUT_S, HEADER_TIMEOUT_S, IDLE_TIMEOUT_S, MAX_PER_CLIENT, Server
from potkit.service.verify import DEFAULT_CACHE_CAPACITY


def add_arguments(p):
    p.add_argument("--key", default=keys.default_key_path(), help="issuer private key (mode 0600)")
    p.add_argument("--http", default="127.0.0.1:8080", type=arg(validate.hostport, "--http", allow_zero=True),
                   help="HTTP API address HOST:PORT (port 0: any)")
    p.add_argument("--tcp", type=arg(validate.hostport, "--tcp", allow_zero=True),
                   help="board TCP endpoint HOST:PORT (off unless given)")
    p.add_argument("--udp", type=arg(validate.hostport, "--udp", allow_zero=True),
                   help="board UDP endpoint HOST:PORT (off unless given)")
    p.add_argument("--skew-ms", type=arg(validate.skew_ms, "--skew-ms"),
                   help="clock skew the verifier tolerates in ms (default: the verifier's, 500)")
    p.add_argument("--cache-capacity", type=arg(validate.cache_capacity, "--cache-capacity"),
                   help="replay-cache entries (default %d)" % DEFAULT_CACHE_CAPACITY)
    p.add_argument("--cache-per-device", type=arg(validate.cache_capacity, "--cache-per-device"),
                   help="replay-cache entries one device (its context and stamped messages) or one other "
                        "context may hold, so that a flood for one leaves the others room "
                        "(default: a tenth of --cache-capacity)")
    p.add_argument("--idle-timeout", type=arg(validate.idle_timeout_s, "--idle-timeout"),
                   default=IDLE_TIMEOUT_S, help="seconds before an idle connection closes")
    p.add_argument("--drain-s", type=arg(validate.idle_timeout_s, "--drain-s"), default=5.0,
                   help="on SIGTERM: seconds to let answers already queued reach their clients")
    p.add_argument("--log", metavar="DB",
                   help="audit log: an SQLite file or a postgresql:// URL (off unless given; docs/spec.md 9)")
    p.add_argument("--log-key", metavar="FILE",
                   help="the log's Ed25519 key (created if missing; default: DB.key, or ~/.potkit/audit.key)")
    p.add_argument("--log-origin", metavar="NAME", help="checkpoint origin and key name (default: from the key)")
    p.add_argument("--log-witness", metavar="VKEY", action="append", default=[],
                   help="a witness whose cosignatures POST /v1/log/cosignature accepts (a vkey or a file; repeatable)")
    p.add_argument("--header-timeout", type=float, default=HEADER_TIMEOUT_S,
                   help="seconds for a request's line and headers (a board frame) to arrive, else 408 (default %g)"
                   % HEADER_TIMEOUT_S)
    p.add_argument("--body-timeout", type=float, default=BODY_TIMEOUT_S,
                   help="seconds for a request body to arrive after its headers, else 408 (default %g)" % BODY_TIMEOUT_S)
    p.add_argument("--max-connections", type=int,
                   help="open connections at most; beyond, the longest silent one is closed "
                        "(default: the descriptor limit minus a reserve, e.g. 896 under ulimit -n 1024)")
    p.add_argument("--max-per-client", type=int, default=MAX_PER_CLIENT,
                   help="open connections per client address (default %d; 0: no limit)" % MAX_PER_CLIENT)
    p.add_argument("--tokens", help="API token file (potkit token add; default $POTKIT_TOKENS or tokens.json): "
                                    "only a caller with a token for a device may have its contexts stamped")
    p.add_argument("--insecure-open", action="store_true",
                   help="no authorization: anyone who reaches the service may have any context stamped")
    p.add_argument("--expose-detail", action="store_true",
                   help="show source addresses, offsets and synthesis errors in /health, /metrics and 503 "
                        "bodies (they help an attacker: operators' networks only)")
    p.add_argument("--uvloop", action="store_true",
                   help="run on uvloop if installed (measured: same throughput, far worse tail latency)")
    add_source_args(p)
    p.add_argument("--log-format", choices=("text", "json"), default="text", help="log line format")
    p.add_argument("--log-level", choices=logs.LEVELS, default="info", help="least severe level logged")
    p.add_argument("--access-log", action="store_true", help="log every HTTP request (logger potkit.access)")


def reload_config(tb, log):
    """SIGHUP: read the time-source config again (sources, tolerances); on any
    error keep the running one. Connections are not touched."""
    try:
        tb.config = config.config_from_args(tb.config_path)
    except PotkitError as e:
        log.error("SIGHUP: config not reloaded, the old one stays: %s", e)
        return False
    log.info("SIGHUP: config reloaded from %s: %d sources, synthesis %s", tb.config_path or "the built-in list",
             len(tb.config.sources), tb.config.synthesis)
    return True


def run(args):
    log = logs.setup(args.log_format, args.log_level)
    for name in ("idle_timeout", "header_timeout", "body_timeout"):
        if not getattr(args, name) > 0:
            raise PotkitError("--%s must be a positive number of seconds" % name.replace("_", "-"))
    if args.max_connections is not None and args.max_connections < 1:
        raise PotkitError("--max-connections must be at least 1")
    if args.max_per_client < 0:
        raise PotkitError("--max-per-client must be 0 (no limit) or more")
    if args.insecure_open and args.tokens:
        raise PotkitError("--tokens and --insecure-open exclude each other")
    limiter = LogLimiter()
    authorizer = None
    if not args.insecure_open:
        from potkit.auth import Authorizer, default_tokens_path

        authorizer = Authorizer(args.tokens or default_tokens_path(),
                                on_error=lambda msg: limiter.log("tokens", "token file not reloaded: %s" % msg))
    sk = keys.load_signing_key(args.key)
    tb = timebase_from_args(args)
    warning = authorizer.warn_if_unsafe() if authorizer is not None else None
    if warning:  # after every check of the arguments: a usage error stays one line
        print("potkit serve: %s" % warning, file=sys.stderr, flush=True)
    tb.start()
    service = PotService(Issuer(sk, tb), tb, skew_ms=args.skew_ms, cache_capacity=args.cache_capacity,
                         expose_detail=args.expose_detail, log=limiter, authorizer=authorizer,
                         cache_per_device=args.cache_per_device)
    if args.log:
        from potkit.auditlog import web

        try:
            web.attach(service, args.log, web.default_key_path(args.log, args.log_key), args.log_origin,
                       args.log_witness)
        except PotkitError:
            tb.stop()
            raise
    server = Server(service, args.http, args.tcp, args.udp, args.idle_timeout, args.header_timeout,
                    args.body_timeout, args.max_connections, args.max_per_client)
    if args.access_log:
        server.access_log = logging.getLogger("potkit.access")
    # The standard loop by default. tools/bench/bench_issuer.py measured both at
    # 500 connections: the same ~5,000 issue+verify req/s (the work is
    # Python, not I/O), but uvloop served some connections seconds late
    # (p99 5.7 s against 0.14 s), so it is opt-in only.
    loop_name = "asyncio"
    if args.uvloop:
        try:
            import uvloop
        except ImportError:
            raise PotkitError("--uvloop: the uvloop package is not installed; pip install uvloop, or drop --uvloop")
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        loop_name = "uvloop"

    async def main():
        asyncio.get_running_loop().set_exception_handler(limiter.loop_exception_handler)
        addrs = await server.start()
        if service.audit:
            service.audit.start(asyncio.get_running_loop())
        # One machine-readable line: tests and scripts read the bound ports here.
        print("potkit serve: listening %s loop=%s auth=%s max_connections=%d public_key=%s" % (
            " ".join("%s=%s:%d" % (k, a[0], a[1]) for k, a in sorted(addrs.items())), loop_name,
            "open" if authorizer is None else "tokens", server.max_connections,
            service.issuer.public_key.hex()), flush=True)
        log.info("listening %s", " ".join("%s=%s:%d" % (k, a[0], a[1]) for k, a in sorted(addrs.items())))
        st = tb.status()
        if not st["ok"]:
            print("potkit serve: not issuing yet: %s" % st.get("reason"), file=sys.stderr, flush=True)
        # SIGINT and SIGTERM end the service cleanly (listeners closed,
        # queued answers drained, refresh thread stopped), also when started
        # in the background; SIGHUP reloads the time-source config.
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            loop.add_signal_handler(signal.SIGHUP, reload_config, tb, log)
        except (NotImplementedError, RuntimeError, AttributeError):
            pass
        try:
            await stop.wait()
            log.info("stopping: listeners closed, draining for up to %g s", args.drain_s)
            await server.drain(args.drain_s)
        finally:
            server.close()
            if service.audit:
                service.audit.stop()
        print("potkit serve: stopped", file=sys.stderr, flush=True)

    try:
        asyncio.run(main())
    except OSError as e:
        raise PotkitError("cannot serve: %s" % e)
    finally:
        tb.stop()
