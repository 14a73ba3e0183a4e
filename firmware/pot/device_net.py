# The device service's network links (docs/spec.md, "The device link"): a
# TCP listener, whose connections are sessions of their own, and a UDP
# socket. firmware/pot/main.py loads this module only when the configuration
# names a "tcp" or "udp" link, so a serial-only device does not carry it.
#
# What a hostile network gets (docs/spec.md 8.5):
# - TCP: at most max_clients connections; one that sends no whole frame
#   for client_idle_ms is closed, and a new connection finding every place
#   taken closes the one idle longest if that one has been idle for
#   _EVICT_IDLE_MS. Each peer address has one token bucket, whatever the
#   number of its connections (NetServer._peer_bucket). A peer that stops
#   reading is disconnected (Writer stalls).
# - UDP: a session per source address (at most udp_peers, the least
#   recently active one without a pending challenge is replaced), each
#   with its own token bucket and challenge; only the first frame of a
#   datagram is answered, with one datagram no larger than the request;
#   nothing is said about link errors and nothing is sent unsolicited;
#   datagrams from port 0, 0.0.0.0, broadcast, multicast or reserved
#   (224.0.0.0 and up) addresses are dropped unread.
import socket

from pot.compat import const, ticks_diff, ticks_ms
from pot.device import Server, Session, Writer, full_bucket
from pot.link import Parser

_MAX_FRAME = const(522)  # pot.spec.MAX_FRAME
_TX_LEN = const(126)  # pot.device's reply buffer
_EVICT_IDLE_MS = const(1000)


class NetServer(Server):
    """Server plus:

    add_tcp(host, port, max_clients, client_idle_ms, tcp_peers)  a
        listening socket; each connection is its own session (own parser,
        own challenge; the token bucket is the peer address's, of the last
        tcp_peers addresses); returns the bound port
    add_udp(host, port, udp_peers)  a socket whose source addresses are
        sessions sharing one parser and reply buffer; each datagram must
        hold a whole frame; answers go to the datagram's sender; returns
        the bound port
    (port 0: any free port; MicroPython's Unix sockets cannot tell which,
    so the configured number is returned.)
    """

    def add_tcp(self, host, port, max_clients=2, client_idle_ms=30000, tcp_peers=8):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.listen(max_clients)
        s.setblocking(False)
        self.client_idle_ms = client_idle_ms
        self.tcp_peers = tcp_peers
        self.peer_buckets = []  # [address, bucket, last seen ms], at most tcp_peers
        self._add(s, "listen", None, max_clients)
        return _port(s, port)

    def add_udp(self, host, port, udp_peers=8):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.setblocking(False)
        parser = Parser(None)
        self.device.parsers.append(parser)
        # extra: [parser, reply buffer, sessions, capacity]
        self._add(s, "udp", None, [parser, bytearray(_TX_LEN), [], udp_peers])
        return _port(s, port)

    def _udp_session(self, e, addr):
        # The session of a source address: found, new, or replacing the
        # least recently active one (preferring one without a challenge).
        parser, tx, table, capacity = e[3]
        victim = None
        for s in table:
            if s.addr == addr:
                return s
            if victim is None or _replace_first(s, victim):
                victim = s
        if len(table) >= capacity and victim is not None:
            table.remove(victim)
        s = _Datagrams(self.device, e[0], addr, parser, tx)
        table.append(s)
        return s

    def _remove(self, e):
        # A connection that is gone: closed, forgotten.
        try:
            self.poll.unregister(e[0])
        except (OSError, KeyError, ValueError):
            pass
        if e in self.entries:
            self.entries.remove(e)
        d = self.device
        s = e[2]
        if s in d.sessions:
            d.sessions.remove(s)
            d.parsers.remove(s.parser)
        if d.sync_session is s:
            d.sync_session = None
        try:
            e[0].close()
        except OSError:
            pass

    def _on_readable(self, e):
        obj, kind = e[0], e[1]
        if kind == "listen":
            conn, addr = obj.accept()
            conns = [x for x in self.entries if x[1] == "conn"]
            if len(conns) >= e[3]:
                idlest = None
                now = ticks_ms()
                for x in conns:
                    if idlest is None or ticks_diff(x[3][0], idlest[3][0]) < 0:
                        idlest = x
                if ticks_diff(now, idlest[3][0]) < _EVICT_IDLE_MS:
                    conn.close()  # bounded: a board has RAM for few sessions
                    return
                self._remove(idlest)
            conn.setblocking(False)
            bucket = self._peer_bucket(_host(addr))
            # extra: [ticks_ms of the last whole frame, frames seen then]
            self._add(conn, "conn", self.device.session(Writer(conn), bucket), [ticks_ms(), 0])
        elif kind == "udp":
            data, addr = obj.recvfrom(_MAX_FRAME)
            if not _source_ok(addr):
                return
            s = self._udp_session(e, addr)
            p = e[3][0]
            p.sink = s
            s.room = len(data)
            try:
                s.feed(data)
            finally:
                # A datagram holds whole frames: what is left is dropped.
                p.noise += p.n
                p.n = 0
        elif kind == "conn":
            s = e[2]
            if not self._drain(obj, s) or s.write.stalled:
                self._remove(e)
            elif s.parser.frames != e[3][1]:  # a whole frame: active
                e[3][0] = ticks_ms()
                e[3][1] = s.parser.frames
        else:
            Server._on_readable(self, e)

    def _peer_bucket(self, key):
        # The token bucket of a TCP peer address: found again on every
        # connection from it; a new address takes a free entry or the least
        # recently seen one's.
        now = ticks_ms()
        table = self.peer_buckets
        oldest = None
        for e in table:
            if e[0] == key:
                e[2] = now
                return e[1]
            if oldest is None or ticks_diff(e[2], oldest[2]) < 0:
                oldest = e
        if len(table) >= self.tcp_peers and oldest is not None:
            table.remove(oldest)
        b = full_bucket(self.device.rate_per_s, self.device.burst)
        table.append([key, b, now])
        return b


