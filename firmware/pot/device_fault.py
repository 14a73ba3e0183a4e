# The service loop's fault handler (pot.device.Server._fault), loaded on
# the first fault only: a device that never meets one does not carry it.
#
#   fault(server, exc, entry)
#       entry: the link being served, or None (the timers, the
#       housekeeping). A TCP connection that raised is closed. Then one
#       line on stderr, on the Unix port only (on a board stderr is the
#       console that may carry the serial link), at most one a second, with
#       the count of faults so far: a flood of bad input cannot flood the
#       log.
import sys

from pot.compat import ticks_diff, ticks_ms

_state = [0, None]  # faults, ticks_ms of the last line


def fault(server, exc, entry):
    if entry is not None and entry[1] == "conn":
        server._remove(entry)  # pot.device_net's
    _state[0] += 1
    if sys.platform not in ("linux", "darwin"):
        return
    now = ticks_ms()
    if _state[1] is not None and ticks_diff(now, _state[1]) < 1000:
        return
    _state[1] = now
    try:
        sys.stderr.write("pot-device fault %d on %s: %s %s\n" % (
            _state[0], entry[1] if entry is not None else "loop", exc.__class__.__name__, exc.args))
    except Exception:
        pass
