# The device service (docs/spec.md, "The device link"): stamped messages in,
# verdicts out, over any byte transport.
#
#   Device    the transport-agnostic core: the verifier, the secure clock,
#             the AdaptiveSwitch table per sender, counters.
#   Session   one link endpoint (a serial line, a TCP connection, a UDP
#             socket): its own frame parser, reply buffer and token bucket.
#             It answers every request frame with exactly one frame.
#   Server    a select.poll loop over the adapters: a byte stream (stdin and
#             stdout on the Unix port, USB-CDC/UART on boards), a TCP
#             listener and a UDP socket. The same code serves loopback on
#             the Unix port and Wi-Fi on a board.
#
# A stamped message is a command or event whose record was issued for
#   ctx = 0x01 || len(device id) || device id || SHA-256(message)
# so the record proves *when* this exact message was stamped *for this
# device*: a record for another device or another message fails the context
# gate (CROSS_CONTEXT) before any Ed25519 runs.
#
# Memory: parser and reply buffers are allocated per session at creation;
# handling a frame allocates only small temporaries (the message digest and
# context, a few big ints for ns times on 32-bit boards), which the
# collector reclaims: the steady-state heap does not grow (the soak test
# measures it through STATUS frames).
import gc
import struct

from pot import link
from pot.compat import const
from pot.clock import SecureClock, SYNC_OK, ticks_diff, ticks_ms, ticks_us
from pot.grg import context_device, context_message
from pot.switch import SwitchTable
from pot.verifier import BUSY, CHALLENGE, OK, Verifier

# Constants are private and const(): the compiler folds them into the code,
# so they take no global, no dict slot and no interned name on the heap.
# (The host side, potkit.link, has its own copies of the wire values.)
_NO_CLOCK = const(10)  # device verdict: no trusted time yet (or no longer)

# VERDICT / SYNC_RESULT flags.
_F_RATE_LIMITED = const(0x01)  # BUSY from the token bucket: the record was not examined
_F_CLOCK_VALID = const(0x02)  # the clock vouches for a time after this frame
_F_RESYNC = const(0x04)  # the device sent (or is about to send) a CHALLENGE (seq 0)

_MODE_UNTRACKED = const(0xFF)  # the sender has no AdaptiveSwitch slot (all in TURBO)

_MAX_SENDER = const(32)
_MAX_MESSAGE = const(320)
_RECORD_LEN = const(143)
_U32_MAX = 0xFFFFFFFF  # not const(): above a 32-bit port's small ints
_STATUS_VERSION = const(1)
_RESYNC_GAP_MS = const(10000)  # at most one unsolicited CHALLENGE per 10 s

# VERDICT and SYNC_RESULT payload: verdict, mode, flags, 0, time_us, uncertainty_us
_VERDICT_FMT = ">BBBBII"
_VERDICT_LEN = const(12)
# STATUS payload (then the device id):
#  version flags id_len 0 | heap_alloc heap_free | frames link_errors noise |
#  requests accepted rate_limited syncs | now_ns (u64) uncertainty_us
_STATUS_FMT = ">BBBBIIIIIIIIIQI"
_STATUS_LEN = const(52)  # struct.calcsize(_STATUS_FMT)


def _u32(x):
    return _U32_MAX if x is None or x > _U32_MAX else x


