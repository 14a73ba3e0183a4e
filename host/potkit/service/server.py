"""Server: binds the service's endpoints and keeps its connection table; Listener accepts for it."""
import asyncio
import collections
import time

from potkit import PotkitError
from potkit.service.board import BoardTcpProtocol, BoardUdpProtocol
from potkit.service.http import HttpProtocol

IDLE_TIMEOUT_S = 60.0    # an idle keep-alive connection is closed after this
HEADER_TIMEOUT_S = 10.0  # a request's line and headers (a board frame) must arrive within this
BODY_TIMEOUT_S = 10.0    # and its body within this, after the headers: else 408
MAX_PER_CLIENT = 64      # connections from one address


def default_max_connections(nofile=None):
    """The connection cap: below the descriptor limit, with room left for time sources and files.

    Under `ulimit -n 1024` that is 896: accept() never meets EMFILE because of
    our own connections, and the time sources (a socket and a thread each
    per synthesis) always find a descriptor.
    """
    if nofile is None:
        import resource

        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if nofile == resource.RLIM_INFINITY:
            nofile = 1 << 16
    reserve = max(64, nofile // 8)
    return max(16, min(nofile - reserve, 60000))


class Listener:
    """A listening TCP socket whose accept makes room first, in bounded bursts.

    asyncio's own server accepts up to `backlog` sockets per wake-up before
    any of their protocols runs, so at the connection cap a crowd of
    reconnecting slowloris sockets took every descriptor; accept() then
    failed with EMFILE, and asyncio 3.11 went on calling it (one error and
    one more 1 s retry timer per call: 420,000 in 10 s) while the listener
    stayed paused for a second: a canary waited 0.4 to 1.7 s for /health.
    Here every accept is preceded by Server.make_room (the evicted
    connection's descriptor is closed at once), a wake-up accepts at most
    ACCEPT_BURST sockets, and a failed accept pauses this listener for
    ACCEPT_PAUSE_S once.
    """

    ACCEPT_BURST = 16
    ACCEPT_PAUSE_S = 0.1

    def __init__(self, server, factory, hostport, backlog):
        import socket

        self.server = server
        self.factory = factory
        self.loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in hostport[0] else socket.AF_INET
        self.sock = socket.create_server(hostport, family=family, backlog=backlog)
        self.sock.setblocking(False)
        self.address = self.sock.getsockname()[:2]
        self.closed = False
        self.loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self):
        import errno

        for _ in range(self.ACCEPT_BURST):
            self.server.make_room()
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as e:
                if e.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                self.server.service.log.log("accept", "accept() failed: %s; pausing the listener %g s"
                                            % (e, self.ACCEPT_PAUSE_S))
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(self.ACCEPT_PAUSE_S, self._resume)
                return
            conn.setblocking(False)
            self.server.pending += 1
            self.loop.create_task(self._connect(conn))

    async def _connect(self, conn):
        made = []

        def factory():
            p = self.factory()
            p.raw_sock, p.pending = conn, True
            made.append(p)
            return p

        try:
            await self.loop.connect_accepted_socket(factory, conn)
        except Exception:
            if not made or made[0].pending:
                self.server.pending -= 1
            conn.close()

    def _resume(self):
        if not self.closed:
            self.loop.add_reader(self.sock.fileno(), self._accept)

    def close(self):
        if not self.closed:
            self.closed = True
            self.loop.remove_reader(self.sock.fileno())
            self.sock.close()


