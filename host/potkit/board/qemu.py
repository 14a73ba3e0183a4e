"""The emulated board: MicroPython's qemu port (mps2-an385, Cortex-M3, the
project's board definition in boards/qemu) behind a serial port that
mpremote, pyserial and `potkit device` open as they open /dev/ttyACM0.

    board = QemuBoard(elf, workdir).start()   # board.port: "/dev/pts/N"
    ...                                         # mpremote connect board.port ...
    board.stop()

    python -m potkit.board.qemu ELF [--dir DIR] [--icount]   the same by hand

The port is the slave of a pseudo-terminal whose master is qemu's serial
line (qemu's stdio). It outlives qemu: machine.reset() on this board ends
qemu (its semihosting exit), and the board starts it again on the same
port, as a board with a USB-serial adapter comes back on the same tty. The
flash is the file flash.img in `workdir` (boards/qemu/cmodules), so files
survive both a soft and a hard reset. icount=True runs qemu with `-icount
shift=0`: virtual time counts instructions (one per ns), so time.ticks_us()
reads instructions / 1000 and a benchmark gives the same figure every run.
"""
import os
import pty
import shutil
import subprocess
import sys
import termios
import threading
import time
import tty

from potkit import PotkitError


class QemuBoard:
    def __init__(self, elf, workdir, icount=False, qemu="qemu-system-arm"):
        self.elf = os.path.abspath(elf)  # qemu runs in workdir
        self.workdir = workdir
        self.icount = icount
        self.qemu = qemu
        self.port = None
        self.boots = 0  # how many times qemu started (1 + hard resets)
        self._proc = None
        self._master = self._slave = None
        self._stopping = False
        self._watcher = None
        self._lock = threading.Lock()

    def command(self):
        cmd = [self.qemu, "-machine", "mps2-an385", "-display", "none", "-monitor", "none",
               "-serial", "stdio", "-semihosting", "-kernel", self.elf]
        if self.icount:
            cmd += ["-icount", "shift=0"]
        return cmd

    def start(self):
        if not os.path.exists(self.elf):
            raise PotkitError("no emulated-board firmware at %s: run tools/build_micropython.py" % self.elf)
        if shutil.which(self.qemu) is None:
            raise PotkitError("%s is missing: run tools/setup_system.sh (Debian package qemu-system-arm)"
                              % self.qemu)
        os.makedirs(self.workdir, exist_ok=True)
        self._master, self._slave = pty.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        self.port = os.ttyname(self._slave)
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()
        self.wait_repl()
        return self

    def wait_repl(self, timeout=20.0):
        # Wait until the board answers at its REPL prompt (the first boot
        # formats the flash): a tool that opens the port sooner may find
        # its first bytes eaten by the boot. Not for a board whose main.py
        # owns the console (the device service): that never shows ">>> ".
        import select

        deadline = time.monotonic() + timeout
        seen = b""
        while time.monotonic() < deadline:
            os.write(self._slave, b"\r")
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                r, _, _ = select.select([self._slave], [], [], 0.05)
                if r:
                    seen = (seen + os.read(self._slave, 512))[-64:]
                    if seen.endswith(b">>> "):
                        return
        raise PotkitError("the emulated board did not reach its REPL within %.0f s (see %s)"
                          % (timeout, os.path.join(self.workdir, "qemu.log")))

    def wait_device(self, timeout=60.0):
        # Wait until the device service (a deployed /main.py, which owns the
        # console) answers a STATUS frame: after a boot the board needs a
        # few seconds to load the firmware from its flash.
        from potkit.board import hostlink

        deadline = time.monotonic() + timeout
        while True:
            dl = hostlink.DeviceLink(hostlink.SerialTransport(self.port))
            try:
                dl.status()
                return
            except hostlink.LinkError:
                if time.monotonic() > deadline:
                    raise PotkitError("the device on the emulated board did not answer within %.0f s (see %s)"
                                      % (timeout, os.path.join(self.workdir, "qemu.log")))
            finally:
                dl.close()

    def _spawn(self):
        with self._lock:
            self._log = open(os.path.join(self.workdir, "qemu.log"), "ab")
            self._proc = subprocess.Popen(self.command(), stdin=self._master, stdout=self._master,
                                          stderr=self._log, cwd=self.workdir)
            self.boots += 1

    def _watch(self):
        # A qemu that exits while the board is not being stopped was reset
        # (machine.reset()): power it on again, same port, same flash.
        while True:
            proc = self._proc
            proc.wait()
            if self._stopping:
                return
            self._log.close()
            time.sleep(0.05)
            if self._stopping:
                return
            self._spawn()

    def hard_reset(self):
        # As the reset button: qemu is ended and started again.
        proc = self._proc
        proc.kill()
        deadline = time.monotonic() + 10
        while self._proc is proc and time.monotonic() < deadline:
            time.sleep(0.02)

    def alive(self):
        return self._proc is not None and self._proc.poll() is None

    def stop(self):
        self._stopping = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    import argparse

    ap = argparse.ArgumentParser(prog="python -m potkit.board.qemu", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("elf", help="firmware.elf of a boards/qemu build")
    ap.add_argument("--dir", default=".", help="folder of flash.img and qemu.log (default: here)")
    ap.add_argument("--icount", action="store_true", help="count instructions as time (qemu -icount shift=0)")
    args = ap.parse_args(argv)
    board = QemuBoard(os.path.abspath(args.elf), os.path.abspath(args.dir), icount=args.icount)
    try:
        board.start()
    except PotkitError as e:
        print("potkit: %s" % e, file=sys.stderr)
        return 2
    print(board.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