class Device:
    def __init__(self, public_key, device_id, skew_ms=500, cache_capacity=32, senders=8,
                 rate_per_s=20, burst=10, clock=None, verifier=None, ed25519=None):
        self.device_id = device_id.encode() if isinstance(device_id, str) else bytes(device_id)
        self.ctx_device = context_device(self.device_id)
        if verifier is None:
            verifier = Verifier(public_key, skew_ms=skew_ms, cache_capacity=cache_capacity, ed25519=ed25519)
        self.verifier = verifier
        self.base_skew_ns = verifier.skew_ns
        self.clock = clock if clock is not None else SecureClock()
        self.switches = SwitchTable(senders)
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.requests = 0  # stamped messages examined
        self.accepted = 0  # ... with verdict OK
        self.rate_limited = 0
        self.sessions = []  # live sessions, for counters
        self.sync_session = None  # where the outstanding challenge went
        self._last_resync_ms = ticks_ms()
        self._resync_sent = False

    def session(self, write):
        s = Session(self, write)
        self.sessions.append(s)
        return s

    def drop(self, session):
        if session in self.sessions:
            self.sessions.remove(session)
        if self.sync_session is session:
            self.sync_session = None

    # --- the verifier pipeline with the clock's interval ----------------------
    def verify_stamped(self, sender, message, record):
        # Verdict for one stamped message (the flood check is the session's).
        interval = self.clock.interval_ns()
        if interval is None:
            return _NO_CLOCK, _MODE_UNTRACKED
        earliest, latest = interval
        # Judge with the earliest possible time now, and widen the skew by
        # the whole interval: FUTURE only if the record is ahead of the
        # latest possible time by more than the skew, STALE only if it is
        # too old even at the earliest. The slack is bounded by the clock's
        # max_uncertainty_us (and normally by its resync threshold).
        v = self.verifier
        v.skew_ns = self.base_skew_ns + (latest - earliest)
        ctx = context_message(self.device_id, message)
        verdict = v.verify(record, ctx, earliest)
        v.skew_ns = self.base_skew_ns
        self.requests += 1
        if verdict == OK:
            self.accepted += 1
        sw = self.switches.get(sender)
        if sw is None:
            return verdict, _MODE_UNTRACKED
        return verdict, sw.record(verdict)

    def verify_sync(self, record):
        # A challenge-mode record for the device context: sets the clock.
        ch = self.clock.challenge
        verdict = self.verifier.verify(record, self.ctx_device, None, challenge=ch)
        if verdict == OK and self.clock.finish_sync(self.verifier.record.timestamp_ns()) != SYNC_OK:
            verdict = CHALLENGE  # expired while we verified
        return verdict

    def want_resync(self):
        # Whether to send an unsolicited CHALLENGE now (rate-limited).
        c = self.clock
        if c.sync_pending() or not c.needs_sync():
            return False
        return ticks_diff(ticks_ms(), self._last_resync_ms) >= _RESYNC_GAP_MS or not self._resync_sent

    def housekeeping(self):
        # Called by the server loop: keep the clock's base fresh, and ask for
        # a resync on the last session that talked to us.
        self.clock.tick()
        s = self.sync_session or (self.sessions[-1] if self.sessions else None)
        if s is not None and s.talked and self.clock.synced and self.want_resync():
            s.send_challenge(0)


