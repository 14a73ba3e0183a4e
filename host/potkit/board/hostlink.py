"""The host side of the device link (docs/spec.md, "The device link").

Frames are encoded and parsed by `pot.link`, the very module the boards run,
so host and device cannot disagree on the format. Transports:

    SerialTransport("/dev/ttyACM0")    pyserial: USB-CDC, UART adapters, ptys
    TcpTransport("192.168.1.50", 7878) one TCP connection
    UdpTransport("192.168.1.50", 7879) one frame per datagram, padded (UDP_REQUEST_MIN)
    PipeTransport(read_fd, write_fd)   a subprocess's stdout / stdin

DeviceLink(transport) speaks the request/answer protocol on top:

    link.status()                          -> dict
    link.echo(b"...")                      -> bytes
    link.sync(issue)                       -> dict (verdict, rtt_us, uncertainty_us)
        issue(challenge32, ctx) -> 143-byte challenge-mode record
    link.send_stamped(sender, message, record) -> dict (verdict, mode, flags, ...)

An unsolicited CHALLENGE (seq 0: the device wants a resync) is answered
automatically when the link has an `issue` callable (set by sync() or the
constructor); otherwise it is kept in `link.challenges`.
"""
import collections
import os
import select
import socket
import struct
import time

from pot import host, spec
from pot.fastpath import crc_frame
from pot.link import Parser
from pot.spec import (F_CLOCK_VALID, F_RATE_LIMITED, F_RESYNC, NO_UNCERTAINTY, STATUS_FORMAT, STATUS_LEN,
                      VERDICT_FORMAT, VERDICT_LEN, VERDICT_NAMES)
from potkit import PotkitError

MODE_NAMES = {spec.FULL: "FULL", spec.TURBO: "TURBO", spec.MODE_UNTRACKED: "-"}


class LinkError(PotkitError):
    exit_code = 4   # the board did not answer, or answered nonsense


class LinkTimeout(LinkError):
    pass


Frame = collections.namedtuple("Frame", "type seq payload")


# --- transports ------------------------------------------------------------------
class SerialTransport:
    def __init__(self, port, baudrate=115200):
        import serial

        try:
            self.s = serial.Serial(port, baudrate, timeout=0)
        except serial.SerialException as e:
            raise LinkError("cannot open %s: %s" % (port, e))
        self.name = port

    def send(self, data):
        self.s.write(data)
        self.s.flush()

    def recv(self, timeout):
        r, _, _ = select.select([self.s.fileno()], [], [], max(0.0, timeout))
        if not r:
            return b""
        return self.s.read(self.s.in_waiting or 1)

    def close(self):
        self.s.close()


class TcpTransport:
    def __init__(self, host, port, timeout=5.0):
        try:
            self.s = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise LinkError("cannot connect to %s:%d: %s" % (host, port, e.strerror or e))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.name = "tcp://%s:%d" % (host, port)

    def send(self, data):
        self.s.sendall(data)

    def recv(self, timeout):
        r, _, _ = select.select([self.s], [], [], max(0.0, timeout))
        if not r:
            return b""
        data = self.s.recv(65536)
        if not data:
            raise LinkError("%s closed the connection" % self.name)
        return data

    def close(self):
        self.s.close()


# A device answers a UDP datagram with at most one datagram no larger than
# the request (docs/spec.md 8.5: no amplification), so a request is padded
# with zero bytes (noise to the device's parser) up to the largest answer
# that is not an echo: STATUS with a 64-byte device id.
UDP_REQUEST_MIN = 126


class UdpTransport:
    def __init__(self, host, port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.connect((host, port))
        self.name = "udp://%s:%d" % (host, port)

    def send(self, data):
        if len(data) < UDP_REQUEST_MIN:
            data = bytes(data) + bytes(UDP_REQUEST_MIN - len(data))
        self.s.send(data)

    def recv(self, timeout):
        r, _, _ = select.select([self.s], [], [], max(0.0, timeout))
        if not r:
            return b""
        try:
            return self.s.recv(65536)
        except ConnectionRefusedError:
            raise LinkError("%s: nobody listens" % self.name)

    def close(self):
        self.s.close()


class PipeTransport:
    def __init__(self, read_fd, write_fd):
        self.rfd, self.wfd = read_fd, write_fd
        self.name = "pipe"

    def send(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.wfd, view):]

    def recv(self, timeout):
        r, _, _ = select.select([self.rfd], [], [], max(0.0, timeout))
        if not r:
            return b""
        data = os.read(self.rfd, 65536)
        if not data:
            raise LinkError("the device closed its output")
        return data

    def close(self):
        pass


