"""Real time-source peers on loopback only: a test CA, chronyd, UDP proxies,
pyroughtime, an HTTPS Date server. The host tests (tests/host, through
pytest's pythonpath), `make demo` and the benchmarks start them from here.

Every server here is a real program or a real socket; nothing is mocked.

    ca = TestCA(directory)                  # a CA (EC P-256) for NTS and HTTPS tests
    cert, key = ca.issue(("localhost", "127.0.0.1"))   # PEM paths of a server cert
    ca.ca_file                              # PEM path of the CA cert (client trust)

    srv = start_chrony(nts_ke_port=0, cert=cert, key=key)   # 0 / None: a free port
    srv.host, srv.ntp_port, srv.nts_ke_port
    srv.stop()                              # or: with start_chrony(...) as srv:

    start_chrony(offset_s=30)               # the same chronyd under libfaketime,
                                            # serving time 30 s ahead of ours

    proxy = UdpProxy(("127.0.0.1", srv.ntp_port), delay_s=0.3, mangle=fn)
    proxy.port                              # send NTP requests here instead
    UdpResponder(handler)                   # a UDP server: handler(request) -> reply
    FakeNtpServer(offset_s=5, root_dispersion=0xFFFFFFFF)   # NTP claiming what it is told

    rt = PyRoughtimeServer()                # pyroughtime (draft 07) in a child process
    rt.host, rt.port, rt.public_key; rt.stop()
    with HttpsServer(cert, key, shift_s=30) as srv:   # HTTPS with a Date header
        srv.url                             # 30 s ahead; send_date=False: none

    expect_source_error(kind, fn, *args)    # fn must raise SourceError(kind)

chronyd runs in the foreground (-d), never touches the system clock (-x),
serves its own clock as stratum 1 (`local stratum 1`) without upstreams,
and keeps its pid file, NTS keys and drift file in a private temp dir; the
command socket is disabled. It needs the packages chrony and faketime
(tools/setup_system.sh installs them).
"""

import atexit
import datetime
import http.server
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
import ipaddress

LOOPBACK = "127.0.0.1"


# --- test CA -------------------------------------------------------------------

def _write_pem(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


class TestCA:
    """A throw-away certificate authority writing PEM files into `directory`."""

    __test__ = False   # not a pytest test class

    def __init__(self, directory, name="potkit test CA", valid_days=2):
        self.directory = directory
        self.valid_days = valid_days
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256()))
        safe = "".join(c if c.isalnum() else "_" for c in name)
        self.ca_file = _write_pem(os.path.join(directory, safe + ".ca.pem"),
                                  self.cert.public_bytes(serialization.Encoding.PEM))
        self._issued = 0

    def issue(self, names=("localhost", LOOPBACK), not_before=None, not_after=None):
        """A server certificate for `names` (DNS names and IP literals).

        Returns (cert_path, key_path), PEM, key unencrypted (PKCS#8), files
        readable by chronyd. not_before/not_after (datetimes) make expired or
        not-yet-valid certificates for negative tests.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - datetime.timedelta(hours=1))
            .not_valid_after(not_after or now + datetime.timedelta(days=self.valid_days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        self._issued += 1
        base = os.path.join(self.directory, "server%d" % self._issued)
        cert_path = _write_pem(base + ".cert.pem",
                               cert.public_bytes(serialization.Encoding.PEM))
        key_path = _write_pem(base + ".key.pem", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        return cert_path, key_path


def expect_source_error(kind, fn, *args, **kw):
    """Call fn(*args, **kw): it must raise a SourceError of `kind`, which is returned.

    (The one assertion the source-client tests share; plain Python, so
    that tools importing this module need no pytest.)
    """
    from potkit.sources import SourceError

    try:
        fn(*args, **kw)
    except SourceError as e:
        assert e.kind == kind, str(e)
        return e
    raise AssertionError("%s raised no SourceError (expected %s)" % (getattr(fn, "__name__", fn), kind))


# --- ports and readiness -------------------------------------------------------

def free_port(host=LOOPBACK):
    """A port free for both UDP and TCP on `host` right now (NTP and NTS-KE)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free port")


def wait_tcp_ready(host, port, timeout=10.0, alive=None):
    """Wait until something accepts TCP connections on host:port."""
    end = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise TimeoutError("nothing listens on %s:%d" % (host, port))
            time.sleep(0.05)


