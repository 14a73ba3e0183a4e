# AdaptiveSwitch: per-sender trust mode (FULL or TURBO) earned by a run of
# good submissions and lost at once by a bad one (draft-03 section 6), and
# a fixed-size table of switches. (The bounded FILO queue of the same spec
# section is pot.filo.)
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
# The constants are private const() copies of pot.spec's (folded into the
# code: no global, no interned name); hosts and tests read the modes and
# event kinds by name from pot.spec, and pot.host.event_for classifies a
# verdict.
from array import array

from pot.compat import const

# Modes.
_FULL = const(0)
_TURBO = const(1)

_WINDOW = const(20)
_ENTRY_MATCHES = const(19)  # 0.95 * 20
_KEEP_MATCHES = const(17)  # 0.85 * 20
_BACKOFF_BASE = const(20)  # cooldown = _BACKOFF_BASE << (f - 1), at most 320
_F_MAX = const(5)  # 20 * 2^(5-1) = 320
_MASK = const(0xFFFFF)  # 20 bits
_STAMP_LIMIT = const(0x3FFFFFFF)  # last-use stamps stay small ints on 32-bit boards

# Event kinds.
_MATCH = const(0)
_MISS = const(1)
_FAILURE = const(2)
_NOT_A_BLOCK = const(3)

# Verdict code (OK=0 ... CHALLENGE=9) -> event kind, as bytes (so this
# module does not import the verifier and its crypto), read by
# AdaptiveSwitch.record and SwitchTable.record (pot.spec.EVENT_OF_VERDICT).
#                  OK PV FU CC FO ST RE BU OR CH
_KIND = const(b"\x00\x02\x02\x02\x02\x02\x01\x03\x01\x01")


def _popcount20(x):
    n = 0
    while x:
        x &= x - 1
        n += 1
    return n


# The state of a switch: two small ints in a uint32 array, at st[j] and
# st[j + 1] (j even), so that a table of switches is one array and not one
# object with five attributes per sender (~130 bytes each on the Unix
# port):
#   st[j]       the window: 20 bits, newest block in bit 0 (1 = match)
#   st[j + 1]   mode (bit 0) | seen << 1 (5 bits, <= 20) | f << 6 (3 bits,
#               <= 5) | cooldown << 9 (9 bits, <= 320)
# Both stay below 2**30: small ints on every port, no allocation.
def _event(st, j, kind):
    # One event into the switch at st[j]; returns its mode afterwards.
    s = st[j + 1]
    mode = s & 1
    if kind == _NOT_A_BLOCK:
        return mode
    ring = ((st[j] << 1) | (1 if kind == _MATCH else 0)) & _MASK
    st[j] = ring
    seen = (s >> 1) & 31
    fails = (s >> 6) & 7
    cooldown = s >> 9
    if seen < _WINDOW:
        seen += 1
    if cooldown:
        cooldown -= 1
    if kind == _FAILURE:
        mode = _FULL
        if fails < _F_MAX:
            fails += 1
        cooldown = _BACKOFF_BASE << (fails - 1)  # <= 320
    else:
        m = _popcount20(ring)
        if mode == _TURBO:
            if m < _KEEP_MATCHES:
                mode = _FULL
        elif seen == _WINDOW and m >= _ENTRY_MATCHES and not cooldown:
            mode = _TURBO
            fails = 0
    st[j + 1] = mode | seen << 1 | fails << 6 | cooldown << 9
    return mode


class AdaptiveSwitch:
    # One switch: its own state, or a view of slot `slot` of a table's
    # state (what SwitchTable.get returns). Read-only attributes for hosts
    # and tests: mode, ring, seen, fails (f), cooldown.
    def __init__(self, state=None, slot=0):
        self._st = array("I", bytes(8)) if state is None else state
        self._j = 2 * slot

    def reset(self):
        self._st[self._j] = 0
        self._st[self._j + 1] = 0  # FULL, nothing seen, f = 0, no cooldown

    def __getattr__(self, name):
        s = self._st[self._j + 1]
        if name == "mode":
            return s & 1
        if name == "ring":
            return self._st[self._j]
        if name == "seen":
            return (s >> 1) & 31
        if name == "fails":
            return (s >> 6) & 7
        if name == "cooldown":
            return s >> 9
        raise AttributeError(name)

    def matches(self):
        # Matches in the window (blocks not yet seen count as misses, so a
        # new sender starts at 0, as in the TLA+ Init).
        return _popcount20(self._st[self._j])

    def record(self, verdict):
        # Feed one verifier verdict; returns the mode afterwards.
        return _event(self._st, self._j, _KIND[verdict])

    def event(self, kind):
        return _event(self._st, self._j, kind)


class SwitchTable:
    # Fixed-capacity map sender id (bytes) -> switch state. All state is
    # allocated here and reused; a new sender costs one bytes copy of its
    # id. When full, the least recently seen FULL-mode sender is evicted,
    # preferring one with no penalty memory (f == 0); a TURBO sender is
    # never evicted, and a newcomer always starts in FULL with an empty
    # window, so eviction can never create TURBO. If every slot is in
    # TURBO, record() returns None and get() None: the caller treats the
    # sender as FULL without tracking it (it can never reach TURBO until a
    # slot frees).
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity")
        self.capacity = capacity
        self._ids = [None] * capacity
        self._st = array("I", bytes(8 * capacity))  # the switches (see _event)
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

    def _slot(self, sender):
        # The slot of sender, taken (possibly by eviction) if needed and
        # stamped as used; -1 if every slot is in TURBO.
        i = self.find(sender)
        if i < 0:
            i = self._victim()
            if i < 0:
                return -1
            self._ids[i] = bytes(sender)
            self._st[2 * i] = 0
            self._st[2 * i + 1] = 0  # a reset switch
        self._clock += 1
        if self._clock >= _STAMP_LIMIT:
            self._renumber()
        self._used[i] = self._clock
        return i

    def record(self, sender, verdict):
        # Feed a verdict for sender; returns the sender's mode afterwards,
        # or None if the sender has no slot. No allocation but a new
        # sender's id.
        i = self._slot(sender)
        if i < 0:
            return None
        return _event(self._st, 2 * i, _KIND[verdict])

    def get(self, sender):
        # The switch of sender (a view: allocates; hosts and tests), taken
        # as record() takes it, or None.
        i = self._slot(sender)
        return None if i < 0 else AdaptiveSwitch(self._st, i)

    def mode(self, sender):
        i = self.find(sender)
        return _FULL if i < 0 else self._st[2 * i + 1] & 1

    def _victim(self):
        best = -1
        best_key = None
        for i in range(self.capacity):
            if self._ids[i] is None:
                return i
            s = self._st[2 * i + 1]
            if s & 1 == _TURBO:
                continue
            # Penalised entries sort after clean ones, then least recent.
            key = (1 if (s >> 6) & 7 else 0, self._used[i])
            if best_key is None or key < best_key:
                best, best_key = i, key
        return best
