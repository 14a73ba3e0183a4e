# The device service (docs/spec.md, "The device link"): stamped messages in,
# verdicts out, over any byte transport.
#
#   Device    the transport-agnostic core: the verifier, the secure clock,
#             the AdaptiveSwitch table per sender, counters.
#   Session   one link endpoint (a serial line, a TCP connection, a UDP
#             source address): its frame parser and reply buffer (shared
#             by a UDP socket's sessions), its challenge, its token bucket
#             (a TCP peer address's, found again on reconnection). It
#             answers every request frame with exactly one frame (over UDP
#             at most one per datagram, see Session).
#   take()    spends a token of a token bucket (full_bucket() makes one);
#             Device.verify_bucket is the device-wide budget of Ed25519
#             verifies.
#   Server    a select.poll loop over byte streams (stdin and stdout on the
#             Unix port, USB-CDC/UART on boards); pot.device_net adds a TCP
#             listener and a UDP socket (loopback on the Unix port, Wi-Fi
#             on a board).
#
# A stamped message is a command or event whose record was issued for
#   ctx = 0x01 || len(device id) || device id || SHA-256(message)
# so the record proves *when* this exact message was stamped *for this
# device*: a record for another device or another message fails the context
# gate (CROSS_CONTEXT) before any Ed25519 runs.
#
# Memory (the soak test measures it through STATUS frames):
# - Start-up order: Device() is light; the links' buffers (each session's
#   parser buffer, 522 bytes, and reply buffer, 126; the server's receive
#   buffer, 128) are allocated next, and pot.startup.start_device() loads the
#   verifier and its crypto last (that code runs once and leaves the heap
#   with pot.startup). MicroPython never moves objects, and loading
#   modules leaves the heap in small pieces: a small heap may hold 522
#   contiguous bytes only before that.
# - Handling a frame allocates only small temporaries (the payload view,
#   the message digest and context, a few big ints for ns times on 32-bit
#   boards), which the collector reclaims: the steady-state heap does not
#   grow.
# - Constants are private const()s, folded into the code: no global, no
#   dict slot, no interned name. The wire values and the
#   verdict codes are copies of pot.spec's (tests/host/test_spec_constants.py
#   holds every copy to it).
import gc
import struct

from pot.compat import const, ticks_diff, ticks_ms, ticks_us
from pot.link import Parser, finish_frame
from pot.switch import SwitchTable

_HEADER_LEN = const(6)
_MAX_ID = const(64)
# A session's reply buffer holds the largest reply built there: STATUS, 10 +
# 52 + a 64-byte device id. ECHO_REPLY, up to a whole frame, is written in
# place over its request (see Session.frame).
_TX_LEN = const(126)
_T_STATUS_REQ = const(0x01)
_T_SYNC_REQ = const(0x02)
_T_SYNC_RECORD = const(0x03)
_T_STAMPED = const(0x04)
_T_ECHO = const(0x05)
_T_STATUS = const(0x81)
_T_CHALLENGE = const(0x82)
_T_SYNC_RESULT = const(0x83)
_T_VERDICT = const(0x84)
_T_ECHO_REPLY = const(0x85)
_T_ERROR = const(0xFF)
_E_TYPE = const(4)
_E_PAYLOAD = const(5)
_E_STATE = const(6)

_OK = const(0)  # pot.verifier verdicts
_BUSY = const(7)
_CHALLENGE = const(9)
_NO_CLOCK = const(10)  # device verdict: no trusted time yet (or no longer)
_SYNC_OK = const(0)  # pot.clock

# VERDICT / SYNC_RESULT flags.
_F_RATE_LIMITED = const(0x01)  # BUSY from the token bucket: the record was not examined
_F_CLOCK_VALID = const(0x02)  # the clock vouches for a time after this frame
_F_RESYNC = const(0x04)  # the device sent (or is about to send) a CHALLENGE (seq 0)

_MODE_UNTRACKED = const(0xFF)  # the sender has no AdaptiveSwitch slot (all in TURBO)

_MAX_SENDER = const(32)
_MAX_MESSAGE = const(320)
_RECORD_LEN = const(143)
_RX_CHUNK = const(128)  # the server's read buffer: the parsers keep the frames
_DRAIN_CHUNKS = const(16)  # reads from one link per round of the loop
_STATUS_VERSION = const(1)
_RESYNC_GAP_MS = const(10000)  # at most one unsolicited CHALLENGE per 10 s
_STALL_MS = const(200)  # a stream peer that takes no byte for this long is stalled (Writer)

