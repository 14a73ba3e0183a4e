# AdaptiveSwitch: per-sender trust mode (FULL or TURBO) earned by a run of
# good submissions and lost at once by a bad one (draft-03 section 6), plus
# a fixed-size table of switches and the bounded FILO queue.
#
# Definitions (normative text: docs/spec.md, verifier section "AdaptiveSwitch"):
#   block    one verdict of the verifier for a record from this sender.
#            BUSY is not a block: the verifier did not judge the record.
#   match    a block whose verdict is OK.
#   miss     a block that is neither a match nor a failure: REPLAY,
#            ORDERING, CHALLENGE (authentic-looking traffic that is late,
#            duplicated or reordered: what a lossy link with retries
#            produces, so it lowers the match rate but is not an attack).
#   failure  integrity failure (PROTO_VIOLATION, CROSS_CONTEXT, FORGE) or
#            out-of-tolerance submission (STALE, FUTURE): FULL at once,
#            f += 1, cooldown = min(20 * 2^(f-1), 320) blocks.
#   window   the last 20 blocks, one bit each (1 = match), kept in an int.
#   TURBO entry     mode FULL, 20 blocks seen, >= 19 matches (0.95), cooldown 0.
#                   (A failure sets cooldown >= 20, so cooldown 0 implies no
#                   failure in the window.) On entry f is reset to 0.
#   TURBO upkeep    after each block in TURBO: < 17 matches (0.85) -> FULL.
#   f        consecutive failures: failures since the sender last entered
#            TURBO (capped at 5, where the backoff reaches its 320 cap).
#   liveness from ANY state, 320 consecutive matches reach TURBO (the
#            bound is max(20, cooldown) <= 320 blocks).
from pot.compat import const

FULL = const(0)
TURBO = const(1)
MODE_NAMES = ("FULL", "TURBO")

WINDOW = const(20)
ENTRY_MATCHES = const(19)  # 0.95 * 20
KEEP_MATCHES = const(17)  # 0.85 * 20
BACKOFF_BASE = const(20)
BACKOFF_MAX = const(320)
F_MAX = const(5)  # 20 * 2^(5-1) = 320
_MASK = const(0xFFFFF)  # 20 bits

# Event kinds.
MATCH = const(0)
MISS = const(1)
FAILURE = const(2)
NOT_A_BLOCK = const(3)

# Verdict code (pot.verifier: OK=0 ... CHALLENGE=9) -> event kind. Kept as
# bytes here so this module does not import the verifier and its crypto.
#            OK PV FU CC FO ST RE BU OR CH
_KIND = b"\x00\x02\x02\x02\x02\x02\x01\x03\x01\x01"


def event_for(verdict):
    # The AdaptiveSwitch event a verifier verdict counts as.
    return _KIND[verdict]


def _popcount20(x):
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


class AdaptiveSwitch:
    # All state is small ints: no allocation after construction.
    def __init__(self):
        self.reset()

    def reset(self):
        self.mode = FULL
        self.ring = 0  # window bits, newest in bit 0
        self.seen = 0  # blocks seen, saturating at WINDOW
        self.fails = 0  # f: consecutive failures
        self.cooldown = 0  # blocks before TURBO entry is allowed

    def matches(self):
        return _popcount20(self.ring)

    def match_rate_pct(self):
        # Match rate in percent over the window (blocks not yet seen count
        # as misses, so a new sender starts at 0 %, as in the TLA+ Init).
        return self.matches() * 100 // WINDOW

    def record(self, verdict):
        # Feed one verifier verdict; returns the mode afterwards.
        return self.event(_KIND[verdict])

    def event(self, kind):
        if kind == NOT_A_BLOCK:
            return self.mode
        self.ring = ((self.ring << 1) | (1 if kind == MATCH else 0)) & _MASK
        if self.seen < WINDOW:
            self.seen += 1
        if self.cooldown:
            self.cooldown -= 1
        if kind == FAILURE:
            self.mode = FULL
            if self.fails < F_MAX:
                self.fails += 1
            self.cooldown = BACKOFF_BASE << (self.fails - 1)  # <= 320
            return FULL
        m = _popcount20(self.ring)
        if self.mode == TURBO:
            if m < KEEP_MATCHES:
                self.mode = FULL
        elif self.seen == WINDOW and m >= ENTRY_MATCHES and not self.cooldown:
            self.mode = TURBO
            self.fails = 0
        return self.mode


