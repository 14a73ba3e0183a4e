"""NTS client (RFC 8915): authenticated NTPv4.

Two steps:

1. NTS-KE (key establishment), over TLS 1.3 with ALPN "ntske/1": we ask for
   NTPv4 and AEAD_AES_SIV_CMAC_256 (id 15); the server answers with cookies
   (opaque to us) and optionally another NTP host/port. Both sides derive
   the two AEAD keys from the TLS session with the TLS exporter
   (RFC 5705 / RFC 8446 section 7.5), label "EXPORTER-network-time-security".

   Python's ssl module has no TLS exporter, so the TLS client is pyOpenSSL
   (Connection.export_keying_material). pyOpenSSL does no hostname check of
   its own: check_hostname() below does it on the verified certificate.

2. One NTP request carrying extension fields: Unique Identifier (32 random
   bytes), one cookie, and the NTS Authenticator whose AES-SIV tag covers the
   whole packet before it. The reply must echo the Unique Identifier before
   its Authenticator and that Authenticator must verify with the server-to-
   client key; its encrypted part holds fresh cookies. Any failure of TLS,
   certificate, hostname or MAC is SOURCE_AUTH: an attack, not an outage.

NtsSession keeps the keys and cookies so that a polling issuer does one
TLS handshake per eight queries; query_nts() is the one-shot form.
"""

import ipaddress
import os
import socket
import struct
import threading

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from OpenSSL import SSL

from potkit.sources import BAD_REPLY, SOURCE_AUTH, UNREACHABLE, Deadline, SourceError, tls_call
from potkit.sources.ntp import (DEFAULT_MAX_DELAY_NS, NtpReply, build_request,
                                check_header, check_origin, format_source,
                                new_cookie, reading_from_reply, udp_exchange)

NTS_KE_PORT = 4460
ALPN = b"ntske/1"
EXPORTER_LABEL = b"EXPORTER-network-time-security"
PROTOCOL_NTPV4 = 0
AEAD_AES_SIV_CMAC_256 = 15
KEY_LEN = 32                     # AES-SIV-CMAC-256: two AES-128 keys

# NTS-KE record types (RFC 8915 section 4); the top bit of the type is
# the "critical" flag.
KE_END = 0
KE_NEXT_PROTOCOL = 1
KE_ERROR = 2
KE_WARNING = 3
KE_AEAD = 4
KE_NEW_COOKIE = 5
KE_SERVER = 6
KE_PORT = 7
KE_CRITICAL = 0x8000
KE_MAX_RESPONSE = 65536          # a real response is ~1 KB; stop a flood

# NTP extension field types (RFC 8915 section 5.7)
EF_UNIQUE_ID = 0x0104
EF_COOKIE = 0x0204
EF_COOKIE_PLACEHOLDER = 0x0304
EF_AUTHENTICATOR = 0x0404

NONCE_LEN = 16                   # RFC 8915 5.6: at least 16 for AES-SIV


def _ke_record(rtype, body, critical=True):
    return struct.pack(">HH", rtype | (KE_CRITICAL if critical else 0), len(body)) + body


def _ext_field(ftype, body):
    """One NTP extension field, body zero-padded to a multiple of 4."""
    body = body + bytes(-len(body) % 4)
    return struct.pack(">HH", ftype, 4 + len(body)) + body


def check_hostname(cert, host):
    """The RFC 6125 check that pyOpenSSL leaves to us, on a verified cert.

    IP literals match iPAddress SANs only; names match dNSName SANs exactly
    (case-insensitive) or through one wildcard as the whole leftmost label.
    The common name is ignored, as browsers and Python's ssl do.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return ip in san.get_values_for_type(x509.IPAddress)
    host = host.rstrip(".").lower()
    for name in san.get_values_for_type(x509.DNSName):
        name = name.rstrip(".").lower()
        if name == host:
            return True
        if name.startswith("*.") and "." in host:
            if host.split(".", 1)[1] == name[2:] and "*" not in name[2:]:
                return True
    return False


_SSL_WANTS = (SSL.WantReadError, SSL.WantWriteError)


def _tls_io(fn, sock, deadline, source, *args):
    """One pyOpenSSL call on the non-blocking socket, within NTS-KE's deadline."""
    return tls_call(fn, sock, deadline, _SSL_WANTS,
                    lambda: SourceError(UNREACHABLE, source, "NTS-KE timed out"), *args)


