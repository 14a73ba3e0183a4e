# The device service's network links (docs/spec.md, "The device link"): a
# TCP listener, whose connections are sessions of their own, and a UDP
# socket. firmware/main.py loads this module only when the configuration
# names a "tcp" or "udp" link, so a serial-only device does not carry it.
#
# What a hostile network gets (docs/spec.md 8.5):
# - TCP: at most max_clients connections; one that sends no whole frame
#   for client_idle_ms is closed, and a new connection finding every place
#   taken closes the one idle longest if that one has been idle for
#   _EVICT_IDLE_MS. Each peer address has one token bucket, whatever the
#   number of its connections (Device.peer_bucket). A peer that stops
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
from pot.device import Server, Session, Writer
from pot.link import Parser

_MAX_FRAME = const(522)  # pot.link_names.MAX_FRAME
_TX_LEN = const(126)  # pot.device's reply buffer
_EVICT_IDLE_MS = const(1000)


class NetServer(Server):
    """Server plus:

    add_tcp(host, port, max_clients, client_idle_ms)  a listening socket;
        each connection is its own session (own parser, own challenge; the
        token bucket is the peer address's); returns the bound port
    add_udp(host, port, udp_peers)  a socket whose source addresses are
        sessions sharing one parser and reply buffer; each datagram must
        hold a whole frame; answers go to the datagram's sender; returns
        the bound port
    (port 0: any free port; MicroPython's Unix sockets cannot tell which,
    so the configured number is returned.)
    """

    def add_tcp(self, host, port, max_clients=2, client_idle_ms=30000):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.listen(max_clients)
        s.setblocking(False)
        self.client_idle_ms = client_idle_ms
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
            if s.write.addr == addr:
                return s
            if victim is None or _replace_first(s, victim):
                victim = s
        if len(table) >= capacity and victim is not None:
            table.remove(victim)
        s = Session(self.device, _SendTo(e[0], addr), parser, tx)
        table.append(s)
        return s

    def _on_readable(self, e):
        obj, kind = e[0], e[1]
        if kind == "listen":
            conn, addr = obj.accept()
            conns = [x for x in self.entries if x[1] == "conn"]
            if len(conns) >= e[3]:
                idlest = None
                now = ticks_ms()
                for x in conns:
                    if idlest is None or ticks_diff(x[2].active_ms, idlest[2].active_ms) < 0:
                        idlest = x
                if ticks_diff(now, idlest[2].active_ms) < _EVICT_IDLE_MS:
                    conn.close()  # bounded: a board has RAM for few sessions
                    return
                self._close(idlest)
            conn.setblocking(False)
            bucket = self.device.peer_bucket(_host(addr))
            self._add(conn, "conn", self.device.session(Writer(conn), bucket))
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
                p.reset()  # a datagram holds whole frames: the rest is dropped
        elif kind == "conn":
            s = e[2]
            if not self._drain(obj, s) or s.write.stalled:
                self._close(e)
        else:
            Server._on_readable(self, e)

    def _timers(self, now):
        Server._timers(self, now)
        for e in self.entries:
            if e[1] == "conn" and ticks_diff(now, e[2].active_ms) >= self.client_idle_ms:
                self._close(e)
                break  # the list changed; the others wait for the next round


def _replace_first(a, b):
    # Whether UDP session a gives up its place before b: one without a
    # pending challenge first, then the least recently active.
    if (a.challenge is None) != (b.challenge is None):
        return a.challenge is None
    return ticks_diff(a.active_ms, b.active_ms) < 0


class _SendTo:
    # A UDP session's write: one datagram to its address; a send that fails
    # (the network is down, the address unreachable) drops the answer.
    def __init__(self, sock, addr):
        self.sock = sock
        self.addr = addr

    def __call__(self, mv):
        try:
            self.sock.sendto(mv, self.addr)
        except OSError:
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
