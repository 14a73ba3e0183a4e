"""The audit log inside `potkit serve`: entries for every answer, the response
gate, the HTTP endpoints and the metrics (docs/spec.md sections 9.4-9.6).

    GET /v1/log/checkpoint[?cosigned=1]            the latest (or the largest cosigned) checkpoint
    POST /v1/log/cosignature                       a witness's cosigned checkpoint: stored, served
    GET /v1/log/key                                the log's verifier key (vkey) and origin
    GET /v1/log/proof/inclusion?index=I&size=N     {"index", "size", "leaf", "proof": [hex]}
    GET /v1/log/proof/consistency?old=M&new=N      {"old", "new", "proof": [hex]}
    GET /v1/log/entries?start=S&end=E              {"entries": [{"index", "data": hex}]} (<= 1000)
    GET /v1/audit?ctx=HEX&window=SECONDS           the seed's per-context summary
    GET /checkpoint, /tile/<L>/<N>[.p/<W>], /tile/entries/<N>[.p/<W>]   C2SP tlog-tiles (tiles.py)

Responses to requests that appended an entry wait until the entry is stored
(Gate): the answer a client sees is always in the log.
"""
import collections
import hashlib
import json
import sys
import time
import urllib.parse

from potkit import PotkitError
from potkit.auditlog import entry as E, note, tiles
from potkit.service.http import JSON_TYPE, HttpError, response

TEXT = b"text/plain; charset=utf-8"
MAX_ENTRIES = 1000
MAX_WINDOW_S = 366 * 86400
BYZANTINE_KINDS = (E.VERIFY, E.DEVICE)
_sha256 = hashlib.sha256


class Gate:
    """Holds responses until the log has stored their entries, in order per connection.

    hold(conn, seq, deliver, arg): deliver(arg, None) once entry `seq` is
    stored, deliver(arg, reason) if its batch failed; seq 0 (a response that
    appended nothing) waits only for the responses queued before it on conn."""

    def __init__(self):
        self.waiting = collections.deque()   # (seq, own, deliver, arg, conn)
        self.done_seq = 0

    def hold(self, conn, seq, deliver, arg):
        pend = conn.audit_pending if hasattr(conn, "audit_pending") else 0
        own = bool(seq)
        if not own:
            if not pend:
                deliver(arg, None)
                return
            seq = conn.audit_last
        elif seq <= self.done_seq and not pend:
            deliver(arg, None)
            return
        conn.audit_pending = pend + 1
        conn.audit_last = seq
        self.waiting.append((seq, own, deliver, arg, conn))

    def committed(self, last_seq, failed_from, reason):
        self.done_seq = max(self.done_seq, last_seq)
        w = self.waiting
        while w and w[0][0] <= last_seq:
            seq, own, deliver, arg, conn = w.popleft()
            conn.audit_pending -= 1
            try:
                deliver(arg, reason if own and failed_from is not None and seq >= failed_from else None)
            except Exception as e:  # a closed connection: nothing to deliver
                print("potkit serve: audit gate: %s" % e, file=sys.stderr)


def _peer(conn, addr=None):
    """The peer as entry bytes (length byte + "ip:port"), cached on a connection."""
    from_conn = addr is None and conn is not None and getattr(conn, "transport", None) is not None
    if from_conn:
        cached = getattr(conn, "audit_peer", None)
        if cached is not None:
            return cached
        addr = conn.transport.get_extra_info("peername")
    if not addr:
        text = ""
    else:
        text = "%s:%d" % (addr[0], addr[1]) if len(addr) >= 2 else str(addr)
    block = E.peer_block(text)
    if from_conn:   # a connection's peer never changes (a datagram's addr is passed each time)
        try:
            conn.audit_peer = block
        except AttributeError:
            pass
    return block