def _tls_failure(e, source, what):
    """Classify a TLS-layer exception as the SourceError to raise.

    A connection that is reset or closed before the handshake ends is an
    outage (UNREACHABLE): anyone on the path can cause it, and it proves
    nothing false. Every other TLS failure, above all a certificate that
    does not verify, is SOURCE_AUTH.
    """
    text = str(e)
    if isinstance(e, (OSError, SSL.SysCallError, SSL.ZeroReturnError)) or \
            "unexpected eof" in text.lower():
        return SourceError(UNREACHABLE, source, "%s: connection lost: %s" % (what, text))
    return SourceError(SOURCE_AUTH, source, "%s failed: %s" % (what, text))


def nts_ke(host, port=NTS_KE_PORT, ca_file=None, timeout=5.0):
    """NTS key establishment: returns a dict with c2s, s2c, cookies, server, port."""
    source = format_source(host, port)
    deadline = Deadline(timeout)
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)     # RFC 8915 3: TLS 1.3 only
    ctx.set_verify(SSL.VERIFY_PEER)
    if ca_file:
        ctx.load_verify_locations(ca_file)
    else:
        ctx.set_default_verify_paths()
    ctx.set_alpn_protos([ALPN])
    try:
        sock = socket.create_connection((host, port), timeout=deadline.left() or 0.001)
    except OSError as e:
        raise SourceError(UNREACHABLE, source, "NTS-KE connect: %s" % e)
    # Without TCP_NODELAY, Nagle holds our request behind the handshake's
    # last flight until the server's delayed ACK: +40 ms per NTS-KE.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    conn = SSL.Connection(ctx, sock)
    try:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            conn.set_tlsext_host_name(host.encode("idna"))   # SNI for names only
        conn.set_connect_state()
        try:
            _tls_io(conn.do_handshake, sock, deadline, source)
        except (SSL.Error, OSError) as e:
            raise _tls_failure(e, source, "TLS handshake")
        cert = conn.get_peer_certificate(as_cryptography=True)
        if cert is None or not check_hostname(cert, host):
            raise SourceError(SOURCE_AUTH, source, "certificate does not name %s" % host)
        if conn.get_alpn_proto_negotiated() != ALPN:
            # Authentic server, wrong protocol: not an attack.
            raise SourceError(BAD_REPLY, source, "server did not negotiate ALPN ntske/1")
        request = (_ke_record(KE_NEXT_PROTOCOL, struct.pack(">H", PROTOCOL_NTPV4)) +
                   _ke_record(KE_AEAD, struct.pack(">H", AEAD_AES_SIV_CMAC_256)) +
                   _ke_record(KE_END, b""))
        try:
            while request:      # send() (not sendall) so a retry never repeats bytes
                request = request[_tls_io(conn.send, sock, deadline, source, request):]
            response = _read_ke_response(conn, sock, deadline, source)
        except (SSL.Error, OSError) as e:
            raise _tls_failure(e, source, "NTS-KE exchange")
        # The keys bind the NTP exchange to this TLS session.
        keys = {}
        for name, direction in (("c2s", 0), ("s2c", 1)):
            context = struct.pack(">HHB", PROTOCOL_NTPV4, AEAD_AES_SIV_CMAC_256, direction)
            keys[name] = conn.export_keying_material(EXPORTER_LABEL, KEY_LEN, context)
    finally:
        try:
            conn.shutdown()
        except (SSL.Error, OSError):
            pass
        sock.close()
    response.update(keys)
    if response["server"] is None:
        response["server"] = host
    return response


def _read_ke_response(conn, sock, deadline, source):
    """Read records up to End of Message; check what RFC 8915 4.1 requires."""
    buf = b""
    records = []
    while True:
        # Complete records in buf?
        while len(buf) >= 4:
            rtype, length = struct.unpack_from(">HH", buf, 0)
            if len(buf) < 4 + length:
                break
            records.append((rtype & 0x7FFF, rtype & KE_CRITICAL, buf[4:4 + length]))
            buf = buf[4 + length:]
            if rtype & 0x7FFF == KE_END:
                return _parse_ke_records(records, source)
        try:
            chunk = _tls_io(conn.recv, sock, deadline, source, 4096)
        except SSL.ZeroReturnError:
            chunk = b""
        if not chunk:
            raise SourceError(BAD_REPLY, source, "NTS-KE response ends before End of Message")
        buf += chunk
        if len(buf) > KE_MAX_RESPONSE:
            raise SourceError(BAD_REPLY, source, "NTS-KE response too long")