class Session:
    def __init__(self, device, write):
        self.device = device
        self.write = write  # write(memoryview) -> sends all bytes
        self.parser = link.Parser(self)
        self.tx = bytearray(link.MAX_FRAME)
        self.txv = memoryview(self.tx)
        self.talked = False  # a frame was received: the peer is listening
        # Token bucket in milli-tokens (small ints only).
        self.tokens = device.burst * 1000
        self.cap = device.burst * 1000
        self.refill_ms = ticks_ms()
        self.last_rx_ms = ticks_ms()

    # --- flood limit ----------------------------------------------------------
    def take_token(self):
        now = ticks_ms()
        d = ticks_diff(now, self.refill_ms)
        if d > 0:
            self.refill_ms = now
            # rate per second = milli-tokens per ms; cap d so d * rate stays small.
            self.tokens = min(self.cap, self.tokens + min(d, 100000) * self.device.rate_per_s)
        if self.tokens >= 1000:
            self.tokens -= 1000
            return True
        return False

    # --- input --------------------------------------------------------------
    def feed(self, data, start=0, end=None):
        self.last_rx_ms = ticks_ms()
        self.parser.feed(data, start, end)

    def idle(self, idle_ms):
        # Expire a candidate frame the line left incomplete for idle_ms.
        if self.parser.pending() and ticks_diff(ticks_ms(), self.last_rx_ms) >= idle_ms:
            self.parser.expire()

    def flush_datagram(self):
        # A datagram holds whole frames: whatever is left is truncated.
        while self.parser.pending():
            self.parser.expire()

    # --- output -------------------------------------------------------------
    def _send(self, ftype, seq, length):
        n = link.finish_frame(self.tx, ftype, seq, length)
        self.write(self.txv[:n])

    def send_error(self, seq, code, ftype):
        self.tx[6] = code
        self.tx[7] = ftype
        self._send(link.T_ERROR, seq, 2)

    def _send_verdict(self, ftype, seq, verdict, mode, flags, time_us, unc_us):
        struct.pack_into(_VERDICT_FMT, self.tx, link.HEADER_LEN, verdict, mode, flags, 0,
                         _u32(time_us), _u32(unc_us))
        self._send(ftype, seq, _VERDICT_LEN)

    def send_challenge(self, seq):
        d = self.device
        ch = d.clock.start_sync()
        self.tx[link.HEADER_LEN:link.HEADER_LEN + 32] = ch
        self._send(link.T_CHALLENGE, seq, 32)
        d.clock.mark_sent()  # the round trip starts when the bytes are out
        d.sync_session = self
        d._last_resync_ms = ticks_ms()
        d._resync_sent = True

    # --- the parser's sink ----------------------------------------------------
    def link_error(self, code):
        self.send_error(0, code, 0)

    def frame(self, ftype, seq, p):
        self.talked = True
        if ftype == link.T_STAMPED:
            self.on_stamped(seq, p)
        elif ftype == link.T_SYNC_RECORD:
            self.on_sync_record(seq, p)
        elif ftype == link.T_SYNC_REQ:
            if len(p):
                self.send_error(seq, link.E_PAYLOAD, ftype)
            elif not self.take_token():
                self.device.rate_limited += 1
                self._send_verdict(link.T_SYNC_RESULT, seq, BUSY, _MODE_UNTRACKED, _F_RATE_LIMITED, 0, None)
            else:
                self.send_challenge(seq)
        elif ftype == link.T_STATUS_REQ:
            self.on_status(seq)
        elif ftype == link.T_ECHO:
            n = len(p)
            self.txv[link.HEADER_LEN:link.HEADER_LEN + n] = p
            self._send(link.T_ECHO_REPLY, seq, n)
        else:
            self.send_error(seq, link.E_TYPE, ftype)

    def on_stamped(self, seq, p):
        t0 = ticks_us()
        d = self.device
        # sender_len(1) sender message_len(2) message record(143)
        n = len(p)
        slen = p[0] if n else 0
        off = 1 + slen
        if slen < 1 or slen > _MAX_SENDER or n < off + 2 + _RECORD_LEN:
            self.send_error(seq, link.E_PAYLOAD, link.T_STAMPED)
            return
        mlen = (p[off] << 8) | p[off + 1]
        off += 2
        if mlen > _MAX_MESSAGE or off + mlen + _RECORD_LEN != n:
            self.send_error(seq, link.E_PAYLOAD, link.T_STAMPED)
            return
        flags = 0
        if not self.take_token():
            d.rate_limited += 1
            verdict, mode, flags = BUSY, _MODE_UNTRACKED, _F_RATE_LIMITED
        else:
            verdict, mode = d.verify_stamped(bytes(p[1:1 + slen]), p[off:off + mlen], p[off + mlen:])
        resync = d.want_resync()
        if resync:
            flags |= _F_RESYNC
        if d.clock.valid():
            flags |= _F_CLOCK_VALID
        self._send_verdict(link.T_VERDICT, seq, verdict, mode, flags, ticks_diff(ticks_us(), t0),
                           d.clock.uncertainty_us())
        if resync:
            self.send_challenge(0)

    def on_sync_record(self, seq, p):
        t0 = ticks_us()
        d = self.device
        if len(p) != _RECORD_LEN:
            self.send_error(seq, link.E_PAYLOAD, link.T_SYNC_RECORD)
            return
        if not d.clock.sync_pending():
            self.send_error(seq, link.E_STATE, link.T_SYNC_RECORD)
            return
        flags = 0
        if not self.take_token():
            d.rate_limited += 1
            verdict, flags = BUSY, _F_RATE_LIMITED
        else:
            verdict = d.verify_sync(p)
        if d.clock.valid():
            flags |= _F_CLOCK_VALID
        rtt = d.clock.last_rtt_us if verdict == OK else ticks_diff(ticks_us(), t0)
        self._send_verdict(link.T_SYNC_RESULT, seq, verdict, _MODE_UNTRACKED, flags, rtt,
                           d.clock.uncertainty_us())

    def on_status(self, seq):
        d = self.device
        gc.collect()
        try:
            alloc, free = gc.mem_alloc(), gc.mem_free()
        except AttributeError:  # CPython has no heap figures
            alloc, free = 0, 0
        frames = errors = noise = 0
        for s in d.sessions:
            frames += s.parser.frames
            errors += s.parser.errors
            noise += s.parser.noise
        c = d.clock
        flags = (1 if c.valid() else 0) | (2 if c.sync_pending() else 0) | (4 if c.synced else 0)
        now = c.now_ns()
        idl = len(d.device_id)
        struct.pack_into(_STATUS_FMT, self.tx, link.HEADER_LEN, _STATUS_VERSION, flags, idl, 0,
                         _u32(alloc), _u32(free), _u32(frames), _u32(errors), _u32(noise),
                         _u32(d.requests), _u32(d.accepted), _u32(d.rate_limited), _u32(c.syncs),
                         now or 0, _u32(c.uncertainty_us()))
        o = link.HEADER_LEN + _STATUS_LEN
        self.tx[o:o + idl] = d.device_id
        self._send(link.T_STATUS, seq, _STATUS_LEN + idl)


