# AdaptiveSwitch: per-sender trust mode (FULL or TURBO) earned by a run of
# good submissions and lost at once by a bad one (draft-03 section 6), and
# a fixed-size table of switches. (The bounded FILO queue of the same spec
# section is pot.filo; `from pot.switch import FiloQueue` still works.)
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
#
# Memory: the tuning constants are private const()s (folded into the code:
# no global, no interned name); only what callers name is public.
from pot.compat import const

FULL = const(0)
TURBO = const(1)

_WINDOW = const(20)
_ENTRY_MATCHES = const(19)  # 0.95 * 20
_KEEP_MATCHES = const(17)  # 0.85 * 20
_BACKOFF_BASE = const(20)  # cooldown = _BACKOFF_BASE << (f - 1), at most 320
_F_MAX = const(5)  # 20 * 2^(5-1) = 320
_MASK = const(0xFFFFF)  # 20 bits
_STAMP_LIMIT = const(0x3FFFFFFF)  # last-use stamps stay small ints on 32-bit boards

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


def __getattr__(name):
    # FiloQueue moved to pot.filo (a device does not load it).
    if name == "FiloQueue":
        from pot.filo import FiloQueue

        return FiloQueue
    raise AttributeError(name)


def _popcount20(x):
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


class AdaptiveSwitch:
    # All state is small ints: no allocation after construction.
    def reset(self):
        self.mode = FULL
        self.ring = 0  # window bits, newest in bit 0
        self.seen = 0  # blocks seen, saturating at _WINDOW
        self.fails = 0  # f: consecutive failures
        self.cooldown = 0  # blocks before TURBO entry is allowed

    __init__ = reset  # a new switch is a reset one (one function less to load)

    def matches(self):
        # Matches in the window (blocks not yet seen count as misses, so a
        # new sender starts at 0, as in the TLA+ Init).
        return _popcount20(self.ring)

    def record(self, verdict):
        # Feed one verifier verdict; returns the mode afterwards.
        return self.event(_KIND[verdict])

    def event(self, kind):
        if kind == NOT_A_BLOCK:
            return self.mode
        self.ring = ((self.ring << 1) | (1 if kind == MATCH else 0)) & _MASK
        if self.seen < _WINDOW:
            self.seen += 1
        if self.cooldown:
            self.cooldown -= 1
        if kind == FAILURE:
            self.mode = FULL
            if self.fails < _F_MAX:
                self.fails += 1
            self.cooldown = _BACKOFF_BASE << (self.fails - 1)  # <= 320
            return FULL
        m = _popcount20(self.ring)
        if self.mode == TURBO:
            if m < _KEEP_MATCHES:
                self.mode = FULL
        elif self.seen == _WINDOW and m >= _ENTRY_MATCHES and not self.cooldown:
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
        self._clock += 1
        if self._clock >= _STAMP_LIMIT:
            self._renumber()
        self._used[i] = self._clock
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