def _parse_ke_records(records, source):
    result = {"cookies": [], "server": None, "port": None}
    protocol = aead = None
    for rtype, critical, body in records:
        if rtype == KE_ERROR:
            code = struct.unpack(">H", body)[0] if len(body) == 2 else -1
            raise SourceError(BAD_REPLY, source, "NTS-KE error record %d" % code)
        elif rtype == KE_NEXT_PROTOCOL:
            protocol = body
        elif rtype == KE_AEAD:
            aead = body
        elif rtype == KE_NEW_COOKIE:
            result["cookies"].append(body)
        elif rtype == KE_SERVER:
            try:
                result["server"] = body.decode("ascii")
            except UnicodeDecodeError:
                raise SourceError(BAD_REPLY, source, "NTS-KE server record not ASCII")
        elif rtype == KE_PORT:
            if len(body) != 2:
                raise SourceError(BAD_REPLY, source, "NTS-KE port record of %d bytes" % len(body))
            result["port"] = struct.unpack(">H", body)[0]
        elif rtype in (KE_END, KE_WARNING):
            pass
        elif critical:
            raise SourceError(BAD_REPLY, source, "unknown critical NTS-KE record %d" % rtype)
    if protocol != struct.pack(">H", PROTOCOL_NTPV4):
        raise SourceError(BAD_REPLY, source, "NTS-KE did not agree on NTPv4")
    if aead != struct.pack(">H", AEAD_AES_SIV_CMAC_256):
        raise SourceError(BAD_REPLY, source, "NTS-KE did not agree on AES-SIV-CMAC-256")
    if not result["cookies"]:
        raise SourceError(BAD_REPLY, source, "NTS-KE gave no cookie")
    return result


def _parse_ext_fields(data, source, kind):
    """[(type, offset, body)] of a run of NTP extension fields.

    `kind` of the error: SOURCE_AUTH for the unauthenticated reply (garbled
    fields there are as much a failed authentication as a bad MAC),
    BAD_REPLY for the decrypted plaintext (the authentic server erred).
    """
    fields = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise SourceError(kind, source, "truncated extension field")
        ftype, length = struct.unpack_from(">HH", data, pos)
        if length < 4 or length % 4 or pos + length > len(data):
            raise SourceError(kind, source, "bad extension field length %d" % length)
        fields.append((ftype, pos, data[pos + 4:pos + length]))
        pos += length
    return fields


def _open_authenticator(body, key, associated, source):
    """Verify and decrypt an NTS Authenticator body; returns the plaintext."""
    if len(body) < 4:
        raise SourceError(SOURCE_AUTH, source, "authenticator too short")
    nonce_len, ct_len = struct.unpack_from(">HH", body, 0)
    nonce_end = 4 + nonce_len + (-nonce_len % 4)
    if nonce_len < NONCE_LEN or ct_len < 16 or nonce_end + ct_len > len(body):
        raise SourceError(SOURCE_AUTH, source, "malformed authenticator")
    nonce = body[4:4 + nonce_len]
    ciphertext = body[nonce_end:nonce_end + ct_len]
    try:
        # AES-SIV as in RFC 5297: the nonce is the last associated-data item.
        return AESSIV(key).decrypt(ciphertext, [associated, nonce])
    except InvalidTag:
        raise SourceError(SOURCE_AUTH, source, "NTS authenticator does not verify")