# --- adapters ------------------------------------------------------------------
try:
    from errno import EAGAIN
except ImportError:
    EAGAIN = 11

try:
    import select
except ImportError:  # pragma: no cover
    import uselect as select


def _read_into(obj, buf):
    # Bytes now available into buf: n > 0, None when nothing is ready,
    # 0 at end of stream. obj: a non-blocking MicroPython stream or socket
    # (readinto) or a CPython socket / raw file (recv_into / readinto).
    try:
        if hasattr(obj, "recv_into"):
            return obj.recv_into(buf)
        return obj.readinto(buf)
    except OSError as e:
        if e.args and e.args[0] == EAGAIN:
            return None
        raise


class _Writer:
    # Writes all of a memoryview to a non-blocking stream or socket, waiting
    # for room with poll; gives up (raises OSError) after timeout_ms.
    def __init__(self, obj, timeout_ms=2000):
        self.obj = obj
        self.timeout_ms = timeout_ms
        self.poll = select.poll()
        self.poll.register(obj, select.POLLOUT)

    def __call__(self, mv):
        obj = self.obj
        waited = 0
        while len(mv):
            try:
                n = obj.send(mv) if hasattr(obj, "send") else obj.write(mv)
            except OSError as e:
                if not (e.args and e.args[0] == EAGAIN):
                    raise
                n = None
            if n:
                mv = mv[n:]
                continue
            if waited >= self.timeout_ms:
                raise OSError(EAGAIN)
            self.poll.poll(50)
            waited += 50
        if hasattr(obj, "flush"):
            obj.flush()


class _ByteWriter:
    # For blocking streams (a board's USB-CDC stdout): plain write.
    def __init__(self, obj):
        self.obj = obj

    def __call__(self, mv):
        self.obj.write(mv)


