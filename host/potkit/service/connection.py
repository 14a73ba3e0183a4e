"""TrackedProtocol: what every TCP connection of the service shares (HTTP and board)."""
import asyncio
import time


class TrackedProtocol(asyncio.Protocol):
    """What every connection of the service shares: its place in the
    server's connection table (for the caps, eviction and shutdown), a
    receive buffer, a deadline, and write flow control: a client that sends
    requests but does not read the answers fills our write buffer; then we
    stop reading (and answering) until it drains, so memory stays bounded.

    Deadlines (checked by potkit.service.server.Server._sweep): a request or frame that has begun
    must be complete within `header_timeout` (HTTP: its headers; then its
    body within `body_timeout`), whatever trickle of bytes keeps arriving:
    a slowloris client sending one byte every 25 s is answered 408 and
    closed. Between requests a connection may stay idle `idle_timeout`; a
    client that stops reading our answers gets `idle_timeout` to resume.
    """

    #: a new connection starts in this phase: "idle" (idle_timeout) or "request" (header_timeout)
    first_phase = "idle"

    def __init__(self, service, server):
        self.service = service
        self.server = server
        self.buf = bytearray()
        self.transport = None
        self.paused = False
        self.last = 0.0
        self.peer = None
        self.counted = False
        self.phase = "idle"      # idle | request | body | paused
        self.deadline = 0.0
        self.raw_sock = None     # the accepted socket (Listener), to free its descriptor on eviction
        self.pending = False     # accepted by a Listener, not yet admitted

    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) and peer else peer
        self.last = time.monotonic()
        if self.server.admit(self):
            self.set_phase(self.first_phase)

    def connection_lost(self, exc):
        self.server.release(self)

    def set_phase(self, phase):
        srv = self.server
        self.phase = phase
        self.deadline = time.monotonic() + (srv.idle_timeout if phase in ("idle", "paused") else
                                            srv.body_timeout if phase == "body" else srv.header_timeout)

    def activity(self):
        """Bytes arrived: move to the busy end of the eviction order; a first byte starts the request clock."""
        self.last = time.monotonic()
        self.server.touch(self)
        if self.phase == "idle":
            self.set_phase("request")

    def after_reply(self):
        """A reply went out: the next request's clock starts with its first byte (or now, if pipelined)."""
        if not self.paused:
            self.set_phase("request" if self.buf else "idle")

    def expire(self):
        """The deadline passed (called by the sweeper)."""
        self.server.timeouts += 1
        self.transport.abort() if self.phase == "paused" else self.transport.close()

    def refuse(self, reason):
        """Not admitted (too many connections): close at once."""
        self.transport.abort()

    def evict(self):
        """Closed to make room for a new connection (the server is at its cap)."""
        self.transport.abort()
        if self.raw_sock is not None:
            # abort() has unregistered the descriptor; closing it now (not at
            # the next loop turn) frees it for the accept this eviction makes room for.
            self.raw_sock.close()

    def pause_writing(self):
        self.paused = True
        self.transport.pause_reading()
        self.set_phase("paused")

    def resume_writing(self):
        self.paused = False
        if not self.transport.is_closing():
            self.transport.resume_reading()
            self.set_phase("request" if self.buf else "idle")
            self.data_received(b"")

