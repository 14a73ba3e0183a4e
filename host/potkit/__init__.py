"""potkit: the host side of the open Proof-of-Time toolkit.

The issuer reads time from several independent sources, takes a robust
median, and signs 143-byte PoT records whose GRG commitment comes from the
firmware package `pot` (the very code that runs on the boards).
"""

__version__ = "0.1.0"


class PotkitError(Exception):
    """The one error type the CLI prints as 'potkit: message'.

    exit_code: the CLI's exit status for it (potkit.validate: 2 bad usage or
    input, 3 no trusted time, 4 unreachable).
    """

    exit_code = 2