def open_transport(port=None, tcp=None, udp=None, baudrate=115200):
    """One transport from CLI-style settings: a serial port, or "host:port"."""
    def split(hp):
        host, _, p = hp.rpartition(":")
        return host or "127.0.0.1", int(p)

    if port:
        return SerialTransport(port, baudrate)
    if tcp:
        return TcpTransport(*split(tcp))
    if udp:
        return UdpTransport(*split(udp))
    raise LinkError("name a link: --port, --tcp or --udp")


# --- decoding ----------------------------------------------------------------------
def decode_verdict(payload):
    v, mode, flags, _, time_us, unc = struct.unpack(VERDICT_FORMAT, bytes(payload[:VERDICT_LEN]))
    return {
        "verdict": v,
        "name": VERDICT_NAMES[v] if v < len(VERDICT_NAMES) else "UNKNOWN(%d)" % v,
        "mode": MODE_NAMES.get(mode, str(mode)),
        "flags": flags,
        "rate_limited": bool(flags & F_RATE_LIMITED),
        "clock_valid": bool(flags & F_CLOCK_VALID),
        "resync": bool(flags & F_RESYNC),
        "time_us": time_us,
        "uncertainty_us": None if unc == NO_UNCERTAINTY else unc,
    }


def decode_status(payload):
    f = struct.unpack(STATUS_FORMAT, bytes(payload[:STATUS_LEN]))
    keys = ("version", "flags", "id_len", "reserved", "heap_alloc", "heap_free", "frames", "link_errors",
            "noise", "requests", "accepted", "rate_limited", "syncs", "now_ns", "uncertainty_us")
    st = dict(zip(keys, f))
    st["device_id"] = bytes(payload[STATUS_LEN:STATUS_LEN + st["id_len"]]).decode(errors="replace")
    st["clock_valid"] = bool(st["flags"] & spec.S_CLOCK_VALID)
    st["sync_pending"] = bool(st["flags"] & spec.S_SYNC_PENDING)
    st["synced"] = bool(st["flags"] & spec.S_SYNCED)
    if st["uncertainty_us"] == NO_UNCERTAINTY:
        st["uncertainty_us"] = None
    return st


def stamped_payload(sender, message, record):
    sender = sender.encode() if isinstance(sender, str) else bytes(sender)
    message = message.encode() if isinstance(message, str) else bytes(message)
    if not 1 <= len(sender) <= spec.MAX_SENDER:
        raise LinkError("sender id must be 1..32 bytes")
    if len(message) > spec.MAX_MESSAGE:
        raise LinkError("message must be at most 320 bytes")
    if len(record) != spec.RECORD_LEN:
        raise LinkError("a record is 143 bytes")
    return bytes([len(sender)]) + sender + struct.pack(">H", len(message)) + message + bytes(record)


def device_ctx(device_id):
    from pot.grg import context_device

    return context_device(device_id)


# --- the protocol --------------------------------------------------------------------
class _Sink:
    def __init__(self):
        self.frames = collections.deque()
        self.errors = []

    def frame(self, ftype, seq, payload):
        self.frames.append(Frame(ftype, seq, bytes(payload)))

    def link_error(self, code):
        self.errors.append(code)


