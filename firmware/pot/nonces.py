# The replay cache: remembers the nonces of accepted records until the
# records would be STALE anyway, in a fixed amount of memory.
#
# Design (docs/spec.md, verifier section "Nonce cache"):
#   - capacity slots, allocated once: a bytearray of capacity * 32 nonce
#     bytes and a list of capacity expiry times (ns, the verifier's clock).
#   - an entry is *live* while now_ns <= expiry_ns. The verifier sets
#     expiry_ns = record timestamp + tier window: a replay after that
#     instant is rejected as STALE, so the entry is no longer needed. No
#     entry has to live longer than window + future skew.
#   - a full cache (every slot live) FAILS CLOSED: lookup() answers FULL
#     and the verifier rejects the record with BUSY. Evicting a live entry
#     instead would let anyone who can get records accepted flush the cache
#     and then replay the evicted record inside its window.
#   - with the ordering rule (NonceCache.verifier set, a device) only the
#     entries the ORDERING floor does not already cover are kept, so the
#     cache cannot be filled to hold newer records up.
#
# Why a linear scan and not a hash table: capacities are small (tens of
# slots, sized as accepted-records-per-window), the scan also finds a free
# slot in the same pass, there is no deletion/tombstone logic to get wrong,
# and the cost (one byte compare per slot for random nonces) is tiny next to
# the Ed25519 verify that always precedes a lookup. Nonces are public (they
# travel in the record), so the early-exit compare leaks nothing secret.
from pot.compat import const

NONCE_LEN = const(32)
FOUND = const(-1)  # a live entry holds this nonce: a replay
FULL = const(-2)  # no free slot: every entry is still live
_EMPTY = const(-1)  # expiry of a never-used slot: dead for any now_ns >= 0


class NonceCache:
    # The ordering rule (docs/spec.md 4.6), on when `verifier` is set: a
    # verifier that keeps the ORDERING floor (a device) sets it to itself.
    # With the floor, accepted timestamps never decrease, so a replay of a
    # record whose timestamp is below the floor is rejected as ORDERING
    # whether or not its nonce is remembered: only entries whose timestamp
    # equals the floor still do any work. So when the record being checked
    # (verifier.record: it passed the signature, and lookup found its nonce
    # nowhere) is strictly newer than the floor (verifier.last_ts), it
    # will be accepted and becomes the new floor, and every entry is then
    # redundant: the cache is emptied first. A record older than the floor
    # gets a slot index it never uses (step 9 rejects it as ORDERING). The
    # cache thus holds only records stamped at the floor's very instant,
    # and only a record whose timestamp equals the floor can meet a full
    # cache (BUSY): a flood of genuine records can hold up only records
    # stamped at that instant, never a newer one.
    verifier = None

    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity")
        self.capacity = capacity
        self._nonces = bytearray(capacity * NONCE_LEN)
        self._expiry = [_EMPTY] * capacity

    def lookup(self, nonce, now_ns):
        # One pass: FOUND if a live entry equals nonce, else the index of a
        # slot that may be reused (empty or expired), else FULL.
        # nonce: 32 bytes (bytes, bytearray or memoryview).
        nonces = self._nonces
        expiry = self._expiry
        free = FULL
        first = nonce[0]
        for i in range(self.capacity):
            if expiry[i] < now_ns:  # dead (expired or never used)
                if free < 0:
                    free = i
                continue
            base = i * NONCE_LEN
            if nonces[base] != first:  # random nonces: exits here 255/256
                continue
            j = 1
            while j < NONCE_LEN and nonces[base + j] == nonce[j]:
                j += 1
            if j == NONCE_LEN:
                return FOUND
        v = self.verifier
        if v is not None:  # the ordering rule (above)
            ts = v.record.timestamp_ns()
            if ts > v.last_ts:
                self.clear()
                return 0
            if ts < v.last_ts:
                return 0
        return free

    def store(self, slot, nonce, expiry_ns):
        # Fill the slot returned by lookup(); no allocation beyond the
        # expiry int itself (a small int on 64-bit ports).
        base = slot * NONCE_LEN
        self._nonces[base : base + NONCE_LEN] = nonce
        self._expiry[slot] = expiry_ns

    def live(self, now_ns):
        # Number of live entries (diagnostics and tests).
        n = 0
        for e in self._expiry:
            if e >= now_ns:
                n += 1
        return n

    def clear(self):
        for i in range(self.capacity):
            self._expiry[i] = _EMPTY

