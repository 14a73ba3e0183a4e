# The public names of pot.switch (docs/spec.md, verifier section
# "AdaptiveSwitch"), for hosts and tests: `switch.TURBO`,
# `from pot.switch import MATCH, event_for, FiloQueue` and the like are
# served from here by pot.switch's module __getattr__. A device never loads
# this module: pot.switch folds its own private const() copies.
from pot.filo import FiloQueue  # noqa: F401 (the FILO queue of the same spec section)

# Modes.
FULL = 0
TURBO = 1

# Event kinds.
MATCH = 0
MISS = 1
FAILURE = 2
NOT_A_BLOCK = 3

# Verdict code (pot.verifier: OK=0 ... CHALLENGE=9) -> event kind.
#        OK PV FU CC FO ST RE BU OR CH
_KIND = b"\x00\x02\x02\x02\x02\x02\x01\x03\x01\x01"


def event_for(verdict):
    # The AdaptiveSwitch event a verifier verdict counts as.
    return _KIND[verdict]