class DeviceLink:
    def __init__(self, transport, issue=None, device_id=None):
        self.t = transport
        self.sink = _Sink()
        self.parser = Parser(self.sink, crc=crc_frame)
        self.seq = 0
        self.issue = issue
        self.device_id = device_id
        self.challenges = []  # unsolicited challenges not answered
        self.resyncs = []  # results of automatic resyncs
        self.error_frames = []  # link-level ERROR frames from the device (seq 0)

    def close(self):
        self.t.close()

    def _next_seq(self):
        self.seq = self.seq % 255 + 1  # 1..255; 0 is the device's own
        return self.seq

    def _pump(self, deadline):
        data = self.t.recv(deadline - time.monotonic())
        if data:
            self.parser.feed(data)

    def request(self, ftype, payload=b"", timeout=3.0, auto_sync=True):
        """Send one request, return its answer Frame (raises LinkTimeout)."""
        seq = self._next_seq()
        self.t.send(host.encode_frame(ftype, seq, payload))
        deadline = time.monotonic() + timeout
        answer = None
        while answer is None:
            while self.sink.frames and answer is None:
                f = self.sink.frames.popleft()
                if f.seq == seq:
                    answer = f
                elif f.seq == 0 and f.type == spec.T_CHALLENGE:
                    self.challenges.append(f.payload)
                elif f.seq == 0 and f.type == spec.T_ERROR:
                    self.error_frames.append(f.payload)
            if answer is None:
                if time.monotonic() >= deadline:
                    raise LinkTimeout("no answer to %s (seq %d) within %.1f s"
                                      % (spec.TYPE_NAMES.get(ftype, hex(ftype)), seq, timeout))
                self._pump(deadline)
        if answer.type == spec.T_ERROR and answer.payload[:1] != b"":
            code = answer.payload[0]
            name = spec.ERROR_NAMES[code] if code < len(spec.ERROR_NAMES) else str(code)
            raise LinkError("device error %s for %s" % (name, spec.TYPE_NAMES.get(ftype, hex(ftype))))
        if auto_sync and self.challenges and self.issue is not None:
            self._answer_challenges()
        return answer

    def drain(self, seconds):
        """Read for `seconds`, collecting unsolicited frames; returns the count seen."""
        deadline = time.monotonic() + seconds
        n = len(self.sink.frames)
        while time.monotonic() < deadline:
            self._pump(deadline)
        seen = len(self.sink.frames) - n
        while self.sink.frames:
            f = self.sink.frames.popleft()
            if f.type == spec.T_CHALLENGE:
                self.challenges.append(f.payload)
        return seen

    def _answer_challenges(self):
        ch = self.challenges.pop()  # the newest is the outstanding one
        self.challenges.clear()
        record = self.issue(ch, device_ctx(self._device_id()))
        f = self.request(spec.T_SYNC_RECORD, record, auto_sync=False)
        self.resyncs.append(decode_verdict(f.payload))

    def _device_id(self):
        if self.device_id is None:
            self.device_id = self.status()["device_id"]
        return self.device_id

    # --- operations -------------------------------------------------------------
    def status(self, timeout=3.0):
        f = self.request(spec.T_STATUS_REQ, timeout=timeout, auto_sync=False)
        if f.type != spec.T_STATUS:
            raise LinkError("unexpected answer %s to STATUS_REQ" % spec.TYPE_NAMES.get(f.type))
        return decode_status(f.payload)

    def echo(self, payload, timeout=3.0):
        f = self.request(spec.T_ECHO, payload, timeout=timeout, auto_sync=False)
        return f.payload

    def sync(self, issue=None, timeout=5.0):
        """One clock sync: challenge from the device, record from `issue`."""
        if issue is not None:
            self.issue = issue
        if self.issue is None:
            raise LinkError("sync needs an issuer")
        ctx = device_ctx(self._device_id())
        t0 = time.monotonic()
        f = self.request(spec.T_SYNC_REQ, timeout=timeout, auto_sync=False)
        if f.type == spec.T_SYNC_RESULT:  # refused (rate limit)
            out = decode_verdict(f.payload)
            out["host_round_trip_ms"] = (time.monotonic() - t0) * 1000
            return out
        if f.type != spec.T_CHALLENGE or len(f.payload) != 32:
            raise LinkError("unexpected answer %s to SYNC_REQ" % spec.TYPE_NAMES.get(f.type))
        record = self.issue(f.payload, ctx)
        r = self.request(spec.T_SYNC_RECORD, record, timeout=timeout, auto_sync=False)
        out = decode_verdict(r.payload)
        out["host_round_trip_ms"] = (time.monotonic() - t0) * 1000
        return out

    def send_stamped(self, sender, message, record, timeout=5.0):
        t0 = time.monotonic()
        f = self.request(spec.T_STAMPED, stamped_payload(sender, message, record), timeout=timeout)
        if f.type != spec.T_VERDICT:
            raise LinkError("unexpected answer %s to STAMPED" % spec.TYPE_NAMES.get(f.type))
        out = decode_verdict(f.payload)
        out["host_round_trip_ms"] = (time.monotonic() - t0) * 1000
        if out["resync"] and self.issue is not None:
            self._await_challenge(timeout)
        return out

    def _await_challenge(self, timeout):
        # The device announced a CHALLENGE (seq 0) right after its verdict.
        deadline = time.monotonic() + timeout
        while not self.challenges and time.monotonic() < deadline:
            while self.sink.frames:
                f = self.sink.frames.popleft()
                if f.seq == 0 and f.type == spec.T_CHALLENGE:
                    self.challenges.append(f.payload)
            if not self.challenges:
                self._pump(deadline)
        if self.challenges:
            self._answer_challenges()