class Server:
    """One poll loop over a device's links.

    add_stream(reader, writer, chunked)  a serial line: reader is polled;
        chunked=True when reader is non-blocking and readinto returns what is
        available (Unix port with O_NONBLOCK, a UART); False reads one byte
        per poll (a board's blocking sys.stdin).
    add_tcp(host, port, max_clients)     a listening socket; each connection
        is its own session (own parser, own token bucket)
    add_udp(host, port)                  one session; each datagram must hold
        whole frames; answers go to the datagram's sender
    run(stop_after_ms=None)
    """

    def __init__(self, device, idle_ms=200, poll_ms=100):
        self.device = device
        self.idle_ms = idle_ms
        self.poll_ms = poll_ms
        self.poll = select.poll()
        self.entries = []  # [obj, kind, session, extra]
        self.rx = bytearray(link.MAX_FRAME)
        self.rxv = memoryview(self.rx)
        self.running = True

    def _add(self, obj, kind, session, extra=None):
        self.entries.append([obj, kind, session, extra])
        self.poll.register(obj, select.POLLIN)

    def _remove(self, entry):
        try:
            self.poll.unregister(entry[0])
        except (OSError, KeyError, ValueError):
            pass
        if entry in self.entries:
            self.entries.remove(entry)
        if entry[2] is not None:
            self.device.drop(entry[2])
        if entry[1] == "conn":
            entry[0].close()

    def add_stream(self, reader, writer, chunked=True):
        w = _Writer(writer) if chunked else _ByteWriter(writer)
        self._add(reader, "stream" if chunked else "bytes", self.device.session(w))

    def add_tcp(self, host, port, max_clients=2):
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.listen(max_clients)
        s.setblocking(False)
        self._add(s, "listen", None, max_clients)
        return s

    def add_udp(self, host, port):
        import socket

        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.setblocking(False)
        box = [None]  # the current datagram's sender

        def write(mv):
            s.sendto(mv, box[0])

        self._add(s, "udp", self.device.session(write), box)
        return s

    def _find(self, key):
        for e in self.entries:
            o = e[0]
            if o is key or (key.__class__ is int and hasattr(o, "fileno") and o.fileno() == key):
                return e
        return None

    def _on_readable(self, e):
        obj, kind, session = e[0], e[1], e[2]
        if kind == "listen":
            conn, _ = obj.accept()
            if sum(1 for x in self.entries if x[1] == "conn") >= e[3]:
                conn.close()  # bounded: a board has RAM for few sessions
                return
            conn.setblocking(False)
            self._add(conn, "conn", self.device.session(_Writer(conn)))
        elif kind == "udp":
            data, addr = obj.recvfrom(link.MAX_FRAME)
            e[3][0] = addr
            session.feed(data)
            session.flush_datagram()
        elif kind == "bytes":
            n = obj.readinto(self.rxv[:1])  # blocking stream: one byte per poll
            if n:
                session.feed(self.rx, 0, 1)
        else:  # "stream" or "conn": drain what is available
            while True:
                n = _read_into(obj, self.rx)
                if n is None:
                    return
                if n == 0:  # end of stream
                    if kind == "conn":
                        self._remove(e)
                    else:
                        self.running = False
                    return
                session.feed(self.rx, 0, n)
                if n < len(self.rx):
                    return

    def run_once(self, timeout_ms=None):
        p = self.poll
        ready = p.ipoll(self.poll_ms if timeout_ms is None else timeout_ms) if hasattr(p, "ipoll") \
            else p.poll(self.poll_ms if timeout_ms is None else timeout_ms)
        todo = []
        for ev in ready:
            todo.append((ev[0], ev[1]))  # ipoll reuses its tuple: copy
        for key, flags in todo:
            e = self._find(key)
            if e is None:
                continue
            try:
                if flags & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    self._on_readable(e)
            except OSError:
                if e[1] == "conn":
                    self._remove(e)
                elif e[1] in ("stream", "bytes"):
                    self.running = False
        for e in self.entries:
            if e[2] is not None and e[1] != "udp":
                e[2].idle(self.idle_ms)
        self.device.housekeeping()

    def run(self, stop_after_ms=None):
        t0 = ticks_ms()
        while self.running:
            self.run_once()
            if stop_after_ms is not None and ticks_diff(ticks_ms(), t0) >= stop_after_ms:
                break
