"""DEVICE entries: the verdicts a board reports over its link (`potkit device
sync|send --log DB`, tools/demo.py). One writer per log: this is the log of
the host that talks to the board, not the service's."""
import hashlib
import threading
import time

from potkit.auditlog import entry as E
from potkit.auditlog.log import AuditLog
from potkit.auditlog.store import open_store


class DeviceAudit:
    def __init__(self, spec, key_path, origin=None):
        from potkit.auditlog.web import default_key_path, load_or_create_key

        self._cv = threading.Condition()
        self._done = 0
        self._failed = None
        store = open_store(spec)
        try:
            self.log = AuditLog(store, load_or_create_key(default_key_path(spec, key_path)), origin,
                                on_commit=self._committed)
        except Exception:
            store.close()
            raise
        self.log.start()
        self._last = 0

    def _committed(self, last, failed_from, reason):
        with self._cv:
            self._done = max(self._done, last)
            if failed_from is not None:
                self._failed = reason
            self._cv.notify_all()

    def verdict(self, v, ctx, record, transport="serial", peer=""):
        """v: a decoded board verdict (potkit.board.hostlink.decode_verdict: "verdict", "name")."""
        name = v.get("name", "")
        self._last = self.log.append(E.encode(
            E.DEVICE, time.time_ns(), transport=E.TRANSPORT_CODES.get(transport, 4),
            tier=record[0] & 3 if record else E.NONE, verdict=v.get("verdict", E.NONE) & 0xFF,
            attack=E.attack_code(E.VERDICT_ATTACK.get(name)), ctx_hash=hashlib.sha256(ctx).digest(),
            record_hash=hashlib.sha256(record).digest() if record else E.ZERO32, peer=peer, detail=name))
        return self._last

    def close(self):
        """Waits for every entry to be stored; returns the latest signed checkpoint."""
        from potkit.auditlog import LogUnavailable

        with self._cv:
            self._cv.wait_for(lambda: self._done >= self._last, 60)
        self.log.stop()
        if self._failed:
            raise LogUnavailable("audit log: %s" % self._failed)
        return self.log.checkpoint
