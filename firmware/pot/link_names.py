# The public names of the framed link (docs/spec.md, "The device link"),
# for hosts and tests: `link.T_ECHO`, `link.TYPE_NAMES`, `link.encode` and
# the like are served from here by pot.link's module __getattr__. A device never loads
# this module: pot.link and pot.device fold their own private const()
# copies of these values into their code (the link vectors and the device
# end-to-end tests hold both sides to the same numbers).
SYNC0 = 0xA5
SYNC1 = 0x5A
HEADER_LEN = 6  # sync 2, length 2, type 1, seq 1
CRC_LEN = 4
OVERHEAD = 10  # HEADER_LEN + CRC_LEN
MAX_PAYLOAD = 512
MAX_FRAME = 522  # OVERHEAD + MAX_PAYLOAD

# Frame types. Requests (host to device) are below 0x80; an answer has the
# request's type | 0x80 and the request's seq; ERROR answers anything.
T_STATUS_REQ = 0x01  # empty                            -> T_STATUS
T_SYNC_REQ = 0x02  # empty                              -> T_CHALLENGE
T_SYNC_RECORD = 0x03  # record (143)                    -> T_SYNC_RESULT
T_STAMPED = 0x04  # sender, message, record             -> T_VERDICT
T_ECHO = 0x05  # any bytes                              -> T_ECHO_REPLY
T_STATUS = 0x81
T_CHALLENGE = 0x82  # seq 0 when the device asks on its own (resync)
T_SYNC_RESULT = 0x83
T_VERDICT = 0x84
T_ECHO_REPLY = 0x85
T_ERROR = 0xFF

TYPE_NAMES = {
    0x01: "STATUS_REQ", 0x02: "SYNC_REQ", 0x03: "SYNC_RECORD", 0x04: "STAMPED",
    0x05: "ECHO", 0x81: "STATUS", 0x82: "CHALLENGE", 0x83: "SYNC_RESULT",
    0x84: "VERDICT", 0x85: "ECHO_REPLY", 0xFF: "ERROR",
}

# Error codes (first payload byte of an ERROR frame).
E_CRC = 1  # a candidate frame failed its CRC (seq 0: header unreliable)
E_LENGTH = 2  # length field above MAX_PAYLOAD (seq 0)
E_TRUNCATED = 3  # the line went idle mid-frame (seq 0)
E_TYPE = 4  # unknown frame type (the request's seq)
E_PAYLOAD = 5  # payload malformed for its type (the request's seq)
E_STATE = 6  # valid frame at the wrong moment, e.g. a sync record
#              with no challenge outstanding (the request's seq)
ERROR_NAMES = ("-", "CRC", "LENGTH", "TRUNCATED", "TYPE", "PAYLOAD", "STATE")


def encode(ftype, seq, payload=b""):
    # One complete frame (allocates: for hosts and tests; a device writes
    # its frames in place with pot.link.finish_frame).
    from pot.link import finish_frame

    buf = bytearray(OVERHEAD + len(payload))
    buf[HEADER_LEN:HEADER_LEN + len(payload)] = payload
    finish_frame(buf, ftype, seq, len(payload))
    return bytes(buf)