def _replace_first(a, b):
    # Whether UDP session a gives up its place before b: one without a
    # pending challenge first, then the least recently active.
    if (a.challenge is None) != (b.challenge is None):
        return a.challenge is None
    return ticks_diff(a.active_ms, b.active_ms) < 0


class _Datagrams(Session):
    # The session of one UDP source address. It shares its socket's parser
    # and reply buffer; `room` is set to the size of each datagram before
    # it is parsed: only the first frame is answered, with one datagram no
    # larger than that; link errors get no answer.
    datagram = True

    def __init__(self, device, sock, addr, parser, tx):
        Session.__init__(self, device, self._send_to, parser, tx)
        self.sock = sock
        self.addr = addr
        self.room = 0
        self.active_ms = ticks_ms()

    def _send_to(self, mv):
        room = self.room
        self.room = 0
        if len(mv) > room:
            return  # an answer larger than the request: none
        try:
            self.sock.sendto(mv, self.addr)
        except OSError:
            pass  # the network is down, the address unreachable: dropped

    def frame(self, ftype, seq, p):
        if self.room:  # one answer per datagram: the first frame's
            self.active_ms = ticks_ms()
            Session.frame(self, ftype, seq, p)

    def link_error(self, code):
        pass


def _host(addr):
    # The host part of an accept()/recvfrom() address: 4 bytes of a struct
    # sockaddr_in (MicroPython's Unix port) or the address string.
    return addr[0] if isinstance(addr, tuple) else bytes(addr[4:8])


def _source_ok(addr):
    # False for a source no reply may go to: port 0, 0.0.0.0, broadcast,
    # multicast and the reserved 240.0.0.0/4.
    if isinstance(addr, tuple):
        port = addr[1]
        try:
            first = int(addr[0].split(".")[0])
        except ValueError:
            return False
    else:
        if len(addr) < 8:
            return False
        port = (addr[2] << 8) | addr[3]
        first = addr[4]
    return port != 0 and 0 < first < 224


def _port(sock, configured):
    try:
        return sock.getsockname()[1]
    except AttributeError:
        return configured