def wait_ntp_ready(host, port, timeout=10.0, alive=None):
    """Wait until an NTP server on host:port answers as synchronised (stratum 1-15)."""
    end = time.monotonic() + timeout
    request = bytes([0x23]) + bytes(39) + os.urandom(8)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.connect((host, port))
        while True:
            if alive is not None:
                alive()
            try:
                s.send(request)
                reply = s.recv(2048)
                if len(reply) >= 48 and 1 <= reply[1] <= 15 and reply[24:32] == request[40:48]:
                    return
            except OSError:
                pass
            if time.monotonic() > end:
                raise TimeoutError("no synchronised NTP reply from %s:%d" % (host, port))
            time.sleep(0.05)


# --- chronyd -------------------------------------------------------------------

_running = []     # every server started, so that none outlives the test run


@atexit.register
def _stop_all():
    for server in list(_running):
        server.stop()


class ChronyServer:
    """A running chronyd; stop() it (or use it as a context manager)."""

    def __init__(self, process, workdir, host, ntp_port, nts_ke_port, offset_s, own_dir):
        self.process = process
        self.workdir = workdir
        self.host = host
        self.ntp_port = ntp_port
        self.nts_ke_port = nts_ke_port
        self.offset_s = offset_s
        self._own_dir = own_dir
        self._stopped = False
        self.log_path = os.path.join(workdir, "chronyd.log")

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def _signal_group(self, sig):
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def check_alive(self):
        if self.process.poll() is not None:
            raise RuntimeError("chronyd exited with %s:\n%s" % (self.process.returncode, self.log()))

    def stop(self):
        # chronyd runs in its own process group: with faketime it is a child
        # of the faketime wrapper, which does not pass SIGTERM on, so the
        # whole group is signalled (this group only: it is ours alone).
        if self._stopped:
            return           # the group id may belong to someone else by now
        self._stopped = True
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(5)
        # A faketime'd chronyd may outlive the wrapper for a moment.
        self._signal_group(signal.SIGTERM)
        if self in _running:
            _running.remove(self)
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def chrony_config(workdir, host, ntp_port, nts_ke_port=None, cert=None, key=None,
                  nts_ntp_server=None, extra=()):
    lines = [
        "local stratum 1",                 # serve our own clock, no upstreams
        "port %d" % ntp_port,
        "bindaddress %s" % host,           # NTP and NTS-KE on loopback only
        "allow %s" % host,
        "cmdport 0",                       # no chronyc over UDP ...
        "bindcmdaddress /",                # ... nor over a Unix socket
        "pidfile %s" % os.path.join(workdir, "chronyd.pid"),
        "driftfile %s" % os.path.join(workdir, "drift"),
    ]
    if nts_ke_port:
        lines += [
            "ntsserverkey %s" % key,
            "ntsservercert %s" % cert,
            "ntsport %d" % nts_ke_port,
            "ntsprocesses 0",              # NTS-KE in the main process: simpler, enough
            "ntsdumpdir %s" % workdir,
        ]
        if nts_ntp_server:
            # Tell NTS-KE clients to send NTP elsewhere (e.g. a proxy on 127.0.0.2).
            lines.append("ntsntpserver %s" % nts_ntp_server)
    lines += list(extra)
    return "\n".join(lines) + "\n"


def start_chrony(ntp_port=None, nts_ke_port=None, offset_s=0, cert=None, key=None,
                 host=LOOPBACK, nts_ntp_server=None, extra_config=(), workdir=None,
                 ready_timeout=10.0):
    """Start chronyd serving NTP (and NTS if nts_ke_port is given) on `host`.

    ntp_port None/0: a free port. nts_ke_port: None = no NTS, 0 = a free
    port; NTS needs cert/key (PEM paths, e.g. from TestCA.issue). offset_s
    != 0 runs chronyd under `faketime -f '+Ns'`, a real NTP server whose
    clock is that far off. Returns once NTP (and NTS-KE) answer.
    """
    if shutil.which("chronyd") is None:
        raise RuntimeError("chronyd not found: install the Debian package chrony "
                           "(tools/setup_system.sh)")
    if nts_ke_port is not None and not (cert and key):
        raise ValueError("NTS needs cert and key")
    ntp_port = ntp_port or free_port(host)
    if nts_ke_port == 0:
        nts_ke_port = free_port(host)
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="chrony-")
    conf = os.path.join(workdir, "chrony.conf")
    with open(conf, "w") as f:
        f.write(chrony_config(workdir, host, ntp_port, nts_ke_port, cert, key,
                              nts_ntp_server, extra_config))
    cmd = ["chronyd", "-d", "-x", "-f", conf]
    if os.geteuid() == 0:
        cmd[1:1] = ["-u", "root"]      # no privilege drop to a user CI may lack
    if offset_s:
        if shutil.which("faketime") is None:
            raise RuntimeError("faketime not found: install the Debian package faketime")
        cmd = ["faketime", "-f", "%+ds" % offset_s] + cmd
    log = open(os.path.join(workdir, "chronyd.log"), "w")
    process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    server = ChronyServer(process, workdir, host, ntp_port, nts_ke_port, offset_s, own_dir)
    _running.append(server)
    try:
        wait_ntp_ready(host, ntp_port, ready_timeout, server.check_alive)
        if nts_ke_port:
            wait_tcp_ready(host, nts_ke_port, ready_timeout, server.check_alive)
    except BaseException:
        log_text = server.log()
        server.stop()
        raise RuntimeError("chronyd did not come up: %s" % log_text)
    return server