class Server:
    """Binds the endpoints on a running loop; `await start()`, then `close()`.

    Connection limits (docs/spec.md 7.5, "Limits"):
    - at most `max_connections` at once (default: below the descriptor
      limit, default_max_connections). A new connection beyond it evicts
      the connection that has been silent longest, so a crowd of stalled
      sockets cannot lock a live client out;
    - at most `max_per_client` from one address; more are refused at once
      (HTTP: a 503);
    - the deadlines of TrackedProtocol: header_timeout, body_timeout
      (408 when they pass) and idle_timeout.
    """

    def __init__(self, service, http=("127.0.0.1", 8080), tcp=None, udp=None, idle_timeout=IDLE_TIMEOUT_S,
                 header_timeout=HEADER_TIMEOUT_S, body_timeout=BODY_TIMEOUT_S, max_connections=None,
                 max_per_client=MAX_PER_CLIENT):
        self.service = service
        self.want = {"http": http, "tcp": tcp, "udp": udp}
        self.idle_timeout = idle_timeout
        # A request never gets longer than an idle connection would.
        self.header_timeout = min(header_timeout, idle_timeout)
        self.body_timeout = min(body_timeout, idle_timeout)
        self.max_connections = max_connections or default_max_connections()
        self.max_per_client = max_per_client
        self.connections = collections.OrderedDict()   # conn -> None, least recently active first
        self.per_client = {}
        self.pending = 0         # accepted sockets whose protocol has not started yet (Listener)
        self.evicted = 0
        self.refused = 0
        self.timeouts = 0
        self.access_log = None   # a logging.Logger: one line per HTTP request
        self.addresses = {}
        self._servers = []
        self._udp = None
        self._sweeper = None

    # -- the connection table ------------------------------------------------------
    def make_room(self):
        """Before an accept: evict the longest silent connections until one more fits under the cap."""
        self._evict_until(self.max_connections - self.pending)

    def _evict_until(self, room):
        # Close the longest silent connections until fewer than `room` are open.
        while self.connections and len(self.connections) >= room:
            victim = next(iter(self.connections))
            self._forget(victim)
            self.evicted += 1
            self.service.log.log("evict", "%d connections (--max-connections): closing the longest silent ones"
                                 % self.max_connections)
            victim.evict()

    def admit(self, conn):
        """Called by a new connection: True if it may stay (and is counted)."""
        if conn.pending:
            conn.pending = False
            self.pending -= 1
        n = self.per_client.get(conn.peer, 0)
        if self.max_per_client and n >= self.max_per_client:
            self.refused += 1
            self.service.log.log(("per-client", conn.peer), "refusing connections from %s: %d open "
                                 "(--max-per-client %d)" % (conn.peer, n, self.max_per_client))
            conn.refuse("too many connections from your address (%d)" % n)
            return False
        self._evict_until(self.max_connections)
        self.connections[conn] = None
        self.per_client[conn.peer] = n + 1
        conn.counted = True
        return True

    def touch(self, conn):
        if conn.counted:
            self.connections.move_to_end(conn)

    def _forget(self, conn):
        if conn.counted:
            conn.counted = False
            self.connections.pop(conn, None)
            n = self.per_client.get(conn.peer, 1) - 1
            if n > 0:
                self.per_client[conn.peer] = n
            else:
                self.per_client.pop(conn.peer, None)

    def release(self, conn):
        self._forget(conn)

    async def start(self):
        """Binds every endpoint; a PotkitError naming the address if one cannot be bound."""
        try:
            return await self._start()
        except OSError as e:
            self.close()
            kind, addr = self._binding
            raise PotkitError("cannot listen on %s %s:%d: %s; choose another --%s address or stop what uses it"
                              % (kind.upper(), addr[0], addr[1], e.strerror or e, kind))

    async def _start(self):
        loop = asyncio.get_running_loop()
        self._binding = ("http", self.want["http"])
        if self.want["http"]:
            s = Listener(self, lambda: HttpProtocol(self.service, self), self.want["http"], 4096)
            self._servers.append(s)
            self.addresses["http"] = s.address
        self._binding = ("tcp", self.want["tcp"])
        if self.want["tcp"]:
            s = Listener(self, lambda: BoardTcpProtocol(self.service, self), self.want["tcp"], 1024)
            self._servers.append(s)
            self.addresses["tcp"] = s.address
        self._binding = ("udp", self.want["udp"])
        if self.want["udp"]:
            self._udp, _ = await loop.create_datagram_endpoint(lambda: BoardUdpProtocol(self.service),
                                                               local_addr=self.want["udp"])
            self.addresses["udp"] = self._udp.get_extra_info("sockname")[:2]
        self._sweeper = loop.create_task(self._sweep())
        return self.addresses

    async def _sweep(self):
        # Enforces the deadlines: 408 for stalled requests, close for idle connections.
        period = min(max(min(self.header_timeout, self.idle_timeout) / 4, 0.05), 1.0)
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for c in [c for c in self.connections if c.deadline < now]:
                try:
                    c.expire()
                except Exception as e:
                    self.service.log.log(("bug", "sweep", type(e).__name__), "closing a connection: %s: %s"
                                         % (type(e).__name__, e))
                    c.transport.abort()
                self._forget(c)

    async def drain(self, seconds):
        """Stop listening; let the answers already queued reach their clients
        (at most `seconds`), then return (close() ends the connections)."""
        for s in self._servers:
            s.close()
        if self._udp:
            self._udp.close()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(
                not c.transport.is_closing() and c.transport.get_write_buffer_size() for c in self.connections):
            await asyncio.sleep(0.02)

    def close(self):
        if self._sweeper:
            self._sweeper.cancel()
        for s in self._servers:
            s.close()
        if self._udp:
            self._udp.close()
        for c in list(self.connections):
            c.transport.close()

