# The device service's network links (docs/spec.md, "The device link"): a
# TCP listener, whose connections are sessions of their own, and a UDP
# socket. firmware/main.py loads this module only when the configuration
# names a "tcp" or "udp" link, so a serial-only device does not carry it.
import socket

from pot.compat import const
from pot.device import Server, Writer

_MAX_FRAME = const(522)  # pot.link_names.MAX_FRAME


class NetServer(Server):
    """Server plus:

    add_tcp(host, port, max_clients)  a listening socket; each connection
        is its own session (own parser, own token bucket); returns the
        bound port
    add_udp(host, port)               one session; each datagram must hold
        whole frames; answers go to the datagram's sender; returns the
        bound port
    (port 0: any free port; MicroPython's Unix sockets cannot tell which,
    so the configured number is returned.)
    """

    def add_tcp(self, host, port, max_clients=2):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.listen(max_clients)
        s.setblocking(False)
        self._add(s, "listen", None, max_clients)
        return _port(s, port)

    def add_udp(self, host, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.setblocking(False)
        box = [None]  # the current datagram's sender

        def write(mv):
            s.sendto(mv, box[0])

        self._add(s, "udp", self.device.session(write), box)
        return _port(s, port)

    def _remove(self, e):
        try:
            self.poll.unregister(e[0])
        except (OSError, KeyError, ValueError):
            pass
        if e in self.entries:
            self.entries.remove(e)
        d = self.device
        if e[2] in d.sessions:
            d.sessions.remove(e[2])
        if d.sync_session is e[2]:
            d.sync_session = None
        e[0].close()

    def _on_readable(self, e):
        obj, kind = e[0], e[1]
        if kind == "listen":
            conn, _ = obj.accept()
            if sum(1 for x in self.entries if x[1] == "conn") >= e[3]:
                conn.close()  # bounded: a board has RAM for few sessions
                return
            conn.setblocking(False)
            self._add(conn, "conn", self.device.session(Writer(conn)))
        elif kind == "udp":
            data, addr = obj.recvfrom(_MAX_FRAME)
            e[3][0] = addr
            p = e[2].parser
            e[2].feed(data)
            while p.pending():  # a datagram holds whole frames: the rest is truncated
                p.expire()
        elif kind == "conn":
            if not self._drain(obj, e[2]):
                self._remove(e)
        else:
            Server._on_readable(self, e)

    def _on_error(self, e):
        if e[1] == "conn":
            self._remove(e)
        elif e[1] != "listen" and e[1] != "udp":
            self.running = False


def _port(sock, configured):
    try:
        return sock.getsockname()[1]
    except AttributeError:
        return configured
