"""The audit log: a tamper-evident transparency log of every record the
service issues and every verification it answers (docs/spec.md section 9).

    merkle   RFC 9162 tree hashing, inclusion and consistency proofs
    entry    the byte-exact entry encoding and the attack types
    note     C2SP signed notes, checkpoints and cosignatures (Ed25519)
    store    SQLite and PostgreSQL storage behind one interface
    log      AuditLog: batched appends, one signed checkpoint per batch
    web      the HTTP endpoints and the response gate of `potkit serve`
    check    checking a log: keys, a stored log, an export, a quorum of witnesses
    sources  where a check reads the log: a store, a running service, tiles
    export   the JSON-LD form of an export
    device_log  the DEVICE entries of `potkit device --log`
    tiles    C2SP tlog-tiles: writing and reading them

The command `potkit audit` is potkit.commands.audit.
"""
from potkit import PotkitError


class LogUnavailable(PotkitError):
    """The log cannot store entries now (disk full, read-only database, ...)."""


class LogCorrupt(PotkitError):
    """Stored entries do not match what the log signed (exit 1: a check
    that failed, as a verdict other than OK)."""

    exit_code = 1


class CheckFailed(PotkitError):
    # A check that ran and failed (a bad signature, a proof that does not
    # verify): exit 1, as a verdict other than OK (README, exit status).
    exit_code = 1