# --- UDP responder and proxy -----------------------------------------------------

class UdpResponder:
    """A UDP server in a thread: reply = handler(request bytes); None = drop,
    a list = several datagrams, sent in order.

    `requests` counts the datagrams received, so a test can prove its
    traffic went through here.
    """

    def __init__(self, handler, host=LOOPBACK, port=0):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                request, client = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if self._stop.is_set():
                return
            self.requests += 1
            reply = self.handler(request)
            for datagram in (reply if isinstance(reply, list) else [] if reply is None else [reply]):
                self.sock.sendto(datagram, client)

    def stop(self):
        self._stop.set()
        # Wake the thread now rather than at its next 0.1 s timeout.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"", (self.host, self.port))
        self._thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class FakeNtpServer(UdpResponder):
    """An NTP server of a few lines: stratum 1, its clock `offset_s` off ours,
    with the root delay and dispersion (raw 16.16 fields) it is told to claim.
    Attributes can change between queries (a server that steps its clock)."""

    def __init__(self, offset_s=0.0, root_delay=0, root_dispersion=0, host=LOOPBACK):
        self.offset_s = offset_s
        self.root_delay = root_delay
        self.root_dispersion = root_dispersion
        UdpResponder.__init__(self, self._reply, host)
        self.ntp_port = self.port

    def _reply(self, request):
        import struct

        from potkit.sources.ntp import unix_ns_to_ntp

        if len(request) < 48:
            return None
        now = unix_ns_to_ntp(time.time_ns() + int(self.offset_s * 1e9))
        return struct.pack(">BBbbII4sQQQQ", (4 << 3) | 4, 1, 0, -20, self.root_delay, self.root_dispersion,
                           b"FAKE", now, struct.unpack(">Q", request[40:48])[0], now, now)


class UdpProxy(UdpResponder):
    """Forwards each datagram to `upstream` and relays the answer back.

    delay_s      sleep before forwarding the request (a delaying attacker:
                 the server stamps T2 late, so the offset shifts by +delay/2)
    reply_delay_s  sleep before relaying the reply (offset shifts by -delay/2)
    mangle       fn(reply bytes, request bytes) -> bytes to send, None to
                 drop, or a list of datagrams to send in order (an injected
                 datagram racing the real reply); set it again between tests
                 to change the attack
    One request at a time, which is all an NTP client test needs.
    """

    def __init__(self, upstream, host=LOOPBACK, port=0, delay_s=0.0, reply_delay_s=0.0,
                 mangle=None, upstream_timeout=2.0):
        self.upstream = upstream
        self.delay_s = delay_s
        self.reply_delay_s = reply_delay_s
        self.mangle = mangle
        self.upstream_timeout = upstream_timeout
        UdpResponder.__init__(self, self._forward, host, port)

    def _forward(self, request):
        if self.delay_s:
            time.sleep(self.delay_s)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(self.upstream_timeout)
            s.connect(self.upstream)
            s.send(request)
            try:
                reply = s.recv(65536)
            except OSError:
                return None
        if self.reply_delay_s:
            time.sleep(self.reply_delay_s)
        if self.mangle is not None:
            reply = self.mangle(reply, request)
        return reply


# --- pyroughtime: a real Roughtime server (draft 07), in its own process ----------

