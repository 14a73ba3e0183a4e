# The verifier's public names (docs/spec.md section 4), for hosts and
# tests: `verifier.OK`, `from pot.verifier import NAMES, FORGE` and the like
# are served from here by pot.verifier's module __getattr__. A device
# never loads this module: pot.verifier and pot.device fold their own
# private const() copies of the codes into their code (the verifier vectors
# and the device end-to-end tests hold both sides to the same numbers).

# Verdict codes, in pipeline order (pot.verifier's header lists the checks).
OK = 0
PROTO_VIOLATION = 1
FUTURE = 2
CROSS_CONTEXT = 3
FORGE = 4
STALE = 5
REPLAY = 6
BUSY = 7
ORDERING = 8
CHALLENGE = 9

NAMES = (
    "OK",
    "PROTO_VIOLATION",
    "FUTURE",
    "CROSS_CONTEXT",
    "FORGE",
    "STALE",
    "REPLAY",
    "BUSY",
    "ORDERING",
    "CHALLENGE",
)

# Recency window per tier, in milliseconds (T0_epoch, T1_block, T2_slot,
# T3_micro): draft-03 section 8, the tier's own interval. The reasons for
# these and not draft-00's 2000/200/500/10 ms are in the spec.
TIER_WINDOW_MS = (60000, 2000, 12000, 100)

# Verifier() defaults.
DEFAULT_SKEW_MS = 500
DEFAULT_CACHE_CAPACITY = 32


def verdict_name(v):
    return NAMES[v] if 0 <= v < len(NAMES) else "UNKNOWN"