class AuditHook:
    """Attached to a PotService as .audit: appends entries, gates answers, serves the log."""

    def __init__(self, service, log, witnesses=()):
        self.witnesses = list(witnesses)    # [(name, public key)] whose cosignatures are accepted
        self.service = service
        self.log = log
        self.gate = Gate()
        self.loop = None
        self.names = service.names
        # verdict code -> attack_type code, looked up once per verification
        self._verdict_attack = [E.attack_code(E.VERDICT_ATTACK.get(n)) for n in self.names]
        self.reader = None
        self._last_attempt = None
        self.vkey = note.vkey(log.origin, log.public_key)
        service.routes.update({
            b"/v1/log/checkpoint": {b"GET": self.http_checkpoint},
            b"/v1/log/key": {b"GET": self.http_key},
            b"/v1/log/proof/inclusion": {b"GET": self.http_inclusion},
            b"/v1/log/proof/consistency": {b"GET": self.http_consistency},
            b"/v1/log/entries": {b"GET": self.http_entries},
            b"/v1/audit": {b"GET": self.http_audit},
            b"/v1/log/cosignature": {b"POST": self.http_cosignature},
            b"/checkpoint": {b"GET": self.http_checkpoint},
        })
        service.prefix_routes[b"/tile/"] = {b"GET": self.http_tile}
        service.metrics.registry.register(AuditCollector(log))

    def start(self, loop):
        self.loop = loop
        self.log.on_commit = lambda s, f, r: loop.call_soon_threadsafe(self.gate.committed, s, f, r)
        self.log.start()
        self.reader = self.log.store.reader()
        loop.call_later(0.2, self._poll_alarms)

    def stop(self):
        self.log.stop()
        if self.reader:
            self.reader.close()

    def check(self):
        self.log.check()

    # --- entries ---------------------------------------------------------------
    def issued(self, transport, conn, ctx, tier, record, time_ns, addr=None):
        return self.log.append(E.encode_answer(E.ISSUE, time_ns, E.TRANSPORT_CODES[transport], tier, E.NONE, 0,
                                               _sha256(ctx).digest(), _sha256(record).digest(),
                                               _peer(conn, addr)))

    def verified(self, transport, conn, ctx, record, code, time_ns):
        attack = self._verdict_attack[code] if code < len(self._verdict_attack) else 0
        tier = record[0] & 3 if record else E.NONE
        return self.log.append(E.encode_answer(E.VERIFY, time_ns, E.TRANSPORT_CODES[transport], tier, code, attack,
                                               _sha256(ctx).digest(), _sha256(record).digest(), _peer(conn)))

    def _poll_alarms(self):
        """One ALARM entry per alarm of each new synthesis attempt (spec 6.2)."""
        try:
            tb = self.service.timebase
            att = getattr(tb, "last_attempt", None)
            if att is not None and att is not self._last_attempt:
                self._last_attempt = att
                for kind, src, msg in getattr(att, "alarms", None) or ():
                    if not self.log.healthy:
                        break
                    self.log.append(E.encode(E.ALARM, time.time_ns(), attack=E.attack_code(E.ALARM_ATTACK.get(kind)),
                                             peer=str(src), detail="%s: %s" % (kind, msg)))
        finally:
            self.loop.call_later(0.2, self._poll_alarms)

    # --- gate adapters for the transports ----------------------------------------
    def http_reply(self, proto, seq, data, close):
        if close:
            proto.closing = True
        self.gate.hold(proto, seq, self._http_deliver, (proto, data, close))

    def _http_deliver(self, arg, reason):
        proto, data, close = arg
        t = proto.transport
        if t.is_closing():
            return
        if reason is not None:
            status, ctype, body, headers, _ = self.service.error(
                "http", HttpError(503, "audit log unavailable: %s" % reason, headers=(b"Retry-After: 1",)))
            data = response(status, ctype, body, headers, close)
        t.write(data)
        if close:
            t.close()

    def board_reply(self, conn, seq, send, err):
        self.gate.hold(conn, seq, _board_deliver, (send, err))

    # --- HTTP ---------------------------------------------------------------------
    def _query(self):
        q = getattr(self.service, "query", b"") or b""
        try:
            return dict(urllib.parse.parse_qsl(q.decode("ascii"), strict_parsing=False))
        except UnicodeDecodeError:
            return {}

    def _int(self, q, name, default=None, lo=0, hi=None):
        v = q.get(name)
        if v is None:
            if default is None:
                raise HttpError(400, "missing query parameter %r" % name)
            return default
        if not v.isdigit() or len(v) > 19:
            raise HttpError(400, "query parameter %r must be a non-negative integer" % name)
        v = int(v)
        if v < lo or (hi is not None and v > hi):
            raise HttpError(400, "query parameter %r must be in %d..%s" % (name, lo, hi))
        return v

    def http_checkpoint(self, body):
        """The latest checkpoint (with its cosignatures when witnesses cosigned it);
        ?cosigned=1: the largest checkpoint witnesses cosigned, with their lines."""
        size, text = self.log.signed_tree()
        c = self.log.cosigned
        if self._query().get("cosigned"):
            if c is None:
                raise HttpError(404, "no checkpoint of this log is cosigned yet")
            text = self.log.cosigned_checkpoint()
        elif c is not None and c[0] == size and c[1] == text:
            text = self.log.cosigned_checkpoint()
        return 200, TEXT, text.encode(), (b"Cache-Control: no-store",), False

    def http_cosignature(self, body):
        """POST a checkpoint of this log carrying cosignature lines (potkit audit witness):
        the lines of configured witnesses that verify are stored with the checkpoint."""
        if not self.witnesses:
            raise HttpError(403, "this log accepts no cosignatures (serve --log-witness VKEY)")
        try:
            cp = note.open_checkpoint(body, self.log.origin, self.log.public_key, self.log.origin)
        except note.NoteError as e:
            raise HttpError(400, "not a checkpoint of this log: %s" % e)
        if cp.size > self.log.checkpoint_size or self.log.tree.root(cp.size) != cp.root:
            raise HttpError(400, "checkpoint of size %d is not a tree this log has" % cp.size)
        log_kid = note.key_id(self.log.origin, self.log.public_key)
        own = [note.signature_line(n, k, b) for n, k, b in cp.note.signatures if n == self.log.origin and k == log_kid]
        good = []
        for name, pub in self.witnesses:
            if cp.note.verified_by(name, pub, note.COSIG_V1) is None:
                continue
            kid = note.key_id(name, pub, note.COSIG_V1)
            line = next(note.signature_line(n, k, b) for n, k, b in cp.note.signatures if n == name and k == kid
                        and len(b) == 72)
            good.append((name, line))
        if not good:
            raise HttpError(403, "no valid cosignature of a configured witness on the checkpoint of size %d"
                            % cp.size)
        self.log.check()
        self.service.seq = self.log.cosign(cp.size, cp.note.text + "\n" + own[0], good)
        return 200, JSON_TYPE, json.dumps({"size": cp.size, "accepted": [n for n, _ in good]}).encode(), (), False

    def http_key(self, body):
        return 200, JSON_TYPE, json.dumps({"origin": self.log.origin, "vkey": self.vkey,
                                           "public_key": self.log.public_key.hex()}).encode(), (), False

    def http_inclusion(self, body):
        q = self._query()
        size_now = self.log.checkpoint_size
        size = self._int(q, "size", size_now, 1, size_now)
        index = self._int(q, "index", None, 0, size - 1)
        proof = self.log.inclusion_proof(index, size)
        out = {"index": index, "size": size, "leaf": self.log.tree.leaf(index).hex(), "proof": [p.hex() for p in proof]}
        return 200, JSON_TYPE, json.dumps(out).encode(), (), False

    def http_consistency(self, body):
        q = self._query()
        size_now = self.log.checkpoint_size
        new = self._int(q, "new", size_now, 0, size_now)
        old = self._int(q, "old", None, 0, new)
        proof = self.log.consistency_proof(old, new)
        return 200, JSON_TYPE, json.dumps({"old": old, "new": new, "proof": [p.hex() for p in proof]}).encode(), (), False

    def http_entries(self, body):
        q = self._query()
        size_now = self.log.checkpoint_size
        start = self._int(q, "start", None, 0, size_now)
        end = self._int(q, "end", min(size_now, start + MAX_ENTRIES), start, min(size_now, start + MAX_ENTRIES))
        rows = [{"index": i, "data": d.hex()} for i, d, _ in self.reader.iter_entries(start, end)]
        return 200, JSON_TYPE, json.dumps({"entries": rows}).encode(), (), False

    def http_tile(self, body):
        """C2SP tlog-tiles: /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>] (tiles.py)."""
        try:
            level, index, width = tiles.parse_tile_path(self.service.path.decode("ascii")[1:])
        except (tiles.TileError, UnicodeDecodeError) as e:
            raise HttpError(404, str(e))
        size = self.log.checkpoint_size
        if not 1 <= width <= tiles.tile_width(size, 0 if level == "entries" else level, index):
            raise HttpError(404, "no such tile in the log of size %d" % size)
        if level == "entries":
            start = index * tiles.WIDTH
            data = tiles.entry_bundle([d for _, d, _ in self.reader.iter_entries(start, start + width)])
        else:
            data = tiles.hash_tile(self.log.tree, size, level, index, width)
        # A full tile never changes; a partial one is replaced by a wider one.
        cache = b"Cache-Control: public, max-age=31536000, immutable" if width == tiles.WIDTH else \
            b"Cache-Control: no-cache"
        return 200, b"application/octet-stream", data, (cache,), False

    def http_audit(self, body):
        q = self._query()
        ctx_text = q.get("ctx", q.get("ctx_id"))
        if ctx_text is None:
            raise HttpError(400, "missing query parameter 'ctx' (hex)")
        try:
            ctx = bytes.fromhex(ctx_text)
        except ValueError:
            raise HttpError(400, "query parameter 'ctx' is not valid hex")
        window = self._int(q, "window", 3600, 1, MAX_WINDOW_S)
        since = time.time_ns() - window * 1000000000
        counts = self.reader.audit_counts(hashlib.sha256(ctx).digest(), since, BYZANTINE_KINDS)
        total = sum(counts.values())
        byz = total - counts.get(0, 0)
        breakdown = dict((name, counts.get(E.ATTACK_CODES[name], 0)) for name in E.ATTACK_TYPES)
        out = {"ctx": ctx_text, "window_secs": window, "total_requests": total, "byzantine_total": byz,
               "byzantine_ratio": round(byz / total, 6) if total else 0.0, "attack_breakdown": breakdown,
               "checkpoint_size": self.log.checkpoint_size}
        return 200, JSON_TYPE, json.dumps(out).encode(), (), False