# The child prints "<port> <base64 long-term public key>" once it listens.
# mode "expired": the delegation certificate's window (MINT..MAXT) ended a
# day ago, so every MIDP it signs lies outside it.
SERVER_SCRIPT = r"""
import datetime, sys, threading, time
from pyroughtime.pyroughtime import RoughtimeServer

def mjd_us(dt):
    return ((dt.date() - datetime.date(1858, 11, 17)).days << 40) + (
        dt.hour * 3600 + dt.minute * 60 + dt.second) * 1000000 + dt.microsecond

mode, radi = sys.argv[1], int(sys.argv[2])
priv, publ = RoughtimeServer.create_key()
if mode == "expired":
    now = datetime.datetime.now()
    cert, dpriv = RoughtimeServer.create_delegate_key(
        priv, mjd_us(now - datetime.timedelta(days=2)), mjd_us(now - datetime.timedelta(days=1)))
else:
    cert, dpriv = RoughtimeServer.create_delegate_key(priv)
server = RoughtimeServer(cert, dpriv, radi)

def report():
    while getattr(server, "sock", None) is None:
        time.sleep(0.01)
    print(server.sock.getsockname()[1], publ.decode(), flush=True)

threading.Thread(target=report, daemon=True).start()
server.start("127.0.0.1", 0)
"""


class PyRoughtimeServer:
    """pyroughtime's RoughtimeServer in a child process (TZ=UTC: it stamps datetime.now())."""

    def __init__(self, mode="good", radi_us=100000):
        env = dict(os.environ, TZ="UTC")
        cmd = [sys.executable, "-c", SERVER_SCRIPT, mode, str(radi_us)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        stdin=subprocess.DEVNULL, env=env, text=True)
        line = self.process.stdout.readline().split()
        if len(line) != 2:
            self.stop()
            raise RuntimeError("pyroughtime server did not start")
        self.host = "127.0.0.1"
        self.port = int(line[0])
        self.public_key = line[1]

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process.stdout.close()


# --- HTTPS Date: Python's own HTTPS server ----------------------------------------

class DateHandler(http.server.BaseHTTPRequestHandler):
    shift_s = 0          # the server's clock error
    send_date = True

    def date_time_string(self, timestamp=None):
        return http.server.BaseHTTPRequestHandler.date_time_string(self, time.time() + self.shift_s)

    def send_response(self, code, message=None):
        if self.send_date:
            http.server.BaseHTTPRequestHandler.send_response(self, code, message)
        else:   # status line and Server only: no Date header
            self.log_request(code)
            self.send_response_only(code, message)
            self.send_header("Server", self.version_string())

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class HttpsServer:
    """A real TLS HTTP server in a thread; `handler` decides what Date it sends."""

    def __init__(self, cert, key, shift_s=0, send_date=True):
        handler = type("Handler", (DateHandler,), {"shift_s": shift_s, "send_date": send_date})
        self.httpd = http.server.ThreadingHTTPServer((LOOPBACK, 0), handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = "https://127.0.0.1:%d/" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(2)


class TricklingHttpsServer:
    """A TLS server that completes the handshake at once, reads the request,
    then sends a valid reply one byte every `interval_s`: a slow (or hostile)
    HTTPS Date source that never trips a per-read socket timeout.

    `open_now` is how many client connections it holds open right now (a
    client that abandons a query but keeps its socket shows up here);
    `connections` counts every connection accepted, `bytes_sent` every byte
    sent.
    """

    def __init__(self, cert, key, interval_s=1.0, reply_bytes=4096):
        self.interval_s = interval_s
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        filler = b"X-Filler: " + b"x" * max(0, reply_bytes) + b"\r\n"
        self.reply = (b"HTTP/1.1 200 OK\r\n" + filler + b"Date: %s\r\nContent-Length: 0\r\n\r\n")
        self.listener = socket.create_server((LOOPBACK, 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = "https://127.0.0.1:%d/" % self.port
        self.open_now = 0
        self.connections = 0
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self.open_now += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            conn.settimeout(5)
            tls = self.ctx.wrap_socket(conn, server_side=True)
            tls.recv(65536)
            date = http.server.BaseHTTPRequestHandler.date_time_string(None, time.time()).encode()
            reply = self.reply % date
            # Every byte keeps the client's per-read timeout from firing; the
            # client hanging up shows as a failed send (or a reset).
            for i in range(len(reply)):
                if self._stop.wait(self.interval_s):
                    break
                tls.send(reply[i:i + 1])
                with self._lock:
                    self.bytes_sent += 1
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()
            with self._lock:
                self.open_now -= 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._thread.join(2)
        self.listener.close()
