# The public names of pot.switch (docs/spec.md, verifier section
# "AdaptiveSwitch"), for hosts and tests: `switch.TURBO`,
# `from pot.switch import MATCH, event_for, FiloQueue` and the like are
# served from here by pot.switch's module __getattr__. A device never loads
# this module: pot.switch folds its own private const() copies.
from pot.filo import FiloQueue  # noqa: F401 (the FILO queue of the same spec section)
from pot.switch import _KIND

# Modes.
FULL = 0
TURBO = 1

# Event kinds.
MATCH = 0
MISS = 1
FAILURE = 2
NOT_A_BLOCK = 3


def event_for(verdict):
    # The AdaptiveSwitch event a verifier verdict counts as: pot.switch's
    # own table (verdict code -> event kind), the one its switches read.
    return _KIND[verdict]
