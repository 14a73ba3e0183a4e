"""The board endpoints: a challenge frame in, a 143-byte record (or a 2-byte error) out.

Frame and replies: docs/spec.md section 7.6. The work (authorization,
issuing) is PotService.board_issue; these protocols only move bytes.
"""
import asyncio
import time

from potkit.service.connection import TrackedProtocol

TOKEN_WAIT_S = 2.0       # board TCP: a frame whose token field has not begun this long after its ctx gets error 5
BOARD_FRAME_MIN = 34     # challenge(32) tier(1) ctx_len(1)
# No amplification: a reply (<= 143 bytes) is never larger than its request.
# No reflection: a request is at least 144 bytes, so no reply of any issuer
# (a 143-byte record, a 2-byte error) is ever a valid request to another.
UDP_MIN_REQUEST = 144
UDP_MAX_REQUEST = 1232

# Board error replies: 0xEE then one code byte.
BOARD_ERR_FRAME = 1         # malformed frame (length, padding)
BOARD_ERR_TIER = 2          # tier > 3
BOARD_ERR_UNAVAILABLE = 3   # the timebase refuses (no trusted time now)
BOARD_ERR_INTERNAL = 4
BOARD_ERR_AUTH = 5          # no valid token, or the context is outside its scope


class BoardTcpProtocol(TrackedProtocol):
    """Frames in, records out, on one connection; an error reply closes it.

    A frame without its token field (a board set up for an open service)
    looks like a frame whose token has not arrived yet. It is answered
    error 5 (not authorized) once no byte has followed its ctx for
    TOKEN_WAIT_S, or at once when the client half-closes: not left to the
    header deadline and a silent close.
    """

    def data_received(self, data):
        if self.transport.is_closing():
            return
        if data:
            self.activity()
        self.buf += data
        while len(self.buf) >= BOARD_FRAME_MIN and not self.paused:
            n = self.service.board_frame_len(self.buf)
            if n is None:
                if self.lacks_token():
                    self.deadline = min(self.deadline, time.monotonic() + min(TOKEN_WAIT_S, self.server.header_timeout))
                return
            frame = bytes(self.buf[:n])
            del self.buf[:n]
            svc = self.service
            svc.seq = 0
            reply = svc.board_issue(frame, "tcp", conn=self)
            if svc.audit is not None:  # sent once the log has stored the entry
                t = self.transport

                def ok(r=reply):
                    if not t.is_closing():
                        t.write(r)
                        if len(r) != 143:
                            t.close()

                def fail():
                    if not t.is_closing():
                        t.write(bytes((0xEE, BOARD_ERR_UNAVAILABLE)))
                        t.close()

                svc.audit.board_reply(self, svc.seq, ok, fail)
                if len(reply) != 143:
                    return
                continue
            self.transport.write(reply)
            if len(reply) != 143:
                self.transport.close()
                return
            self.after_reply()

    def lacks_token(self):
        """The buffer holds a whole frame up to its ctx and nothing more, where a token field must follow."""
        buf = self.buf
        return (self.service.authorizer is not None and len(buf) >= BOARD_FRAME_MIN
                and len(buf) == BOARD_FRAME_MIN + buf[33])

    def refuse_tokenless(self):
        self.service.seq = 0
        self.transport.write(self.service.board_issue(bytes(self.buf), "tcp", conn=self))  # error 5: no token
        del self.buf[:]
        self.transport.close()

    def expire(self):
        if not self.paused and not self.transport.is_closing() and self.lacks_token():
            self.server.timeouts += 1
            self.refuse_tokenless()
        else:
            TrackedProtocol.expire(self)

    def eof_received(self):
        if not self.paused and not self.transport.is_closing() and self.lacks_token():
            self.refuse_tokenless()
        return False


class BoardUdpProtocol(asyncio.DatagramProtocol):
    """One datagram, one reply; the request is padded so it is never smaller than the reply."""

    def __init__(self, service):
        self.service = service

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        try:
            n = len(data)
            if n < UDP_MIN_REQUEST or n > UDP_MAX_REQUEST:
                # Too short: answering would amplify a spoofed request; drop it.
                self.service.metrics.error("udp", "frame")
                return
            end = BOARD_FRAME_MIN + data[33]
            if self.service.authorizer is not None and end < n:
                end += 1 + data[end]   # the token field
            # Malformed: a ctx (or token) running past the datagram (it
            # would be signed truncated), or padding that is not all zero.
            if end > n or any(data[end:]):
                self.service.metrics.error("udp", "frame")
                self.transport.sendto(bytes((0xEE, BOARD_ERR_FRAME)), addr)
                return
            svc = self.service
            svc.seq = 0
            reply = svc.board_issue(data[:end], "udp", addr=addr)
            if svc.audit is not None and svc.seq:
                t = self.transport
                svc.audit.board_reply(self, svc.seq, lambda: t.sendto(reply, addr),
                                      lambda: t.sendto(bytes((0xEE, BOARD_ERR_UNAVAILABLE)), addr))
                return
            self.transport.sendto(reply, addr)
        except Exception as e:
            self.service.log.log(("bug", "udp", type(e).__name__), "internal error on udp: %s: %s" % (
                type(e).__name__, e), exc_info=True)

    def error_received(self, exc):
        pass