class SwitchTable:
    # Fixed-capacity map sender id (bytes) -> AdaptiveSwitch. Switch objects
    # are allocated once here and reused; a new sender costs one bytes copy
    # of its id. When full, the least recently seen FULL-mode sender is
    # evicted, preferring one with no penalty memory (f == 0); a TURBO
    # sender is never evicted, and a newcomer always starts in FULL with an
    # empty window, so eviction can never create TURBO. If every slot is in
    # TURBO, get() returns None: the caller treats the sender as FULL
    # without tracking it (it can never reach TURBO until a slot frees).
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity")
        self.capacity = capacity
        self._ids = [None] * capacity
        self._switches = [AdaptiveSwitch() for _ in range(capacity)]
        self._used = [0] * capacity  # last-use stamps
        self._clock = 0

    def _tick(self):
        self._clock += 1
        if self._clock >= 0x3FFFFFFF:  # stay a small int on 32-bit boards
            self._renumber()
        return self._clock

    def _renumber(self):
        # Keep the relative order of the stamps, restart the clock from 1.
        order = sorted(range(self.capacity), key=lambda i: self._used[i])
        for n, i in enumerate(order):
            self._used[i] = n + 1
        self._clock = self.capacity + 1

    def find(self, sender):
        for i in range(self.capacity):
            if self._ids[i] == sender:
                return i
        return -1

    def get(self, sender):
        # The switch of sender, created (possibly by eviction) if needed.
        i = self.find(sender)
        if i < 0:
            i = self._victim()
            if i < 0:
                return None
            self._ids[i] = bytes(sender)
            self._switches[i].reset()
        self._used[i] = self._tick()
        return self._switches[i]

    def record(self, sender, verdict):
        # Feed a verdict for sender; returns the sender's mode afterwards.
        sw = self.get(sender)
        if sw is None:
            return FULL
        return sw.record(verdict)

    def mode(self, sender):
        i = self.find(sender)
        return FULL if i < 0 else self._switches[i].mode

    def _victim(self):
        best = -1
        best_key = None
        for i in range(self.capacity):
            if self._ids[i] is None:
                return i
            sw = self._switches[i]
            if sw.mode == TURBO:
                continue
            # Penalised entries sort after clean ones, then least recent.
            key = (1 if sw.fails else 0, self._used[i])
            if best_key is None or key < best_key:
                best, best_key = i, key
        return best


class FiloQueue:
    # Bounded queue of records that passed the verifier: pop() returns the
    # most recently generated one (max timestamp; among equal timestamps,
    # the one pushed last). When full, the entry with the OLDEST timestamp
    # is dropped (possibly the one being pushed): under the FILO policy it
    # is the one that would be served last, and it is the closest to going
    # STALE, so dropping it costs the least and cannot be used to push out
    # fresher records by flooding with old ones.
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity")
        self.capacity = capacity
        self._ts = [0] * capacity
        self._items = [None] * capacity
        self._seq = [0] * capacity  # push order, breaks timestamp ties
        self._count = 0
        self._next = 0

    def __len__(self):
        return self._count

    def push(self, timestamp_ns, item):
        # Returns the dropped item when the queue was full, else None.
        self._next += 1
        n = self._count
        if n < self.capacity:
            self._ts[n] = timestamp_ns
            self._items[n] = item
            self._seq[n] = self._next
            self._count = n + 1
            return None
        old = self._oldest()
        if timestamp_ns < self._ts[old]:
            return item  # the newcomer is the oldest: drop it
        dropped = self._items[old]
        self._ts[old] = timestamp_ns
        self._items[old] = item
        self._seq[old] = self._next
        return dropped

    def _oldest(self):
        # Min timestamp; among equals the earliest pushed.
        o = 0
        for i in range(1, self._count):
            if self._ts[i] < self._ts[o] or (self._ts[i] == self._ts[o] and self._seq[i] < self._seq[o]):
                o = i
        return o

    def _newest(self):
        b = 0
        for i in range(1, self._count):
            if self._ts[i] > self._ts[b] or (self._ts[i] == self._ts[b] and self._seq[i] > self._seq[b]):
                b = i
        return b

    def peek(self):
        if not self._count:
            return None
        return self._items[self._newest()]

    def pop(self):
        # The item with the max timestamp; None when empty.
        if not self._count:
            return None
        b = self._newest()
        item = self._items[b]
        last = self._count - 1
        self._ts[b] = self._ts[last]
        self._items[b] = self._items[last]
        self._seq[b] = self._seq[last]
        self._items[last] = None
        self._count = last
        return item