# VERDICT and SYNC_RESULT payload (struct ">BBBBII", written out where it
# is packed: a module-level name would be one more interned name and dict
# slot on the Unix port): verdict, mode, flags, 0, time_us, uncertainty_us
_VERDICT_LEN = const(12)
# STATUS payload (then the device id):
#  version flags id_len 0 | heap_alloc heap_free | frames link_errors noise |
#  requests accepted rate_limited syncs | now_ns (u64) uncertainty_us
# (struct ">BBBBIIIIIIIIIQI", written out in Session.on_status)
_STATUS_LEN = const(52)  # its struct.calcsize


def _u32(x):
    # x as a u32 field: None and anything larger saturate to 0xFFFFFFFF
    # (a constant object on 32-bit ports, above their small ints).
    return 0xFFFFFFFF if x is None or x > 0xFFFFFFFF else x


def full_bucket(rate, burst):
    # A token bucket, full: a list [milli-tokens, ticks_ms of the last
    # refill, rate, burst] (small ints only), refilled by take() at `rate`
    # tokens per second up to `burst`.
    return [burst * 1000, ticks_ms(), rate, burst]


def take(bucket):
    # Spend one token of a token bucket (full_bucket). True if there was one.
    now = ticks_ms()
    dt = ticks_diff(now, bucket[1])
    if dt < 0 or dt > 100000:
        dt = 100000  # idle longer than ticks_diff can tell: full
    if dt > 0:
        bucket[1] = now
        # rate per second = milli-tokens per ms.
        bucket[0] = min(bucket[3] * 1000, bucket[0] + dt * bucket[2])
    if bucket[0] >= 1000:
        bucket[0] -= 1000
        return True
    return False


class Device:
    def __init__(self, device_id, clock, senders=8, rate_per_s=20, burst=10, verify_per_s=None,
                 verify_burst=None):
        self.device_id = device_id.encode() if isinstance(device_id, str) else bytes(device_id)
        if not 0 < len(self.device_id) <= _MAX_ID:
            raise ValueError("device id: 1..64 bytes")
        self.clock = clock
        self.switches = SwitchTable(senders)
        self.rate_per_s = rate_per_s  # per sender (a link session, a TCP peer, a UDP address)
        self.burst = burst
        # The device-wide budget of Ed25519 verifies (docs/spec.md 8.5).
        self.verify_bucket = full_bucket(2 * rate_per_s if verify_per_s is None else verify_per_s,
                                         2 * burst if verify_burst is None else verify_burst)
        self.over_budget = False  # the last verify was refused by the budget
        self.verifier = None  # pot.startup.start_device() loads it
        self.requests = 0  # stamped messages examined
        self.accepted = 0  # ... with verdict OK
        self.rate_limited = 0
        self.sessions = []  # sessions that may get unsolicited frames (serial, TCP)
        self.parsers = []  # every link's parser, for the STATUS counters
        self.sync_session = None  # where the last challenge went
        self._last_resync_ms = ticks_ms()
        self._resync_sent = False

    def session(self, write, bucket=None):
        s = Session(self, write, bucket=bucket)
        self.sessions.append(s)
        self.parsers.append(s.parser)
        return s

    # --- the verifier pipeline with the clock's interval ----------------------
    def _ed25519(self, pk, msg, sig):
        # The verifier's Ed25519, behind the device-wide budget: a refused
        # verify reads as a failed signature to the verifier (which then
        # changes no state) and as BUSY to the caller (over_budget, which
        # the caller clears first).
        if not take(self.verify_bucket):
            self.over_budget = True
            self.rate_limited += 1
            return False
        return self.ed25519(pk, msg, sig)

    def verify_stamped(self, sender, message, record):
        # Verdict for one stamped message (the flood check is the session's).
        interval = self.clock.interval_ns()
        if interval is None:
            return _NO_CLOCK, _MODE_UNTRACKED
        earliest, latest = interval
        # FUTURE only if the record is ahead of the latest possible time by
        # more than the skew, STALE only if it is too old even at the
        # earliest. The slack is bounded by the clock's max_uncertainty_us
        # (and normally by its resync threshold).
        self.over_budget = False
        verdict = self.verifier.verify(record, self._context_message(self.device_id, message), earliest, None,
                                       latest)
        if self.over_budget:
            return _BUSY, _MODE_UNTRACKED
        self.requests += 1
        if verdict == _OK:
            self.accepted += 1
        mode = self.switches.record(sender, verdict)
        return verdict, _MODE_UNTRACKED if mode is None else mode

    def want_resync(self, session):
        # Whether to send `session` an unsolicited CHALLENGE now (rate-limited).
        c = self.clock
        if session.datagram or c.sync_pending(session) or not c.needs_sync():
            return False
        return ticks_diff(ticks_ms(), self._last_resync_ms) >= _RESYNC_GAP_MS or not self._resync_sent

    def housekeeping(self):
        # Called by the server loop: keep the clock's base fresh, and ask for
        # a resync on the session of the last sync (or the last session).
        self.clock.tick()
        s = self.sync_session or (self.sessions[-1] if self.sessions else None)
        if s is not None and s.talked and self.clock.synced and self.want_resync(s):
            s.send_challenge(0)


