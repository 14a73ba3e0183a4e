"""Verification for many clients: the service's verifier and its partitioned replay cache."""
import heapq

from potkit.auth import context_device
from potkit.issuer import make_verifier

# Replay-cache entries: records accepted per tier window. 300,000 covers
# 5,000 T0 records/s for their 60 s window; about 250 bytes each when full.
DEFAULT_CACHE_CAPACITY = 300000


def cache_partition(ctx):
    """The replay-cache partition of a context: its device, or the context itself.

    A device context and the stamped-message contexts of that device
    (spec 2.7) share the device's partition: a token for one device can
    mint any number of message contexts, and must not use more room by it.
    Any other context is a partition of its own.
    """
    dev = context_device(ctx)
    return b"d" + dev if dev is not None else b"c" + bytes(ctx)


class HostNonceCache:
    """pot.nonces.NonceCache's interface (lookup/store/live) on a dict and a heap, in partitions.

    The device cache scans its slots linearly, right for tens of entries; a
    service accepts thousands of records per second, each remembered for its
    tier window (60 s for T0), so it needs O(1) lookups. Same rules: an entry
    lives until its expiry, and a cache full of live entries fails closed
    (FULL -> the verifier answers BUSY), never evicting a live nonce.

    Partitions (cache_partition: one per device, or per other context): the
    verifier's lookup and store act on `self.partition`, set by the caller
    for each record. At most `capacity` live entries in all (bounded
    memory) and at most `per_partition` in one, so a flood of records for
    one device fills its own share and leaves every other device room: it
    takes capacity / per_partition flooded partitions to fill the cache.
    A nonce is remembered per partition (a replay is the same record, so
    the same context).
    """

    def __init__(self, capacity, per_partition=None):
        from pot.nonces import FOUND, FULL

        self.capacity = capacity
        self.per_partition = per_partition or max(1, capacity // 10)
        self.FOUND, self.FULL = FOUND, FULL
        self.partition = b""
        self._expiry = {}   # (partition, nonce bytes) -> expiry ns
        self._heap = []     # (expiry ns, partition, nonce bytes), to drop dead entries in order
        self._count = {}    # partition -> live entries

    def _purge(self, now_ns):
        heap, expiry, count = self._heap, self._expiry, self._count
        while heap and heap[0][0] < now_ns:
            exp, part, nonce = heapq.heappop(heap)
            if expiry.get((part, nonce)) == exp:
                del expiry[(part, nonce)]
                n = count[part] - 1
                if n:
                    count[part] = n
                else:
                    del count[part]

    def lookup(self, nonce, now_ns):
        self._purge(now_ns)
        exp = self._expiry.get((self.partition, bytes(nonce)))
        if exp is not None and exp >= now_ns:
            return self.FOUND
        if len(self._expiry) >= self.capacity or self._count.get(self.partition, 0) >= self.per_partition:
            return self.FULL
        return 0  # a "slot": store() ignores it

    def store(self, slot, nonce, expiry_ns):
        key = (self.partition, bytes(nonce))
        self._expiry[key] = expiry_ns
        heapq.heappush(self._heap, (expiry_ns, key[0], key[1]))
        self._count[key[0]] = self._count.get(key[0], 0) + 1

    def live(self, now_ns, partition=None):
        self._purge(now_ns)
        return len(self._expiry) if partition is None else self._count.get(partition, 0)

    def clear(self):
        self._expiry.clear()
        self._count.clear()
        del self._heap[:]


class ServiceVerifier:
    """pot.verifier.Verifier (pynacl Ed25519) as the service runs it.

    Three differences from a device, all about serving many clients on a
    clock that may step:
    - the replay cache is a HostNonceCache of `cache_capacity` entries, at
      most `per_partition` for one device (or one other context);
    - staleness and the purge of the cache are judged against the highest
      time this verifier has ever been given, not the current one. A
      forward step of the timebase (sources stepped +120 s for one
      refresh) would otherwise purge the nonces of fresh records, and once
      the time stepped back those records would verify OK again. FUTURE is
      judged against the current time;
    - no ORDERING floor: a device receives one issuer's records in order,
      but the service verifies records that many clients fetched
      concurrently, so arrival order says nothing about issuing order
      (freshness still rests on STALE and REPLAY).
    """

    def __init__(self, public_key, skew_ms=None, cache_capacity=DEFAULT_CACHE_CAPACITY, per_partition=None):
        self.cache = HostNonceCache(cache_capacity, per_partition)
        self.verifier = make_verifier(public_key, skew_ms, cache=self.cache, ordering=False)
        self.high_water_ns = None   # the highest `now` seen

    def verify(self, data, ctx, now_ns, challenge=None):
        if self.high_water_ns is None or now_ns > self.high_water_ns:
            self.high_water_ns = now_ns
        self.cache.partition = cache_partition(ctx)
        # STALE and the cache against the high-water time, FUTURE against now.
        return self.verifier.verify(data, ctx, self.high_water_ns, challenge, now_ns)