def _board_deliver(arg, reason):
    send, err = arg
    if reason is None:
        send()
    else:
        err()


class AuditCollector:
    """potkit_attack_total{type}, potkit_byzantine_ratio and the log's own gauges."""

    def __init__(self, log):
        self.log = log

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        log = self.log
        att = dict(log.attacks)
        m = CounterMetricFamily("potkit_attack", "log entries by attack_type (since start)", labels=["type"])
        for name in E.ATTACK_TYPES:
            m.add_metric([name.lower()], att.get(E.ATTACK_CODES[name], 0))
        yield m
        checked = log.kinds.get(E.VERIFY, 0) + log.kinds.get(E.DEVICE, 0)
        byz = sum(n for code, n in att.items() if code) - 0
        yield GaugeMetricFamily("potkit_byzantine_ratio", "entries with an attack_type / verifications (since start)",
                                value=(byz / checked) if checked else 0.0)
        yield GaugeMetricFamily("potkit_log_size", "entries in the latest signed checkpoint", value=log.checkpoint_size)
        yield GaugeMetricFamily("potkit_log_healthy", "1 if the audit log stores entries", value=1 if log.healthy else 0)
        yield CounterMetricFamily("potkit_log_append_failures", "batches the store refused", value=log.failures)


def attach(service, spec, key_path, origin=None, witnesses=()):
    """An AuditHook for `service` over the store `spec` (SQLite path or postgresql:// URL)."""
    from potkit.auditlog.log import AuditLog
    from potkit.auditlog.store import open_store

    sk = load_or_create_key(key_path)
    store = open_store(spec)
    try:
        log = AuditLog(store, sk, origin)
    except Exception:
        store.close()
        raise
    from potkit.auditlog.check import read_witnesses

    try:
        wit = read_witnesses(witnesses)
    except PotkitError:
        store.close()
        raise
    service.audit = AuditHook(service, log, wit)
    return service.audit


def load_or_create_key(key_path):
    import os

    from potkit import keys

    if not os.path.exists(key_path):
        keys.generate_keypair(key_path)
    return keys.load_signing_key(key_path)


def default_key_path(spec, key_path=None):
    import os

    if key_path:
        return key_path
    if spec.startswith(("postgresql://", "postgres://")):
        return os.path.join(os.path.expanduser("~"), ".potkit", "audit.key")
    return spec + ".key"