class Session:
    # One link endpoint. pot.device_net's datagram sessions (UDP) are a
    # subclass: they answer at most one frame per datagram and never on
    # their own.
    datagram = False

    def __init__(self, device, write, parser=None, tx=None, bucket=None):
        self.device = device
        self.write = write  # write(memoryview): sends all bytes, or drops them (a stalled peer)
        self.parser = Parser(self) if parser is None else parser
        self.tx = bytearray(_TX_LEN) if tx is None else tx
        self.txv = memoryview(self.tx)
        self.bucket = full_bucket(device.rate_per_s, device.burst) if bucket is None else bucket
        # This session's challenge (a pot.clock holder): one per session.
        self.challenge = None
        self.sent_ms = 0
        self.sent_us = 0
        self.talked = False  # a frame was received: the peer is listening
        self.last_rx_ms = ticks_ms()  # bytes (the parser's idle timer)

    # --- flood limit ----------------------------------------------------------
    def take_token(self):
        if take(self.bucket):
            return True
        self.device.rate_limited += 1
        return False

    # --- input --------------------------------------------------------------
    def feed(self, data, start=0, end=None):
        self.last_rx_ms = ticks_ms()
        self.parser.feed(data, start, end)

    # --- output -------------------------------------------------------------
    def _send(self, ftype, seq, length):
        self.write(self.txv[:finish_frame(self.txv, ftype, seq, length)])

    def send_error(self, seq, code, ftype):
        self.tx[6] = code
        self.tx[7] = ftype
        self._send(_T_ERROR, seq, 2)

    def _send_verdict(self, ftype, seq, verdict, mode, flags, time_us):
        c = self.device.clock
        if c.valid():
            flags |= _F_CLOCK_VALID
        struct.pack_into(">BBBBII", self.tx, _HEADER_LEN, verdict, mode, flags, 0,
                         _u32(time_us), _u32(c.uncertainty_us()))
        self._send(ftype, seq, _VERDICT_LEN)

    def send_challenge(self, seq):
        d = self.device
        self.tx[_HEADER_LEN:_HEADER_LEN + 32] = d.clock.start_sync(self)
        self._send(_T_CHALLENGE, seq, 32)
        d.clock.mark_sent(self)  # the round trip starts when the bytes are out
        if not self.datagram:
            d.sync_session = self
            d._last_resync_ms = ticks_ms()
            d._resync_sent = True

    # --- the parser's sink ----------------------------------------------------
    def link_error(self, code):
        self.send_error(0, code, 0)

    def frame(self, ftype, seq, p):
        self.talked = True
        if ftype == _T_STAMPED:
            self.on_stamped(seq, p)
        elif ftype == _T_SYNC_RECORD:
            self.on_sync_record(seq, p)
        elif ftype == _T_SYNC_REQ:
            if len(p):
                self.send_error(seq, _E_PAYLOAD, ftype)
            elif not self.take_token():
                self._send_verdict(_T_SYNC_RESULT, seq, _BUSY, _MODE_UNTRACKED, _F_RATE_LIMITED, 0)
            else:
                self.send_challenge(seq)
        elif ftype == _T_STATUS_REQ:
            self.on_status(seq)
        elif ftype == _T_ECHO:
            # The reply has the request's layout: finish it over the request
            # in the parser's buffer (a sink may, see pot.link.Parser).
            mv = self.parser.mv
            self.write(mv[:finish_frame(mv, _T_ECHO_REPLY, seq, len(p))])
        else:
            self.send_error(seq, _E_TYPE, ftype)

    def on_stamped(self, seq, p):
        t0 = ticks_us()
        d = self.device
        # sender_len(1) sender message_len(2) message record(143)
        n = len(p)
        slen = p[0] if n else 0
        off = 1 + slen
        if slen < 1 or slen > _MAX_SENDER or n < off + 2 + _RECORD_LEN:
            self.send_error(seq, _E_PAYLOAD, _T_STAMPED)
            return
        mlen = (p[off] << 8) | p[off + 1]
        off += 2
        if mlen > _MAX_MESSAGE or off + mlen + _RECORD_LEN != n:
            self.send_error(seq, _E_PAYLOAD, _T_STAMPED)
            return
        flags = 0
        if not self.take_token():
            verdict, mode, flags = _BUSY, _MODE_UNTRACKED, _F_RATE_LIMITED
        else:
            verdict, mode = d.verify_stamped(bytes(p[1:1 + slen]), p[off:off + mlen], p[off + mlen:])
            if d.over_budget:
                flags = _F_RATE_LIMITED
        resync = d.want_resync(self)
        if resync:
            flags |= _F_RESYNC
        self._send_verdict(_T_VERDICT, seq, verdict, mode, flags, ticks_diff(ticks_us(), t0))
        if resync:
            self.send_challenge(0)

    def on_sync_record(self, seq, p):
        t0 = ticks_us()
        d = self.device
        c = d.clock
        if len(p) != _RECORD_LEN:
            self.send_error(seq, _E_PAYLOAD, _T_SYNC_RECORD)
            return
        if not c.sync_pending(self):
            self.send_error(seq, _E_STATE, _T_SYNC_RECORD)
            return
        flags = 0
        if not self.take_token():
            verdict, flags = _BUSY, _F_RATE_LIMITED
        else:
            # A challenge-mode record for the device context: sets the clock.
            # It does not move the ORDERING floor, which is about stamped
            # messages: a command stamped just before this sync record is
            # still in order.
            v = d.verifier
            floor = v.last_ts
            d.over_budget = False
            try:
                verdict = v.verify(p, d.ctx_device, None, self.challenge)
            finally:
                v.last_ts = floor
            if d.over_budget:
                verdict, flags = _BUSY, _F_RATE_LIMITED
            elif verdict == _OK and c.finish_sync(v.record.timestamp_ns(), self) != _SYNC_OK:
                verdict = _CHALLENGE  # expired while we verified
        rtt = c.last_rtt_us if verdict == _OK else ticks_diff(ticks_us(), t0)
        self._send_verdict(_T_SYNC_RESULT, seq, verdict, _MODE_UNTRACKED, flags, rtt)

    def on_status(self, seq):
        d = self.device
        gc.collect()
        try:
            alloc, free = gc.mem_alloc(), gc.mem_free()
        except AttributeError:  # CPython has no heap figures
            alloc, free = 0, 0
        frames = errors = noise = 0
        for p in d.parsers:
            frames += p.frames
            errors += p.errors
            noise += p.noise
        c = d.clock
        flags = (1 if c.valid() else 0) | (2 if c.sync_pending(self) else 0) | (4 if c.synced else 0)
        now = c.now_ns()
        idl = len(d.device_id)
        struct.pack_into(">BBBBIIIIIIIIIQI", self.tx, _HEADER_LEN, _STATUS_VERSION, flags, idl, 0,
                         _u32(alloc), _u32(free), _u32(frames), _u32(errors), _u32(noise),
                         _u32(d.requests), _u32(d.accepted), _u32(d.rate_limited), _u32(c.syncs),
                         now or 0, _u32(c.uncertainty_us()))
        o = _HEADER_LEN + _STATUS_LEN
        self.tx[o:o + idl] = d.device_id
        self._send(_T_STATUS, seq, _STATUS_LEN + idl)