class NtsSession:
    """Keys and cookies from one NTS-KE, spent one cookie per NTP query.

    Queries are serialised: the synthesis gives up on a slow source at its
    deadline but cannot stop the thread, so the next synthesis may query
    the same session while the old query still runs; without the lock both
    could pop cookies from, or replace, the same key set.
    """

    def __init__(self, host, port=NTS_KE_PORT, ca_file=None, timeout=5.0,
                 max_delay_ns=DEFAULT_MAX_DELAY_NS, operator=None):
        self.host = host
        self.port = port
        self.ca_file = ca_file
        self.timeout = timeout
        self.max_delay_ns = max_delay_ns
        self.operator = operator or host
        self.ke = None
        self.handshakes = 0
        self._lock = threading.Lock()

    def query(self):
        """One authenticated NTP exchange: a Reading, or SourceError."""
        with self._lock:
            return self._query()

    def _query(self):
        deadline = Deadline(self.timeout)
        if self.ke is None or not self.ke["cookies"]:
            self.ke = nts_ke(self.host, self.port, self.ca_file, self.timeout)
            self.handshakes += 1
        ke = self.ke
        ntp_host, ntp_port = ke["server"], ke["port"] or 123
        source = format_source(ntp_host, ntp_port)
        cookie = ke["cookies"].pop(0)       # never reuse a cookie (unlinkability)
        unique_id = os.urandom(32)
        transmit = new_cookie()
        head = build_request(transmit) + _ext_field(EF_UNIQUE_ID, unique_id) + \
            _ext_field(EF_COOKIE, cookie)
        # Ask for as many new cookies as we are short of, up to 8 in total.
        for _ in range(min(7, 8 - 1 - len(ke["cookies"]))):
            head += _ext_field(EF_COOKIE_PLACEHOLDER, bytes(len(cookie)))
        nonce = os.urandom(NONCE_LEN)
        ciphertext = AESSIV(ke["c2s"]).encrypt(b"", [head, nonce])
        auth = struct.pack(">HH", NONCE_LEN, len(ciphertext)) + nonce + ciphertext
        packet = head + _ext_field(EF_AUTHENTICATOR, auth)
        nak = []

        def accept(data, t1, t4):
            reply = NtpReply(data, source)
            check_origin(reply, transmit, source)
            if reply.stratum == 0 and reply.refid == b"NTSN":
                # NTS NAK: unauthenticated by design (RFC 8915 5.7), so a
                # client waits for a valid reply before acting on one.
                nak.append(reply)
                raise SourceError(BAD_REPLY, source, "NTS NAK: server rejected our cookie")
            new_cookies = self._authenticate(reply, unique_id, ke["s2c"], source)
            # Only now, on an authenticated header, the usual NTP checks.
            check_header(reply, source)
            reading = reading_from_reply(reply, t1, t4, source, self.operator, "nts", True,
                                         self.max_delay_ns,
                                         detail={"nts_ke": format_source(self.host, self.port)})
            ke["cookies"].extend(new_cookies)
            return reading

        try:
            return udp_exchange(ntp_host, ntp_port, packet, max(deadline.left(), 0.001), source, accept)[0]
        except SourceError:
            if nak:   # no valid reply, a NAK: drop the session, the next query runs NTS-KE again
                self.ke = None
            raise

    def _authenticate(self, reply, unique_id, key, source):
        """Check UID and MAC of the reply; return the cookies it carries."""
        fields = _parse_ext_fields(reply.extensions, source, SOURCE_AUTH)
        auth = [f for f in fields if f[0] == EF_AUTHENTICATOR]
        if not auth:
            raise SourceError(SOURCE_AUTH, source, "reply has no NTS authenticator")
        _, auth_pos, auth_body = auth[0]
        # Only fields before the authenticator are authenticated.
        covered = [f for f in fields if f[1] < auth_pos]
        uids = [f[2] for f in covered if f[0] == EF_UNIQUE_ID]
        # Compared with ==: the UID is a public per-request value (it is in
        # the clear in our request); it binds the reply to the request.
        if uids != [unique_id]:
            raise SourceError(SOURCE_AUTH, source, "unique identifier missing or wrong")
        associated = reply.raw[:48 + auth_pos]
        plaintext = _open_authenticator(auth_body, key, associated, source)
        return [body for ftype, _, body in _parse_ext_fields(plaintext, source, BAD_REPLY)
                if ftype == EF_COOKIE]


def query_nts(host, port=NTS_KE_PORT, ca_file=None, timeout=5.0,
              max_delay_ns=DEFAULT_MAX_DELAY_NS, operator=None):
    """One NTS-KE handshake, then one authenticated NTP query: a Reading."""
    return NtsSession(host, port, ca_file, timeout, max_delay_ns, operator).query()