# --- adapters ------------------------------------------------------------------
try:
    from errno import EAGAIN
except ImportError:
    EAGAIN = 11

import select

class Writer:
    # Writes all of a memoryview to a non-blocking stream or socket, waiting
    # for room with poll for at most timeout_ms; a peer that takes nothing
    # for that long is *stalled*: the rest of the frame is dropped (the
    # peer's parser resynchronises on the next sync word), and while it
    # stays stalled later frames are dropped without waiting, so one host
    # that stops reading never holds up the service loop. A TCP session
    # is closed instead (Server). Errors other than EAGAIN are raised.
    def __init__(self, obj, timeout_ms=_STALL_MS):
        self.obj = obj
        self.timeout_ms = timeout_ms
        self.stalled = False
        self.poll = select.poll()
        self.poll.register(obj, select.POLLOUT)

    def __call__(self, mv):
        obj = self.obj
        waited = 0
        limit = 0 if self.stalled else self.timeout_ms
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
            if waited >= limit:
                self.stalled = True
                return
            self.poll.poll(10)
            waited += 10
        self.stalled = False
        if hasattr(obj, "flush"):
            try:
                obj.flush()
            except OSError:
                pass


class Server:
    """One poll loop over a device's links.

    add_stream(reader, writer, chunked)  a serial line: reader is polled;
        chunked=True when reader is non-blocking and readinto returns what is
        available (Unix port with O_NONBLOCK, a UART); False reads one byte
        per poll (a board's blocking sys.stdin) and writes with
        writer.write (blocking)
    run(stop_after_ms=None)
    Entries are [obj, kind, session, extra]; pot.device_net's NetServer
    adds the TCP and UDP kinds.

    No input ends the loop: an exception while serving one entry (or in
    the timers and housekeeping) is caught and logged in one line
    (pot.device_fault), and a TCP session that raised is closed. The loop
    ends when a serial stream ends or fails (the Unix port's stdin closed).
    """

    def __init__(self, device, idle_ms=200, poll_ms=100):
        self.device = device
        self.idle_ms = idle_ms
        self.poll_ms = poll_ms
        self.poll = select.poll()
        self.entries = []
        self.rx = bytearray(_RX_CHUNK)
        self.rxv = memoryview(self.rx)
        self.running = True

    def _add(self, obj, kind, session, extra=None):
        self.entries.append([obj, kind, session, extra])
        self.poll.register(obj, select.POLLIN)

    def add_stream(self, reader, writer, chunked=True):
        if chunked:
            self._add(reader, "stream", self.device.session(Writer(writer)))
        else:
            self._add(reader, "bytes", self.device.session(writer.write), self.rxv[:1])

    def _drain(self, obj, session):
        # Feed what is available, up to _DRAIN_CHUNKS reads (the rest waits
        # for the next round of the loop: one busy peer does not keep the
        # others waiting); False at end of stream.
        rx = self.rx
        for _ in range(_DRAIN_CHUNKS):
            try:
                n = obj.recv_into(rx) if hasattr(obj, "recv_into") else obj.readinto(rx)
            except OSError as e:
                if e.args and e.args[0] == EAGAIN:
                    return True
                raise
            if n is None:  # a MicroPython stream with nothing ready
                return True
            if n == 0:
                return False
            session.feed(rx, 0, n)
            if n < len(rx):
                return True
        return True

    def _on_readable(self, e):
        if e[1] == "bytes":  # blocking stream: one byte per poll
            if e[0].readinto(e[3]):
                e[2].feed(self.rx, 0, 1)
        else:
            try:
                more = self._drain(e[0], e[2])
            except OSError:
                more = False  # a read error: the line is gone
            if not more:
                self.running = False  # the end of the serial line

    def _fault(self, exc, e):
        # An exception while serving entry e (None: the timers or the
        # housekeeping): pot.device_fault (loaded on the first fault) logs
        # it and closes a TCP connection that raised; the loop goes on.
        from pot.device_fault import fault

        fault(self, exc, e)

    def run(self, stop_after_ms=None):
        p = self.poll
        t0 = ticks_ms()
        while self.running:
            ready = p.ipoll(self.poll_ms) if hasattr(p, "ipoll") else p.poll(self.poll_ms)
            todo = []
            for ev in ready:
                todo.append((ev[0], ev[1]))  # ipoll reuses its tuple: copy
            for key, flags in todo:
                # The entry: MicroPython's poll gives the object, CPython's a fd.
                for e in self.entries:
                    o = e[0]
                    if o is key or (key.__class__ is int and hasattr(o, "fileno") and o.fileno() == key):
                        if flags & (select.POLLIN | select.POLLHUP | select.POLLERR):
                            try:
                                self._on_readable(e)
                            except Exception as x:
                                self._fault(x, e)
                        break
            # Expire a candidate frame a line left incomplete for idle_ms;
            # close a TCP connection that sent no whole frame for
            # client_idle_ms (its entry's extra: [ticks_ms of the last
            # frame, frames then], pot.device_net).
            now = ticks_ms()
            for e in self.entries:
                s = e[2]
                try:
                    if s is not None and s.parser.pending() and ticks_diff(now, s.last_rx_ms) >= self.idle_ms:
                        s.parser.expire()
                    if e[1] == "conn" and ticks_diff(now, e[3][0]) >= self.client_idle_ms:
                        self._remove(e)
                        break  # the list changed; the others wait for the next round
                except Exception as x:
                    self._fault(x, e)
            try:
                self.device.housekeeping()
            except Exception as x:
                self._fault(x, None)
            if stop_after_ms is not None and ticks_diff(ticks_ms(), t0) >= stop_after_ms:
                break
